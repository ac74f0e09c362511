"""Audio input forms, loading, downmix, resampling, and the errors for bad audio."""

import numpy as np
import pytest
import soundfile

from sklearn_audioconcepts.audio import (
    AudioInputError,
    audio_sources,
    check_waveform,
    find_unusable_audio,
    is_silent,
    iter_waveforms,
    load_audio,
    resample,
    to_mono,
)


def _tone(frequency, sample_rate, seconds=0.5, amplitude=0.5):
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def _dominant_frequency(waveform, sample_rate):
    spectrum = np.abs(np.fft.rfft(waveform))
    return np.fft.rfftfreq(len(waveform), 1 / sample_rate)[spectrum.argmax()]


@pytest.mark.parametrize(
    ("subtype", "extension", "tolerance"),
    [
        ("PCM_16", "wav", 1e-4),
        ("PCM_U8", "wav", 1e-2),
        ("PCM_24", "wav", 1e-6),
        ("FLOAT", "wav", 0),
        ("PCM_16", "flac", 1e-4),
    ],
)
def test_load_audio_reads_formats_as_float_in_full_scale(
    tmp_path, subtype, extension, tolerance
):
    tone = _tone(440, 16000)
    path = tmp_path / f"tone.{extension}"
    soundfile.write(path, tone, 16000, subtype=subtype)
    waveform, rate = load_audio(path)
    assert rate == 16000
    assert waveform.dtype == np.float32 and waveform.shape == tone.shape
    np.testing.assert_allclose(waveform, tone, atol=tolerance + 1e-7)


def test_load_audio_downmixes_stereo_and_keeps_channels_when_asked(tmp_path):
    left, right = _tone(440, 8000), _tone(1000, 8000)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 8000, subtype="FLOAT")
    mono, _ = load_audio(path)
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-7)
    stereo, _ = load_audio(path, mono=False)
    assert stereo.shape == (2, len(left))


def test_load_audio_resamples_to_target_rate_keeping_pitch(tmp_path):
    path = tmp_path / "tone.wav"
    soundfile.write(path, _tone(440, 44100, seconds=1.0), 44100)
    waveform, rate = load_audio(path, target_sample_rate=48000)
    assert rate == 48000
    assert len(waveform) == 48000
    assert abs(_dominant_frequency(waveform, 48000) - 440) <= 1


@pytest.mark.parametrize(("orig", "target"), [(16000, 48000), (44101, 48000)])
def test_resample_is_band_limited_and_sized(orig, target):
    # A tone above the target Nyquist must be filtered out, not aliased.
    waveform = _tone(200, orig, seconds=1.0) + _tone(orig * 0.45, orig, seconds=1.0)
    out = resample(waveform, orig, target)
    assert out.dtype == np.float32
    assert abs(len(out) - target) <= 1
    assert abs(_dominant_frequency(out, target) - 200) <= 1
    downsampled = resample(waveform, orig, 8000)
    assert abs(_dominant_frequency(downsampled, 8000) - 200) <= 1


def test_to_mono_accepts_both_channel_orientations():
    stereo = np.stack([np.ones(100), np.zeros(100)])
    np.testing.assert_allclose(to_mono(stereo), 0.5)
    np.testing.assert_allclose(to_mono(stereo.T), 0.5)


def test_audio_sources_accept_every_documented_form(tmp_path):
    path = tmp_path / "a.wav"
    soundfile.write(path, _tone(440, 16000), 16000)
    raw = _tone(440, 8000)
    forms = [
        [str(path), path],
        [raw, raw.tolist()],
        [(raw, 8000), (np.stack([raw, raw]), 8000)],
        np.stack([raw, raw]),
    ]
    for X in forms:
        waveforms = list(iter_waveforms(X, sample_rate=8000, target_sample_rate=16000))
        assert len(waveforms) == 2
        for waveform in waveforms:
            assert waveform.ndim == 1 and waveform.dtype == np.float32
            assert abs(_dominant_frequency(waveform, 16000) - 440) <= 2


def test_integer_pcm_arrays_are_scaled_to_full_scale():
    pcm = (np.array([0.5, -0.5, 0.25]) * 32768).astype(np.int16)
    (waveform,) = iter_waveforms([pcm], sample_rate=8000, target_sample_rate=None)
    np.testing.assert_allclose(waveform, [0.5, -0.5, 0.25])


@pytest.mark.parametrize(
    ("X", "kwargs", "match"),
    [
        ("a.wav", {}, "single path"),
        (np.zeros(100), {"sample_rate": 8000}, "single 1-D waveform"),
        ([], {}, "empty"),
        ([np.zeros(100)], {}, "sample rate is unknown"),
        ([(np.zeros(100), 44)], {}, "not plausible"),
        ([np.zeros(10)], {"sample_rate": 10**7}, "not plausible"),
        ([np.zeros(10)], {"sample_rate": 16000.5}, "not plausible"),
        ([{"audio": 1}], {}, "expected a file path"),
        ([np.zeros(0)], {"sample_rate": 16000}, "empty"),
        ([np.array([0.1, np.nan])], {"sample_rate": 16000}, "NaN"),
        ([np.array(["a", "b"])], {"sample_rate": 16000}, "numeric samples"),
    ],
)
def test_bad_inputs_raise_clear_errors(X, kwargs, match):
    with pytest.raises(AudioInputError, match=match):
        list(iter_waveforms(X, target_sample_rate=16000, **kwargs))


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.wav"
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        list(iter_waveforms([missing], target_sample_rate=16000))


