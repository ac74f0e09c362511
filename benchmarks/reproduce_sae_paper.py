"""Reproduce the findings of Pluth, Zhou and Gurbani (2025) on real speech, offline.

Pipeline: eSpeak NG synthesises speech in several languages and voices
(:func:`sklearn_audioconcepts.datasets.make_speech_corpus`); the pretrained
Resemblyzer encoder embeds it (``ResemblyzerEmbedder``, 256-d; TitaNet's
weights cannot be downloaded here); TopK sparse autoencoders
of several sizes are trained on the speakers of a training split and judged
on held-out speakers (no voice is in both). Printed:

1. **Mono-semantic latents**: for each dictionary size ``L`` and ``k``, the
   latent that best separates each language (and gender) from the rest,
   chosen on the training speakers; its ROC AUC on held-out speakers.
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

Run ``python benchmarks/reproduce_sae_paper.py --quick`` (about a minute on
one core) or without ``--quick`` for a larger corpus and sweep.
"""

import argparse
import time

from sklearn.metrics import roc_auc_score

from sklearn_audioconcepts.datasets import make_speech_corpus
from sklearn_audioconcepts.inspection import (
    feature_splits,
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
}
FULL = {
    "languages": ("en", "es", "de", "ru", "cmn"),
    "n_voices": 40,
    "n_utterances": 10,
    "sizes": [(16, 4), (16, 8), (32, 8), (64, 16), (256, 32), (256, 64), (1024, 64)],
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small corpus and sweep")
    parser.add_argument("--seed", type=int, default=6, help="corpus seed")
    parser.add_argument(
        "--sae-seeds", type=int, default=3, help="SAE seeds per size (best on train)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    return parser.parse_args(argv)


def build_corpus(config, seed):
    start = time.perf_counter()
    waveforms, metadata = make_speech_corpus(
        config["languages"],
        n_voices=config["n_voices"],
        n_utterances=config["n_utterances"],
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
        f"{int((~test).sum())} train / {int(test.sum())} held-out utterances"
    )
    return X, metadata, ~test, test


def fit_best_seed(X, labels, train, n_latents, k, n_seeds):
    """Train ``n_seeds`` SAEs; keep the one whose best latent is best on train."""
    best = None
    for seed in range(n_seeds):
        sae = TopKSparseAutoencoder(
            n_latents=n_latents,
            k=k,
            aux_k=16,
            lr=3e-3 if n_latents <= 64 else 1e-3,
            batch_size=64,
            max_epochs=150,
            device="cpu",
            progress=False,
            random_state=seed,
        ).fit(X[train])
        score = top_latents(sae.transform(X[train]), labels[train])["auc"].max()
        if best is None or score > best[0]:
            best = (score, sae)
    return best[1]


def report_size(X, metadata, train, test, sae, trials, original_eer):
    language = metadata["language"].to_numpy()
    gender = metadata["gender"].to_numpy()
    latents_train, latents_test = sae.transform(X[train]), sae.transform(X[test])
    line = [
        f"L={sae.n_latents_:<5d} k={sae.k:<3d} FVE(held-out)={sae.score(X[test]):.3f}"
    ]
    for name, labels in (("language", language), ("gender", gender)):
        best = top_latents(latents_train, labels[train])
        aucs = {
            cls: roc_auc_score(labels[test] == cls, latents_test[:, int(row["latent"])])
            for cls, row in best.iterrows()
        }
        line.append(f"{name} AUC " + " ".join(f"{c}:{a:.3f}" for c, a in aucs.items()))
    reconstruction = sae.inverse_transform(latents_test)
    eer = verification_eer(reconstruction, trials)
    gap = 100 * (eer - original_eer)
    line.append(f"EER {eer:.2%} (original {original_eer:.2%}, {gap:+.2f} pts)")
    line.append(f"dead {len(sae.dead_latents_)}")
    print(" | ".join(line))


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
    models = []
    for n_latents, k in config["sizes"]:
        start = time.perf_counter()
        sae = fit_best_seed(X, language, train, n_latents, k, args.sae_seeds)
        elapsed = time.perf_counter() - start
        report_size(X, metadata, train, test, sae, trials, original_eer)
        print(f"  ({args.sae_seeds} seeds trained in {elapsed:.1f} s)")
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
    return {"original_eer": original_eer, "models": models}


if __name__ == "__main__":
    main()
