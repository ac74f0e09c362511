"""
========================================================
A language latent in speaker embeddings, and steering it
========================================================

Pluth, Zhou and Gurbani (2025) train TopK sparse autoencoders on speaker
embeddings and find single latents that stand for an attribute such as the
language spoken. This example does the same on real speech, offline:

1. eSpeak NG synthesises sentences in English, Spanish and Russian, read by
   several voices per language
   (:func:`~sklearn_audioconcepts.datasets.make_speech_corpus`);
2. the pretrained Resemblyzer speaker encoder embeds each utterance (256-d,
   :class:`~sklearn_audioconcepts.speaker.ResemblyzerEmbedder`);
3. a :class:`~sklearn_audioconcepts.TopKSparseAutoencoder` learns 16 latents,
   8 active per utterance;
4. each latent is scored as a one-feature language classifier
   (:func:`~sklearn_audioconcepts.inspection.top_latents`), on speakers the
   autoencoder never saw;
5. steering the best latent moves embeddings of other languages toward that
   language (:func:`~sklearn_audioconcepts.inspection.steering_effect`).

It needs ``espeak-ng`` (``apt-get install espeak-ng``) and the ``speaker``
extra (``pip install "sklearn-audioconcepts[speaker]"``).
"""

# %%
# Speech in three languages, embedded by a real speaker encoder
# -------------------------------------------------------------
# Each language gets 30 voices reading 9 sentences. The last third of each
# language's voices is held out: every figure below is on speakers unseen in
# training, so a latent cannot score well by memorising voices.
import numpy as np

from sklearn_audioconcepts import TopKSparseAutoencoder
from sklearn_audioconcepts.datasets import make_speech_corpus
from sklearn_audioconcepts.inspection import (
    make_trials,
    score_latents,
    steering_effect,
    top_latents,
    verification_eer,
)
from sklearn_audioconcepts.plotting import plot_latent_scores, plot_steering_shift
from sklearn_audioconcepts.speaker import ResemblyzerEmbedder

waveforms, metadata = make_speech_corpus(
    ("en", "es", "ru"), n_voices=30, n_utterances=9, random_state=6
)
X = ResemblyzerEmbedder(sample_rate=16000, device="cpu", progress=False).transform(
    waveforms
)
language = metadata["language"].to_numpy()
speaker = metadata["speaker"].to_numpy()
voice = metadata["speaker"].str.rsplit("-", n=1).str[1].astype(int).to_numpy()
test = voice >= 20
train = ~test
print(f"{len(X)} utterances, {X.shape[1]}-d; {test.sum()} from held-out speakers")
print(metadata[["language", "speaker", "voice", "text"]].head(3).to_string())

# %%
# A small TopK sparse autoencoder
# -------------------------------
# With ``L = 16`` latents and ``k = 8`` active per utterance, the dictionary
# is too small to spend latents on individual voices: the strongest shared
# factors, such as the language, get latents of their own. The seed is chosen
# on the training speakers only.
candidates = []
for seed in range(3):
    sae = TopKSparseAutoencoder(
        n_latents=16,
        k=8,
        aux_k=16,
        lr=3e-3,
        batch_size=64,
        max_epochs=150,
        device="cpu",
        progress=False,
        random_state=seed,
    ).fit(X[train])
    best = top_latents(sae.transform(X[train]), language[train])
    candidates.append((best["auc"].max(), seed, sae, best))
_, seed, sae, best_on_train = max(candidates, key=lambda c: c[:2])
print(f"seed {seed}: variance explained on held-out speakers {sae.score(X[test]):.3f}")
print(best_on_train[["latent", "auc", "accuracy"]])

# %%
# The latent that best separates a language, on held-out speakers
# ---------------------------------------------------------------
# The language whose best latent separates it best on the training speakers
# is checked on the held-out speakers: every latent is scored alone, by the
# ROC AUC of its activation as a score for "is this language".
attribute = best_on_train["auc"].idxmax()
latent = int(best_on_train.loc[attribute, "latent"])
Z_test = sae.transform(X[test])
scores = score_latents(Z_test, language[test], classes=[attribute])
held_out_auc = scores.set_index("latent").loc[latent, "auc"]
print(f"latent {latent} for {attribute!r}: held-out AUC {held_out_auc:.3f}")
figure = plot_latent_scores(scores.set_index("name")["auc"], top_n=16)
figure.axes[0].set_title(f"Each latent alone as a classifier of '{attribute}'")

# %%
# Steering: switch the latent on for other languages
# --------------------------------------------------
# :meth:`~sklearn_audioconcepts.TopKSparseAutoencoder.steer` sets the latent to
# its mean activation on the attribute and decodes, keeping each embedding's
# reconstruction residual. The relative similarity (cosine to the language's
# centroid minus cosine to the other languages' centroid) rises.
others = test & (language != attribute)
effect = steering_effect(
    sae,
    X[others],
    latent,
    reference=X[train],
    reference_labels=language[train],
    attribute=attribute,
)
print(
    f"relative similarity to {attribute!r}: {effect.mean_before:+.4f} -> "
    f"{effect.mean_after:+.4f} ({effect.fraction_increased:.0%} of utterances rose)"
)
figure = plot_steering_shift(effect.before, effect.after)
figure.axes[0].set_title(f"Steering latent {latent} toward '{attribute}'")

# %%
# Reconstructions keep the speaker
# --------------------------------
# A larger dictionary reconstructs the embeddings well enough for speaker
# verification: the equal error rate (cosine scoring, all same-speaker pairs
# and as many different-speaker pairs) barely moves.
big = TopKSparseAutoencoder(
    n_latents=256, k=64, aux_k=16, lr=1e-3, batch_size=64, max_epochs=150,
    device="cpu", progress=False, random_state=0,
).fit(X[train])  # fmt: skip
reconstructed = big.inverse_transform(big.transform(X[test]))
trials = make_trials(speaker[test], random_state=0)
print(f"EER original      {verification_eer(X[test], trials):.2%}")
print(f"EER reconstructed {verification_eer(reconstructed, trials):.2%}")
print(f"dead latents: {len(big.dead_latents_)} of {big.n_latents_}")
print(f"mean active latents per utterance: {(big.transform(X) > 0).sum(1).mean():.0f}")
assert np.isfinite(reconstructed).all()
