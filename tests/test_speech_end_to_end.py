"""Pluth, Zhou and Gurbani's findings on real speech, offline, end to end.

eSpeak NG speaks English, Spanish and Russian in 30 voices per language; the
real pretrained Resemblyzer encoder embeds the speech; TopK sparse
autoencoders are trained on two thirds of the speakers and judged on the
other third (unseen voices):

- a single latent of a small dictionary separates one language from the
  rest (ROC AUC >= 0.9 on held-out speakers);
- steering that latent moves held-out embeddings of the other languages
  toward that language's centroid;
- reconstructions by a larger dictionary (256 latents, 64 active) keep
  speaker identity: the
  verification EER on held-out speakers is within 2 points of the original
  embeddings'.

The latent, and the seed among three, are picked on training data only.
"""

import shutil

import pytest
from sklearn.metrics import roc_auc_score

from sklearn_audioconcepts.inspection import (
    make_trials,
    steering_effect,
    top_latents,
    verification_eer,
)

pytest.importorskip("resemblyzer")
if shutil.which("espeak-ng") is None:
    pytest.skip(
        "espeak-ng is not installed (apt-get install espeak-ng)",
        allow_module_level=True,
    )

from sklearn_audioconcepts.sae import TopKSparseAutoencoder  # noqa: E402

LANGUAGES = ("en", "es", "ru")
N_VOICES = 30
HELD_OUT_VOICES = range(20, 30)  # a third of each language's speakers


@pytest.fixture(scope="module")
def corpus():
    """Embeddings and labels, with a speaker-disjoint train/test split."""
    from sklearn_audioconcepts.datasets import make_speech_corpus
    from sklearn_audioconcepts.speaker import ResemblyzerEmbedder

    waveforms, metadata = make_speech_corpus(
        LANGUAGES, n_voices=N_VOICES, n_utterances=9, random_state=6
    )
    embedder = ResemblyzerEmbedder(sample_rate=16000, device="cpu", progress=False)
    embeddings = embedder.transform(waveforms)
    held_out = [f"{lang}-{i}" for lang in LANGUAGES for i in HELD_OUT_VOICES]
    test = metadata["speaker"].isin(held_out).to_numpy()
    return {
        "X": embeddings,
        "language": metadata["language"].to_numpy(),
        "speaker": metadata["speaker"].to_numpy(),
        "train": ~test,
        "test": test,
    }


def _sae(n_latents, k, seed):
    return TopKSparseAutoencoder(
        n_latents=n_latents,
        k=k,
        aux_k=16,
        lr=3e-3,
        batch_size=64,
        max_epochs=150,
        device="cpu",
        progress=False,
        random_state=seed,
    )


@pytest.fixture(scope="module")
def language_latent(corpus):
    """The small-dictionary latent that best separates a language, on train."""
    X, language, train = corpus["X"], corpus["language"], corpus["train"]
    candidates = []
    for seed in range(3):
        sae = _sae(16, 8, seed).fit(X[train])
        best = top_latents(sae.transform(X[train]), language[train])
        attribute = best["auc"].idxmax()
        candidates.append(
            (best.loc[attribute, "auc"], seed, sae, attribute, best.loc[attribute])
        )
    train_auc, seed, sae, attribute, row = max(candidates, key=lambda c: c[:2])
    return {"sae": sae, "attribute": attribute, "latent": int(row["latent"])}


def test_a_single_latent_separates_a_language(corpus, language_latent):
    X, language, test = corpus["X"], corpus["language"], corpus["test"]
    sae, attribute = language_latent["sae"], language_latent["attribute"]
    activation = sae.transform(X[test])[:, language_latent["latent"]]
    auc = roc_auc_score(language[test] == attribute, activation)
    latent = language_latent["latent"]
    print(f"\nheld-out AUC of latent {latent} for {attribute}: {auc:.3f}")
    assert auc >= 0.9


def test_steering_the_latent_moves_toward_the_language(corpus, language_latent):
    X, language = corpus["X"], corpus["language"]
    train, test = corpus["train"], corpus["test"]
    attribute = language_latent["attribute"]
    others = test & (language != attribute)
    effect = steering_effect(
        language_latent["sae"],
        X[others],
        language_latent["latent"],
        reference=X[train],
        reference_labels=language[train],
        attribute=attribute,
    )
    print(
        f"\nrelative similarity to {attribute}: {effect.mean_before:.4f} -> "
        f"{effect.mean_after:.4f} ({effect.fraction_increased:.0%} of rows rose)"
    )
    assert effect.mean_after > effect.mean_before
    assert effect.fraction_increased > 0.9


def test_reconstructions_keep_speaker_verification(corpus):
    X, speaker = corpus["X"], corpus["speaker"]
    train, test = corpus["train"], corpus["test"]
    sae = _sae(256, 64, 0).set_params(lr=1e-3).fit(X[train])
    reconstructed = sae.inverse_transform(sae.transform(X[test]))
    trials = make_trials(speaker[test], random_state=0)
    original_eer = verification_eer(X[test], trials)
    reconstructed_eer = verification_eer(reconstructed, trials)
    print(
        f"\nEER on held-out speakers: original {original_eer:.2%}, "
        f"reconstructed {reconstructed_eer:.2%} "
        f"(variance explained {sae.score(X[test]):.3f})"
    )
    assert abs(reconstructed_eer - original_eer) <= 0.02
