"""Speaker embedders: a tiny NeMo model through the real restore path, and the
real pretrained Resemblyzer encoder on synthesised speech."""

import pickle
import shutil

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from sklearn_audioconcepts.audio import AudioInputError, resample
from sklearn_audioconcepts.speaker import ResemblyzerEmbedder, TitaNetEmbedder

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"
)


@pytest.fixture(scope="module")
def speech():
    """Eight short utterances: two languages, two voices each, 16 kHz."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    from sklearn_audioconcepts.datasets import make_speech_corpus

    return make_speech_corpus(("en", "es"), n_voices=2, n_utterances=2, random_state=0)


# -- TitaNet / NeMo --------------------------------------------------------------

EMBEDDING_SIZE = 12


@pytest.fixture(scope="module")
def tiny_nemo_checkpoint(tmp_path_factory):
    """A randomly initialised TitaNet-shaped speaker model saved as a .nemo file.

    Built from NeMo's own config classes with TitaNet's layout (mel
    preprocessor, separable SE Jasper blocks, attentive-pooling speaker
    decoder) shrunk to a few filters, so the real ``restore_from`` path runs.
    """
    pytest.importorskip("nemo.collections.asr", reason="nemo_toolkit[asr] missing")
    import torch
    from nemo.collections.asr.models import EncDecSpeakerLabelModel
    from nemo.collections.asr.modules.audio_preprocessing import (
        AudioToMelSpectrogramPreprocessorConfig,
    )
    from nemo.collections.asr.modules.conv_asr import (
        ConvASREncoderConfig,
        JasperEncoderConfig,
    )
    from omegaconf import OmegaConf

    def block(kernel, residual, filters=8):
        return JasperEncoderConfig(
            filters=filters,
            repeat=1,
            kernel=[kernel],
            stride=[1],
            dilation=[1],
            dropout=0.0,
            residual=residual,
            separable=True,
            se=True,
            se_context_size=-1,
        )

    n_mels = 16
    preprocessor = AudioToMelSpectrogramPreprocessorConfig(
        sample_rate=16000,
        window_size=0.025,
        window_stride=0.01,
        features=n_mels,
        n_fft=512,
        dither=0.0,
    )
    encoder = ConvASREncoderConfig(
        feat_in=n_mels,
        activation="relu",
        conv_mask=True,
        jasper=[block(3, False), block(7, True), block(1, False, filters=24)],
    )
    config = OmegaConf.create(
        {
            "sample_rate": 16000,
            "train_ds": None,
            "validation_ds": None,
            "preprocessor": OmegaConf.structured(preprocessor),
            "encoder": OmegaConf.structured(encoder),
            "decoder": {
                "_target_": "nemo.collections.asr.modules.SpeakerDecoder",
                "feat_in": 24,
                "num_classes": 4,
                "pool_mode": "attention",
                "emb_sizes": EMBEDDING_SIZE,
            },
        }
    )
    torch.manual_seed(0)
    model = EncDecSpeakerLabelModel(cfg=config)
    path = tmp_path_factory.mktemp("nemo") / "tiny_titanet.nemo"
    model.save_to(str(path))
    return path


def _waveforms(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return [
        (0.1 * rng.standard_normal(n_samples)).astype(np.float32)
        for n_samples in (16000, 12000, 9000)[:n]
    ]


def test_titanet_restores_checkpoint_and_matches_model(tiny_nemo_checkpoint):
    import torch
    from nemo.collections.asr.models import EncDecSpeakerLabelModel

    waveforms = _waveforms()
    embedder = TitaNetEmbedder(
        checkpoint=tiny_nemo_checkpoint, sample_rate=16000, device="cpu", progress=False
    )
    embeddings = embedder.fit(waveforms).transform(waveforms)
    assert embeddings.shape == (3, EMBEDDING_SIZE) and embeddings.dtype == np.float32
    # Reference: the restored model, one unpadded utterance at a time.
    model = EncDecSpeakerLabelModel.restore_from(
        str(tiny_nemo_checkpoint), map_location="cpu"
    ).eval()
    for waveform, embedding in zip(waveforms, embeddings):
        with torch.no_grad():
            _, reference = model(
                input_signal=torch.from_numpy(waveform)[None],
                input_signal_length=torch.tensor([len(waveform)]),
            )
        np.testing.assert_allclose(embedding, reference[0].numpy(), atol=1e-5)
    names = embedder.get_feature_names_out()
    assert names[0] == "titanet_0" and len(names) == EMBEDDING_SIZE


def test_titanet_batch_size_rates_and_channels(tiny_nemo_checkpoint):
    waveforms = _waveforms()
    one = TitaNetEmbedder(
        checkpoint=tiny_nemo_checkpoint, batch_size=1, sample_rate=16000, device="cpu"
    ).transform(waveforms)
    all_at_once = TitaNetEmbedder(
        checkpoint=tiny_nemo_checkpoint, batch_size=8, sample_rate=16000, device="cpu"
    ).transform(waveforms)
    np.testing.assert_allclose(one, all_at_once, atol=1e-5)
    # Stereo of two identical channels is the mono input; (waveform, rate)
    # pairs at 16 kHz need no sample_rate.
    embedder = TitaNetEmbedder(checkpoint=tiny_nemo_checkpoint, device="cpu")
    stereo = [(np.stack([w, w], axis=1), 16000) for w in waveforms]
    np.testing.assert_allclose(embedder.transform(stereo), one, atol=1e-5)
    # 8 kHz input is resampled to the model's 16 kHz.
    low = [(resample(w, 16000, 8000), 8000) for w in waveforms]
    assert embedder.transform(low).shape == (3, EMBEDDING_SIZE)


def test_on_error_nan_keeps_rows_aligned(tiny_nemo_checkpoint, tmp_path):
    waveforms = _waveforms()
    embedder = TitaNetEmbedder(
        checkpoint=tiny_nemo_checkpoint, sample_rate=16000, device="cpu"
    )
    expected = embedder.transform(waveforms)
    inputs = [waveforms[0], np.zeros(16000), str(tmp_path / "gone.wav")]
    inputs += waveforms[1:]
    embedder.set_params(on_error="nan", batch_size=2)
    with pytest.warns(UserWarning, match="2 input\\(s\\) could not be embedded"):
        embeddings = embedder.transform(inputs)
    assert embeddings.shape == (5, EMBEDDING_SIZE)
    assert np.isnan(embeddings[[1, 2]]).all()
    np.testing.assert_allclose(embeddings[[0, 3, 4]], expected, atol=1e-5)
    assert embedder.failed_[["index", "error"]].values.tolist() == [
        [1, "AudioInputError"],
        [2, "FileNotFoundError"],
    ]
    assert "silent" in embedder.failed_["message"][0]
    with pytest.raises(AudioInputError, match="silent"):
        embedder.set_params(on_error="raise").transform(inputs)


def test_titanet_pickles_without_model(tiny_nemo_checkpoint):
    waveforms = _waveforms(2)
    embedder = TitaNetEmbedder(
        checkpoint=tiny_nemo_checkpoint, sample_rate=16000, device="cpu"
    )
    before = embedder.transform(waveforms)
    payload = pickle.dumps(embedder)
    assert len(payload) < 2000  # the model is not in it
    np.testing.assert_allclose(pickle.loads(payload).transform(waveforms), before)


def test_titanet_missing_checkpoint_says_what_and_where(tmp_path):
    pytest.importorskip("nemo.collections.asr", reason="nemo_toolkit[asr] missing")
    missing = tmp_path / "titanet-l.nemo"
    embedder = TitaNetEmbedder(checkpoint=missing, sample_rate=16000, device="cpu")
    with pytest.raises(FileNotFoundError) as info:
        embedder.transform(_waveforms(1))
    message = str(info.value)
    assert str(missing) in message and "titanet-l.nemo" in message
    assert "https://" in message and "checkpoint=" in message


def test_titanet_offline_download_failure_is_explained(monkeypatch):
    pytest.importorskip("nemo.collections.asr", reason="nemo_toolkit[asr] missing")
    from nemo.collections.asr.models import EncDecSpeakerLabelModel

    def offline(*args, **kwargs):
        raise ValueError("Not able to download url right now, please try again.")

    monkeypatch.setattr(EncDecSpeakerLabelModel, "from_pretrained", offline)
    embedder = TitaNetEmbedder("titanet_large", sample_rate=16000, device="cpu")
    with pytest.raises(OSError) as info:
        embedder.transform(_waveforms(1))
    message = str(info.value)
    assert "titanet-l.nemo" in message and "NeMo_" in message  # NeMo's cache dir
    assert "checkpoint=" in message and "Not able to download" in message
    with pytest.raises(ValueError, match="titanet_large"):
        TitaNetEmbedder("titanet_huge", sample_rate=16000, device="cpu").transform(
            _waveforms(1)
        )


# -- Resemblyzer -----------------------------------------------------------------


@pytest.fixture(scope="module")
def resemblyzer_reference(speech):
    """Embeddings from Resemblyzer's own API, one utterance at a time."""
    resemblyzer = pytest.importorskip("resemblyzer")
    encoder = resemblyzer.VoiceEncoder("cpu", verbose=False)
    waveforms, _ = speech
    return np.stack(
        [encoder.embed_utterance(resemblyzer.preprocess_wav(w)) for w in waveforms]
    )


