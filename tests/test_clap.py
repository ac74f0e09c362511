"""CLAPEmbedder on a tiny random LAION-CLAP built with laion-clap's own classes.

The model is built once per session (tests/_tiny_clap.py) and loaded through
``CLAP_Module.load_ckpt``; audio is synthesised here (tones, noise, a
speech-like voiced signal) as WAV/FLAC files and arrays at several rates,
mono and stereo. Most tests share one loaded embedder and change only
parameters that do not rebuild the model, to keep the suite fast.
"""

import importlib.util
import os
import pickle

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sklearn_audioconcepts import ConceptDecomposer, ConceptVocabulary
from sklearn_audioconcepts._clap_models import PUBLISHED_MODELS
from sklearn_audioconcepts.audio import AudioInputError, resample
from sklearn_audioconcepts.clap import CLAPEmbedder

# find_spec, not an import: importing laion-clap takes seconds at collection.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("laion_clap") is None,
    reason="CLAPEmbedder needs the [clap] extra (laion-clap)",
)
soundfile = pytest.importorskip("soundfile")

from _audio_fixtures import (  # noqa: E402
    with_params,
    write_audio_files,
    write_tones_and_noises,
)
from _tiny_clap import build_tiny_clap  # noqa: E402  (tests/ is on sys.path)

from sklearn_audioconcepts import _clap  # noqa: E402

SR = 48_000


# -- synthetic audio -----------------------------------------------------------


def tone(frequency, sample_rate, seconds, amplitude=0.3):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def noise(sample_rate, seconds, seed=0, amplitude=0.2):
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    return (amplitude * rng.standard_normal(n)).clip(-1, 1).astype(np.float32)


def speech_like(sample_rate, seconds, f0=120.0):
    """Voiced harmonics shaped by two formants, with syllable-rate bursts."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    signal = np.zeros_like(t)
    for harmonic in range(1, 30):
        frequency = harmonic * f0
        if frequency >= sample_rate / 2:
            break
        gain = np.exp(-(((frequency - 700) / 150) ** 2)) + 0.6 * np.exp(
            -(((frequency - 1200) / 200) ** 2)
        )
        signal += gain * np.sin(2 * np.pi * frequency * t)
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4 * t)) ** 2
    signal *= envelope
    return (0.3 * signal / np.abs(signal).max()).astype(np.float32)


@pytest.fixture(scope="session")
def tiny_clap(tmp_path_factory):
    return build_tiny_clap(tmp_path_factory.mktemp("tiny_clap"), fusion=True)


@pytest.fixture(scope="session")
def embedder(tiny_clap):
    """One loaded embedder; tests change only non-model parameters on it."""
    return CLAPEmbedder(
        checkpoint=tiny_clap["checkpoint"],
        audio_model=tiny_clap["audio_model"],
        text_model=tiny_clap["text_model"],
        device="cpu",
        progress=False,
    )


@pytest.fixture(scope="session")
def audio_files(tmp_path_factory):
    """WAV and FLAC files at several rates, mono and stereo."""
    folder = tmp_path_factory.mktemp("audio")
    stereo = np.stack([speech_like(44_100, 3.0), noise(44_100, 3.0, seed=3)], axis=1)
    files = {
        "tone.wav": (tone(440, 16_000, 2.0), 16_000),
        "noise.flac": (noise(22_050, 1.5), 22_050),
        "speech_stereo.wav": (stereo, 44_100),
        "tone48k.flac": (tone(1000, SR, 4.0), SR),
    }
    return write_audio_files(folder, files)


@pytest.fixture(scope="session")
def file_embeddings(embedder, audio_files):
    return embedder.set_params(batch_size=16, long_clips="mean").transform(audio_files)


# -- output contract -----------------------------------------------------------


def test_files_give_unit_norm_float32_rows(file_embeddings, audio_files):
    assert file_embeddings.shape == (len(audio_files), 512)
    assert file_embeddings.dtype == np.float32
    assert np.isfinite(file_embeddings).all()
    np.testing.assert_allclose(np.linalg.norm(file_embeddings, axis=1), 1, atol=1e-5)
    # Different audio, different embeddings.
    similarity = file_embeddings @ file_embeddings.T
    assert (similarity[~np.eye(len(audio_files), dtype=bool)] < 0.99999).all()


def test_every_input_form_gives_the_same_embeddings(
    embedder, audio_files, file_embeddings
):
    decoded = [soundfile.read(path, dtype="float32") for path in audio_files]
    pairs = with_params(embedder).transform([decoded[0], decoded[2]])
    np.testing.assert_allclose(pairs, file_embeddings[[0, 2]], atol=1e-5)

    # Stereo given channels-first, and a list of 1-D waveforms with sample_rate.
    stereo, rate = decoded[2]
    channels_first = with_params(embedder, sample_rate=rate).transform([stereo.T])
    np.testing.assert_allclose(channels_first[0], file_embeddings[2], atol=1e-5)

    # A 2-D array is one waveform per row.
    waveform, rate = decoded[0]
    rows = np.stack([waveform, waveform[::-1].copy()])
    from_array = with_params(embedder, sample_rate=rate).transform(rows)
    np.testing.assert_allclose(from_array[0], file_embeddings[0], atol=1e-5)
    assert from_array.shape == (2, 512)


def test_batch_size_does_not_change_the_numbers(embedder, audio_files, file_embeddings):
    one_by_one = with_params(embedder, batch_size=1).transform(audio_files)
    np.testing.assert_allclose(one_by_one, file_embeddings, atol=1e-5)


def test_matches_laion_clap_called_directly(embedder):
    """At 48 kHz and <= 10 s the estimator is laion-clap's own embedding."""
    clips = [tone(330, SR, 2.5), speech_like(SR, 10.0), noise(SR, 0.5, seed=5)]
    ours = with_params(embedder).transform([(clip, SR) for clip in clips])
    module = embedder._backend().module
    direct = module.get_audio_embedding_from_data(clips, use_tensor=False)
    np.testing.assert_allclose(ours, direct, atol=1e-5)


