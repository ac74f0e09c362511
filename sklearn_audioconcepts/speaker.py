"""Speaker-embedding transformers: NVIDIA NeMo TitaNet and Resemblyzer.

Both take audio in any form :mod:`sklearn_audioconcepts.audio` accepts and
return one fixed-size embedding per input, so they sit at the head of a
:class:`~sklearn.pipeline.Pipeline` (e.g. before a
:class:`~sklearn_audioconcepts.TopKSparseAutoencoder`).
"""

import hashlib
import warnings
from pathlib import Path, PurePosixPath

import numpy as np

from ._speaker import SpeakerEmbedderBase

__all__ = ["ResemblyzerEmbedder", "TitaNetEmbedder"]

# The parameters and attributes both embedders share (from SpeakerEmbedderBase),
# written once and put into each class docstring.
_SHARED_PARAMETERS = """\
sample_rate : int or None, default=None
        Rate of raw waveforms passed without their own; file inputs and
        ``(waveform, rate)`` pairs carry theirs.
    batch_size : int, default=32
        Inputs (or two-minute segments of long inputs) embedded per forward
        pass; a batch is cut short at two minutes of audio (TitaNet) or 256
        windows of 1.6 s (Resemblyzer). Results do not depend on it.
    device : {"auto", "cpu", "cuda"} or str, default="auto"
        Where the model runs; ``"auto"`` picks CUDA when available.
    on_error : {"raise", "nan"}, default="raise"
        What an input that cannot be read or used (missing, corrupt, empty,
        silent, NaN, bad sample rate, too short or without speech for the
        model, or a non-finite embedding) does: ``"raise"`` stops with an
        error naming it; ``"nan"`` makes its row NaN, warns once, and lists
        it in ``failed_``, so the output keeps one row per input (rows never
        shift against labels). Drop such rows, and their labels, before
        fitting: ``find_unusable_audio(X, embedder=self)``
        (:func:`~sklearn_audioconcepts.audio.find_unusable_audio`) finds them
        with this embedder's own per-input checks, without embedding.
    max_duration : float or None, default=None
        Embed only the first ``max_duration`` seconds of each input (longer
        files are read no further); ``None`` embeds everything.
    progress : bool or "auto", default="auto"
        Progress bar over inputs, and for an input longer than two minutes
        one over its segments; ``"auto"`` shows them on terminals only.
    random_state : int, RandomState instance or None, default=None
        Unused: inference is deterministic. Accepted so that every estimator
        of the package takes the same arguments.

    Attributes
    ----------
    failed_ : pandas.DataFrame
        Inputs of the last :meth:`transform` that failed under
        ``on_error="nan"`` (columns ``index``, ``input``, ``error``,
        ``message``); empty when none did. Set by :meth:`transform`.
"""


def _with_shared_parameters(cls):
    cls.__doc__ = cls.__doc__.replace("{shared_parameters}", _SHARED_PARAMETERS)
    return cls


