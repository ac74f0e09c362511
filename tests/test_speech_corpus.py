"""make_speech_corpus: eSpeak NG speech labelled by language, speaker, gender."""

import shutil

import numpy as np
import pytest

from sklearn_audioconcepts import datasets
from sklearn_audioconcepts.datasets import SPEECH_CORPUS_TEXTS, make_speech_corpus

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng)",
)


@pytest.fixture(scope="module")
def corpus():
    return make_speech_corpus(
        ("en", "es", "de"), n_voices=3, n_utterances=2, random_state=0
    )


def test_shapes_labels_and_audio(corpus):
    waveforms, metadata = corpus
    assert len(waveforms) == len(metadata) == 3 * 3 * 2
    assert list(metadata.columns) == [
        "language", "speaker", "gender", "voice", "pitch", "speed", "text",
        "sample_rate",
    ]  # fmt: skip
    assert metadata.groupby("language")["speaker"].nunique().tolist() == [3, 3, 3]
    assert set(metadata["gender"]) == {"male", "female"}
    for waveform, (_, row) in zip(waveforms, metadata.iterrows()):
        assert waveform.dtype == np.float32 and waveform.ndim == 1
        duration = len(waveform) / row["sample_rate"]
        assert 1.0 < duration < 10.0  # a spoken sentence
        assert 0.05 < np.abs(waveform).max() <= 1.0  # audible, not clipped
        assert row["text"] in SPEECH_CORPUS_TEXTS[row["language"]]
        assert row["voice"].startswith(row["language"] + "+")
        variant = row["voice"].split("+")[1]
        assert row["gender"] == ("male" if variant.startswith("m") else "female")
    # Each speaker reads different sentences.
    assert not metadata.duplicated(["speaker", "text"]).any()


def test_reproducible_and_seed_dependent(corpus):
    waveforms, metadata = corpus
    again, again_metadata = make_speech_corpus(
        ("en", "es", "de"), n_voices=3, n_utterances=2, random_state=0
    )
    assert metadata.equals(again_metadata)
    for a, b in zip(waveforms, again):
        np.testing.assert_array_equal(a, b)
    _, other = make_speech_corpus(
        ("en", "es", "de"), n_voices=3, n_utterances=2, random_state=1
    )
    assert not metadata.equals(other)


def test_sample_rate_resamples(corpus):
    waveforms, metadata = corpus
    low, low_metadata = make_speech_corpus(
        ("en", "es", "de"), n_voices=3, n_utterances=2, sample_rate=8000,
        random_state=0,
    )  # fmt: skip
    assert (low_metadata["sample_rate"] == 8000).all()
    assert len(low[0]) == pytest.approx(len(waveforms[0]) / 2, abs=2)


def test_custom_texts_and_more_voices_than_variants():
    texts = {"pt": ["Bom dia, como vai você?", "Hoje está um dia bonito."]}
    waveforms, metadata = make_speech_corpus(
        ["pt"], n_voices=13, n_utterances=3, texts=texts, random_state=0
    )
    assert len(waveforms) == 39
    assert metadata["speaker"].nunique() == 13
    assert set(metadata["text"]) == set(texts["pt"])  # sentences repeat past 2
    # Pitch and rate vary from utterance to utterance, so repeats differ.
    first = metadata[metadata["speaker"] == "pt-0"]
    assert first[["pitch", "speed"]].drop_duplicates().shape[0] > 1


def test_errors(monkeypatch):
    with pytest.raises(ValueError, match="No sentences"):
        make_speech_corpus(["xx"])
    with pytest.raises(ValueError, match="non-empty sequence"):
        make_speech_corpus("en")
    with pytest.raises(ValueError, match="n_voices"):
        make_speech_corpus(n_voices=0)
    with pytest.raises(RuntimeError, match="Check that the voice exists"):
        make_speech_corpus(["zz"], n_voices=1, n_utterances=1, texts={"zz": ["Hello."]})
    monkeypatch.setattr(datasets.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install espeak-ng"):
        make_speech_corpus(n_voices=1, n_utterances=1)