@pytest.fixture(scope="module")
def embedder():
    pytest.importorskip("resemblyzer")
    return ResemblyzerEmbedder(sample_rate=16000, device="cpu", progress=False)


def test_resemblyzer_matches_its_own_api(speech, embedder, resemblyzer_reference):
    waveforms, _ = speech
    embeddings = embedder.transform(waveforms)
    assert embeddings.shape == (8, 256) and embeddings.dtype == np.float32
    np.testing.assert_allclose(embeddings, resemblyzer_reference, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1, rtol=1e-5)
    # Same speaker closer than different speakers, on average.
    _, metadata = speech
    speakers = metadata["speaker"].to_numpy()
    similarity = embeddings @ embeddings.T
    same = (speakers[:, None] == speakers[None]) & ~np.eye(8, dtype=bool)
    assert similarity[same].mean() > similarity[speakers[:, None] != speakers].mean()


def test_resemblyzer_batch_size_invariance(speech, embedder, resemblyzer_reference):
    waveforms, _ = speech
    for batch_size in (1, 3):
        embeddings = clone(embedder).set_params(batch_size=batch_size)
        np.testing.assert_allclose(
            embeddings.transform(waveforms[:5]), resemblyzer_reference[:5], atol=1e-5
        )


@pytest.mark.parametrize("rate", [8000, 22050, 44100])
def test_resemblyzer_other_rates(speech, embedder, resemblyzer_reference, rate):
    waveforms, _ = speech
    pairs = [(resample(w, 16000, rate), rate) for w in waveforms[:3]]
    embeddings = embedder.transform(pairs)
    cosines = np.einsum("ij,ij->i", embeddings, resemblyzer_reference[:3])
    # Resampling changes the audio slightly (8 kHz drops the upper band).
    assert cosines.min() > (0.9 if rate == 8000 else 0.99)