def test_long_clip_policies(embedder):
    clip = np.concatenate([tone(300, 16_000, 12.0), noise(16_000, 13.0, seed=7)])
    module = embedder._backend().module
    crop = with_params(embedder, long_clips="crop", sample_rate=16_000)
    cropped = crop.transform([clip])[0]
    resampled = resample(clip, 16_000, SR)
    direct_crop = module.get_audio_embedding_from_data([resampled[: 10 * SR]])[0]
    np.testing.assert_allclose(cropped, direct_crop, atol=1e-5)

    averaged = with_params(embedder, long_clips="mean", sample_rate=16_000).transform(
        [clip]
    )[0]
    starts = _clap.window_starts(len(resampled))
    # 25 s: three 10 s windows, evenly spaced from the start to the end.
    assert starts == [0, 360_000, 720_000]
    windows = [resampled[s : s + 10 * SR] for s in starts]
    expected = module.get_audio_embedding_from_data(windows).mean(axis=0)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(averaged, expected, atol=1e-5)
    assert np.linalg.norm(averaged) == pytest.approx(1, abs=1e-5)


def test_window_starts_cover_the_clip():
    assert _clap.window_starts(10) == [0]
    assert _clap.window_starts(480_000) == [0]
    assert _clap.window_starts(480_001) == [0, 1]
    starts = _clap.window_starts(2_000_000)
    assert starts[0] == 0 and starts[-1] + 480_000 == 2_000_000
    assert all(b - a <= 480_000 for a, b in zip(starts, starts[1:]))


def test_silent_audio_gives_a_finite_unit_embedding(embedder):
    silent = with_params(embedder, sample_rate=SR).transform([np.zeros(SR, np.float32)])
    assert np.isfinite(silent).all()
    assert np.linalg.norm(silent) == pytest.approx(1, abs=1e-5)


def test_set_output_pandas(embedder, audio_files, file_embeddings):
    frame = clone(embedder).set_output(transform="pandas")
    frame._backend_model = embedder._backend_model
    frame._backend_key = embedder._backend_key
    result = frame.transform(audio_files[:1])
    assert list(result.columns[:2]) == ["clap0", "clap1"] and result.shape == (1, 512)
    np.testing.assert_allclose(result.to_numpy(), file_embeddings[:1], atol=1e-6)


# -- text ----------------------------------------------------------------------


