"""Nonnegative lasso solvers: the entry points, batching and solver choice.

Each row ``z`` of ``X`` is decomposed over the rows of a dictionary ``D``
(``n_atoms x n_features``) by solving::

    min_{w >= 0}  0.5 * ||D.T @ w - z||^2 + l1_penalty * sum(w)

:func:`nonnegative_lasso` batches the rows, runs the batches in parallel on
CPU threads, and hands each batch to one of two solvers: the compiled
active-set solver of :mod:`._active_set` (CPU; the default there) or the
working-set solver of :mod:`._working_set`, written in PyTorch so that the
same code runs on CPU and CUDA (the default on CUDA).

Nothing here knows about scikit-learn; the functions are usable (and
benchmarked) on their own.
"""

import math
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from ._progress import progress_bar

# _working_set_batch is looked up here at call time (tests spy on it here);
# _kkt_tolerance is shared by both solvers.
from ._working_set import _kkt_tolerance, _working_set_batch

__all__ = [
    "NonnegativeLassoResult",
    "PreparedDictionary",
    "nonnegative_lasso",
    "nonnegative_lasso_objective",
    "nonnegative_lasso_path",
]

# A Gram matrix larger than this is not precomputed; working-set blocks are
# then computed from the dictionary rows instead (slower, bounded memory).
# 2 GiB holds the float32 Gram of a 23,000-concept vocabulary.
_GRAM_BYTES_LIMIT = 2 * 1024**3
_MIN_WORKING_SET = 32


@dataclass
class NonnegativeLassoResult:
    """Codes and convergence facts returned by :func:`nonnegative_lasso`.

    Attributes
    ----------
    codes : scipy.sparse.csr_matrix of shape (n_samples, n_atoms)
        The nonnegative solutions.
    duality_gap : ndarray of shape (n_samples,)
        Relative duality gap ``(primal - dual) / primal`` of each row at exit.
    n_iter : ndarray of shape (n_samples,)
        Iterations spent on each row: Lawson-Hanson iterations (an atom
        entering, with any it pushes out) for the active-set solver,
        projected-gradient iterations for the working-set solver
        (Newton steps are not counted).
    converged : ndarray of bool of shape (n_samples,)
        Whether the row's gap reached ``tol``, or no atom outside its working
        set violates the optimality conditions (optimal to working precision).
    """

    codes: sp.csr_matrix
    duality_gap: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray


def nonnegative_lasso_objective(X, dictionary, codes, l1_penalty):
    """Per-row objective ``0.5 * ||codes @ D - X||^2 + l1_penalty * sum(codes)``."""
    codes = sp.csr_matrix(codes) if not sp.issparse(codes) else codes.tocsr()
    X = np.asarray(X, dtype=np.float64)
    residual = codes @ np.asarray(dictionary, dtype=np.float64) - X
    return (
        0.5 * np.einsum("ij,ij->i", residual, residual)
        + l1_penalty * np.asarray(codes.sum(axis=1)).ravel()
    )


class PreparedDictionary:
    """Dictionary rows on a device, with their Gram matrix when it fits.

    Building it costs one ``n_atoms x n_atoms x n_features`` product; keep it
    and pass it to :func:`nonnegative_lasso` to decompose many batches over
    the same dictionary.

    Parameters
    ----------
    dictionary : array-like or torch.Tensor of shape (n_atoms, n_features)
    device : str or torch.device, default="cpu"
    dtype : torch.dtype, default=torch.float32
    gram_bytes_limit : int, default=2 GiB
        Precompute the Gram matrix only when it fits in this many bytes;
        otherwise working-set blocks are computed from the atoms.
    """

    def __init__(
        self,
        dictionary,
        device="cpu",
        dtype=torch.float32,
        gram_bytes_limit=_GRAM_BYTES_LIMIT,
    ):
        atoms = torch.as_tensor(dictionary).to(device=torch.device(device), dtype=dtype)
        if atoms.ndim != 2:
            raise ValueError(f"dictionary must be 2-D, got shape {tuple(atoms.shape)}.")
        self.atoms = atoms
        self._float64_atoms = None
        n_atoms = atoms.shape[0]
        self.gram = None
        if n_atoms * n_atoms * atoms.element_size() <= gram_bytes_limit:
            with torch.no_grad():
                self.gram = atoms @ atoms.T

    @property
    def device(self):
        return self.atoms.device

    @property
    def dtype(self):
        return self.atoms.dtype

    def float64_atoms(self):
        """The atoms as a float64 NumPy array (CPU only), made on first use."""
        if self._float64_atoms is None:
            self._float64_atoms = self.atoms.double().numpy()
        return self._float64_atoms

    def gram_block(self, working_set):
        """Gram matrices ``D_S @ D_S.T`` of shape (B, K, K) for index sets (B, K)."""
        if self.gram is not None:
            return self.gram[working_set[:, :, None], working_set[:, None, :]]
        atoms = self.atoms[working_set]  # (B, K, n_features)
        return atoms @ atoms.transpose(1, 2)


