"""Bad and unusual audio files, and what :func:`load_audio` does with each.

Every file is generated here (16 kHz, 0.25 s, a 440 Hz tone at half scale
unless said otherwise). "Error" means :class:`AudioInputError` (a
``ValueError``) unless another type is named; every message names the file.

==========================  =================================================
Input                       Behaviour
==========================  =================================================
WAV cut in half             Reads the frames present (about half) and warns
                            that the file is truncated (*)
WAV cut inside the header   Error: "Could not decode ... No 'data' chunk"
WAV with a header only      Error: "is empty (0 samples)"; also warns
                            that the header declares missing bytes (*)
FLAC cut in half            Error: "Could not decode ..."
FLAC named ``.wav``         Reads it: the format comes from the content
WAV named ``.mp3``          Reads it, likewise
text file named ``.wav``    Error: "Could not decode ... Format not recognised"
zero-length file (0 bytes)  Error: "Could not decode ... empty (0 bytes)" (*)
WAV with 0 frames           Error: "is empty (0 samples)"
header rate 10 MHz          Error: "sample rate of 10000000 Hz is not plausible"
header rate 768,001 Hz      Error: not plausible (limit 768,000 Hz)
header rate 100 Hz          Error: not plausible (limit 1,000 Hz)
header rate 0 Hz            Error: "Could not decode" (libsndfile refuses it)
header rate 1,000 Hz        Reads it; resamples to 48 kHz on request
8-bit unsigned PCM          Reads it, scaled to [-1, 1] (within 1/128)
16/24-bit PCM               Reads it, scaled to [-1, 1]
32-bit float                Reads the samples exactly
64-bit float                Reads them (as float32)
32-bit float with NaN/inf   Error: "contains 1 NaN or infinite sample(s)
                            (first at index 10)"
32-bit float peaking at 100 Reads it as is and warns "far above full scale"
6 channels                  Mono: the channel mean; ``mono=False``: (6, n)
1 sample                    Reads it (whether it can be embedded is the
                            embedder's decision); resampling 16 -> 48 kHz
                            gives 3 samples
OGG/Vorbis, MP3             Reads them (libsndfile >= 1.1)
headerless PCM (``.raw``)   Error: "Could not decode ... samplerate must be
                            specified"
a folder named ``x.wav``    ``IsADirectoryError``: "is a folder, not an
                            audio file" (*)
a missing path              ``FileNotFoundError``: "Audio file not found"
==========================  =================================================

(*) Checked by audio.py itself before decoding, since libsndfile reads a cut
WAV without complaint and reports a 0-byte file or a folder obscurely.
"""

import struct
import warnings

import numpy as np
import pytest
import soundfile

from sklearn_audioconcepts import audio
from sklearn_audioconcepts.audio import AudioInputError, load_audio

SAMPLE_RATE = 16000
TONE = 0.5 * np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE // 4) / SAMPLE_RATE)

# -- file builders: each writes one file into `folder` and returns its path ------


def _write(folder, name, data=TONE, sample_rate=SAMPLE_RATE, **kwargs):
    path = folder / name
    soundfile.write(path, data, sample_rate, **kwargs)
    return path


def _wav_bytes(folder):
    return _write(folder, "source.wav", subtype="PCM_16").read_bytes()


def _cut(folder, name, data, n_bytes):
    path = folder / name
    path.write_bytes(data[:n_bytes])
    return path


def _with_header_rate(folder, name, rate):
    """A 16-bit WAV whose header declares ``rate`` (and the matching byte rate)."""
    data = bytearray(_wav_bytes(folder))
    data[24:28] = struct.pack("<I", rate)
    data[28:32] = struct.pack("<I", rate * 2)
    path = folder / name
    path.write_bytes(bytes(data))
    return path


def _with_sample(folder, name, value):
    samples = TONE.astype(np.float32)
    samples[10] = value
    return _write(folder, name, samples, subtype="FLOAT")


def _six_channels(folder):
    channels = np.stack([TONE * (i + 1) / 6 for i in range(6)], axis=1)
    return _write(folder, "six.wav", channels, subtype="FLOAT")