def test_embed_text(embedder):
    texts = ["dog barking", "rain on a tin roof", "dog barking"]
    embeddings = embedder.embed_text(texts)
    assert embeddings.shape == (3, 512) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(embeddings[0], embeddings[2], atol=1e-6)
    assert embeddings[0] @ embeddings[1] < 0.99999
    np.testing.assert_allclose(
        embedder.embed_text(texts[1:2]), embeddings[1:2], atol=1e-5
    )
    with pytest.raises(TypeError, match="single string"):
        embedder.embed_text("dog")
    with pytest.raises(ValueError, match="non-empty string"):
        embedder.embed_text(["dog", ""])


# -- estimator contract --------------------------------------------------------


def test_stateless_lazy_and_picklable(
    tiny_clap, embedder, audio_files, file_embeddings
):
    fresh = clone(embedder)
    assert not hasattr(fresh, "_backend_model")  # clone / get_params never load
    assert fresh.fit(audio_files) is fresh
    assert not hasattr(fresh, "_backend_model")
    assert fresh.__sklearn_tags__().requires_fit is False

    state = pickle.dumps(embedder)  # loaded, but pickled without the model
    assert len(state) < 10_000
    restored = pickle.loads(state)
    assert not hasattr(restored, "_backend_model")
    np.testing.assert_allclose(
        restored.transform(audio_files[:1]), file_embeddings[:1], atol=1e-6
    )


def test_pipeline_from_files_to_classifier(embedder, tmp_path, monkeypatch):
    """CLAPEmbedder -> ConceptDecomposer -> LogisticRegression on file paths,
    then a grid search over the decomposer's sparsity."""
    paths, labels = write_tones_and_noises(tmp_path, seconds=1.0)
    concepts = ["pure tone", "white noise", "hiss", "whistle", "hum", "static"]
    vocabulary = ConceptVocabulary.from_texts(
        concepts, embedder, template="the sound of {}"
    )
    assert vocabulary.metadata["template"] == "the sound of {}"
    assert vocabulary.metadata["embedder"] == "CLAPEmbedder"
    pipeline = Pipeline(
        [
            ("clap", with_params(embedder)),
            ("concepts", ConceptDecomposer(vocabulary, l1_penalty=0.01, device="cpu")),
            ("clf", LogisticRegression()),
        ]
    )
    pipeline.fit(paths, labels)
    assert pipeline["concepts"].components_.shape == (len(concepts), 512)
    predictions = pipeline.predict(paths)
    assert set(predictions) <= {"tone", "noise"}
    # A tone and a noise burst are far apart even for a random CLAP.
    assert np.mean(predictions == np.array(labels)) >= 0.5
    weights = pipeline[:-1].transform(paths[:1])
    assert weights.shape == (1, len(concepts)) and (weights >= 0).all()

    # A grid search clones the embedder per fit; the clones share the model
    # already loaded instead of reading the checkpoint again.
    loads = []
    real_load = _clap.load
    monkeypatch.setattr(
        _clap, "load", lambda *a, **k: loads.append(a) or real_load(*a, **k)
    )
    search = GridSearchCV(pipeline, {"concepts__l1_penalty": [0.01, 0.05]}, cv=2)
    search.fit(paths, labels)
    assert loads == []
    assert search.best_params_["concepts__l1_penalty"] in (0.01, 0.05)
    assert search.best_estimator_["clap"]._backend_model is embedder._backend_model


def test_zero_shot_and_retrieval_with_the_clap_text_encoder(
    embedder, audio_files, file_embeddings
):
    from sklearn_audioconcepts.retrieval import retrieval_scores
    from sklearn_audioconcepts.zero_shot import ZeroShotClassifier

    names = ["tone", "noise", "speech", "beep"]
    clf = ZeroShotClassifier(names, embedder=embedder).fit(file_embeddings)
    prompts = [f"This is a sound of {n}." for n in names]
    np.testing.assert_allclose(
        clf.class_embeddings_, embedder.embed_text(prompts), atol=1e-5
    )
    proba = clf.predict_proba(file_embeddings)
    assert proba.shape == (4, 4) and np.allclose(proba.sum(axis=1), 1)
    assert set(clf.predict(file_embeddings)) <= set(names)
    captions = embedder.embed_text(["a tone", "noise", "a voice", "a high tone"])
    scores = retrieval_scores(file_embeddings, captions, [0, 1, 2, 3])
    assert all(0 <= value <= 1 for value in scores.values())
    assert scores["text_to_audio_R@10"] == 1.0  # 4 clips: all in the top 10


