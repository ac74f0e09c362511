"""The compiled active-set solver: its building blocks and its hard cases."""

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from _lasso_reference import sklearn_objective

from sklearn_audioconcepts import _active_set
from sklearn_audioconcepts._active_set import CONVERGED, MAX_ITER, active_set_lasso
from sklearn_audioconcepts._solvers import nonnegative_lasso_objective


def _solve(Z, D, l1_penalty, kkt_tol=1e-12, max_iter=1000, working_set_size=8):
    """Run the solver in float64; return the codes as CSR and the raw outputs."""
    Z, D = np.asarray(Z, np.float64), np.asarray(D, np.float64)
    indptr, indices, data, gap, n_iter, status = active_set_lasso(
        Z,
        D,
        D @ D.T,
        l1_penalty,
        kkt_tol=kkt_tol,
        max_iter=max_iter,
        working_set_size=working_set_size,
    )
    codes = sp.csr_matrix((data, indices, indptr), shape=(len(Z), len(D)))
    return codes, gap, n_iter, status


def _relative_excess(Z, D, codes, l1_penalty):
    """How far our objective lies above scikit-learn's, relative (<= 0: as low)."""
    ours = nonnegative_lasso_objective(Z, D, codes, l1_penalty)
    reference = sklearn_objective(Z, D, l1_penalty, max_iter=20000)
    return (ours - reference) / reference


@pytest.mark.parametrize("position", range(7))
def test_cholesky_delete_matches_factorising_the_smaller_matrix(position):
    rng = np.random.default_rng(position)
    A = rng.standard_normal((7, 12))
    gram = A @ A.T
    factor = np.zeros((9, 9))  # larger than used, as in the solver
    factor[:7, :7] = np.linalg.cholesky(gram)
    _active_set._cholesky_delete(factor, 7, position)
    kept = np.delete(np.arange(7), position)
    expected = np.linalg.cholesky(gram[np.ix_(kept, kept)])
    np.testing.assert_allclose(np.tril(factor[:6, :6]), expected, atol=1e-12)


def test_kth_smallest_matches_numpy_partition_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(200):
        count = int(rng.integers(1, 60))
        values = rng.integers(-5, 5, size=count + 3).astype(np.float64)
        k = int(rng.integers(0, count))
        expected = np.partition(values[:count], k)[k]
        assert _active_set._kth_smallest(values.copy(), count, k) == expected


def test_new_candidates_are_the_worst_violators_in_atom_order():
    rng = np.random.default_rng(1)
    gradient = rng.standard_normal(50)
    gradient[[3, 17, 40]] = -10.0  # the worst, but 17 is already in the set
    in_set = np.zeros(50, dtype=bool)
    in_set[17] = True
    chosen, values = np.empty(50, np.int64), np.empty(50)
    count = _active_set._new_candidates(gradient, in_set, 0.5, 6, chosen, values)
    eligible = np.flatnonzero((gradient < -0.5) & ~in_set)
    expected = np.sort(eligible[np.argsort(gradient[eligible], kind="stable")][:6])
    assert count == 6 and chosen[:6].tolist() == expected.tolist()
    assert {3, 40} <= set(chosen[:6].tolist())
    # Fewer violators than asked for: all of them.
    count = _active_set._new_candidates(gradient, in_set, 0.5, 50, chosen, values)
    assert chosen[:count].tolist() == eligible.tolist()


def test_optimum_meets_the_optimality_conditions(centered_problem):
    Z, D = centered_problem
    codes, gap, _, status = _solve(Z, D, 0.05)
    assert (status == CONVERGED).all() and gap.max() <= 1e-10
    W = codes.toarray()
    gradient = (W @ D - Z) @ D.T + 0.05  # of the smooth part plus the penalty
    assert gradient.min() >= -1e-10
    assert np.abs(gradient[W > 0]).max() <= 1e-10
    assert np.all(codes.has_sorted_indices)


