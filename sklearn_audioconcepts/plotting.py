"""Figures for reading concept decompositions and sparse-autoencoder latents.

Every function draws on a new figure (or on ``ax`` when given) and returns the
:class:`matplotlib.figure.Figure`, so it can be saved, shown, or embedded in a
report. Inputs are the package's own outputs: the tidy table of
:meth:`ConceptDecomposer.explain <sklearn_audioconcepts.ConceptDecomposer.explain>`,
concept weights with their names, per-row cosine similarities, latent scores,
relative similarities before and after steering.

matplotlib is imported on first use; install it with
``pip install "sklearn-audioconcepts[docs]"`` (or ``pip install matplotlib``).
"""

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = [
    "class_mean_weights",
    "plot_class_concepts",
    "plot_concept_bars",
    "plot_latent_scores",
    "plot_reconstruction_cosine",
    "plot_sparsity_tradeoff",
    "plot_steering_shift",
]


def plot_concept_bars(explanation, *, sample=0, top_k=None, ax=None):
    """Horizontal bars of one clip's most prominent concepts.

    Parameters
    ----------
    explanation : pandas.DataFrame
        Table from :meth:`ConceptDecomposer.explain
        <sklearn_audioconcepts.ConceptDecomposer.explain>`, with columns
        ``sample``, ``rank``, ``concept`` and ``weight``.
    sample : int, default=0
        Which row of the explained ``X`` to draw.
    top_k : int or None, default=None
        Draw at most this many concepts (all listed ones when None).
    ax : matplotlib.axes.Axes or None, default=None
        Axes to draw on; a new figure is made when None.

    Returns
    -------
    figure : matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_audioconcepts.plotting import plot_concept_bars
    >>> table = pd.DataFrame({"sample": [0, 0], "rank": [1, 2],
    ...                       "concept": ["dog barking", "rain"],
    ...                       "weight": [0.4, 0.1]})
    >>> figure = plot_concept_bars(table)
    """
    _check_columns(explanation, {"sample", "rank", "concept", "weight"}, "explanation")
    rows = explanation[explanation["sample"] == sample].sort_values("rank")
    if rows.empty:
        raise ValueError(
            f"The explanation has no concepts for sample {sample}; samples present: "
            f"{sorted(explanation['sample'].unique().tolist())[:10]}."
        )
    if top_k is not None:
        rows = rows.head(top_k)
    figure, ax = _figure_and_axes(ax, height=0.8 + 0.35 * len(rows))
    positions = np.arange(len(rows))[::-1]
    ax.barh(positions, rows["weight"].to_numpy(), color="tab:blue")
    ax.set_yticks(positions, rows["concept"].astype(str).tolist())
    ax.set_xlabel("concept weight (prominence)")
    ax.set_title(f"Top concepts of clip {sample}")
    figure.tight_layout()
    return figure