def test_resemblyzer_files_and_stereo(
    speech, embedder, resemblyzer_reference, tmp_path
):
    soundfile = pytest.importorskip("soundfile")
    waveforms, _ = speech
    paths = []
    for i, waveform in enumerate(waveforms[:2]):
        path = tmp_path / f"utt{i}.wav"
        stereo = np.stack([waveform, waveform], axis=1)
        soundfile.write(path, resample(stereo.T, 16000, 44100).T, 44100)
        paths.append(str(path))
    from_files = embedder.transform(paths)
    cosines = np.einsum("ij,ij->i", from_files, resemblyzer_reference[:2])
    assert cosines.min() > 0.99
    stereo_arrays = [np.stack([w, w], axis=1) for w in waveforms[:2]]
    np.testing.assert_allclose(
        embedder.transform(stereo_arrays), resemblyzer_reference[:2], atol=1e-5
    )


def test_resemblyzer_errors(speech, embedder, tmp_path):
    waveforms, _ = speech
    voice = waveforms[0]
    with pytest.raises(FileNotFoundError, match="not found"):
        embedder.transform([str(tmp_path / "missing.wav")])
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEnot really audio")
    with pytest.raises(AudioInputError, match="decode"):
        embedder.transform([str(broken)])
    with pytest.raises(AudioInputError, match="empty"):
        embedder.transform([voice, np.zeros(0, dtype=np.float32)])
    with_nan = voice.copy()
    with_nan[100] = np.nan
    with pytest.raises(AudioInputError, match="NaN"):
        embedder.transform([with_nan])
    with pytest.raises(AudioInputError, match="sample rate is unknown"):
        clone(embedder).set_params(sample_rate=None).transform([voice])
    with pytest.raises(AudioInputError, match="not plausible"):
        embedder.transform([(voice, 16)])
    with pytest.raises(AudioInputError, match=r"X\[1\] is silent"):
        embedder.transform([voice, np.zeros(16000, dtype=np.float32)])
    hum = 1e-3 * np.sin(2 * np.pi * 50 * np.arange(16000) / 16000)
    with pytest.raises(AudioInputError, match="no speech"):
        embedder.transform([hum.astype(np.float32)])