# -- errors --------------------------------------------------------------------


def test_audio_errors(embedder, tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + os.urandom(200))
    clap = with_params(embedder)
    with pytest.raises(FileNotFoundError, match="not found"):
        clap.transform([str(tmp_path / "missing.wav")])
    with pytest.raises(AudioInputError, match="Could not decode"):
        clap.transform([str(corrupt)])
    with pytest.raises(AudioInputError, match="empty"):
        clap.transform([(np.zeros(0, np.float32), SR)])
    nan = tone(440, SR, 0.5)
    nan[10] = np.nan
    with pytest.raises(AudioInputError, match="NaN"):
        clap.transform([(nan, SR)])
    with pytest.raises(AudioInputError, match="sample rate is unknown"):
        clap.transform([tone(440, SR, 0.5)])
    with pytest.raises(AudioInputError, match="not plausible"):
        clap.transform([(tone(440, SR, 0.5), 12)])


def test_checkpoint_missing_or_corrupt(tiny_clap, tmp_path):
    params = {
        "audio_model": tiny_clap["audio_model"],
        "text_model": tiny_clap["text_model"],
    }
    missing = CLAPEmbedder(checkpoint=str(tmp_path / "nope.pt"), **params)
    with pytest.raises(FileNotFoundError, match="CLAP model not found"):
        missing.embed_text(["x"])
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(os.urandom(1000))
    with pytest.raises(_clap.CheckpointError, match="Could not read"):
        CLAPEmbedder(checkpoint=str(corrupt), device="cpu", **params).embed_text(["x"])
    truncated = tmp_path / "truncated.pt"  # a zip archive cut short
    with open(tiny_clap["checkpoint"], "rb") as source:
        truncated.write_bytes(source.read(1_000_000))
    with pytest.raises(_clap.CheckpointError, match="Could not read"):
        CLAPEmbedder(checkpoint=str(truncated), device="cpu", **params).embed_text(
            ["x"]
        )


def test_checkpoint_fusion_mismatch(tiny_clap):
    params = {
        "audio_model": tiny_clap["audio_model"],
        "text_model": tiny_clap["text_model"],
    }
    fusion_into_plain = CLAPEmbedder(
        checkpoint=tiny_clap["fusion_checkpoint"], enable_fusion=False, **params
    )
    with pytest.raises(_clap.CheckpointError, match="trained with feature fusion"):
        fusion_into_plain.embed_text(["x"])
    plain_into_fusion = CLAPEmbedder(
        checkpoint=tiny_clap["checkpoint"], enable_fusion=True, **params
    )
    with pytest.raises(_clap.CheckpointError, match="without feature fusion"):
        plain_into_fusion.embed_text(["x"])


def test_published_names_infer_architecture_and_fusion(monkeypatch, tmp_path):
    music = CLAPEmbedder("music_audioset_epoch_15_esc_90.14")
    spec = music._model_spec()
    assert (spec.family, spec.audio_architecture, spec.fusion) == (
        "laion",
        "HTSAT-base",
        False,
    )
    assert CLAPEmbedder("630k-audioset-fusion-best")._model_spec().fusion
    with pytest.raises(_clap.CheckpointError, match="set it to True"):
        CLAPEmbedder("630k-audioset-fusion-best", enable_fusion=False).fit()
    with pytest.raises(_clap.CheckpointError, match="audio_model='HTSAT-base'"):
        music.set_params(audio_model="HTSAT-tiny").fit()
    with pytest.raises(_clap.CheckpointError, match="is a 'laion' model"):
        CLAPEmbedder("630k-best", family="msclap").fit()
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="resolve/main/630k-audioset-best.pt"):
        CLAPEmbedder("630k-audioset-best", device="cpu").embed_text(["x"])


