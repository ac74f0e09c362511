"""Shared shell of the speaker-embedding transformers.

A speaker embedder is stateless: ``fit`` checks its parameters and learns
nothing; ``transform`` turns audio (file paths, waveforms, ``(waveform, rate)``
pairs; see :mod:`sklearn_audioconcepts.audio`) into one embedding per input.
Subclasses say how to load their model, how to prepare one mono waveform at
the model's rate (the per-input step, which may refuse it) and how to embed a
batch of prepared pieces; this base does the rest once: input forms,
resampling, long inputs read in segments, batching, progress, device, lazy
loading, pickling without the model, and clear errors for audio no speaker
model can use.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from ._batching import check_rows, embed_pieces, long_input_progress
from ._device import resolve_device
from .audio import AudioInputError, FailureLog, audio_sources, is_silent

__all__ = ["SpeakerEmbedderBase"]


class SpeakerEmbedderBase(TransformerMixin, BaseEstimator):
    """Base class: audio in, one float32 speaker embedding per input out.

    Subclasses define ``_load_model(device)``, ``_model_sample_rate(model)``,
    ``_embedding_dim(model)``, ``_prepare(model, waveform, label)`` (yields
    ``(piece, weight)`` pairs for one mono waveform, raising
    :class:`AudioInputError` when it cannot be embedded),
    ``_embed_pieces(model, pieces)`` (the batched forward pass, returning each
    piece's weighted contribution, shape (n_pieces, dim)) and
    ``_finish(sums, weights)``, and set ``_feature_prefix``.
    """

    _feature_prefix = "speaker_"
    # Inputs longer than this are read and embedded in segments of this length.
    _segment_seconds = 120.0

    _parameter_constraints: dict = {
        "sample_rate": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "on_error": [StrOptions({"raise", "nan"})],
        "max_duration": [Interval(Real, 0, None, closed="neither"), None],
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
            implausible sample rate, unreadable, refused by the model's own
            preparation (no speech found, too short) or embedded as non-finite
            values (with ``on_error="raise"``; with ``"nan"`` its row is NaN
            and it is listed in ``failed_``, the other rows unchanged).
        """
        self._validate_params()
        sources = audio_sources(X, sample_rate=self.sample_rate)
        model = self._model()
        failures = FailureLog(self.on_error)
        sums, weights = embed_pieces(
            sources,
            pieces=lambda source: self._pieces(model, source),
            embed=lambda pieces: self._embed_pieces(model, pieces),
            dim=self._embedding_dim(model),
            batch_size=self.batch_size,
            failures=failures,
            max_batch_weight=self._max_batch_weight(model),
            progress=self.progress,
            desc=type(self).__name__,
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            embeddings = self._finish(sums, weights)
        check_rows(embeddings, sources, failures, type(self).__name__)
        self.failed_ = failures.to_frame()
        failures.warn(type(self).__name__)
        return embeddings.astype(np.float32)

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

    def _max_batch_weight(self, model):
        """Queued weight (see ``_prepare``) that starts a forward pass early."""
        return np.inf

    # -- the per-input step ---------------------------------------------------

    def _check_input(self, source):
        """Run the per-input step of :meth:`transform` (no forward pass)."""
        self._validate_params()
        for _ in self._pieces(self._model(), source):
            pass

    def _pieces(self, model, source):
        """Read one input and yield its prepared pieces, under the failure log.

        An input of up to ``_segment_seconds`` is read whole and prepared as
        one waveform. A longer one is read in segments of that length, each
        prepared on its own; segments that cannot be embedded (silent, no
        speech) are skipped, and the input fails only when none can be.
        """
        rate, cap = self._model_sample_rate(model), self.max_duration
        n_samples = source.n_samples(rate, max_duration=cap)
        if n_samples <= self._segment_seconds * rate:
            waveform = _not_silent(
                source.load(rate, mono=True, max_duration=cap), source.label
            )
            yield from self._prepare(model, waveform, source.label)
            return
        n_segments = -(-n_samples // int(self._segment_seconds * rate))
        segments = source.stream(
            rate, block_seconds=self._segment_seconds, max_duration=cap
        )
        first_error, n_pieces = None, 0
        for number, segment in enumerate(
            long_input_progress(
                segments,
                total=n_segments,
                progress=self.progress,
                source=source,
                unit="segment",
            )
        ):
            start = number * self._segment_seconds
            label = f"{source.label} (segment from {start:g} s)"
            try:
                segment = _not_silent(segment, label)
                pieces = list(self._prepare(model, segment, label))
            except AudioInputError as exc:
                first_error = first_error or exc
                continue
            n_pieces += len(pieces)
            yield from pieces
        if n_pieces == 0:
            raise AudioInputError(
                f"{source.label}: none of its {self._segment_seconds:g} s segments "
                f"can be embedded (the first: {first_error})"
            )

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


def _not_silent(waveform, label):
    if is_silent(waveform):
        raise AudioInputError(
            f"{label} is silent (no sample above 1e-6 in magnitude): a speaker "
            "embedding of silence is undefined. Remove silent inputs, or check that "
            "the audio was decoded correctly."
        )
    return waveform
