"""Row norms and unit rows that hold at any floating-point magnitude.

``np.linalg.norm`` squares the entries: in float64 a row of ``1e155`` overflows
to ``inf`` and a row of ``1e-160`` underflows to 0 (float32: ``1e20`` and
``1e-20``), so normalising such rows gives NaN or zero in silence. Dividing
each row by its largest magnitude first puts every entry in ``[-1, 1]`` with
at least one of magnitude 1, where squares neither overflow nor underflow;
the division itself is exact to rounding, also for subnormal entries (NumPy
does not flush them to zero), so any row with a nonzero entry keeps its
direction. A row is zero exactly when its largest magnitude is 0.
"""

import numpy as np

__all__ = ["cast_finite", "max_abs_rows", "row_norms", "unit_rows"]


def max_abs_rows(X):
    """Largest magnitude of each row, as float64 of shape (n_rows,)."""
    X = np.asarray(X)
    if X.shape[1] == 0:
        return np.zeros(len(X))
    return np.abs(X).max(axis=1).astype(np.float64)


def _scaled(X):
    """Rows divided by their largest magnitude (zero rows stay zero), and it."""
    X = np.asarray(X, dtype=np.float64)
    scale = max_abs_rows(X)
    scaled = np.divide(
        X, scale[:, None], out=np.zeros_like(X), where=scale[:, None] > 0
    )
    return scaled, scale


def row_norms(X):
    """Euclidean norm of each row without intermediate overflow or underflow.

    The result is ``inf`` only when the norm itself exceeds the float64 range
    (entries near ``1.8e308``).
    """
    scaled, scale = _scaled(X)
    with np.errstate(over="ignore"):
        return scale * np.sqrt(np.einsum("ij,ij->i", scaled, scaled))


def unit_rows(X, *, zero_below=0.0):
    """Rows scaled to unit Euclidean norm, in float64, at any magnitude.

    Parameters
    ----------
    X : array-like of shape (n_rows, n_features)
        Finite rows.
    zero_below : float or ndarray of shape (n_rows,), default=0.0
        Rows whose largest magnitude is at most this stay zero (e.g. rounding
        noise left after subtracting a mean); by default only zero rows.

    Returns
    -------
    units : ndarray of shape (n_rows, n_features)
    """
    scaled, scale = _scaled(X)
    norms = np.sqrt(np.einsum("ij,ij->i", scaled, scaled))
    keep = (scale > zero_below) & (norms > 0)
    return np.divide(
        scaled, norms[:, None], out=np.zeros_like(scaled), where=keep[:, None]
    )


def cast_finite(array, dtype, *, what):
    """``array`` as ``dtype``, refusing finite values the dtype cannot hold.

    Outputs in the units of the input (reconstructions, steered embeddings)
    can exceed float32's range when the input did not fit it (float64 data
    beyond ``3.4e38``); casting would turn them into ``inf`` in silence.
    """
    array = np.asarray(array)
    dtype = np.dtype(dtype)
    if array.dtype == dtype:
        return array
    with np.errstate(over="ignore"):
        cast = array.astype(dtype)
    if np.isfinite(array).all() and not np.isfinite(cast).all():
        largest = float(np.abs(array).max())
        raise ValueError(
            f"{what} has values up to {largest:.3g}, beyond what {dtype} holds "
            f"({float(np.finfo(dtype).max):.3g}). Use dtype='float64' (or rescale "
            "the input) for data of this magnitude."
        )
    return cast
