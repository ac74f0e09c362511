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

    def load(self, target_sample_rate, *, mono=True):
        """The checked waveform at ``target_sample_rate``.

        Returns
        -------
        waveform : ndarray of float32
            Shape (n_samples,) when ``mono``, else (n_channels, n_samples).
        """
        if self.path is not None:
            waveform, _ = load_audio(
                self.path, target_sample_rate=target_sample_rate, mono=mono
            )
            return waveform
        waveform = _as_float_waveform(self.waveform, self.label)
        if mono:
            waveform = to_mono(waveform)
        else:
            waveform = _channels_first(np.atleast_2d(waveform))
        check_waveform(waveform, sample_rate=self.sample_rate, name=self.label)
        if target_sample_rate is None:
            return waveform
        return resample(waveform, self.sample_rate, target_sample_rate)


def load_audio(path, *, target_sample_rate=None, mono=True):
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
    try:
        data, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.SoundFileError, TypeError) as exc:
        raise AudioInputError(
            f"Could not decode {label}: {str(exc).rstrip('.')}. The file is "
            "truncated, corrupt, or in a format libsndfile does not read; convert "
            "it to WAV or FLAC (e.g. `ffmpeg -i in.m4a out.wav`)."
        ) from None
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


def resample(waveform, orig_sample_rate, target_sample_rate):
    """Resample along the last axis with a band-limited (anti-aliased) filter.

    Rational factors use polyphase filtering
    (:func:`scipy.signal.resample_poly`); factors with a huge numerator or
    denominator use the FFT method.

    Parameters
    ----------
    waveform : ndarray of shape (..., n_samples)
        Samples to resample.
    orig_sample_rate, target_sample_rate : int
        Rates in Hz.

    Returns
    -------
    resampled : ndarray of float32 of shape (..., n_resampled)
        ``n_resampled = ceil(n_samples * target / orig)``.
    """
    from scipy import signal

    orig, target = _check_rate(orig_sample_rate), _check_rate(target_sample_rate)
    waveform = np.asarray(waveform, dtype=np.float32)
    if orig == target:
        return waveform
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
        raise AudioInputError(
            f"{name} is empty (0 samples); there is nothing to embed."
        )
    finite = np.isfinite(waveform)
    if not finite.all():
        raise AudioInputError(
            f"{name} contains {int((~finite).sum())} NaN or infinite sample(s) "
            f"(first at index {int(np.flatnonzero(~finite.ravel())[0])}); clean or "
            "re-decode the audio."
        )
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


def find_unusable_audio(X, *, sample_rate=None, target_sample_rate=None):
    """List the inputs that cannot be read or fail the checks, without embedding.

    A pre-flight pass for large corpora: decode every input once and report
    the bad ones, so they can be dropped from ``X`` *and* from the labels
    before fitting (an embedder never drops rows itself, which would
    misalign them with ``y``).

    Parameters
    ----------
    X : see :func:`audio_sources`
    sample_rate : int or None, default=None
        Rate of raw waveforms given without their own.
    target_sample_rate : int or None, default=None
        Also resample to this rate, as the embedder would (catches rates that
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
    for index, source in enumerate(audio_sources(X, sample_rate=sample_rate)):
        failures.attempt(index, source, lambda s=source: s.load(target_sample_rate))
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
            if self.on_error == "raise":
                raise
            self.records.append(
                {
                    "index": index,
                    "input": source.label,
                    "error": type(exc).__name__,
                    "message": str(exc),
                }
            )
            return None

    @property
    def failed_indices(self):
        return [record["index"] for record in self.records]

    def to_frame(self):
        return pd.DataFrame(self.records, columns=_FAILURE_COLUMNS).astype(
            {"index": int}
        )

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
