"""Analysis tools on controlled inputs whose answers are known."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.metrics import roc_auc_score

from sklearn_audioconcepts.inspection import (
    attribute_centroids,
    equal_error_rate,
    feature_splits,
    fit_best_seed,
    make_trials,
    relative_similarity,
    score_latents,
    steering_effect,
    top_latents,
    verification_eer,
)


@pytest.fixture
def planted_latents():
    """Latent 2 fires exactly on class "es", latent 5 mostly on "de"; rest noise."""
    rng = np.random.default_rng(0)
    labels = np.repeat(["en", "es", "de"], 40)
    Z = rng.exponential(0.3, size=(120, 8)) * (rng.random((120, 8)) < 0.3)
    Z[:, 2] = np.where(labels == "es", 1.0 + rng.random(120), 0.0)
    Z[:, 5] = np.where(labels == "de", 1.0, 0.0) + 0.4 * rng.random(120)
    return Z, labels


def test_score_latents_matches_sklearn_auc(planted_latents):
    Z, labels = planted_latents
    table = score_latents(Z, labels)
    assert len(table) == 3 * Z.shape[1]
    for _, row in table.sample(10, random_state=0).iterrows():
        expected = roc_auc_score(labels == row["class"], Z[:, row["latent"]])
        assert row["auc"] == pytest.approx(expected)


def test_best_threshold_accuracy_is_the_best_rule(planted_latents):
    Z, labels = planted_latents
    table = score_latents(Z, labels, classes=["de"])
    for _, row in table.iterrows():
        z = Z[:, row["latent"]]
        target = labels == "de"
        candidates = np.concatenate([[-np.inf], np.unique(z)])
        brute = max(np.mean((z > t) == target) for t in candidates)
        assert row["accuracy"] == pytest.approx(brute)
        assert np.mean((z > row["threshold"]) == target) == pytest.approx(brute)


def test_top_latents_finds_planted(planted_latents):
    Z, labels = planted_latents
    best = top_latents(sp.csr_matrix(Z), labels)
    assert best.loc["es", "latent"] == 2
    assert best.loc["es", "auc"] == 1.0 and best.loc["es", "accuracy"] == 1.0
    assert best.loc["de", "latent"] == 5
    assert best.loc["es", "mean_in"] > best.loc["es", "mean_out"]


def test_score_latents_names_and_errors(planted_latents):
    Z, labels = planted_latents
    names = [f"f{j}" for j in range(8)]
    table = score_latents(Z, labels, classes=["es"], latent_names=names)
    assert table.loc[0, "name"] == "f2" and table.loc[0, "rank"] == 1
    with pytest.raises(ValueError, match="one entry per row"):
        score_latents(Z, labels[:-1])
    with pytest.raises(ValueError, match="inside and"):
        score_latents(Z, labels, classes=["fr"])
    with pytest.raises(ValueError, match="NaN"):
        score_latents(np.full((3, 2), np.nan), ["a", "b", "a"])
    with pytest.raises(ValueError, match="latent_names"):
        score_latents(Z, labels, latent_names=["x"])


def test_feature_splits_finds_planted_split():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.standard_normal((32, 32)))[0].T  # orthonormal rows
    small, others = basis[:6], basis[6:]
    # Small latent 1 splits in two children (cos 0.8), latent 4 in three;
    # the others are copied with a little noise; one large latent is new.
    large = [small[1] * 0.8 + others[0] * 0.6, small[1] * 0.8 - others[0] * 0.6]
    large += [small[4] * 0.8 + others[1] * 0.6, small[4] * 0.8 - others[1] * 0.6]
    large += [small[4] * 0.8 + others[2] * 0.6]
    large += [small[j] + 0.05 * others[3 + j] for j in (0, 2, 3, 5)]
    large += [others[10]]
    table = feature_splits(small, np.array(large), threshold=0.7)
    split = table[table["split"]].set_index("small_latent")
    assert sorted(split.index) == [1, 4]
    assert split.loc[4, "n_children"] == 3 and split.loc[1, "children"] == (0, 1)
    assert np.allclose(split.loc[1, "cosines"], 0.8)
    singles = table.set_index("small_latent").loc[[0, 2, 3, 5], "n_children"]
    assert (singles == 1).all()
    # A higher threshold than the children's cosine: no split at all.
    assert not feature_splits(small, np.array(large), threshold=0.9)["split"].any()


def test_feature_splits_takes_models_and_checks_spaces():
    class Fitted:
        components_ = np.eye(4)[:2] * 3.0  # norms are ignored

    table = feature_splits(Fitted(), np.eye(4), threshold=0.9)
    assert table["n_children"].tolist() == [1, 1]
    with pytest.raises(ValueError, match="different spaces"):
        feature_splits(np.eye(3), np.eye(4))
    with pytest.raises(ValueError, match="all-zero"):
        feature_splits(np.zeros((2, 3)), np.eye(3))


def test_relative_similarity_definition():
    X = np.array([[3.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    attribute_centroid, rest_centroid = np.array([1.0, 0.0]), np.array([0.0, 2.0])
    expected = [1.0, -1.0, 0.0]
    np.testing.assert_allclose(
        relative_similarity(X, attribute_centroid, rest_centroid), expected, atol=1e-12
    )
    with pytest.raises(ValueError, match="length 2"):
        relative_similarity(X, [1.0, 0, 0], rest_centroid)


def test_attribute_centroids_are_means_of_unit_rows():
    X = np.array([[2.0, 0.0], [0.0, 5.0], [3.0, 4.0]])
    inside, rest = attribute_centroids(X, ["a", "b", "b"], "b")
    np.testing.assert_allclose(inside, [(0 + 0.6) / 2, (1 + 0.8) / 2])
    np.testing.assert_allclose(rest, [1.0, 0.0])
    with pytest.raises(ValueError, match="some but not all"):
        attribute_centroids(X, ["a", "a", "a"], "a")


class _AxisModel:
    """Toy SAE whose latent j is the j-th coordinate (clipped at zero)."""

    components_ = np.eye(3)

    def transform(self, X):
        return np.clip(np.asarray(X, dtype=float), 0, None)

    def steer(self, X, latent, *, value=None, delta=None, scale=None):
        X = np.array(X, dtype=float)
        if value is not None:
            X[:, latent] = value
        if delta is not None:
            X[:, latent] += delta
        if scale is not None:
            X[:, latent] *= scale
        return X


def test_steering_toward_attribute_raises_relative_similarity():
    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b"], 30)
    X = np.abs(rng.normal(0.3, 0.1, (60, 3)))
    X[labels == "a", 0] += 1.0  # attribute "a" lives on latent 0
    effect = steering_effect(
        _AxisModel(),
        X[labels == "b"],
        0,
        reference=X,
        reference_labels=labels,
        attribute="a",
    )
    assert effect.value == pytest.approx(X[labels == "a", 0].mean())
    assert effect.mean_shift > 0.3 and effect.fraction_increased == 1.0
    assert effect.mean_before < 0 < effect.mean_after
    # Steering the wrong latent, or steering it down, does not help.
    wrong = steering_effect(
        _AxisModel(), X[labels == "b"], 0, reference=X,
        reference_labels=labels, attribute="a", scale=0.0,
    )  # fmt: skip
    assert wrong.mean_shift <= 0 and wrong.value is None


def test_make_trials_pairs_and_reproducibility():
    speakers = np.repeat(["s0", "s1", "s2"], 4)
    trials = make_trials(speakers, random_state=0)
    assert int(trials["target"].sum()) == 3 * 6  # all same-speaker pairs
    assert int((~trials["target"]).sum()) == 18
    assert (trials["a"] < trials["b"]).all()
    same = speakers[trials["a"]] == speakers[trials["b"]]
    np.testing.assert_array_equal(same, trials["target"])
    assert not trials.duplicated(["a", "b"]).any()
    again = make_trials(speakers, random_state=0)
    pd.testing.assert_frame_equal(trials, again)
    few = make_trials(speakers, n_target=5, n_nontarget=7, random_state=1)
    assert few["target"].sum() == 5 and (~few["target"]).sum() == 7
    with pytest.raises(ValueError, match="n_target"):
        make_trials(speakers, n_target=100)
    with pytest.raises(ValueError, match="two or more"):
        make_trials(["a", "b", "c"])
    with pytest.raises(ValueError, match="one speaker"):
        make_trials(["a", "a"])


def test_equal_error_rate_known_values():
    target = np.array([True] * 4 + [False] * 4)
    assert equal_error_rate([8, 7, 6, 5, 4, 3, 2, 1], target) == 0.0
    assert equal_error_rate([1, 2, 3, 4, 5, 6, 7, 8], target) == 1.0
    # One target below one non-target: 1 of 4 misses either way -> 25%.
    assert equal_error_rate([8, 7, 6, 3, 4, 2, 1, 0], target) == pytest.approx(0.25)
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(1, 1, 20000), rng.normal(-1, 1, 20000)])
    labels = np.repeat([True, False], 20000)
    # Two unit Gaussians one unit from the threshold each: EER = Phi(-1).
    assert equal_error_rate(scores, labels) == pytest.approx(0.1587, abs=0.006)
    with pytest.raises(ValueError, match="both target"):
        equal_error_rate([1, 2], [True, True])


def test_verification_eer_separates_clean_from_noisy_embeddings():
    rng = np.random.default_rng(0)
    speakers = np.repeat(np.arange(10), 5)
    voices = rng.standard_normal((10, 32))
    clean = voices[speakers] + 0.05 * rng.standard_normal((50, 32))
    noisy = voices[speakers] + 2.0 * rng.standard_normal((50, 32))
    trials = make_trials(speakers, random_state=0)
    assert verification_eer(clean, trials) == 0.0
    assert verification_eer(noisy, trials) > 0.05
    with pytest.raises(ValueError, match="outside"):
        verification_eer(clean[:10], trials)


# -- fit_best_seed -----------------------------------------------------------


class _SeededProjection(TransformerMixin, BaseEstimator):
    """Random projections whose quality depends on the seed, like an SAE's."""

    def __init__(self, n_components=3, random_state=None):
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X, y=None):
        rng = np.random.RandomState(self.random_state)
        self.components_ = rng.normal(size=(self.n_components, X.shape[1]))
        return self

    def transform(self, X):
        return np.asarray(X) @ self.components_.T


