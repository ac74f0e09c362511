"""How faithfully concept weights recover known generative factors.

On data whose factors are known (e.g.
:func:`~sklearn_audioconcepts.datasets.make_sound_scenes`), each concept
asserts some factor values (``"high-pitched bell"`` asserts ``source=bell``
and ``pitch=high``). A concept is *right* for a clip when every value it
asserts holds for the clip; a concept that asserts nothing is never right
(it says nothing that can be checked).

- :func:`concept_correctness`: the clip x concept matrix of right concepts.
- :func:`precision_at_k`: share of right concepts among each clip's top-k
  active concepts.
- :func:`factor_recall`: share of each clip's factor values asserted by at
  least one right active concept.
- :func:`faithfulness_scores`: both, with the mean number of active concepts.
- :func:`sparsity_sweep`: the same scores, zero-shot accuracy of the concept
  reconstructions and L0 for a range of ``l1_penalty`` values.
"""

import copy
from numbers import Integral

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "concept_correctness",
    "factor_recall",
    "faithfulness_scores",
    "precision_at_k",
    "sparsity_sweep",
]


def concept_correctness(concepts, concept_factors, factors):
    """Which concepts are right for which clips.

    Parameters
    ----------
    concepts : sequence of str of length n_concepts
        Concept names, in the column order of the weights to score.
    concept_factors : dict of str to dict
        ``{concept: {factor: value}}``: the factor values each concept
        asserts. A concept missing from it asserts nothing.
    factors : pandas.DataFrame of shape (n_clips, n_factors)
        The true factor values of each clip, one column per factor.

    Returns
    -------
    right : ndarray of bool of shape (n_clips, n_concepts)
        ``right[i, j]`` is True when concept ``j`` asserts at least one value
        and every value it asserts holds for clip ``i``.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_audioconcepts.faithfulness import concept_correctness
    >>> factors = pd.DataFrame({"source": ["bell", "siren"],
    ...                         "pitch": ["high", "high"]})
    >>> concept_correctness(
    ...     ["bell", "high-pitched bell", "dog"],
    ...     {"bell": {"source": "bell"},
    ...      "high-pitched bell": {"source": "bell", "pitch": "high"},
    ...      "dog": {"source": "dog"}},
    ...     factors,
    ... )
    array([[ True,  True, False],
           [False, False, False]])
    """
    factors = _check_factors(factors)
    concepts = _check_concepts(concepts)
    _check_concept_factors(concept_factors, factors)
    right = np.zeros((len(factors), len(concepts)), dtype=bool)
    columns = {name: factors[name].to_numpy() for name in factors.columns}
    for j, concept in enumerate(concepts):
        asserted = concept_factors.get(concept) or {}
        if not asserted:
            continue
        holds = np.ones(len(factors), dtype=bool)
        for factor, value in asserted.items():
            holds &= columns[factor] == value
        right[:, j] = holds
    return right


def precision_at_k(weights, right, k=3):
    """Mean share of right concepts among each clip's ``k`` heaviest active ones.

    Parameters
    ----------
    weights : array-like or sparse matrix of shape (n_clips, n_concepts)
        Nonnegative concept weights (e.g. :meth:`ConceptDecomposer.transform`).
    right : ndarray of bool of shape (n_clips, n_concepts)
        From :func:`concept_correctness`.
    k : int, default=3
        Concepts looked at per clip.

    Returns
    -------
    precision : float
        Mean over clips of (right concepts among the top ``min(k, n_active)``)
        / ``min(k, n_active)``. A clip with no active concept scores 0: it
        recovered nothing.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_audioconcepts.faithfulness import precision_at_k
    >>> weights = np.array([[0.5, 0.2, 0.0], [0.0, 0.0, 0.0]])
    >>> right = np.array([[True, False, True], [True, True, True]])
    >>> float(precision_at_k(weights, right, k=3))  # (1/2 + 0) / 2
    0.25
    """
    weights, right = _check_weights(weights, right)
    if not isinstance(k, Integral) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    order = np.argsort(-weights, axis=1, kind="stable")[:, :k]
    top_weights = np.take_along_axis(weights, order, axis=1)
    active = top_weights > 0
    hits = np.take_along_axis(right, order, axis=1) & active
    n_active = active.sum(axis=1)
    per_clip = np.divide(
        hits.sum(axis=1), n_active, out=np.zeros(len(weights)), where=n_active > 0
    )
    return float(per_clip.mean())


