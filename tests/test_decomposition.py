import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline

from sklearn_audioconcepts import ConceptDecomposer, ConceptVocabulary, concept_path
from sklearn_audioconcepts._solvers import nonnegative_lasso_objective


def decomposer(vocabulary, **params):
    return ConceptDecomposer(vocabulary, device="cpu", progress=False, **params)


def test_transform_is_sparse_nonnegative_and_named(clap_like):
    X, vocabulary, _, _ = clap_like
    est = decomposer(vocabulary).fit(X)
    W = est.transform(X)
    assert W.shape == (len(X), len(vocabulary)) and W.dtype == np.float32
    assert (W >= 0).all()
    active = (W > 0).sum(1)
    assert 1 <= active.mean() < len(vocabulary) / 4
    assert est.get_feature_names_out().tolist() == vocabulary.names


def test_solution_is_the_lasso_optimum_of_the_centred_problem(clap_like):
    X, vocabulary, _, _ = clap_like
    est = decomposer(vocabulary, dtype="float64", tol=1e-8).fit(X)
    ours = est.transform(X[:30])
    reference = decomposer(vocabulary, solver="sklearn", dtype="float64").fit(X)
    theirs = reference.transform(X[:30])
    Z = est._center(X[:30])
    obj_ours = nonnegative_lasso_objective(Z, est.components_, ours, est.l1_penalty)
    obj_theirs = nonnegative_lasso_objective(Z, est.components_, theirs, est.l1_penalty)
    assert ((obj_ours - obj_theirs) / obj_theirs).max() <= 1e-4


def test_centring_follows_the_splice_recipe(clap_like):
    X, vocabulary, _, _ = clap_like
    est = decomposer(vocabulary).fit(X)
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_allclose(est.mean_, unit.mean(0), rtol=1e-6)
    concepts = vocabulary.embeddings / np.linalg.norm(
        vocabulary.embeddings, axis=1, keepdims=True
    )
    expected = concepts - concepts.mean(0)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(est.components_, expected, rtol=1e-5, atol=1e-6)


def test_given_mean_and_no_centring(clap_like):
    X, vocabulary, _, _ = clap_like
    mean = np.ones(X.shape[1]) / np.sqrt(X.shape[1])
    est = decomposer(vocabulary, center=mean).fit(X[:1])  # one sample is enough
    np.testing.assert_allclose(est.mean_, mean)
    plain = decomposer(vocabulary, center=False).fit(X)
    assert not plain.mean_.any() and not plain.concept_mean_.any()
    assert (plain.transform(X[:5]) >= 0).all()


def test_larger_penalty_gives_sparser_codes_and_looser_fit(clap_like):
    X, vocabulary, _, _ = clap_like
    low, high = (
        decomposer(vocabulary, l1_penalty=0.02),
        decomposer(vocabulary, l1_penalty=0.3),
    )
    n_low = (low.fit_transform(X) > 0).sum(1).mean()
    n_high = (high.fit_transform(X) > 0).sum(1).mean()
    assert n_high < n_low
    assert high.score(X) < low.score(X)


def test_inverse_transform_reconstructs_in_embedding_space(clap_like):
    X, vocabulary, _, _ = clap_like
    est = decomposer(vocabulary, l1_penalty=0.02).fit(X)
    W = est.transform(X)
    reconstruction = est.inverse_transform(W)
    assert reconstruction.shape == X.shape
    np.testing.assert_allclose(np.linalg.norm(reconstruction, axis=1), 1, rtol=1e-5)
    cosine = est.cosine_similarity(X)
    np.testing.assert_allclose(
        cosine, np.einsum("ij,ij->i", X, reconstruction), rtol=1e-4, atol=1e-5
    )
    assert est.score(X) == pytest.approx(cosine.mean())
    assert est.score(X) > 0.9
    # No active concept maps back to the mean embedding.
    empty = est.inverse_transform(np.zeros((1, len(vocabulary))))
    np.testing.assert_allclose(
        empty[0], est.mean_ / np.linalg.norm(est.mean_), rtol=1e-5
    )
    # Sparse weights are accepted too.
    np.testing.assert_allclose(est.inverse_transform(sp.csr_matrix(W)), reconstruction)


