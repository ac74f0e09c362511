"""CLAP audio and text embeddings of three model families as one transformer."""

import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from . import _clap_backends
from ._batching import check_rows, embed_pieces, long_input_progress, windows_of
from ._clap_models import FAMILIES, PUBLISHED_MODELS
from ._device import resolve_device
from ._validation import check_texts
from .audio import FailureLog, audio_sources, resample

__all__ = ["CLAPEmbedder", "published_models"]

_TEXT_BATCH_SIZE = 128
# Inputs longer than this are read and resampled in blocks of _BLOCK_SECONDS
# and their windows embedded as they are read (memory does not grow with the
# length); shorter ones are read whole.
_STREAM_SECONDS = 60.0
_BLOCK_SECONDS = 30.0


def published_models():
    """The published CLAP models :class:`CLAPEmbedder` knows by name.

    Returns
    -------
    table : pandas.DataFrame
        One row per name (the index): ``family`` (the library that loads it:
        ``"laion"`` laion-clap, ``"hf"`` Hugging Face transformers,
        ``"msclap"`` Microsoft CLAP), ``audio_architecture``,
        ``text_encoder``, ``fusion``, ``sample_rate``, ``clip_seconds``,
        ``embedding_dim``, ``hub_repo``, ``filename``, ``url`` and
        ``description``.

    Examples
    --------
    >>> from sklearn_audioconcepts.clap import published_models
    >>> table = published_models()
    >>> table.loc["msclap-2023", ["family", "sample_rate", "embedding_dim"]].tolist()
    ['msclap', 44100, 1024]
    """
    import pandas as pd

    rows = [model.as_row() for model in PUBLISHED_MODELS.values()]
    return pd.DataFrame(rows).set_index("name").drop(columns="version")


