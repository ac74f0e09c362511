"""The batched PyTorch working-set solver for the nonnegative lasso (CPU/CUDA).

Each row ``z`` of ``X`` is decomposed over the rows of a dictionary ``D``
(``n_atoms x n_features``) by solving::

    min_{w >= 0}  0.5 * ||D.T @ w - z||^2 + l1_penalty * sum(w)

Written in PyTorch so that the same code runs on CPU and CUDA; it is the
default of :func:`._solvers.nonnegative_lasso` on CUDA, which batches the rows
and hands each batch to :func:`_working_set_batch`. The dictionary is a
:class:`._solvers.PreparedDictionary` (used through its ``atoms`` and
``gram_block``; this module does not import it).

The working-set solver exploits what concept decompositions look like: tens
of nonzeros among thousands of atoms. It is a *working-set* method:

1. Correlations ``D @ z`` for a whole batch of rows come from one matrix
   product; each row starts with a small working set of its best-correlated
   atoms.
2. On the working set (``K`` atoms, ``K << n_atoms``) the subproblem is solved
   with batched accelerated projected gradient (FISTA) on the gathered Gram
   matrix, which finds the support, then active-set Newton steps: the linear
   system on the support is solved exactly (batched Cholesky), which lands on
   the optimum to machine precision once the support is right.
3. The full problem's duality gap is computed for every row with one more
   matrix product. Rows whose relative gap is below ``tol`` are certified
   optimal and leave the batch; the others grow their working set with the
   atoms that most violate the optimality conditions and go round again.

The stopping rule is the duality gap of the *full* problem, so a returned row
is within ``tol`` (relative) of the true optimum whatever the iteration count.

Nothing here knows about scikit-learn; the functions are usable (and
benchmarked) on their own.
"""

import torch

# Most numbers held in Gram blocks at once. On CPU, blocks that stay in cache
# (16 MB in float32) measured fastest; a GPU wants large launches instead.
_GRAM_BLOCK_ELEMENTS = {"cpu": 4 * 1024**2, "cuda": 128 * 1024**2}
_GRADIENT_STEPS_PER_ROUND = 16
_MAX_STEPS_PER_WORKING_SET = 512
_NEWTON_STEPS = 3
# Working sets at least this large that were incomplete at the last check get
# only gradient steps in their next round (see _solve_chunk).
_EXACT_BELOW = 96
_ROUGH_STEPS = 32


def _gram_times(gram, vectors):
    """``G @ v`` for a batch of symmetric (K, K) blocks and (K,) vectors.

    Written as ``v.T @ G`` (equal by symmetry): PyTorch's CPU kernels run the
    row-vector form several times faster than a batched matrix-vector product.
    """
    return torch.matmul(vectors[:, None, :], gram)[:, 0, :]


def _relative_gap(z, residual, l1_norm, max_correlation, l1_penalty):
    """Relative duality gap ``(primal - dual) / primal`` for a batch of rows.

    The dual feasible point rescales the residual so that no atom's
    correlation with it exceeds the penalty (nonnegativity bounds correlations
    from above only): ``theta = s * r``, ``dual = 0.5||z||^2 - 0.5||z - theta||^2``.
    Evaluated in float64: primal and dual agree to many digits near the optimum
    and float32 would cancel them to noise.
    """
    z, residual = z.double(), residual.double()
    residual_sq = (residual * residual).sum(1)
    primal = 0.5 * residual_sq + l1_penalty * l1_norm.double()
    max_correlation = max_correlation.double()
    # Already feasible when no correlation exceeds the penalty; else shrink.
    scale = torch.where(
        max_correlation <= l1_penalty,
        1.0,
        l1_penalty / torch.clamp(max_correlation, min=1e-300),
    )
    # 0.5||z||^2 - 0.5||z - s r||^2, expanded to avoid (n, d) temporaries.
    dual = scale * (z * residual).sum(1) - 0.5 * scale**2 * residual_sq
    return torch.clamp(primal - dual, min=0.0) / torch.clamp(primal, min=1e-300)


def _subproblem_state(gram, corr, weights):
    """Gradient of the smooth part on the working set: ``G_S w - c_S``."""
    return _gram_times(gram, weights) - corr


