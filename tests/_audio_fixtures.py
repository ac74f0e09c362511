"""Small audio files and a deterministic stand-in embedder for offline tests."""

import numpy as np
import soundfile
from sklearn.base import BaseEstimator, TransformerMixin

from sklearn_audioconcepts.audio import load_audio


def write_tone(path, frequency=440.0, *, seconds=0.25, sample_rate=16000, **kwargs):
    """Write a sine tone to ``path`` (format from the suffix unless given)."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    tone = 0.5 * np.sin(2 * np.pi * frequency * t)
    soundfile.write(path, tone, sample_rate, **kwargs)
    return path


def write_tones_and_noises(folder, *, seconds=1.0, sample_rate=16000, n_each=2):
    """Labelled WAV files for pipeline tests: tones and white-noise bursts.

    Returns ``(paths, labels)``, ``n_each`` files per label ("tone" at
    300, 450, ... Hz; "noise" with seeds 0, 1, ...), interleaved.
    """
    n_samples = int(seconds * sample_rate)
    t = np.arange(n_samples) / sample_rate
    paths, labels = [], []
    for index in range(n_each):
        tone = 0.3 * np.sin(2 * np.pi * (300 + 150 * index) * t)
        noise = 0.2 * np.random.default_rng(index).standard_normal(n_samples)
        for kind, signal in (("tone", tone), ("noise", noise.clip(-1, 1))):
            path = folder / f"{kind}{index}.wav"
            soundfile.write(path, signal.astype(np.float32), sample_rate)
            paths.append(str(path))
            labels.append(kind)
    return paths, labels


def write_audio_files(folder, files):
    """Write ``{name: (waveform, sample_rate)}`` as 16-bit files; their paths."""
    paths = []
    for name, (data, rate) in files.items():
        soundfile.write(folder / name, data, rate, subtype="PCM_16")
        paths.append(str(folder / name))
    return paths


# What the CLAP tests set every non-model parameter of their shared, loaded
# embedder back to, so that no test sees another's settings.
CLAP_TEST_PARAMS = {
    "batch_size": 16,
    "long_clips": "mean",
    "sample_rate": None,
    "on_error": "raise",
    "max_duration": None,
    "progress": False,
    "resampler": "scipy",
    "random_state": None,
}


def with_params(embedder, **params):
    """The shared CLAP embedder with ``params`` set, its model kept."""
    return embedder.set_params(**{**CLAP_TEST_PARAMS, **params})


class StatsEmbedder(TransformerMixin, BaseEstimator):
    """Embeds audio files as summary statistics of their waveform (4 features).

    Reads files through :func:`sklearn_audioconcepts.audio.load_audio` like
    the real embedders. ``_fail_on_call`` (set on an instance, not a
    parameter, so the embedder's identity is unchanged) makes the N-th
    ``transform`` call raise, to simulate an interrupted run; ``_calls``
    records the files of each call.
    """

    def __init__(self, *, scale=1.0, batch_size=4):
        self.scale = scale
        self.batch_size = batch_size

    def fit(self, X=None, y=None):
        return self

    def transform(self, X):
        calls = self.__dict__.setdefault("_calls", [])
        calls.append([str(path) for path in X])
        if len(calls) == getattr(self, "_fail_on_call", None):
            raise RuntimeError(f"simulated crash on transform call {len(calls)}")
        rows = []
        for path in X:
            waveform, sample_rate = load_audio(path)
            rows.append(
                [
                    waveform.mean(),
                    waveform.std(),
                    np.abs(waveform).max(),
                    len(waveform) / sample_rate,
                ]
            )
        return (np.asarray(rows, dtype=np.float64) * self.scale).astype(np.float32)

    def get_feature_names_out(self, input_features=None):
        return np.asarray(["mean", "std", "peak", "seconds"], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = False
        return tags