def test_rank_deficient_dictionary_takes_ray_steps():
    """Atoms in a 12-dimensional subspace: supports cannot pass 12 atoms, so
    atoms that are combinations of the support must swap in by ray steps."""
    rng = np.random.default_rng(2)
    basis = np.linalg.qr(rng.standard_normal((32, 12)))[0]
    D = rng.standard_normal((80, 12)) @ basis.T
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    Z = rng.standard_normal((30, 32))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    codes, gap, _, status = _solve(Z, D, 1e-3)
    assert (status == CONVERGED).all() and gap.max() <= 1e-8
    assert codes.getnnz(axis=1).max() <= 12
    assert codes.getnnz(axis=1).min() >= 8  # dense: the rank limits the support
    assert _relative_excess(Z, D, codes, 1e-3).max() <= 1e-6


def test_duplicate_zero_and_unnormalised_atoms():
    rng = np.random.default_rng(3)
    D = rng.standard_normal((40, 16)) * rng.uniform(0.2, 3.0, size=(40, 1))
    D[10] = D[3]  # a duplicate: either copy may carry the weight
    D[20] = 0.0  # an empty concept never helps
    Z = rng.standard_normal((25, 16))
    codes, gap, _, status = _solve(Z, D, 0.1)
    assert (status == CONVERGED).all() and gap.max() <= 1e-8
    W = codes.toarray()
    assert (W[:, 20] == 0).all()
    assert not ((W[:, 3] > 0) & (W[:, 10] > 0)).any()
    assert _relative_excess(Z, D, codes, 0.1).max() <= 1e-6


def test_zero_penalty_is_nonnegative_least_squares():
    rng = np.random.default_rng(4)
    D = rng.standard_normal((10, 30))  # fewer atoms than dimensions: unique
    Z = rng.standard_normal((8, 30))
    codes, _, _, status = _solve(Z, D, 0.0)
    assert (status == CONVERGED).all()
    for row, z in enumerate(Z):
        expected, _ = scipy.optimize.nnls(D.T, z)
        np.testing.assert_allclose(codes[row].toarray().ravel(), expected, atol=1e-9)


def test_zero_rows_and_penalties_above_every_correlation(centered_problem):
    Z, D = centered_problem
    Z = Z.copy()
    Z[0] = 0.0
    codes, gap, n_iter, status = _solve(Z, D, 0.05)
    assert codes[0].nnz == 0 and n_iter[0] == 0 and gap[0] == 0.0
    codes, _, n_iter, status = _solve(Z, D, float(np.abs(Z @ D.T).max()) + 1e-3)
    assert codes.nnz == 0 and (n_iter == 0).all() and (status == CONVERGED).all()


def test_max_iter_stops_rows_and_says_so(centered_problem):
    Z, D = centered_problem
    codes, _, n_iter, status = _solve(Z, D, 0.02, max_iter=3)
    assert (status == MAX_ITER).any() and (n_iter[status == MAX_ITER] >= 3).all()
    assert np.isfinite(codes.data).all() and (codes.data > 0).all()


