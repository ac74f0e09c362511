"""
==========================================
Sparsity, fidelity and downstream accuracy
==========================================

The ``l1_penalty`` of :class:`~sklearn_audioconcepts.ConceptDecomposer` trades
sparsity for fidelity: a larger penalty keeps fewer concepts per clip and
reconstructs the embedding less closely. This example sweeps the penalty and
measures, on held-out data,

* the number of active concepts per clip (the L0 norm of the weights),
* the cosine between each embedding and its reconstruction, and
* the accuracy of a linear probe (logistic regression) trained on the concept
  weights, compared with the same probe trained on the dense embeddings,

computing the weights for all penalties at once with
:func:`~sklearn_audioconcepts.concept_path`, then tunes the penalty with
:class:`~sklearn.model_selection.GridSearchCV`,
like any other hyper-parameter of a scikit-learn pipeline.

The data are synthetic CLAP-like embeddings with 3 classes, so the example
runs offline in seconds; the same code applies to real CLAP embeddings.
"""

# %%
# Data and the dense baseline
# ---------------------------
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline

from sklearn_audioconcepts import ConceptDecomposer, concept_path
from sklearn_audioconcepts.datasets import make_concept_embeddings

X, vocabulary, _, y = make_concept_embeddings(
    n_samples=600, n_concepts=1000, n_features=512, n_classes=3, random_state=0
)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.5, stratify=y, random_state=0
)

dense_probe = LogisticRegression(max_iter=1000).fit(X_train, y_train)
dense_accuracy = dense_probe.score(X_test, y_test)
print(f"dense embeddings ({X.shape[1]} features): test accuracy {dense_accuracy:.3f}")

# %%
# Sweeping the penalty
# --------------------
# :func:`~sklearn_audioconcepts.concept_path` decomposes the embeddings for
# every penalty at once, as :func:`~sklearn.linear_model.lasso_path` does for
# the lasso: each penalty starts from the solution of the next larger one, so
# the whole sweep costs little more than its smallest penalty alone. The
# training weights are centred on the training mean, as
# ``ConceptDecomposer.fit_transform`` would do; the test weights use that
# same mean (``center=decomposer.mean_``), as ``transform`` does after
# ``fit``. The penalty does not enter ``inverse_transform``, so one fitted
# decomposer maps every penalty's weights back to the embedding space.
penalties = [0.02, 0.05, 0.1, 0.2, 0.3]
decomposer = ConceptDecomposer(vocabulary, device="cpu", progress=False).fit(X_train)
options = {"device": "cpu", "progress": False}
path_penalties, train_weights = concept_path(X_train, vocabulary, penalties, **options)
_, test_weights = concept_path(
    X_test, vocabulary, penalties, center=decomposer.mean_, **options
)
results = []
for penalty, W_train, W_test in zip(path_penalties, train_weights, test_weights):
    classifier = LogisticRegression(max_iter=1000).fit(W_train, y_train)
    reconstruction = decomposer.inverse_transform(W_test)
    cosine = np.sum(X_test * reconstruction, axis=1) / np.linalg.norm(X_test, axis=1)
    results.append(
        {
            "l1_penalty": penalty,
            "active concepts (L0)": (W_test > 0).sum(axis=1).mean(),
            "cosine": cosine.mean(),
            "accuracy": classifier.score(W_test, y_test),
        }
    )

results = pd.DataFrame(results).sort_values("l1_penalty", ignore_index=True)
results.round(3)

# %%
# The trade-off
# -------------
# Left: the number of active concepts falls quickly as the penalty grows, and
# the reconstruction cosine falls with it. (The cosine is measured in the
# original space, where the mean embedding is added back, so it stays high
# even for very sparse codes; its changes matter more than its level.)
# Right: the linear probe on a few tens of concepts matches or beats the probe
# on the dense embedding; with only a handful of concepts per clip, too
# much is lost for the task.
fig, (ax_left, ax_right) = plt.subplots(1, 2, figsize=(10, 4))

ax_left.plot(results["l1_penalty"], results["active concepts (L0)"], "o-")
ax_left.set_yscale("log")
ax_left.set_xlabel("l1_penalty")
ax_left.set_ylabel("mean active concepts per clip (L0)", color="tab:blue")
ax_cosine = ax_left.twinx()
ax_cosine.plot(results["l1_penalty"], results["cosine"], "s--", color="tab:orange")
ax_cosine.set_ylabel("mean reconstruction cosine", color="tab:orange")
ax_left.set_title("Sparsity versus fidelity")

ax_right.plot(
    results["l1_penalty"], results["accuracy"], "o-", label="probe on concepts"
)
ax_right.axhline(
    dense_accuracy, color="tab:gray", linestyle=":", label="probe on dense embedding"
)
for penalty, accuracy, l0 in zip(
    results["l1_penalty"], results["accuracy"], results["active concepts (L0)"]
):
    ax_right.annotate(
        f"L0={l0:.0f}",
        (penalty, accuracy),
        textcoords="offset points",
        xytext=(4, 6),
        fontsize=8,
    )
ax_right.set_xlabel("l1_penalty")
ax_right.set_ylabel("test accuracy")
ax_right.set_title("Linear probe accuracy")
ax_right.legend(loc="lower left")
ax_right.margins(x=0.1, y=0.15)
for ax in (ax_left, ax_right):
    ax.set_xscale("log")
    ax.set_xticks(penalties, labels=[str(penalty) for penalty in penalties])
    ax.xaxis.set_minor_formatter(NullFormatter())
fig.tight_layout()

# %%
# Tuning the penalty with a grid search
# -------------------------------------
# The decomposer's parameters are reached through the pipeline as
# ``conceptdecomposer__<name>``, so a cross-validated grid search over the
# penalty is ordinary scikit-learn code. (A grid search over the decomposer
# alone would score it by reconstruction cosine, which always prefers the
# smallest penalty; a downstream task is what makes the choice meaningful.)
pipeline = make_pipeline(
    ConceptDecomposer(vocabulary, device="cpu", progress=False),
    LogisticRegression(max_iter=1000),
)
search = GridSearchCV(
    pipeline,
    {"conceptdecomposer__l1_penalty": [0.05, 0.1, 0.2]},
    cv=StratifiedKFold(n_splits=3, shuffle=True, random_state=0),
)
search.fit(X_train, y_train)

print(f"best l1_penalty: {search.best_params_['conceptdecomposer__l1_penalty']}")
best_accuracy = search.score(X_test, y_test)
print(f"test accuracy of the refitted best pipeline: {best_accuracy:.3f}")
pd.DataFrame(search.cv_results_)[
    ["param_conceptdecomposer__l1_penalty", "mean_test_score", "std_test_score"]
]

# %%
# Reading the probe
# -----------------
# The pipeline's output features are concept names, so the classifier's
# coefficients can be read per concept: these are the concepts whose presence
# most favours each class.
best = search.best_estimator_
names = best[:-1].get_feature_names_out()
coef = best[-1].coef_
for label, row in enumerate(coef):
    top = names[np.argsort(row)[::-1][:5]]
    print(f"class {label}: {', '.join(top)}")

plt.show()
