"""Input checks shared by the estimators, with errors that say what to do."""

import numpy as np
from sklearn.utils import check_array

from ._numerics import max_abs_rows


def check_embeddings(
    X, *, name="X", dtype=(np.float32, np.float64), reject_zero_rows=True
):
    """Validate a 2-D, finite, non-empty array of embeddings.

    Returns the array converted to one of ``dtype``.
    """
    X = check_array(X, dtype=dtype, ensure_all_finite=False, input_name=name)
    if not np.isfinite(X).all():
        bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
        raise ValueError(
            f"{name} contains NaN or infinity in {len(bad)} row(s) (first: "
            f"{bad[:5].tolist()}). Drop or re-embed those rows before decomposing."
        )
    if reject_zero_rows:
        # Exact zeros only: a row of tiny (even subnormal) values still has a
        # direction, which the package's row normalisation recovers.
        zero = np.flatnonzero(max_abs_rows(X) == 0)
        if len(zero):
            raise ValueError(
                f"{name} has {len(zero)} all-zero row(s) (first: {zero[:5].tolist()}). "
                "An embedding of zero norm has no direction to decompose; check the "
                "embedder's output for those rows."
            )
    return X


def check_device_available(device):
    """Raise a clear error when CUDA is asked for on a machine without it."""
    import torch

    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            f"device={device!r} was asked for but PyTorch sees no CUDA device "
            f"(torch {torch.__version__}). Use device='cpu', or device='auto' to pick "
            "CUDA only when it is present."
        )


def check_input_features(estimator, input_features):
    """Validate ``get_feature_names_out``'s ``input_features`` against the fit.

    They must equal ``feature_names_in_`` when the estimator saw column names,
    and have one name per input feature in any case.
    """
    if input_features is None:
        return
    given = np.asarray(input_features, dtype=object)
    names_in = getattr(estimator, "feature_names_in_", None)
    if names_in is not None and not np.array_equal(given, names_in):
        raise ValueError("input_features is not equal to feature_names_in_")
    if len(given) != estimator.n_features_in_:
        raise ValueError(
            f"input_features should have length equal to number of features "
            f"({estimator.n_features_in_}), got {len(given)}"
        )


def check_texts(texts):
    """The texts an embedder's ``embed_text`` takes: a non-empty list of strings."""
    if isinstance(texts, str):
        raise TypeError(
            f"texts must be a list of strings, got a single string {texts!r}; wrap "
            "it in a list."
        )
    texts = list(texts)
    if not texts:
        raise ValueError("texts is empty: give at least one text to embed.")
    for index, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(
                f"texts[{index}] is {text!r}; every text must be a non-empty string."
            )
    return texts