def factor_recall(weights, right, concept_factors, concepts, factors):
    """Mean share of each clip's factor values named by a right active concept.

    Parameters
    ----------
    weights : array-like or sparse matrix of shape (n_clips, n_concepts)
        Nonnegative concept weights.
    right : ndarray of bool of shape (n_clips, n_concepts)
        From :func:`concept_correctness`.
    concept_factors : dict of str to dict
        The factor values each concept asserts.
    concepts : sequence of str of length n_concepts
        Concept names, in the column order of ``weights``.
    factors : pandas.DataFrame of shape (n_clips, n_factors)
        True factor values; ``"none"`` values (a factor that does not apply)
        are not counted.

    Returns
    -------
    recall : float
        Mean over clips (with at least one factor value) of the share of
        their ``(factor, value)`` pairs asserted by a right, active concept.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn_audioconcepts.faithfulness import (
    ...     concept_correctness, factor_recall)
    >>> factors = pd.DataFrame({"source": ["bell"], "pitch": ["high"]})
    >>> concepts = ["bell", "low-pitched sound"]
    >>> asserted = {"bell": {"source": "bell"},
    ...             "low-pitched sound": {"pitch": "low"}}
    >>> right = concept_correctness(concepts, asserted, factors)
    >>> float(factor_recall([[0.3, 0.4]], right, asserted, concepts, factors))
    0.5
    """
    weights, right = _check_weights(weights, right)
    factors = _check_factors(factors)
    concepts = _check_concepts(concepts)
    if len(concepts) != weights.shape[1] or len(factors) != weights.shape[0]:
        raise ValueError(
            f"weights have shape {weights.shape} but there are {len(factors)} "
            f"clips and {len(concepts)} concepts."
        )
    credited = (weights > 0) & right
    recalls = []
    for i, row in enumerate(factors.to_dict("records")):
        values = {(f, v) for f, v in row.items() if v != "none"}
        if not values:
            continue
        named = set()
        for j in np.flatnonzero(credited[i]):
            named.update((concept_factors.get(concepts[j]) or {}).items())
        recalls.append(len(values & named) / len(values))
    return float(np.mean(recalls)) if recalls else 0.0


def faithfulness_scores(weights, concepts, concept_factors, factors, *, k=3):
    """Top-k precision, factor recall and sparsity of concept weights.

    Parameters
    ----------
    weights : array-like or sparse matrix of shape (n_clips, n_concepts)
        Nonnegative concept weights, columns in the order of ``concepts``.
    concepts : sequence of str of length n_concepts
        Concept names.
    concept_factors : dict of str to dict
        The factor values each concept asserts.
    factors : pandas.DataFrame of shape (n_clips, n_factors)
        True factor values of each clip.
    k : int, default=3
        Concepts per clip for the precision.

    Returns
    -------
    scores : dict
        ``"precision_at_k"`` (see :func:`precision_at_k`), ``"recall"`` (see
        :func:`factor_recall`), ``"mean_active"`` (mean number of active
        concepts per clip) and ``"k"``.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_audioconcepts.faithfulness import faithfulness_scores
    >>> factors = pd.DataFrame({"source": ["bell", "siren"]})
    >>> asserted = {"bell": {"source": "bell"}, "siren": {"source": "siren"}}
    >>> scores = faithfulness_scores(
    ...     [[0.9, 0.1], [0.0, 0.7]], ["bell", "siren"], asserted, factors, k=1)
    >>> scores["precision_at_k"], scores["recall"], scores["mean_active"]
    (1.0, 1.0, 1.5)
    """
    right = concept_correctness(concepts, concept_factors, factors)
    weights, right = _check_weights(weights, right)
    return {
        "precision_at_k": precision_at_k(weights, right, k=k),
        "recall": factor_recall(weights, right, concept_factors, concepts, factors),
        "mean_active": float((weights > 0).sum(axis=1).mean()),
        "k": int(k),
    }


