"""The three parts of ``sklearn-audioconcepts demo``, each usable alone.

- :func:`run_speech_demo`: Pluth, Zhou and Gurbani's pipeline on speech that
  eSpeak NG synthesises, embedded by the real pretrained Resemblyzer encoder:
  a TopK sparse autoencoder, its best latent per language, per gender and
  for telephone hold music mixed under a quarter of the utterances (ROC AUC
  on held-out speakers), steering, and speaker verification on
  reconstructions.
- :func:`run_clap_demo`: CLAP audio embeddings of generated sounds decomposed
  over the bundled concept vocabulary embedded by the same model.
- :func:`run_concept_demo`: a MiniCLAP trained on generated sound scenes with
  known factors, and how faithfully its concepts recover them (no model
  weights needed).

Each takes a ``say`` callable for its report lines and an optional output
folder for figures and files, and returns a dict of the measured figures.
"""

import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__

# Corpus and model sizes of the speech demo. Speakers are split by voice:
# the last third of each language's voices is held out for every figure.
SPEECH_FULL = {
    "languages": ("en", "es", "ru"),
    "n_voices": 30,
    "n_utterances": 9,
    "language_sae": (16, 8),
    "verification_sae": (256, 64),
    "n_seeds": 8,
    "max_epochs": 150,
    "music_fraction": 0.25,
    "music_snr": 5.0,
}
SPEECH_QUICK = {
    "languages": ("en", "es", "ru"),
    "n_voices": 6,
    "n_utterances": 3,
    "language_sae": (16, 8),
    "verification_sae": (64, 16),
    "n_seeds": 1,
    "max_epochs": 80,
    "music_fraction": 0.25,
    "music_snr": 5.0,
}


def _print(text=""):
    print(text, file=sys.stdout)