@pytest.fixture
def seeded_problem():
    rng = np.random.RandomState(0)
    labels = np.repeat(["en", "es", "de"], 30)
    X = rng.normal(size=(90, 6))
    X[labels == "es", 0] += 3.0
    X[labels == "de", 1] += 3.0
    return X, labels


def test_fit_best_seed_keeps_the_seed_with_the_best_training_auc(seeded_problem):
    X, labels = seeded_problem
    result = fit_best_seed(_SeededProjection(), X, labels, seeds=range(6))
    scores = result.scores
    assert list(scores.index) == list(range(6))
    assert scores.columns.tolist() == ["de", "en", "es", "score"]
    # each per-class column is the best single latent's AUC of that seed's fit
    for seed in scores.index:
        Z = _SeededProjection(random_state=seed).fit(X).transform(X)
        expected = top_latents(Z, labels)["auc"]
        np.testing.assert_allclose(scores.loc[seed, expected.index], expected)
    np.testing.assert_allclose(scores["score"], scores[["de", "en", "es"]].mean(axis=1))
    assert scores["score"].nunique() > 1  # the seeds really differ
    assert result.seed == scores["score"].idxmax()
    assert result.estimator.random_state == result.seed
    reference = _SeededProjection(random_state=result.seed).fit(X)
    np.testing.assert_array_equal(result.estimator.components_, reference.components_)