def _lipschitz_constant(gram, n_iter=12, safety=1.05):
    """Largest eigenvalue of each (K, K) Gram block, by power iteration.

    Scaled by ``safety``, 1.05 by default. Power iteration approaches the
    eigenvalue from below, slowly when the top eigenvalues are close: on the
    solver's own blocks, 12 iterations gave between 0.78 and 1.0 of the true
    value (median 0.999, against ``eigvalsh``), so for a few rows a step of
    ``1 / L`` is longer than accelerated projected gradient is guaranteed to
    take. That costs those rows speed, never accuracy: Newton steps are kept
    only where they lower the objective, and every row is certified by the
    duality gap. A safety factor of 1.3 measured no faster on typical data
    and ran out of ``max_iter`` on a degenerate problem (more atoms than
    dimensions), where the gradient steps carry the solve.
    """
    n_atoms = gram.shape[1]
    # Not the all-ones start: centred atoms nearly sum to zero, so ones can
    # lie in the Gram block's null space (exactly, for two centred atoms),
    # and the estimate would collapse to zero and the step blow up.
    start = torch.linspace(1.0, 2.0, n_atoms, dtype=gram.dtype, device=gram.device)
    vector = start.expand(gram.shape[0], n_atoms)
    for _ in range(n_iter):
        vector = _gram_times(gram, vector)
        vector = vector / torch.clamp(vector.norm(dim=1, keepdim=True), min=1e-30)
    rayleigh = (vector * _gram_times(gram, vector)).sum(1)
    # The largest eigenvalue of a PSD matrix is at least its largest diagonal
    # entry (1 for unit atoms): a floor that keeps the step finite.
    largest_diagonal = torch.diagonal(gram, dim1=1, dim2=2).max(1).values
    floor = torch.clamp(largest_diagonal, min=torch.finfo(gram.dtype).tiny)
    return safety * torch.maximum(rayleigh, floor)


def _accelerated_projected_gradient(gram, corr, weights, l1_penalty, lipschitz, n_iter):
    """FISTA on the working set, all rows at once.

    Each iteration is one batched matrix-vector product whatever the working
    set's size, so the Python cost does not grow with it (coordinate descent
    would pay one step per coordinate). Its job here is to find the support;
    the active-set Newton steps then make the solution exact.
    """
    target = corr - l1_penalty
    step = (1.0 / lipschitz)[:, None]
    momentum_point, momentum = weights, 1.0
    for _ in range(n_iter):
        grad = _gram_times(gram, momentum_point) - target
        updated = torch.clamp(momentum_point - step * grad, min=0.0)
        next_momentum = (1.0 + (1.0 + 4.0 * momentum**2) ** 0.5) / 2.0
        momentum_point = updated + ((momentum - 1.0) / next_momentum) * (
            updated - weights
        )
        weights, momentum = updated, next_momentum
    return weights