def test_sparse_output(clap_like):
    X, vocabulary, _, _ = clap_like
    dense = decomposer(vocabulary).fit(X).transform(X)
    sparse = decomposer(vocabulary, output="sparse").fit(X).transform(X)
    assert sp.isspmatrix_csr(sparse)
    np.testing.assert_array_equal(sparse.toarray(), dense)


def test_float64_dtype(clap_like):
    X, vocabulary, _, _ = clap_like
    est = decomposer(vocabulary, dtype="float64").fit(X)
    assert est.transform(X).dtype == np.float64
    assert est.inverse_transform(est.transform(X)).dtype == np.float64


def test_explain_lists_top_concepts_by_weight(clap_like):
    X, vocabulary, _, _ = clap_like
    est = decomposer(vocabulary).fit(X)
    table = est.explain(X[:4], top_k=3)
    assert list(table.columns) == ["sample", "rank", "concept", "weight"]
    W = est.transform(X[:4])
    for sample, rows in table.groupby("sample"):
        top = np.argsort(-W[sample])[: len(rows)]
        assert rows["concept"].tolist() == [vocabulary.names[j] for j in top]
        assert rows["rank"].tolist() == list(range(1, len(rows) + 1))
        assert (np.diff(rows["weight"]) <= 0).all()
    with pytest.raises(ValueError, match="top_k"):
        est.explain(X[:1], top_k=0)


def test_pandas_output_uses_concept_names(clap_like):
    X, vocabulary, _, _ = clap_like
    est = decomposer(vocabulary).set_output(transform="pandas").fit(X)
    frame = est.transform(X[:3])
    assert isinstance(frame, pd.DataFrame)
    assert frame.columns.tolist() == vocabulary.names


def test_pipeline_and_grid_search(clap_like):
    X, vocabulary, _, y = clap_like
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, random_state=0, stratify=y
    )
    pipeline = make_pipeline(decomposer(vocabulary), LogisticRegression(max_iter=2000))
    pipeline.fit(X_train, y_train)
    assert pipeline.score(X_test, y_test) > 0.75
    search = GridSearchCV(
        pipeline, {"conceptdecomposer__l1_penalty": [0.05, 0.1]}, cv=2
    ).fit(X_train, y_train)
    assert search.best_params_["conceptdecomposer__l1_penalty"] in (0.05, 0.1)
    assert search.score(X_test, y_test) > 0.75


