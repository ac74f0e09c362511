"""The Hugging Face transformers CLAP family on tiny random models.

The models are built once per session with transformers' own classes and
saved with ``save_pretrained`` (tests/_tiny_hf_clap.py), unfused
(``rand_trunc``) and fused (``fusion``), as ``laion/clap-htsat-unfused`` and
``laion/clap-htsat-fused`` are published. Parity is with transformers'
documented calls on the same loaded model. Every test name contains
``hf_clap``; feature extraction costs ~0.1-0.4 s a clip, so clips are few.
"""

import json
import os
import shutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported

import numpy as np
import pytest

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from _audio_fixtures import (  # noqa: E402
    with_params,
    write_audio_files,
    write_tones_and_noises,
)
from _tiny_hf_clap import PROJECTION_DIM, build_tiny_hf_clap  # noqa: E402

from sklearn_audioconcepts import _clap_backends, _clap_hf  # noqa: E402
from sklearn_audioconcepts._clap_backends import CheckpointError  # noqa: E402

SR = 48_000


def tone(frequency, seconds, sample_rate=SR, amplitude=0.3):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def noise(seconds, seed=0, sample_rate=SR, amplitude=0.2):
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    return (amplitude * rng.standard_normal(n)).clip(-1, 1).astype(np.float32)


@pytest.fixture(scope="session")
def hf_folder(tmp_path_factory):
    return build_tiny_hf_clap(tmp_path_factory.mktemp("hf_clap_unfused"))


@pytest.fixture(scope="session")
def hf_fused_folder(tmp_path_factory):
    return build_tiny_hf_clap(tmp_path_factory.mktemp("hf_clap_fused"), fusion=True)


@pytest.fixture(scope="session")
def hf_backend(hf_folder):
    spec = _clap_backends.resolve_model(str(hf_folder))
    return _clap_backends.cached_backend(spec, text_model=None, device="cpu")


@pytest.fixture(scope="session")
def hf_fused_backend(hf_fused_folder):
    spec = _clap_backends.resolve_model(str(hf_fused_folder), family="hf")
    return _clap_backends.cached_backend(spec, text_model=None, device="cpu")


def documented_audio(backend, waveforms, *, is_longer=None):
    """transformers' documented audio call, normalised, on the loaded model."""
    inputs = backend.processor(audio=waveforms, sampling_rate=SR, return_tensors="pt")
    if is_longer is not None:
        inputs["is_longer"] = torch.tensor(is_longer)[:, None]
    with torch.inference_mode():
        features = backend.model.get_audio_features(**inputs)
    return normalised(_clap_hf._as_array(features))