BUILDERS = {
    "wav_cut_in_half": lambda f: _cut(f, "cut.wav", _wav_bytes(f), 44 + 4000),
    "wav_cut_in_header": lambda f: _cut(f, "cut.wav", _wav_bytes(f), 30),
    "wav_header_only": lambda f: _cut(f, "header.wav", _wav_bytes(f), 44),
    "flac_cut_in_half": lambda f: _cut(
        f, "cut.flac", _write(f, "s.flac").read_bytes(), 1200
    ),
    "flac_named_wav": lambda f: _cut(
        f, "flac.wav", _write(f, "s.flac").read_bytes(), None
    ),
    "wav_named_mp3": lambda f: _cut(f, "wav.mp3", _wav_bytes(f), None),
    "text_named_wav": lambda f: _cut(f, "text.wav", b"not audio at all\n" * 20, None),
    "zero_bytes": lambda f: _cut(f, "empty.wav", b"", None),
    "zero_frames": lambda f: _write(f, "silence.wav", np.zeros(0)),
    "rate_10MHz": lambda f: _with_header_rate(f, "fast.wav", 10_000_000),
    "rate_768001": lambda f: _with_header_rate(f, "fast.wav", 768_001),
    "rate_100": lambda f: _with_header_rate(f, "slow.wav", 100),
    "rate_0": lambda f: _with_header_rate(f, "zero.wav", 0),
    "rate_1000": lambda f: _with_header_rate(f, "slow.wav", 1000),
    "pcm_u8": lambda f: _write(f, "u8.wav", subtype="PCM_U8"),
    "pcm_24": lambda f: _write(f, "pcm24.wav", subtype="PCM_24"),
    "float32": lambda f: _write(f, "f32.wav", TONE.astype(np.float32), subtype="FLOAT"),
    "float64": lambda f: _write(f, "f64.wav", subtype="DOUBLE"),
    "float32_nan": lambda f: _with_sample(f, "nan.wav", np.nan),
    "float32_inf": lambda f: _with_sample(f, "inf.wav", -np.inf),
    "float32_loud": lambda f: _write(
        f, "loud.wav", (200 * TONE).astype(np.float32), subtype="FLOAT"
    ),
    "six_channels": _six_channels,
    "one_sample": lambda f: _write(f, "one.wav", TONE[:1]),
    "ogg_vorbis": lambda f: _write(f, "tone.ogg", format="OGG", subtype="VORBIS"),
    "mp3": lambda f: _write(f, "tone.mp3", format="MP3", subtype="MPEG_LAYER_III"),
    "raw_pcm": lambda f: _cut(
        f, "pcm.raw", (TONE * 32767).astype("<i2").tobytes(), None
    ),
    "folder": lambda f: (f / "folder.wav").mkdir() or f / "folder.wav",
    "missing": lambda f: f / "missing.wav",
}

# name -> (exception type, message pattern) for inputs that must be refused.
REFUSED = {
    "wav_cut_in_header": (AudioInputError, "Could not decode.*data' chunk"),
    "wav_header_only": (AudioInputError, r"is empty \(0 samples\)"),
    "flac_cut_in_half": (AudioInputError, "Could not decode"),
    "text_named_wav": (AudioInputError, "Could not decode.*Format not recognised"),
    "zero_frames": (AudioInputError, r"is empty \(0 samples\)"),
    "rate_10MHz": (AudioInputError, "10000000 Hz is not plausible"),
    "rate_768001": (AudioInputError, "768001 Hz is not plausible"),
    "rate_100": (AudioInputError, "100 Hz is not plausible"),
    "rate_0": (AudioInputError, "Could not decode"),
    "float32_nan": (
        AudioInputError,
        r"1 NaN or infinite sample\(s\) \(first at index 10",
    ),
    "float32_inf": (
        AudioInputError,
        r"1 NaN or infinite sample\(s\) \(first at index 10",
    ),
    "raw_pcm": (AudioInputError, "Could not decode.*samplerate"),
    "missing": (FileNotFoundError, "Audio file not found"),
}
REFUSED_WITH_PATCH = {
    "zero_bytes": (AudioInputError, r"Could not decode.*empty \(0 bytes\)"),
    "folder": (IsADirectoryError, "is a folder, not an audio file"),
}
# name -> (samples expected, how close, warning pattern or None)
READ = {
    "flac_named_wav": (TONE, 1e-4, None),
    "wav_named_mp3": (TONE, 1e-4, None),
    "pcm_u8": (TONE, 1 / 128, None),
    "pcm_24": (TONE, 1e-6, None),
    "float32": (TONE.astype(np.float32), 0.0, None),
    "float64": (TONE, 1e-7, None),
    "float32_loud": (200 * TONE, 1e-4, "far above full scale"),
    "six_channels": (TONE * 3.5 / 6, 1e-6, None),
    "one_sample": (TONE[:1], 1e-4, None),
    "rate_1000": (TONE, 1e-4, None),  # the same samples, labelled 1 kHz
}


