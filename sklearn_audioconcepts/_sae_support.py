"""NumPy-side helpers of :class:`~sklearn_audioconcepts.sae.TopKSparseAutoencoder`.

Layer normalisation of rows, the optimizer state as arrays (so a fitted
estimator holds no torch object), and the parsing of :meth:`steer`'s edits.
Split from ``sae.py`` to keep the estimator's module readable; nothing here
knows about the estimator.
"""

import numpy as np

from ._numerics import max_abs_rows

# Layer-norm epsilon of the reference implementation.
LAYER_NORM_EPS = 1e-5


def layer_norm(X):
    """Rows centred on their mean and divided by their std (+ eps), as in Gao et al.

    Statistics are computed on each row divided by its largest magnitude, so
    rows near 1e155 do not overflow in the squares of the standard deviation.
    """
    largest = max_abs_rows(X)
    unit = np.where(largest > 0, largest, 1.0)
    scaled = X / unit[:, None]
    scaled_means = scaled.mean(axis=1)
    centred = scaled - scaled_means[:, None]
    scaled_stds = centred.std(axis=1, ddof=1) if X.shape[1] > 1 else np.zeros(len(X))
    normalized = centred / (scaled_stds + LAYER_NORM_EPS / unit)[:, None]
    return normalized, scaled_means * unit, scaled_stds * unit


def check_layer_norm_spread(stds):
    """Refuse rows whose standard deviation the layer-norm epsilon would swamp.

    Rows of zero spread (constant rows) normalise to zero whatever the
    epsilon; rows of nonzero spread below it would be shrunk toward zero, so
    their codes would hardly depend on them.
    """
    tiny = np.flatnonzero((stds > 0) & (stds < LAYER_NORM_EPS))
    if len(tiny):
        raise ValueError(
            f"normalize='layer_norm' divides each row by its standard deviation "
            f"plus {LAYER_NORM_EPS:g} (Gao et al.'s epsilon); {len(tiny)} row(s) of "
            f"X have a standard deviation below that epsilon (first: "
            f"{tiny[:5].tolist()}), so the epsilon rather than the row would set "
            "their scale. Rescale X or use normalize='scale' (scale-free)."
        )


def sample_rows(n_rows, n_sample, generator):
    import torch

    if n_rows <= n_sample:
        return np.arange(n_rows)
    return np.sort(torch.randperm(n_rows, generator=generator)[:n_sample].numpy())


def state_to_numpy(state):
    """A copy of an optimizer state dict with every tensor as a NumPy array.

    NumPy rather than CPU tensors: the fitted state then holds no torch
    object, so skops.io can persist it (it refuses tensors) and it loads on
    any device.
    """
    import torch

    if isinstance(state, torch.Tensor):
        return state.detach().cpu().numpy().copy()
    if isinstance(state, dict):
        return {key: state_to_numpy(value) for key, value in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(state_to_numpy(value) for value in state)
    return state


def state_to_torch(state):
    """Inverse of :func:`state_to_numpy`: arrays back to (CPU) tensors."""
    import torch

    if isinstance(state, np.ndarray):
        return torch.from_numpy(state.copy())
    if isinstance(state, dict):
        return {key: state_to_torch(value) for key, value in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(state_to_torch(value) for value in state)
    return state


def one_edit(*, value, delta, scale):
    given = {
        name: edit
        for name, edit in (("value", value), ("delta", delta), ("scale", scale))
        if edit is not None
    }
    if len(given) != 1:
        raise ValueError(
            "Give exactly one of value=, delta= or scale= to steer "
            f"(got {sorted(given) or 'none'})."
        )
    ((how, edit),) = given.items()
    return edit, how


def broadcast_edit(edit, n_samples, n_latents, how):
    edit = np.asarray(edit, dtype=np.float64)
    try:
        edit = np.broadcast_to(edit, (n_samples, n_latents))
    except ValueError:
        raise ValueError(
            f"{how} must be a scalar, one value per steered latent ({n_latents}) or "
            f"an array of shape ({n_samples}, {n_latents}); got shape {edit.shape}."
        ) from None
    if not np.isfinite(edit).all():
        raise ValueError(f"{how} contains NaN or infinity.")
    return edit