@_with_shared_parameters
class TitaNetEmbedder(SpeakerEmbedderBase):
    """Speaker embeddings from an NVIDIA NeMo speaker model (TitaNet by default).

    Audio is downmixed to mono and resampled to the model's rate (16 kHz for
    TitaNet), zero-padded into batches and passed with its true lengths
    through the model's preprocessor, encoder and attentive-pooling decoder
    (padding does not change an embedding). The output is the decoder's
    embedding layer: 192 dimensions for ``titanet_large``, as in Pluth, Zhou
    and Gurbani (2025). Requires ``nemo_toolkit[asr]``
    (``pip install "sklearn-audioconcepts[speaker]"``).

    Parameters
    ----------
    model_name : str, default="titanet_large"
        Pretrained model fetched by NeMo's ``from_pretrained`` (from NVIDIA's
        NGC catalogue, then cached) when ``checkpoint`` is None. Other NeMo
        speaker models work too, e.g. ``"titanet_small"`` or ``"ecapa_tdnn"``.
    checkpoint : str or path-like or None, default=None
        A local ``.nemo`` file, loaded with ``restore_from``; use it offline
        (download ``titanet-l.nemo`` once, on a machine with internet) or for
        your own fine-tuned speaker model.
    {shared_parameters}
    See Also
    --------
    ResemblyzerEmbedder : A 256-d speaker encoder whose weights ship with its
        wheel, so it works offline.

    Notes
    -----
    The embedder is stateless: ``fit`` learns nothing and ``transform`` works
    unfitted. The model loads on first use, is kept for later calls, and is
    not pickled: a pickled embedder reloads it after unpickling.

    Digitally silent inputs, and inputs shorter than the featuriser needs
    (two hops and one FFT window: 32 ms for TitaNet), raise
    :class:`~sklearn_audioconcepts.audio.AudioInputError` (or fail their own
    row under ``on_error="nan"``) rather than returning an undefined
    embedding. An input longer than two minutes is read in two-minute
    segments and its embedding is the segments' embeddings averaged,
    weighted by length, so memory does not grow with its length.

    References
    ----------
    .. [1] N. R. Koluguri, T. Park and B. Ginsburg, "TitaNet: Neural model for
       speaker representation with 1D depth-wise separable convolutions and
       global context", ICASSP 2022.
    .. [2] D. Pluth, Y. Zhou and V. K. Gurbani, "Sparse autoencoder insights
       on voice embeddings", 2025.

    Examples
    --------
    >>> from sklearn_audioconcepts.speaker import TitaNetEmbedder
    >>> embedder = TitaNetEmbedder(checkpoint="titanet-l.nemo", device="cpu")
    >>> embedder.get_params()["checkpoint"]
    'titanet-l.nemo'
    >>> # embeddings = embedder.fit_transform(["a.wav", "b.flac"])  # (2, 192)
    """

    _feature_prefix = "titanet_"

    _parameter_constraints: dict = {
        **SpeakerEmbedderBase._parameter_constraints,
        "model_name": [str],
        "checkpoint": [str, Path, None],
    }

    def __init__(
        self,
        model_name="titanet_large",
        *,
        checkpoint=None,
        sample_rate=None,
        batch_size=32,
        device="auto",
        on_error="raise",
        max_duration=None,
        progress="auto",
        random_state=None,
    ):
        self.model_name = model_name
        self.checkpoint = checkpoint
        self.sample_rate = sample_rate
        self.batch_size = batch_size
        self.device = device
        self.on_error = on_error
        self.max_duration = max_duration
        self.progress = progress
        self.random_state = random_state

    def _model_key(self):
        return (
            self.model_name,
            None if self.checkpoint is None else str(self.checkpoint),
        )

    def _load_model(self, device):
        model_class = _nemo_speaker_model_class()
        if self.checkpoint is not None:
            path = Path(self.checkpoint).expanduser()
            if not path.is_file():
                raise FileNotFoundError(
                    f"NeMo checkpoint not found: '{path}'. "
                    f"{_where_to_get(model_class, self.model_name)}"
                )
            model = model_class.restore_from(str(path), map_location=device)
        else:
            model = _from_pretrained(model_class, self.model_name, device)
        return model.to(device).eval()

    def _model_sample_rate(self, model):
        rate = model.cfg.preprocessor.get("sample_rate", None) or model.cfg.get(
            "sample_rate", 16000
        )
        return int(rate)

    def _embedding_dim(self, model):
        sizes = model.cfg.decoder.emb_sizes
        return int(sizes if isinstance(sizes, int) else list(sizes)[-1])

    def _prepare(self, model, waveform, label):
        n_min = _titanet_min_samples(model)
        if len(waveform) < n_min:
            from .audio import AudioInputError

            raise AudioInputError(
                f"{label} is {len(waveform)} samples long; the speaker model needs "
                f"at least {n_min} ({n_min / self._model_sample_rate(model):g} s) "
                "to compute its features. Remove it or give a longer recording."
            )
        yield waveform, float(len(waveform))

    def _max_batch_weight(self, model):
        # Weights are samples: at most one long segment's worth per forward
        # pass, so a batch of long inputs does not multiply the memory.
        return self._segment_seconds * self._model_sample_rate(model)

    def _embed_pieces(self, model, waveforms):
        import torch

        lengths = [len(waveform) for waveform in waveforms]
        padded = np.zeros((len(waveforms), max(lengths)), dtype=np.float32)
        for row, waveform in enumerate(waveforms):
            padded[row, : len(waveform)] = waveform
        device = next(model.parameters()).device
        with torch.inference_mode():
            _, embeddings = model(
                input_signal=torch.from_numpy(padded).to(device),
                input_signal_length=torch.tensor(lengths, device=device),
            )
        # Weighted by length: a long input's segments average by duration.
        return embeddings.double().cpu().numpy() * np.asarray(lengths)[:, None]

    def _finish(self, sums, weights):
        return sums / weights[:, None]