def documented_text(backend, texts):
    inputs = backend.processor(text=texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        features = backend.model.get_text_features(**inputs)
    return normalised(_clap_hf._as_array(features))


def normalised(rows):
    rows = np.asarray(rows, dtype=np.float64)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


# -- describing and loading ----------------------------------------------------


def test_hf_clap_describe_reads_the_saved_folder(hf_folder, hf_fused_folder):
    spec = _clap_backends.resolve_model(str(hf_folder))
    assert (spec.family, spec.fusion, spec.embedding_dim) == ("hf", False, 24)
    assert (spec.sample_rate, spec.clip_samples) == (SR, 10 * SR)
    assert spec.option("truncation") == "rand_trunc"
    assert spec.location == str(hf_folder) and spec.name == str(hf_folder.resolve())
    fused = _clap_backends.resolve_model(hf_fused_folder, enable_fusion=True)
    assert fused.fusion and fused.option("truncation") == "fusion"
    assert fused.embedding_dim == PROJECTION_DIM
    # The folder's identity includes its files: two folders never look alike.
    assert spec.fingerprint() != fused.fingerprint()


def test_hf_clap_backend_is_loaded_once_in_eval_mode(hf_folder, hf_backend):
    assert isinstance(hf_backend, _clap_hf.HFClapBackend)
    assert hf_backend.family == "hf" and not hf_backend.model.training
    spec = _clap_backends.resolve_model(str(hf_folder))
    again = _clap_backends.cached_backend(spec, text_model=None, device="cpu")
    assert again is hf_backend


# -- parity with transformers' documented calls ---------------------------------


def test_hf_clap_matches_the_documented_calls(hf_backend):
    clips = [tone(330, 2.5), noise(0.7, seed=1), tone(880, 10.0) + noise(10.0)]
    ours = normalised(hf_backend.embed_audio(clips))
    direct = documented_audio(hf_backend, clips)
    assert ours.shape == (3, PROJECTION_DIM)
    np.testing.assert_allclose(ours, direct, atol=1e-5)
    texts = ["a dog barking", "rain", "a much longer caption about rain on a roof"]
    np.testing.assert_allclose(
        normalised(hf_backend.embed_text(texts)),
        documented_text(hf_backend, texts),
        atol=1e-5,
    )
    # One at a time gives the same numbers as a batch.
    single = np.concatenate([hf_backend.embed_audio([clip]) for clip in clips])
    np.testing.assert_allclose(normalised(single), ours, atol=1e-5)


def test_hf_clap_fused_short_clips_do_not_depend_on_the_batch(hf_fused_backend):
    """transformers marks one random short clip of a batch as 'longer'; the
    backend marks none, as laion-clap does at inference."""
    clips = [tone(440, 1.0), noise(2.0, seed=2), tone(200, 3.0)]
    ours = normalised(hf_fused_backend.embed_audio(clips))
    direct = documented_audio(hf_fused_backend, clips, is_longer=[False] * 3)
    np.testing.assert_allclose(ours, direct, atol=1e-5)
    single = np.concatenate([hf_fused_backend.embed_audio([clip]) for clip in clips])
    np.testing.assert_allclose(normalised(single), ours, atol=1e-5)
    # transformers' own call alone marks the lone clip 'longer': another number.
    alone = documented_audio(hf_fused_backend, clips[:1])
    assert np.abs(alone - ours[:1]).max() > 1e-4


def test_hf_clap_fusion_of_long_clips_matches_the_documented_call(hf_fused_backend):
    """A clip over 10 s gets transformers' fusion: its random crops come from
    numpy's global RNG, which the caller seeds."""
    # 10 s and 100 samples: longer, but with no spectrogram frame more than
    # 10 s have, which transformers embeds as a short clip.
    corner = tone(500, 10.0 + 100 / SR)
    clips = [tone(300, 6.0) + noise(6.0, seed=4), tone(700, 13.0), corner]
    saved = np.random.get_state()  # noqa: NPY002 - transformers draws from it
    np.random.seed(7)  # noqa: NPY002
    ours = normalised(hf_fused_backend.embed_audio(clips, fusion=True))
    np.random.seed(7)  # noqa: NPY002
    direct = documented_audio(hf_fused_backend, clips)  # one clip is longer
    np.random.set_state(saved)  # noqa: NPY002
    np.testing.assert_allclose(ours, direct, atol=1e-5)
    inputs = hf_fused_backend.audio_inputs(clips)
    assert inputs["is_longer"].ravel().tolist() == [False, True, False]


def test_hf_clap_windows_longer_than_the_model_are_refused(hf_backend):
    with pytest.raises(ValueError, match="longer than the model's 480000"):
        hf_backend.embed_audio([np.zeros(10 * SR + 1, np.float32)])
    with pytest.raises(ValueError, match="without feature fusion"):
        hf_backend.embed_audio([np.zeros(SR, np.float32)], fusion=True)
    assert hf_backend.embed_audio([]).shape == (0, PROJECTION_DIM)


# -- folders that are not a transformers CLAP -----------------------------------


def _copy(folder, tmp_path, name="copy"):
    target = tmp_path / name
    shutil.copytree(folder, target)
    return target


def _edit_json(path, edit):
    value = json.loads(path.read_text())
    edit(value)
    path.write_text(json.dumps(value))


def _extractor_config(folder):
    """preprocessor_config.json (transformers 4) or processor_config.json (5)."""
    if (folder / "preprocessor_config.json").is_file():
        return folder / "preprocessor_config.json", lambda c: c
    return folder / "processor_config.json", lambda c: c["feature_extractor"]


def test_hf_clap_folder_errors(hf_folder, tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a file or folder"):
        _clap_backends.resolve_model(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _clap_hf.describe(tmp_path / "nowhere")

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"no config\.json.*save_pretrained"):
        _clap_backends.resolve_model(str(empty))

    no_weights = _copy(hf_folder, tmp_path, "no_weights")
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"no_weights has no weights"):
        _clap_backends.resolve_model(str(no_weights))

    other = _copy(hf_folder, tmp_path, "bert")
    _edit_json(other / "config.json", lambda c: c.update(model_type="bert"))
    with pytest.raises(CheckpointError, match="'bert' model, not a CLAP"):
        _clap_backends.resolve_model(str(other))

    no_processor = _copy(hf_folder, tmp_path, "no_processor")
    for name in ("preprocessor_config.json", "processor_config.json"):
        (no_processor / name).unlink(missing_ok=True)
    with pytest.raises(FileNotFoundError, match="no preprocessor_config.json"):
        _clap_backends.resolve_model(str(no_processor))

    no_tokenizer = _copy(hf_folder, tmp_path, "no_tokenizer")
    for name in ("tokenizer.json", "vocab.json"):
        (no_tokenizer / name).unlink(missing_ok=True)
    with pytest.raises(FileNotFoundError, match="has no tokenizer"):
        _clap_backends.resolve_model(str(no_tokenizer))


def test_hf_clap_parameter_errors(hf_folder, hf_backend, tmp_path):
    with pytest.raises(CheckpointError, match="without feature fusion"):
        _clap_backends.resolve_model(str(hf_folder), enable_fusion=True)
    with pytest.raises(CheckpointError, match="audio_model applies to laion-clap"):
        _clap_backends.resolve_model(str(hf_folder), audio_model="HTSAT-base")
    with pytest.raises(CheckpointError, match="'hf' model"):
        _clap_backends.resolve_model(str(hf_folder), family="laion")
    with pytest.raises(CheckpointError, match="text_model applies to laion-clap"):
        _clap_hf.load(hf_backend.spec, text_model=tmp_path, device="cpu")

    fusion_settings = _copy(hf_folder, tmp_path, "fusion_settings")
    path, section = _extractor_config(fusion_settings)
    _edit_json(path, lambda c: section(c).update(truncation="fusion"))
    with pytest.raises(CheckpointError, match="truncation='fusion' but the model"):
        _clap_backends.resolve_model(str(fusion_settings))


def test_hf_clap_weights_that_do_not_fit_are_refused(hf_folder, tmp_path):
    from safetensors.torch import load_file, save_file

    def load(folder):
        spec = _clap_backends.resolve_model(str(folder))
        return _clap_hf.load(spec, text_model=None, device="cpu")

    # config.json says fused, the weights are an unfused model's.
    fused_config = _copy(hf_folder, tmp_path, "fused_config")
    _edit_json(
        fused_config / "config.json",
        lambda c: c["audio_config"].update(enable_fusion=True),
    )
    path, section = _extractor_config(fused_config)
    _edit_json(path, lambda c: section(c).update(truncation="fusion"))
    with pytest.raises(CheckpointError, match="missing keys.*trained without fusion"):
        load(fused_config)

    wider = _copy(hf_folder, tmp_path, "wider")
    _edit_json(
        wider / "config.json", lambda c: c["text_config"].update(intermediate_size=64)
    )
    with pytest.raises(CheckpointError, match="3 mismatched keys"):
        load(wider)

    state = load_file(hf_folder / "model.safetensors")
    missing = _copy(hf_folder, tmp_path, "missing")
    save_file(
        {k: v for k, v in state.items() if k != "text_projection.linear1.weight"},
        missing / "model.safetensors",
        metadata={"format": "pt"},
    )
    with pytest.raises(CheckpointError, match=r"1 missing keys \(text_projection"):
        load(missing)

    extra = _copy(hf_folder, tmp_path, "extra")
    save_file(
        {**state, "spare.weight": torch.zeros(2)},
        extra / "model.safetensors",
        metadata={"format": "pt"},
    )
    with pytest.raises(CheckpointError, match=r"1 unexpected keys \(spare.weight\)"):
        load(extra)

    truncated = _copy(hf_folder, tmp_path, "truncated")
    data = (hf_folder / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="Could not load the transformers CLAP"):
        load(truncated)

    # Buffers computed from the config may be absent (other transformers versions).
    derived = _copy(hf_folder, tmp_path, "derived")
    save_file(
        {k: v for k, v in state.items() if not k.endswith("position_ids")},
        derived / "model.safetensors",
        metadata={"format": "pt"},
    )
    assert load(derived).embed_text(["x"]).shape == (1, PROJECTION_DIM)


# -- hub ids and published names -------------------------------------------------


@pytest.fixture
def hf_clap_hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache, offline."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def _put_in_cache(cache, repo_id, folder):
    """Lay ``folder`` out as a snapshot of ``repo_id`` in the hub cache."""
    commit = "0" * 40
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(folder, repo / "snapshots" / commit)


def test_hf_clap_hub_id_offline_not_cached(hf_clap_hub_cache):
    with pytest.raises(FileNotFoundError) as error:
        _clap_backends.resolve_model("someone/their-clap")
    message = str(error.value)
    assert "'someone/their-clap' is not in the Hugging Face cache" in message
    assert "https://huggingface.co/someone/their-clap" in message
    assert "save_pretrained(d)" in message and "checkpoint=d" in message
    assert "models--someone--their-clap" in message

    # A published name resolves from the table, and fails on loading.
    spec = _clap_backends.resolve_model("laion/larger_clap_general")
    assert (spec.family, spec.location, spec.embedding_dim) == ("hf", None, 512)
    with pytest.raises(FileNotFoundError, match="huggingface.co/laion/larger_clap"):
        _clap_backends.cached_backend(spec, text_model=None, device="cpu")


def test_hf_clap_hub_id_found_in_the_cache_offline(hf_clap_hub_cache, hf_folder):
    _put_in_cache(hf_clap_hub_cache, "someone/their-clap", hf_folder)
    spec = _clap_backends.resolve_model("someone/their-clap")
    assert spec.name == "someone/their-clap" and spec.embedding_dim == PROJECTION_DIM
    backend = _clap_hf.load(spec, text_model=None, device="cpu")
    assert backend.embed_text(["x"]).shape == (1, PROJECTION_DIM)

    # A published name loads through the same path, and is checked against its
    # row: the tiny model is not laion/clap-htsat-unfused.
    _put_in_cache(hf_clap_hub_cache, "laion/clap-htsat-unfused", hf_folder)
    published = _clap_backends.resolve_model("laion/clap-htsat-unfused")
    with pytest.raises(CheckpointError, match="embedding_dim=24.*it is not that"):
        _clap_hf.load(published, text_model=None, device="cpu")


# -- through CLAPEmbedder ----------------------------------------------------------


@pytest.fixture(scope="session")
def hf_embedder(hf_folder):
    """One loaded embedder; tests change only non-model parameters on it."""
    from sklearn_audioconcepts.clap import CLAPEmbedder

    return CLAPEmbedder(str(hf_folder), family="hf", device="cpu", progress=False)


@pytest.fixture(scope="session")
def hf_audio_files(tmp_path_factory):
    """WAV and FLAC files at several rates, mono and stereo."""
    folder = tmp_path_factory.mktemp("hf_clap_audio")
    stereo = np.stack(
        [tone(220, 3.0, 44_100), noise(3.0, seed=3, sample_rate=44_100)], axis=1
    )
    files = {
        "tone.wav": (tone(440, 2.0, 16_000), 16_000),
        "noise.flac": (noise(1.5, sample_rate=22_050), 22_050),
        "stereo.wav": (stereo, 44_100),
        "tone48k.flac": (tone(1000, 4.0), SR),
    }
    return write_audio_files(folder, files)


@pytest.fixture(scope="session")
def hf_file_embeddings(hf_embedder, hf_audio_files):
    return with_params(hf_embedder).transform(hf_audio_files)


def test_hf_clap_embedder_files_and_every_input_form(
    hf_embedder, hf_backend, hf_audio_files, hf_file_embeddings
):
    import soundfile

    from sklearn_audioconcepts.audio import resample

    embeddings = hf_file_embeddings
    assert embeddings.shape == (4, PROJECTION_DIM) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1, atol=1e-5)
    assert hf_embedder.get_feature_names_out().shape == (PROJECTION_DIM,)

    decoded = [soundfile.read(path, dtype="float32") for path in hf_audio_files]
    # Resampled to 48 kHz, then the backend's (= transformers') embedding.
    waveform, rate = decoded[0]
    direct = hf_backend.embed_audio([resample(waveform, rate, SR)])
    np.testing.assert_allclose(embeddings[:1], normalised(direct), atol=1e-5)

    pairs = with_params(hf_embedder).transform([decoded[0], decoded[2]])
    np.testing.assert_allclose(pairs, embeddings[[0, 2]], atol=1e-5)
    stereo, rate = decoded[2]
    channels_first = with_params(hf_embedder, sample_rate=rate).transform([stereo.T])
    np.testing.assert_allclose(channels_first[0], embeddings[2], atol=1e-5)
    rows = np.stack([waveform, waveform[::-1].copy()])  # a 2-D array: one per row
    from_array = with_params(hf_embedder, sample_rate=16_000).transform(rows)
    np.testing.assert_allclose(from_array[0], embeddings[0], atol=1e-5)
    listed = with_params(hf_embedder, sample_rate=16_000).transform(list(rows))
    np.testing.assert_allclose(listed, from_array, atol=1e-5)


