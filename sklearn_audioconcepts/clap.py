"""LAION-CLAP audio and text embeddings as a scikit-learn transformer."""

import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from . import _clap
from ._batching import check_rows, embed_pieces, long_input_progress, windows_of
from ._device import resolve_device
from ._validation import check_texts
from .audio import FailureLog, audio_sources

__all__ = ["CLAPEmbedder"]

_TEXT_BATCH_SIZE = 128
# Inputs longer than this are read and resampled in blocks of _BLOCK_SECONDS
# and their windows embedded as they are read (memory does not grow with the
# length); shorter ones are read whole.
_STREAM_SECONDS = 60.0
_BLOCK_SECONDS = 30.0


class CLAPEmbedder(TransformerMixin, BaseEstimator):
    """Embed audio (files or waveforms) with LAION-CLAP: 512-d, unit-norm rows.

    A stateless transformer around laion-clap's ``CLAP_Module``: ``fit`` does
    nothing, :meth:`transform` turns audio into CLAP audio embeddings and
    :meth:`embed_text` turns texts into the same model's text embeddings, so
    both can feed a :class:`ConceptVocabulary`, a :class:`ConceptDecomposer`
    or a :class:`ZeroShotClassifier`. The model loads on first use, never in
    ``__init__``, ``get_params`` or ``clone``, and is not pickled.

    Audio is downmixed to mono, resampled to 48 kHz and then handed to
    laion-clap's ``get_audio_embedding_from_data``, which applies its own
    preprocessing (int16 quantisation, repeat-padding to 10 s). Clips longer
    than 10 s follow ``long_clips``.

    Parameters
    ----------
    checkpoint : str or path-like, default="630k-audioset-best"
        A laion-clap checkpoint file, or the name of a published one
        (``"630k-best"``, ``"630k-audioset-best"``, ``"630k-fusion-best"``,
        ``"630k-audioset-fusion-best"``, and the HTSAT-base music
        checkpoints), looked for in laion-clap's folder and the Hugging Face
        cache and downloaded when the machine is online. laion-clap unpickles
        checkpoint files: load only files you trust.
    enable_fusion : bool, default=False
        Build the feature-fusion variant; must match the checkpoint.
    audio_model : str or path-like, default="HTSAT-tiny"
        laion-clap audio architecture name (``"HTSAT-tiny"``, ``"HTSAT-base"``,
        ...) or the path of a laion-clap model-config JSON file.
    text_model : str, path-like or None, default=None
        Directory holding the RoBERTa text encoder and its tokenizer (as
        written by ``save_pretrained``), used instead of ``"roberta-base"``
        from the Hugging Face hub; nothing is then fetched from the hub.
        ``None`` uses the hub or its cache (offline: set ``HF_HUB_OFFLINE=1``).
    long_clips : {"mean", "crop", "fusion"}, default="mean"
        Clips longer than 10 s: ``"mean"`` embeds evenly spaced 10 s windows
        covering the clip and averages them (then re-normalises); ``"crop"``
        keeps the first 10 s; ``"fusion"`` uses laion-clap's feature fusion
        (needs ``enable_fusion=True``; its chunks are drawn at random, made
        reproducible by ``random_state``). With ``"mean"`` and ``"crop"``,
        files longer than a minute are read block by block and their windows
        embedded as they are read, so memory does not grow with the length of
        a file; ``"fusion"`` reads the whole clip (cap it with
        ``max_duration``).
    max_duration : float or None, default=None
        Embed only the first ``max_duration`` seconds of each clip (longer
        files are read no further); ``None`` embeds everything.
    sample_rate : int or None, default=None
        Sample rate of raw waveforms given without one (a list of 1-D arrays
        or a 2-D array). Files and ``(waveform, sample_rate)`` pairs carry
        their own.
    device : {"auto", "cpu", "cuda"} or str, default="auto"
        Where the model runs; ``"auto"`` picks CUDA when available.
    batch_size : int, default=16
        10 s windows embedded per forward pass. Results do not depend on it.
    on_error : {"raise", "nan"}, default="raise"
        What a clip that cannot be read or used (missing, corrupt, empty,
        NaN, bad sample rate, or a non-finite embedding) does: ``"raise"``
        stops with an error naming it; ``"nan"`` makes its row NaN, warns
        once, and lists it in ``failed_``, so the output keeps one row per
        clip (rows never shift against labels). Drop such rows, and their
        labels, before fitting: ``find_unusable_audio(X, embedder=self)``
        (:func:`~sklearn_audioconcepts.audio.find_unusable_audio`) finds them
        without embedding.
    progress : bool or "auto", default="auto"
        Progress bar over clips, and for a file longer than a minute one over
        its 10 s windows; ``"auto"`` shows them on terminals only.
    random_state : int, RandomState instance or None, default=None
        Seeds the random chunks of ``long_clips="fusion"``; unused otherwise
        (every other path is deterministic).

    Attributes
    ----------
    failed_ : pandas.DataFrame
        Clips of the last :meth:`transform` that failed under
        ``on_error="nan"`` (columns ``index``, ``input``, ``error``,
        ``message``); empty when none did. Nothing is learned by :meth:`fit`.

    See Also
    --------
    ConceptVocabulary.from_texts : Embed concept names with :meth:`embed_text`.
    ConceptDecomposer : Sparse concept weights of the embeddings.
    ZeroShotClassifier : Classify embeddings against class prompts.

    Notes
    -----
    laion-clap pads a clip shorter than 10 s by repeating it, and quantises
    waveforms to 16 bits before embedding, as in its training. Silent audio
    gives a finite embedding (the model's response to silence).

    References
    ----------
    .. [1] Y. Wu, K. Chen, T. Zhang, Y. Hui, T. Berg-Kirkpatrick and S. Dubnov,
       "Large-scale Contrastive Language-Audio Pretraining with Feature Fusion
       and Keyword-to-Caption Augmentation", ICASSP 2023.

    Examples
    --------
    >>> from sklearn.base import clone
    >>> from sklearn_audioconcepts.clap import CLAPEmbedder
    >>> embedder = CLAPEmbedder(checkpoint="630k-audioset-best", device="cpu")
    >>> clone(embedder).get_params()["checkpoint"]  # no model is loaded
    '630k-audioset-best'
    >>> embedder.get_feature_names_out()[:2]
    array(['clap0', 'clap1'], dtype=object)
    >>> embeddings = embedder.transform(["dog.wav", "rain.flac"])  # doctest: +SKIP
    >>> embeddings.shape  # doctest: +SKIP
    (2, 512)
    """

    _parameter_constraints: dict = {
        "checkpoint": [str, os.PathLike],
        "enable_fusion": ["boolean"],
        "audio_model": [str, os.PathLike],
        "text_model": [str, os.PathLike, None],
        "long_clips": [StrOptions({"mean", "crop", "fusion"})],
        "max_duration": [Interval(Real, 0, None, closed="neither"), None],
        "sample_rate": [Interval(Integral, 1, None, closed="left"), None],
        "device": [str],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "on_error": [StrOptions({"raise", "nan"})],
        "progress": ["boolean", StrOptions({"auto"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        checkpoint="630k-audioset-best",
        enable_fusion=False,
        audio_model="HTSAT-tiny",
        text_model=None,
        long_clips="mean",
        max_duration=None,
        sample_rate=None,
        device="auto",
        batch_size=16,
        on_error="raise",
        progress="auto",
        random_state=None,
    ):
        self.checkpoint = checkpoint
        self.enable_fusion = enable_fusion
        self.audio_model = audio_model
        self.text_model = text_model
        self.long_clips = long_clips
        self.max_duration = max_duration
        self.sample_rate = sample_rate
        self.device = device
        self.batch_size = batch_size
        self.on_error = on_error
        self.progress = progress
        self.random_state = random_state

    def fit(self, X=None, y=None):
        """Check the parameters; nothing is learned and no model is loaded.

        Parameters
        ----------
        X : Ignored
            Not used, present for API consistency.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : CLAPEmbedder
            The embedder itself.
        """
        self._validate_params()
        self._check_long_clips()
        return self

    def transform(self, X):
        """CLAP audio embeddings of each clip.

        Parameters
        ----------
        X : list of str or path-like, list of 1-D arrays, list of (array, int) \
pairs, or ndarray of shape (n_clips, n_samples)
            Audio files, raw waveforms (with ``sample_rate``), ``(waveform,
            sample_rate)`` pairs, or equal-length waveforms one per row.
            Multichannel waveforms, ``(n_samples, n_channels)`` or
            ``(n_channels, n_samples)``, are averaged to mono.

        Returns
        -------
        embeddings : ndarray of shape (n_clips, 512), dtype float32
            Unit-norm CLAP audio embeddings, in the order of ``X``.
        """
        self._validate_params()
        self._check_long_clips()
        sources = audio_sources(X, sample_rate=self.sample_rate)
        module = self._clap_module()
        rng = None
        if self.long_clips == "fusion" and self.random_state is not None:
            rng = [check_random_state(self.random_state)]

        def embed(windows):
            with _clap.numpy_global_rng(rng):
                return _clap.audio_embeddings(module, windows)

        failures = FailureLog(self.on_error)
        sums, _ = embed_pieces(
            sources,
            pieces=self._pieces,
            embed=embed,
            dim=_clap.EMBEDDING_DIM,
            batch_size=self.batch_size,
            failures=failures,
            progress=self.progress,
            desc="CLAP",
        )
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        embeddings = np.divide(
            sums, norms, out=np.zeros_like(sums), where=~(norms == 0)
        )
        check_rows(embeddings, sources, failures, "CLAP")
        self.failed_ = failures.to_frame()
        failures.warn(type(self).__name__)
        return embeddings.astype(np.float32)

    def embed_text(self, texts):
        """CLAP text embeddings, from the same model's text encoder.

        Parameters
        ----------
        texts : list of str
            Texts to embed (e.g. concept names or class prompts).

        Returns
        -------
        embeddings : ndarray of shape (n_texts, 512), dtype float32
            Unit-norm CLAP text embeddings.
        """
        self._validate_params()
        texts = check_texts(texts)
        module = self._clap_module()
        batches = [
            _clap.text_embeddings(module, texts[start : start + _TEXT_BATCH_SIZE])
            for start in range(0, len(texts), _TEXT_BATCH_SIZE)
        ]
        embeddings = np.concatenate(batches).astype(np.float64)
        embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
        return embeddings.astype(np.float32)

    def get_feature_names_out(self, input_features=None):
        """Names of the embedding dimensions: ``clap0`` ... ``clap511``.

        Parameters
        ----------
        input_features : Ignored
            Audio has no input feature names; present for API consistency.

        Returns
        -------
        feature_names_out : ndarray of str objects of shape (512,)
            One name per embedding dimension.
        """
        return np.asarray(
            [f"clap{i}" for i in range(_clap.EMBEDDING_DIM)], dtype=object
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Input is audio: file paths or waveforms, not a numeric feature matrix.
        # A 2-D array is accepted only as waveforms (one per row), so the tag
        # that promises "2-D numeric features" is off, as for text vectorizers.
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = False
        tags.non_deterministic = self.long_clips == "fusion"
        return tags

    def __getstate__(self):
        # The model is a cache rebuilt from the parameters, not state.
        state = super().__getstate__()
        state.pop("_module", None)
        state.pop("_module_key", None)
        return state

    # -- helpers ---------------------------------------------------------------

    def _check_long_clips(self):
        if self.long_clips == "fusion" and not self.enable_fusion:
            raise ValueError(
                "long_clips='fusion' uses laion-clap's feature fusion, which needs "
                "enable_fusion=True and a fusion checkpoint; use 'mean' or 'crop' "
                "otherwise."
            )

    def _check_input(self, source):
        """Run the per-clip step of :meth:`transform` (no model) on one input."""
        self._validate_params()
        self._check_long_clips()
        for _ in self._pieces(source):
            pass

    def _pieces(self, source):
        """Read one clip and yield its 10 s windows (each with weight 1).

        Everything that can fail because of this clip happens here, under the
        failure log; a long file is read block by block as its windows are
        consumed.
        """
        rate, cap = _clap.SAMPLE_RATE, self.max_duration
        n_samples = source.n_samples(rate, max_duration=cap)
        if self.long_clips == "fusion" or n_samples <= _STREAM_SECONDS * rate:
            waveform = source.load(rate, mono=True, max_duration=cap)
            for window in self._windows(waveform):
                yield window, 1.0
            return
        blocks = source.stream(rate, block_seconds=_BLOCK_SECONDS, max_duration=cap)
        starts = [0]
        if self.long_clips == "mean":
            starts = _clap.window_starts(n_samples)
        windows = windows_of(blocks, starts, _clap.CLIP_SAMPLES, label=source.label)
        for window in long_input_progress(
            windows, total=len(starts), progress=self.progress, source=source
        ):
            yield window, 1.0

    def _windows(self, waveform):
        """The pieces of one clip that laion-clap embeds (each at most 10 s)."""
        if self.long_clips == "fusion" or len(waveform) <= _clap.CLIP_SAMPLES:
            return [waveform]
        if self.long_clips == "crop":
            return [waveform[: _clap.CLIP_SAMPLES]]
        return [
            waveform[start : start + _clap.CLIP_SAMPLES]
            for start in _clap.window_starts(len(waveform))
        ]

    def _clap_module(self):
        """The loaded ``CLAP_Module``, (re)built when model parameters changed.

        Models are shared between estimators with the same model parameters
        (e.g. the clones of a grid search), see ``_clap.cached_clap_module``.
        """
        device = resolve_device(self.device)
        key = (
            os.fspath(self.checkpoint),
            bool(self.enable_fusion),
            os.fspath(self.audio_model),
            None if self.text_model is None else os.fspath(self.text_model),
            str(device),
        )
        if getattr(self, "_module_key", None) != key:
            self._module = _clap.cached_clap_module(
                self.checkpoint,
                audio_model=self.audio_model,
                enable_fusion=self.enable_fusion,
                text_model=self.text_model,
                device=device,
            )
            self._module_key = key
        return self._module
