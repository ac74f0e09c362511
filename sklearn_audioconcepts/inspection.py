"""Reading what a sparse autoencoder learned from speaker embeddings.

Plain functions over arrays and fitted models, after the analyses of Pluth,
Zhou and Gurbani (2025):

- :func:`score_latents` / :func:`top_latents`: how well each latent *alone*
  separates an attribute (language, gender, ...), as a one-latent classifier;
- :func:`fit_best_seed`: fit a model under several seeds and keep the one
  whose best single latents separate the labels best (the language latent of
  a small TopK SAE depends strongly on the seed);
- :func:`feature_splits`: which latents of a small dictionary split into
  several latents of a larger one;
- :func:`relative_similarity`, :func:`attribute_centroids` and
  :func:`steering_effect`: whether steering a latent moves embeddings toward
  an attribute;
- :func:`make_trials` and :func:`verification_eer`: speaker-verification equal
  error rate with cosine scoring, to check that reconstructions stay useful.

Model arguments are duck-typed: anything with ``components_`` (decoder
directions, one row per latent), ``transform`` and ``steer`` works, e.g.
:class:`~sklearn_audioconcepts.TopKSparseAutoencoder`.
"""

from numbers import Integral, Real

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import rankdata
from sklearn.base import clone
from sklearn.metrics import roc_curve
from sklearn.utils import Bunch, check_random_state

from ._numerics import max_abs_rows, unit_rows

__all__ = [
    "attribute_centroids",
    "equal_error_rate",
    "feature_splits",
    "fit_best_seed",
    "make_trials",
    "relative_similarity",
    "score_latents",
    "steering_effect",
    "top_latents",
    "verification_eer",
]


# -- latents as one-feature classifiers ----------------------------------------