def test_hf_clap_embedder_batch_size_and_text(
    hf_embedder, hf_backend, hf_audio_files, hf_file_embeddings
):
    one_by_one = with_params(hf_embedder, batch_size=1).transform(hf_audio_files)
    np.testing.assert_allclose(one_by_one, hf_file_embeddings, atol=1e-5)
    texts = ["dog barking", "rain on a tin roof", "dog barking"]
    embedded = hf_embedder.embed_text(texts)
    assert embedded.shape == (3, PROJECTION_DIM) and embedded.dtype == np.float32
    np.testing.assert_allclose(embedded, documented_text(hf_backend, texts), atol=1e-5)
    np.testing.assert_allclose(embedded[0], embedded[2], atol=1e-6)


def test_hf_clap_embedder_long_clip_policies(hf_embedder, hf_backend):
    from sklearn_audioconcepts.audio import resample

    clip = np.concatenate([tone(300, 12.0, 16_000), noise(13.0, 7, 16_000)])
    resampled = resample(clip, 16_000, SR)
    crop = with_params(hf_embedder, long_clips="crop").transform([(clip, 16_000)])
    direct = documented_audio(hf_backend, [resampled[: 10 * SR]])
    np.testing.assert_allclose(crop, direct, atol=1e-5)

    mean = with_params(hf_embedder).transform([(clip, 16_000)])[0]
    starts = _clap_backends.window_starts(len(resampled), 10 * SR)
    assert starts == [0, 360_000, 720_000]  # 25 s: three evenly spaced windows
    windows = [resampled[s : s + 10 * SR] for s in starts]
    expected = documented_audio(hf_backend, windows).mean(axis=0)
    np.testing.assert_allclose(mean, expected / np.linalg.norm(expected), atol=1e-5)