@_with_shared_parameters
class ResemblyzerEmbedder(SpeakerEmbedderBase):
    """Speaker embeddings from Resemblyzer's pretrained voice encoder (256-d).

    The ``resemblyzer`` wheel ships the weights of a GE2E speaker encoder
    (three-layer LSTM over 40-band mel frames), so this embedder works
    offline. Each input is resampled to 16 kHz, loudness-normalised and
    stripped of long pauses by voice-activity detection (Resemblyzer's
    ``preprocess_wav``), cut into 1.6 s windows, and the windows' embeddings
    are averaged and L2-normalised, as Resemblyzer's ``embed_utterance``
    does. Windows of all inputs in a batch go through the network together.
    Requires ``pip install resemblyzer`` (its ``webrtcvad`` dependency needs
    ``setuptools<81`` for ``pkg_resources``).

    Parameters
    ----------
    {shared_parameters}
    See Also
    --------
    TitaNetEmbedder : NVIDIA NeMo's TitaNet speaker embeddings (192-d).

    Notes
    -----
    Embeddings are unit-norm and nonnegative (the encoder ends in a ReLU).
    The embedder is stateless; the model loads on first use and is not
    pickled. Digitally silent inputs, and inputs in which voice-activity
    detection finds no speech (e.g. one sample, or quiet noise), raise
    :class:`~sklearn_audioconcepts.audio.AudioInputError` (or fail their own
    row under ``on_error="nan"``). An input longer than two minutes is read
    in two-minute segments, each loudness-normalised and trimmed of pauses on
    its own (``preprocess_wav`` works on a whole waveform), and the windows
    of all its segments are averaged; segments without speech are skipped.
    Memory then does not grow with the length of an input.

    References
    ----------
    .. [1] L. Wan, Q. Wang, A. Papir and I. Lopez Moreno, "Generalized
       end-to-end loss for speaker verification", ICASSP 2018.

    Examples
    --------
    >>> from sklearn_audioconcepts.speaker import ResemblyzerEmbedder
    >>> embedder = ResemblyzerEmbedder(sample_rate=16000, device="cpu")
    >>> embedder.fit() is embedder  # stateless: nothing to learn
    True
    >>> # embeddings = embedder.transform(["a.wav", "b.flac"])  # (2, 256)
    """

    _feature_prefix = "resemblyzer_"

    def __init__(
        self,
        *,
        sample_rate=None,
        batch_size=32,
        device="auto",
        on_error="raise",
        max_duration=None,
        progress="auto",
        random_state=None,
    ):
        self.sample_rate = sample_rate
        self.batch_size = batch_size
        self.device = device
        self.on_error = on_error
        self.max_duration = max_duration
        self.progress = progress
        self.random_state = random_state

    def _load_model(self, device):
        resemblyzer = _import_resemblyzer()
        return resemblyzer.VoiceEncoder(device=device, verbose=False).eval()

    def _model_sample_rate(self, model):
        return _import_resemblyzer().hparams.sampling_rate

    def _embedding_dim(self, model):
        return int(model.linear.out_features)

    def _prepare(self, model, waveform, label):
        resemblyzer = _import_resemblyzer()
        with np.errstate(divide="ignore", invalid="ignore"):
            speech = resemblyzer.preprocess_wav(waveform)
        if len(speech) == 0:
            from .audio import AudioInputError

            raise AudioInputError(
                f"{label}: voice-activity detection found no speech (the audio "
                "is too short, too quiet or holds no voice); a speaker embedding "
                "needs speech. Remove it, or check its level and content."
            )
        windows = np.stack(_resemblyzer_windows(resemblyzer, model, speech))
        yield windows, float(len(windows))

    def _max_batch_weight(self, model):
        return _RESEMBLYZER_WINDOWS_PER_PASS  # weights are windows

    def _embed_pieces(self, model, pieces):
        import torch

        windows = np.concatenate(pieces)
        with torch.inference_mode():
            window_embeddings = np.concatenate(
                [
                    model(torch.from_numpy(chunk).to(model.device)).cpu().numpy()
                    for chunk in np.array_split(
                        windows, -(-len(windows) // _RESEMBLYZER_WINDOWS_PER_PASS)
                    )
                ]
            ).astype(np.float64)
        # Each piece's windows summed: the clip's embedding is their mean, and
        # a long input's segments pool all their windows.
        ends = np.cumsum([len(piece) for piece in pieces])
        return np.add.reduceat(window_embeddings, np.r_[0, ends[:-1]])

    def _finish(self, sums, weights):
        return sums / np.linalg.norm(sums, axis=1, keepdims=True)


# Mel windows (1.6 s each) per forward pass: bounds the LSTM's activations.
_RESEMBLYZER_WINDOWS_PER_PASS = 256


def _resemblyzer_windows(resemblyzer, model, speech):
    """Mel windows of one preprocessed utterance, as ``embed_utterance`` cuts them."""
    # Resemblyzer's own defaults: 1.3 windows per second, keep a last partial
    # window covering at least 75% of its length.
    wav_slices, mel_slices = model.compute_partial_slices(len(speech), 1.3, 0.75)
    needed = wav_slices[-1].stop
    if needed >= len(speech):
        speech = np.pad(speech, (0, needed - len(speech)))
    mel = resemblyzer.audio.wav_to_mel_spectrogram(speech)
    return [mel[s] for s in mel_slices]


def _import_resemblyzer():
    try:
        with warnings.catch_warnings():
            # webrtcvad imports the deprecated pkg_resources: not our users' concern.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            import resemblyzer
            import resemblyzer.audio
            import resemblyzer.hparams
    except ModuleNotFoundError as exc:
        if exc.name == "pkg_resources":
            raise ImportError(
                "resemblyzer's dependency webrtcvad imports pkg_resources, which "
                "setuptools 81 removed: pip install 'setuptools<81'."
            ) from exc
        raise ImportError(
            "ResemblyzerEmbedder needs the resemblyzer package: pip install resemblyzer"
        ) from exc
    return resemblyzer


def _nemo_speaker_model_class():
    try:
        from nemo.collections.asr.models import EncDecSpeakerLabelModel
    except ImportError as exc:
        raise ImportError(
            f"TitaNetEmbedder needs NVIDIA NeMo's ASR collection, which failed to "
            f"import ({exc}). Install it with pip install "
            "'sklearn-audioconcepts[speaker]' (or 'nemo_toolkit[asr]')."
        ) from exc
    return EncDecSpeakerLabelModel


def _pretrained_info(model_class, model_name):
    for info in model_class.list_available_models() or []:
        if model_name == info.pretrained_model_name or model_name in (
            info.aliases or []
        ):
            return info
    return None


def _nemo_cache_file(info):
    """Where NeMo's ``from_pretrained`` looks for a downloaded NGC checkpoint."""
    from nemo.utils.data_utils import resolve_cache_dir

    filename = PurePosixPath(info.location).name
    subfolder = hashlib.md5(
        (info.location + info.description).encode("utf-8")
    ).hexdigest()
    return Path(resolve_cache_dir()) / filename[: -len(".nemo")] / subfolder / filename


def _where_to_get(model_class, model_name):
    info = _pretrained_info(model_class, model_name)
    if info is None:
        return "Pass the path of an existing .nemo speaker-model file as checkpoint=."
    filename = PurePosixPath(info.location).name
    return (
        f"For {model_name!r}, download '{filename}' from {info.location} on a machine "
        f"with internet and pass its path as checkpoint=, or place it at "
        f"'{_nemo_cache_file(info)}' where NeMo's from_pretrained finds it."
    )


def _from_pretrained(model_class, model_name, device):
    info = _pretrained_info(model_class, model_name)
    if info is None and "/" not in model_name:  # "org/name" is a Hugging Face id
        names = sorted(
            i.pretrained_model_name for i in model_class.list_available_models()
        )
        raise ValueError(
            f"Unknown NeMo speaker model {model_name!r}; available: {names}, a "
            "Hugging Face id ('org/name'), or a local file through checkpoint=."
        )
    try:
        return model_class.from_pretrained(model_name, map_location=device)
    except Exception as exc:  # NeMo raises ValueError/OSError/... when offline
        raise OSError(
            f"NeMo could not load the pretrained speaker model {model_name!r} "
            f"({type(exc).__name__}: {exc}); the machine may be offline and the "
            f"file is not in NeMo's cache. {_where_to_get(model_class, model_name)}"
        ) from exc


def _titanet_min_samples(model):
    """Shortest waveform NeMo's featuriser turns into usable features.

    Its frame count is ``len // hop`` and it normalises each mel band over
    the frames with an unbiased standard deviation, so fewer than two frames
    give NaN features (and a NaN embedding); shorter than one FFT window is
    refused too, as the spectrum would be mostly padding.
    """
    featurizer = getattr(getattr(model, "preprocessor", None), "featurizer", None)
    hop = getattr(featurizer, "hop_length", None)
    if hop is None:
        return 1
    return max(int(getattr(featurizer, "n_fft", 0) or 0), 2 * int(hop))
