"""scikit-learn's nonnegative lasso as the reference the solvers are checked on."""

import warnings

from sklearn.decomposition import sparse_encode
from sklearn.exceptions import ConvergenceWarning

from sklearn_audioconcepts._solvers import nonnegative_lasso_objective


def sklearn_objective(Z, D, l1_penalty, max_iter=5000):
    """Per-row objective of ``sparse_encode(..., "lasso_cd", positive=True)``.

    On dense solutions coordinate descent does not reach its own tolerance
    and says so; its objective is still the reference, so the warning is
    silenced.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = sparse_encode(
            Z,
            D,
            algorithm="lasso_cd",
            alpha=l1_penalty,
            positive=True,
            max_iter=max_iter,
        )
    return nonnegative_lasso_objective(Z, D, reference, l1_penalty)