def test_float32_input_and_layouts_give_the_same_codes(centered_problem):
    """float32 data (float64 factors inside); read-only and Fortran-ordered
    arrays are copied to the layout the compiled code was built for."""
    Z, D = (a.astype(np.float32) for a in centered_problem)
    gram = D @ D.T
    kwargs = {"kkt_tol": 1e-5, "max_iter": 1000, "working_set_size": 8}
    reference = active_set_lasso(Z, D, gram, 0.05, **kwargs)
    Z_readonly = Z.copy()
    Z_readonly.flags.writeable = False
    other = active_set_lasso(Z_readonly, np.asfortranarray(D), gram, 0.05, **kwargs)
    for ours, theirs in zip(reference, other, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    codes = sp.csr_matrix(reference[:3][::-1], shape=(len(Z), len(D)))
    excess = _relative_excess(Z.astype(np.float64), D.astype(np.float64), codes, 0.05)
    assert excess.max() <= 1e-5


PATH_PENALTIES = [0.2, 0.05, 0.02, 0.01, 0.003]


def test_path_matches_cold_solves_with_fewer_iterations(dense_centered_problem):
    """Warm starts from each larger penalty reach each penalty's optimum (the
    objective of a cold solve, and its optimality conditions) with fewer
    Lawson-Hanson iterations at the dense end."""
    Z, D = dense_centered_problem
    gram = D @ D.T
    kwargs = {"kkt_tol": 1e-12, "max_iter": 1000, "working_set_size": 8}
    path = _active_set.active_set_lasso_path(Z, D, gram, PATH_PENALTIES, **kwargs)
    assert len(path) == len(PATH_PENALTIES)
    for l1_penalty, (indptr, indices, data, gap, _, status) in zip(
        PATH_PENALTIES, path, strict=True
    ):
        warm = sp.csr_matrix((data, indices, indptr), shape=(len(Z), len(D)))
        cold, _, cold_iter, _ = _solve(Z, D, l1_penalty, kkt_tol=1e-12)
        assert (status == CONVERGED).all() and gap.max() <= 1e-10
        assert np.all(warm.has_sorted_indices) and (warm.data > 0).all()
        ours = nonnegative_lasso_objective(Z, D, warm, l1_penalty)
        reference = nonnegative_lasso_objective(Z, D, cold, l1_penalty)
        assert np.abs(ours - reference).max() <= 1e-10 * reference.max()
        gradient = (warm.toarray() @ D - Z) @ D.T + l1_penalty
        assert gradient.min() >= -1e-9
    # Dense supports (hundreds of atoms) start from the previous support.
    assert path[-1][1].size / len(Z) > 100
    assert path[-1][4].sum() < 0.8 * cold_iter.sum()


def test_path_of_one_penalty_is_the_single_solve(centered_problem):
    Z, D = centered_problem
    kwargs = {"kkt_tol": 1e-10, "max_iter": 1000, "working_set_size": 8}
    (path,) = _active_set.active_set_lasso_path(Z, D, D @ D.T, [0.05], **kwargs)
    single = active_set_lasso(Z, D, D @ D.T, 0.05, **kwargs)
    for ours, theirs in zip(path, single, strict=True):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("penalties", [[0.01, 0.05], [0.05, 0.05], [0.1, -0.1], []])
def test_path_needs_strictly_decreasing_nonnegative_penalties(
    centered_problem, penalties
):
    Z, D = centered_problem
    with pytest.raises(ValueError, match="strictly decreasing"):
        _active_set.active_set_lasso_path(
            Z, D, D @ D.T, penalties, kkt_tol=1e-6, max_iter=10, working_set_size=8
        )


def test_compiled_once_for_the_dtype_in_use_and_said_once(caplog, centered_problem):
    """A call compiles (or loads) one solve_rows overload, of the explicit
    signature for its dtype, and announces nothing once it exists."""
    Z, D = centered_problem
    _solve(Z[:2], D, 0.05)
    signature = _active_set._signature(np.float64)
    assert signature in _active_set.solve_rows.overloads
    float64_overloads = [
        args
        for args in _active_set.solve_rows.overloads
        if args[0].dtype == signature[0].dtype
    ]
    assert float64_overloads == [signature]
    with caplog.at_level("INFO", logger="sklearn_audioconcepts"):
        _solve(Z[:2], D, 0.05)
        _active_set._ensure_compiled(np.float64)
    assert caplog.records == []


COLD_COMPILE = """
import logging, sys
import numpy as np
from numba.core import types
from sklearn_audioconcepts import _active_set

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="LOG %(message)s")
rng = np.random.default_rng(0)
D = rng.standard_normal((40, 16))
Z = rng.standard_normal((4, 16))
for _ in range(2):
    _active_set.active_set_lasso(
        Z, D, D @ D.T, 0.05, kkt_tol=1e-9, max_iter=100, working_set_size=8
    )
print("overloads", len(_active_set.solve_rows.overloads))
for name in dir(_active_set):
    function = getattr(_active_set, name)
    for signature in getattr(function, "signatures", []):
        if any(isinstance(arg, types.Literal) for arg in signature):
            print("literal", name, signature)
"""


def test_cold_compile_is_announced_once_and_compiles_one_variant(tmp_path):
    """In a fresh numba cache: one log line, one compiled dtype, and no
    throw-away variants compiled for literal constants (they doubled the time);
    a second process loads the cache silently."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "NUMBA_CACHE_DIR": str(tmp_path),
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    runs = [
        subprocess.run(
            [sys.executable, "-c", COLD_COMPILE],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for _ in range(2)
    ]
    cold, cached = runs
    assert cold.count("LOG Compiling the active-set solver for float64") == 1, cold
    assert "overloads 1" in cold and "literal" not in cold, cold
    assert "LOG" not in cached and "overloads 1" in cached, cached