def plot_class_concepts(weights, y, concept_names, *, top_k=5, ax=None):
    """Mean weight of each class's top concepts, side by side for all classes.

    The top ``top_k`` concepts of each class (by mean weight over its clips)
    are pooled, and every class's mean weight on the pooled concepts is drawn
    as grouped bars: concepts that characterise one class and not another
    stand out.

    Parameters
    ----------
    weights : {ndarray, sparse matrix} of shape (n_samples, n_concepts)
        Concept weights, e.g. from :meth:`ConceptDecomposer.transform
        <sklearn_audioconcepts.ConceptDecomposer.transform>`.
    y : array-like of shape (n_samples,)
        Class of each row.
    concept_names : array-like of str of shape (n_concepts,)
        Names of the weight columns (``get_feature_names_out()``).
    top_k : int, default=5
        Concepts taken from each class.
    ax : matplotlib.axes.Axes or None, default=None
        Axes to draw on; a new figure is made when None.

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    means = class_mean_weights(weights, y, concept_names)
    top = []
    for label in means.index:
        for concept in means.loc[label].nlargest(top_k).index:
            if concept not in top:
                top.append(concept)
    table = means[top]
    figure, ax = _figure_and_axes(ax, height=1.2 + 0.3 * len(top), width=7)
    positions = np.arange(len(top))
    height = 0.8 / len(table.index)
    for offset, label in enumerate(table.index):
        ax.barh(
            positions + offset * height,
            table.loc[label].to_numpy(),
            height=height,
            label=str(label),
        )
    ax.set_yticks(positions + 0.4 - height / 2, [str(name) for name in top])
    ax.invert_yaxis()
    ax.set_xlabel("mean concept weight")
    ax.legend(title="class", fontsize="small")
    ax.set_title(f"Top-{top_k} concepts per class")
    figure.tight_layout()
    return figure


def class_mean_weights(weights, y, concept_names):
    """Mean concept weight per class, as a (classes x concepts) DataFrame.

    Parameters
    ----------
    weights : {ndarray, sparse matrix} of shape (n_samples, n_concepts)
    y : array-like of shape (n_samples,)
    concept_names : array-like of str of shape (n_concepts,)

    Returns
    -------
    means : pandas.DataFrame
        Index: the classes (sorted); columns: the concept names.
    """
    weights = sp.csr_matrix(weights)
    y = np.asarray(y)
    names = np.asarray(concept_names, dtype=object)
    if weights.shape[0] != len(y) or weights.shape[1] != len(names):
        raise ValueError(
            f"weights has shape {weights.shape} but y has {len(y)} labels and there "
            f"are {len(names)} concept names; they must match (rows, columns)."
        )
    classes = np.unique(y)
    rows = [np.asarray(weights[y == label].mean(axis=0)).ravel() for label in classes]
    return pd.DataFrame(np.vstack(rows), index=classes, columns=names)


def plot_sparsity_tradeoff(
    n_active, scores, *, penalties=None, baseline=None, labels=None, ax=None
):
    """Score against the number of active concepts, one curve per setting.

    Parameters
    ----------
    n_active : array-like of shape (n_points,) or (n_curves, n_points)
        Mean number of active concepts (L0) at each point of a sweep.
    scores : array-like of the same shape
        Score at each point (accuracy, recall, cosine, ...).
    penalties : array-like of shape (n_points,), default=None
        The L1 penalty of each point, written next to the first curve.
    baseline : float or None, default=None
        Score of the dense embedding, drawn as a horizontal line.
    labels : list of str, default=None
        Legend entry of each curve (e.g. vocabulary sizes).
    ax : matplotlib.axes.Axes or None, default=None
        Axes to draw on; a new figure is made when None.

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    n_active = np.atleast_2d(np.asarray(n_active, dtype=float))
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    if n_active.shape != scores.shape:
        raise ValueError(
            f"n_active and scores must have the same shape; got {n_active.shape} "
            f"and {scores.shape}."
        )
    labels = labels if labels is not None else [None] * len(scores)
    figure, ax = _figure_and_axes(ax, height=4, width=6)
    for curve_l0, curve_scores, label in zip(n_active, scores, labels):
        ax.plot(curve_l0, curve_scores, marker="o", label=label)
    if penalties is not None:
        for x, y, penalty in zip(n_active[0], scores[0], penalties):
            ax.annotate(
                f"{penalty:g}",
                (x, y),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize="x-small",
            )
    if baseline is not None:
        ax.axhline(baseline, color="gray", linestyle="--", label="dense embedding")
    _log_x_axis(ax)
    ax.set_xlabel("active concepts per clip (L0)")
    ax.set_ylabel("score")
    if any(label is not None for label in labels) or baseline is not None:
        ax.legend(fontsize="small")
    ax.set_title("Sparsity trade-off")
    figure.tight_layout()
    return figure


