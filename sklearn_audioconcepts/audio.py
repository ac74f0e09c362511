"""Audio input: the accepted forms, loading, mono downmix, resampling and checks.

Every embedder of the package takes audio in the same forms and turns it into
mono float32 waveforms at the sample rate its model expects through this
module, so that one set of checks (empty, non-finite, unknown or implausible
sample rate, unreadable file) guards them all:

- a list of file paths (anything ``soundfile`` reads: WAV, FLAC, OGG, MP3, ...),
- a list of 1-D waveforms, with the ``sample_rate`` given separately,
- a list of ``(waveform, sample_rate)`` pairs,
- a 2-D array of equal-length waveforms (one per row), with ``sample_rate``.

Waveforms are floats in [-1, 1]; integer PCM arrays are scaled into that range.
"""

import os
import warnings
from dataclasses import dataclass
from math import gcd
from numbers import Real
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "AudioInputError",
    "AudioSource",
    "audio_sources",
    "check_waveform",
    "find_unusable_audio",
    "is_silent",
    "iter_waveforms",
    "load_audio",
    "resample",
    "to_mono",
]

MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000
# resample_poly designs a filter whose length grows with max(up, down); past
# this the FFT method is cheaper (e.g. 44,101 Hz -> 48,000 Hz).
_MAX_POLYPHASE_FACTOR = 1_000
# A float waveform whose peak is far above full scale is almost always integer
# PCM cast to float without scaling; it would be clipped to noise downstream.
_SUSPICIOUS_PEAK = 2.0


class AudioInputError(ValueError):
    """Audio that cannot be used as given: empty, non-finite, unreadable, wrong rate."""


# What a bad input can raise while it is read and checked; anything else
# (a model, memory or CUDA error) is never swallowed by ``on_error="nan"``.
_INPUT_ERRORS = (AudioInputError, OSError)
_FAILURE_COLUMNS = ["index", "input", "error", "message"]