@pytest.mark.parametrize(
    "content",
    [b"", b"RIFF\x00\x00\x00\x00WAVEfmt ", b"definitely not audio" * 10],
)
def test_corrupt_or_truncated_files_raise_audio_input_error(tmp_path, content):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(AudioInputError, match="Could not decode"):
        load_audio(path)


def test_truncated_real_file_raises_or_reads_its_intact_part(tmp_path):
    path = tmp_path / "tone.flac"
    soundfile.write(path, _tone(440, 16000, seconds=1.0), 16000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    try:
        waveform, _ = load_audio(path)
    except AudioInputError as error:
        assert "Could not decode" in str(error)
    else:
        assert 0 < len(waveform) < 16000 and np.isfinite(waveform).all()


def test_zero_length_file_is_rejected_as_empty(tmp_path):
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioInputError, match="empty"):
        load_audio(path)


def test_unscaled_integer_values_as_floats_warn():
    with pytest.warns(UserWarning, match="full scale"):
        check_waveform(np.array([1000.0, -2000.0]), sample_rate=16000)


def test_silence_is_detected_but_accepted():
    silence = np.zeros(1600, dtype=np.float32)
    check_waveform(silence, sample_rate=16000)
    assert is_silent(silence)
    assert not is_silent(_tone(440, 16000))


def test_sources_are_listed_without_reading_files(tmp_path):
    sources = audio_sources([tmp_path / "not-yet-written.wav"])
    assert sources[0].path.name == "not-yet-written.wav"
    assert "X[0]" in sources[0].label


def test_find_unusable_audio_reports_each_bad_input(tmp_path):
    good = tmp_path / "good.wav"
    soundfile.write(good, _tone(440, 16000), 16000)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio at all" * 4)
    X = [good, broken, _tone(440, 8000), np.array([np.inf, 0.0]), tmp_path]
    failures = find_unusable_audio(X, sample_rate=8000, target_sample_rate=16000)
    assert failures["index"].tolist() == [1, 3, 4]
    assert failures["error"].tolist() == [
        "AudioInputError",
        "AudioInputError",
        "IsADirectoryError",
    ]
    assert "NaN or infinite" in failures["message"][1]
    assert find_unusable_audio([good]).empty


# -- reading long inputs in blocks -------------------------------------------------


@pytest.mark.parametrize(
    ("orig", "target"),
    [(16000, 16000), (16000, 48000), (44100, 48000), (22050, 16000), (8000, 44100)],
)
@pytest.mark.parametrize("from_file", [False, True])
def test_stream_equals_whole_load(tmp_path, orig, target, from_file):
    rng = np.random.default_rng(0)
    waveform = (0.3 * rng.standard_normal((int(2.3 * orig), 2))).astype(np.float32)
    if from_file:
        soundfile.write(tmp_path / "x.wav", waveform, orig, subtype="FLOAT")
        source = audio_sources([tmp_path / "x.wav"])[0]
    else:
        source = audio_sources([(waveform, orig)])[0]
    whole = source.load(target)
    blocks = list(source.stream(target, block_seconds=0.31))
    assert len(blocks) > 5
    np.testing.assert_allclose(np.concatenate(blocks), whole, atol=1e-6)
    assert source.n_samples(target) == len(whole)
    # max_duration caps all three the same way.
    capped = source.load(target, max_duration=1.0)
    streamed = np.concatenate(
        list(source.stream(target, block_seconds=0.3, max_duration=1.0))
    )
    assert len(capped) == source.n_samples(target, max_duration=1.0) == len(streamed)
    np.testing.assert_allclose(streamed, capped, atol=1e-6)
    np.testing.assert_allclose(
        capped, resample(to_mono(waveform)[:orig], orig, target), atol=1e-6
    )


def test_stream_checks_every_block(tmp_path):
    waveform = np.full(16000, 0.1, dtype=np.float32)
    waveform[12345] = np.nan
    for X in ([(waveform, 16000)], [tmp_path / "nan.wav"]):
        soundfile.write(tmp_path / "nan.wav", waveform, 16000, subtype="FLOAT")
        source = audio_sources(X)[0]
        with pytest.raises(AudioInputError, match="first at index 12345"):
            list(source.stream(16000, block_seconds=0.1))
    for bad, match in [
        ((np.zeros(0, np.float32), 16000), "empty"),
        (np.ones(100, np.float32), "sample rate is unknown"),
    ]:
        with pytest.raises(AudioInputError, match=match):
            audio_sources([bad])[0].n_samples(16000)


def test_windows_of_a_stream_and_a_stream_cut_short():
    from sklearn_audioconcepts._batching import windows_of

    signal = np.arange(100, dtype=np.float32)
    blocks = (signal[i : i + 7] for i in range(0, 100, 7))
    windows = list(windows_of(blocks, [0, 45, 90], 10, label="X[0]"))
    for start, window in zip([0, 45, 90], windows):
        np.testing.assert_array_equal(window, signal[start : start + 10])
    with pytest.raises(AudioInputError, match="X\\[0\\] ended after 100 samples"):
        list(windows_of(iter([signal]), [0, 95], 10, label="X[0]"))
