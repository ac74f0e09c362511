"""Reproduce the findings of Pluth, Zhou and Gurbani (2025) on real speech, offline.

Pipeline: eSpeak NG synthesises speech in several languages and voices
(:func:`sklearn_audioconcepts.datasets.make_speech_corpus`); the pretrained
Resemblyzer encoder embeds it (``ResemblyzerEmbedder``, 256-d; TitaNet's
weights cannot be downloaded here); TopK sparse autoencoders
of several sizes are trained on the speakers of a training split and judged
on held-out speakers (no voice is in both). Printed:

1. **Mono-semantic latents**: for each dictionary size ``L`` and ``k``, the
   latent that best separates each language, each gender, and speech with
   telephone hold music mixed in (half the utterances, as in the IVR
   recordings of the paper) from the rest, chosen on the training speakers;
   its ROC AUC on held-out speakers. Of ``--sae-seeds`` SAEs per size, the
   one whose best language latents are best on the training speakers is kept
   (:func:`~sklearn_audioconcepts.inspection.fit_best_seed`).
2. **Feature splitting**: how many latents of the smallest dictionary split
   into several latents of each larger one (decoder cosine >= 0.3 and 0.5;
   random directions in 256-d have cosines near 0.06).
3. **Steering**: relative similarity (``cos`` to the language centroid minus
   ``cos`` to the other languages' centroid) of held-out embeddings of the
   other languages, before and after setting the best language latent to its
   mean activation on that language.
4. **Speaker verification**: EER with cosine scoring on all same-speaker
   pairs and as many different-speaker pairs of held-out utterances, for
   the original embeddings and for each SAE's reconstructions.
5. With ``--variants``: how much the best language latent's training AUC
   (mean over languages) depends on the seed, over ``--sae-seeds`` seeds of
   the smallest dictionary, for TopK, BatchTopK and TopK with Matryoshka
   prefixes: min / max across seeds, and the held-out AUC of the seed kept.

Run ``python benchmarks/reproduce_sae_paper.py --quick`` (about a minute on
one core) or without ``--quick`` for a larger corpus and sweep.
"""

import argparse
import time

from sklearn.metrics import roc_auc_score

from sklearn_audioconcepts.datasets import make_speech_corpus
from sklearn_audioconcepts.inspection import (
    feature_splits,
    fit_best_seed,
    make_trials,
    steering_effect,
    top_latents,
    verification_eer,
)
from sklearn_audioconcepts.sae import TopKSparseAutoencoder
from sklearn_audioconcepts.speaker import ResemblyzerEmbedder

