"""Compiled active-set solver for the nonnegative lasso on CPU (numba).

Each row ``z`` is decomposed over the atoms ``D`` (rows) by solving::

    min_{w >= 0}  0.5 * ||D.T @ w - z||^2 + l1_penalty * sum(w)

With the Gram matrix ``G = D D^T`` and the correlations ``c = D z`` this is
``min_{w >= 0} 0.5 w.G.w - b.w`` plus a constant, where ``b = c - l1_penalty``.
Solutions have tens of nonzeros among thousands of atoms, so the work per
row should grow with the support, not with the vocabulary:

* **Lawson-Hanson active set.** The support is solved exactly through a
  Cholesky factor of ``G_AA`` that is updated, never recomputed: an atom
  enters with one triangular solve and leaves with a rank-one update, both
  quadratic in the support. The atom with the most negative gradient enters;
  when the new minimiser is infeasible the step stops at the boundary and
  the atoms that reach zero leave. The objective falls at every step.
* **Working sets.** Picking the entering atom needs every atom's gradient,
  ``n_atoms * support`` operations each time. The gradient is instead kept
  for a working set of candidates, from Gram entries cached per support
  atom, and the full gradient is computed once per round; its violators
  join the working set for the next round.
* **Stopping rule.** A row is done when no atom's gradient is below
  ``-kkt_tol``, the optimality conditions of the full problem (the support's
  own conditions hold exactly after each solve). Its duality gap is then
  computed and reported.

Atoms that are nearly linear combinations of the support (supports close to
the embedding's dimension) take a *ray step* instead of entering: along
``e_a - G_AA^{-1} G_Aa`` the residual barely moves while the penalty term
falls, so the step runs until a support atom reaches zero and leaves; the
atom then enters a factor that is well conditioned again.

A row can be solved for several penalties, from the largest down, each
starting from the previous solution: ``G_AA`` and its factor do not depend on
the penalty, so the support, factor and weights carry over and only
``L^{-1} b_A`` is recomputed (see :func:`solve_rows`). Lawson-Hanson accepts
any feasible start, and a solution at a larger penalty is one.

Factors, weights and gradients are float64 whatever the input dtype: the
support's system is small, and float64 keeps an updated factor accurate over
hundreds of updates. Rows are independent; a call solves a block of rows with
the GIL released, so a thread pool solves blocks in parallel. The compiled
code has one signature per data dtype, compiled on first use of that dtype
(:func:`_ensure_compiled`).

Nothing here knows about scikit-learn or torch.
"""

import logging
import threading
from collections import namedtuple

import numpy as np
from llvmlite import ir
from llvmlite.binding import llvm_version_info
from numba import from_dtype, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# Reassociation lets LLVM vectorise the dot products and axpys. NaN and
# infinity keep their meaning: the callers reject non-finite input, and a
# numerical breakdown must stay visible rather than be optimised away.
_JIT = {
    "nogil": True,
    "cache": True,
    "fastmath": {"reassoc", "contract", "nsz", "arcp"},
    "error_model": "numpy",
}
# A pivot below this fraction of the atom's squared norm means the atom is a
# linear combination of the support to working precision (G itself carries
# float32 rounding of ~1e-7 relative in the default precision).
_DEPENDENT_PIVOT = 1e-9

CONVERGED, MAX_ITER, BREAKDOWN = 0, 1, 2

logger = logging.getLogger("sklearn_audioconcepts")

Factorised = namedtuple(
    "Factorised", ["factor", "halfway", "weights", "trial", "column", "support"]
)
Factorised.__doc__ = """A row's support and its factorisation (one per thread).

``support[:size]`` holds the atoms in factor order, ``weights[:size]``
their weights, ``factor`` the lower Cholesky factor of ``G_AA`` and
``halfway`` ``L^{-1} b_A``; ``trial`` and ``column`` are scratch vectors
(a trial minimiser, ``L^{-1} G_Aa``).
"""
# The intrinsic is overloaded on the pointer type: opaque pointers (LLVM 15
# and later) name it ``.p0``, typed ``i8*`` pointers ``.p0i8``.
_PREFETCH_INTRINSIC = (
    "llvm.prefetch.p0" if llvm_version_info >= (15,) else "llvm.prefetch.p0i8"
)


