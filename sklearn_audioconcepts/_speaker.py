"""Shared shell of the speaker-embedding transformers.

A speaker embedder is stateless: ``fit`` checks its parameters and learns
nothing; ``transform`` turns audio (file paths, waveforms, ``(waveform, rate)``
pairs; see :mod:`sklearn_audioconcepts.audio`) into one embedding per input.
Subclasses say how to load their model and how to embed a batch of mono
waveforms at the model's rate; this base does the rest once: input forms,
resampling, batching, progress, device, lazy loading, pickling without the
model, and clear errors for audio no speaker model can use.
"""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from ._device import resolve_device
from ._progress import progress_bar
from .audio import AudioInputError, FailureLog, audio_sources, is_silent

__all__ = ["SpeakerEmbedderBase"]


class SpeakerEmbedderBase(TransformerMixin, BaseEstimator):
    """Base class: audio in, one float32 speaker embedding per input out.

    Subclasses define ``_load_model(device)``, ``_embed_batch(model,
    waveforms, labels)`` returning an array of shape (n, dim),
    ``_model_sample_rate(model)`` and ``_embedding_dim(model)``, and set
    ``_feature_prefix``.
    """

    _feature_prefix = "speaker_"

    _parameter_constraints: dict = {
        "sample_rate": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "on_error": [StrOptions({"raise", "nan"})],
        "progress": ["boolean", StrOptions({"auto"})],
        "random_state": ["random_state"],
    }

    def fit(self, X=None, y=None):
        """Check the parameters; nothing is learned (the model is pretrained).

        Parameters
        ----------
        X : Ignored
            Not used; the embedder is stateless.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : object
            The embedder itself.
        """
        self._validate_params()
        resolve_device(self.device)  # fail now, not at transform, if CUDA is absent
        return self

    def transform(self, X):
        """Embed each audio input.

        Parameters
        ----------
        X : list of paths, waveforms or (waveform, sample_rate) pairs, or 2-D array
            Audio inputs (see :func:`sklearn_audioconcepts.audio.audio_sources`).
            Raw waveforms without their own rate use ``sample_rate``; stereo
            is averaged to mono and every input is resampled to the model's
            rate.

        Returns
        -------
        embeddings : ndarray of shape (n_inputs, n_features), dtype float32
            One speaker embedding per input, in input order.

        Raises
        ------
        FileNotFoundError
            When a file path does not exist.
        AudioInputError
            When an input is empty, non-finite, silent, of unknown or
            implausible sample rate, or unreadable (with ``on_error="raise"``;
            with ``"nan"`` its row is NaN and it is listed in ``failed_``).
        """
        self._validate_params()
        sources = audio_sources(X, sample_rate=self.sample_rate)
        model = self._model()
        target_rate = self._model_sample_rate(model)
        failures = FailureLog(self.on_error)
        embeddings = np.full(
            (len(sources), self._embedding_dim(model)), np.nan, dtype=np.float32
        )
        for start in progress_bar(
            range(0, len(sources), self.batch_size),
            progress=self.progress,
            desc=type(self).__name__,
            unit="batch",
        ):
            # Load a batch at a time: memory stays bounded on long corpora.
            loaded = {}
            for index in range(start, min(start + self.batch_size, len(sources))):
                source = sources[index]
                waveform = failures.attempt(
                    index, source, lambda s=source: _checked_load(s, target_rate)
                )
                if waveform is not None:
                    loaded[index] = waveform
            if not loaded:
                continue
            labels = [sources[index].label for index in loaded]
            batch_embeddings = np.asarray(
                self._embed_batch(model, list(loaded.values()), labels),
                dtype=np.float32,
            )
            if not np.isfinite(batch_embeddings).all():
                bad = [
                    labels[i]
                    for i in np.flatnonzero(~np.isfinite(batch_embeddings).all(1))
                ]
                raise AudioInputError(
                    f"The speaker model returned non-finite embeddings for {bad[:5]}; "
                    "check that these inputs contain audible speech."
                )
            embeddings[list(loaded)] = batch_embeddings
        self.failed_ = failures.to_frame()
        failures.warn(type(self).__name__)
        return embeddings

    def get_feature_names_out(self, input_features=None):
        """Output column names: ``<prefix>0``, ``<prefix>1``, ...

        Parameters
        ----------
        input_features : Ignored
            Not used; the outputs are embedding dimensions.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        dim = self._embedding_dim(self._model())
        return np.asarray(
            [f"{self._feature_prefix}{i}" for i in range(dim)], dtype=object
        )

    def __sklearn_is_fitted__(self):
        return True  # stateless: nothing to learn

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.non_deterministic = False
        # Audio in (file paths, variable-length waveforms), not a feature matrix.
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []
        return tags

    def __getstate__(self):
        # The model is a cache rebuilt on demand: never pickled with the estimator.
        state = self.__dict__.copy()
        state.pop("_model_cache", None)
        return state

    # -- model cache ------------------------------------------------------------

    def _model(self):
        device = resolve_device(self.device)
        key = (str(device), self._model_key())
        cache = getattr(self, "_model_cache", None)
        if cache is None or cache[0] != key:
            self._model_cache = (key, self._load_model(device))
        return self._model_cache[1]

    def _model_key(self):
        """Parameters that identify the model; a change reloads it."""
        return ()


def _checked_load(source, target_rate):
    waveform = source.load(target_rate, mono=True)
    if is_silent(waveform):
        raise AudioInputError(
            f"{source.label} is silent (no sample above 1e-6 in magnitude): a speaker "
            "embedding of silence is undefined. Remove silent inputs, or check that "
            "the audio was decoded correctly."
        )
    return waveform
