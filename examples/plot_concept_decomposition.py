"""
==========================================
Decomposing embeddings into named concepts
==========================================

:class:`~sklearn_audioconcepts.ConceptDecomposer` writes each embedding as a
sparse, nonnegative combination of concepts from a vocabulary, so that a clip
reads as a short list of named concepts with weights.

This example uses synthetic CLAP-like data, so it runs offline in seconds: 600
unit-norm 512-d "audio" embeddings, each a mixture of 30 concepts out of a
vocabulary of 1,000, seen through a modality gap and noise, in 3 classes. With
real audio, ``X`` would hold CLAP audio embeddings and the vocabulary the CLAP
text embeddings of concept names such as "dog barking".
"""

# %%
# Synthetic CLAP-like data
# ------------------------
# :func:`~sklearn_audioconcepts.datasets.make_concept_embeddings` also returns
# the weights it planted in each embedding, which lets us check what the
# decomposition recovers.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_audioconcepts import ConceptDecomposer
from sklearn_audioconcepts.datasets import make_concept_embeddings

X, vocabulary, planted, y = make_concept_embeddings(
    n_samples=600, n_concepts=1000, n_features=512, n_classes=3, random_state=0
)
print(X.shape, vocabulary)

# %%
# Fit and transform
# -----------------
# ``fit`` learns the mean of the embeddings and centres the concepts on theirs
# (which removes the audio-text modality gap); ``transform`` solves a
# nonnegative lasso for each row. ``l1_penalty`` sets the sparsity.
decomposer = ConceptDecomposer(
    vocabulary, l1_penalty=0.05, device="cpu", progress=False
)
weights = decomposer.fit_transform(X)

n_active = (weights > 0).sum(axis=1)
print(f"weights: {weights.shape}, all >= 0: {bool((weights >= 0).all())}")
print(
    f"active concepts per clip: median {np.median(n_active):.0f} "
    f"(min {n_active.min()}, max {n_active.max()}) of {len(vocabulary)}"
)

# %%
# Explanations
# ------------
# :meth:`~sklearn_audioconcepts.ConceptDecomposer.explain` lists the most
# prominent concepts of each clip as a tidy table, largest weight first.
# Concept names here are ``concept_000`` ... ; with a real vocabulary they
# would be phrases.
decomposer.explain(X[:2], top_k=5)

# %%
# The top concepts of one clip
# ----------------------------
# The bars show the 15 largest weights of the first clip. Bars in colour are
# concepts that were planted in this clip; grey ones were not (the vocabulary
# has clusters of near-synonyms, and the decomposition sometimes picks a
# neighbour of the planted concept).
clip = 0
order = np.argsort(weights[clip])[::-1][:15]
order = order[weights[clip, order] > 0]
names = decomposer.get_feature_names_out()[order]
was_planted = planted[clip, order] > 0

fig, ax = plt.subplots(figsize=(7, 4.5))
ax.barh(
    np.arange(len(order)),
    weights[clip, order],
    color=np.where(was_planted, "tab:blue", "tab:gray"),
)
ax.set_yticks(np.arange(len(order)), labels=names)
ax.invert_yaxis()
ax.legend(
    handles=[
        plt.Rectangle((0, 0), 1, 1, color="tab:blue", label="planted in this clip"),
        plt.Rectangle((0, 0), 1, 1, color="tab:gray", label="not planted"),
    ],
    loc="lower right",
)
ax.set_xlabel("concept weight")
ax.set_title(
    f"Clip {clip} (class {y[clip]}): {n_active[clip]} active concepts, "
    f"{was_planted.sum()} of the top {len(order)} planted"
)
fig.tight_layout()

# %%
# Across all clips, how many of each clip's top 10 concepts were planted in it:
top10 = np.argsort(weights, axis=1)[:, ::-1][:, :10]
hits = np.take_along_axis(planted, top10, axis=1) > 0
print(f"top-10 concepts that were planted: {hits.mean():.0%} on average")

# %%
# Concepts per class
# ------------------
# The mean weight of each concept within each class gives a class profile; the
# concepts with the largest mean weight differ between the classes.
classes = np.unique(y)
class_means = np.stack([weights[y == label].mean(axis=0) for label in classes])
top_per_class = np.unique(np.argsort(class_means, axis=1)[:, ::-1][:, :5])

fig, ax = plt.subplots(figsize=(7, 3))
image = ax.imshow(class_means[:, top_per_class], aspect="auto", cmap="viridis")
ax.set_xticks(
    np.arange(len(top_per_class)),
    labels=decomposer.get_feature_names_out()[top_per_class],
    rotation=60,
    ha="right",
)
ax.set_yticks(np.arange(len(classes)), labels=[f"class {c}" for c in classes])
ax.set_title("Mean concept weight per class (top 5 concepts of each class)")
fig.colorbar(image, ax=ax, label="mean weight")
fig.tight_layout()

# %%
# Reconstruction fidelity
# -----------------------
# :meth:`~sklearn_audioconcepts.ConceptDecomposer.inverse_transform` maps the
# weights back to the embedding space (the mean is added back), and
# :meth:`~sklearn_audioconcepts.ConceptDecomposer.cosine_similarity` gives
# the cosine between each embedding and its reconstruction. Because the mean
# is part of every reconstruction, the cosine is already high for the mean
# embedding alone (no concept active); the concepts explain the rest.
# (:meth:`~sklearn_audioconcepts.ConceptDecomposer.score` is the mean of
# these cosines.)
cosine = decomposer.cosine_similarity(X)
mean_only = decomposer.inverse_transform(np.zeros((1, len(vocabulary))))
cosine_mean_only = X @ mean_only[0] / np.linalg.norm(X, axis=1)

fig, ax = plt.subplots(figsize=(7, 3.5))
bins = np.linspace(min(cosine_mean_only.min(), cosine.min()), 1, 50)
ax.hist(cosine_mean_only, bins=bins, alpha=0.6, label="mean embedding only")
ax.hist(cosine, bins=bins, alpha=0.8, label="concept reconstruction")
ax.set_xlabel("cosine(embedding, reconstruction)")
ax.set_ylabel("clips")
ax.set_title(f"Reconstruction cosine (mean {cosine.mean():.3f})")
ax.legend()
fig.tight_layout()

plt.show()