def test_checkpoint_file_tells_its_fusion_and_architecture(tiny_clap):
    from sklearn_audioconcepts._clap_backends import resolve_model

    plain = resolve_model(tiny_clap["checkpoint"])
    fused = resolve_model(tiny_clap["fusion_checkpoint"])
    assert (plain.family, plain.fusion, plain.audio_architecture) == (
        "laion",
        False,
        "HTSAT-tiny",
    )
    assert fused.fusion and plain.embedding_dim == 512
    # Read off the weights, the architecture is laion-clap's HTSAT-tiny, whose
    # 527-class head does not fit the tiny model's 10 classes: the error says
    # which keys differ and what to pass.
    wrong_head = CLAPEmbedder(
        tiny_clap["checkpoint"], text_model=tiny_clap["text_model"], device="cpu"
    )
    with pytest.raises(_clap.CheckpointError, match="wrong shape.*audio_model="):
        wrong_head.embed_text(["x"])


def test_resaved_checkpoint_without_position_ids_loads(embedder, tiny_clap, tmp_path):
    """Checkpoints re-saved with current transformers lack the RoBERTa
    position_ids buffer; laion-clap's own loader raises KeyError on them."""
    import torch

    state = torch.load(tiny_clap["checkpoint"], weights_only=True)["state_dict"]
    del state["module.text_branch.embeddings.position_ids"]
    resaved = tmp_path / "resaved.pt"
    torch.save({"state_dict": state}, resaved)
    params = {key: embedder.get_params()[key] for key in ("audio_model", "text_model")}
    clap = CLAPEmbedder(resaved, device="cpu", progress=False, **params)
    texts = ["a dog barking", "rain"]
    np.testing.assert_allclose(
        clap.embed_text(texts), embedder.embed_text(texts), atol=1e-6
    )


def test_checkpoint_holding_code_is_refused(tiny_clap, tmp_path):
    import fractions

    import torch

    state = torch.load(tiny_clap["checkpoint"], weights_only=True)
    state["extra"] = fractions.Fraction(1, 3)  # any pickled object, not a tensor
    pickled = tmp_path / "pickled.pt"
    torch.save(state, pickled)
    with pytest.raises(
        _clap.CheckpointError, match="pickled Python object.*fractions.Fraction"
    ):
        CLAPEmbedder(pickled, audio_model=tiny_clap["audio_model"]).fit()


def test_text_model_errors(tiny_clap, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        _clap.check_text_model_dir(tmp_path / "nowhere")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="no weights file"):
        _clap.check_text_model_dir(tmp_path)


def test_tokenizer_that_does_not_fit_the_text_model_is_refused():
    class Config:
        vocab_size = 50265

    class Branch:
        config = Config()

    class Model:
        text_branch = Branch()

    class Module:
        model = Model()
        tokenize = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # 5 tokens

    with pytest.raises(OSError, match="5 tokens but the text model expects 50265"):
        _clap.check_tokenizer(Module())


def test_parameter_errors(tiny_clap):
    with pytest.raises(ValueError, match="was not trained with"):
        CLAPEmbedder(long_clips="fusion").fit()
    with pytest.raises(ValueError, match="Unknown audio_model"):
        _clap.register_audio_model("HTSAT-gigantic")


# -- fusion --------------------------------------------------------------------


def test_fusion_model_and_reproducible_fusion_chunks(tiny_clap):
    fusion = CLAPEmbedder(
        checkpoint=tiny_clap["fusion_checkpoint"],
        audio_model=tiny_clap["audio_model"],
        text_model=tiny_clap["text_model"],
        long_clips="fusion",
        random_state=0,
        device="cpu",
        progress=False,
        sample_rate=16_000,
    )
    clips = [tone(500, 16_000, 3.0), speech_like(16_000, 14.0)]
    first = fusion.transform(clips)
    # laion-clap draws fusion chunks from numpy's legacy global RNG: the
    # caller's global state must be left as it was.
    np.random.seed(123)  # noqa: NPY002
    before = np.random.random()  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    second = fusion.set_params(batch_size=1).transform(clips)
    assert np.random.random() == before  # noqa: NPY002
    np.testing.assert_allclose(first, second, atol=1e-5)
    assert first.shape == (2, 512) and np.isfinite(first).all()