class CLAPEmbedder(TransformerMixin, BaseEstimator):
    """Embed audio (files or waveforms) with a CLAP model: unit-norm rows.

    A stateless transformer: ``fit`` does nothing, :meth:`transform` turns
    audio into CLAP audio embeddings and :meth:`embed_text` turns texts into
    the same model's text embeddings, so both can feed a
    :class:`ConceptVocabulary`, a :class:`ConceptDecomposer` or a
    :class:`ZeroShotClassifier`. Three families of CLAP models load behind
    the same estimator, each through its own library:

    * ``"laion"``: LAION-CLAP checkpoints (``.pt``) through laion-clap's
      ``CLAP_Module`` (512-d, 48 kHz, 10 s clips);
    * ``"hf"``: Hugging Face transformers' ``ClapModel`` and
      ``ClapProcessor``, from a hub id such as ``"laion/larger_clap_general"``
      or a folder written by ``save_pretrained`` (512-d, 48 kHz, 10 s);
    * ``"msclap"``: Microsoft CLAP 2023 (HTS-AT + GPT-2, 1024-d, 44.1 kHz,
      7 s clips; the model of Zhang, Thomaz & Lu 2025) and 2022, through
      msclap's model classes.

    :func:`published_models` lists the names it knows; a published name needs
    no other option (the family, architecture and fusion come from the name),
    and a local file or folder is recognised from its contents. The model
    loads on first use, never in ``__init__``, ``get_params`` or ``clone``,
    and is not pickled. Checkpoint files are read as data
    (``weights_only=True``) and must fit the model exactly.

    Audio is downmixed to mono and resampled to the model's rate; a clip
    shorter than the model's clip length is repeat-padded, as in training;
    longer clips follow ``long_clips``.

    Parameters
    ----------
    checkpoint : str or path-like, default="630k-audioset-best"
        A published name (see :func:`published_models`), a Hugging Face hub
        id, a laion-clap (``.pt``) or msclap (``.pth``) checkpoint file, or a
        folder holding a transformers ``ClapModel`` and its processor.
        Published weights are looked for in the library's folder and the
        Hugging Face cache and downloaded when the machine is online;
        offline, the error names the file or folder to provide.
    family : {"auto", "laion", "hf", "msclap"}, default="auto"
        The model family; ``"auto"`` tells it from the name or the files.
        Setting it only checks that ``checkpoint`` is of that family.
    enable_fusion : bool or None, default=None
        LAION-CLAP feature fusion. ``None`` reads it from the name or the
        checkpoint; a value that contradicts them is an error.
    audio_model : str, path-like or None, default=None
        laion-clap audio architecture name (``"HTSAT-tiny"``,
        ``"HTSAT-base"``, ...) or the path of a laion-clap model-config JSON.
        ``None`` reads it from the name or the checkpoint's weights. Only for
        the ``"laion"`` family.
    text_model : str, path-like or None, default=None
        Directory holding the text encoder and its tokenizer as written by
        ``save_pretrained`` (RoBERTa for ``"laion"``, GPT-2 for msclap 2023,
        BERT for msclap 2022), used instead of the Hugging Face hub, so
        nothing is fetched. ``None`` uses the hub or its cache (offline: set
        ``HF_HUB_OFFLINE=1``). Not for ``"hf"``, whose folder holds its own.
    long_clips : {"mean", "crop", "fusion"}, default="mean"
        Clips longer than the model's clip length (10 s, or 7 s for msclap
        2023): ``"mean"`` embeds evenly spaced windows covering the clip and
        averages them (then re-normalises); ``"crop"`` keeps the first
        window; ``"fusion"`` uses the model's feature fusion (fusion models
        only; its chunks are drawn at random, made reproducible by
        ``random_state``). With ``"mean"`` and ``"crop"``, files longer than
        a minute are read block by block and their windows embedded as they
        are read, so memory does not grow with the length of a file;
        ``"fusion"`` reads the whole clip (cap it with ``max_duration``).
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
        Windows embedded per forward pass. Results do not depend on it.
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
        its windows; ``"auto"`` shows them on terminals only.
    random_state : int, RandomState instance or None, default=None
        Seeds the random chunks of ``long_clips="fusion"``; unused otherwise
        (every other path is deterministic).
    resampler : {"scipy", "librosa"}, default="scipy"
        How audio is resampled to the model's rate. ``"scipy"``: polyphase
        filtering (:func:`~sklearn_audioconcepts.audio.resample`), which reads
        long files block by block. ``"librosa"``: ``librosa.resample`` with
        ``soxr_hq``, exactly what ``librosa.load(path, sr=48000)`` in
        laion-clap's ``get_audio_embedding_from_filelist`` does; use it to
        match embeddings made that way (the two differ by up to a few
        hundredths of cosine on content near the input's Nyquist frequency,
        see the user guide). It reads each clip whole.

    Attributes
    ----------
    failed_ : pandas.DataFrame
        Clips of the last :meth:`transform` that failed under
        ``on_error="nan"`` (columns ``index``, ``input``, ``error``,
        ``message``); empty when none did. Nothing is learned by :meth:`fit`.

    See Also
    --------
    published_models : The names this embedder knows.
    ConceptVocabulary.from_texts : Embed concept names with :meth:`embed_text`.
    ConceptDecomposer : Sparse concept weights of the embeddings.
    ZeroShotClassifier : Classify embeddings against class prompts.

    Notes
    -----
    Each family keeps its library's preprocessing: laion-clap quantises
    waveforms to 16 bits, transformers' feature extractor computes its own
    mel spectrogram, msclap's HTS-AT takes raw 44.1 kHz audio. Silent audio
    gives a finite embedding (the model's response to silence).

    References
    ----------
    .. [1] Y. Wu, K. Chen, T. Zhang, Y. Hui, T. Berg-Kirkpatrick and S. Dubnov,
       "Large-scale Contrastive Language-Audio Pretraining with Feature Fusion
       and Keyword-to-Caption Augmentation", ICASSP 2023.
    .. [2] B. Elizalde, S. Deshmukh and H. Wang, "Natural Language Supervision
       for General-Purpose Audio Representations", ICASSP 2024.

    Examples
    --------
    >>> from sklearn.base import clone
    >>> from sklearn_audioconcepts.clap import CLAPEmbedder
    >>> embedder = CLAPEmbedder("msclap-2023", device="cpu")
    >>> clone(embedder).get_params()["checkpoint"]  # no model is loaded
    'msclap-2023'
    >>> embedder.get_feature_names_out()[:2]
    array(['clap0', 'clap1'], dtype=object)
    >>> len(embedder.get_feature_names_out())
    1024
    >>> embeddings = embedder.transform(["dog.wav", "rain.flac"])  # doctest: +SKIP
    >>> embeddings.shape  # doctest: +SKIP
    (2, 1024)
    """

    _parameter_constraints: dict = {
        "checkpoint": [str, os.PathLike],
        "family": [StrOptions({"auto", *FAMILIES})],
        "enable_fusion": ["boolean", None],
        "audio_model": [str, os.PathLike, None],
        "text_model": [str, os.PathLike, None],
        "long_clips": [StrOptions({"mean", "crop", "fusion"})],
        "max_duration": [Interval(Real, 0, None, closed="neither"), None],
        "sample_rate": [Interval(Integral, 1, None, closed="left"), None],
        "device": [str],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "on_error": [StrOptions({"raise", "nan"})],
        "progress": ["boolean", StrOptions({"auto"})],
        "random_state": ["random_state"],
        "resampler": [StrOptions({"scipy", "librosa"})],
    }

    def __init__(
        self,
        checkpoint="630k-audioset-best",
        *,
        family="auto",
        enable_fusion=None,
        audio_model=None,
        text_model=None,
        long_clips="mean",
        max_duration=None,
        sample_rate=None,
        device="auto",
        batch_size=16,
        on_error="raise",
        progress="auto",
        random_state=None,
        resampler="scipy",
    ):
        self.checkpoint = checkpoint
        self.family = family
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
        self.resampler = resampler

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
        self._model_spec()
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
        embeddings : ndarray of shape (n_clips, embedding_dim), dtype float32
            Unit-norm CLAP audio embeddings, in the order of ``X``
            (``embedding_dim`` is 512 for LAION models, 1024 for msclap).
        """
        self._validate_params()
        spec = self._model_spec()
        sources = audio_sources(X, sample_rate=self.sample_rate)
        backend = self._backend()
        fusion = self.long_clips == "fusion"
        rng = None
        if fusion and self.random_state is not None:
            rng = [check_random_state(self.random_state)]

        def embed(windows):
            with _clap_backends.numpy_global_rng(rng):
                return backend.embed_audio(windows, fusion=fusion)

        failures = FailureLog(self.on_error)
        sums, _ = embed_pieces(
            sources,
            pieces=self._pieces,
            embed=embed,
            dim=spec.embedding_dim,
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
        embeddings : ndarray of shape (n_texts, embedding_dim), dtype float32
            Unit-norm CLAP text embeddings.
        """
        self._validate_params()
        texts = check_texts(texts)
        backend = self._backend()
        batches = [
            backend.embed_text(texts[start : start + _TEXT_BATCH_SIZE])
            for start in range(0, len(texts), _TEXT_BATCH_SIZE)
        ]
        embeddings = np.concatenate(batches).astype(np.float64)
        embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
        return embeddings.astype(np.float32)

    def get_feature_names_out(self, input_features=None):
        """Names of the embedding dimensions: ``clap0``, ``clap1``, ...

        The width is the model's (512 for LAION models, 1024 for msclap),
        known from the name or the checkpoint without building the model.

        Parameters
        ----------
        input_features : Ignored
            Audio has no input feature names; present for API consistency.

        Returns
        -------
        feature_names_out : ndarray of str objects of shape (embedding_dim,)
            One name per embedding dimension.
        """
        width = self._model_spec().embedding_dim
        return np.asarray([f"clap{i}" for i in range(width)], dtype=object)

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
        for name in ("_backend_model", "_backend_key", "_spec", "_spec_key"):
            state.pop(name, None)
        return state

    # -- helpers ---------------------------------------------------------------

    def _model_spec(self):
        """What the model is (family, rate, clip length, width), without loading it.

        Resolved once per parameter set (a local checkpoint file is read with
        ``weights_only=True`` to tell its family); long_clips is checked
        against it.
        """
        key = (
            os.fspath(self.checkpoint),
            self.family,
            self.enable_fusion,
            None if self.audio_model is None else os.fspath(self.audio_model),
            _clap_backends.local_identity(self.checkpoint),
        )
        if getattr(self, "_spec_key", None) != key:
            self._spec = _clap_backends.resolve_model(
                self.checkpoint,
                family=self.family,
                enable_fusion=self.enable_fusion,
                audio_model=self.audio_model,
            )
            self._spec_key = key
        spec = self._spec
        if self.long_clips == "fusion" and not spec.fusion:
            raise ValueError(
                f"long_clips='fusion' uses feature fusion, which {spec.name!r} "
                f"({spec.family} family) was not trained with; use 'mean' or "
                "'crop', or a fusion model (e.g. '630k-audioset-fusion-best' or "
                "'laion/clap-htsat-fused')."
            )
        if self.text_model is not None and spec.family == "hf":
            raise ValueError(
                f"text_model applies to the laion and msclap families; {spec.name!r} "
                "is a transformers ClapModel, whose folder holds its own text "
                "encoder and tokenizer: leave text_model=None."
            )
        return spec

    def _check_input(self, source):
        """Run the per-clip step of :meth:`transform` (no model) on one input."""
        self._validate_params()
        for _ in self._pieces(source):
            pass

    def _pieces(self, source):
        """Read one clip and yield its windows (each with weight 1).

        Everything that can fail because of this clip happens here, under the
        failure log; a long file is read block by block as its windows are
        consumed.
        """
        spec = self._model_spec()
        rate, window, cap = spec.sample_rate, spec.clip_samples, self.max_duration
        n_samples = source.n_samples(rate, max_duration=cap)
        if self.resampler == "librosa":
            waveform = source.load(None, mono=True, max_duration=cap)
            waveform = resample(
                waveform, source._n_frames_and_rate()[1], rate, method="librosa"
            )
            for piece in self._windows(waveform, window):
                yield piece, 1.0
            return
        if self.long_clips == "fusion" or n_samples <= _STREAM_SECONDS * rate:
            waveform = source.load(rate, mono=True, max_duration=cap)
            for piece in self._windows(waveform, window):
                yield piece, 1.0
            return
        blocks = source.stream(rate, block_seconds=_BLOCK_SECONDS, max_duration=cap)
        starts = [0]
        if self.long_clips == "mean":
            starts = _clap_backends.window_starts(n_samples, window)
        pieces = windows_of(blocks, starts, window, label=source.label)
        for piece in long_input_progress(
            pieces, total=len(starts), progress=self.progress, source=source
        ):
            yield piece, 1.0

    def _windows(self, waveform, window):
        """The pieces of one clip the model embeds (each at most ``window``)."""
        if self.long_clips == "fusion" or len(waveform) <= window:
            return [waveform]
        if self.long_clips == "crop":
            return [waveform[:window]]
        return [
            waveform[start : start + window]
            for start in _clap_backends.window_starts(len(waveform), window)
        ]

    def _backend(self):
        """The loaded model, (re)built when the model parameters changed.

        Models are shared between estimators with the same model parameters
        (e.g. the clones of a grid search), see
        ``_clap_backends.cached_backend``.
        """
        spec = self._model_spec()
        device = resolve_device(self.device)
        text_model = None if self.text_model is None else os.fspath(self.text_model)
        key = (self._spec_key, text_model, str(device))
        if getattr(self, "_backend_key", None) != key:
            self._backend_model = _clap_backends.cached_backend(
                spec, text_model=text_model, device=device
            )
            self._backend_key = key
        return self._backend_model