def sparsity_sweep(
    decomposer,
    embeddings,
    l1_penalties,
    *,
    concept_factors,
    factors,
    zero_shot=None,
    labels=None,
    k=3,
):
    """Faithfulness, sparsity and zero-shot accuracy along ``l1_penalty`` values.

    Parameters
    ----------
    decomposer : ConceptDecomposer
        Decomposer, fitted (e.g. on training embeddings) or not (then fitted
        on ``embeddings``); each penalty is tried on a copy of it.
    embeddings : array-like of shape (n_clips, n_features)
        Held-out dense embeddings to decompose.
    l1_penalties : sequence of float
        Penalties to try.
    concept_factors : dict of str to dict
        The factor values each concept asserts.
    factors : pandas.DataFrame of shape (n_clips, n_factors)
        True factor values of each clip.
    zero_shot : fitted ZeroShotClassifier or None, default=None
        When given with ``labels``, scores the concept reconstructions
        (:meth:`ConceptDecomposer.inverse_transform`) at each penalty.
    labels : array-like of shape (n_clips,) or None, default=None
        Labels for ``zero_shot``.
    k : int, default=3
        Concepts per clip for the precision.

    Returns
    -------
    sweep : pandas.DataFrame
        One row per penalty: ``l1_penalty``, ``mean_active``,
        ``precision_at_k``, ``recall`` and, with ``zero_shot``,
        ``zero_shot_accuracy``.
    """
    rows = []
    right = None
    try:
        check_is_fitted(decomposer)
        fitted = True
    except NotFittedError:
        fitted = False
    for penalty in l1_penalties:
        # l1_penalty acts in transform only: a copy of the fitted decomposer
        # keeps its centring and dictionary, as a refit on held-out data would not.
        model = copy.deepcopy(decomposer).set_params(l1_penalty=penalty, output="dense")
        if not fitted:
            model.fit(embeddings)
        weights = model.transform(embeddings)
        concepts = list(model.concept_names_)
        if right is None:
            right = concept_correctness(concepts, concept_factors, factors)
        row = {
            "l1_penalty": float(penalty),
            "mean_active": float((weights > 0).sum(axis=1).mean()),
            "precision_at_k": precision_at_k(weights, right, k=k),
            "recall": factor_recall(weights, right, concept_factors, concepts, factors),
        }
        if zero_shot is not None and labels is not None:
            row["zero_shot_accuracy"] = float(
                zero_shot.score(model.inverse_transform(weights), labels)
            )
        rows.append(row)
    return pd.DataFrame(rows)


# -- validation ----------------------------------------------------------------


def _check_factors(factors):
    if not isinstance(factors, pd.DataFrame):
        raise TypeError(
            "factors must be a pandas DataFrame with one column per factor, got "
            f"{type(factors).__name__}."
        )
    return factors.reset_index(drop=True)


def _check_concepts(concepts):
    if isinstance(concepts, str):
        raise TypeError("concepts must be a list of concept names, not one string.")
    return [str(c) for c in concepts]


def _check_concept_factors(concept_factors, factors):
    if not isinstance(concept_factors, dict):
        raise TypeError(
            "concept_factors must be a dict concept -> {factor: value}, got "
            f"{type(concept_factors).__name__}."
        )
    unknown = sorted(
        {f for asserted in concept_factors.values() for f in (asserted or {})}
        - set(factors.columns)
    )
    if unknown:
        raise ValueError(
            f"concept_factors names factors {unknown} that are not columns of "
            f"factors ({list(factors.columns)})."
        )


def _check_weights(weights, right):
    if sp.issparse(weights):
        weights = weights.toarray()
    weights = np.asarray(weights, dtype=np.float64)
    right = np.asarray(right, dtype=bool)
    if weights.ndim != 2 or weights.shape != right.shape:
        raise ValueError(
            f"weights have shape {weights.shape} but the correctness matrix has "
            f"shape {right.shape}; both must be (n_clips, n_concepts) with "
            "columns in the same concept order."
        )
    if np.isnan(weights).any() or (weights < 0).any():
        raise ValueError(
            "weights must be nonnegative and finite (concept weights from "
            "ConceptDecomposer.transform)."
        )
    return weights, right