@intrinsic
def _prefetch(typingctx, array, index):
    """Ask the CPU to start loading ``array[index]`` into cache (a hint only).

    LLVM's ``llvm.prefetch`` intrinsic, which numba does not expose. Used
    where the next loads are known ahead but scattered (a row of ``G`` at
    the working set's atoms), so that their cache misses overlap.
    """
    if not isinstance(array, types.Array) or array.ndim != 1:
        return None

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(
            context, builder, array_type, view, [args[1]], wraparound=False
        )
        byte_pointer = ir.IntType(8).as_pointer()
        int32 = ir.IntType(32)
        function_type = ir.FunctionType(
            ir.VoidType(), [byte_pointer, int32, int32, int32]
        )
        function = cgutils.get_or_insert_function(
            builder.module, function_type, _PREFETCH_INTRINSIC
        )
        # Read access, high temporal locality, data cache.
        builder.call(
            function,
            [builder.bitcast(pointer, byte_pointer), int32(0), int32(3), int32(1)],
        )
        return context.get_dummy_value()

    return types.void(array, index), codegen


@njit(**_JIT)
def _forward_solve(factor, size, rhs, out):
    """``out = L^{-1} rhs`` for the leading ``size x size`` block of ``L``."""
    for i in range(size):
        row = factor[i]
        acc = rhs[i]
        for j in range(i):
            acc -= row[j] * out[j]
        out[i] = acc / row[i]


@njit(**_JIT)
def _back_solve(factor, size, rhs, out):
    """``out = L^{-T} rhs``, by contiguous rows of ``L`` from the last."""
    for i in range(size):
        out[i] = rhs[i]
    for i in range(size - 1, -1, -1):
        row = factor[i]
        value = out[i] / row[i]
        out[i] = value
        for j in range(i):
            out[j] -= value * row[j]


@njit(**_JIT)
def _new_column(factor, size, gram_column, column, norm):
    """``column = L^{-1} G_Aa``; returns the pivot ``G_aa - ||column||^2``.

    The factor row an atom would get, and the squared distance of the atom
    from the span of the support (zero: it is a combination of the support).
    """
    _forward_solve(factor, size, gram_column, column)
    pivot = norm
    for q in range(size):
        pivot -= column[q] * column[q]
    return pivot


@njit(**_JIT)
def _cholesky_delete(factor, size, position):
    """Remove row and column ``position`` from a ``size x size`` lower factor.

    Rows below ``position`` lose that column, and their trailing block takes
    a rank-one update with it (Givens rotations: an update, so stable).
    """
    n_below = size - 1 - position
    spill = np.empty(n_below)
    for i in range(n_below):
        spill[i] = factor[position + 1 + i, position]
    for i in range(position, size - 1):
        source, target = factor[i + 1], factor[i]
        for j in range(position):
            target[j] = source[j]
        for j in range(position, i + 1):
            target[j] = source[j + 1]
    for j in range(n_below):
        row = position + j
        pivot = factor[row, row]
        radius = np.sqrt(pivot * pivot + spill[j] * spill[j])
        cosine, sine = radius / pivot, spill[j] / pivot
        factor[row, row] = radius
        for i in range(j + 1, n_below):
            updated = (factor[position + i, row] + sine * spill[i]) / cosine
            factor[position + i, row] = updated
            spill[i] = cosine * spill[i] - sine * updated