def score_latents(latents, labels, *, classes=None, latent_names=None):
    """Score every latent as a one-feature classifier of every class.

    For each class ``c`` (one-vs-rest; for binary labels pass
    ``classes=[positive]``) and each latent ``j``, the activation
    ``latents[:, j]`` is used as a score for "is ``c``": larger activation
    means ``c``. Two figures are reported: the ROC AUC (ties counted as
    half) and the best accuracy of a rule ``activation > threshold`` over all
    thresholds.

    Parameters
    ----------
    latents : {array-like, sparse matrix} of shape (n_samples, n_latents)
        Latent activations, e.g. ``sae.transform(X)``.
    labels : array-like of shape (n_samples,)
        Attribute of each sample (e.g. its language).
    classes : array-like or None, default=None
        Classes to score; all distinct labels when None. Each needs at least
        one sample inside and one outside it.
    latent_names : array-like of str of shape (n_latents,) or None, default=None
        Names for the ``name`` column; ``latent_<j>`` when None.

    Returns
    -------
    scores : pandas.DataFrame
        One row per (class, latent), sorted by class then decreasing AUC,
        with columns ``class``, ``rank`` (1 = best AUC for the class),
        ``latent`` (column index), ``name``, ``auc``, ``accuracy`` (best
        single-threshold accuracy), ``threshold`` (the activation above
        which the rule predicts the class), ``mean_in`` and ``mean_out``
        (mean activation inside and outside the class).

    See Also
    --------
    top_latents : The best latent per class.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_audioconcepts.inspection import score_latents
    >>> labels = np.array(["es", "es", "en", "en", "de", "de"])
    >>> latents = np.array([[3, 0], [2, 0], [0, 1], [0, 0], [1, 0], [0, 2.0]])
    >>> table = score_latents(latents, labels, classes=["es"])
    >>> table[["latent", "auc", "accuracy"]].round(3).to_numpy().tolist()
    [[0.0, 1.0, 1.0], [1.0, 0.25, 0.667]]
    """
    Z = latents.toarray() if sp.issparse(latents) else np.asarray(latents, dtype=float)
    labels = np.asarray(labels)
    if Z.ndim != 2 or len(Z) == 0:
        raise ValueError(f"latents must be a non-empty 2-D array, got shape {Z.shape}.")
    if not np.isfinite(Z).all():
        raise ValueError("latents contain NaN or infinity.")
    if labels.shape != (len(Z),):
        raise ValueError(
            f"labels must have one entry per row of latents ({len(Z)}), got shape "
            f"{labels.shape}."
        )
    # Python scalars, not numpy ones, so that the class column reads naturally.
    classes = (np.unique(labels) if classes is None else np.asarray(classes)).tolist()
    names = _latent_names(latent_names, Z.shape[1])
    ranks = rankdata(Z, axis=0)  # average ranks: ties count half in the AUC
    order = np.argsort(Z, axis=0, kind="stable")
    sorted_Z = np.take_along_axis(Z, order, axis=0)

    frames = []
    for cls in classes:
        positive = labels == cls
        n_pos = int(positive.sum())
        n_neg = len(labels) - n_pos
        if n_pos == 0 or n_neg == 0:
            raise ValueError(
                f"Class {cls!r} has {n_pos} sample(s) inside and {n_neg} outside; "
                "scoring it as a classifier needs both."
            )
        auc = (ranks[positive].sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        accuracy, threshold = _best_threshold(sorted_Z, positive[order], n_pos)
        frame = pd.DataFrame(
            {
                "class": [cls] * Z.shape[1],
                "latent": np.arange(Z.shape[1]),
                "name": names,
                "auc": auc,
                "accuracy": accuracy,
                "threshold": threshold,
                "mean_in": Z[positive].mean(axis=0),
                "mean_out": Z[~positive].mean(axis=0),
            }
        )
        frame = frame.sort_values(["auc", "accuracy"], ascending=False, kind="stable")
        frame.insert(1, "rank", np.arange(1, len(frame) + 1))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def top_latents(latents, labels, *, classes=None, latent_names=None):
    """The single latent that best separates each class from the rest.

    Parameters
    ----------
    latents, labels, classes, latent_names
        As in :func:`score_latents`.

    Returns
    -------
    best : pandas.DataFrame
        The rank-1 row of :func:`score_latents` for each class, indexed by
        class.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_audioconcepts.inspection import top_latents
    >>> labels = np.array(["es", "es", "en", "en"])
    >>> latents = np.array([[0, 2.0], [0, 3], [1, 0], [2, 0]])
    >>> top_latents(latents, labels)["latent"].to_dict()
    {'en': 0, 'es': 1}
    """
    scores = score_latents(latents, labels, classes=classes, latent_names=latent_names)
    return scores[scores["rank"] == 1].set_index("class").drop(columns="rank")


_AGGREGATES = {"mean": np.mean, "min": np.min, "max": np.max}


def fit_best_seed(
    estimator, X, labels, *, seeds=range(4), classes=None, aggregate="mean"
):
    """Fit a model under several seeds; keep the one with the best latents.

    Which latents a sparse autoencoder learns depends on its initialisation:
    the single latent that best separates a language from the others may have
    a training-set ROC AUC anywhere from 0.77 to 0.998 depending on the seed.
    This fits a clone of ``estimator`` for each seed (setting its
    ``random_state``), scores each fit by the AUC of the best single latent
    for each class on the training data (:func:`top_latents`), and returns
    the best fit. Only training data are used, so held-out figures measured
    afterwards stay honest.

    Parameters
    ----------
    estimator : estimator with a ``random_state`` parameter and ``transform``
        An unfitted (or fitted: it is cloned) model, e.g.
        :class:`~sklearn_audioconcepts.TopKSparseAutoencoder`.
    X : array-like of shape (n_samples, n_features)
        Training data, passed to ``fit`` and ``transform``.
    labels : array-like of shape (n_samples,)
        Attribute of each sample (e.g. the language); used for scoring only.
    seeds : iterable of int, default=range(4)
        Values of ``random_state`` to try, at least one.
    classes : sequence or None, default=None
        Classes to score, as in :func:`score_latents` (for a binary attribute
        pass ``[positive]``); all classes when None.
    aggregate : {"mean", "min", "max"}, default="mean"
        How the per-class best AUCs combine into one score per seed:
        ``"min"`` favours a fit where every class has a good latent.

    Returns
    -------
    result : sklearn.utils.Bunch
        ``estimator`` (the best fit), ``seed`` (its seed) and ``scores``
        (pandas.DataFrame indexed by seed: one column per class with the best
        latent's training AUC, and ``score``, their aggregate). Ties go to the
        earlier seed.

    Raises
    ------
    ValueError
        When ``seeds`` is empty or not integers, ``aggregate`` is unknown, the
        estimator has no ``random_state`` parameter, or ``labels`` and ``X``
        differ in length.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import FastICA
    >>> from sklearn_audioconcepts.inspection import fit_best_seed
    >>> rng = np.random.RandomState(0)
    >>> labels = np.repeat(["a", "b"], 50)
    >>> X = rng.normal(size=(100, 4)) + 2.0 * (labels == "a")[:, None]
    >>> result = fit_best_seed(
    ...     FastICA(n_components=2, whiten="unit-variance"), X, labels, seeds=[0, 1]
    ... )
    >>> result.scores.columns.tolist()
    ['a', 'b', 'score']
    >>> bool(result.scores["score"].max() == result.scores.loc[result.seed, "score"])
    True
    """
    if aggregate not in _AGGREGATES:
        raise ValueError(
            f"aggregate must be one of {sorted(_AGGREGATES)}, got {aggregate!r}."
        )
    seeds = list(seeds)
    if not seeds or not all(
        isinstance(s, Integral) and not isinstance(s, bool) for s in seeds
    ):
        raise ValueError(
            f"seeds must be a non-empty sequence of integers, got {seeds!r}."
        )
    if "random_state" not in estimator.get_params():
        raise ValueError(
            f"{type(estimator).__name__} has no random_state parameter, so its "
            "seed cannot be varied; pass an estimator that has one."
        )
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(X):
        raise ValueError(
            f"labels must be 1-d with one label per row of X; got shape "
            f"{labels.shape} for {len(X)} rows."
        )
    rows, best = {}, None
    for seed in seeds:
        fitted = clone(estimator).set_params(random_state=seed).fit(X)
        aucs = top_latents(fitted.transform(X), labels, classes=classes)["auc"]
        rows[seed] = {**aucs.to_dict(), "score": _AGGREGATES[aggregate](aucs)}
        if best is None or rows[seed]["score"] > rows[best[0]]["score"]:
            best = (seed, fitted)
    scores = pd.DataFrame.from_dict(rows, orient="index")
    scores.index.name = "seed"
    return Bunch(estimator=best[1], seed=best[0], scores=scores)


def _best_threshold(sorted_Z, sorted_positive, n_pos):
    """Best accuracy of ``z > t`` per column, and its ``t``, in one pass.

    Columns are sorted ascending; cutting after row ``i`` predicts the rows
    above it positive. Only cuts between distinct values are valid, plus
    "everything positive" (cut before the first row).
    """
    n = len(sorted_Z)
    # Positives at or below each cut: they become false negatives.
    positives_below = np.vstack(
        [np.zeros((1, sorted_Z.shape[1])), np.cumsum(sorted_positive, axis=0)]
    )
    negatives_below = np.arange(n + 1)[:, None] - positives_below
    correct = negatives_below + (n_pos - positives_below)
    valid = np.ones_like(correct, dtype=bool)
    valid[1:-1] = sorted_Z[1:] > sorted_Z[:-1]  # no cut inside a run of ties
    correct = np.where(valid, correct, -1)
    best = np.argmax(correct, axis=0)
    columns = np.arange(sorted_Z.shape[1])
    # The threshold of cut i is the value just below it (-inf before row 0).
    padded = np.vstack([np.full((1, sorted_Z.shape[1]), -np.inf), sorted_Z])
    return correct[best, columns] / n, padded[best, columns]


def _latent_names(latent_names, n_latents):
    if latent_names is None:
        return np.asarray([f"latent_{j}" for j in range(n_latents)], dtype=object)
    names = np.asarray(latent_names, dtype=object)
    if names.shape != (n_latents,):
        raise ValueError(
            f"latent_names must have {n_latents} entries, got shape {names.shape}."
        )
    return names


# -- feature splitting ------------------------------------------------------------


def feature_splits(small, large, *, threshold=0.5):
    """Match the latents of a small and a large dictionary; find the splits.

    Every latent of the large dictionary is assigned to the small-dictionary
    latent whose decoder direction is most similar (cosine); the assignment
    counts when that cosine reaches ``threshold``. A small latent *splits*
    when two or more large latents are assigned to it: the larger dictionary
    refines its concept into several (e.g. "Spanish" into "Spanish, male"
    and "Spanish, female").

    Parameters
    ----------
    small, large : fitted model or array-like of shape (n_latents, n_features)
        Decoder directions, one row per latent, or models exposing them as
        ``components_`` (e.g. two
        :class:`~sklearn_audioconcepts.TopKSparseAutoencoder` with different
        ``n_latents`` trained on the same embeddings).
    threshold : float, default=0.5
        Minimum cosine for a large latent to count as a child of a small one.

    Returns
    -------
    splits : pandas.DataFrame
        One row per small latent, sorted by decreasing ``n_children`` then
        latent, with columns ``small_latent``, ``n_children``, ``split``
        (``n_children >= 2``), ``children`` (tuple of large-latent indices,
        most similar first), ``cosines`` (their cosines) and
        ``best_cosine`` (largest cosine to any large latent, assigned or not).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_audioconcepts.inspection import feature_splits
    >>> small = np.eye(3)
    >>> large = np.array([[1, 0.5, 0], [1, -0.5, 0], [0, 0, 1], [0, 1, 0.1]])
    >>> table = feature_splits(small, large, threshold=0.8)
    >>> table.loc[table["split"], ["small_latent", "children"]].to_numpy().tolist()
    [[0, (0, 1)]]
    """
    small_dirs = _unit_directions(small, "small")
    large_dirs = _unit_directions(large, "large")
    if small_dirs.shape[1] != large_dirs.shape[1]:
        raise ValueError(
            f"The dictionaries live in different spaces: {small_dirs.shape[1]} and "
            f"{large_dirs.shape[1]} features."
        )
    if not isinstance(threshold, Real) or not -1 <= threshold <= 1:
        raise ValueError(f"threshold must be a cosine in [-1, 1], got {threshold!r}.")
    cosines = small_dirs @ large_dirs.T  # (n_small, n_large)
    parent = np.argmax(cosines, axis=0)
    parent_cosine = cosines[parent, np.arange(cosines.shape[1])]
    rows = []
    for latent in range(len(small_dirs)):
        children = np.flatnonzero((parent == latent) & (parent_cosine >= threshold))
        children = children[np.argsort(-parent_cosine[children], kind="stable")]
        rows.append(
            {
                "small_latent": latent,
                "n_children": len(children),
                "split": len(children) >= 2,
                "children": tuple(int(c) for c in children),
                "cosines": tuple(float(c) for c in parent_cosine[children]),
                "best_cosine": float(cosines[latent].max()),
            }
        )
    table = pd.DataFrame(rows)
    return table.sort_values(
        ["n_children", "small_latent"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)


def _unit_directions(model_or_array, name):
    directions = getattr(model_or_array, "components_", model_or_array)
    directions = np.asarray(directions, dtype=float)
    if directions.ndim != 2 or directions.shape[0] == 0:
        raise ValueError(
            f"{name} must be a fitted model with components_ or a 2-D array of "
            f"decoder directions; got shape {directions.shape}."
        )
    if not np.isfinite(directions).all() or (max_abs_rows(directions) == 0).any():
        raise ValueError(f"{name} has non-finite or all-zero decoder directions.")
    return unit_rows(directions)


# -- steering -------------------------------------------------------------------


def attribute_centroids(embeddings, labels, attribute):
    """Mean unit-norm embedding of an attribute's samples and of all others.

    Parameters
    ----------
    embeddings : array-like of shape (n_samples, n_features)
        Reference embeddings (e.g. the training set).
    labels : array-like of shape (n_samples,)
        Attribute of each sample.
    attribute : object
        The label whose centroid is wanted (e.g. ``"es"``).

    Returns
    -------
    attribute_centroid, rest_centroid : ndarray of shape (n_features,)
        Means of the L2-normalised embeddings with and without the label.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_audioconcepts.inspection import attribute_centroids
    >>> inside, rest = attribute_centroids(
    ...     np.array([[2.0, 0], [0, 3], [0, 1]]), ["a", "b", "b"], "a"
    ... )
    >>> inside.tolist(), rest.tolist()
    ([1.0, 0.0], [0.0, 1.0])
    """
    X = _unit_rows(_check_matrix(embeddings, "embeddings"))
    labels = np.asarray(labels)
    if labels.shape != (len(X),):
        raise ValueError(
            f"labels must have one entry per embedding ({len(X)}), got shape "
            f"{labels.shape}."
        )
    inside = labels == attribute
    if not inside.any() or inside.all():
        raise ValueError(
            f"attribute {attribute!r} must label some but not all embeddings "
            f"({int(inside.sum())} of {len(X)} do)."
        )
    return X[inside].mean(axis=0), X[~inside].mean(axis=0)


def relative_similarity(embeddings, attribute_centroid, rest_centroid):
    """How much closer each embedding is to an attribute than to the rest.

    ``relative_similarity(x) = cos(x, attribute_centroid) - cos(x, rest_centroid)``:
    positive when ``x`` looks more like the attribute's samples (e.g. Spanish
    speech) than like the others, in [-2, 2].

    Parameters
    ----------
    embeddings : array-like of shape (n_samples, n_features)
    attribute_centroid, rest_centroid : array-like of shape (n_features,)
        E.g. from :func:`attribute_centroids`.

    Returns
    -------
    similarity : ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_audioconcepts.inspection import relative_similarity
    >>> relative_similarity(np.array([[1.0, 0], [1, 1]]), [1, 0], [0, 1]).round(3)
    array([1., 0.])
    """
    X = _unit_rows(_check_matrix(embeddings, "embeddings"))
    centroids = [
        np.asarray(c, dtype=float) for c in (attribute_centroid, rest_centroid)
    ]
    if any(c.shape != (X.shape[1],) or not np.isfinite(c).all() for c in centroids):
        raise ValueError(
            f"The centroids must be finite vectors of length {X.shape[1]}, like the "
            "embeddings."
        )
    cosines = X @ _unit_rows(np.stack(centroids)).T
    return cosines[:, 0] - cosines[:, 1]


def steering_effect(
    model,
    X,
    latent,
    *,
    reference,
    reference_labels,
    attribute,
    value=None,
    delta=None,
    scale=None,
):
    """Relative similarity to an attribute before and after steering a latent.

    The embeddings ``X`` are steered with ``model.steer(X, latent, ...)``; the
    :func:`relative_similarity` of each embedding to the attribute (centroids
    from ``reference``) is measured before and after. Steering a
    mono-semantic latent of the attribute should raise it.

    Parameters
    ----------
    model : fitted model with ``transform`` and ``steer``
        E.g. a fitted :class:`~sklearn_audioconcepts.TopKSparseAutoencoder`.
    X : array-like of shape (n_samples, n_features)
        Embeddings to steer, typically samples without the attribute.
    latent : int
        The latent to steer (e.g. ``top_latents(...).loc["es", "latent"]``).
    reference : array-like of shape (n_reference, n_features)
        Embeddings the centroids are computed from.
    reference_labels : array-like of shape (n_reference,)
        Attribute of each reference embedding.
    attribute : object
        The label steered toward.
    value, delta, scale : float or None, default=None
        Passed to ``model.steer``: set the latent to ``value``, add
        ``delta``, or multiply it by ``scale``. When all are None, the latent
        is set to its mean activation over the reference samples of the
        attribute.

    Returns
    -------
    effect : sklearn.utils.Bunch
        With ``before`` and ``after`` (per-sample relative similarities),
        ``mean_before``, ``mean_after``, ``mean_shift`` (``mean_after -
        mean_before``), ``fraction_increased`` and ``value`` (the steering
        value used when it was derived from the reference, else None).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_audioconcepts.inspection import steering_effect
    >>> class Shift:  # a toy model whose latent 0 is the first axis
    ...     def transform(self, X):
    ...         return np.clip(np.asarray(X)[:, :1], 0, None)
    ...     def steer(self, X, latent, *, value=None, delta=None, scale=None):
    ...         X = np.array(X, dtype=float)
    ...         X[:, 0] = value
    ...         return X
    >>> reference = np.array([[1.0, 0.1], [0.9, 0.2], [0.1, 1.0], [0.2, 0.9]])
    >>> effect = steering_effect(
    ...     Shift(), reference[2:], 0, reference=reference,
    ...     reference_labels=["a", "a", "b", "b"], attribute="a",
    ... )
    >>> bool(effect.mean_shift > 0), effect.value
    (True, 0.95)
    """
    X = _check_matrix(X, "X")
    attribute_centroid, rest_centroid = attribute_centroids(
        reference, reference_labels, attribute
    )
    if not isinstance(latent, Integral):
        raise ValueError(f"latent must be an integer index, got {latent!r}.")
    derived = None
    if value is None and delta is None and scale is None:
        reference = _check_matrix(reference, "reference")
        inside = np.asarray(reference_labels) == attribute
        activations = model.transform(reference[inside])
        column = activations[:, latent]
        column = column.toarray() if sp.issparse(column) else np.asarray(column)
        derived = value = float(np.mean(column))
    steered = model.steer(X, latent, value=value, delta=delta, scale=scale)
    before = relative_similarity(X, attribute_centroid, rest_centroid)
    after = relative_similarity(steered, attribute_centroid, rest_centroid)
    return Bunch(
        before=before,
        after=after,
        mean_before=float(before.mean()),
        mean_after=float(after.mean()),
        mean_shift=float(after.mean() - before.mean()),
        fraction_increased=float(np.mean(after > before)),
        value=derived,
    )


# -- speaker verification ---------------------------------------------------------


def make_trials(speakers, *, n_target=None, n_nontarget=None, random_state=None):
    """Target and non-target trial pairs for speaker verification.

    A target trial pairs two different utterances of the same speaker; a
    non-target trial pairs utterances of two different speakers.

    Parameters
    ----------
    speakers : array-like of shape (n_samples,)
        Speaker label of each utterance.
    n_target : int or None, default=None
        Target trials to draw (without repetition); all same-speaker pairs
        when None.
    n_nontarget : int or None, default=None
        Non-target trials to draw (without repetition); as many as target
        trials when None (or all of them, if fewer exist).
    random_state : int, RandomState instance or None, default=None
        Seed for the sampling of pairs.

    Returns
    -------
    trials : pandas.DataFrame
        Columns ``a`` and ``b`` (row indices, ``a < b``) and ``target``
        (bool), target trials first.

    Examples
    --------
    >>> from sklearn_audioconcepts.inspection import make_trials
    >>> trials = make_trials(["x", "x", "y", "y"], random_state=0)
    >>> int(trials["target"].sum()), int((~trials["target"]).sum())
    (2, 2)
    """
    speakers = np.asarray(speakers)
    if speakers.ndim != 1 or len(speakers) < 2:
        raise ValueError("speakers must be a 1-D array of at least two labels.")
    rng = check_random_state(random_state)
    a, b = np.triu_indices(len(speakers), k=1)
    same = speakers[a] == speakers[b]
    if not same.any():
        raise ValueError(
            "No speaker has two utterances: target trials need at least one "
            "speaker with two or more."
        )
    if same.all():
        raise ValueError("All utterances are of one speaker: no non-target trials.")
    target = _draw_pairs(rng, np.flatnonzero(same), n_target, "n_target")
    if n_nontarget is None:
        n_nontarget = min(len(target), int((~same).sum()))
    nontarget = _draw_pairs(rng, np.flatnonzero(~same), n_nontarget, "n_nontarget")
    chosen = np.concatenate([target, nontarget])
    return pd.DataFrame({"a": a[chosen], "b": b[chosen], "target": same[chosen]})


def _draw_pairs(rng, candidates, n, name):
    if n is None:
        return candidates
    if not isinstance(n, Integral) or not 1 <= n <= len(candidates):
        raise ValueError(
            f"{name} must be an integer in [1, {len(candidates)}] (the pairs "
            f"available), got {n!r}."
        )
    return np.sort(rng.choice(candidates, size=n, replace=False))


def equal_error_rate(scores, is_target):
    """Equal error rate of verification scores.

    The rate at which false acceptances (non-target scores above the
    threshold) equal false rejections (target scores below it), linearly
    interpolated between the ROC points around the crossing.

    Parameters
    ----------
    scores : array-like of shape (n_trials,)
        Higher means "same speaker".
    is_target : array-like of bool of shape (n_trials,)

    Returns
    -------
    eer : float
        In [0, 1] (multiply by 100 for percent).

    Examples
    --------
    >>> from sklearn_audioconcepts.inspection import equal_error_rate
    >>> equal_error_rate([0.9, 0.8, 0.3, 0.1], [True, True, False, False])
    0.0
    >>> equal_error_rate([0.9, 0.2, 0.3, 0.1], [True, True, False, False])
    0.5
    """
    scores = np.asarray(scores, dtype=float)
    is_target = np.asarray(is_target, dtype=bool)
    if scores.shape != is_target.shape or scores.ndim != 1:
        raise ValueError("scores and is_target must be 1-D arrays of equal length.")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity.")
    if is_target.all() or not is_target.any():
        raise ValueError("The EER needs both target and non-target trials.")
    false_accept, true_accept, _ = roc_curve(is_target, scores)
    false_reject = 1 - true_accept
    gap = false_reject - false_accept  # decreases from 1 to -1 along the curve
    i = int(np.flatnonzero(gap <= 0)[0])
    if i == 0 or gap[i] == 0:
        return float(false_accept[i])
    # Interpolate the crossing between points i-1 (gap > 0) and i (gap < 0).
    weight = gap[i - 1] / (gap[i - 1] - gap[i])
    return float(false_accept[i - 1] + weight * (false_accept[i] - false_accept[i - 1]))


def verification_eer(embeddings, trials):
    """Speaker-verification EER of embeddings with cosine scoring.

    Parameters
    ----------
    embeddings : array-like of shape (n_samples, n_features)
        One embedding per utterance: originals, or reconstructions
        (``sae.inverse_transform(sae.transform(X))``) to check that they keep
        speaker identity.
    trials : pandas.DataFrame
        From :func:`make_trials` (columns ``a``, ``b``, ``target``).

    Returns
    -------
    eer : float
        Equal error rate in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_audioconcepts.inspection import make_trials, verification_eer
    >>> rng = np.random.default_rng(0)
    >>> speakers = np.repeat(np.arange(5), 4)
    >>> voices = rng.standard_normal((5, 16))
    >>> X = voices[speakers] + 0.1 * rng.standard_normal((20, 16))
    >>> verification_eer(X, make_trials(speakers, random_state=0))
    0.0
    """
    X = _unit_rows(_check_matrix(embeddings, "embeddings"))
    a = np.asarray(trials["a"], dtype=int)
    b = np.asarray(trials["b"], dtype=int)
    if len(a) and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= len(X)):
        raise ValueError(
            f"trials index rows outside the {len(X)} embeddings given; make the "
            "trials from the same samples, in the same order."
        )
    scores = np.einsum("ij,ij->i", X[a], X[b])
    return equal_error_rate(scores, np.asarray(trials["target"], dtype=bool))


# -- helpers -----------------------------------------------------------------


def _check_matrix(X, name):
    X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {X.shape}.")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinity.")
    return X


def _unit_rows(X):
    if (max_abs_rows(X) == 0).any():
        raise ValueError(
            "An all-zero embedding has no direction: cosine similarity is undefined."
        )
    return unit_rows(X)