def test_on_error_nan_keeps_one_row_per_clip(embedder, audio_files, file_embeddings):
    clips = [audio_files[0], "missing.wav", (np.zeros(0, np.float32), SR)]
    clips.append(audio_files[3])
    clap = with_params(embedder, on_error="nan")
    with pytest.warns(UserWarning, match="2 input\\(s\\) could not be embedded"):
        embeddings = clap.transform(clips)
    assert embeddings.shape == (4, 512)
    assert np.isnan(embeddings[[1, 2]]).all()
    np.testing.assert_allclose(embeddings[[0, 3]], file_embeddings[[0, 3]], atol=1e-5)
    assert clap.failed_["index"].tolist() == [1, 2]
    assert clap.failed_["error"].tolist() == ["FileNotFoundError", "AudioInputError"]
    # A clean call leaves no stale failures behind; the default still raises.
    clap.transform(audio_files[:1])
    assert clap.failed_.empty
    with pytest.raises(FileNotFoundError):
        with_params(embedder, on_error="raise").transform(clips)


# -- per-clip failures, long files, max_duration -----------------------------------


def test_unusual_clips_embed_and_a_non_finite_row_fails_alone(
    embedder, audio_files, file_embeddings, monkeypatch
):
    """One-sample, quiet-noise and silent clips are usable for CLAP; a clip the
    model makes non-finite fails its own row only, under on_error."""
    from sklearn_audioconcepts.audio import find_unusable_audio

    rng = np.random.default_rng(0)
    marker = np.full(SR // 2, 0.123, dtype=np.float32)  # the model "fails" on it
    clips = [
        audio_files[0],
        (np.array([0.1], np.float32), 16_000),
        ((1e-4 * rng.standard_normal(16_000)).astype(np.float32), 16_000),
        (np.zeros(16_000, np.float32), 16_000),
        (marker, SR),
        audio_files[3],
    ]
    real = _clap.audio_embeddings

    def nan_on_marker(module, windows):
        out = real(module, windows)
        out[[bool(np.all(w == marker[0])) for w in windows]] = np.nan
        return out

    monkeypatch.setattr(_clap, "audio_embeddings", nan_on_marker)
    clap = with_params(embedder, on_error="nan", batch_size=4)
    with pytest.warns(UserWarning, match="1 input\\(s\\) could not be embedded"):
        embeddings = clap.transform(clips)
    assert np.isnan(embeddings[4]).all()
    finite = [0, 1, 2, 3, 5]
    np.testing.assert_allclose(np.linalg.norm(embeddings[finite], axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(embeddings[[0, 5]], file_embeddings[[0, 3]], atol=1e-5)
    assert clap.failed_[["index", "error"]].values.tolist() == [[4, "AudioInputError"]]
    assert "X[4]: the CLAP model returned a non-finite" in clap.failed_["message"][0]
    with pytest.raises(AudioInputError, match=r"X\[4\]: the CLAP model"):
        with_params(embedder, on_error="raise").transform(clips)
    # Nothing here is unusable before the model runs.
    assert find_unusable_audio(clips, embedder=clap).empty


def test_find_unusable_audio_with_the_embedder(embedder, audio_files):
    from sklearn_audioconcepts.audio import find_unusable_audio

    clips = [audio_files[0], "missing.wav", (np.zeros(0, np.float32), SR)]
    clap = with_params(embedder, on_error="nan")
    with pytest.warns(UserWarning):
        clap.transform(clips)
    found = find_unusable_audio(clips, embedder=clap)
    assert found.equals(clap.failed_)


@pytest.fixture
def streamed(monkeypatch):
    """Stream every clip over 12 s, in 3.7 s blocks (several blocks per window)."""
    from sklearn_audioconcepts import clap as clap_module

    monkeypatch.setattr(clap_module, "_STREAM_SECONDS", 12.0)
    monkeypatch.setattr(clap_module, "_BLOCK_SECONDS", 3.7)


def _long_clip(sample_rate, seconds=25.0):
    half = seconds / 2
    return np.concatenate(
        [speech_like(sample_rate, half), noise(sample_rate, seconds - half, seed=7)]
    )


@pytest.mark.parametrize("rate", [16_000, 44_100, SR])
def test_streamed_long_clip_equals_whole_clip(embedder, tmp_path, rate, request):
    clip = _long_clip(rate)
    path = tmp_path / "long.wav"
    soundfile.write(path, clip, rate, subtype="FLOAT")
    whole = with_params(embedder).transform([(clip, rate)])
    cropped = with_params(embedder, long_clips="crop").transform([(clip, rate)])
    request.getfixturevalue("streamed")
    for X in ([(clip, rate)], [str(path)]):
        np.testing.assert_allclose(with_params(embedder).transform(X), whole, atol=1e-5)
        np.testing.assert_allclose(
            with_params(embedder, long_clips="crop").transform(X), cropped, atol=1e-5
        )


def test_streamed_windows_report_progress(embedder, tmp_path, streamed, capsys):
    path = tmp_path / "long.wav"
    soundfile.write(path, _long_clip(16_000), 16_000)
    with_params(embedder, progress=True).transform([str(path)])
    err = capsys.readouterr().err
    assert "long.wav" in err and "/3 " in err and "window/s" in err


def test_streamed_truncated_file_embeds_what_is_there(embedder, tmp_path, streamed):
    path = tmp_path / "long.wav"
    soundfile.write(path, _long_clip(16_000), 16_000, subtype="PCM_16")
    data = path.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) * 2 // 3])  # the header still says 25 s
    with pytest.warns(UserWarning, match="truncated"):
        embedded = with_params(embedder).transform([str(cut)])
    present, rate = soundfile.read(cut, dtype="float32")
    np.testing.assert_allclose(
        embedded, with_params(embedder).transform([(present, rate)]), atol=1e-5
    )


@pytest.mark.parametrize("stream", [False, True])
def test_max_duration_embeds_the_first_seconds(embedder, tmp_path, stream, request):
    if stream:
        request.getfixturevalue("streamed")
    clip = _long_clip(16_000)
    path = tmp_path / "long.wav"
    soundfile.write(path, clip, 16_000, subtype="FLOAT")
    first = with_params(embedder).transform([(clip[: 16_000 * 14], 16_000)])
    capped = with_params(embedder, max_duration=14.0)
    np.testing.assert_allclose(capped.transform([(clip, 16_000)]), first, atol=1e-5)
    np.testing.assert_allclose(capped.transform([str(path)]), first, atol=1e-5)
    with pytest.raises(ValueError, match="max_duration"):
        with_params(embedder, max_duration=0).transform([str(path)])


# -- every published name, offline ------------------------------------------------


@pytest.mark.parametrize("name", sorted(PUBLISHED_MODELS))
def test_every_published_name_offline_names_what_to_provide(
    name, monkeypatch, tmp_path
):
    """Offline with an empty cache, each published name fails before any model
    is built, with an error that names the file or hub repo to fetch and says
    what to pass instead."""
    from huggingface_hub import constants

    published = PUBLISHED_MODELS[name]
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if published.family == "laion":  # laion-clap's own folder is looked in first
        spec = importlib.util.find_spec("laion_clap")
        laion_dir = os.path.dirname(spec.origin)
        if os.path.exists(os.path.join(laion_dir, published.filename)):
            pytest.skip(f"{published.filename} is installed in {laion_dir}")
    embedder = CLAPEmbedder(name, device="cpu")
    spec = embedder._model_spec()
    assert (spec.family, spec.embedding_dim, spec.sample_rate) == (
        published.family,
        published.embedding_dim,
        published.sample_rate,
    )
    with pytest.raises((FileNotFoundError, OSError)) as error:
        embedder.embed_text(["x"])
    message = str(error.value)
    assert published.hub_repo in message
    if published.filename is not None:
        assert published.filename in message
    assert "checkpoint" in message


def test_librosa_resampler_matches_laion_clap_file_path(embedder, audio_files):
    """resampler='librosa' gives what laion-clap's own file reader gives."""
    import torch

    files = audio_files[:3]  # 16 kHz, 22.05 kHz, 44.1 kHz stereo; none 48 kHz
    module = embedder._backend().module
    with torch.inference_mode():
        expected = module.get_audio_embedding_from_filelist(files)
    matched = with_params(embedder, resampler="librosa").transform(files)
    ours = with_params(embedder).transform(files)
    np.testing.assert_allclose(matched, expected, atol=1e-5)
    # The default resampler gives a (slightly) different waveform.
    assert np.abs(ours - expected).max() > 1e-5
    with pytest.raises(ValueError, match="resampler"):
        with_params(embedder, resampler="soxr").transform(files)
