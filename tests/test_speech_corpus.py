"""make_speech_corpus: eSpeak NG speech labelled by language, speaker, gender."""

import shutil

import numpy as np
import pandas as pd
import pytest

from sklearn_audioconcepts import datasets
from sklearn_audioconcepts.datasets import (
    SPEECH_CORPUS_TEXTS,
    add_hold_music,
    make_hold_music,
    make_speech_corpus,
)

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
        "sample_rate", "music",
    ]  # fmt: skip
    assert (metadata["music"] == "none").all()  # music_fraction=0 by default
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


def test_music_fraction_mixes_hold_music_under_the_same_speech(corpus):
    waveforms, metadata = corpus
    mixed, mixed_metadata = make_speech_corpus(
        ("en", "es", "de"), n_voices=3, n_utterances=2, music_fraction=0.5,
        music_snr=5.0, random_state=0,
    )  # fmt: skip
    assert (mixed_metadata["music"] == "music").sum() == 9
    # everything but the music is the corpus without music
    pd.testing.assert_frame_equal(
        mixed_metadata.drop(columns="music"), metadata.drop(columns="music")
    )
    for clean, noisy, music in zip(waveforms, mixed, mixed_metadata["music"]):
        assert noisy.dtype == np.float32 and len(noisy) == len(clean)
        assert np.abs(noisy).max() <= 1.0
        if music == "none":
            np.testing.assert_array_equal(noisy, clean)
        else:
            # the mixture may be scaled down as a whole to stay within
            # [-1, 1]: estimate that gain (music is nearly orthogonal to speech)
            gain = np.dot(noisy, clean) / np.dot(clean, clean)
            assert 0.5 < gain < 1.02
            added = noisy - gain * clean
            snr = 10 * np.log10(np.mean((gain * clean) ** 2) / np.mean(added**2))
            assert snr == pytest.approx(5.0, abs=0.3)
    again, again_metadata = make_speech_corpus(
        ("en", "es", "de"), n_voices=3, n_utterances=2, music_fraction=0.5,
        music_snr=5.0, random_state=0,
    )  # fmt: skip
    assert again_metadata.equals(mixed_metadata)
    for a, b in zip(mixed, again):
        np.testing.assert_array_equal(a, b)


def test_hold_music_is_telephone_band_tonal_and_seeded():
    music = make_hold_music(4.0, sample_rate=16000, random_state=3)
    assert music.shape == (64000,) and music.dtype == np.float32
    assert np.abs(music).max() == pytest.approx(0.5)
    spectrum = np.abs(np.fft.rfft(music)) ** 2
    frequency = np.fft.rfftfreq(len(music), 1 / 16000)
    in_band = spectrum[(frequency >= 300) & (frequency <= 3400)].sum()
    assert in_band / spectrum.sum() > 0.95  # a telephone line's band
    # tonal: a few notes carry most of the energy, unlike noise
    top = np.sort(spectrum)[::-1]
    assert top[: len(top) // 100].sum() / spectrum.sum() > 0.5
    np.testing.assert_array_equal(music, make_hold_music(4.0, random_state=3))
    assert not np.array_equal(music, make_hold_music(4.0, random_state=4))


def test_add_hold_music_snr_and_peak():
    rng = np.random.RandomState(0)
    speech = (0.9 * np.sign(rng.normal(size=8000))).astype(np.float32)
    mixed = add_hold_music(speech, 8000, snr=0.0, random_state=0)
    assert np.abs(mixed).max() == pytest.approx(1.0)  # scaled back under 1
    quiet = 0.1 * speech
    mixed = add_hold_music(quiet, 8000, snr=20.0, random_state=0)
    added = mixed - quiet
    snr = 10 * np.log10(np.mean(quiet**2) / np.mean(added**2))
    assert snr == pytest.approx(20.0, abs=0.05)


def test_music_errors():
    with pytest.raises(ValueError, match="music_fraction must be a number in"):
        make_speech_corpus(music_fraction=1.5)
    with pytest.raises(ValueError, match="finite number in dB"):
        make_speech_corpus(music_snr=float("nan"))
    with pytest.raises(ValueError, match="duration must be a positive number"):
        make_hold_music(0)
    with pytest.raises(ValueError, match="at least 8000"):
        make_hold_music(1.0, sample_rate=4000)
    with pytest.raises(ValueError, match="non-empty 1-d"):
        add_hold_music(np.zeros((2, 100)), 16000)
    with pytest.raises(ValueError, match="silent"):
        add_hold_music(np.zeros(100), 16000)
