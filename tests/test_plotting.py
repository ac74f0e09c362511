"""Every plot renders a non-empty image from the package's own outputs."""

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sklearn_audioconcepts import ConceptDecomposer  # noqa: E402
from sklearn_audioconcepts.plotting import (  # noqa: E402
    class_mean_weights,
    plot_class_concepts,
    plot_concept_bars,
    plot_latent_scores,
    plot_reconstruction_cosine,
    plot_sparsity_tradeoff,
    plot_steering_shift,
)


def _rendered_pixels(figure):
    """RGB pixels of the figure rendered to PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=50)
    plt.close(figure)
    buffer.seek(0)
    return plt.imread(buffer)[..., :3]


def _assert_drawn(figure):
    pixels = _rendered_pixels(figure)
    assert pixels.shape[0] > 50 and pixels.shape[1] > 50
    # Not a blank canvas: a visible share of pixels differs from the background.
    assert (np.abs(pixels - pixels[0, 0]).sum(axis=-1) > 0.1).mean() > 0.01


@pytest.fixture(scope="module")
def decomposed(clap_like):
    X, vocabulary, _, y = clap_like
    decomposer = ConceptDecomposer(vocabulary, device="cpu", progress=False).fit(X)
    return decomposer, X, y


def test_concept_bars_draw_the_explained_concepts(decomposed):
    decomposer, X, _ = decomposed
    table = decomposer.explain(X[:3], top_k=5)
    figure = plot_concept_bars(table, sample=1)
    labels = [tick.get_text() for tick in figure.axes[0].get_yticklabels()]
    assert labels == table[table["sample"] == 1]["concept"].tolist()
    _assert_drawn(figure)


def test_concept_bars_reject_a_missing_sample(decomposed):
    decomposer, X, _ = decomposed
    with pytest.raises(ValueError, match="no concepts for sample 7"):
        plot_concept_bars(decomposer.explain(X[:2]), sample=7)
    with pytest.raises(ValueError, match="lacks column"):
        plot_concept_bars(decomposer.explain(X[:2]).drop(columns="weight"))


def test_class_concepts_pool_each_class_top_concepts(decomposed):
    decomposer, X, y = decomposed
    weights = decomposer.transform(X)
    names = decomposer.get_feature_names_out()
    means = class_mean_weights(weights, y, names)
    assert means.shape == (len(np.unique(y)), len(names))
    np.testing.assert_allclose(
        means.loc[y[0]].to_numpy(), weights[y == y[0]].mean(0), rtol=1e-5
    )
    figure = plot_class_concepts(weights, y, names, top_k=3)
    n_drawn = len(figure.axes[0].get_yticklabels())
    assert 3 <= n_drawn <= 3 * len(means)
    _assert_drawn(figure)
    with pytest.raises(ValueError, match="must match"):
        class_mean_weights(weights, y[:-1], names)


def test_sparsity_tradeoff_and_cosine_histograms(decomposed):
    decomposer, X, _ = decomposed
    figure = plot_sparsity_tradeoff(
        [[80, 30, 8], [90, 35, 9]],
        [[0.9, 0.85, 0.7], [0.92, 0.86, 0.72]],
        penalties=[0.01, 0.05, 0.2],
        baseline=0.88,
        labels=["V=400", "V=800"],
    )
    assert len(figure.axes[0].lines) == 3  # two curves and the baseline
    _assert_drawn(figure)
    with pytest.raises(ValueError, match="same shape"):
        plot_sparsity_tradeoff([1, 2], [0.5])
    cosines = decomposer.cosine_similarity(X)
    _assert_drawn(plot_reconstruction_cosine(cosines))
    _assert_drawn(plot_reconstruction_cosine({"0.05": cosines, "0.2": cosines - 0.1}))


def test_latent_scores_sorted_best_first():
    scores = np.array([0.55, 0.97, 0.61, 0.88])
    figure = plot_latent_scores(scores, top_n=3)
    labels = [tick.get_text() for tick in figure.axes[0].get_yticklabels()]
    assert labels == ["latent_1", "latent_3", "latent_2"]
    _assert_drawn(figure)
    with pytest.raises(ValueError, match="NaN"):
        plot_latent_scores([0.5, np.nan])


def test_steering_shift_draws_both_distributions():
    rng = np.random.default_rng(0)
    figure = plot_steering_shift(rng.normal(0, 1, 200), rng.normal(1, 1, 200))
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend[0].startswith("before") and legend[1].startswith("after")
    _assert_drawn(figure)
    with pytest.raises(ValueError, match="empty"):
        plot_steering_shift([], [1.0])