def test_fit_best_seed_aggregate_and_classes(seeded_problem):
    X, labels = seeded_problem
    worst = fit_best_seed(
        _SeededProjection(), X, labels, seeds=range(6), aggregate="min"
    )
    np.testing.assert_allclose(
        worst.scores["score"], worst.scores[["de", "en", "es"]].min(axis=1)
    )
    assert worst.seed == worst.scores["score"].idxmax()
    binary = fit_best_seed(
        _SeededProjection(), X, labels == "es", seeds=[3, 1], classes=[True]
    )
    assert binary.scores.columns.tolist() == [True, "score"]
    assert list(binary.scores.index) == [3, 1]


def test_fit_best_seed_is_reproducible_with_a_real_sae(seeded_problem):
    from sklearn_audioconcepts.sae import TopKSparseAutoencoder

    X, labels = seeded_problem
    sae = TopKSparseAutoencoder(
        n_latents=8,
        k=2,
        aux_k=2,
        max_epochs=3,
        batch_size=32,
        device="cpu",
        progress=False,
    )
    first = fit_best_seed(sae, X.astype(np.float32), labels, seeds=[0, 1])
    second = fit_best_seed(sae, X.astype(np.float32), labels, seeds=[0, 1])
    pd.testing.assert_frame_equal(first.scores, second.scores)
    assert first.seed == second.seed
    assert sae.random_state is None  # the given estimator is left untouched
    np.testing.assert_array_equal(
        first.estimator.components_, second.estimator.components_
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"seeds": []}, "seeds must be a non-empty sequence of integers"),
        ({"seeds": [0, 1.5]}, "seeds must be a non-empty sequence of integers"),
        ({"aggregate": "median"}, "aggregate must be one of"),
    ],
)
def test_fit_best_seed_rejects_bad_arguments(seeded_problem, kwargs, message):
    X, labels = seeded_problem
    with pytest.raises(ValueError, match=message):
        fit_best_seed(_SeededProjection(), X, labels, **kwargs)


def test_fit_best_seed_rejects_bad_labels_and_estimators(seeded_problem):
    from sklearn.preprocessing import StandardScaler

    X, labels = seeded_problem
    with pytest.raises(ValueError, match="one label per row of X"):
        fit_best_seed(_SeededProjection(), X, labels[:-1])
    with pytest.raises(ValueError, match="has no random_state parameter"):
        fit_best_seed(StandardScaler(), X, labels)