@njit(**_JIT)
def _add_rows(out, rows, selected, weights, size, columns):
    """``out[:columns] += sum_q weights[q] * rows[selected[q], :columns]``.

    Four rows per pass: ``out`` is read and written once per four rows, not
    once per row (1.7x faster on a full gradient with 45 support atoms).
    ``selected`` maps support positions to rows of ``rows`` (None: identity).
    """
    q = 0
    while q + 4 <= size:
        if selected is None:
            r0, r1, r2, r3 = rows[q], rows[q + 1], rows[q + 2], rows[q + 3]
        else:
            r0, r1 = rows[selected[q]], rows[selected[q + 1]]
            r2, r3 = rows[selected[q + 2]], rows[selected[q + 3]]
        w0, w1, w2, w3 = weights[q], weights[q + 1], weights[q + 2], weights[q + 3]
        for j in range(columns):
            out[j] += w0 * r0[j] + w1 * r1[j] + w2 * r2[j] + w3 * r3[j]
        q += 4
    while q < size:
        row = rows[q] if selected is None else rows[selected[q]]
        weight = weights[q]
        for j in range(columns):
            out[j] += weight * row[j]
        q += 1


@njit(**_JIT)
def _working_gradient(target, working_set, cached, weights, size, n_working, out):
    """``out = G[W, A] w_A - b_W`` from the cached Gram entries."""
    for t in range(n_working):
        out[t] = -target[working_set[t]]
    _add_rows(out, cached, None, weights, size, n_working)


@njit(**_JIT)
def _full_gradient(gram, target, support, weights, size, out):
    """``out = G[:, A] w_A - b`` over all atoms, from whole rows of ``G``."""
    for j in range(out.shape[0]):
        out[j] = -target[j]
    _add_rows(out, gram, support, weights, size, out.shape[0])


