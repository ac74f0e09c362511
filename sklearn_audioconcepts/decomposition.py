"""Sparse nonnegative decomposition of embeddings over a concept vocabulary."""

from numbers import Integral, Real

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._device import resolve_device, resolve_dtype
from ._numerics import cast_finite, max_abs_rows, row_norms, unit_rows
from ._validation import check_embeddings, check_input_features
from .vocabulary import ConceptVocabulary, as_vocabulary

__all__ = ["ConceptDecomposer", "concept_path"]

_DEFAULT_L1_PENALTY = 0.05
# A centred row whose entries are all below this fraction of the entries it
# was computed from is rounding noise left by the subtraction: it stays zero.
_CANCELLATION_RTOL = 1e-12
# The sparsity sweep of Zhang, Thomaz and Lu (2025).
_PAPER_L1_PENALTIES = (0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01)


class ConceptDecomposer(TransformerMixin, BaseEstimator):
    """Decompose dense embeddings into sparse nonnegative weights over named concepts.

    Each embedding ``z`` is approximated by a nonnegative combination of the
    vocabulary's concept embeddings by solving the nonnegative lasso::

        min_{w >= 0}  0.5 * ||C.T @ w - z||^2 + l1_penalty * sum(w)

    after the SpLiCE recipe (Bhalla et al., 2024) as applied to CLAP audio
    embeddings by Zhang, Thomaz and Lu (2025): embeddings and concepts are
    L2-normalised, each centred on its own mean (which removes the
    audio-text modality gap), and normalised again. The output columns are
    concept names, so any downstream model reads as "how much of each concept".

    Read more in the :ref:`User Guide <concept_decomposition>`.

    Parameters
    ----------
    vocabulary : ConceptVocabulary, tuple (names, embeddings) or callable
        The concepts, with embeddings of shape (n_concepts, n_features) from
        the same model as ``X`` (the CLAP text encoder for CLAP audio). A
        callable is called once in :meth:`fit` as ``vocabulary(n_features)``
        and must return one of the above, e.g. a loader that picks the
        vocabulary file matching the embedding model; the result is kept as
        ``vocabulary_``.
    l1_penalty : float, default=0.05
        Sparsity penalty (>= 0). Larger means fewer active concepts and a
        looser reconstruction. With unit-norm 512-d CLAP-like embeddings and
        a 2,000-concept vocabulary the default gives tens of active concepts
        per row (about 45 on data from
        :func:`~sklearn_audioconcepts.datasets.make_concept_embeddings`,
        about 320 at 0.01 and 9 at 0.1); the paper's sweep of 0.01 to 0.5
        spans about 200 down to 5 on real CLAP embeddings. Tune it with
        :class:`~sklearn.model_selection.GridSearchCV`. Time grows with the
        number of active concepts: on 2 CPU cores with 2,000 concepts, about
        5,900 rows/s at 0.05 and 125 rows/s at 0.01 (``solver="active_set"``),
        so the smallest values dominate a grid search; :func:`concept_path`
        computes a sweep of penalties at about the cost of its smallest.
    center : bool or array-like of shape (n_features,), default=True
        ``True`` centres embeddings on the mean learned in :meth:`fit` and
        concepts on their own mean. An array is used as the embedding mean
        (e.g. computed on a large reference corpus); concepts are still
        centred on theirs. ``False`` centres neither.
    normalize : bool, default=True
        L2-normalise input rows before centring (CLAP embeddings already are;
        this makes the decomposition scale-free for other inputs).
    solver : {"auto", "active_set", "working_set", "sklearn"}, default="auto"
        ``"active_set"``: a compiled (numba) Lawson-Hanson active-set solver,
        CPU only, exact on each support through updated Cholesky factors.
        ``"working_set"``: a batched PyTorch working-set solver (accelerated
        projected gradient with exact active-set Newton steps), on CPU or
        CUDA. Both stop on the optimality conditions of the full problem and
        report its duality gap. ``"auto"``: ``"active_set"`` on CPU,
        ``"working_set"`` on CUDA (or when the vocabulary's Gram matrix
        would exceed 2 GiB). ``"sklearn"``: scikit-learn's
        :func:`~sklearn.decomposition.sparse_encode` with ``lasso_cd``, a CPU
        reference. The first ``"active_set"`` call in a new environment
        compiles the solver for the dtype in use (about 10 s of CPU time,
        longer on a busy machine) and says so once through the
        ``sklearn_audioconcepts`` logger; numba caches the result on disk.
    max_iter : int, default=1000
        Maximum iterations per row: Lawson-Hanson iterations (a concept
        entering the support, with any it pushes out) for ``"active_set"``,
        projected-gradient iterations for ``"working_set"``,
        coordinate-descent sweeps for ``"sklearn"``. Supports within a few
        percent of the embedding's dimension can need more.
    tol : float, default=1e-5
        Relative duality gap at which a row counts as solved; its objective is
        then within ``tol`` of the optimum. In float32, rows whose measured
        gap stays above ``tol`` only through rounding are accepted when no
        concept violates the optimality conditions to working precision (on
        benchmarks their objectives agree with scikit-learn's float64
        ``lasso_cd`` to 2e-7); use ``dtype="float64"`` for a strict
        certificate at small ``tol``.
    device : {"auto", "cpu", "cuda"} or str, default="auto"
        Where the solver runs; ``"auto"`` picks CUDA when available.
    batch_size : int, default=2048
        Rows solved at once; memory grows linearly with it.
    dtype : {"float32", "float64"}, default="float32"
        Working precision and dtype of the output.
    output : {"dense", "sparse"}, default="dense"
        Return a dense array or a ``scipy.sparse`` CSR matrix from
        :meth:`transform`. Sparse output keeps memory small for large
        vocabularies; pandas output needs ``"dense"``.
    progress : bool or "auto", default="auto"
        Show a progress bar over batches; ``"auto"`` shows it on terminals.
    random_state : int, RandomState instance or None, default=None
        Unused: the decomposition is deterministic (a convex problem solved
        to a certified gap). Accepted so that every estimator of the package
        takes the same arguments.

    Attributes
    ----------
    components_ : ndarray of shape (n_concepts, n_features)
        Concept embeddings after normalising, centring and re-normalising:
        the dictionary the lasso runs over.
    mean_ : ndarray of shape (n_features,)
        Mean of the (normalised) embeddings subtracted before decomposing;
        zeros when ``center=False``.
    concept_mean_ : ndarray of shape (n_features,)
        Mean of the normalised concept embeddings; zeros when ``center=False``.
    centered_norm_ : float
        Mean norm of centred training embeddings, used to map
        reconstructions back to the embedding space.
    concept_names_ : ndarray of str of shape (n_concepts,)
        Concept names, the output feature names.
    vocabulary_ : ConceptVocabulary
        The vocabulary the decomposer was fitted with.
    n_features_in_ : int
        Embedding dimension seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string
        column names.

    See Also
    --------
    ConceptVocabulary : Names and embeddings of the concepts.
    sklearn.decomposition.SparseCoder : Sparse coding over a fixed dictionary.

    Notes
    -----
    The active-set and working-set solvers stop on the optimality conditions
    of the full problem and report its duality gap, so each row is certified
    optimal to ``tol``; rows that cannot be certified within ``max_iter``
    raise a :class:`~sklearn.exceptions.ConvergenceWarning`.

    References
    ----------
    .. [1] A. Zhang, E. Thomaz and L. Lu, "Transformation of audio embeddings
       into interpretable, concept-based representations", 2025.
    .. [2] U. Bhalla, A. Oesterling, S. Srinivas, F. Calmon and H. Lakkaraju,
       "Interpreting CLIP with Sparse Linear Concept Embeddings (SpLiCE)",
       NeurIPS 2024.

    Examples
    --------
    >>> from sklearn_audioconcepts import ConceptDecomposer
    >>> from sklearn_audioconcepts.datasets import make_concept_embeddings
    >>> X, vocabulary, _, _ = make_concept_embeddings(200, 500, 64, random_state=0)
    >>> decomposer = ConceptDecomposer(vocabulary, l1_penalty=0.05, device="cpu")
    >>> weights = decomposer.fit_transform(X)
    >>> weights.shape
    (200, 500)
    >>> bool((weights >= 0).all())
    True
    >>> decomposer.explain(X[:1], top_k=2).columns.tolist()
    ['sample', 'rank', 'concept', 'weight']
    """

    _parameter_constraints: dict = {
        "vocabulary": [ConceptVocabulary, tuple, callable],
        "l1_penalty": [Interval(Real, 0, None, closed="left")],
        "center": ["boolean", "array-like"],
        "normalize": ["boolean"],
        "solver": [StrOptions({"auto", "active_set", "working_set", "sklearn"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "device": [str],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "dtype": [StrOptions({"float32", "float64"})],
        "output": [StrOptions({"dense", "sparse"})],
        "progress": ["boolean", StrOptions({"auto"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        vocabulary,
        *,
        l1_penalty=_DEFAULT_L1_PENALTY,
        center=True,
        normalize=True,
        solver="auto",
        max_iter=1000,
        tol=1e-5,
        device="auto",
        batch_size=2048,
        dtype="float32",
        output="dense",
        progress="auto",
        random_state=None,
    ):
        self.vocabulary = vocabulary
        self.l1_penalty = l1_penalty
        self.center = center
        self.normalize = normalize
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.device = device
        self.batch_size = batch_size
        self.dtype = dtype
        self.output = output
        self.progress = progress
        self.random_state = random_state

    def fit(self, X, y=None):
        """Learn the centring and the centred concept dictionary.

        Fitting normalises and averages: about 0.01 s for 300 rows and 2,000
        concepts. The first fit in a process also imports PyTorch to check
        ``device`` (about 2 s; the first ``transform`` needs it anyway).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings (e.g. CLAP audio embeddings) whose mean is learned.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : ConceptDecomposer
            Fitted decomposer.
        """
        self._validate_params()
        self._solver_device()  # fail now, not at transform, on a bad device
        X = self._validate_embeddings(X, reset=True)
        vocabulary = self.vocabulary
        if callable(vocabulary) and not isinstance(vocabulary, ConceptVocabulary):
            vocabulary = vocabulary(self.n_features_in_)
        vocabulary = as_vocabulary(vocabulary)
        self._check_dimension(vocabulary)

        X = self._maybe_normalize(X)
        concepts = unit_rows(vocabulary.embeddings)
        if self.center is False:
            self.mean_ = np.zeros(X.shape[1])
            self.concept_mean_ = np.zeros(X.shape[1])
        else:
            self.mean_ = self._embedding_mean(X)
            self.concept_mean_ = concepts.mean(axis=0)
        self.components_ = self._centered_concepts(concepts, vocabulary)
        self.centered_norm_ = _mean_centred_norm(X, self.mean_)
        self.concept_names_ = np.asarray(vocabulary.names, dtype=object)
        self.vocabulary_ = vocabulary
        # Device-side dictionary, built on first use; a cache, not state.
        self._cache = {}
        return self

    def transform(self, X):
        """Concept weights of each embedding.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings to decompose.

        Returns
        -------
        weights : ndarray or scipy.sparse.csr_matrix of shape (n_samples, n_concepts)
            Nonnegative concept weights; columns follow
            :meth:`get_feature_names_out`.
        """
        check_is_fitted(self)
        X = self._validate_embeddings(X, reset=False)
        Z = self._center(X)
        codes = self._solve(Z)
        if self.output == "dense":
            return codes.toarray()
        return codes

    def inverse_transform(self, X):
        """Map concept weights back to the embedding space.

        With centring, the weighted sum of centred concepts is rescaled to the
        typical norm of centred training embeddings (``centered_norm_``) and
        the mean is added back; without, the weighted sum is used as is. The
        result is L2-normalised (when ``normalize=True``), so it can stand in for the
        original embedding, e.g. for zero-shot scoring against text prompts.
        Rows with no active concept map to the mean embedding. Weights must
        be nonnegative, as :meth:`transform` gives them: a negative weight
        would subtract a concept, which the decomposition never does.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_concepts)
            Concept weights, as returned by :meth:`transform`.

        Returns
        -------
        embeddings : ndarray of shape (n_samples, n_features)
            Reconstructed embeddings.
        """
        check_is_fitted(self)
        weights = self._validate_weights(X)
        centred = np.asarray(weights @ self.components_, dtype=np.float64)
        if self.center is not False:
            centred = unit_rows(centred) * self.centered_norm_
        embeddings = self._maybe_normalize(centred + self.mean_)
        numpy_dtype, _ = resolve_dtype(self.dtype)
        return cast_finite(embeddings, numpy_dtype, what="The reconstruction")

    def score(self, X, y=None):
        """Mean cosine similarity between embeddings and their reconstructions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        score : float
            Mean over rows of ``cos(x, inverse_transform(transform(x)))``.
        """
        return float(np.mean(self.cosine_similarity(X)))

    def cosine_similarity(self, X):
        """Per-row cosine similarity between embeddings and their reconstructions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings.

        Returns
        -------
        similarity : ndarray of shape (n_samples,)
            Cosine between each row and its reconstruction.
        """
        check_is_fitted(self)
        X = self._validate_embeddings(X, reset=False)
        reconstruction = self.inverse_transform(self._solve(self._center(X)))
        return np.einsum("ij,ij->i", unit_rows(X), unit_rows(reconstruction))

    def explain(self, X, top_k=5):
        """The most prominent concepts of each embedding, as a tidy table.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings to explain.
        top_k : int, default=5
            Concepts listed per row (fewer when fewer are active).

        Returns
        -------
        table : pandas.DataFrame
            One row per (sample, concept) with columns ``sample`` (row index
            in ``X``), ``rank`` (1 = largest weight), ``concept`` and
            ``weight``, sorted by sample then rank.
        """
        check_is_fitted(self)
        if not isinstance(top_k, Integral) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}.")
        X = self._validate_embeddings(X, reset=False)
        return explain_weights(self._solve(self._center(X)), self.concept_names_, top_k)

    def get_feature_names_out(self, input_features=None):
        """Concept names, one per output column.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored except for validation against ``feature_names_in_``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            The concept names, in column order.
        """
        check_is_fitted(self)
        check_input_features(self, input_features)
        return self.concept_names_.copy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        # Output dtype follows the `dtype` parameter, so only that dtype is
        # preserved end to end.
        tags.transformer_tags.preserves_dtype = [self.dtype]
        return tags

    def __getstate__(self):
        state = self.__dict__.copy()
        # The cache holds device tensors (possibly on CUDA); it is rebuilt on
        # first use after loading, so a model fitted on a GPU loads anywhere.
        if "_cache" in state:
            state["_cache"] = {}
        return state

    # -- helpers -------------------------------------------------------------

    def _validate_embeddings(self, X, *, reset):
        X = validate_data(
            self, X, reset=reset, dtype=(np.float64, np.float32), ensure_min_samples=1
        )
        return check_embeddings(X, name="X")

    def _check_dimension(self, vocabulary):
        if vocabulary.n_features != self.n_features_in_:
            raise ValueError(
                f"X has {self.n_features_in_} feature(s) per row but the vocabulary's "
                f"concept embeddings have {vocabulary.n_features}. Embed the audio and "
                "the concepts with the same model (e.g. the same CLAP checkpoint)."
            )

    def _embedding_mean(self, X):
        if self.center is True:
            if X.shape[0] < 2:
                raise ValueError(
                    f"Centring on the data mean needs at least 2 samples, got "
                    f"{X.shape[0]} sample. Fit on more embeddings, pass a known mean "
                    "as center=<array>, or use center=False."
                )
            return _safe_mean(X)
        mean = np.asarray(self.center, dtype=np.float64)
        if mean.shape != (self.n_features_in_,):
            raise ValueError(
                f"center must be True, False or a finite array of shape "
                f"({self.n_features_in_},); got an array of shape {mean.shape}."
            )
        if not np.isfinite(mean).all():
            bad = np.flatnonzero(~np.isfinite(mean))
            raise ValueError(
                f"center contains NaN or infinity at {len(bad)} position(s) (first: "
                f"{bad[:5].tolist()}); pass a finite mean embedding, center=True "
                "to learn it from X, or center=False."
            )
        return mean

    def _centered_concepts(self, concepts, vocabulary):
        centred = concepts - self.concept_mean_
        norms = np.linalg.norm(centred, axis=1)
        degenerate = np.flatnonzero(norms <= 1e-12 * max(norms.max(), 1.0))
        if len(degenerate):
            names = [vocabulary.names[i] for i in degenerate[:5]]
            raise ValueError(
                f"After centring, {len(degenerate)} concept embedding(s) are zero "
                f"({names}): a concept equal to the vocabulary mean has no direction. "
                "Use a vocabulary of at least two distinct concepts or center=False."
            )
        return centred / norms[:, None]

    def _maybe_normalize(self, X):
        X = np.asarray(X, dtype=np.float64)
        return unit_rows(X) if self.normalize else X

    def _center(self, X):
        """Normalise, centre and re-normalise rows (a row at the mean stays zero)."""
        return _unit_centred(self._maybe_normalize(X), self.mean_)

    def _validate_weights(self, W):
        n_concepts = len(self.concept_names_)
        if sp.issparse(W):
            W = W.tocsr()
            data = W.data
        else:
            W = np.asarray(W, dtype=np.float64)
            data = W
        if W.ndim != 2 or W.shape[1] != n_concepts:
            raise ValueError(
                f"Expected concept weights of shape (n_samples, {n_concepts}), got "
                f"{W.shape}."
            )
        if not np.isfinite(data).all():
            raise ValueError("Concept weights contain NaN or infinity.")
        if (data < 0).any():
            negative = W.tocoo() if sp.issparse(W) else sp.coo_matrix(W)
            rows = np.unique(negative.row[negative.data < 0])
            raise ValueError(
                "Concept weights must be nonnegative, as transform returns them; "
                f"{len(rows)} row(s) have negative weights (first: "
                f"{rows[:5].tolist()}). "
                "A concept's absence is a weight of 0; to move an embedding away "
                "from a concept, edit the embedding itself."
            )
        return W

    def _solver_device(self):
        """The device the solver runs on (``"active_set"``: always the CPU)."""
        device = resolve_device(self.device)
        if self.solver != "active_set" or device.type == "cpu":
            return device
        if self.device != "auto":
            raise ValueError(
                f"solver='active_set' runs on the CPU only, got device="
                f"{self.device!r}; use solver='auto' or 'working_set' on a GPU."
            )
        return resolve_device("cpu")

    def _prepared_dictionary(self):
        from ._solvers import PreparedDictionary

        device = self._solver_device()
        _, torch_dtype = resolve_dtype(self.dtype)
        key = (str(device), torch_dtype)
        if key not in self._cache:
            self._cache.clear()
            self._cache[key] = PreparedDictionary(
                self.components_, device=device, dtype=torch_dtype
            )
        return self._cache[key]

    def _solve(self, Z):
        (codes,) = self._solve_path(Z, [self.l1_penalty])
        return codes

    def _solve_path(self, Z, l1_penalties):
        """Codes of ``Z`` (centred) for each penalty of a decreasing sequence.

        The active-set solver warm-starts each penalty from the previous one;
        the other solvers solve each penalty from scratch.
        """
        numpy_dtype, _ = resolve_dtype(self.dtype)
        if self.solver == "sklearn":
            from sklearn.decomposition import sparse_encode

            return [
                sp.csr_matrix(
                    sparse_encode(
                        Z,
                        self.components_,
                        algorithm="lasso_cd",
                        alpha=l1_penalty,
                        positive=True,
                        max_iter=self.max_iter,
                    ).astype(numpy_dtype)
                )
                for l1_penalty in l1_penalties
            ]
        from ._solvers import nonnegative_lasso_path

        results = nonnegative_lasso_path(
            Z,
            self._prepared_dictionary(),
            l1_penalties,
            solver=self.solver,
            tol=self.tol,
            max_iter=self.max_iter,
            batch_size=self.batch_size,
            progress=self.progress,
        )
        return [result.codes.astype(numpy_dtype, copy=False) for result in results]


def _unit_centred(X, mean):
    """Unit rows of ``X - mean``; rows equal to the mean up to rounding stay zero.

    The rounding floor is relative to the magnitudes subtracted, so the result
    does not depend on the scale of ``X`` (with ``normalize=False``).
    """
    X = np.asarray(X, dtype=np.float64)
    largest_mean = float(np.abs(mean).max()) if np.size(mean) else 0.0
    floor = _CANCELLATION_RTOL * np.maximum(max_abs_rows(X), largest_mean)
    return unit_rows(X - mean, zero_below=floor)


def _safe_mean(X):
    """Column means without overflow: the sum is taken on max-abs-scaled data."""
    largest = float(np.abs(X).max())
    if largest == 0:
        return np.zeros(X.shape[1])
    return (X / largest).mean(axis=0) * largest


def _mean_centred_norm(X, mean):
    norm = float(row_norms(X - mean).mean())
    if not np.isfinite(norm):
        raise ValueError(
            "The centred training embeddings have norms beyond the float64 range "
            f"(largest value {float(np.abs(X).max()):.3g}); rescale X or use "
            "normalize=True."
        )
    return norm


def explain_weights(weights, names, top_k=5):
    """Tidy table of the ``top_k`` largest weights per row.

    Parameters
    ----------
    weights : {ndarray, sparse matrix} of shape (n_samples, n_concepts)
    names : array-like of str of shape (n_concepts,)
    top_k : int, default=5

    Returns
    -------
    table : pandas.DataFrame with columns sample, rank, concept, weight
    """
    weights = sp.csr_matrix(weights)
    names = np.asarray(names, dtype=object)
    samples, ranks, concepts, values = [], [], [], []
    for row in range(weights.shape[0]):
        start, stop = weights.indptr[row], weights.indptr[row + 1]
        row_values = weights.data[start:stop]
        row_concepts = weights.indices[start:stop]
        keep = row_values > 0
        row_values, row_concepts = row_values[keep], row_concepts[keep]
        order = np.argsort(-row_values, kind="stable")[:top_k]
        samples.extend([row] * len(order))
        ranks.extend(range(1, len(order) + 1))
        concepts.extend(names[row_concepts[order]])
        values.extend(row_values[order].astype(np.float64))
    return pd.DataFrame(
        {"sample": samples, "rank": ranks, "concept": concepts, "weight": values}
    ).astype({"sample": int, "rank": int, "concept": object, "weight": float})


def concept_path(X, vocabulary, l1_penalties=None, **params):
    """Concept weights of ``X`` along a path of sparsity penalties.

    The decomposition of :class:`ConceptDecomposer` (fitted on ``X``, then
    applied to it) for several ``l1_penalty`` values at once, as
    :func:`~sklearn.linear_model.lasso_path` is for the lasso. With the
    active-set solver (the default on CPU) each row's penalties are solved
    from the largest down, each starting from the previous solution (its
    active concepts, their Cholesky factor and their weights), so a sweep
    costs about as much as its densest penalty alone (Notes). Each
    penalty's codes solve the same problem as
    ``ConceptDecomposer(l1_penalty=...)``, to its ``tol``.

    Read more in the :ref:`User Guide <concept_decomposition>`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Embeddings to decompose; centring uses their mean as
        :meth:`ConceptDecomposer.fit` would (pass ``center=<mean>`` to use
        another, e.g. a training set's ``mean_``).
    vocabulary : ConceptVocabulary, tuple (names, embeddings) or callable
        As for :class:`ConceptDecomposer`.
    l1_penalties : array-like of float, default=None
        Penalties (>= 0, distinct), in any order. ``None`` is the sweep of
        Zhang, Thomaz and Lu (2025): 0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01.
    **params
        Any other parameter of :class:`ConceptDecomposer` (``center``,
        ``normalize``, ``solver``, ``max_iter``, ``tol``, ``device``,
        ``batch_size``, ``dtype``, ``output``, ``progress``,
        ``random_state``); ``max_iter`` counts per penalty.

    Returns
    -------
    l1_penalties : ndarray of shape (n_penalties,)
        The penalties, in decreasing order (sparsest first).
    codes : list of {ndarray, scipy.sparse.csr_matrix} of shape \
            (n_samples, n_concepts)
        The concept weights for each penalty, in the order of
        ``l1_penalties``; dense or CSR following ``output``, as
        :meth:`ConceptDecomposer.transform` returns them.

    See Also
    --------
    ConceptDecomposer : The decomposition at one penalty.
    sklearn.linear_model.lasso_path : The regularisation path of the lasso.

    Notes
    -----
    On 1,000 CLAP-like rows with 2,000 concepts, the paper's seven penalties
    took 0.87x the time of the ``l1_penalty=0.01`` solve alone and 0.66x
    that of the seven solved separately, with objectives within 1.5e-7 of
    theirs (2 CPU cores shared with other jobs;
    ``python benchmarks/bench_decomposition.py --path --n-samples 1000``).
    The ``"working_set"`` and ``"sklearn"`` solvers have no warm start here:
    they solve each penalty from scratch.

    Examples
    --------
    >>> from sklearn_audioconcepts import concept_path
    >>> from sklearn_audioconcepts.datasets import make_concept_embeddings
    >>> X, vocabulary, _, _ = make_concept_embeddings(100, 300, 64, random_state=0)
    >>> penalties, codes = concept_path(
    ...     X, vocabulary, [0.02, 0.1, 0.05], device="cpu", progress=False
    ... )
    >>> penalties.tolist()
    [0.1, 0.05, 0.02]
    >>> [weights.shape for weights in codes]
    [(100, 300), (100, 300), (100, 300)]
    >>> active = [int((weights > 0).sum()) for weights in codes]
    >>> active[0] < active[1] < active[2]
    True
    """
    if "l1_penalty" in params:
        raise TypeError(
            "concept_path takes the penalties as l1_penalties (a sequence), not "
            "l1_penalty."
        )
    allowed = set(ConceptDecomposer._get_param_names()) - {"vocabulary", "l1_penalty"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise TypeError(
            f"concept_path got unexpected parameter(s) {unknown}; it takes the "
            f"parameters of ConceptDecomposer: {sorted(allowed)}."
        )
    penalties = _check_penalties(
        _PAPER_L1_PENALTIES if l1_penalties is None else l1_penalties
    )
    decomposer = ConceptDecomposer(vocabulary, l1_penalty=penalties[0], **params)
    decomposer.fit(X)
    # As transform would: validate, then normalise and centre.
    Z = decomposer._center(decomposer._validate_embeddings(X, reset=False))
    codes = decomposer._solve_path(Z, penalties)
    if decomposer.output == "dense":
        codes = [weights.toarray() for weights in codes]
    return penalties, codes


def _check_penalties(l1_penalties):
    """Penalties as a decreasing float array; a clear error for bad ones."""
    try:
        penalties = np.asarray(l1_penalties, dtype=np.float64)
    except (TypeError, ValueError):
        penalties = None
    if penalties is None or penalties.ndim != 1 or len(penalties) == 0:
        raise ValueError(
            "l1_penalties must be a non-empty 1-D sequence of numbers, got "
            f"{l1_penalties!r}."
        )
    if not np.isfinite(penalties).all() or (penalties < 0).any():
        raise ValueError(
            f"l1_penalties must be finite and >= 0, got {penalties.tolist()}."
        )
    penalties = np.sort(penalties)[::-1]
    if (np.diff(penalties) == 0).any():
        raise ValueError(
            f"l1_penalties must be distinct, got {penalties.tolist()}: each penalty "
            "is solved once."
        )
    return penalties