@pytest.fixture
def folder(tmp_path):
    return tmp_path


def _load_recording_warnings(path, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        waveform, sample_rate = load_audio(path, **kwargs)
    return waveform, sample_rate, [str(w.message) for w in caught]


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_with_a_message_naming_the_file(name, folder):
    path = BUILDERS[name](folder)
    error, pattern = REFUSED[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the header-only WAV also warns (patched)
        with pytest.raises(error, match=pattern) as caught:
            load_audio(path)
    assert path.name in str(caught.value)


@pytest.mark.parametrize("name", sorted(REFUSED_WITH_PATCH))
def test_refused_with_a_precise_message(name, folder):
    path = BUILDERS[name](folder)
    error, pattern = REFUSED_WITH_PATCH[name]
    with pytest.raises(error, match=pattern):
        load_audio(path)


@pytest.mark.parametrize("name", sorted(READ))
def test_read_as_documented(name, folder):
    path = BUILDERS[name](folder)
    expected, tolerance, warning = READ[name]
    waveform, sample_rate, caught = _load_recording_warnings(path)
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert sample_rate == (1000 if name == "rate_1000" else SAMPLE_RATE)
    np.testing.assert_allclose(waveform, expected, atol=tolerance)
    if warning is None:
        assert caught == []
    else:
        assert any(warning in message for message in caught), caught


@pytest.mark.parametrize("name", ["ogg_vorbis", "mp3"])
def test_lossy_formats_are_read(name, folder):
    path = BUILDERS[name](folder)
    waveform, sample_rate, _ = _load_recording_warnings(path)
    assert sample_rate == SAMPLE_RATE and waveform.dtype == np.float32
    # Lossy codecs add delay and padding: compare level and length, not samples.
    assert abs(len(waveform) - len(TONE)) < 0.1 * len(TONE)
    assert np.isclose(
        np.sqrt(np.mean(waveform**2)), np.sqrt(np.mean(TONE**2)), rtol=0.1
    )


def test_six_channels_keep_their_layout_when_asked(folder):
    path = BUILDERS["six_channels"](folder)
    waveform, _, _ = _load_recording_warnings(path, mono=False)
    assert waveform.shape == (6, len(TONE))
    for channel in range(6):
        np.testing.assert_allclose(
            waveform[channel], TONE * (channel + 1) / 6, atol=1e-6
        )


def test_tiny_inputs_resample(folder):
    one, rate, _ = _load_recording_warnings(
        BUILDERS["one_sample"](folder), target_sample_rate=48000
    )
    assert rate == 48000 and one.shape == (3,)
    slow, rate, _ = _load_recording_warnings(
        BUILDERS["rate_1000"](folder), target_sample_rate=48000
    )
    assert rate == 48000 and slow.shape == (48 * len(TONE),)


def test_wav_cut_in_half_reads_what_is_there(folder):
    path = BUILDERS["wav_cut_in_half"](folder)
    waveform, sample_rate, _ = _load_recording_warnings(path)
    assert sample_rate == SAMPLE_RATE
    assert len(waveform) == 2000  # 4000 bytes of 16-bit samples survived
    np.testing.assert_allclose(waveform, TONE[:2000], atol=1e-4)


def test_wav_cut_in_half_warns_that_it_is_truncated(folder):
    path = BUILDERS["wav_cut_in_half"](folder)
    with pytest.warns(UserWarning, match="is truncated.*only the 2000 frames"):
        load_audio(path)


def test_streamed_wav_header_is_not_called_truncated(folder):
    """Streaming writers leave the RIFF size unknown (0xFFFFFFFF)."""
    data = bytearray(_wav_bytes(folder))
    data[4:8] = struct.pack("<I", 0xFFFFFFFF)
    path = folder / "streamed.wav"
    path.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_audio(path)
    assert audio._truncated_riff_bytes(path) == 0


def test_every_listed_input_has_a_documented_behaviour():
    documented = (
        set(REFUSED)
        | set(REFUSED_WITH_PATCH)
        | set(READ)
        | {"wav_cut_in_half", "ogg_vorbis", "mp3"}
    )
    assert documented == set(BUILDERS)