def _masked_solve(gram, rhs, mask):
    """Solve ``G_FF x_F = rhs_F`` per row for the coordinates in ``mask``.

    Coordinates outside the mask get zero. Rows are grouped by the size of
    their free set and each group's free coordinates are gathered to the
    front, so a row pays for a Cholesky of its own size, not the working
    set's or the batch's largest (the cost is cubic in it). Returns the
    solution and whether the factorisation succeeded.
    """
    counts = mask.sum(1)
    # Round sizes up to a multiple of 8: few groups, little padding.
    sizes = torch.clamp((counts + 7) // 8 * 8, min=8, max=mask.shape[1])
    # Stable sort puts each row's free coordinates first, in their order.
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
    solution = torch.zeros_like(rhs)
    ok = torch.ones(mask.shape[0], dtype=torch.bool, device=mask.device)
    for size in torch.unique(sizes).tolist():
        rows = torch.nonzero(sizes == size).flatten()
        part_order = order[rows, :size]
        packed = gram[
            rows[:, None, None], part_order[:, :, None], part_order[:, None, :]
        ]
        packed_mask = torch.gather(mask[rows], 1, part_order).to(gram.dtype)
        packed_rhs = torch.gather(rhs[rows], 1, part_order) * packed_mask
        packed_solution, ok[rows] = _packed_solve(packed, packed_rhs, packed_mask)
        solution[rows[:, None], part_order] = packed_solution
    return solution, ok


def _packed_solve(packed, rhs, mask):
    """Batched Cholesky solve on the masked block (identity outside the mask)."""
    eye = torch.eye(packed.shape[1], dtype=packed.dtype, device=packed.device)
    free = mask > 0
    system = torch.where(free[:, :, None] & free[:, None, :], packed, eye)
    factor, info = torch.linalg.cholesky_ex(system)
    failed = info != 0
    if bool(failed.any()):
        # G_FF is singular when more atoms are free than the embedding has
        # dimensions: a tiny ridge keeps the step defined there (and only
        # there, since it biases the solution); the caller keeps the step
        # only if it lowers the objective.
        jitter = 100 * torch.finfo(packed.dtype).eps
        ridged = system[failed] + jitter * eye * mask[failed][:, None, :]
        factor[failed], info[failed] = torch.linalg.cholesky_ex(ridged)
    solution = torch.cholesky_solve(rhs[:, :, None], factor)[:, :, 0] * mask
    return solution, (info == 0) & torch.isfinite(solution).all(1)


def _active_set_newton(gram, corr, weights, l1_penalty, n_steps, face_steps=True):
    """Primal-dual active-set (semismooth Newton) steps for the working set.

    With ``b = c - l1_penalty`` and multipliers ``mu = G w - b``, each step
    takes the free set ``F = {j : w_j - mu_j > 0}`` and solves
    ``G_FF w_F = b_F`` exactly. A fixed point of this map satisfies the KKT
    conditions, and from a projected-gradient warm start it is typically
    reached in two or three steps. Steps are clipped to be feasible and kept
    only where they lower the objective; rows where they do not (singular or
    ill-conditioned ``G_FF``, cycling) take a feasible step on the face of
    their support instead (:func:`_face_step`) when ``face_steps``, or keep
    their iterate and continue with projected gradient.
    """
    weights = weights.clone()
    # Rows whose free set did not change are at their fixed point already, so
    # each step narrows the batch to the rows still moving.
    rows = torch.arange(weights.shape[0], device=weights.device)
    sub_gram, sub_target = gram, corr - l1_penalty
    previous_free = None
    for _ in range(n_steps):
        sub_weights = weights[rows]
        multipliers = _gram_times(sub_gram, sub_weights) - sub_target
        free = (sub_weights - multipliers) > 0
        if previous_free is not None:
            changed = (free != previous_free).any(1)
            if not bool(changed.any()):
                break
            rows, free, sub_weights = rows[changed], free[changed], sub_weights[changed]
            sub_gram, sub_target = sub_gram[changed], sub_target[changed]
        solution, ok = _masked_solve(sub_gram, sub_target, free)
        # Keep a step only where it lowers the objective once made feasible:
        # a nearly singular G_FF (more free atoms than dimensions) can pass
        # the factorisation in floating point and return a huge solution.
        candidate = torch.clamp(solution, min=0.0)
        current = _quadratic_objective(sub_gram, sub_target, sub_weights)
        lower = _quadratic_objective(sub_gram, sub_target, candidate) <= current
        accepted = ok & lower
        candidate = torch.where(accepted[:, None], candidate, sub_weights)
        if face_steps and not bool(accepted.all()):
            failed = torch.nonzero(~accepted).flatten()
            candidate[failed] = _face_step(
                sub_gram[failed],
                sub_target[failed],
                sub_weights[failed],
                current[failed],
            )
        weights[rows] = candidate
        previous_free = free
    return weights


def _face_step(gram, target, weights, objective):
    """A feasible step toward the minimiser on the face of the current support.

    The fallback where an active-set step fails (its clipped solution does not
    lower the objective, as happens when the support nears the embedding's
    dimension and ``G_FF`` is ill-conditioned): solve on the support only and
    move from the iterate toward that solution as far as nonnegativity allows
    (a Lawson-Hanson step). The objective is convex and the iterate lies on
    that face, so the step never increases it; weights that reach zero leave
    the support. Rows where it does not help keep their weights.
    """
    support = weights > 0
    solution, ok = _masked_solve(gram, target, support)
    direction = solution - weights
    blocking = support & (direction < 0)
    ratio = torch.where(blocking, weights / torch.where(blocking, -direction, 1.0), 1.0)
    step_size = torch.clamp(ratio.amin(1), max=1.0)
    stepped = torch.clamp(weights + step_size[:, None] * direction, min=0.0)
    # The blocking weight lands on zero exactly, not on a rounding residue.
    stepped = torch.where(blocking & (ratio <= step_size[:, None]), 0.0, stepped)
    improved = ok & (_quadratic_objective(gram, target, stepped) < objective)
    return torch.where(improved[:, None], stepped, weights)


def _quadratic_objective(gram, target, weights):
    """``0.5 w.G.w - (c - l1_penalty).w``: the subproblem objective less a constant."""
    quadratic = (weights * _gram_times(gram, weights)).sum(1)
    return 0.5 * quadratic - (target * weights).sum(1)


def _kkt_violation(grad, weights, l1_penalty):
    """Largest violation of the optimality conditions on the working set.

    At the optimum ``grad_j + l1_penalty`` is zero where ``w_j > 0`` and
    nonnegative where ``w_j = 0``.
    """
    shifted = grad + l1_penalty
    violation = torch.where(weights > 0, shifted.abs(), torch.clamp(-shifted, min=0.0))
    return violation.max(1).values


def _solve_working_set(gram, corr, weights, l1_penalty, kkt_tol, max_sweeps):
    """Solve the subproblem on the working set until its KKT residual is small.

    Each round is accelerated projected gradient (robust, finds the support)
    and active-set Newton steps (exact once the support is right). Rows
    leave the loop as they converge, so easy rows do not pay for hard ones.
    Returns the weights, the gradient iterations spent per row and whether
    each row's subproblem met ``kkt_tol``.
    """
    n_rows = weights.shape[0]
    sweeps = torch.zeros(n_rows, dtype=torch.long, device=weights.device)
    active = torch.arange(n_rows, device=weights.device)
    violation = torch.full(
        (n_rows,), torch.inf, dtype=weights.dtype, device=weights.device
    )
    lipschitz = _lipschitz_constant(gram)
    n_iter = _GRADIENT_STEPS_PER_ROUND
    # Bounded per call: a row whose working set lacks atoms cannot be solved
    # here anyway, and the caller's full check will grow its set.
    max_sweeps = min(max_sweeps, _MAX_STEPS_PER_WORKING_SET)
    while len(active) and int(sweeps[active[0]]) < max_sweeps:
        if len(active) == n_rows:  # no copy while every row is active
            sub_gram, sub_corr, sub_lipschitz = gram, corr, lipschitz
        else:
            sub_gram, sub_corr = gram[active], corr[active]
            sub_lipschitz = lipschitz[active]
        sub_weights = _accelerated_projected_gradient(
            sub_gram, sub_corr, weights[active], l1_penalty, sub_lipschitz, n_iter
        )
        # Rows that two rounds left unsolved are the hard ones (ill-conditioned
        # supports): from then on, failed Newton steps fall back to face
        # steps. Earlier, the next gradient steps are the cheaper remedy.
        sub_weights = _active_set_newton(
            sub_gram,
            sub_corr,
            sub_weights,
            l1_penalty,
            _NEWTON_STEPS,
            face_steps=n_iter > 2 * _GRADIENT_STEPS_PER_ROUND,
        )
        weights[active] = sub_weights
        sweeps[active] += n_iter
        grad = _subproblem_state(sub_gram, sub_corr, sub_weights)
        violation[active] = _kkt_violation(grad, sub_weights, l1_penalty)
        active = active[violation[active] > kkt_tol]
        # Rows still unconverged are the hard ones: more gradient steps
        # before the next (costlier) Newton round.
        n_iter = min(2 * n_iter, 64)
    return weights, sweeps, violation <= kkt_tol


def _solve_chunk(gram, corr, weights, exact, l1_penalty, kkt_tol, max_sweeps):
    """Solve the working sets of rows marked ``exact``; take gradient steps on the rest.

    A large working set that still lacked violators at the last check will
    grow again whatever its solution, so solving it exactly is wasted work
    (the Newton steps cost the cube of the support size): accelerated
    projected-gradient steps move it far enough for the next check to find
    the right atoms. Measured with a 2,000-concept vocabulary, together with
    the cheaper step-size estimate of :func:`_rough_steps`: 1.9x faster with
    ~300 active concepts per row, 1.35x with ~190, no change with tens.
    Such rows are never reported solved, so they always get an exact round
    before they can finish.
    """
    if bool(exact.all()):
        return _solve_working_set(gram, corr, weights, l1_penalty, kkt_tol, max_sweeps)
    sweeps = torch.full_like(exact, _ROUGH_STEPS, dtype=torch.long)
    solved = torch.zeros_like(exact)
    if not bool(exact.any()):  # the usual case: no copies
        return _rough_steps(gram, corr, weights, l1_penalty), sweeps, solved
    weights = weights.clone()
    rough = ~exact
    weights[rough] = _rough_steps(gram[rough], corr[rough], weights[rough], l1_penalty)
    weights[exact], sweeps[exact], solved[exact] = _solve_working_set(
        gram[exact], corr[exact], weights[exact], l1_penalty, kkt_tol, max_sweeps
    )
    return weights, sweeps, solved


def _rough_steps(gram, corr, weights, l1_penalty):
    """Accelerated projected-gradient steps that move a working set's weights."""
    # Four power iterations (0.69-1.0 of the true eigenvalue on the solver's
    # blocks, 0.78 or more for 99% of them) with a 1.2 margin: these steps
    # only move the set towards its support, and the exact round that every
    # row gets before it finishes decides the answer. Measured against 12
    # iterations: 1.1x faster with hundreds of active concepts.
    lipschitz = _lipschitz_constant(gram, n_iter=4, safety=1.2)
    return _accelerated_projected_gradient(
        gram, corr, weights, l1_penalty, lipschitz, _ROUGH_STEPS
    )


def _initial_working_set(corr, size):
    # Ascending atom order makes the Gram gathers walk memory forwards.
    return torch.topk(corr, size, dim=1, sorted=False).indices.sort(1).values


def _bucket(sizes, n_atoms):
    """Round working-set sizes up to a multiple of 16 (few groups, little padding)."""
    return torch.clamp((sizes + 15) // 16 * 16, max=n_atoms)


def _next_working_sets(outside, working_set, weights, min_size, n_atoms, threshold):
    """Each row keeps its support and adds the atoms that most violate KKT.

    A row's new size is its own, not the batch's largest: its support plus
    its violators outside the set, at most ``max(support, min_size)`` of them
    (so a row far from its optimum still grows geometrically) and at least
    ``min_size // 2`` atoms, rounded up to a bucket. Working-set costs are
    quadratic in the size, so sizing per row keeps easy rows cheap.
    ``outside`` holds each row's correlations with the residual, ``-inf`` on
    its working set; it is overwritten. Returns
    ``(bucket_size, row_positions, working_set, weights)`` tuples.
    """
    support = weights > 0
    support_size = support.sum(1)
    most_added = torch.clamp(support_size, min=min_size)
    # Support atoms rank first, then atoms outside the set by violation. One
    # top-k, wide enough for the largest possible set, ranks the atoms and
    # counts the violators: passes over all atoms cost more than the rest.
    score = outside.scatter_(
        1, working_set, torch.where(support, torch.inf, -torch.inf).to(outside.dtype)
    )
    width = min(n_atoms, int(_bucket(support_size + most_added, n_atoms).max()))
    top_scores, ranked = torch.topk(score, width, dim=1, sorted=True)
    n_violators = (top_scores > threshold).sum(1) - support_size
    extra = torch.minimum(n_violators, most_added)
    sizes = _bucket(support_size + torch.clamp(extra, min=min_size // 2), n_atoms)
    groups = []
    for size in torch.unique(sizes).tolist():
        positions = torch.nonzero(sizes == size).flatten()
        new_set = ranked[positions, :size].sort(1).values
        # Carry the weights over: both sets are sorted, so a binary search
        # finds each new atom's place in the old set.
        old_set, old_weights = working_set[positions], weights[positions]
        place = torch.searchsorted(old_set, new_set).clamp_(max=old_set.shape[1] - 1)
        found = torch.gather(old_set, 1, place) == new_set
        new_weights = torch.where(
            found, torch.gather(old_weights, 1, place), old_weights.new_zeros(())
        )
        groups.append((size, positions, new_set, new_weights))
    return groups


def _solve_batch(z, dictionary, l1_penalty, tol, max_iter, working_set_size):
    """Solve one batch of rows; returns finished parts, gaps and sweeps."""
    n_rows, n_atoms = z.shape[0], dictionary.atoms.shape[0]
    corr = z @ dictionary.atoms.T  # (B, n_atoms)
    size = min(n_atoms, working_set_size)
    # The working-set solve stops on its KKT residual.
    kkt_tol = _kkt_tolerance(tol, l1_penalty, z.dtype)

    gaps = torch.full((n_rows,), torch.inf, dtype=torch.float64, device=z.device)
    sweeps = torch.zeros(n_rows, dtype=torch.long, device=z.device)
    converged = torch.zeros(n_rows, dtype=torch.bool, device=z.device)
    previous_gap = torch.full(
        (n_rows,), torch.inf, dtype=torch.float64, device=z.device
    )
    finished_parts = []  # (rows, working_set, weights) of rows done in a round
    solve_exactly = torch.ones(n_rows, dtype=torch.bool, device=z.device)
    # Rows are grouped by working-set size; each group is (rows, set, weights).
    groups = [
        (
            torch.arange(n_rows, device=z.device),
            _initial_working_set(corr, size),
            torch.zeros(n_rows, size, dtype=z.dtype, device=z.device),
        )
    ]
    budget_elements = _GRAM_BLOCK_ELEMENTS.get(z.device.type, 4 * 1024**2)

    while groups:
        next_groups = {}
        for pending, working_set, weights in groups:
            corr_set = corr[pending[:, None], working_set]
            budget = max_iter - int(sweeps[pending].min())
            spent = torch.zeros_like(pending)
            solved = torch.zeros(len(pending), dtype=torch.bool, device=z.device)
            # Gram blocks take rows * K^2 numbers: split the rows so that memory
            # stays bounded however large the working sets grow.
            chunk = max(1, budget_elements // working_set.shape[1] ** 2)
            for start in range(0, len(pending), chunk):
                part = slice(start, start + chunk)
                weights[part], spent[part], solved[part] = _solve_chunk(
                    dictionary.gram_block(working_set[part]),
                    corr_set[part],
                    weights[part],
                    solve_exactly[pending[part]],
                    l1_penalty,
                    kkt_tol,
                    budget,
                )
            sweeps[pending] += spent
            # Certify on the full problem: one product gives every atom's
            # correlation with the residual.
            reconstruction = torch.nn.functional.embedding_bag(
                working_set, dictionary.atoms, per_sample_weights=weights, mode="sum"
            )
            z_pending = z[pending]
            residual = z_pending - reconstruction
            full_corr = residual @ dictionary.atoms.T
            gap = _relative_gap(
                z_pending, residual, weights.sum(1), full_corr.amax(1), l1_penalty
            )
            gaps[pending] = gap
            # A row whose every KKT violator is already in its working set cannot
            # gain from another round: it is optimal to working precision even if
            # float32 rounding keeps its measured gap above a very small tol.
            outside = full_corr.scatter_(1, working_set, -torch.inf)
            complete = outside.amax(1) <= l1_penalty + kkt_tol
            settled = solved & complete
            # With every violator inside, no progress since the last exact round
            # means the working precision's floor is reached.
            exact = solve_exactly[pending]
            stalled = complete & exact & (gap >= 0.99 * previous_gap[pending])
            solve_exactly[pending] = complete | (
                working_set.shape[1] < min(_EXACT_BELOW, n_atoms)
            )
            previous_gap[pending] = gap
            finished = (gap <= tol) | settled | stalled | (sweeps[pending] >= max_iter)
            converged[pending] = (gap <= tol) | settled
            finished_parts.append(
                (pending[finished], working_set[finished], weights[finished])
            )
            keep = ~finished
            if not bool(keep.any()):
                continue
            for size, positions, new_set, new_weights in _next_working_sets(
                outside[keep],
                working_set[keep],
                weights[keep],
                working_set_size,
                n_atoms,
                l1_penalty + kkt_tol,
            ):
                next_groups.setdefault(size, []).append(
                    (pending[keep][positions], new_set, new_weights)
                )
        groups = [
            tuple(torch.cat(parts) for parts in zip(*members, strict=True))
            for members in next_groups.values()
        ]
    return finished_parts, gaps, sweeps, converged


def _kkt_tolerance(tol, l1_penalty, dtype):
    """KKT tolerance for a relative gap of ``tol``, floored at what ``dtype`` resolves.

    A gap of ``tol`` on the full problem needs correlations accurate to about
    ``tol * l1_penalty``; the floor is what the working precision resolves in
    a sum of tens of O(1) terms.
    """
    return max(tol * l1_penalty, 100 * torch.finfo(dtype).eps)


def _working_set_batch(z, dictionary, l1_penalties, tol, max_iter, working_set_size):
    """One batch through the PyTorch working-set solver: COO parts per penalty.

    Each penalty is solved from scratch (no warm start on this path).
    """
    solutions = []
    for l1_penalty in l1_penalties:
        parts, gap, spent, converged = _solve_batch(
            z, dictionary, l1_penalty, tol, max_iter, working_set_size
        )
        rows, cols, vals = [], [], []
        for part_rows, part_set, part_weights in parts:
            nonzero = part_weights > 0
            rows.append(part_rows[:, None].expand_as(part_set)[nonzero].cpu())
            cols.append(part_set[nonzero].cpu())
            vals.append(part_weights[nonzero].cpu())
        solutions.append(
            (
                torch.cat(rows).numpy(),
                torch.cat(cols).numpy(),
                torch.cat(vals).numpy(),
                gap.cpu().numpy(),
                spent.cpu().numpy(),
                converged.cpu().numpy(),
            )
        )
    return solutions