def test_hf_clap_embedder_fusion_of_long_clips(hf_fused_folder, hf_fused_backend):
    from sklearn_audioconcepts.clap import CLAPEmbedder

    fused = CLAPEmbedder(
        str(hf_fused_folder),
        long_clips="fusion",
        random_state=0,
        sample_rate=SR,
        device="cpu",
        progress=False,
    )
    clips = [tone(500, 3.0), tone(250, 14.0) + noise(14.0, seed=5)]
    np.random.seed(123)  # noqa: NPY002
    before = np.random.random()  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    first = fused.transform(clips)
    assert np.random.random() == before  # noqa: NPY002 - the caller's RNG is kept
    np.testing.assert_allclose(fused.transform(clips), first, atol=1e-6)
    # The same draws as transformers' own call from the same RNG state.
    saved = np.random.get_state()  # noqa: NPY002
    np.random.set_state(np.random.RandomState(0).get_state())  # noqa: NPY002
    direct = documented_audio(hf_fused_backend, clips)
    np.random.set_state(saved)  # noqa: NPY002
    np.testing.assert_allclose(first, direct, atol=1e-5)
    assert fused._backend() is hf_fused_backend


def test_hf_clap_embedder_pipeline_and_grid_search(hf_embedder, tmp_path, monkeypatch):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    from sklearn_audioconcepts import ConceptDecomposer, ConceptVocabulary

    paths, labels = write_tones_and_noises(tmp_path, seconds=1.0)
    concepts = ["pure tone", "white noise", "hiss", "whistle", "hum", "static"]
    vocabulary = ConceptVocabulary.from_texts(concepts, hf_embedder)
    pipeline = Pipeline(
        [
            ("clap", with_params(hf_embedder)),
            ("concepts", ConceptDecomposer(vocabulary, l1_penalty=0.01, device="cpu")),
            ("clf", LogisticRegression()),
        ]
    )
    pipeline.fit(paths, labels)
    assert pipeline["concepts"].components_.shape == (len(concepts), PROJECTION_DIM)
    assert set(pipeline.predict(paths)) <= {"tone", "noise"}
    weights = pipeline[:-1].transform(paths[:1])
    assert weights.shape == (1, len(concepts)) and (weights >= 0).all()

    # The clones of a grid search share the loaded model.
    loads = []
    real_load = _clap_hf.load
    monkeypatch.setattr(
        _clap_hf, "load", lambda *a, **k: loads.append(a) or real_load(*a, **k)
    )
    grid = {"concepts__l1_penalty": [0.01, 0.05]}
    search = GridSearchCV(pipeline, grid, cv=2, refit=False).fit(paths, labels)
    assert loads == []
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_hf_clap_cache_identity(
    hf_embedder, hf_folder, hf_fused_folder, hf_audio_files, tmp_path
):
    from sklearn.base import clone

    from sklearn_audioconcepts.cache import (
        EmbeddingCache,
        cached_transform,
        embedder_identity,
    )
    from sklearn_audioconcepts.clap import CLAPEmbedder

    same = embedder_identity(clone(hf_embedder))
    assert same == embedder_identity(hf_embedder)
    other_folder = CLAPEmbedder(str(hf_fused_folder), family="hf", device="cpu")
    other_family = CLAPEmbedder("630k-audioset-best", device="cpu")
    hub_name = CLAPEmbedder("laion/clap-htsat-unfused", device="cpu")
    identities = {
        embedder_identity(e)
        for e in (hf_embedder, other_folder, other_family, hub_name)
    }
    assert len(identities) == 4

    # A folder whose weights change on disk is another model.
    copied = _copy(hf_folder, tmp_path, "copied")
    before = embedder_identity(CLAPEmbedder(str(copied), device="cpu"))
    data = bytearray((copied / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (copied / "model.safetensors").write_bytes(bytes(data))
    assert embedder_identity(CLAPEmbedder(str(copied), device="cpu")) != before

    # Two models on the same files never share entries.
    cache = EmbeddingCache(tmp_path / "cache")
    first = cached_transform(with_params(hf_embedder), hf_audio_files[:2], cache)
    assert len(cache) == 2
    fused = CLAPEmbedder(str(hf_fused_folder), device="cpu", progress=False)
    second = cached_transform(fused, hf_audio_files[:2], cache)
    assert len(cache) == 4
    assert np.abs(first - second).max() > 1e-3
    again = cached_transform(with_params(hf_embedder), hf_audio_files[:2], cache)
    np.testing.assert_array_equal(again, first)


def test_hf_clap_embedder_errors(hf_folder, hf_embedder, hf_clap_hub_cache, tmp_path):
    from sklearn_audioconcepts.clap import CLAPEmbedder

    with pytest.raises(ValueError, match="text_model applies to the laion"):
        CLAPEmbedder(str(hf_folder), text_model=str(tmp_path)).fit()
    with pytest.raises(ValueError, match="long_clips='fusion' uses feature fusion"):
        CLAPEmbedder(str(hf_folder), long_clips="fusion").fit()
    with pytest.raises(CheckpointError, match="is a 'hf' model"):
        CLAPEmbedder(str(hf_folder), family="msclap").fit()
    with pytest.raises(FileNotFoundError, match="neither a file or folder"):
        CLAPEmbedder(str(tmp_path / "missing"), device="cpu").embed_text(["x"])
    published = CLAPEmbedder("laion/clap-htsat-fused", device="cpu")
    assert published.get_feature_names_out().shape == (512,)  # nothing loaded
    with pytest.raises(
        FileNotFoundError, match="huggingface.co/laion/clap-htsat-fused"
    ):
        published.embed_text(["x"])
    with pytest.raises(FileNotFoundError, match="'someone/clap' is not in the"):
        CLAPEmbedder("someone/clap", device="cpu").fit()
