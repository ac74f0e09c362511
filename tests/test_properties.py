"""Property-based tests: the numeric estimators work or refuse clearly.

For random shapes, scales, NaN/inf placements and degenerate inputs (all-zero
rows, duplicate rows, one sample), each estimator either returns an output
that satisfies its invariants (shape, dtype, finite, nonnegative, at most
``k`` active latents, scale invariance where inputs are normalised) or raises
a ``ValueError`` whose message names the problem.
"""

import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from sklearn_audioconcepts import (
    ConceptDecomposer,
    ConceptVocabulary,
    TopKSparseAutoencoder,
)

# derandomize: the suite sees the same examples on every run (no flaky CI);
# run with --hypothesis-seed=<n> and derandomize off to explore further.
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# scikit-learn's validate_data reports non-finite input first ("Input X
# contains NaN." / "... contains infinity ..."); the package's own check says
# "NaN or infinity". Either names the problem.
NON_FINITE = "NaN|infinity"
# Messages a refusal may give, each naming what is wrong with the input.
CLEAR_ERRORS = re.compile(
    "NaN|infinity|all-zero row|at least 2 samples|identical|cannot exceed"
    "|not plausible|duplicate|non-empty|one embedding per name"
)


@st.composite
def embeddings(draw, *, min_rows=1, max_rows=8, min_features=2, max_features=8):
    """Finite random rows at a random scale and dtype."""
    n_rows = draw(st.integers(min_rows, max_rows))
    n_features = draw(st.integers(min_features, max_features))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = 10.0 ** draw(st.integers(-6, 6))
    X = np.random.default_rng(seed).standard_normal((n_rows, n_features)) * scale
    return X.astype(dtype)


def _with_bad_values(draw, X):
    """X with NaN/+inf/-inf placed at random cells (at least one)."""
    X = X.copy()
    n_bad = draw(st.integers(1, X.size))
    cells = draw(
        st.lists(
            st.integers(0, X.size - 1), min_size=n_bad, max_size=n_bad, unique=True
        )
    )
    values = draw(
        st.lists(
            st.sampled_from([np.nan, np.inf, -np.inf]), min_size=n_bad, max_size=n_bad
        )
    )
    X.flat[cells] = values
    return X


def _vocabulary(n_concepts, n_features, seed):
    rng = np.random.default_rng(seed)
    return ConceptVocabulary(
        [f"concept {i}" for i in range(n_concepts)],
        rng.standard_normal((n_concepts, n_features)),
    )


def _decomposer(vocabulary, **params):
    return ConceptDecomposer(vocabulary, device="cpu", progress=False, **params)


def _sae(n_latents, k, **params):
    return TopKSparseAutoencoder(
        n_latents=n_latents,
        k=k,
        aux_k=4,
        max_epochs=2,
        batch_size=4,
        device="cpu",
        progress=False,
        random_state=0,
        **params,
    )