def plot_reconstruction_cosine(similarities, *, bins=30, ax=None):
    """Histogram of cosine similarities between embeddings and reconstructions.

    Parameters
    ----------
    similarities : array-like of shape (n_samples,) or dict of str to array-like
        Per-row cosines (e.g. :meth:`ConceptDecomposer.cosine_similarity
        <sklearn_audioconcepts.ConceptDecomposer.cosine_similarity>`); a dict
        draws one histogram per entry (e.g. per L1 penalty).
    bins : int, default=30
        Histogram bins.
    ax : matplotlib.axes.Axes or None, default=None
        Axes to draw on; a new figure is made when None.

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    groups = similarities if isinstance(similarities, dict) else {None: similarities}
    figure, ax = _figure_and_axes(ax, height=3.5, width=6)
    for label, values in groups.items():
        values = _finite_1d(values, "similarities")
        name = f"median {np.median(values):.3f}"
        ax.hist(
            values,
            bins=bins,
            alpha=0.6,
            label=name if label is None else f"{label} ({name})",
        )
    ax.set_xlabel("cosine(embedding, reconstruction)")
    ax.set_ylabel("clips")
    ax.legend(fontsize="small")
    ax.set_title("Reconstruction fidelity")
    figure.tight_layout()
    return figure


def plot_latent_scores(scores, *, latent_names=None, top_n=20, metric="AUC", ax=None):
    """Bar chart of the latents that best separate an attribute.

    Parameters
    ----------
    scores : array-like of shape (n_latents,) or pandas.Series
        One score per latent (e.g. ROC AUC of the latent alone as a
        classifier); a Series keeps its index as the latent names.
    latent_names : array-like of str, default=None
        Names of the latents (``latent_0`` ... when None).
    top_n : int, default=20
        Latents drawn, best first.
    metric : str, default="AUC"
        Axis label.
    ax : matplotlib.axes.Axes or None, default=None
        Axes to draw on; a new figure is made when None.

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    if isinstance(scores, pd.Series):
        latent_names = scores.index.astype(str).to_numpy()
        scores = scores.to_numpy()
    scores = _finite_1d(scores, "scores")
    if latent_names is None:
        latent_names = np.array([f"latent_{i}" for i in range(len(scores))])
    latent_names = np.asarray(latent_names, dtype=object)
    if len(latent_names) != len(scores):
        raise ValueError(
            f"{len(latent_names)} latent names for {len(scores)} scores; give one "
            "name per score."
        )
    order = np.argsort(-scores, kind="stable")[:top_n]
    figure, ax = _figure_and_axes(ax, height=0.8 + 0.3 * len(order))
    positions = np.arange(len(order))[::-1]
    ax.barh(positions, scores[order], color="tab:green")
    ax.set_yticks(positions, [str(name) for name in latent_names[order]])
    ax.set_xlabel(metric)
    ax.set_title(f"Top {len(order)} latents by {metric}")
    figure.tight_layout()
    return figure


def plot_steering_shift(before, after, *, bins=30, ax=None):
    """Distributions of a similarity score before and after steering.

    Parameters
    ----------
    before, after : array-like of shape (n_samples,)
        Per-sample scores (e.g. relative similarity to the attribute's
        centroid) of the original and the steered embeddings.
    bins : int, default=30
        Histogram bins, shared by both distributions.
    ax : matplotlib.axes.Axes or None, default=None
        Axes to draw on; a new figure is made when None.

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    before = _finite_1d(before, "before")
    after = _finite_1d(after, "after")
    edges = np.histogram_bin_edges(np.concatenate([before, after]), bins=bins)
    figure, ax = _figure_and_axes(ax, height=3.5, width=6)
    ax.hist(before, bins=edges, alpha=0.6, label=f"before (mean {before.mean():.3f})")
    ax.hist(after, bins=edges, alpha=0.6, label=f"after (mean {after.mean():.3f})")
    ax.set_xlabel("relative similarity to the attribute")
    ax.set_ylabel("samples")
    ax.legend(fontsize="small")
    ax.set_title("Effect of steering")
    figure.tight_layout()
    return figure


# -- helpers -----------------------------------------------------------------


def _log_x_axis(ax):
    """A log x scale ticked at 1, 2, 5 x 10^k, labelled 10, 20, 50 (not 2x10^1)."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _figure_and_axes(ax, *, height, width=5.5):
    if ax is not None:
        return ax.figure, ax
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Plotting needs matplotlib: pip install matplotlib (or the package's "
            "[docs] extra)."
        ) from None
    return plt.subplots(figsize=(width, min(max(height, 2.0), 12.0)))


def _check_columns(table, required, name):
    if not isinstance(table, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame, got {type(table).__name__}."
        )
    missing = sorted(required - set(table.columns))
    if missing:
        raise ValueError(
            f"{name} lacks column(s) {missing}; it has {list(table.columns)}."
        )


def _finite_1d(values, name):
    values = np.asarray(values, dtype=float).ravel()
    if values.size == 0:
        raise ValueError(f"{name} is empty; there is nothing to plot.")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinity.")
    return values