def test_resemblyzer_sklearn_contract(speech, embedder):
    waveforms, metadata = speech
    fresh = clone(embedder)
    assert fresh.get_params() == embedder.get_params()
    assert fresh.fit(waveforms) is fresh
    tags = fresh.__sklearn_tags__()
    assert not tags.requires_fit and not tags.input_tags.two_d_array
    first = fresh.transform(waveforms[:2])
    restored = joblib.load(_dump(fresh))
    np.testing.assert_array_equal(restored.transform(waveforms[:2]), first)
    frame = clone(embedder).set_output(transform="pandas").transform(waveforms[:2])
    assert frame.columns[0] == "resemblyzer_0" and frame.shape == (2, 256)

    pipeline = make_pipeline(clone(embedder), LogisticRegression(max_iter=1000))
    genders = metadata["gender"].to_numpy()
    search = GridSearchCV(
        pipeline, {"logisticregression__C": [0.1, 10.0]}, cv=2, error_score="raise"
    )
    search.fit(waveforms, genders)
    assert search.score(waveforms, genders) == 1.0


def _dump(estimator):
    import io

    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    buffer.seek(0)
    return buffer


def test_parameter_validation():
    with pytest.raises(ValueError, match="batch_size"):
        ResemblyzerEmbedder(batch_size=0).fit()
    with pytest.raises(RuntimeError, match="CUDA"):
        import torch

        if torch.cuda.is_available():
            pytest.skip("CUDA is available here")
        ResemblyzerEmbedder(device="cuda").fit()


# -- inputs a speaker model cannot use, under on_error -----------------------------


def _unusable_speech_inputs(folder, voice):
    """A good file, then the issue's three: one sample, quiet noise, silence."""
    import soundfile

    rng = np.random.default_rng(0)
    soundfile.write(folder / "good.wav", voice, 16000)
    soundfile.write(folder / "one_sample.wav", np.array([0.1]), 16000)
    quiet = (1e-4 * rng.standard_normal(16000)).astype(np.float32)
    silent = np.zeros(16000, dtype=np.float32)
    return [str(folder / "good.wav"), str(folder / "one_sample.wav"), quiet, silent]


def test_resemblyzer_unusable_audio_fails_its_own_row(
    speech, embedder, resemblyzer_reference, tmp_path
):
    from sklearn_audioconcepts.audio import find_unusable_audio

    waveforms, _ = speech
    X = _unusable_speech_inputs(tmp_path, waveforms[0]) + [waveforms[1]]
    nan = clone(embedder).set_params(on_error="nan", batch_size=2)
    with pytest.warns(UserWarning, match="3 input\\(s\\) could not be embedded"):
        embeddings = nan.transform(X)
    assert embeddings.shape == (5, 256)
    assert np.isnan(embeddings[[1, 2, 3]]).all()
    # The usable rows are exactly what they are without the bad inputs.
    np.testing.assert_allclose(embeddings[[0, 4]], resemblyzer_reference[:2], atol=1e-4)
    np.testing.assert_allclose(
        embeddings[[0, 4]], embedder.transform([X[0], X[4]]), atol=1e-6
    )
    assert nan.failed_["index"].tolist() == [1, 2, 3]
    assert set(nan.failed_["error"]) == {"AudioInputError"}
    messages = nan.failed_["message"].tolist()
    assert "one_sample.wav" in messages[0] and "no speech" in messages[0]
    assert "X[2]" in messages[1] and "no speech" in messages[1]
    assert "silent" in messages[2]
    # "raise" stops at the first one, naming it.
    with pytest.raises(AudioInputError, match=r"X\[1\] \('.*one_sample.wav'\)"):
        embedder.transform(X)
    with pytest.raises(AudioInputError, match=r"X\[0\]: voice-activity"):
        embedder.transform(X[2:3])
    # The pre-flight with the embedder lists exactly the rows that fail.
    found = find_unusable_audio(X, embedder=embedder)
    assert found[["index", "error"]].values.tolist() == [
        [1, "AudioInputError"],
        [2, "AudioInputError"],
        [3, "AudioInputError"],
    ]
    assert found["message"].tolist() == messages


