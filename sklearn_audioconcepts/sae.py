"""TopK sparse autoencoder over embeddings, as a scikit-learn transformer."""

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._device import resolve_device, resolve_dtype
from ._numerics import cast_finite
from ._progress import progress_bar
from ._sae_support import (
    LAYER_NORM_EPS,
    broadcast_edit,
    check_layer_norm_spread,
    layer_norm,
    one_edit,
    sample_rows,
    state_to_numpy,
    state_to_torch,
)
from ._validation import check_embeddings, check_input_features

__all__ = ["TopKSparseAutoencoder"]

# Rows used for the geometric median and the data statistics at
# initialisation (the reference implementation uses 32768).
_INIT_SAMPLE_SIZE = 32768
# Normalised MSE of an epoch above which training has diverged: predicting
# the mean scores 1, and a fresh model is of that order.
_DIVERGED_NMSE = 1e4


class TopKSparseAutoencoder(TransformerMixin, BaseEstimator):
    """Sparse autoencoder with a TopK activation (Gao et al., 2024).

    Each embedding ``x`` (e.g. a 192-d TitaNet speaker embedding) is encoded
    into ``n_latents`` nonnegative latents of which at most ``k`` are nonzero,
    and decoded as a sum of unit-norm latent directions::

        z     = ReLU(TopK_k(W_enc (x - b_pre) + b_enc))
        x_hat = W_dec^T z + b_pre

    on inputs normalised as ``normalize`` says. Training minimises the MSE
    normalised by the data variance plus ``aux_coef`` times the AuxK loss,
    which makes the ``aux_k`` most active dead latents reconstruct the
    residual and so brings them back. ``b_pre`` starts at the geometric
    median of the data, the decoder rows are random unit vectors kept unit
    norm throughout training (the gradient component along each row is
    projected out and rows are renormalised after every Adam step), and the
    encoder starts as the decoder's transpose. Latents then read as features:
    rank them against an attribute, or steer one with :meth:`steer`.

    Parameters
    ----------
    n_latents : int or None, default=None
        Dictionary size ``L``. ``None`` uses ``expansion_factor`` times the
        input dimension.
    expansion_factor : float, default=8
        ``L / n_features`` when ``n_latents`` is None (rounded, at least 1).
    k : int, default=32
        Active latents per sample; at most ``n_latents``. With
        ``sparsity="batch_topk"``, the mean number per training sample.
    sparsity : {"topk", "batch_topk"}, default="topk"
        ``"topk"`` keeps the ``k`` largest pre-activations of each sample.
        ``"batch_topk"`` (BatchTopK, Bussmann et al. 2024) keeps the ``k *
        batch`` largest of each training batch, so samples that need more
        latents get more; training also learns ``threshold_``, the running
        mean of each batch's smallest kept activation, and :meth:`transform`
        keeps the activations above it, row by row (the code of a row does
        not depend on the other rows given with it).
    matryoshka_sizes : array-like of int or None, default=None
        Matryoshka training (Bussmann et al., 2025): increasing prefix sizes
        ``m_1 < m_2 < ...``; latents ``0 .. m_i - 1`` must reconstruct the
        input on their own, so early latents learn general features and
        later ones refinements. The loss is the mean of the prefixes'
        normalised MSEs. ``n_latents_`` is appended when the last size is
        below it. Works with either ``sparsity``. ``None`` trains the full
        code only.
    aux_k : int, default=256
        Dead latents used by the AuxK loss per sample (fewer when fewer are
        dead). 0 turns the AuxK loss off.
    aux_coef : float, default=1/32
        Weight of the AuxK loss (the reference value).
    dead_samples_threshold : int, default=2048
        A latent counts as dead for the AuxK loss once it has not fired on
        any of the last ``dead_samples_threshold`` training samples.
    lr : float, default=1e-3
        Adam learning rate.
    batch_size : int, default=256
        Samples per Adam step; also the batch of :meth:`transform`.
    max_epochs : int, default=100
        Passes over the data in :meth:`fit`.
    normalize : {"scale", "layer_norm", "none"}, default="scale"
        Input normalisation. ``"layer_norm"`` is what Gao et al.'s released
        TopK autoencoders do: each row is centred on its own mean and divided
        by its own standard deviation before encoding, and decoded rows are
        mapped back with those statistics. ``"scale"`` divides all rows by one
        number learned at the first fit (the root-mean-square deviation of the
        data from its mean, so features have unit average variance), which
        keeps :meth:`inverse_transform` exact from the codes alone. ``"none"``
        uses the data as given. ``"scale"`` is scale-free: ``X`` and ``X *
        1e200`` give the same codes. ``"layer_norm"`` is too as long as row
        standard deviations dwarf its epsilon (1e-5); rows with a nonzero
        standard deviation below it raise an error, since the epsilon rather
        than the row would set their scale. ``"none"`` trains on the values
        themselves: they must keep squared errors within the range of
        ``dtype`` (about ``1e-12`` to ``1e17`` in float32), or :meth:`fit`
        raises an error.
    device : {"auto", "cpu", "cuda"} or str, default="auto"
        Where training and encoding run; ``"auto"`` picks CUDA when available.
        Fitted attributes are NumPy arrays, so a model trained on a GPU loads
        and runs anywhere.
    dtype : {"float32", "float64"}, default="float32"
        Working precision and dtype of the outputs.
    output : {"dense", "sparse"}, default="dense"
        :meth:`transform` returns a dense array or a CSR matrix holding only
        the active latents.
    progress : bool or "auto", default="auto"
        Show a progress bar over epochs; ``"auto"`` shows it on terminals.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and the shuffling, through a generator local
        to the call (the global PyTorch and NumPy generators are untouched).

    Attributes
    ----------
    components_ : ndarray of shape (`n_latents_`, `n_features_in_`)
        Unit-norm decoder directions (rows of ``W_dec``), in normalised units.
    encoder_weight_ : ndarray of shape (`n_latents_`, `n_features_in_`)
        Encoder matrix ``W_enc``.
    encoder_bias_ : ndarray of shape (`n_latents_`,)
        Latent bias ``b_enc``.
    pre_bias_ : ndarray of shape (`n_features_in_`,)
        ``b_pre``, subtracted before encoding and added after decoding.
    input_scale_ : float
        Divisor of the inputs for ``normalize="scale"`` (1.0 otherwise): the
        root-mean-square deviation of the first training data from their
        mean, or their largest magnitude when all rows are identical.
    layer_norm_mean_, layer_norm_std_ : float
        Average row mean and row standard deviation of the first training
        data for ``normalize="layer_norm"``; :meth:`inverse_transform` maps
        codes back with them (0.0 and 1.0 otherwise).
    n_latents_ : int
        Dictionary size used.
    matryoshka_sizes_ : ndarray of int or None
        Prefix sizes trained, ending at `n_latents_` (None without
        Matryoshka training).
    threshold_ : float
        ``sparsity="batch_topk"``: activations at or below it are zeroed by
        :meth:`transform` (in normalised units). 0.0 for ``"topk"``.
    dead_latents_ : ndarray of int
        Latents that fired on no sample during the last epoch (last
        :meth:`partial_fit` call).
    samples_since_fired_ : ndarray of shape (`n_latents_`,)
        Training samples since each latent last fired (drives the AuxK loss).
    history_ : list of dict
        One record per epoch (per :meth:`partial_fit` call): ``epoch``,
        ``loss``, ``nmse`` (normalised MSE of the full code), ``aux_loss``,
        ``dead_fraction``, ``n_samples``, ``n_steps``. With Matryoshka
        prefixes ``loss`` averages the prefixes' normalised MSEs.
    n_iter_ : int
        Epochs run (``partial_fit`` calls count one each).
    n_steps_ : int
        Adam steps taken.
    n_features_in_ : int
        Embedding dimension seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string
        column names.

    See Also
    --------
    sklearn.decomposition.MiniBatchDictionaryLearning : Sparse coding with a learned
        dictionary and an L1 penalty.

    References
    ----------
    .. [1] L. Gao, T. Dupré la Tour, H. Tillman, G. Goh, R. Troll, A. Radford,
       I. Sutskever, J. Leike and J. Wu, "Scaling and evaluating sparse
       autoencoders", 2024.
    .. [2] J. Pluth, Y. Zhou and V. Gurbani, "Sparse autoencoders on voice
       embeddings", 2025.
    .. [3] B. Bussmann, P. Leask and N. Nanda, "BatchTopK sparse autoencoders",
       2024.
    .. [4] B. Bussmann, N. Nabeshima, A. Karvonen and N. Nanda, "Learning
       multi-level features with Matryoshka sparse autoencoders", 2025.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_audioconcepts import TopKSparseAutoencoder
    >>> X = np.random.default_rng(0).standard_normal((300, 16))
    >>> sae = TopKSparseAutoencoder(n_latents=64, k=4, max_epochs=5,
    ...                             device="cpu", random_state=0)
    >>> codes = sae.fit_transform(X)
    >>> codes.shape
    (300, 64)
    >>> int((codes > 0).sum(axis=1).max()) <= 4
    True
    >>> sae.steer(X[:2], latent=3, delta=1.0).shape
    (2, 16)

    BatchTopK with Matryoshka prefixes: ``k`` latents per row on average, and
    the first 16 latents reconstruct on their own.

    >>> nested = TopKSparseAutoencoder(n_latents=64, k=4, sparsity="batch_topk",
    ...                                matryoshka_sizes=[16], max_epochs=5,
    ...                                device="cpu", random_state=0).fit(X)
    >>> nested.matryoshka_sizes_.tolist()
    [16, 64]
    >>> bool(nested.threshold_ > 0)
    True
    """

    _parameter_constraints: dict = {
        "n_latents": [Interval(Integral, 1, None, closed="left"), None],
        "expansion_factor": [Interval(Real, 0, None, closed="neither")],
        "k": [Interval(Integral, 1, None, closed="left")],
        "sparsity": [StrOptions({"topk", "batch_topk"})],
        "matryoshka_sizes": ["array-like", None],
        "aux_k": [Interval(Integral, 0, None, closed="left")],
        "aux_coef": [Interval(Real, 0, None, closed="left")],
        "dead_samples_threshold": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "normalize": [StrOptions({"scale", "layer_norm", "none"})],
        "device": [str],
        "dtype": [StrOptions({"float32", "float64"})],
        "output": [StrOptions({"dense", "sparse"})],
        "progress": ["boolean", StrOptions({"auto"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        n_latents=None,
        expansion_factor=8,
        k=32,
        sparsity="topk",
        matryoshka_sizes=None,
        aux_k=256,
        aux_coef=1 / 32,
        dead_samples_threshold=2048,
        lr=1e-3,
        batch_size=256,
        max_epochs=100,
        normalize="scale",
        device="auto",
        dtype="float32",
        output="dense",
        progress="auto",
        random_state=None,
    ):
        self.n_latents = n_latents
        self.expansion_factor = expansion_factor
        self.k = k
        self.sparsity = sparsity
        self.matryoshka_sizes = matryoshka_sizes
        self.aux_k = aux_k
        self.aux_coef = aux_coef
        self.dead_samples_threshold = dead_samples_threshold
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.normalize = normalize
        self.device = device
        self.dtype = dtype
        self.output = output
        self.progress = progress
        self.random_state = random_state

    # -- fitting ---------------------------------------------------------------

    def fit(self, X, y=None):
        """Train the autoencoder for ``max_epochs`` passes over ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : TopKSparseAutoencoder
            Fitted autoencoder.

        Raises
        ------
        ValueError
            When training diverges (the message names ``lr``), or when the
            normalised data are beyond what ``dtype`` training can hold.

        Warns
        -----
        UserWarning
            When ``X`` has fewer samples than ``k`` (or only one): the latents
            of such a fit mean nothing.
        """
        self._validate_params()
        X = self._validate_embeddings(X, reset=True)
        if len(X) < max(2, self.k):
            warnings.warn(
                f"Fitting a TopK autoencoder on {len(X)} sample(s) with k={self.k}: "
                "with fewer samples than active latents (or a single one) each "
                "sample can be reconstructed without learning any feature, so the "
                "latents mean nothing. Fit on many more samples than k.",
                UserWarning,
                stacklevel=2,
            )
        self._initialize(X)
        epochs = progress_bar(
            range(self.max_epochs), progress=self.progress, desc="SAE epochs"
        )
        for _ in epochs:
            self._run_epoch(X, shuffle=True)
        self._export_state()
        return self

    def partial_fit(self, X, y=None):
        """One pass over a chunk of data, continuing from the previous state.

        The first call initialises the model from the chunk (geometric
        median, scale); later calls keep the weights, the Adam state and the
        dead-latent counters, so a data set larger than memory can be streamed
        chunk by chunk. Memory is bounded by the chunk and the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A chunk of embeddings.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : TopKSparseAutoencoder
            Updated autoencoder.
        """
        first_call = not hasattr(self, "components_")
        if first_call:
            self._validate_params()
        X = self._validate_embeddings(X, reset=first_call)
        if first_call:
            self._initialize(X)
        self._run_epoch(X, shuffle=True)
        self._export_state()
        return self

    # -- transforming --------------------------------------------------------

    def transform(self, X):
        """Sparse latent code of each embedding.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings.

        Returns
        -------
        codes : ndarray or scipy.sparse.csr_matrix of shape (n_samples, `n_latents_`)
            Nonnegative latents: at most ``k`` nonzero per row with
            ``sparsity="topk"``; those above ``threshold_`` with
            ``"batch_topk"`` (``k`` per row on average on training data).
        """
        check_is_fitted(self)
        X = self._validate_embeddings(X, reset=False)
        return self._codes_matrix(self._encode(self._normalize(X)[0]))

    def inverse_transform(self, X):
        """Decode latent codes back to embeddings.

        With ``normalize="layer_norm"`` the per-row statistics of the original
        embeddings are not in the code; rows are mapped back with the average
        training statistics (``layer_norm_mean_``, ``layer_norm_std_``). Use
        :meth:`reconstruct` to reconstruct embeddings with their own.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, `n_latents_`)
            Latent codes, e.g. from :meth:`transform`.

        Returns
        -------
        embeddings : ndarray of shape (n_samples, `n_features_in_`)
            Decoded embeddings.
        """
        check_is_fitted(self)
        codes = self._validate_codes(X)
        decoded = np.asarray(codes @ self.components_) + self.pre_bias_
        return self._output_dtype(
            decoded * self._inverse_scale() + self.layer_norm_mean_,
            "The decoded embedding",
        )

    def reconstruct(self, X):
        """Encode then decode each embedding, with its own normalisation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings.

        Returns
        -------
        reconstruction : ndarray of shape (n_samples, `n_features_in_`)
            ``decode(encode(x))`` in the units of ``X``.
        """
        check_is_fitted(self)
        X = self._validate_embeddings(X, reset=False)
        return self._output_dtype(self._reconstruct(X), "The reconstruction")

    def score(self, X, y=None):
        """Fraction of variance of ``X`` explained by the reconstructions.

        ``1 - sum ||x - x_hat||^2 / sum ||x - mean(X)||^2``: 1 is perfect, 0
        is no better than predicting the mean.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings (at least two distinct rows).
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        score : float
            Fraction of variance explained.
        """
        check_is_fitted(self)
        X = self._validate_embeddings(X, reset=False)
        X64 = X.astype(np.float64)
        # Compare the rows, not the total: the mean of identical rows is not
        # always exact, and a total of rounding noise would divide the error.
        if not np.ptp(X64, axis=0).any():
            raise ValueError(
                "score needs embeddings that vary: all rows of X are identical, so "
                "the fraction of variance explained is undefined. Score on a set "
                "of at least two distinct embeddings."
            )
        # Both sums in units of X's largest magnitude: squares of data near
        # 1e155 (or 1e-160) would overflow (underflow) in float64.
        unit = float(np.abs(X64).max())
        scaled = X64 / unit
        total = float(((scaled - scaled.mean(axis=0)) ** 2).sum())
        error = float(((scaled - self._reconstruct(X) / unit) ** 2).sum())
        return 1.0 - error / total

    def steer(self, X, latent, *, value=None, delta=None, scale=None):
        """Edit latents of each embedding's code and return the edited embeddings.

        Each row ``x`` is encoded to ``z``; the chosen latents are set to
        ``value``, shifted by ``delta`` or multiplied by ``scale`` (exactly one
        of the three) giving ``z'``; the result is ``decode(z') + (x -
        decode(z))``: the row's reconstruction residual is kept, so the
        embedding moves only along the steered latents' directions, by
        ``(z' - z)`` times their decoder rows (in the units of ``X``).
        ``delta=0`` or ``scale=1`` returns ``X`` unchanged. Latents not active
        in a row have activation 0 there: ``value`` switches them on, ``scale``
        leaves them at 0. ``value`` and ``scale`` must be nonnegative: they
        state an activation, and TopK latents (ReLU outputs) are never
        negative. ``delta`` may take a latent below 0 on purpose: it is a
        displacement along the latent's decoder direction, so a negative
        ``delta`` moves an embedding against that direction ("steers away"),
        beyond what switching the latent off (``value=0``) does.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings to steer.
        latent : int or array-like of int
            Latent index (or indices) in ``[0, n_latents_)``.
        value, delta, scale : float or array-like, default=None
            The edit; a scalar, one value per latent, or an array of shape
            (n_samples, n_steered).

        Returns
        -------
        steered : ndarray of shape (n_samples, `n_features_in_`)
            Edited embeddings.
        """
        check_is_fitted(self)
        latents = self._validate_latents(latent)
        edit, how = one_edit(value=value, delta=delta, scale=scale)
        if how != "delta" and (np.asarray(edit, dtype=np.float64) < 0).any():
            raise ValueError(
                f"{how} must be nonnegative, got {edit!r}: TopK latents are ReLU "
                f"outputs, so no embedding has a negative activation to set "
                f"{'it to' if how == 'value' else 'by scaling'}. Use value=0 to "
                "switch a latent off, or a negative delta to move embeddings "
                "against a latent's direction."
            )
        X = self._validate_embeddings(X, reset=False)
        edit = broadcast_edit(edit, len(X), len(latents), how)
        normalized, shift, row_scale = self._normalize(X)
        # Current activation of each steered latent in each row: (n, m).
        current = self._encode(normalized)[:, latents].toarray()
        if how == "value":
            change = edit - current
        elif how == "delta":
            change = edit
        else:
            change = current * (edit - 1.0)
        moved = (change @ self.components_[latents]) * row_scale
        return self._output_dtype(X.astype(np.float64) + moved, "The steered X")

    def get_feature_names_out(self, input_features=None):
        """Output names ``latent_0`` ... ``latent_{L-1}``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored except for validation against ``feature_names_in_``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per latent.
        """
        check_is_fitted(self)
        check_input_features(self, input_features)
        return np.asarray([f"latent_{i}" for i in range(self.n_latents_)], object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.non_deterministic = self.random_state is None
        tags.transformer_tags.preserves_dtype = [self.dtype]
        return tags

    def __getstate__(self):
        state = self.__dict__.copy()
        # The live module and optimizer hold device tensors (possibly CUDA);
        # the fitted arrays and a CPU copy of the Adam state are enough to
        # rebuild them, so a model fitted on a GPU loads anywhere.
        state.pop("_model", None)
        state.pop("_optimizer", None)
        return state

    # -- training helpers ------------------------------------------------------

    def _initialize(self, X):
        """Fresh model, optimizer and statistics from the (first) data."""
        import torch

        from . import _sae

        n_features = X.shape[1]
        n_latents = self.n_latents
        if n_latents is None:
            n_latents = max(1, int(round(self.expansion_factor * n_features)))
        if self.k > n_latents:
            raise ValueError(
                f"k={self.k} active latents cannot exceed n_latents={n_latents}. "
                "Lower k or raise n_latents (or expansion_factor)."
            )
        matryoshka_sizes = self._check_matryoshka_sizes(n_latents)
        device = resolve_device(self.device)
        _, torch_dtype = resolve_dtype(self.dtype)

        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        generator = torch.Generator().manual_seed(int(seed))
        rows = sample_rows(len(X), _INIT_SAMPLE_SIZE, generator)
        sample = X[rows].astype(np.float64)

        self.input_scale_, self.layer_norm_mean_, self.layer_norm_std_ = 1.0, 0.0, 1.0
        if self.normalize == "scale":
            # Identical rows have no spread: their magnitude still brings the
            # normalised data to order 1, whatever the units of X.
            largest = float(np.abs(sample).max())
            self.input_scale_ = _sae.data_spread(sample) or largest or 1.0
        elif self.normalize == "layer_norm":
            _, means, stds = layer_norm(sample)
            self.layer_norm_mean_ = float(means.mean())
            self.layer_norm_std_ = float(stds.mean())
        normalized_sample = self._normalize(sample)[0]
        variance = _sae.data_variance(normalized_sample)
        self._mse_scale = 1.0 / variance if variance > 0 else 1.0

        model = _sae.TopKSAE(
            n_features,
            n_latents,
            self.k,
            sparsity=self.sparsity,
            matryoshka_sizes=matryoshka_sizes,
            dtype=torch_dtype,
            device=device,
        )
        _sae.initialize_from_data(model, torch.from_numpy(normalized_sample), generator)
        self._model = model
        self._optimizer = _sae.make_optimizer(model, self.lr)
        self._generator_state = generator.get_state().numpy()
        self._optimizer_state = None
        self.n_latents_ = n_latents
        self.matryoshka_sizes_ = matryoshka_sizes
        self._fit_k, self._fit_sparsity = self.k, self.sparsity
        self.history_ = []
        self.n_iter_ = 0
        self.n_steps_ = 0

    def _run_epoch(self, X, *, shuffle):
        import torch

        from . import _sae

        self._check_unchanged(training=True)
        model, optimizer = self._live_model(training=True)
        generator = torch.Generator()
        generator.set_state(torch.from_numpy(self._generator_state.copy()))
        normalized = self._normalize(X)[0]
        self._check_trainable(normalized)
        data = torch.from_numpy(np.array(normalized, copy=True))
        record = _sae.train_epoch(
            model,
            optimizer,
            data,
            batch_size=self.batch_size,
            mse_scale=self._mse_scale,
            generator=generator if shuffle else None,
            aux_k=self.aux_k,
            aux_coef=self.aux_coef,
            dead_threshold=self.dead_samples_threshold,
        )
        self._generator_state = generator.get_state().numpy()
        if not np.isfinite(record["loss"]) or record["nmse"] > _DIVERGED_NMSE:
            units = (
                " With normalize='none' the steps are in the data's units (spread "
                f"{_sae.data_spread(data):.3g}): use normalize='scale' for data far "
                "from unit scale."
                if self.normalize == "none"
                else ""
            )
            raise ValueError(
                f"Training diverged in epoch {self.n_iter_ + 1}: loss "
                f"{record['loss']:.3g}, normalised MSE {record['nmse']:.3g} (1 is "
                f"the error of predicting the mean). lr={self.lr!r} is too large "
                f"for this data; lower it (the default is 1e-3) and fit again."
                f"{units}"
            )
        fired = record.pop("fired").cpu().numpy()
        self.dead_latents_ = np.flatnonzero(~fired)
        self.n_iter_ += 1
        self.n_steps_ += record["n_steps"]
        self.history_.append({"epoch": self.n_iter_, **record})

    def _check_trainable(self, normalized):
        """Refuse training data whose squared errors the dtype cannot hold.

        ``normalize="scale"`` brings any data to unit spread; ``"none"`` (and
        ``"layer_norm"`` on rows of tiny spread) can leave values whose
        squares overflow to inf or underflow to 0 in the working precision,
        which would train to NaN or to nothing in silence.
        """
        from . import _sae

        numpy_dtype, _ = resolve_dtype(self.dtype)
        finfo = np.finfo(numpy_dtype)
        largest = float(np.abs(normalized).max()) if normalized.size else 0.0
        spread = _sae.data_spread(normalized)
        high = float(np.sqrt(finfo.max / normalized.shape[1])) / 10
        # Squared errors at the working precision must stay normal numbers.
        low = float(np.sqrt(finfo.tiny) / finfo.eps)
        if largest <= high and not 0 < spread < low:
            return
        problem = (
            f"values up to {largest:.3g}"
            if largest > high
            else f"a spread (root-mean-square deviation) of {spread:.3g}"
        )
        hint = (
            " normalize='layer_norm' divides rows by their standard deviation plus "
            f"{LAYER_NORM_EPS:g}, which shrinks rows of tinier spread."
            if self.normalize == "layer_norm"
            else ""
        )
        raise ValueError(
            f"With normalize={self.normalize!r} the training data have {problem}: "
            f"{self.dtype} training needs values below {high:.1e} and a spread "
            f"above {low:.1e}, or its squared errors overflow or underflow.{hint} "
            "Use normalize='scale' (scale-free), dtype='float64', or rescale X."
        )

    def _export_state(self):
        """Copy the fitted weights to NumPy attributes (CPU, picklable)."""
        model = self._model
        numpy_dtype, _ = resolve_dtype(self.dtype)

        def to_numpy(tensor):
            return tensor.detach().cpu().numpy().astype(numpy_dtype, copy=True)

        self.components_ = to_numpy(model.decoder_weight)
        self.encoder_weight_ = to_numpy(model.encoder_weight)
        self.encoder_bias_ = to_numpy(model.encoder_bias)
        self.pre_bias_ = to_numpy(model.pre_bias)
        self.samples_since_fired_ = model.samples_since_fired.cpu().numpy().copy()
        self.threshold_ = float(model.threshold)
        self._threshold_updates = int(model.threshold_updates)
        self._optimizer_state = state_to_numpy(self._optimizer.state_dict())

    def _live_model(self, *, training=False):
        """The torch module on the chosen device, rebuilt after unpickling."""
        import torch

        from . import _sae

        model = getattr(self, "_model", None)
        device = resolve_device(self.device)
        if model is None or model.pre_bias.device != device:
            _, torch_dtype = resolve_dtype(self.dtype)
            model = _sae.TopKSAE(
                self.n_features_in_,
                self.n_latents_,
                self._fitted_k(),
                sparsity=self._fitted_sparsity(),
                matryoshka_sizes=self.matryoshka_sizes_,
                dtype=torch_dtype,
                device=device,
            )
            with torch.no_grad():
                model.decoder_weight.copy_(torch.from_numpy(self.components_))
                model.encoder_weight.copy_(torch.from_numpy(self.encoder_weight_))
                model.encoder_bias.copy_(torch.from_numpy(self.encoder_bias_))
                model.pre_bias.copy_(torch.from_numpy(self.pre_bias_))
                model.samples_since_fired.copy_(
                    torch.from_numpy(self.samples_since_fired_)
                )
                model.threshold.fill_(self.threshold_)
                model.threshold_updates.fill_(self._threshold_updates)
            self._model = model
            self._optimizer = None
        if training and getattr(self, "_optimizer", None) is None:
            self._optimizer = _sae.make_optimizer(model, self.lr)
            if self._optimizer_state is not None:
                self._optimizer.load_state_dict(state_to_torch(self._optimizer_state))
        return model, getattr(self, "_optimizer", None)

    # -- encoding helpers ------------------------------------------------------

    def _encode(self, normalized):
        """Codes of normalised rows, as a CSR matrix in the working dtype."""
        from . import _sae

        self._check_unchanged()
        model, _ = self._live_model()
        indptr, indices, values = _sae.encode_batches(
            model, normalized, batch_size=self.batch_size
        )
        return sp.csr_matrix(
            (values, indices, indptr), shape=(len(normalized), self.n_latents_)
        )

    def _check_unchanged(self, *, training=False):
        """Refuse parameters that shape the fitted model once they changed.

        ``k`` and ``sparsity`` decide what a code is; ``matryoshka_sizes``
        decides what training optimises (checked before further training).
        """
        changed = [
            (name, getattr(self, name), fitted)
            for name, fitted in (
                ("k", self._fitted_k()),
                ("sparsity", self._fitted_sparsity()),
            )
            if getattr(self, name) != fitted
        ]
        if training:
            sizes = self._check_matryoshka_sizes(self.n_latents_)
            fitted_sizes = self.matryoshka_sizes_
            if (sizes is None) != (fitted_sizes is None) or (
                sizes is not None and not np.array_equal(sizes, fitted_sizes)
            ):
                changed.append(
                    ("matryoshka_sizes", self.matryoshka_sizes, fitted_sizes)
                )
        if changed:
            name, now, fitted = changed[0]
            raise ValueError(
                f"{name} was changed to {now!r} after fitting with {fitted!r}; refit "
                f"(or set {name} back) before {'training' if training else 'encoding'}."
            )

    def _fitted_k(self):
        # Recorded at initialisation: after unpickling the live module is
        # rebuilt from these, not from parameters set since.
        return getattr(self, "_fit_k", self.k)

    def _fitted_sparsity(self):
        return getattr(self, "_fit_sparsity", self.sparsity)

    def _check_matryoshka_sizes(self, n_latents):
        """Validated prefix sizes ending at ``n_latents``, or None."""
        if self.matryoshka_sizes is None:
            return None
        sizes = np.asarray(self.matryoshka_sizes)
        if (
            sizes.ndim != 1
            or sizes.size == 0
            or not np.issubdtype(sizes.dtype, np.integer)
        ):
            raise ValueError(
                "matryoshka_sizes must be a non-empty list of integers (prefix sizes), "
                f"got {self.matryoshka_sizes!r}."
            )
        if sizes[0] < 1 or (np.diff(sizes) <= 0).any() or sizes[-1] > n_latents:
            raise ValueError(
                f"matryoshka_sizes must be strictly increasing prefix sizes between 1 "
                f"and n_latents={n_latents}, got {sizes.tolist()}. Give e.g. "
                f"[{max(1, n_latents // 8)}, {max(1, n_latents // 2)}, {n_latents}]."
            )
        if sizes[-1] < n_latents:
            sizes = np.append(sizes, n_latents)
        return sizes.astype(np.int64)

    def _reconstruct(self, X):
        normalized, shift, row_scale = self._normalize(X)
        codes = self._encode(normalized).astype(np.float64)
        decoded = np.asarray(codes @ self.components_) + self.pre_bias_
        return decoded * row_scale + shift

    def _normalize(self, X):
        """Normalised rows and the (shift, scale) that map them back."""
        X = np.asarray(X, dtype=np.float64)
        if self.normalize == "layer_norm":
            normalized, means, stds = layer_norm(X)
            check_layer_norm_spread(stds)
            return normalized, means[:, None], (stds + LAYER_NORM_EPS)[:, None]
        return X / self.input_scale_, 0.0, self.input_scale_

    def _inverse_scale(self):
        if self.normalize == "layer_norm":
            return self.layer_norm_std_ + LAYER_NORM_EPS
        return self.input_scale_

    def _codes_matrix(self, codes):
        if self.output == "sparse":
            codes.sort_indices()
            codes.eliminate_zeros()
            return codes
        return codes.toarray()

    # -- validation ------------------------------------------------------------

    def _validate_embeddings(self, X, *, reset):
        X = validate_data(
            self, X, reset=reset, dtype=(np.float64, np.float32), ensure_min_samples=1
        )
        return check_embeddings(X, name="X", reject_zero_rows=False)

    def _validate_codes(self, Z):
        if sp.issparse(Z):
            Z = Z.tocsr().astype(np.float64)
            data = Z.data
        else:
            Z = np.asarray(Z, dtype=np.float64)
            data = Z
        if Z.ndim != 2 or Z.shape[1] != self.n_latents_:
            raise ValueError(
                f"Expected latent codes of shape (n_samples, {self.n_latents_}), got "
                f"{Z.shape}."
            )
        if not np.isfinite(data).all():
            raise ValueError("Latent codes contain NaN or infinity.")
        if (data < 0).any():
            raise ValueError(
                "Latent codes must be nonnegative, as transform returns them (TopK "
                "latents are ReLU outputs). To move embeddings against a latent's "
                "direction, use steer with a negative delta."
            )
        return Z

    def _validate_latents(self, latent):
        latents = np.atleast_1d(np.asarray(latent))
        if (
            latents.ndim != 1
            or latents.size == 0
            or not (np.issubdtype(latents.dtype, np.integer))
        ):
            raise ValueError(
                f"latent must be an integer index or a non-empty 1-D array of them, "
                f"got {latent!r}."
            )
        bad = latents[(latents < 0) | (latents >= self.n_latents_)]
        if len(bad):
            raise ValueError(
                f"latent index {bad.tolist()} is out of range: this autoencoder has "
                f"{self.n_latents_} latents (indices 0 to {self.n_latents_ - 1})."
            )
        if len(np.unique(latents)) != len(latents):
            raise ValueError(
                f"latent indices must be distinct, got {latents.tolist()}."
            )
        return latents.astype(np.int64)

    def _output_dtype(self, array, what):
        numpy_dtype, _ = resolve_dtype(self.dtype)
        return cast_finite(array, numpy_dtype, what=what)
