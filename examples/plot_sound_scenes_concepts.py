"""
=======================================================
Concepts that recover known factors: a controlled world
=======================================================

Concepts are only worth reading when they are right. This example checks
them where the truth is known, offline:
:func:`~sklearn_audioconcepts.datasets.make_sound_scenes` synthesises
captioned clips from named factors (main source, pitch, background, a short
event, loudness, an effect, and for speech its language, voice and speed), a
:class:`~sklearn_audioconcepts.MiniCLAP` is trained on them in seconds,
and its embeddings are decomposed over the world's concept phrases
with :class:`~sklearn_audioconcepts.ConceptDecomposer`. On held-out clips
(another seed) we score zero-shot accuracy, retrieval and how faithfully the
concepts recover the factors (:mod:`sklearn_audioconcepts.faithfulness`).

MiniCLAP is a model for controlled experiments and small captioned corpora;
with a pretrained CLAP the same code runs on
:class:`~sklearn_audioconcepts.CLAPEmbedder` embeddings.
"""

# %%
# A world with known factors
# --------------------------
# Each clip mixes one to three sources and comes with a caption written from
# its factors; ``concept_factors`` says which factor values each concept
# phrase asserts (distractors such as "dog barking" assert values no clip has).
import matplotlib.pyplot as plt
import numpy as np

from sklearn_audioconcepts import (
    ConceptDecomposer,
    ConceptVocabulary,
    MiniCLAP,
    ZeroShotClassifier,
)
from sklearn_audioconcepts.datasets import make_sound_scenes
from sklearn_audioconcepts.faithfulness import sparsity_sweep
from sklearn_audioconcepts.plotting import plot_sparsity_tradeoff
from sklearn_audioconcepts.retrieval import retrieval_scores

train = make_sound_scenes(1200, random_state=0)
test = make_sound_scenes(300, random_state=1)
print(train.factors.head(3).to_string())
print(train.captions[:3])
print(len(train.concepts), "concepts, e.g.", train.concepts[40:43])

# %%
# Train a small CLAP
# ------------------
# The CLAP objective (symmetric InfoNCE at temperature 0.125) pulls each clip
# towards its own caption and away from the others of its batch. Half of the
# time the caption is one of the clip's short keyword captions ("quiet bell
# over rain", after LAION-CLAP's keyword-to-caption augmentation), so that a
# source word means its source on its own, as in the concept "loud siren".
# 1,200 clips keep this example quick; ``benchmarks/reproduce_sound_scenes.py``
# trains on 3,000.
print(train.short_captions[:3])
captions = [[c] * 2 + s for c, s in zip(train.captions, train.short_captions)]
model = MiniCLAP(sample_rate=train.sample_rate, device="cpu", random_state=0)
model.fit(train.audio, captions)
X_train, X_test = model.transform(train.audio), model.transform(test.audio)

# %%
# Zero-shot classification of the main source
# -------------------------------------------
# The prompts are embedded by the model's own text tower.
sources = train.factor_values["source"]
zero_shot = ZeroShotClassifier(sources, embedder=model).fit(X_test)
dense_accuracy = zero_shot.score(X_test, test.factors["source"])
print(f"held-out zero-shot accuracy on source: {dense_accuracy:.3f}")

captions = model.embed_text(test.captions)
scores = retrieval_scores(X_test, captions, np.arange(len(X_test)))
print(f"text->audio R@10: {scores['text_to_audio_R@10']:.3f}")

# %%
# Concepts, and how faithful they are
# -----------------------------------
# A concept is right for a clip when every factor value it asserts holds.
# Along the ``l1_penalty`` sweep: the mean number of active concepts (L0), the
# zero-shot accuracy of the concept reconstructions, the precision of each
# clip's top-3 concepts and the recall of its factor values.
vocabulary = ConceptVocabulary.from_texts(train.concepts, model)
decomposer = ConceptDecomposer(vocabulary, device="cpu").fit(X_train)
sweep = sparsity_sweep(
    decomposer,
    X_test,
    [0.01, 0.02, 0.05, 0.1, 0.2],
    concept_factors=train.concept_factors,
    factors=test.factors,
    zero_shot=zero_shot,
    labels=test.factors["source"],
)
print(sweep.round(3).to_string(index=False))

columns = {
    "precision_at_k": "top-3 concept precision",
    "zero_shot_accuracy": "zero-shot accuracy (source)",
    "recall": "factor recall",
}
fig = plot_sparsity_tradeoff(
    np.tile(sweep["mean_active"], (len(columns), 1)),
    sweep[list(columns)].to_numpy().T,
    penalties=sweep["l1_penalty"],  # written next to the first curve
    baseline=dense_accuracy,
    labels=list(columns.values()),
)
fig.axes[0].set_ylabel("held-out score")
plt.show()

# %%
# What the concepts say about three held-out clips
# ------------------------------------------------
table = decomposer.explain(X_test[:3], top_k=4)
for sample, rows in table.groupby("sample"):
    print("caption: ", test.captions[sample])
    print("concepts:", ", ".join(rows["concept"]))