@njit(**_JIT)
def _kth_smallest(values, count, k):
    """The ``k``-th smallest (0-based) of ``values[:count]``, reordering them.

    Quickselect, hand-written: numba's ``np.partition`` costs tens of
    seconds of compilation.
    """
    low, high = 0, count - 1
    while low < high:
        pivot = values[(low + high) // 2]
        i, j = low, high
        while i <= j:
            while values[i] < pivot:
                i += 1
            while values[j] > pivot:
                j -= 1
            if i <= j:
                values[i], values[j] = values[j], values[i]
                i += 1
                j -= 1
        if k <= j:
            high = j
        elif k >= i:
            low = i
        else:
            break
    return values[k]


@njit(**_JIT)
def _insertion_sort(items, size):
    """Sort ``items[:size]`` ascending in place (a few dozen items)."""
    for i in range(1, size):
        item = items[i]
        j = i - 1
        while j >= 0 and items[j] > item:
            items[j + 1] = items[j]
            j -= 1
        items[j + 1] = item


@njit(**_JIT)
def _new_candidates(gradient, in_working_set, kkt_tol, most, chosen, values):
    """The ``most`` worst violators outside the working set, in atom order.

    The first round has hundreds of violators: a quickselect on their
    gradients finds the cut in linear time. Ascending atom order makes
    gathering their Gram entries walk memory forwards. Returns the number
    written to ``chosen``.
    """
    count = np.int64(0)
    for j in range(gradient.shape[0]):
        if gradient[j] < -kkt_tol and not in_working_set[j]:
            chosen[count] = j
            values[count] = gradient[j]
            count += 1
    if count > most:
        cut = _kth_smallest(values, count, most - 1)
        # Strictly below the cut, then ties up to ``most`` (in atom order).
        kept = np.int64(0)
        for u in range(count):
            if gradient[chosen[u]] < cut:
                chosen[kept] = chosen[u]
                kept += 1
        for u in range(count):
            if kept == most:
                break
            if gradient[chosen[u]] == cut:
                chosen[kept] = chosen[u]
                kept += 1
        count = kept
        _insertion_sort(chosen, count)
    return count


@njit(**_JIT)
def _append(
    gram, atom, size, factorised, target, cached, working_set, n_working, pivot
):
    """Append ``atom`` to the support: factor row ``[column, sqrt(pivot)]``."""
    factor, halfway, _, _, column, support = factorised
    root = np.sqrt(pivot)
    for q in range(size):
        factor[size, q] = column[q]
    factor[size, size] = root
    acc = target[atom]
    for q in range(size):
        acc -= column[q] * halfway[q]
    halfway[size] = acc / root
    support[size] = atom
    entries, row = cached[size], gram[atom]
    for t in range(n_working):
        entries[t] = row[working_set[t]]
    return size + 1


@njit(**_JIT)
def _drop_zeros(factorised, size, cached, n_working, target):
    """Remove support atoms whose weight is zero; returns the new size.

    Overwrites the scratch vector ``trial``.
    """
    factor, halfway, weights, trial, _, support = factorised
    q = size - 1
    removed = False
    while q >= 0:
        if weights[q] <= 0.0:
            _cholesky_delete(factor, size, q)
            for p in range(q, size - 1):
                support[p] = support[p + 1]
                weights[p] = weights[p + 1]
                source, target_row = cached[p + 1], cached[p]
                for t in range(n_working):
                    target_row[t] = source[t]
            size -= 1
            removed = True
        q -= 1
    if removed:
        for i in range(size):
            trial[i] = target[support[i]]
        _forward_solve(factor, size, trial, halfway)
    return size


@njit(**_JIT)
def _settle(factorised, size, cached, n_working, target):
    """Lawson-Hanson inner loop: reach the minimiser on the support.

    From a feasible point, move toward the unconstrained minimiser on the
    support; where that leaves the feasible set, stop at the boundary, drop
    the atoms that reach zero and repeat. Returns the new size.
    """
    factor, halfway, weights, trial, _, _ = factorised
    while size > 0:
        _back_solve(factor, size, halfway, trial)
        fraction, blocking = 1.0, -1
        for q in range(size):
            if trial[q] <= 0.0:
                ratio = weights[q] / (weights[q] - trial[q])
                if blocking < 0 or ratio < fraction:
                    fraction, blocking = ratio, q
        if blocking < 0:
            for q in range(size):
                weights[q] = trial[q]
            break
        for q in range(size):
            weights[q] += fraction * (trial[q] - weights[q])
        weights[blocking] = 0.0
        size = _drop_zeros(factorised, size, cached, n_working, target)
    return size


@njit(**_JIT)
def _enter(gram, target, entering, size, n_working, factorised, cached, working_set):
    """One Lawson-Hanson step: atom ``working_set[entering]`` joins the support.

    From the minimiser on the support (where the entering atom's gradient is
    negative), move to the minimiser on the larger support, stepping back at
    the boundary as needed. Returns ``(size, ok)``; ``ok`` is False when a
    ray step finds no blocking atom (rounding only).
    """
    factor, _, weights, trial, column, support = factorised
    capacity = factor.shape[0]
    atom = working_set[entering]
    # The atom's Gram row is gathered at the working set once it joins the
    # support: start those scattered loads now, so that their cache misses
    # overlap each other and the triangular solve (7-10% faster overall).
    row = gram[atom]
    for t in range(n_working):
        _prefetch(row, working_set[t])
    # The cached entries give G[A, atom] without touching G.
    for q in range(size):
        trial[q] = cached[q, entering]
    norm = gram[atom, atom]
    pivot = _new_column(factor, size, trial, column, norm)
    start = 0.0
    if size >= capacity or pivot <= _DEPENDENT_PIVOT * norm:
        # Ray step along e_a - x, x = G_AA^{-1} G_Aa: the objective falls by
        # |g_a| per unit, so go until a support atom reaches zero.
        _back_solve(factor, size, column, trial)
        longest, blocking = np.inf, -1
        for q in range(size):
            if trial[q] > 0.0 and weights[q] < longest * trial[q]:
                longest, blocking = weights[q] / trial[q], q
        if blocking < 0:
            return size, False  # an unbounded descent: rounding only
        for q in range(size):
            weights[q] -= longest * trial[q]
        weights[blocking] = 0.0
        size = _drop_zeros(factorised, size, cached, n_working, target)
        for q in range(size):
            trial[q] = gram[support[q], atom]
        pivot = max(
            _new_column(factor, size, trial, column, norm), _DEPENDENT_PIVOT * norm
        )
        start = longest
    size = _append(
        gram, atom, size, factorised, target, cached, working_set, n_working, pivot
    )
    weights[size - 1] = start
    size = _settle(factorised, size, cached, n_working, target)
    return size, True


@njit(**_JIT)
def _lawson_hanson(
    gram,
    target,
    kkt_tol,
    max_iter,
    size,
    iterations,
    n_working,
    factorised,
    cached,
    working_set,
    working_gradient,
):
    """Lawson-Hanson iterations over the working set; returns size, iterations, status.

    The atom with the most negative gradient enters, one per step. (Taking
    several from one gradient refresh measured no faster, with tens or
    hundreds of active atoms: the triangular solves and factor updates of
    each step cost more than the refresh.)
    """
    weights = factorised.weights
    while iterations < max_iter:
        best, entering = -kkt_tol, np.int64(-1)
        for t in range(n_working):
            if working_gradient[t] < best:
                best, entering = working_gradient[t], t
        if entering < 0:
            return size, iterations, CONVERGED
        size, ok = _enter(
            gram, target, entering, size, n_working, factorised, cached, working_set
        )
        if not ok:
            return size, iterations, BREAKDOWN
        # One iteration per entering atom, with the atoms it pushes out: the
        # outer loop of Lawson and Hanson's method.
        iterations += 1
        _working_gradient(
            target, working_set, cached, weights, size, n_working, working_gradient
        )
    return size, iterations, MAX_ITER


@njit(**_JIT)
def _shrink_to_support(
    size,
    support,
    cached,
    spare,
    working_set,
    n_working,
    working_gradient,
    in_working_set,
    position,
    gradient,
):
    """Restart the working set from the support, keeping its cached entries.

    Candidates that did not enter leave; the next round's violators are
    found again by the full gradient. Keeps the per-step cost at
    ``support * (support + new)``. Writes the support's cache into ``spare``.
    """
    for q in range(size):
        source, target = cached[q], spare[q]
        for t in range(size):
            target[t] = source[position[support[t]]]
    for t in range(n_working):
        in_working_set[working_set[t]] = False
        position[working_set[t]] = -1
    for t in range(size):
        atom = support[t]
        working_set[t] = atom
        in_working_set[atom] = True
        position[atom] = t
        working_gradient[t] = gradient[atom]
    return size


@njit(**_JIT)
def _duality_gap(z, target, factorised, size, gradient, l1_penalty):
    """Relative gap ``(primal - dual) / primal`` at the solution on the support.

    The residual ``r = z - D_A^T w_A`` is never formed: at the minimiser on
    the support ``L^T w_A = L^{-1} b_A`` (``halfway``), so
    ``w.G.w = ||halfway||^2`` and ``||r||^2 = ||z||^2 - 2 c_A.w + w.G.w``,
    all accumulated in float64. The dual point rescales the residual so that
    no atom's correlation with it (``l1_penalty - gradient``) exceeds the
    penalty.
    """
    _, halfway, weights, _, _, support = factorised
    z_sq = 0.0
    for p in range(z.shape[0]):
        z_sq += np.float64(z[p]) * z[p]
    corr_dot_w = 0.0
    l1_norm = 0.0
    quadratic = 0.0
    for q in range(size):
        corr_dot_w += (target[support[q]] + l1_penalty) * weights[q]
        l1_norm += weights[q]
        quadratic += halfway[q] * halfway[q]
    residual_sq = max(z_sq - 2.0 * corr_dot_w + quadratic, 0.0)
    z_dot_residual = z_sq - corr_dot_w
    lowest = 0.0
    for j in range(gradient.shape[0]):
        lowest = min(lowest, gradient[j])
    max_correlation = l1_penalty - lowest
    scale = 1.0
    if max_correlation > l1_penalty:
        scale = l1_penalty / max_correlation
    primal = 0.5 * residual_sq + l1_penalty * l1_norm
    dual = scale * z_dot_residual - 0.5 * scale * scale * residual_sq
    return max(primal - dual, 0.0) / max(primal, 1e-300)


@njit(**_JIT)
def solve_rows(
    gram,
    corr,
    X,
    l1_penalties,
    kkt_tols,
    max_iter,
    working_set_size,
    out_atoms,
    out_weights,
    out_size,
    out_gap,
    out_iterations,
    out_status,
):
    """Solve every row of ``X`` (correlations ``corr = X @ atoms.T``) per penalty.

    ``l1_penalties`` must decrease. Row ``i``'s solution at penalty ``k`` is
    ``out_weights[k, i, :out_size[k, i]]`` on the atoms
    ``out_atoms[k, i, :out_size[k, i]]``. ``working_set_size`` atoms start
    each working set; each later round restarts it from the support and adds
    up to ``max(working_set_size, support size)`` violators.
    ``out_atoms.shape[2]`` bounds the support (``min(n_atoms, n_features)``
    holds any solution the method reaches: its supports are independent).

    **Warm starts.** A row's penalties are solved in turn, each from the
    previous one's solution: the support, its Cholesky factor and the cached
    Gram entries stay (``G_AA`` does not depend on the penalty), and the
    weights, feasible for any penalty, are the starting point. A smaller
    penalty raises ``b_A`` by the same amount on every atom, so only
    ``L^{-1} b_A`` is recomputed (one triangular solve); Lawson-Hanson's
    inner loop then moves to the minimiser on the support, dropping atoms
    that reach zero, and the outer loop adds the atoms the smaller penalty
    lets in. ``max_iter`` counts per penalty.

    Per-thread workspace: the :class:`Factorised` support,
    ``cached[q, t] = G[support[q], working_set[t]]``, the working set with
    its gradient, membership flags cleared after each row, and the full
    gradient of the last round.
    """
    n_rows, n_atoms = corr.shape
    n_penalties = l1_penalties.shape[0]
    capacity = out_atoms.shape[2]
    factor = np.empty((capacity, capacity))
    halfway = np.zeros(capacity)
    weights = np.zeros(capacity)
    trial = np.zeros(capacity)
    column = np.zeros(capacity)
    support = np.zeros(capacity, np.int64)
    factorised = Factorised(factor, halfway, weights, trial, column, support)
    cached = np.empty((capacity, n_atoms), gram.dtype)
    spare = np.empty_like(cached)
    position = np.full(n_atoms, -1, np.int64)
    working_set = np.zeros(n_atoms, np.int64)
    working_gradient = np.zeros(n_atoms)
    in_working_set = np.zeros(n_atoms, np.bool_)
    gradient = np.zeros(n_atoms)
    target = np.zeros(n_atoms)
    scratch = np.zeros(n_atoms, np.int64)
    values = np.empty(n_atoms)
    for i in range(n_rows):
        size, n_working = np.int64(0), np.int64(0)
        for k in range(n_penalties):
            l1_penalty, kkt_tol = l1_penalties[k], kkt_tols[k]
            for j in range(n_atoms):
                target[j] = corr[i, j] - l1_penalty
            if size > 0:
                # The previous penalty's solution, on the same factor.
                for q in range(size):
                    trial[q] = target[support[q]]
                _forward_solve(factor, size, trial, halfway)
                size = _settle(factorised, size, cached, n_working, target)
            _full_gradient(gram, target, support, weights, size, gradient)
            iterations = np.int64(0)
            most = working_set_size
            while True:
                if n_working > 0:
                    # Candidates that did not enter leave: the full gradient
                    # finds them again if they still violate, and each step's
                    # cost stays support * (support + new).
                    n_working = _shrink_to_support(
                        size,
                        support,
                        cached,
                        spare,
                        working_set,
                        n_working,
                        working_gradient,
                        in_working_set,
                        position,
                        gradient,
                    )
                    cached, spare = spare, cached
                n_new = _new_candidates(
                    gradient, in_working_set, kkt_tol, most, scratch, values
                )
                new = scratch[:n_new]
                if n_new == 0:
                    status = CONVERGED
                    break
                if iterations >= max_iter:
                    status = MAX_ITER
                    break
                for q in range(size):
                    row = gram[support[q]]
                    for u in range(new.shape[0]):
                        cached[q, n_working + u] = row[new[u]]
                for u in range(new.shape[0]):
                    working_set[n_working] = new[u]
                    in_working_set[new[u]] = True
                    position[new[u]] = n_working
                    working_gradient[n_working] = gradient[new[u]]
                    n_working += 1
                most = max(working_set_size, size)
                size, iterations, status = _lawson_hanson(
                    gram,
                    target,
                    kkt_tol,
                    max_iter,
                    size,
                    iterations,
                    n_working,
                    factorised,
                    cached,
                    working_set,
                    working_gradient,
                )
                _full_gradient(gram, target, support, weights, size, gradient)
                if status == BREAKDOWN:
                    break
            out_gap[k, i] = _duality_gap(
                X[i], target, factorised, size, gradient, l1_penalty
            )
            out_size[k, i] = size
            out_iterations[k, i] = iterations
            out_status[k, i] = status
            for q in range(size):
                out_atoms[k, i, q] = support[q]
                out_weights[k, i, q] = weights[q]
        for t in range(n_working):
            in_working_set[working_set[t]] = False
            position[working_set[t]] = -1


def _signature(dtype):
    """The one :func:`solve_rows` signature for data of ``dtype``."""
    data = types.Array(from_dtype(np.dtype(dtype)), 2, "C")
    vector, matrix = types.float64[::1], types.float64[:, ::1]
    per_row = types.Array(types.int64, 2, "C")
    return (
        data,
        matrix,
        data,
        vector,
        vector,
        types.int64,
        types.int64,
        types.Array(types.int32, 3, "C"),
        types.Array(types.float64, 3, "C"),
        per_row,
        matrix,
        per_row,
        per_row,
    )


def _in_disk_cache(signature):
    """Whether numba's on-disk cache holds :func:`solve_rows` for ``signature``.

    Reads numba's cache index the way ``Dispatcher.compile`` does before it
    compiles (private numba API: any failure counts as a miss, which only
    costs an unneeded message).
    """
    try:
        cache = solve_rows._cache
        key = cache._index_key(signature, solve_rows.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except Exception:  # noqa: BLE001 - a guess about a cache, never an error
        return False


_COMPILE_LOCK = threading.Lock()


def _ensure_compiled(dtype):
    """Compile (or load from numba's disk cache) :func:`solve_rows` for ``dtype``.

    Only the dtype in use is compiled. A compilation takes about 10 s of
    CPU time per dtype on an AMD EPYC core (longer on a busy machine) and
    happens once per environment, so it is announced once, at WARNING level
    through the package's logger (visible without any logging set-up, and
    not a Python warning: ``-W error`` runs are unaffected). The lock makes
    concurrent batches wait for one compilation instead of announcing it
    each.
    """
    signature = _signature(dtype)
    with _COMPILE_LOCK:
        if signature in solve_rows.overloads:
            return
        if not _in_disk_cache(signature):
            logger.warning(
                "Compiling the active-set solver for %s data: once per "
                "environment, about 10 s of CPU time (longer on a busy machine); "
                "numba then caches it on disk (%s).",
                np.dtype(dtype).name,
                solve_rows.stats.cache_path,
            )
        solve_rows.compile(signature)


def active_set_lasso_path(
    X, atoms, gram, l1_penalties, *, kkt_tol, max_iter, working_set_size, atoms64=None
):
    """Solve every row of ``X`` over ``atoms`` for each of ``l1_penalties``.

    Each row's penalties are solved from the largest down, each warm-started
    from the previous solution (see :func:`solve_rows`).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    atoms : ndarray of shape (n_atoms, n_features), same dtype as ``X``
    gram : ndarray of shape (n_atoms, n_atoms)
        ``atoms @ atoms.T``, C-contiguous.
    l1_penalties : sequence of float
        Nonnegative and strictly decreasing.
    kkt_tol : float or sequence of float
        A row is done when no atom's gradient is below ``-kkt_tol``; one
        value per penalty, or one for all.
    max_iter : int
        Most iterations (an atom entering, with any it pushes out) per row
        and penalty.
    working_set_size : int
        Candidates in a row's first working set, and the fewest added per
        later round.
    atoms64 : ndarray of shape (n_atoms, n_features), default=None
        ``atoms`` in float64, when the caller keeps such a copy.

    Returns
    -------
    solutions : list of tuple
        One per penalty: ``(indptr, indices, data, gap, n_iter, status)``,
        the codes as CSR parts (float64 data, indices sorted per row), each
        row's relative duality gap, its iterations and its ``CONVERGED``,
        ``MAX_ITER`` or ``BREAKDOWN`` status.
    """
    # Fresh writable copies: a read-only array is another type to numba.
    penalties = np.array(l1_penalties, dtype=np.float64).reshape(-1)
    if len(penalties) == 0 or (np.diff(penalties) >= 0).any() or penalties[-1] < 0:
        raise ValueError(
            "l1_penalties must be nonnegative and strictly decreasing, got "
            f"{penalties.tolist()}."
        )
    kkt_tols = np.array(
        np.broadcast_to(np.asarray(kkt_tol, np.float64), penalties.shape)
    )
    # One array type per dtype: numba compiles (for tens of seconds) anew for
    # every layout or read-only flag it sees.
    dtype = atoms.dtype
    X, gram = (np.require(a, dtype, ("C", "W")) for a in (X, gram))
    _ensure_compiled(dtype)
    # Correlations in float64 whatever the data's dtype. Rounded to float32,
    # they would carry errors that depend on the shape of the product (BLAS
    # blocks it differently), so a row's codes would change with the batch
    # it came in, by up to ~1e-6 on ill-conditioned supports; in float64 the
    # differences vanish when the codes are rounded to float32. It costs one
    # float64 product (about 10% of the solve).
    if atoms64 is None:
        atoms64 = atoms.astype(np.float64)
    corr = X.astype(np.float64) @ atoms64.T
    n_samples = X.shape[0]
    n_atoms, n_features = atoms.shape
    n_penalties = len(penalties)
    # Supports the method reaches are linearly independent (ray steps keep
    # them so), hence never larger than the dimension.
    capacity = min(n_atoms, n_features)
    support = np.empty((n_penalties, n_samples, capacity), np.int32)
    weights = np.empty((n_penalties, n_samples, capacity))
    size = np.empty((n_penalties, n_samples), np.int64)
    gap = np.empty((n_penalties, n_samples))
    n_iter = np.empty((n_penalties, n_samples), np.int64)
    status = np.empty((n_penalties, n_samples), np.int64)
    solve_rows(
        gram,
        corr,
        X,
        penalties,
        kkt_tols,
        int(max_iter),
        int(working_set_size),
        support,
        weights,
        size,
        gap,
        n_iter,
        status,
    )
    row_of = np.arange(n_samples)
    solutions = []
    for k in range(n_penalties):
        kept = np.arange(capacity) < size[k][:, None]
        indices, data = support[k][kept], weights[k][kept]
        indptr = np.concatenate([[0], np.cumsum(size[k])])
        # Each row's atoms in ascending order, as CSR consumers expect.
        order = np.lexsort((indices, np.repeat(row_of, size[k])))
        solutions.append(
            (indptr, indices[order], data[order], gap[k], n_iter[k], status[k])
        )
    return solutions


def active_set_lasso(
    X, atoms, gram, l1_penalty, *, kkt_tol, max_iter, working_set_size, atoms64=None
):
    """Solve every row of ``X`` over ``atoms`` with the compiled active-set method.

    :func:`active_set_lasso_path` with the one penalty ``l1_penalty``; same
    parameters and one tuple ``(indptr, indices, data, gap, n_iter, status)``.
    """
    (solution,) = active_set_lasso_path(
        X,
        atoms,
        gram,
        [l1_penalty],
        kkt_tol=kkt_tol,
        max_iter=max_iter,
        working_set_size=working_set_size,
        atoms64=atoms64,
    )
    return solution
