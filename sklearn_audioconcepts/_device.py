"""The one place where device and dtype choices are resolved."""

import numpy as np

_DTYPES = {"float32": np.float32, "float64": np.float64}


def resolve_device(device):
    """Map ``"auto" | "cpu" | "cuda" | "cuda:N"`` to a ``torch.device``."""
    import torch

    from ._validation import check_device_available

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    check_device_available(device)
    return torch.device(device)


def resolve_dtype(dtype):
    """Map ``"float32" | "float64"`` (or the numpy types) to numpy and torch dtypes."""
    import torch

    numpy_dtype = np.dtype(_DTYPES.get(dtype, dtype))
    if numpy_dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}.")
    return numpy_dtype, getattr(torch, numpy_dtype.name)