def _fit_transform_or_clear_error(estimator, X):
    """The output, or None when the estimator refused X with a clear message.

    A ConvergenceWarning is allowed (degenerate draws, e.g. seven concepts in
    two dimensions with near-collinear pairs, can need more than ``max_iter``
    sweeps) when it says what to do; the output is still checked.
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            output = estimator.fit(X).transform(X)
    except ValueError as exc:
        assert CLEAR_ERRORS.search(str(exc)), f"unclear error: {exc}"
        return None
    for warning in caught:
        if issubclass(warning.category, ConvergenceWarning):
            message = str(warning.message)
            # A NaN gap is a broken solve, not a slow one.
            assert "Raise max_iter or tol" in message and "gap nan" not in message
    return output


# -- ConceptDecomposer ---------------------------------------------------------


def _check_weights(W, n_rows, n_concepts, dtype):
    assert W.shape == (n_rows, n_concepts)
    assert W.dtype == dtype
    assert np.isfinite(W).all()
    assert (W >= 0).all()


@SETTINGS
@given(
    X=embeddings(),
    n_concepts=st.integers(2, 10),
    l1_penalty=st.sampled_from([0.0, 0.01, 0.05, 0.2, 1.0]),
    center=st.booleans(),
    dtype=st.sampled_from(["float32", "float64"]),
    seed=st.integers(0, 1000),
)
def test_decomposer_weights_are_valid_or_refused(
    X, n_concepts, l1_penalty, center, dtype, seed
):
    vocabulary = _vocabulary(n_concepts, X.shape[1], seed)
    decomposer = _decomposer(
        vocabulary, l1_penalty=l1_penalty, center=center, dtype=dtype
    )
    W = _fit_transform_or_clear_error(decomposer, X)
    if W is None:
        assert center and len(X) < 2  # the only refusal expected for finite rows
        return
    _check_weights(W, len(X), n_concepts, np.dtype(dtype))
    reconstruction = decomposer.inverse_transform(W)
    assert reconstruction.shape == X.shape and np.isfinite(reconstruction).all()


@SETTINGS
@given(
    X=embeddings(min_rows=2),
    log_factor=st.floats(-4, 4),
    seed=st.integers(0, 1000),
)
def test_decomposer_is_scale_invariant_when_normalizing(X, log_factor, seed):
    vocabulary = _vocabulary(6, X.shape[1], seed)
    decomposer = _decomposer(vocabulary, dtype="float64").fit(X)
    scaled = (X.astype(np.float64) * 10.0**log_factor).astype(X.dtype)
    assume(np.isfinite(scaled).all() and (np.abs(scaled).max(axis=1) > 0).all())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        original, rescaled = decomposer.transform(X), decomposer.transform(scaled)
    # Unconverged solves are the subject of the test above, not of this one.
    assume(not any(w.category is ConvergenceWarning for w in caught))
    np.testing.assert_allclose(rescaled, original, atol=1e-4)


@SETTINGS
@given(data=st.data(), X=embeddings(min_rows=2))
def test_decomposer_refuses_nan_and_inf(data, X):
    bad = _with_bad_values(data.draw, X)
    decomposer = _decomposer(_vocabulary(4, X.shape[1], 0))
    with pytest.raises(ValueError, match=NON_FINITE):
        decomposer.fit(bad)
    decomposer.fit(X)
    with pytest.raises(ValueError, match=NON_FINITE):
        decomposer.transform(bad)


@SETTINGS
@given(data=st.data(), X=embeddings(min_rows=2))
def test_decomposer_refuses_all_zero_rows(data, X):
    zero_rows = data.draw(
        st.lists(st.integers(0, len(X) - 1), min_size=1, max_size=len(X), unique=True)
    )
    X_zero = X.copy()
    X_zero[zero_rows] = 0
    decomposer = _decomposer(_vocabulary(4, X.shape[1], 0))
    with pytest.raises(ValueError, match="all-zero row"):
        decomposer.fit(X_zero)
    decomposer.fit(X)
    with pytest.raises(ValueError, match=f"first: \\[{min(zero_rows)}"):
        decomposer.transform(X_zero)


@SETTINGS
@given(X=embeddings(min_rows=1, max_rows=4), n_copies=st.integers(2, 4))
def test_decomposer_duplicate_rows_get_identical_weights(X, n_copies):
    repeated = np.repeat(X, n_copies, axis=0)
    decomposer = _decomposer(_vocabulary(5, X.shape[1], 1), center=False)
    W = decomposer.fit(repeated).transform(repeated)
    for copy in range(1, n_copies):
        np.testing.assert_array_equal(W[copy::n_copies], W[::n_copies])


@SETTINGS
@given(row=embeddings(min_rows=1, max_rows=1), n_rows=st.integers(2, 6))
def test_decomposer_identical_rows_centre_to_no_concepts(row, n_rows):
    """All rows equal the mean: nothing is left to explain, so all weights are 0."""
    X = np.repeat(row, n_rows, axis=0)
    decomposer = _decomposer(_vocabulary(5, X.shape[1], 2))
    W = decomposer.fit(X).transform(X)
    _check_weights(W, n_rows, 5, np.dtype("float32"))
    assert not W.any()


# -- TopKSparseAutoencoder -----------------------------------------------------


@SETTINGS
@given(
    X=embeddings(max_features=6),
    n_latents=st.integers(1, 12),
    k=st.integers(1, 6),
    normalize=st.sampled_from(["scale", "layer_norm", "none"]),
    output=st.sampled_from(["dense", "sparse"]),
)
def test_autoencoder_codes_are_valid_or_refused(X, n_latents, k, normalize, output):
    sae = _sae(n_latents, k, normalize=normalize, output=output)
    codes = _fit_transform_or_clear_error(sae, X)
    if codes is None:
        assert k > n_latents  # the only refusal expected for finite rows
        return
    codes = codes.toarray() if output == "sparse" else codes
    assert codes.shape == (len(X), n_latents)
    assert codes.dtype == np.float32
    assert np.isfinite(codes).all() and (codes >= 0).all()
    assert ((codes > 0).sum(axis=1) <= k).all()
    reconstruction = sae.reconstruct(X)
    assert reconstruction.shape == X.shape and np.isfinite(reconstruction).all()


@SETTINGS
@given(X=embeddings(min_rows=2, max_features=6), zero_rows=st.integers(1, 8))
def test_autoencoder_accepts_all_zero_rows(X, zero_rows):
    X = X.copy()
    X[: min(zero_rows, len(X) - 1)] = 0
    codes = _sae(8, 2).fit(X).transform(X)
    assert np.isfinite(codes).all() and ((codes > 0).sum(axis=1) <= 2).all()


@SETTINGS
@given(data=st.data(), X=embeddings(min_rows=2, max_features=6))
def test_autoencoder_refuses_nan_and_inf(data, X):
    bad = _with_bad_values(data.draw, X)
    sae = _sae(8, 2)
    with pytest.raises(ValueError, match=NON_FINITE):
        sae.fit(bad)
    with pytest.raises(ValueError, match=NON_FINITE):
        sae.partial_fit(bad)
    sae.fit(X)
    with pytest.raises(ValueError, match=NON_FINITE):
        sae.transform(bad)


@SETTINGS
@given(
    X=embeddings(min_rows=2, min_features=3, max_features=6),
    log_factor=st.floats(-2, 2),
)
def test_layer_norm_autoencoder_is_scale_invariant(X, log_factor):
    """Each row is divided by its own spread: rescaling rows leaves codes unchanged."""
    X = X.astype(np.float64)
    # The layer-norm epsilon (1e-5) is added to each row's spread, so codes
    # change by about eps / spread: keep rows whose spread dwarfs it.
    assume((X.std(axis=1) * min(1.0, 10.0**log_factor) > 0.05).all())
    sae = _sae(10, 3, normalize="layer_norm", dtype="float64").fit(X)
    np.testing.assert_allclose(
        sae.transform(X * 10.0**log_factor), sae.transform(X), rtol=2e-3, atol=1e-6
    )


@SETTINGS
@given(row=embeddings(min_rows=1, max_rows=1, max_features=6))
def test_autoencoder_one_sample_and_identical_rows(row):
    sae = _sae(6, 2)
    one = sae.fit(row).transform(row)
    assert one.shape == (1, 6) and np.isfinite(one).all()
    X = np.repeat(row, 5, axis=0)
    codes = _sae(6, 2).fit(X).transform(X)
    np.testing.assert_array_equal(codes, np.repeat(codes[:1], 5, axis=0))
    with pytest.raises(ValueError, match="identical"):
        _sae(6, 2).fit(X).score(X)


# -- ConceptVocabulary -----------------------------------------------------------

names_strategy = st.lists(
    st.text(min_size=1, max_size=12), min_size=1, max_size=8, unique=True
)
# Names a vocabulary accepts (a NUL could not survive save/load).
valid_names = st.lists(
    st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=12),
    min_size=1,
    max_size=8,
    unique=True,
)


@SETTINGS
@given(names=names_strategy, n_features=st.integers(1, 6), seed=st.integers(0, 99))
def test_vocabulary_keeps_names_and_embeddings_and_round_trips(
    names, n_features, seed, tmp_path_factory
):
    embeddings_ = np.random.default_rng(seed).standard_normal((len(names), n_features))
    if any("\x00" in name for name in names):
        # save() stores names as a NumPy string array, which drops trailing NULs.
        with pytest.raises(ValueError, match="NUL"):
            ConceptVocabulary(names, embeddings_)
        return
    vocabulary = ConceptVocabulary(names, embeddings_)
    assert vocabulary.names == names and len(vocabulary) == len(names)
    np.testing.assert_array_equal(vocabulary.embeddings, embeddings_)
    path = vocabulary.save(tmp_path_factory.mktemp("vocabulary") / "v")
    assert ConceptVocabulary.load(path) == vocabulary


@SETTINGS
@given(data=st.data(), names=valid_names, n_features=st.integers(1, 6))
def test_vocabulary_refuses_bad_construction_clearly(data, names, n_features):
    rng = np.random.default_rng(0)
    good = rng.standard_normal((len(names), n_features))
    with pytest.raises(ValueError, match="one embedding per name"):
        ConceptVocabulary(names, np.vstack([good, good[:1]]))
    with pytest.raises(ValueError, match="duplicate concept names"):
        ConceptVocabulary([*names, names[0]], np.vstack([good, good[:1]]))
    with pytest.raises(ValueError, match=NON_FINITE):
        ConceptVocabulary(names, _with_bad_values(data.draw, good))
    zero = good.copy()
    zero[data.draw(st.integers(0, len(names) - 1))] = 0
    with pytest.raises(ValueError, match="all-zero row"):
        ConceptVocabulary(names, zero)
    with pytest.raises(ValueError, match="non-empty"):
        ConceptVocabulary([*names[:-1], ""], good)


@SETTINGS
@given(names=valid_names, threshold=st.floats(-0.9, 1.0), seed=st.integers(0, 99))
def test_vocabulary_deduplicate_leaves_no_close_pair(names, threshold, seed):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((len(names), 4))
    # Plant near-copies so that deduplication has something to remove.
    base[1::2] = base[::2][: len(base[1::2])] + 1e-3 * rng.standard_normal(
        (len(base[1::2]), 4)
    )
    kept = ConceptVocabulary(names, base).deduplicate(threshold)
    assert set(kept.names) <= set(names) and kept.names[0] == names[0]
    units = kept.embeddings / np.linalg.norm(kept.embeddings, axis=1, keepdims=True)
    similarity = units @ units.T
    np.fill_diagonal(similarity, -np.inf)
    assert (similarity <= threshold + 1e-12).all()


# -- regressions found by the properties above -----------------------------------


def test_two_concept_vocabulary_is_solved():
    """Two centred concepts are antipodal: their Gram block is singular.

    The solver's step size came from power iteration started at the all-ones
    vector, which is then in the Gram block's null space; the step became
    infinite, the gap NaN, and every weight 0.
    """
    vocabulary = ConceptVocabulary(["a", "b"], np.array([[1.0, 0.2], [0.3, 1.0]]))
    X = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        W = _decomposer(vocabulary, l1_penalty=0.05).fit(X).transform(X)
    reference = _decomposer(vocabulary, l1_penalty=0.05, solver="sklearn").fit(X)
    np.testing.assert_allclose(W, reference.transform(X), atol=1e-4)
    assert W.any()


def test_autoencoder_score_refuses_identical_rows_whatever_their_values():
    """The mean of identical rows is not always exact in floating point."""
    rng = np.random.default_rng(0)
    for _ in range(100):
        X = np.repeat(rng.standard_normal((1, 3)), 5, axis=0)
        if ((X - X.mean(axis=0)) ** 2).sum() > 0:
            break
    assert ((X - X.mean(axis=0)) ** 2).sum() > 0  # rounding noise, the case tested
    sae = _sae(6, 2).fit(X)
    with pytest.raises(ValueError, match="identical"):
        sae.score(X)


def test_vocabulary_refuses_names_that_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="NUL"):
        ConceptVocabulary(["dog\x00", "rain"], np.eye(2))
