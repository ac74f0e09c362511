import numpy as np
import pytest
import scipy.sparse as sp
import torch
from _lasso_reference import sklearn_objective
from sklearn.decomposition import sparse_encode
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_info

from sklearn_audioconcepts import _solvers as solvers
from sklearn_audioconcepts._solvers import (
    PreparedDictionary,
    nonnegative_lasso,
    nonnegative_lasso_objective,
)
from sklearn_audioconcepts.datasets import _coherent_dictionary

SOLVERS = ["active_set", "working_set"]


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("l1_penalty", [0.02, 0.05, 0.2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_objective_matches_sklearn_lasso_cd(
    centered_problem, l1_penalty, dtype, solver
):
    Z, D = centered_problem
    ours = nonnegative_lasso(Z, D, l1_penalty, tol=1e-6, dtype=dtype, solver=solver)
    reference = sparse_encode(
        Z, D, algorithm="lasso_cd", alpha=l1_penalty, positive=True, max_iter=5000
    )
    ours_objective = nonnegative_lasso_objective(Z, D, ours.codes, l1_penalty)
    reference_objective = nonnegative_lasso_objective(Z, D, reference, l1_penalty)
    relative = (ours_objective - reference_objective) / reference_objective
    assert relative.max() <= 1e-4
    assert ours.converged.all()
    assert (ours.codes.data > 0).all()
    # Certified: the returned gap bounds the distance to the optimum.
    assert ours.duality_gap.max() <= 1e-6 or dtype == torch.float32


@pytest.mark.parametrize("solver", SOLVERS)
def test_duality_gap_bounds_suboptimality(centered_problem, solver):
    Z, D = centered_problem
    result = nonnegative_lasso(Z, D, 0.05, tol=1e-8, dtype=torch.float64)
    exact = nonnegative_lasso_objective(Z, D, result.codes, 0.05)
    loose = nonnegative_lasso(Z, D, 0.05, tol=1e-2, dtype=torch.float64, solver=solver)
    loose_objective = nonnegative_lasso_objective(Z, D, loose.codes, 0.05)
    assert ((loose_objective - exact) / exact <= loose.duality_gap + 1e-9).all()
    assert (loose.duality_gap <= 1e-2).all()


@pytest.mark.parametrize("solver", SOLVERS)
def test_planted_codes_are_recovered(solver):
    rng = check_random_state(0)
    n_atoms, n_features, n_samples, n_active = 500, 128, 100, 5
    atoms = _coherent_dictionary(rng, n_atoms, n_features, 0.5, 50)
    atoms -= atoms.mean(0)
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    planted = np.zeros((n_samples, n_atoms))
    for row in planted:
        row[rng.choice(n_atoms, n_active, replace=False)] = rng.uniform(
            0.5, 1.5, n_active
        )
    clean = planted @ atoms
    noise = rng.standard_normal(clean.shape) / np.sqrt(n_features)
    Z = clean + 0.05 * noise * np.linalg.norm(clean, axis=1, keepdims=True)

    found = nonnegative_lasso(Z, atoms, 0.1, solver=solver).codes.toarray() > 0
    true = planted > 0
    assert (found & true).sum() / found.sum() >= 0.9  # support precision
    assert (found & true).sum() / true.sum() >= 0.9  # support recall


@pytest.mark.parametrize("solver", SOLVERS)
def test_rows_are_independent_of_batching(centered_problem, solver):
    Z, D = centered_problem
    options = {"dtype": torch.float64, "tol": 1e-9, "solver": solver}
    whole = nonnegative_lasso(Z, D, 0.05, **options).codes.toarray()
    batched = nonnegative_lasso(Z, D, 0.05, batch_size=7, **options).codes.toarray()
    np.testing.assert_allclose(whole, batched, atol=1e-7)


def test_without_precomputed_gram_gives_same_codes(centered_problem):
    Z, D = centered_problem
    with_gram = PreparedDictionary(D, dtype=torch.float64)
    without_gram = PreparedDictionary(D, dtype=torch.float64, gram_bytes_limit=0)
    assert with_gram.gram is not None and without_gram.gram is None
    a = nonnegative_lasso(Z, with_gram, 0.05, tol=1e-9).codes.toarray()
    b = nonnegative_lasso(Z, without_gram, 0.05, tol=1e-9).codes.toarray()
    np.testing.assert_allclose(a, b, atol=1e-7)


def test_dense_solutions_grow_the_working_set(centered_problem):
    Z, D = centered_problem
    result = nonnegative_lasso(Z, D, 0.02, dtype=torch.float64, working_set_size=4)
    assert result.converged.all()
    assert result.codes.getnnz(axis=1).max() > 4


@pytest.mark.parametrize("solver", SOLVERS)
def test_zero_rows_and_zero_penalty(solver):
    rng = np.random.default_rng(0)
    D = rng.standard_normal((12, 16))
    Z = rng.standard_normal((3, 16))
    Z[1] = 0.0
    result = nonnegative_lasso(Z, D, 0.0, dtype=torch.float64, tol=1e-10, solver=solver)
    codes = result.codes.toarray()
    assert (codes[1] == 0).all()
    # Nonnegative least squares: KKT says D r <= 0 at the optimum.
    residual = Z - codes @ D
    assert (residual @ D.T).max() <= 1e-6


@pytest.mark.parametrize("solver", SOLVERS)
def test_penalty_above_max_correlation_gives_zero(centered_problem, solver):
    Z, D = centered_problem
    result = nonnegative_lasso(Z, D, float((Z @ D.T).max()) + 1e-3, solver=solver)
    assert result.codes.nnz == 0
    assert sp.isspmatrix_csr(result.codes)


@pytest.mark.parametrize("solver", SOLVERS)
def test_unconverged_rows_warn(centered_problem, solver):
    Z, D = centered_problem
    with pytest.warns(ConvergenceWarning, match="did not reach"):
        result = nonnegative_lasso(Z, D, 0.01, max_iter=1, tol=1e-12, solver=solver)
    assert not result.converged.all()


def test_bad_arguments():
    D = np.eye(3)
    with pytest.raises(ValueError, match="l1_penalty must be >= 0"):
        nonnegative_lasso(np.ones((2, 3)), D, -0.1)
    with pytest.raises(ValueError, match="same number of columns"):
        nonnegative_lasso(np.ones((2, 4)), D, 0.1)
    with pytest.raises(ValueError, match="no rows"):
        nonnegative_lasso(np.ones((0, 3)), D, 0.1)


@pytest.mark.parametrize("solver", SOLVERS)
def test_parallel_batches_on_cpu_threads_match_one_thread(solver):
    """With several torch threads, batches run on a thread pool (one intra-op
    thread each): the same codes as the same batches on one thread, and the
    caller's thread counts (torch's and NumPy's BLAS) come back.

    Both runs cut 600 rows into 6 batches of 100: matrix products round
    differently with their shapes, so other batch sizes agree to working
    precision only (``test_rows_are_independent_of_batching``)."""
    rng = check_random_state(0)
    D = _coherent_dictionary(rng, 300, 64, 0.5, 30)
    Z = rng.standard_normal((600, 64))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    previous = torch.get_num_threads()
    blas_threads = [info["num_threads"] for info in threadpool_info()]
    try:
        torch.set_num_threads(1)
        serial = nonnegative_lasso(Z, D, 0.05, batch_size=100, solver=solver)
        torch.set_num_threads(2)
        pooled = nonnegative_lasso(Z, D, 0.05, batch_size=100, solver=solver)
        assert torch.get_num_threads() == 2
        with pytest.raises(ValueError):
            nonnegative_lasso(Z, D, -1.0, batch_size=100)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
    assert [info["num_threads"] for info in threadpool_info()] == blas_threads
    np.testing.assert_array_equal(pooled.codes.toarray(), serial.codes.toarray())


@pytest.mark.parametrize("solver", SOLVERS)
def test_supports_near_the_dimension_converge(dense_centered_problem, solver):
    """About 220 active atoms in 256 dimensions: G_FF is ill-conditioned. The
    working-set solver's clipped Newton steps fail there and feasible steps
    on the support's face keep every row converging (before them, 7 of these
    20 rows ran out of max_iter); the active-set solver's updated factors
    stay accurate."""
    Z, D = dense_centered_problem
    ours = nonnegative_lasso(Z, D, 0.003, dtype=torch.float64, solver=solver)
    assert ours.converged.all() and ours.duality_gap.max() <= 1e-6
    assert ours.codes.getnnz(axis=1).min() > 200
    ours_objective = nonnegative_lasso_objective(Z, D, ours.codes, 0.003)
    reference_objective = sklearn_objective(Z, D, 0.003)
    assert ((ours_objective - reference_objective) / reference_objective).max() <= 1e-4


def test_solvers_agree(centered_problem):
    Z, D = centered_problem
    codes = [
        nonnegative_lasso(
            Z, D, 0.05, dtype=torch.float64, tol=1e-10, solver=solver
        ).codes.toarray()
        for solver in SOLVERS
    ]
    np.testing.assert_allclose(codes[0], codes[1], atol=1e-7)


def test_auto_picks_the_active_set_solver_on_cpu_with_a_gram_matrix(
    centered_problem, monkeypatch
):
    Z, D = centered_problem
    used = []
    for name in ("_active_set_batch", "_working_set_batch"):
        original = getattr(solvers, name)

        def spy(*args, _original=original, _name=name):
            used.append(_name)
            return _original(*args)

        monkeypatch.setattr(solvers, name, spy)
    nonnegative_lasso(Z, D, 0.05)
    nonnegative_lasso(Z, PreparedDictionary(D, gram_bytes_limit=0), 0.05)
    assert used == ["_active_set_batch", "_working_set_batch"]


def test_solver_choice_errors(centered_problem):
    Z, D = centered_problem
    with pytest.raises(ValueError, match="solver must be one of"):
        nonnegative_lasso(Z, D, 0.05, solver="lars")
    with pytest.raises(ValueError, match="needs the Gram matrix"):
        nonnegative_lasso(
            Z, PreparedDictionary(D, gram_bytes_limit=0), 0.05, solver="active_set"
        )
    on_gpu = PreparedDictionary(D)
    on_gpu.atoms = torch.empty(D.shape, device="meta")  # a device that is not CPU
    with pytest.raises(ValueError, match="runs on the CPU"):
        nonnegative_lasso(Z, on_gpu, 0.05, solver="active_set")


@pytest.mark.parametrize("solver", SOLVERS)
def test_path_matches_a_solve_per_penalty(dense_centered_problem, solver):
    Z, D = dense_centered_problem
    penalties = [0.1, 0.03, 0.01]
    options = {"dtype": torch.float64, "tol": 1e-8, "solver": solver}
    path = solvers.nonnegative_lasso_path(Z, D, penalties, **options)
    assert len(path) == len(penalties)
    for l1_penalty, result in zip(penalties, path, strict=True):
        single = nonnegative_lasso(Z, D, l1_penalty, **options)
        ours = nonnegative_lasso_objective(Z, D, result.codes, l1_penalty)
        reference = nonnegative_lasso_objective(Z, D, single.codes, l1_penalty)
        assert (np.abs(ours - reference) / reference).max() <= 1e-6
        assert result.converged.all() and result.duality_gap.max() <= 1e-8
        assert result.codes.shape == (len(Z), len(D))
    l0 = [result.codes.getnnz(axis=1).mean() for result in path]
    assert l0[0] < l0[1] < l0[2]


@pytest.mark.parametrize(
    "penalties", [[0.01, 0.1], [0.1, 0.1], [0.1, -0.01], [], [0.1, np.nan]]
)
def test_path_rejects_penalties_out_of_order_or_range(centered_problem, penalties):
    Z, D = centered_problem
    with pytest.raises(ValueError, match="strictly decreasing"):
        solvers.nonnegative_lasso_path(Z, D, penalties)


def test_path_warns_per_penalty_that_did_not_converge(dense_centered_problem):
    Z, D = dense_centered_problem
    with pytest.warns(ConvergenceWarning, match="at l1_penalty=0.005") as record:
        solvers.nonnegative_lasso_path(Z, D, [0.5, 0.005], max_iter=5)
    assert len(record) == 1  # the sparse end converges within 5 iterations
