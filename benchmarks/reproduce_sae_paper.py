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
5. With ``--variants``: one table comparing TopK, BatchTopK and TopK with
   Matryoshka prefixes (``[L / 4]``, then ``L``), each trained under
   ``--variant-seeds`` seeds (4) at the smallest size of ``variant_sizes``:
   held-out FVU against mean L0, dead fraction, verification EER of the
   reconstructions (against the dense embeddings'), the held-out AUC of the
   best single latent per language (chosen on the training speakers),
   feature splitting (how many latents of each larger dictionary of the same
   variant and seed match each language latent), each as mean ± std over the
   seeds; then how steady the language latent is across seeds: its training
   AUC's range, the std of its held-out AUC and how well the seeds' decoder
   directions agree.

``--quick`` runs on the demo's speech corpus (``sklearn-audioconcepts
demo``: English, Spanish and Russian, 30 voices each, hold music under a
quarter of the utterances, the demo's seed) with a small sweep; without it,
a larger corpus (five languages, 40 voices) and sweep. Run ``python
benchmarks/reproduce_sae_paper.py --quick --variants`` (a few minutes on one
core).
"""

import argparse
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from sklearn_audioconcepts._demo import SPEECH_FULL
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

# --quick runs on the demo's speech corpus (`sklearn-audioconcepts demo`):
# same languages, voices, sentences, hold music and, by default, seed.
DEMO_CORPUS = ("languages", "n_voices", "n_utterances", "music_fraction", "music_snr")
QUICK = {
    **{key: SPEECH_FULL[key] for key in DEMO_CORPUS},
    "sizes": [(16, 8), (64, 16), (256, 64)],
    "variant_sizes": [(16, 8), (64, 16)],
    "seed": 0,
}
FULL = {
    "languages": ("en", "es", "de", "ru", "cmn"),
    "n_voices": 40,
    "n_utterances": 10,
    "sizes": [(16, 4), (16, 8), (32, 8), (64, 16), (256, 32), (256, 64), (1024, 64)],
    "music_fraction": 0.5,
    "music_snr": 10.0,
    "variant_sizes": [(16, 8), (64, 16), (256, 32)],
    "seed": 6,
}
VARIANTS = {
    "topk": {},
    "batch_topk": {"sparsity": "batch_topk"},
    "matryoshka": {"matryoshka_sizes": "quarter"},  # [L / 4], then L
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small corpus and sweep")
    parser.add_argument(
        "--seed", type=int, default=None, help="corpus seed [quick: 0, the demo's; 6]"
    )
    parser.add_argument(
        "--sae-seeds", type=int, default=3, help="SAE seeds per size (best on train)"
    )
    parser.add_argument(
        "--variants",
        action="store_true",
        help="one table comparing TopK, BatchTopK and Matryoshka over seeds",
    )
    parser.add_argument(
        "--variant-seeds", type=int, default=4, help="seeds per variant [4]"
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


def _spread(values, digits=3):
    """``mean±std`` of per-seed values (population std over the seeds)."""
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.{digits}f}±{values.std():.{digits}f}"


def fit_variant_seed(X, language, train, test, trials, sizes, seed, variant):
    """One seed of one variant at each size of ``sizes``; its figures."""
    fitted = []
    for n_latents, k in sizes:
        sae = make_sae(n_latents, k, **variant).set_params(random_state=seed)
        fitted.append(sae.fit(X[train]))
    small = fitted[0]
    codes = small.transform(X[test])
    reconstruction = small.inverse_transform(codes)
    best = top_latents(small.transform(X[train]), language[train])
    row = {
        "fvu": 1.0 - small.score(X[test]),
        "l0": float((codes > 0).sum(axis=1).mean()),
        "dead": len(small.dead_latents_) / small.n_latents_,
        "eer": verification_eer(reconstruction, trials),
        "train_auc": best["auc"].to_dict(),
        "auc": {
            cls: roc_auc_score(language[test] == cls, codes[:, int(r["latent"])])
            for cls, r in best.iterrows()
        },
        "direction": {
            cls: small.components_[int(r["latent"])] for cls, r in best.iterrows()
        },
    }
    # Feature splitting: larger dictionaries' latents whose decoder directions
    # match each language latent of the smallest one (cosine >= 0.3).
    for large in fitted[1:]:
        splits = feature_splits(small, large, threshold=0.3).set_index("small_latent")
        row[f"children_{large.n_latents_}"] = float(
            np.mean(
                [splits.loc[int(r["latent"]), "n_children"] for _, r in best.iterrows()]
            )
        )
    return row


def _direction_agreement(rows, classes):
    """Mean |cos| between the seeds' decoder directions of each language latent."""
    cosines = []
    for cls in classes:
        directions = np.array([row["direction"][cls] for row in rows])
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        gram = np.abs(directions @ directions.T)
        cosines.extend(gram[np.triu_indices(len(rows), k=1)])
    return float(np.mean(cosines))


def report_variants(X, language, train, test, trials, original_eer, sizes, seeds):
    """One table: TopK, BatchTopK and Matryoshka over several seeds."""
    classes = sorted(set(language))
    (n_latents, k), larger = sizes[0], sizes[1:]
    print(
        f"TopK vs BatchTopK vs Matryoshka (L={n_latents}, k={k}; mean±std over "
        f"{len(seeds)} seeds {list(seeds)}; held-out speakers; dense EER "
        f"{original_eer:.2%}):"
    )
    header = (
        f"{'variant':<11}{'FVU':>12}{'mean L0':>13}{'dead':>12}{'EER recon':>13}"
        + "".join(f"{'AUC ' + c:>13}" for c in classes)
        + "".join(f"{'split->' + str(n):>12}" for n, _ in larger)
        + f"{'train AUC min-max':>19}{'dir. cos':>10}{'s':>6}"
    )
    print(header)
    table = {}
    for name, variant in VARIANTS.items():
        start = time.perf_counter()
        rows = [
            fit_variant_seed(X, language, train, test, trials, sizes, seed, variant)
            for seed in seeds
        ]
        train_means = [np.mean(list(row["train_auc"].values())) for row in rows]
        summary = {
            "fvu": [row["fvu"] for row in rows],
            "l0": [row["l0"] for row in rows],
            "dead": [row["dead"] for row in rows],
            "eer": [row["eer"] for row in rows],
            "auc": {c: [row["auc"][c] for row in rows] for c in classes},
            "train_auc": train_means,
            "children": {n: [row[f"children_{n}"] for row in rows] for n, _ in larger},
            "direction_cosine": _direction_agreement(rows, classes),
        }
        table[name] = summary
        print(
            f"{name:<11}{_spread(summary['fvu']):>12}{_spread(summary['l0'], 2):>13}"
            f"{_spread(summary['dead']):>12}"
            f"{_spread(100 * np.array(summary['eer']), 2) + '%':>13}"
            + "".join(f"{_spread(summary['auc'][c]):>13}" for c in classes)
            + "".join(f"{_spread(summary['children'][n], 2):>12}" for n, _ in larger)
            + f"{min(train_means):>12.3f}-{max(train_means):.3f}"
            + f"{summary['direction_cosine']:>10.3f}"
            + f"{time.perf_counter() - start:>6.0f}"
        )
    print(
        "FVU: held-out variance unexplained; mean L0: active latents per held-out "
        "embedding; dead: fraction of latents that fired on no training sample in "
        "the last epoch; EER recon: verification EER of the reconstructions; AUC "
        "<language>: the latent best on the training speakers, on held-out ones; "
        "split->L: latents of an L-latent SAE (same variant and seed) matching "
        "each language latent (decoder cosine >= 0.3), mean over languages; train "
        "AUC: best language latents' training AUC (mean over languages), lowest "
        "and highest seed; dir. cos: mean |cosine| between the seeds' decoder "
        "directions of the same language's latent (1: every seed finds the same "
        "direction)."
    )
    steadiest = min(table, key=lambda n: np.ptp(table[n]["train_auc"]))
    print(
        "language latent across seeds: std of held-out AUC (mean over languages) "
        + ", ".join(
            f"{n} {np.mean([np.std(v) for v in t['auc'].values()]):.3f}"
            for n, t in table.items()
        )
        + f"; narrowest training-AUC range: {steadiest}"
    )
    return table


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
    seed = config["seed"] if args.seed is None else args.seed
    X, metadata, train, test = build_corpus(config, seed)
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
    variants = None
    if args.variants:
        variants = report_variants(
            X,
            language,
            train,
            test,
            trials,
            original_eer,
            config["variant_sizes"],
            range(args.variant_seeds),
        )
    return {
        "original_eer": original_eer,
        "models": models,
        "aucs": aucs,
        "variants": variants,
    }


if __name__ == "__main__":
    main()