def test_clone_and_joblib_round_trip(clap_like, tmp_path):
    X, vocabulary, _, _ = clap_like
    est = decomposer(vocabulary).fit(X)
    cloned = clone(est)
    assert not hasattr(cloned, "components_")
    assert cloned.get_params()["l1_penalty"] == est.l1_penalty
    path = tmp_path / "decomposer.joblib"
    joblib.dump(est, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


def test_pair_vocabulary_is_accepted(clap_like):
    X, vocabulary, _, _ = clap_like
    pair = (vocabulary.names, vocabulary.embeddings)
    a = decomposer(pair).fit(X).transform(X[:5])
    b = decomposer(vocabulary).fit(X).transform(X[:5])
    np.testing.assert_array_equal(a, b)


def test_zero_embeddings_after_centring_give_zero_weights(clap_like):
    X, vocabulary, _, _ = clap_like
    est = decomposer(vocabulary, normalize=False).fit(X)
    assert not est.transform(est.mean_[None, :]).any()


@pytest.mark.parametrize(
    "X, match",
    [
        (np.full((3, 64), np.nan), "NaN"),
        (np.full((3, 64), np.inf), "infinity"),
        (np.zeros((0, 64)), "0 sample"),
        (np.ones(64), "Expected 2D"),
        (np.ones((3, 10)), "10 features"),
    ],
)
def test_bad_embeddings_are_rejected_clearly(clap_like, X, match):
    X_fit, vocabulary, _, _ = clap_like
    est = decomposer(vocabulary).fit(X_fit)
    with pytest.raises(ValueError, match=match):
        est.transform(X)


def test_fit_errors(clap_like):
    X, vocabulary, _, _ = clap_like
    with pytest.raises(ValueError, match="vocabulary's concept embeddings have 64"):
        decomposer(vocabulary).fit(X[:, :32])
    zero_row = X.copy()
    zero_row[3] = 0
    with pytest.raises(ValueError, match="all-zero row"):
        decomposer(vocabulary).fit(zero_row)
    with pytest.raises(ValueError, match="at least 2 samples"):
        decomposer(vocabulary).fit(X[:1])
    with pytest.raises(ValueError, match="l1_penalty"):
        decomposer(vocabulary, l1_penalty=-1.0).fit(X)
    with pytest.raises(ValueError, match="center must be"):
        decomposer(vocabulary, center=np.ones(3)).fit(X)
    with pytest.raises(ValueError, match="duplicate concept names"):
        decomposer((["a", "a"], np.eye(2, 64))).fit(X)
    with pytest.raises(ValueError, match="zero"):
        decomposer((["a"], np.ones((1, 64)))).fit(X)
    with pytest.raises(NotFittedError):
        decomposer(vocabulary).transform(X)
    with pytest.raises(TypeError, match="vocabulary must be"):
        decomposer(lambda n: "not a vocabulary").fit(X)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_cuda_requested_without_cuda(clap_like):
    X, vocabulary, _, _ = clap_like
    with pytest.raises(RuntimeError, match="no CUDA device"):
        decomposer(vocabulary).set_params(device="cuda").fit(X)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(clap_like):
    X, vocabulary, _, _ = clap_like
    cpu = decomposer(vocabulary, dtype="float64", tol=1e-8).fit(X)
    cuda = clone(cpu).set_params(device="cuda").fit(X)
    np.testing.assert_allclose(cuda.transform(X), cpu.transform(X), atol=1e-6)
    loaded = joblib.load(_dump(cuda))
    loaded.set_params(device="cpu")
    np.testing.assert_allclose(loaded.transform(X), cpu.transform(X), atol=1e-6)


def _dump(estimator):
    import io

    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    buffer.seek(0)
    return buffer


def test_vocabulary_object_round_trip(tmp_path, clap_like):
    _, vocabulary, _, _ = clap_like
    path = vocabulary.save(tmp_path / "vocab")
    assert path.suffix == ".npz"
    assert ConceptVocabulary.load(path) == vocabulary


def test_solvers_reach_the_same_optimum(clap_like):
    X, vocabulary, _, _ = clap_like
    reference = decomposer(vocabulary, solver="sklearn", dtype="float64").fit(X)
    Z = reference._center(X[:40])
    theirs = nonnegative_lasso_objective(
        Z, reference.components_, reference.transform(X[:40]), reference.l1_penalty
    )
    for solver in ("auto", "active_set", "working_set"):
        est = decomposer(vocabulary, solver=solver, dtype="float64", tol=1e-8).fit(X)
        ours = nonnegative_lasso_objective(
            Z, est.components_, est.transform(X[:40]), est.l1_penalty
        )
        assert ((ours - theirs) / theirs).max() <= 1e-6, solver


def test_active_set_solver_runs_on_the_cpu(clap_like, monkeypatch):
    """On a machine with CUDA, device="auto" sends the active-set solver to the
    CPU, and an explicit CUDA device is refused at fit."""
    import sklearn_audioconcepts.decomposition as module

    X, vocabulary, _, _ = clap_like
    resolve = module.resolve_device
    monkeypatch.setattr(
        module,
        "resolve_device",
        lambda device: torch.device("cuda") if device != "cpu" else resolve(device),
    )
    est = ConceptDecomposer(vocabulary, solver="active_set", progress=False).fit(X)
    assert est._solver_device().type == "cpu"
    assert (est.transform(X[:5]) >= 0).all()
    with pytest.raises(ValueError, match="runs on the CPU only"):
        ConceptDecomposer(vocabulary, solver="active_set", device="cuda").fit(X)


# -- extreme magnitudes and weights outside the model (issue 13, items 2, 10) ---


@pytest.mark.parametrize(
    "dtype, factor",
    [
        (np.float32, 1e-15),  # below the old 1e-12 normalisation epsilon
        (np.float64, 1e-15),
        (np.float32, 1e-30),
        (np.float64, 1e155),  # squares overflowed in np.linalg.norm
        (np.float64, 1e-300),  # squares underflowed: "all-zero rows"
        (np.float64, 1e300),
    ],
)
def test_extreme_magnitudes_give_the_unscaled_decomposition(clap_like, dtype, factor):
    """Before: every row got the same code (score 0.0), or an all-zero error."""
    X, vocabulary, _, _ = clap_like
    X = X[:40].astype(np.float64)
    scaled = (X * factor).astype(dtype)
    est = decomposer(vocabulary, dtype="float64").fit(X)
    expected = est.transform(X)
    np.testing.assert_allclose(est.transform(scaled), expected, atol=1e-5)
    assert len(np.unique(est.transform(scaled).round(6), axis=0)) == len(X)
    assert est.score(scaled) == pytest.approx(est.score(X), abs=1e-6)
    refitted = clone(est).fit(scaled)
    np.testing.assert_allclose(refitted.transform(scaled), expected, atol=1e-5)
    unnormalised = decomposer(vocabulary, dtype="float64", normalize=False)
    np.testing.assert_allclose(
        clone(unnormalised).fit(scaled).transform(scaled),
        clone(unnormalised).fit(X).transform(X),
        atol=1e-5,
    )


def test_subnormal_rows_keep_their_direction(clap_like):
    X, vocabulary, _, _ = clap_like
    est = decomposer(vocabulary, dtype="float64").fit(X)
    row = X[:1].astype(np.float64)
    # Entries near 1e-310 are subnormal: fewer significant bits, same direction.
    tiny = row / np.abs(row).max() * 1e-310
    np.testing.assert_allclose(est.transform(tiny), est.transform(row), atol=1e-3)
    with pytest.raises(ValueError, match="all-zero row"):
        est.transform(np.zeros_like(row))


def test_unnormalised_reconstruction_beyond_float32_is_refused(clap_like):
    X, vocabulary, _, _ = clap_like
    big = X[:40].astype(np.float64) * 1e200
    est = decomposer(vocabulary, normalize=False).fit(big)
    with pytest.raises(ValueError, match="beyond what float32 holds"):
        est.inverse_transform(est.transform(big))
    wide = clone(est).set_params(dtype="float64").fit(big)
    assert np.isfinite(wide.inverse_transform(wide.transform(big))).all()


def test_inverse_transform_refuses_negative_weights(clap_like):
    X, vocabulary, _, _ = clap_like
    est = decomposer(vocabulary).fit(X)
    W = est.transform(X[:3])
    W[1, 0] = -0.5
    for weights in (W, sp.csr_matrix(W)):
        with pytest.raises(ValueError, match=r"nonnegative.*first: \[1\]"):
            est.inverse_transform(weights)


def test_center_with_nan_says_nan(clap_like):
    X, vocabulary, _, _ = clap_like
    center = np.zeros(X.shape[1])
    center[[3, 7]] = np.nan
    with pytest.raises(ValueError, match=r"center contains NaN.*first: \[3, 7\]"):
        decomposer(vocabulary, center=center).fit(X)


PAPER_PENALTIES = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]