def test_titanet_too_short_input_fails_its_own_row(tiny_nemo_checkpoint, tmp_path):
    from sklearn_audioconcepts.audio import find_unusable_audio

    waveforms = _waveforms()
    embedder = TitaNetEmbedder(
        checkpoint=tiny_nemo_checkpoint, sample_rate=16000, device="cpu"
    )
    expected = embedder.transform(waveforms)
    inputs = _unusable_speech_inputs(tmp_path, waveforms[0])[1:] + waveforms
    embedder.set_params(on_error="nan", batch_size=4)
    with pytest.warns(UserWarning, match="2 input\\(s\\) could not be embedded"):
        embeddings = embedder.transform(inputs)
    assert np.isnan(embeddings[[0, 2]]).all() and np.isfinite(embeddings[1]).all()
    np.testing.assert_allclose(embeddings[3:], expected, atol=1e-5)
    assert embedder.failed_["index"].tolist() == [0, 2]
    assert "needs at least 512" in embedder.failed_["message"][0]
    assert find_unusable_audio(inputs, embedder=embedder)["index"].tolist() == [0, 2]
    with pytest.raises(AudioInputError, match="one_sample.wav.* 1 samples long"):
        embedder.set_params(on_error="raise").transform(inputs)


def test_non_finite_embedding_fails_its_own_row(tiny_nemo_checkpoint, monkeypatch):
    """A row the model makes non-finite is one failed input, not a failed batch."""
    from sklearn_audioconcepts import speaker

    waveforms = _waveforms()
    embedder = TitaNetEmbedder(
        checkpoint=tiny_nemo_checkpoint, sample_rate=16000, device="cpu"
    )
    expected = embedder.transform(waveforms)
    # Let a 100-sample input through to the model, which then gives NaN
    # (NeMo normalises each mel band over fewer than two frames).
    monkeypatch.setattr(speaker, "_titanet_min_samples", lambda model: 1)
    short = 0.1 * np.ones(100, dtype=np.float32)
    embedder.set_params(on_error="nan", batch_size=8)
    with pytest.warns(UserWarning, match="1 input\\(s\\) could not be embedded"):
        embeddings = embedder.transform([waveforms[0], short, *waveforms[1:]])
    assert np.isnan(embeddings[1]).all()
    np.testing.assert_allclose(embeddings[[0, 2, 3]], expected, atol=1e-5)
    assert embedder.failed_["index"].tolist() == [1]
    assert "non-finite embedding" in embedder.failed_["message"][0]
    with pytest.raises(AudioInputError, match=r"X\[1\]: the TitaNetEmbedder"):
        embedder.set_params(on_error="raise").transform([waveforms[0], short])


# -- long inputs: segments, max_duration ---------------------------------------------


def test_resemblyzer_long_input_in_segments(speech, embedder, tmp_path):
    import soundfile

    waveforms, _ = speech
    pause = np.zeros(3 * 16000, dtype=np.float32)  # one whole segment is silent
    long = np.concatenate([waveforms[0], pause, waveforms[2], waveforms[0]])
    path = tmp_path / "long.wav"
    soundfile.write(path, long, 16000, subtype="FLOAT")
    whole = embedder.transform([long])
    segmented = clone(embedder)
    segmented._segment_seconds = 2.0  # a class setting, not a parameter
    for X in ([long], [str(path)]):
        embedding = segmented.transform(X)
        assert segmented.failed_.empty
        np.testing.assert_allclose(np.linalg.norm(embedding), 1, rtol=1e-5)
        assert float((embedding @ whole.T)[0, 0]) > 0.95
    silent = np.zeros(5 * 16000, dtype=np.float32)
    with pytest.raises(AudioInputError, match="none of its 2 s segments"):
        segmented.transform([silent])


def test_titanet_long_input_is_the_length_weighted_mean_of_segments(
    tiny_nemo_checkpoint,
):
    waveform = np.concatenate(_waveforms())  # 37,000 samples
    embedder = TitaNetEmbedder(
        checkpoint=tiny_nemo_checkpoint, sample_rate=16000, device="cpu"
    )
    segments = [waveform[:16000], waveform[16000:32000], waveform[32000:]]
    each = embedder.transform(segments)
    lengths = np.array([len(segment) for segment in segments], dtype=float)
    expected = (each * lengths[:, None]).sum(0) / lengths.sum()
    embedder._segment_seconds = 1.0
    np.testing.assert_allclose(embedder.transform([waveform])[0], expected, atol=1e-5)
    # max_duration keeps the first seconds only (here one segment).
    embedder.set_params(max_duration=1.0)
    np.testing.assert_allclose(embedder.transform([waveform])[0], each[0], atol=1e-5)