def _pyplot():
    """matplotlib's pyplot on a file-only backend, or None when not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path, say):
    """Save and close a figure; report where it went."""
    plt = _pyplot()
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    say(f"  figure: {path}")


def _figures_enabled(output, say):
    if output is None:
        return False
    if _pyplot() is None:
        say("  (figures skipped: pip install matplotlib to draw them)")
        return False
    return True


# -- the speaker SAE pipeline on synthesised speech ----------------------------


def speech_demo_unavailable():
    """Why the speech demo cannot run here (a sentence), or None when it can."""
    if shutil.which("espeak-ng") is None and shutil.which("espeak") is None:
        return (
            "espeak-ng is not installed (Debian/Ubuntu: sudo apt-get install "
            "espeak-ng; macOS: brew install espeak-ng)"
        )
    try:
        import resemblyzer  # noqa: F401
    except ImportError as exc:
        return (
            f"resemblyzer does not import ({exc}); pip install "
            '"sklearn-audioconcepts[speaker]"'
        )
    return None


def _held_out(metadata, n_voices):
    voice = metadata["speaker"].str.rsplit("-", n=1).str[1].astype(int)
    return (voice >= n_voices - max(1, n_voices // 3)).to_numpy()


def _fit_sae(X, n_latents, k, seed, config, device, lr=3e-3):
    from .sae import TopKSparseAutoencoder

    return TopKSparseAutoencoder(
        n_latents=n_latents,
        k=k,
        aux_k=min(16, n_latents),
        lr=lr,
        batch_size=64,
        max_epochs=config["max_epochs"],
        device=device,
        progress=False,
        random_state=seed,
    ).fit(X)


def run_speech_demo(
    output=None,
    *,
    quick=False,
    random_state=0,
    device="cpu",
    progress=False,
    say=_print,
):
    """Train a TopK SAE on synthesised, Resemblyzer-embedded speech and read it."""
    import torch

    # The LSTM encoder and the small SAE run several times slower when their
    # threads contend with other work for a few cores: one thread is fastest.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _speech_demo(
            output,
            quick=quick,
            random_state=random_state,
            device=device,
            progress=progress,
            say=say,
        )
    finally:
        torch.set_num_threads(threads)


def _speech_demo(output, *, quick, random_state, device, progress, say):
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from .datasets import make_speech_corpus
    from .inspection import (
        make_trials,
        score_latents,
        steering_effect,
        top_latents,
        verification_eer,
    )
    from .speaker import ResemblyzerEmbedder

    config = SPEECH_QUICK if quick else SPEECH_FULL
    languages = config["languages"]
    say("== Speaker embeddings -> TopK sparse autoencoder (Pluth, Zhou & Gurbani) ==")
    start = time.perf_counter()
    waveforms, metadata = make_speech_corpus(
        languages,
        n_voices=config["n_voices"],
        n_utterances=config["n_utterances"],
        music_fraction=config["music_fraction"],
        music_snr=config["music_snr"],
        random_state=random_state,
    )
    say(
        f"Synthesised {len(waveforms)} utterances with eSpeak NG "
        f"({', '.join(languages)}; {config['n_voices']} voices each) in "
        f"{time.perf_counter() - start:.1f} s; "
        f"{int((metadata['music'] == 'music').sum())} of them with telephone hold "
        f"music mixed in at {config['music_snr']:g} dB SNR, as in IVR calls."
    )
    start = time.perf_counter()
    embedder = ResemblyzerEmbedder(sample_rate=16000, device=device, progress=progress)
    X = embedder.transform(waveforms)
    say(
        f"Embedded them with the pretrained Resemblyzer encoder ({X.shape[1]}-d) in "
        f"{time.perf_counter() - start:.1f} s."
    )
    language = metadata["language"].to_numpy()
    speaker = metadata["speaker"].to_numpy()
    test = _held_out(metadata, config["n_voices"])
    train = ~test
    say(
        f"Train on {train.sum()} utterances; every figure below is on the "
        f"{test.sum()} utterances of {len(set(speaker[test]))} held-out speakers."
    )
    say()

    # The small dictionary: the seed whose best language latent separates
    # best on the training speakers (never on the held-out ones).
    n_latents, k = config["language_sae"]
    candidates = []
    for seed in range(config["n_seeds"]):
        sae = _fit_sae(X[train], n_latents, k, random_state + seed, config, device)
        best = top_latents(sae.transform(X[train]), language[train])
        candidates.append((best["auc"].max(), seed, sae, best))
    _, _, sae, best = max(candidates, key=lambda c: c[:2])
    Z_test = sae.transform(X[test])
    rows = []
    for lang in languages:
        latent = int(best.loc[lang, "latent"])
        rows.append(
            {
                "language": lang,
                "latent": latent,
                "train_auc": float(best.loc[lang, "auc"]),
                "test_auc": float(
                    roc_auc_score(language[test] == lang, Z_test[:, latent])
                ),
            }
        )
    table = pd.DataFrame(rows).set_index("language")
    say(
        f"Top latent per language (SAE with L={n_latents}, k={k}; "
        "AUC of the latent alone):"
    )
    for lang, row in table.iterrows():
        say(
            f"  {lang}: latent {int(row['latent']):>3}  "
            f"held-out AUC {row['test_auc']:.3f}  "
            f"(train {row['train_auc']:.3f})"
        )
    # Gender (Pluth et al. also found gender latents): the same SAE, its best
    # latent per gender chosen on the training speakers.
    gender = metadata["gender"].to_numpy()
    gender_best = top_latents(sae.transform(X[train]), gender[train])
    gender_auc = {
        g: float(roc_auc_score(gender[test] == g, Z_test[:, int(row["latent"])]))
        for g, row in gender_best.iterrows()
    }
    say(
        "  gender: "
        + ", ".join(
            f"{g} latent {int(gender_best.loc[g, 'latent'])} held-out AUC {auc:.3f}"
            for g, auc in gender_auc.items()
        )
    )
    # Hold music (Pluth et al.'s IVR music) against clean speech: the same
    # SAE's best latent for it, chosen on the training speakers.
    music = metadata["music"].to_numpy() == "music"
    music_best = top_latents(sae.transform(X[train]), music[train], classes=[True])
    music_latent = int(music_best["latent"].iloc[0])
    music_auc = float(roc_auc_score(music[test], Z_test[:, music_latent]))
    say(
        f"  hold music: latent {music_latent} held-out AUC {music_auc:.3f} "
        f"(train {float(music_best['auc'].iloc[0]):.3f})"
    )
    attribute = table["train_auc"].idxmax()
    latent = int(table.loc[attribute, "latent"])
    say()

    others = test & (language != attribute)
    effect = steering_effect(
        sae,
        X[others],
        latent,
        reference=X[train],
        reference_labels=language[train],
        attribute=attribute,
    )
    say(
        f"Steering latent {latent} ({attribute}) on {others.sum()} held-out utterances "
        "of the other languages, set to its mean activation on that language:"
    )
    say(
        f"  relative similarity to the {attribute} centroid "
        f"{effect.mean_before:+.4f} -> "
        f"{effect.mean_after:+.4f} ({effect.fraction_increased:.0%} of utterances rose)"
    )
    say()

    n_big, k_big = config["verification_sae"]
    big = _fit_sae(X[train], n_big, k_big, random_state, config, device, lr=1e-3)
    # Verification on the clean utterances: hold music shared across calls
    # would make different speakers sound alike, which is another question.
    clean = test & ~music
    reconstructed = big.inverse_transform(big.transform(X[clean]))
    trials = make_trials(speaker[clean], random_state=random_state)
    original_eer = verification_eer(X[clean], trials)
    reconstructed_eer = verification_eer(reconstructed, trials)
    say(
        f"Speaker verification on held-out speakers' clean utterances "
        f"({len(trials)} trials, cosine):"
    )
    say(f"  EER original embeddings       {original_eer:.2%}")
    say(
        f"  EER SAE reconstructions       {reconstructed_eer:.2%}  "
        f"(L={n_big}, k={k_big}; variance explained {big.score(X[test]):.3f})"
    )
    say(f"  dead latents of that SAE      {len(big.dead_latents_)} of {n_big}")

    if output is not None:
        from ._tables import write_table

        output = Path(output)
        ids = [f"utterance-{i:04d}" for i in range(len(X))]
        write_table(
            output / "speech_embeddings.npz",
            ids,
            X,
            embedder.get_feature_names_out(),
            {"model": "resemblyzer"},
        )
        metadata.assign(id=ids, held_out=test).to_csv(
            output / "speech_metadata.csv", index=False
        )
        from .persistence import save_model

        # skops: 'sae transform --model' loads it without --trust-pickle.
        save_model(sae, output / "language_sae.skops")
        say(
            f"  files: {output / 'speech_embeddings.npz'}, speech_metadata.csv, "
            "language_sae.skops"
        )
        from .report import write_report

        index = write_report(
            sae,
            waveforms,
            output / "language_sae_report",
            X=X,
            sample_rate=16000,
            labels=metadata[["language", "gender", "music"]],
            metadata=metadata.drop(columns=["language", "gender", "music"]).assign(
                held_out=test
            ),
            ids=ids,
            overwrite=True,
            progress=progress,
        )
        say(f"  listen to its latents: open {index.resolve().as_uri()}")
    if _figures_enabled(output, say):
        from .plotting import plot_latent_scores, plot_steering_shift

        scores = score_latents(Z_test, language[test], classes=[attribute])
        figure = plot_latent_scores(scores.set_index("name")["auc"], top_n=n_latents)
        figure.axes[0].set_title(f"Held-out AUC of each latent for '{attribute}'")
        save_figure(figure, Path(output) / "latent_auc.png", say)
        figure = plot_steering_shift(effect.before, effect.after)
        figure.axes[0].set_title(f"Steering latent {latent} toward '{attribute}'")
        save_figure(figure, Path(output) / "steering_shift.png", say)
    say()
    return {
        "top_latents": table,
        "gender_auc": gender_auc,
        "music_latent": music_latent,
        "music_auc": music_auc,
        "attribute": attribute,
        "latent": latent,
        "steering": effect,
        "original_eer": original_eer,
        "reconstructed_eer": reconstructed_eer,
    }


# -- CLAP embeddings of real audio decomposed over the bundled vocabulary -----


def demo_sounds(sample_rate=48000, seconds=2.0, random_state=0):
    """A handful of generated sounds, named: tones, chirp, noise, clicks."""
    rng = np.random.default_rng(random_state)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    envelope = np.minimum(1.0, 20 * t) * np.minimum(1.0, 20 * (seconds - t))
    clicks = np.zeros_like(t)
    clicks[:: sample_rate // 4] = 1.0
    sounds = {
        "pure tone 440 Hz": np.sin(2 * np.pi * 440 * t),
        "low hum 60 Hz": np.sin(2 * np.pi * 60 * t) + 0.3 * np.sin(2 * np.pi * 120 * t),
        "rising chirp": np.sin(2 * np.pi * (200 + 900 * t / seconds) * t),
        "white noise": rng.standard_normal(t.size) / 3,
        "clock-like clicks": np.convolve(clicks, np.hanning(64), mode="same"),
    }
    return {
        name: (0.5 * envelope * wave / np.abs(wave).max()).astype(np.float32)
        for name, wave in sounds.items()
    }


def run_clap_demo(
    embedder, output=None, *, sections=None, l1_penalty=0.05, say=_print, progress=False
):
    """Embed generated sounds with CLAP and explain them with bundled concepts."""
    from .data import load_audio_concepts
    from .decomposition import ConceptDecomposer
    from .vocabulary import ConceptVocabulary

    say("== CLAP embeddings -> concept decomposition (Zhang, Thomaz & Lu) ==")
    sounds = demo_sounds()
    start = time.perf_counter()
    X = embedder.transform([(wave, 48000) for wave in sounds.values()])
    say(f"Embedded {len(X)} generated sounds in {time.perf_counter() - start:.1f} s.")
    start = time.perf_counter()
    names = load_audio_concepts(sections)
    vocabulary = ConceptVocabulary.from_texts(names, embedder)
    say(
        f"Embedded {len(vocabulary)} bundled concepts with the same model's text "
        f"encoder in {time.perf_counter() - start:.1f} s."
    )
    decomposer = ConceptDecomposer(vocabulary, l1_penalty=l1_penalty, progress=progress)
    decomposer.fit(X)  # centred on these clips' mean, as SpLiCE centres on a corpus
    table = decomposer.explain(X, top_k=5)
    labels = list(sounds)
    table.insert(0, "sound", [labels[i] for i in table["sample"]])
    cosine = decomposer.cosine_similarity(X)
    for index, label in enumerate(labels):
        rows = table[table["sample"] == index]
        listed = ", ".join(
            f"{c} ({w:.2f})" for c, w in zip(rows["concept"], rows["weight"])
        )
        say(f"  {label:<18} cos {cosine[index]:.2f}: {listed or '(no active concept)'}")
    if output is not None:
        path = Path(output) / "clap_concepts.csv"
        table.to_csv(path, index=False)
        say(f"  table: {path}")
    if _figures_enabled(output, say) and len(table):
        from .plotting import plot_concept_bars

        figure = plot_concept_bars(table, sample=int(table["sample"].iloc[0]))
        figure.axes[0].set_title(
            f"Top concepts: {labels[int(table['sample'].iloc[0])]}"
        )
        save_figure(figure, Path(output) / "clap_concept_bars.png", say)
    say()
    return {"explanation": table, "cosine": cosine}


CLAP_HOWTO = """\
The pretrained-CLAP part of the demo needs a CLAP model, and none was found
(`sklearn-audioconcepts models` lists the names it knows).
  - Offline: on a machine with internet, download paper 1's model,
    CLAP_weights_2023.pth from https://huggingface.co/microsoft/msclap, copy it
    here, and run
        sklearn-audioconcepts demo --clap-checkpoint /path/to/CLAP_weights_2023.pth
    (its text encoder, gpt2, must then be in the Hugging Face cache or given
    with --clap-text-model DIR). A LAION checkpoint such as
    630k-audioset-best.pt from https://huggingface.co/lukewys/laion_clap, or a
    folder saved from laion/larger_clap_general, works the same way.
  - Online: run the demo with --clap-checkpoint msclap-2023 (or
    630k-audioset-best, or laion/larger_clap_general) to download it.
  - Requires: pip install "sklearn-audioconcepts[msclap]" (or [clap] for
    laion-clap checkpoints)."""

# Published models looked for in the caches, paper 1's first.
_CACHED_CANDIDATES = ("msclap-2023", "630k-audioset-best", "laion/larger_clap_general")


def find_cached_clap_checkpoint():
    """A published CLAP model already on this machine, or None.

    Looks where laion-clap's own loader saves its checkpoints and in the
    Hugging Face cache, without importing the model libraries (laion-clap's
    import reaches for the hub) and without any network access. Returns a
    file path, or a hub id whose files are cached.
    """
    import importlib.util

    from ._clap_models import PUBLISHED_MODELS

    for name in _CACHED_CANDIDATES:
        published = PUBLISHED_MODELS[name]
        if published.family == "laion":
            spec = importlib.util.find_spec("laion_clap")
            if spec is not None and spec.origin is not None:
                candidate = Path(spec.origin).parent / published.filename
                if candidate.is_file():
                    return str(candidate)
        filename = published.filename or "config.json"
        cached = _hub_cached(published.hub_repo, filename)
        if cached is not None:
            return cached if published.filename else name
    return None


def _hub_cached(repo, filename):
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(repo, filename)
    except Exception:  # noqa: BLE001 - no hub client or a broken cache: not found
        return None
    return cached if isinstance(cached, str) and os.path.isfile(cached) else None


def hub_reachable(timeout=2.0):
    """Whether huggingface.co answers on port 443 within ``timeout`` seconds."""
    import socket

    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


# -- concepts on a controlled sound world ----------------------------------------


def run_concept_demo(
    n_samples=3000, random_state=0, output=None, say=_print, device="cpu"
):
    """MiniCLAP trained on generated sound scenes, its concepts scored.

    ``n_samples`` training clips from
    :func:`~sklearn_audioconcepts.datasets.make_sound_scenes` (a third as
    many held out, another seed; at the default 3,000 the figures are those
    of ``benchmarks/reproduce_sound_scenes.py``); see
    :mod:`._scenes_experiment`.
    """
    from . import _scenes_experiment

    if n_samples <= _scenes_experiment.QUICK["n_train"]:
        config = dict(_scenes_experiment.QUICK, n_train=n_samples)
    else:
        config = dict(_scenes_experiment.FULL, n_train=n_samples)
    config["n_test"] = max(100, n_samples // 3)
    say(
        "== Concepts on a controlled sound world: a MiniCLAP trained on "
        f"generated, captioned sound scenes (v{__version__}) =="
    )
    say(
        "No pretrained audio-text model is needed: the world's factors are "
        "known, so the concepts can be checked."
    )
    results = _scenes_experiment.run_experiment(
        config, random_state=random_state, device=device, output=output, say=say
    )
    say()
    return results