def _batch_workers(device, n_samples):
    """Batches solved at once: one per torch thread on CPU, else one."""
    if device.type != "cpu":
        return 1
    # Below a few hundred rows per batch the per-operation overhead wins.
    return max(1, min(torch.get_num_threads(), n_samples // 256))


_THREAD_COUNT_LOCK = threading.Lock()


@contextmanager
def _cpu_batch_parallelism(device, n_workers):
    """Yield a ``map`` that solves batches on ``n_workers`` threads.

    The solver runs thousands of small operations per batch. Spread over
    torch's intra-op threads, each pays a fork-join, and on a busy machine
    every join waits for a descheduled thread (measured 10-15x slower on 2
    shared cores). Instead, each worker solves its own batch with one
    intra-op thread (torch releases the GIL inside operations), and NumPy's
    BLAS (the active-set solver's correlations) runs one thread per worker
    too. Thread counts are process-wide, so they are restored on exit.
    """
    if device.type != "cpu":
        yield map
        return
    # Concurrent calls from several Python threads take turns: each would
    # otherwise save another's temporary count of 1 and "restore" it.
    # NumPy's BLAS runs one thread even for a single worker: its threaded
    # products round differently, and a row's codes would then depend on
    # the thread count.
    with _THREAD_COUNT_LOCK, threadpool_limits(limits=1, user_api="blas"):
        if torch.get_num_threads() == 1:
            yield map
            return
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            if n_workers == 1:  # too few rows to share: one batch, one thread
                yield map
            else:
                with ThreadPoolExecutor(n_workers) as executor:
                    yield executor.map
        finally:
            torch.set_num_threads(previous)


def _active_set_batch(z, dictionary, l1_penalties, tol, max_iter, working_set_size):
    """One batch through the compiled active-set solver: COO parts per penalty.

    The penalties (decreasing) are solved in turn, each warm-started from the
    previous one's solution.
    """
    from . import _active_set

    solutions = _active_set.active_set_lasso_path(
        z.numpy(),
        dictionary.atoms.numpy(),
        dictionary.gram.numpy(),
        l1_penalties,
        kkt_tol=[_kkt_tolerance(tol, penalty, z.dtype) for penalty in l1_penalties],
        max_iter=max_iter,
        working_set_size=working_set_size,
        atoms64=dictionary.float64_atoms(),
    )
    parts = []
    for indptr, cols, vals, gap, n_iter, status in solutions:
        rows = np.repeat(np.arange(len(gap)), np.diff(indptr))
        # A row whose optimality conditions hold to the working precision is
        # optimal even where float32 rounding keeps its measured gap above tol.
        converged = (status == _active_set.CONVERGED) | (gap <= tol)
        parts.append((rows, cols, vals, gap, n_iter, converged))
    return parts


SOLVERS = ("auto", "active_set", "working_set")


def _resolve_solver(solver, dictionary):
    """``"auto"``: the compiled active-set solver on CPU, else the PyTorch one."""
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}.")
    on_cpu = dictionary.device.type == "cpu"
    if solver == "auto":
        return "active_set" if on_cpu and dictionary.gram is not None else "working_set"
    if solver == "active_set" and not on_cpu:
        raise ValueError(
            "solver='active_set' runs on the CPU; use solver='working_set' (or "
            f"'auto') on device {dictionary.device}."
        )
    if solver == "active_set" and dictionary.gram is None:
        raise ValueError(
            "solver='active_set' needs the Gram matrix, which exceeds "
            "gram_bytes_limit for this dictionary; use solver='working_set'."
        )
    return solver


def nonnegative_lasso(
    X,
    dictionary,
    l1_penalty,
    *,
    solver="auto",
    tol=1e-6,
    max_iter=1000,
    working_set_size=_MIN_WORKING_SET,
    batch_size=2048,
    device="cpu",
    dtype=torch.float32,
    progress=False,
):
    """Solve ``min_{w>=0} 0.5||D.T w - z||^2 + l1_penalty * sum(w)`` for each row ``z``.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        Rows to decompose.
    dictionary : array-like, torch.Tensor or PreparedDictionary
        Atoms, shape (n_atoms, n_features); rows need not be normalised. A
        :class:`PreparedDictionary` is used as is (its device and dtype win).
    l1_penalty : float
        Weight of the L1 term, >= 0.
    solver : {"auto", "active_set", "working_set"}, default="auto"
        ``"active_set"``: the compiled Lawson-Hanson active-set solver of
        :mod:`._active_set` (CPU only; needs the Gram matrix), exact on each
        support through updated Cholesky factors. ``"working_set"``: the
        batched PyTorch solver of :mod:`._working_set` (CPU or CUDA).
        ``"auto"`` picks the active-set solver on CPU when the Gram matrix is
        precomputed, the working-set solver otherwise.
    tol : float, default=1e-6
        Stop a row when its relative duality gap ``(primal - dual) / primal``
        on the full problem is at most ``tol``; its objective is then within
        ``tol`` (relative) of the optimum. Both solvers stop once no atom
        violates the optimality conditions by more than
        ``max(tol * l1_penalty, 100 * eps)``, which bounds the gap by about
        ``tol``. In float32 the measured gap of a near-optimal row can stay
        above a small ``tol`` through rounding alone; such a row is accepted
        because its optimality conditions hold to working precision, and
        ``duality_gap`` reports its measured (loose) gap. Use float64 for a
        certificate below ~1e-4.
    max_iter : int, default=1000
        Most iterations per row: Lawson-Hanson iterations (an atom entering
        the support, with any it pushes out) for ``"active_set"``,
        projected-gradient iterations for ``"working_set"``. Rows that hit it
        are returned with their gap and a
        :class:`~sklearn.exceptions.ConvergenceWarning`.
    working_set_size : int, default=32
        Initial number of candidate atoms per row. A row that needs another
        round keeps its support and adds its worst KKT violators, up to
        ``max(support size, working_set_size)`` of them; sizes are per row.
    batch_size : int, default=2048
        Most rows solved together; bounds memory at about
        ``batch_size * (n_atoms + working_set_size**2)`` numbers per batch in
        flight. On CPU, rows are split into equal batches solved in parallel,
        one per torch thread (``torch.get_num_threads()``), each on one
        intra-op thread: the process-wide thread count is set to 1 for the
        call and restored afterwards.
    device : str or torch.device, default="cpu"
        Where to compute.
    dtype : torch.dtype, default=torch.float32
        Working precision of the data. The active-set solver keeps its
        factors and weights in float64 either way.
    progress : bool or "auto", default=False
        Show a progress bar over batches.

    Returns
    -------
    result : NonnegativeLassoResult
        Codes as CSR plus per-row gaps, iterations and convergence flags.
    """
    if l1_penalty < 0:
        raise ValueError(f"l1_penalty must be >= 0, got {l1_penalty}.")
    (result,) = _solve_penalties(
        X,
        dictionary,
        [float(l1_penalty)],
        solver=solver,
        tol=tol,
        max_iter=max_iter,
        working_set_size=working_set_size,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        progress=progress,
    )
    return result


def nonnegative_lasso_path(
    X,
    dictionary,
    l1_penalties,
    *,
    solver="auto",
    tol=1e-6,
    max_iter=1000,
    working_set_size=_MIN_WORKING_SET,
    batch_size=2048,
    device="cpu",
    dtype=torch.float32,
    progress=False,
):
    """:func:`nonnegative_lasso` for several penalties, with warm starts.

    The active-set solver solves each row's penalties from the largest down,
    each from the previous solution (its support, Cholesky factor and
    weights), so a sweep costs little more than its densest penalty alone.
    The working-set solver solves each penalty from scratch.

    Parameters
    ----------
    X, dictionary
        As for :func:`nonnegative_lasso`.
    l1_penalties : sequence of float
        Nonnegative and strictly decreasing.
    solver, tol, max_iter, working_set_size, batch_size, device, dtype, progress
        As for :func:`nonnegative_lasso`; ``max_iter`` counts per penalty.

    Returns
    -------
    results : list of NonnegativeLassoResult
        One per penalty, in the order of ``l1_penalties``.
    """
    penalties = [float(penalty) for penalty in np.asarray(l1_penalties).reshape(-1)]
    if (
        not penalties
        or not np.isfinite(penalties).all()
        or min(penalties) < 0
        or (np.diff(penalties) >= 0).any()
    ):
        raise ValueError(
            "l1_penalties must be finite, nonnegative and strictly decreasing, got "
            f"{penalties}."
        )
    return _solve_penalties(
        X,
        dictionary,
        penalties,
        solver=solver,
        tol=tol,
        max_iter=max_iter,
        working_set_size=working_set_size,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        progress=progress,
    )


def _solve_penalties(
    X,
    dictionary,
    penalties,
    *,
    solver,
    tol,
    max_iter,
    working_set_size,
    batch_size,
    device,
    dtype,
    progress,
):
    """Batches, threads and results shared by the two entry points."""
    if not isinstance(dictionary, PreparedDictionary):
        dictionary = PreparedDictionary(dictionary, device=device, dtype=dtype)
    device, dtype = dictionary.device, dictionary.dtype
    solver = _resolve_solver(solver, dictionary)
    X = torch.as_tensor(X).to(device=device, dtype=dtype)
    n_atoms = dictionary.atoms.shape[0]
    if X.ndim != 2 or X.shape[1] != dictionary.atoms.shape[1]:
        raise ValueError(
            f"X of shape {tuple(X.shape)} and dictionary of shape "
            f"{tuple(dictionary.atoms.shape)} must be 2-D with the same number of "
            "columns."
        )
    n_samples = X.shape[0]
    if n_samples == 0:
        raise ValueError("X has no rows to decompose.")

    solve_batch = _active_set_batch if solver == "active_set" else _working_set_batch
    n_workers = _batch_workers(device, n_samples)
    # Equal batches, as many as a multiple of the workers, none above batch_size.
    n_batches = math.ceil(math.ceil(n_samples / batch_size) / n_workers) * n_workers
    batch_size = math.ceil(n_samples / n_batches)
    starts = range(0, n_samples, batch_size)

    def solve(start):
        with torch.no_grad():
            return solve_batch(
                X[start : start + batch_size],
                dictionary,
                penalties,
                tol,
                max_iter,
                working_set_size,
            )

    # parts[k]: per penalty, lists of rows, cols, vals, gaps, iterations, flags.
    parts = [tuple([] for _ in range(6)) for _ in penalties]
    with _cpu_batch_parallelism(device, n_workers) as map_batches:
        solved = map_batches(solve, starts)
        for start, solutions in zip(
            starts,
            progress_bar(
                solved,
                progress=progress,
                total=len(starts),
                desc="decomposing",
                unit="batch",
            ),
            strict=True,
        ):
            for collected, solution in zip(parts, solutions, strict=True):
                part_rows, *rest = solution
                collected[0].append(part_rows + start)
                for into, value in zip(collected[1:], rest, strict=True):
                    into.append(value)

    numpy_dtype = np.dtype(str(dtype).replace("torch.", ""))
    results = []
    for penalty, (rows, cols, vals, gaps, iterations, converged) in zip(
        penalties, parts, strict=True
    ):
        codes = sp.csr_matrix(
            (
                np.concatenate(vals).astype(numpy_dtype, copy=False),
                (np.concatenate(rows), np.concatenate(cols)),
            ),
            shape=(n_samples, n_atoms),
        )
        gap = np.concatenate(gaps).astype(np.float64)
        converged = np.concatenate(converged)
        if not converged.all():
            warnings.warn(
                f"{int((~converged).sum())} of {n_samples} rows did not reach the "
                f"relative duality gap tol={tol} within max_iter={max_iter} "
                f"iterations at l1_penalty={penalty:g} (worst gap "
                f"{gap[~converged].max():.2e}). Raise max_iter or tol.",
                ConvergenceWarning,
                stacklevel=3,
            )
        results.append(
            NonnegativeLassoResult(
                codes=codes,
                duality_gap=gap,
                n_iter=np.concatenate(iterations).astype(np.int64),
                converged=converged,
            )
        )
    return results