def test_concept_path_matches_the_decomposer_at_each_penalty(clap_like):
    """Warm-started codes solve each penalty's problem as a cold
    ConceptDecomposer does: objectives within 1e-6, same reconstruction,
    same output type."""
    X, vocabulary, _, _ = clap_like
    penalties, codes = concept_path(
        X, vocabulary, PAPER_PENALTIES, device="cpu", progress=False
    )
    assert penalties.tolist() == sorted(PAPER_PENALTIES, reverse=True)
    assert len(codes) == len(penalties)
    for l1_penalty, weights in zip(penalties, codes, strict=True):
        est = decomposer(vocabulary, l1_penalty=l1_penalty).fit(X)
        cold = est.transform(X)
        assert isinstance(weights, np.ndarray) and weights.dtype == cold.dtype
        assert weights.shape == cold.shape
        Z = est._center(X)
        ours = nonnegative_lasso_objective(Z, est.components_, weights, l1_penalty)
        theirs = nonnegative_lasso_objective(Z, est.components_, cold, l1_penalty)
        assert (np.abs(ours - theirs) / theirs).max() <= 1e-6
        # Near-degenerate concepts may share weight differently; the
        # reconstruction, unique at the optimum, agrees.
        np.testing.assert_allclose(
            weights @ est.components_, cold @ est.components_, atol=1e-3
        )
    active = [(weights > 0).sum(1).mean() for weights in codes]
    assert active == sorted(active)  # sparsest first