@dataclass(frozen=True)
class AudioSource:
    """One audio input, not yet loaded: a file path or an in-memory waveform.

    Attributes
    ----------
    path : pathlib.Path or None
        The file to read, for file inputs.
    waveform : ndarray or None
        The samples, for in-memory inputs (1-D, or 2-D with a channel axis).
    sample_rate : int or None
        Rate of ``waveform``; ``None`` for files (read from the header).
    label : str
        How error messages name this input, e.g. ``"X[3] ('a.wav')"``.
    """

    path: Path | None = None
    waveform: np.ndarray | None = None
    sample_rate: int | None = None
    label: str = "audio"

    def load(self, target_sample_rate, *, mono=True, max_duration=None):
        """The checked waveform at ``target_sample_rate``.

        Parameters
        ----------
        target_sample_rate : int or None
            Rate of the returned waveform; ``None`` keeps the input's own.
        mono : bool, default=True
            Downmix to (n_samples,); otherwise (n_channels, n_samples).
        max_duration : float or None, default=None
            Keep only the first ``max_duration`` seconds (files are read no
            further); ``None`` keeps everything.

        Returns
        -------
        waveform : ndarray of float32
            Shape (n_samples,) when ``mono``, else (n_channels, n_samples).
        """
        if self.path is not None:
            waveform, _ = load_audio(
                self.path,
                target_sample_rate=target_sample_rate,
                mono=mono,
                max_duration=max_duration,
            )
            return waveform
        waveform = _as_float_waveform(self.waveform, self.label)
        if mono:
            waveform = to_mono(waveform)
        else:
            waveform = _channels_first(np.atleast_2d(waveform))
        check_waveform(waveform, sample_rate=self.sample_rate, name=self.label)
        waveform = waveform[..., : _frame_cap(max_duration, self.sample_rate)]
        if target_sample_rate is None:
            return waveform
        return resample(waveform, self.sample_rate, target_sample_rate)

    def n_samples(self, target_sample_rate=None, *, max_duration=None):
        """Length of the (resampled, capped) waveform, read from the header only.

        Files are not decoded (except compressed formats whose headers give
        no exact length, which are decoded block by block and counted), so
        the length of an hour-long file costs nothing.

        Parameters
        ----------
        target_sample_rate : int or None, default=None
            Count samples at this rate; ``None`` at the input's own.
        max_duration : float or None, default=None
            Count only the first ``max_duration`` seconds.

        Returns
        -------
        n_samples : int
            ``len(self.load(target_sample_rate, max_duration=max_duration))``.
        """
        n_frames, rate = self._n_frames_and_rate()
        n_frames = min(n_frames, _frame_cap(max_duration, rate) or n_frames)
        if target_sample_rate is None:
            return n_frames
        target = _check_rate(target_sample_rate)
        return -(-n_frames * target // rate)

    def stream(self, target_sample_rate, *, block_seconds=30.0, max_duration=None):
        """Yield the mono waveform at ``target_sample_rate`` in consecutive blocks.

        Memory stays bounded by a few blocks whatever the input's length:
        files are read ``block_seconds`` at a time and resampled block by
        block with enough context on each side that the blocks, put end to
        end, equal the whole input resampled at once (polyphase filtering is
        local). Every block is checked as :meth:`load` checks a waveform.

        Parameters
        ----------
        target_sample_rate : int or None
            Rate of the blocks; ``None`` keeps the input's own.
        block_seconds : float, default=30.0
            Length of a block, in seconds of input.
        max_duration : float or None, default=None
            Stop after the first ``max_duration`` seconds.

        Yields
        ------
        block : ndarray of float32 of shape (n,)
            The next samples; the last block may be shorter.
        """
        _, rate = self._n_frames_and_rate()
        target = rate if target_sample_rate is None else _check_rate(target_sample_rate)
        block_frames = max(1, int(block_seconds * rate))
        blocks = self._input_blocks(block_frames, _frame_cap(max_duration, rate))
        yield from _resampled_blocks(blocks, rate, target, block_frames)

    # -- block reading -----------------------------------------------------------

    def _n_frames_and_rate(self):
        if self.path is not None:
            return _file_frames_and_rate(self.path)
        waveform = np.asarray(self.waveform)
        if waveform.ndim == 2:
            waveform = _channels_first(waveform)
        # The samples themselves are checked block by block as they are read.
        if self.sample_rate is None:
            check_waveform(waveform, sample_rate=None, name=self.label)  # says how
        _check_rate(self.sample_rate, name=self.label)
        if waveform.shape[-1] == 0:
            raise AudioInputError(_empty_message(self.label))
        return waveform.shape[-1], int(self.sample_rate)

    def _input_blocks(self, block_frames, max_frames):
        """Checked mono float32 blocks at the input's own rate."""
        if self.path is None:
            waveform = to_mono(_as_float_waveform(self.waveform, self.label))
            waveform = waveform[:max_frames]
            for start in range(0, len(waveform), block_frames):
                block = waveform[start : start + block_frames]
                _check_finite(block, self.label, offset=start)
                yield block
            return
        yield from _file_blocks(self.path, block_frames, max_frames)


def load_audio(path, *, target_sample_rate=None, mono=True, max_duration=None):
    """Read an audio file as float32 samples in [-1, 1].

    Parameters
    ----------
    path : str or path-like
        File in any format libsndfile reads (WAV incl. 8/16/24/32-bit integer
        and float, FLAC, OGG/Vorbis, MP3, AIFF, ...).
    target_sample_rate : int or None, default=None
        Resample to this rate; ``None`` keeps the file's rate.
    mono : bool, default=True
        Average the channels into one.
    max_duration : float or None, default=None
        Read only the first ``max_duration`` seconds; ``None`` reads all.

    Returns
    -------
    waveform : ndarray of float32
        Shape (n_samples,) when ``mono``, else (n_channels, n_samples).
    sample_rate : int
        Rate of the returned waveform.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    AudioInputError
        When the file cannot be decoded, holds no samples or non-finite ones,
        or declares an implausible sample rate.
    """
    import soundfile

    path, label = _checked_path(path)
    frames = -1
    if max_duration is not None:
        frames = _frame_cap(max_duration, _file_frames_and_rate(path)[1])
    try:
        data, sample_rate = soundfile.read(
            path, frames=frames, dtype="float32", always_2d=True
        )
    except (RuntimeError, soundfile.SoundFileError, TypeError) as exc:
        raise _decode_error(label, exc) from None
    missing = _truncated_riff_bytes(path)
    if missing:
        warnings.warn(
            f"{label} is truncated: its header declares {missing} more bytes than "
            f"the file holds, so only the {data.shape[0]} frames present were read. "
            "Re-download or re-export it if the whole clip matters.",
            UserWarning,
            stacklevel=2,
        )
    # soundfile's layout is known, (n_samples, n_channels): no guessing here.
    waveform = data.mean(axis=1) if mono else np.ascontiguousarray(data.T)
    check_waveform(waveform, sample_rate=sample_rate, name=label)
    if target_sample_rate is not None and target_sample_rate != sample_rate:
        waveform = resample(waveform, sample_rate, target_sample_rate)
        sample_rate = int(target_sample_rate)
    return waveform, int(sample_rate)


def resample(waveform, orig_sample_rate, target_sample_rate, *, method="scipy"):
    """Resample along the last axis with a band-limited (anti-aliased) filter.

    Parameters
    ----------
    waveform : ndarray of shape (..., n_samples)
        Samples to resample.
    orig_sample_rate, target_sample_rate : int
        Rates in Hz.
    method : {"scipy", "librosa"}, default="scipy"
        ``"scipy"``: polyphase filtering (:func:`scipy.signal.resample_poly`)
        for rational factors, the FFT method for factors with a huge
        numerator or denominator. ``"librosa"``: ``librosa.resample`` with
        ``res_type="soxr_hq"``, what ``librosa.load(path, sr=...)`` does (and
        so laion-clap's ``get_audio_embedding_from_filelist``); needs librosa.

    Returns
    -------
    resampled : ndarray of float32 of shape (..., n_resampled)
        ``n_resampled = ceil(n_samples * target / orig)``.
    """
    from scipy import signal

    orig, target = _check_rate(orig_sample_rate), _check_rate(target_sample_rate)
    if method not in ("scipy", "librosa"):
        raise ValueError(f"method must be 'scipy' or 'librosa', got {method!r}.")
    waveform = np.asarray(waveform, dtype=np.float32)
    if orig == target:
        return waveform
    if method == "librosa":
        try:
            import librosa
        except ImportError:
            raise ImportError(
                "resampler='librosa' needs librosa (installed with the [clap] "
                "extra, or: pip install librosa)."
            ) from None
        resampled = librosa.resample(
            waveform, orig_sr=orig, target_sr=target, res_type="soxr_hq"
        )
        return np.asarray(resampled, dtype=np.float32)
    divisor = gcd(orig, target)
    up, down = target // divisor, orig // divisor
    if max(up, down) <= _MAX_POLYPHASE_FACTOR:
        resampled = signal.resample_poly(waveform, up, down, axis=-1)
    else:
        n_out = -(-waveform.shape[-1] * target // orig)
        resampled = signal.resample(waveform, n_out, axis=-1)
    return resampled.astype(np.float32, copy=False)


def to_mono(waveform):
    """Average the channels of a waveform into one.

    Parameters
    ----------
    waveform : array-like of shape (n_samples,) or 2-D with a channel axis
        A 2-D waveform may be (n_samples, n_channels), as files are read, or
        (n_channels, n_samples), as librosa and torchaudio return them; the
        channel axis is the short one.

    Returns
    -------
    mono : ndarray of float32 of shape (n_samples,)
    """
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim == 1:
        return waveform
    return _channels_first(waveform).mean(axis=0)


def check_waveform(waveform, *, sample_rate, name="waveform"):
    """Raise :class:`AudioInputError` unless a waveform can be embedded.

    Checks that the sample rate is known and plausible, and that the samples
    are not empty and finite. Warns when the peak is far above full scale
    (integer PCM passed as unscaled floats). Silent audio passes: whether it
    is meaningful is the embedder's decision.
    """
    if sample_rate is None:
        raise AudioInputError(
            f"{name}: the sample rate is unknown. Pass `sample_rate=` with raw "
            "waveforms, or give (waveform, sample_rate) pairs or file paths."
        )
    _check_rate(sample_rate, name=name)
    waveform = np.asarray(waveform)
    if waveform.size == 0 or waveform.shape[-1] == 0:
        raise AudioInputError(_empty_message(name))
    _check_finite(waveform, name)
    peak = float(np.abs(waveform).max())
    if peak > _SUSPICIOUS_PEAK:
        warnings.warn(
            f"{name} peaks at {peak:.4g}, far above full scale (1.0): floats are "
            "expected in [-1, 1]. If these are integer PCM values, divide by "
            "32768 (16-bit) or pass the integer array itself.",
            UserWarning,
            stacklevel=3,
        )


def is_silent(waveform, threshold=1e-6):
    """True when no sample's magnitude exceeds ``threshold`` (digital silence)."""
    waveform = np.asarray(waveform)
    return waveform.size == 0 or float(np.abs(waveform).max()) <= threshold


def audio_sources(X, *, sample_rate=None):
    """Normalise any accepted audio input into a list of :class:`AudioSource`.

    Nothing is read from disk here, so a corpus can be listed, counted and
    split into batches before any file is decoded.

    Parameters
    ----------
    X : list, tuple, 1-D object array, pandas Series or 2-D numeric array
        File paths, 1-D waveforms, ``(waveform, sample_rate)`` pairs (forms
        may be mixed), or a 2-D array with one waveform per row.
    sample_rate : int or None, default=None
        Rate of raw waveforms given without their own.

    Returns
    -------
    sources : list of AudioSource
    """
    if sample_rate is not None:
        _check_rate(sample_rate, name="sample_rate")
    if isinstance(X, (str, bytes, os.PathLike)):
        raise AudioInputError(
            f"X must be a list of audio inputs, got a single path {X!r}; wrap it "
            "in a list: [path]."
        )
    if hasattr(X, "to_numpy") and getattr(X, "ndim", 1) == 1:  # pandas Series
        X = X.to_numpy()
    if isinstance(X, np.ndarray) and X.dtype != object:
        return _sources_from_array(X, sample_rate)
    try:
        items = list(X)
    except TypeError:
        raise AudioInputError(
            f"X must be a list of file paths, waveforms or (waveform, sample_rate) "
            f"pairs, or a 2-D array of waveforms; got {type(X).__name__}."
        ) from None
    if not items:
        raise AudioInputError("X is empty: give at least one audio input.")
    return [_source(item, index, sample_rate) for index, item in enumerate(items)]


def iter_waveforms(X, *, sample_rate=None, target_sample_rate, mono=True):
    """Yield each input of ``X`` as a checked float32 waveform at one rate.

    Parameters
    ----------
    X : see :func:`audio_sources`
    sample_rate : int or None, default=None
        Rate of raw waveforms given without their own.
    target_sample_rate : int or None
        Rate of the yielded waveforms (``None`` keeps each input's own).
    mono : bool, default=True
        Downmix to (n_samples,); otherwise yield (n_channels, n_samples).

    Yields
    ------
    waveform : ndarray of float32
    """
    for source in audio_sources(X, sample_rate=sample_rate):
        yield source.load(target_sample_rate, mono=mono)


def find_unusable_audio(X, *, embedder=None, sample_rate=None, target_sample_rate=None):
    """List the inputs that cannot be read or fail the checks, without embedding.

    A pre-flight pass for large corpora: decode every input once and report
    the bad ones, so they can be dropped from ``X`` *and* from the labels
    before fitting (an embedder never drops rows itself, which would
    misalign them with ``y``).

    With ``embedder``, each input goes through exactly the per-input step
    that embedder runs before its model (reading, resampling, its own checks
    such as silence or voice-activity detection for the speaker embedders),
    so the inputs listed are those its ``transform`` would fail on; no
    forward pass of the model is run.

    Parameters
    ----------
    X : see :func:`audio_sources`
    embedder : estimator or None, default=None
        A :class:`~sklearn_audioconcepts.CLAPEmbedder`,
        :class:`~sklearn_audioconcepts.speaker.ResemblyzerEmbedder` or
        :class:`~sklearn_audioconcepts.speaker.TitaNetEmbedder` (any object
        with a ``_check_input(source)`` method); its ``sample_rate`` applies
        when ``sample_rate`` is None and ``target_sample_rate`` is ignored.
        None checks only that each input reads and passes the generic checks.
    sample_rate : int or None, default=None
        Rate of raw waveforms given without their own.
    target_sample_rate : int or None, default=None
        Without ``embedder``: also resample to this rate (catches rates that
        cannot be converted); None skips resampling.

    Returns
    -------
    failures : pandas.DataFrame
        One row per unusable input with columns ``index`` (position in
        ``X``), ``input`` (how it is named in messages), ``error`` (exception
        type) and ``message``; empty when every input is usable.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_audioconcepts.audio import find_unusable_audio
    >>> X = [np.zeros(8000), np.array([]), "missing.wav"]
    >>> find_unusable_audio(X, sample_rate=8000)[["index", "error"]]
       index              error
    0      1    AudioInputError
    1      2  FileNotFoundError
    """
    failures = FailureLog()
    if embedder is not None:
        if sample_rate is None:
            sample_rate = getattr(embedder, "sample_rate", None)
        check = embedder._check_input
    else:

        def check(source):
            source.load(target_sample_rate)

    for index, source in enumerate(audio_sources(X, sample_rate=sample_rate)):
        failures.attempt(index, source, lambda s=source: check(s))
    return failures.to_frame()


class FailureLog:
    """Inputs that failed to load, for the embedders' ``on_error`` policy.

    ``on_error="raise"`` re-raises the first input error; ``"nan"`` records
    it and lets the embedder fill that row with NaN, keeping one output row
    per input so that rows and labels stay aligned.
    """

    def __init__(self, on_error="nan"):
        self.on_error = on_error
        self.records = []

    def attempt(self, index, source, load):
        """``load()``, or None after recording the input error it raised."""
        try:
            return load()
        except _INPUT_ERRORS as exc:
            self.fail(index, source, exc)
            return None

    def fail(self, index, source, exc):
        """Raise ``exc`` (``on_error="raise"``) or record it against one input."""
        if self.on_error == "raise":
            raise exc
        self.records.append(
            {
                "index": index,
                "input": source.label,
                "error": type(exc).__name__,
                "message": str(exc),
            }
        )

    @property
    def failed_indices(self):
        return [record["index"] for record in self.records]

    def to_frame(self):
        frame = pd.DataFrame(self.records, columns=_FAILURE_COLUMNS).astype(
            {"index": int}
        )
        # Failures found after the forward pass come last: list in input order.
        return frame.sort_values("index", kind="stable", ignore_index=True)

    def warn(self, name):
        """One warning for all failures of a transform, naming the first few."""
        if not self.records:
            return
        first = "; ".join(
            f"{record['input']}: {record['message']}" for record in self.records[:3]
        )
        warnings.warn(
            f"{name}: {len(self.records)} input(s) could not be embedded and are "
            f"NaN rows in the output (see the failed_ attribute). {first}",
            UserWarning,
            stacklevel=3,
        )


# -- helpers -----------------------------------------------------------------


def _check_rate(sample_rate, name="sample rate"):
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, Real):
        raise AudioInputError(
            f"{name} must be a number of samples per second, got {sample_rate!r}."
        )
    if sample_rate != int(sample_rate) or not (
        MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE
    ):
        raise AudioInputError(
            f"{name}: a sample rate of {sample_rate!r} Hz is not plausible; expected "
            f"a whole number between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE} Hz "
            "(e.g. 16000, 44100 or 48000). Check that the rate and the waveform "
            "were not swapped."
        )
    return int(sample_rate)


def _checked_path(path):
    """``path`` as a Path and its label, after the checks that need no decoding."""
    path = Path(os.fspath(path))
    label = f"audio file '{path}'"
    if path.is_dir():
        raise IsADirectoryError(
            f"'{path}' is a folder, not an audio file; list the files in it, e.g. "
            "sorted(Path(folder).glob('*.wav'))."
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"Audio file not found: '{path}'. Check the path (relative paths are "
            f"resolved from {Path.cwd()})."
        )
    if path.stat().st_size == 0:
        raise AudioInputError(f"Could not decode {label}: the file is empty (0 bytes).")
    return path, label


def _empty_message(name):
    return f"{name} is empty (0 samples); there is nothing to embed."


def _decode_error(label, exc):
    return AudioInputError(
        f"Could not decode {label}: {str(exc).rstrip('.')}. The file is "
        "truncated, corrupt, or in a format libsndfile does not read; convert "
        "it to WAV or FLAC (e.g. `ffmpeg -i in.m4a out.wav`)."
    )


def _frame_cap(max_duration, sample_rate):
    """Frames in the first ``max_duration`` seconds (None: no cap)."""
    if max_duration is None:
        return None
    return max(1, int(round(max_duration * sample_rate)))


# Formats whose header gives the exact number of frames; for the others
# (MP3, OGG/Vorbis, Opus) the frames are counted by decoding.
_EXACT_LENGTH_FORMATS = {"WAV", "WAVEX", "RF64", "W64", "FLAC", "AIFF", "AU", "CAF"}


def _file_frames_and_rate(path):
    import soundfile

    path, label = _checked_path(path)
    try:
        info = soundfile.info(path)
    except (RuntimeError, soundfile.SoundFileError, TypeError) as exc:
        raise _decode_error(label, exc) from None
    rate = _check_rate(info.samplerate, name=label)
    frames = info.frames
    if info.format not in _EXACT_LENGTH_FORMATS:
        frames = sum(len(block) for block in _file_blocks(path, 1 << 20, None))
    if frames <= 0:
        raise AudioInputError(_empty_message(label))
    return int(frames), rate


def _file_blocks(path, block_frames, max_frames):
    """Checked mono float32 blocks of a file, read one at a time."""
    import soundfile

    path, label = _checked_path(path)
    try:
        handle = soundfile.SoundFile(path)
    except (RuntimeError, soundfile.SoundFileError, TypeError) as exc:
        raise _decode_error(label, exc) from None
    with handle:
        _check_rate(handle.samplerate, name=label)
        if _truncated_riff_bytes(path):
            warnings.warn(
                f"{label} is truncated: its header declares "
                f"{_truncated_riff_bytes(path)} more bytes than the file holds; only "
                "the frames present are read.",
                UserWarning,
                stacklevel=3,
            )
        start = 0
        while max_frames is None or start < max_frames:
            n = block_frames
            if max_frames is not None:
                n = min(n, max_frames - start)
            try:
                data = handle.read(n, dtype="float32", always_2d=True)
            except (RuntimeError, soundfile.SoundFileError) as exc:
                raise _decode_error(label, exc) from None
            if len(data) == 0:
                break
            block = data.mean(axis=1)
            _check_finite(block, label, offset=start)
            yield block
            start += len(data)
        if start == 0:
            raise AudioInputError(_empty_message(label))


def _check_finite(waveform, name, offset=0):
    finite = np.isfinite(waveform)
    if not finite.all():
        raise AudioInputError(
            f"{name} contains {int((~finite).sum())} NaN or infinite sample(s) "
            f"(first at index {offset + int(np.flatnonzero(~finite.ravel())[0])}); "
            "clean or re-decode the audio."
        )


def _resampled_blocks(blocks, orig, target, block_frames):
    """Resample a stream of blocks; the output, end to end, is ``resample`` of all.

    resample_poly's output sample m depends only on the inputs within its
    filter's half-length (10 * max(up, down) upsampled samples) of input
    position m * down / up. Each segment is resampled with that much context
    on both sides and starts on a multiple of ``down``, where output positions
    are whole numbers, so its interior equals the whole-signal result. Rates
    whose ratio the whole-signal path resamples by FFT are filtered the same
    polyphase way here (an FFT over the whole input is what must be avoided).
    """
    if orig == target:
        yield from blocks
        return
    from scipy import signal

    divisor = gcd(orig, target)
    up, down = target // divisor, orig // divisor
    context = down * -(-(10 * max(up, down) // up + 2) // down)
    step = down * max(1, block_frames // down)
    buffer, buffer_start, position = np.empty(0, np.float32), 0, 0

    def resampled(stop):
        start = max(0, position - context)
        segment = buffer[start - buffer_start : stop - buffer_start]
        out = signal.resample_poly(segment, up, down).astype(np.float32, copy=False)
        return out[(position - start) * up // down :]

    for block in blocks:
        buffer = np.concatenate([buffer, block])
        while buffer_start + len(buffer) >= position + step + context:
            yield resampled(position + step + context)[: step * up // down]
            position += step
            drop = max(0, position - context) - buffer_start
            buffer, buffer_start = buffer[drop:], buffer_start + drop
    n_in = buffer_start + len(buffer)
    if position < n_in:
        yield resampled(n_in)[: -(-n_in * up // down) - position * up // down]


def _truncated_riff_bytes(path):
    """Bytes a RIFF/WAVE header declares beyond the end of the file (0 if none).

    libsndfile reads the frames present in a cut-off WAV without complaint.
    Streaming writers leave the size 0 or 0xFFFFFFFF (unknown): not truncation.
    """
    with open(path, "rb") as handle:
        header = handle.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return 0
    declared = int.from_bytes(header[4:8], "little")
    if declared in (0, 0xFFFFFFFF):
        return 0
    return max(0, declared + 8 - path.stat().st_size)


def _channels_first(waveform):
    """(n_channels, n_samples) from a 2-D waveform in either orientation."""
    if waveform.ndim != 2:
        raise AudioInputError(
            f"A waveform must be 1-D, or 2-D with a channel axis; got shape "
            f"{waveform.shape}."
        )
    return waveform if waveform.shape[0] <= waveform.shape[1] else waveform.T


def _as_float_waveform(waveform, label):
    waveform = np.asarray(waveform)
    if waveform.dtype.kind in "iu":
        # Integer PCM: scale full scale to 1.0 (uint8 WAV is offset by 128).
        info = np.iinfo(waveform.dtype)
        offset = (int(info.max) + 1) // 2 if waveform.dtype.kind == "u" else 0
        scale = float(info.max - offset + 1)
        return ((waveform.astype(np.float64) - offset) / scale).astype(np.float32)
    if waveform.dtype.kind != "f":
        raise AudioInputError(
            f"{label}: expected numeric samples, got dtype {waveform.dtype}."
        )
    return waveform.astype(np.float32, copy=False)


def _sources_from_array(X, sample_rate):
    if X.ndim == 1:
        raise AudioInputError(
            f"X is a single 1-D waveform of {X.shape[0]} samples; pass a list of "
            "waveforms ([waveform]) or a 2-D array with one waveform per row."
        )
    if X.ndim != 2:
        raise AudioInputError(
            f"A numeric X must be 2-D (n_clips, n_samples); got shape {X.shape}."
        )
    if X.shape[0] == 0:
        raise AudioInputError("X is empty: give at least one audio input.")
    return [
        AudioSource(waveform=row, sample_rate=sample_rate, label=f"X[{index}]")
        for index, row in enumerate(X)
    ]


def _source(item, index, sample_rate):
    label = f"X[{index}]"
    if isinstance(item, (str, os.PathLike)):
        return AudioSource(path=Path(os.fspath(item)), label=f"{label} ('{item}')")
    if isinstance(item, tuple) and len(item) == 2 and _is_rate(item[1]):
        return AudioSource(waveform=item[0], sample_rate=item[1], label=label)
    if isinstance(item, (np.ndarray, list)):
        return AudioSource(waveform=item, sample_rate=sample_rate, label=label)
    raise AudioInputError(
        f"{label} is a {type(item).__name__}; expected a file path, a waveform "
        "array, or a (waveform, sample_rate) pair."
    )


def _is_rate(value):
    return isinstance(value, Real) and not isinstance(value, bool)