QUICK = {
    "languages": ("en", "es", "ru"),
    "n_voices": 30,
    "n_utterances": 9,
    "sizes": [(16, 8), (64, 16), (256, 64)],
    "music_fraction": 0.5,
    "music_snr": 10.0,
}
FULL = {
    "languages": ("en", "es", "de", "ru", "cmn"),
    "n_voices": 40,
    "n_utterances": 10,
    "sizes": [(16, 4), (16, 8), (32, 8), (64, 16), (256, 32), (256, 64), (1024, 64)],
    "music_fraction": 0.5,
    "music_snr": 10.0,
}
VARIANTS = {
    "topk": {},
    "batch_topk": {"sparsity": "batch_topk"},
    "matryoshka": {"matryoshka_sizes": "quarter"},  # [L / 4], then L
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small corpus and sweep")
    parser.add_argument("--seed", type=int, default=6, help="corpus seed")
    parser.add_argument(
        "--sae-seeds", type=int, default=3, help="SAE seeds per size (best on train)"
    )
    parser.add_argument(
        "--variants",
        action="store_true",
        help="compare the seed spread of TopK, BatchTopK and Matryoshka",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    return parser.parse_args(argv)


def build_corpus(config, seed):
    start = time.perf_counter()
    waveforms, metadata = make_speech_corpus(
        config["languages"],
        n_voices=config["n_voices"],
        n_utterances=config["n_utterances"],
        music_fraction=config["music_fraction"],
        music_snr=config["music_snr"],
        random_state=seed,
    )
    synthesis = time.perf_counter() - start
    start = time.perf_counter()
    embedder = ResemblyzerEmbedder(sample_rate=16000, device="cpu", progress=False)
    X = embedder.transform(waveforms)
    embedding = time.perf_counter() - start
    n_held_out = config["n_voices"] // 3
    held_out = [
        f"{language}-{i}"
        for language in config["languages"]
        for i in range(config["n_voices"] - n_held_out, config["n_voices"])
    ]
    test = metadata["speaker"].isin(held_out).to_numpy()
    print(
        f"corpus: {len(X)} utterances, {len(config['languages'])} languages x "
        f"{config['n_voices']} voices; synthesis {synthesis:.1f} s, Resemblyzer "
        f"{embedding:.1f} s ({len(X) / embedding:.0f} utterances/s); "
        f"{int((~test).sum())} train / {int(test.sum())} held-out utterances; "
        f"{int((metadata['music'] == 'music').sum())} with hold music at "
        f"{config['music_snr']:g} dB SNR"
    )
    return X, metadata, ~test, test


def make_sae(n_latents, k, **variant):
    if variant.get("matryoshka_sizes") == "quarter":
        variant["matryoshka_sizes"] = [n_latents // 4]
    return TopKSparseAutoencoder(
        n_latents=n_latents,
        k=k,
        aux_k=16,
        lr=3e-3 if n_latents <= 64 else 1e-3,
        batch_size=64,
        max_epochs=150,
        device="cpu",
        progress=False,
        **variant,
    )


def fit_best(X, labels, train, n_latents, k, n_seeds, **variant):
    """Train ``n_seeds`` SAEs; keep the one whose language latents are best on train."""
    return fit_best_seed(
        make_sae(n_latents, k, **variant), X[train], labels[train], seeds=range(n_seeds)
    )


def held_out_aucs(sae, X, labels, train, test, classes=None):
    """Best latent per class chosen on train; its ROC AUC on held-out speakers."""
    best = top_latents(sae.transform(X[train]), labels[train], classes=classes)
    latents_test = sae.transform(X[test])
    return {
        cls: roc_auc_score(labels[test] == cls, latents_test[:, int(row["latent"])])
        for cls, row in best.iterrows()
    }


def report_size(X, metadata, train, test, sae, trials, original_eer):
    language = metadata["language"].to_numpy()
    gender = metadata["gender"].to_numpy()
    music = metadata["music"].to_numpy()
    line = [
        f"L={sae.n_latents_:<5d} k={sae.k:<3d} FVE(held-out)={sae.score(X[test]):.3f}"
    ]
    aucs = {}
    for name, labels, classes in (
        ("language", language, None),
        ("gender", gender, None),
        ("music", music, ["music"]),
    ):
        aucs[name] = held_out_aucs(sae, X, labels, train, test, classes)
        line.append(
            f"{name} AUC " + " ".join(f"{c}:{a:.3f}" for c, a in aucs[name].items())
        )
    reconstruction = sae.inverse_transform(sae.transform(X[test]))
    eer = verification_eer(reconstruction, trials)
    gap = 100 * (eer - original_eer)
    line.append(f"EER {eer:.2%} (original {original_eer:.2%}, {gap:+.2f} pts)")
    line.append(f"dead {len(sae.dead_latents_)}")
    print(" | ".join(line))
    return aucs


def report_variants(X, language, train, test, n_latents, k, n_seeds):
    """Seed spread of the best language latents' training AUC per variant."""
    print(
        f"seed spread of the best language latents (L={n_latents}, k={k}, "
        f"{n_seeds} seeds; training AUC, mean over languages):"
    )
    spreads = {}
    for name, variant in VARIANTS.items():
        start = time.perf_counter()
        result = fit_best(X, language, train, n_latents, k, n_seeds, **variant)
        scores = result.scores["score"]
        held_out = held_out_aucs(result.estimator, X, language, train, test)
        spreads[name] = {
            "min": float(scores.min()),
            "max": float(scores.max()),
            "held_out": float(sum(held_out.values()) / len(held_out)),
        }
        print(
            f"  {name:<10s} train AUC min {scores.min():.3f} max {scores.max():.3f} "
            f"(spread {scores.max() - scores.min():.3f}); seed {result.seed} kept, "
            f"held-out AUC {spreads[name]['held_out']:.3f} "
            f"({time.perf_counter() - start:.1f} s)"
        )
    return spreads


def report_steering(X, metadata, train, test, sae):
    language = metadata["language"].to_numpy()
    best = top_latents(sae.transform(X[train]), language[train])
    for attribute, row in best.iterrows():
        effect = steering_effect(
            sae,
            X[test & (language != attribute)],
            int(row["latent"]),
            reference=X[train],
            reference_labels=language[train],
            attribute=attribute,
        )
        print(
            f"  steer latent {int(row['latent']):>4d} toward {attribute}: relative "
            f"similarity {effect.mean_before:+.4f} -> {effect.mean_after:+.4f} "
            f"(shift {effect.mean_shift:+.4f}, {effect.fraction_increased:.0%} rose; "
            f"train AUC {row['auc']:.3f})"
        )


def main(argv=None):
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    config = QUICK if args.quick else FULL
    X, metadata, train, test = build_corpus(config, args.seed)
    language = metadata["language"].to_numpy()
    trials = make_trials(metadata["speaker"].to_numpy()[test], random_state=0)
    original_eer = verification_eer(X[test], trials)
    print(
        f"speaker verification: {int(trials['target'].sum())} target / "
        f"{int((~trials['target']).sum())} non-target trials, original EER "
        f"{original_eer:.2%}"
    )
    models, aucs = [], []
    for n_latents, k in config["sizes"]:
        start = time.perf_counter()
        result = fit_best(X, language, train, n_latents, k, args.sae_seeds)
        sae = result.estimator
        elapsed = time.perf_counter() - start
        aucs.append(report_size(X, metadata, train, test, sae, trials, original_eer))
        scores = result.scores["score"]
        print(
            f"  ({args.sae_seeds} seeds trained in {elapsed:.1f} s; language train "
            f"AUC over seeds {scores.min():.3f}-{scores.max():.3f}, kept seed "
            f"{result.seed})"
        )
        models.append(sae)
    print("steering, smallest dictionary:")
    report_steering(X, metadata, train, test, models[0])
    small = models[0]
    language_latent = int(
        top_latents(small.transform(X[train]), language[train])["latent"].iloc[0]
    )
    for large in models[1:]:
        for threshold in (0.3, 0.5):
            splits = feature_splits(small, large, threshold=threshold)
            children = splits.set_index("small_latent").loc[language_latent, "children"]
            print(
                f"feature splitting L={small.n_latents_} -> L={large.n_latents_} "
                f"(cosine >= {threshold}): {int(splits['split'].sum())} of "
                f"{len(splits)} latents split; the first language latent "
                f"({language_latent}) -> {list(children)}"
            )
    spreads = None
    if args.variants:
        spreads = report_variants(
            X, language, train, test, *config["sizes"][0], args.sae_seeds
        )
    return {
        "original_eer": original_eer,
        "models": models,
        "aucs": aucs,
        "variants": spreads,
    }


if __name__ == "__main__":
    main()