def test_concept_path_passes_decomposer_parameters(clap_like):
    X, vocabulary, _, _ = clap_like
    train, test = X[:200], X[200:]
    est = decomposer(vocabulary, l1_penalty=0.05, output="sparse").fit(train)
    penalties, codes = concept_path(
        test,
        vocabulary,
        [0.05, 0.2],
        center=est.mean_,  # the training mean, as transform uses it
        output="sparse",
        dtype="float64",
        device="cpu",
        progress=False,
    )
    assert penalties.tolist() == [0.2, 0.05]
    assert all(
        sp.issparse(weights) and weights.dtype == np.float64 for weights in codes
    )
    expected = est.set_params(dtype="float64").transform(test)
    np.testing.assert_allclose(codes[1].toarray(), expected.toarray(), atol=1e-6)


def test_concept_path_default_is_the_paper_sweep(clap_like):
    X, vocabulary, _, _ = clap_like
    penalties, codes = concept_path(X[:20], vocabulary, device="cpu", progress=False)
    assert penalties.tolist() == sorted(PAPER_PENALTIES, reverse=True)
    assert len(codes) == 7


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"l1_penalties": [0.1, 0.1]}, ValueError, "distinct"),
        ({"l1_penalties": [0.1, -0.1]}, ValueError, "finite and >= 0"),
        ({"l1_penalties": [0.1, np.inf]}, ValueError, "finite and >= 0"),
        ({"l1_penalties": []}, ValueError, "non-empty 1-D"),
        ({"l1_penalties": [[0.1, 0.2]]}, ValueError, "non-empty 1-D"),
        ({"l1_penalties": ["a lot"]}, ValueError, "non-empty 1-D"),
        ({"l1_penalty": 0.1}, TypeError, "l1_penalties"),
        ({"penalty": 0.1}, TypeError, "unexpected parameter.*'penalty'"),
        ({"solver": "lars"}, ValueError, "solver"),
    ],
)
def test_concept_path_rejects_bad_input(clap_like, params, error, match):
    X, vocabulary, _, _ = clap_like
    with pytest.raises(error, match=match):
        concept_path(X, vocabulary, **params)


def test_concept_path_rejects_bad_embeddings(clap_like):
    X, vocabulary, _, _ = clap_like
    X = X.copy()
    X[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        concept_path(X, vocabulary, [0.1], device="cpu")
    with pytest.raises(ValueError, match="feature"):
        concept_path(X[4:, :10], vocabulary, [0.1], device="cpu")


@pytest.mark.parametrize("solver", ["working_set", "sklearn"])
def test_concept_path_with_the_other_solvers(clap_like, solver):
    """Without warm starts each penalty is solved as the decomposer solves it."""
    X, vocabulary, _, _ = clap_like
    penalties, codes = concept_path(
        X[:40], vocabulary, [0.05, 0.2], solver=solver, device="cpu", progress=False
    )
    for l1_penalty, weights in zip(penalties, codes, strict=True):
        est = decomposer(vocabulary, l1_penalty=l1_penalty, solver=solver).fit(X[:40])
        np.testing.assert_array_equal(weights, est.transform(X[:40]))
