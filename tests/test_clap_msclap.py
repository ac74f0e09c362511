"""The Microsoft CLAP (msclap) family on a random model built with msclap's classes.

The model (tests/_tiny_msclap.py) is msclap's ``CLAP`` with its 2023 config:
a full-size HTS-AT audio encoder and a one-layer GPT-2 saved with its
tokenizer in a folder, the weights saved as msclap publishes them. msclap's
own documented call, ``CLAPWrapper(model_fp, version='2023')
.get_audio_embeddings([file])``, is the reference: its text model name is
pointed at the local GPT-2 folder (it would fetch "gpt2" from the hub), and
its file reader ``torchaudio.load`` needs torchcodec from torchaudio 2.9 on,
so in these tests it reads through soundfile, as torchaudio's soundfile
backend did (float32, channels first).

Every clip costs a full HTS-AT pass over 7 s (about half a second on one CPU
thread), so the tests share one loaded model and few clips.
"""

import os
import shutil
import sys
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported

import importlib.util

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("msclap") is None,
    reason="Microsoft CLAP needs the [msclap] extra",
)
soundfile = pytest.importorskip("soundfile")

from _audio_fixtures import (  # noqa: E402
    with_params,
    write_audio_files,
    write_tones_and_noises,
)
from _tiny_msclap import (  # noqa: E402  (tests/ is on sys.path)
    build_tiny_msclap,
    published_state,
    write_text_model,
)

from sklearn_audioconcepts import _clap_backends, _clap_msclap  # noqa: E402
from sklearn_audioconcepts._clap_backends import CheckpointError  # noqa: E402
from sklearn_audioconcepts._clap_models import PUBLISHED_MODELS  # noqa: E402
from sklearn_audioconcepts._clap_msclap import msclap_config  # noqa: E402
from sklearn_audioconcepts.audio import resample  # noqa: E402

SR = 44_100
CLIP = 7 * SR


def tone(frequency, sample_rate, seconds, amplitude=0.3):
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def noise(sample_rate, seconds, seed=0, amplitude=0.2):
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    return (amplitude * rng.standard_normal(n)).clip(-1, 1).astype(np.float32)


def chirp(sample_rate, seconds):
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (0.3 * np.sin(2 * np.pi * (200 + 400 * t) * t)).astype(np.float32)


def unit(rows):
    rows = np.asarray(rows, dtype=np.float64)
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def soundfile_load(path, *args, **kwargs):
    """``torchaudio.load`` as its soundfile backend did: float32, channels first."""
    import torch

    data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    return torch.from_numpy(np.ascontiguousarray(data.T)), rate


# -- fixtures ------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_msclap(tmp_path_factory):
    return build_tiny_msclap(tmp_path_factory.mktemp("tiny_msclap"))


@pytest.fixture(scope="session")
def msclap_spec(tiny_msclap):
    return _clap_backends.resolve_model(tiny_msclap["checkpoint"], family="msclap")


@pytest.fixture(scope="session")
def backend(tiny_msclap, msclap_spec):
    return _clap_backends.cached_backend(
        msclap_spec, text_model=tiny_msclap["text_model"], device="cpu"
    )


@pytest.fixture(scope="session")
def wrapper(tiny_msclap):
    """msclap's own ``CLAPWrapper`` on the tiny model, its GPT-2 from the folder."""
    with warnings.catch_warnings():  # importing msclap turns all warnings off
        from msclap import CLAP as CLAPWrapper

    class LocalTextModel(CLAPWrapper):
        def read_config_as_args(self, *args, **kwargs):
            config = super().read_config_as_args(*args, **kwargs)
            config.text_model = tiny_msclap["text_model"]  # its name has "gpt"
            return config

    return LocalTextModel(tiny_msclap["checkpoint"], version="2023")


@pytest.fixture(scope="session")
def msclap_files(tmp_path_factory):
    """Mono 44.1 kHz files of at most 7 s (msclap's own reader handles these)."""
    folder = tmp_path_factory.mktemp("msclap_audio")
    clips = {
        "chirp.wav": chirp(SR, 2.3),
        "noise7s.flac": noise(SR, 7.0, seed=1),  # exactly the model's duration
        "tone.wav": tone(660, SR, 0.4),  # repeated 18 times and cut
    }
    return write_audio_files(folder, {n: (c, SR) for n, c in clips.items()})


@pytest.fixture(scope="session")
def wrapper_file_embeddings(wrapper, msclap_files):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("torchaudio.load", soundfile_load)
        return wrapper.get_audio_embeddings(msclap_files).numpy()


# -- the published table and msclap's config agree ----------------------------


@pytest.mark.parametrize("version", ["2023", "2022"])
def test_msclap_published_rows_match_msclap_config(version):
    config = msclap_config(version)
    row = PUBLISHED_MODELS[f"msclap-{version}"]
    assert row.sample_rate == config["sampling_rate"]
    assert row.clip_seconds == config["duration"]
    assert row.embedding_dim == config["d_proj"]
    assert row.audio_architecture == config["audioenc_name"]
    assert row.version == version and row.family == "msclap"


def test_msclap_describe_reads_version_and_width(tiny_msclap, msclap_spec):
    assert msclap_spec.family == "msclap"
    assert msclap_spec.name == tiny_msclap["checkpoint"]
    assert (msclap_spec.sample_rate, msclap_spec.clip_samples) == (SR, CLIP)
    assert msclap_spec.embedding_dim == 1024 and not msclap_spec.fusion
    assert msclap_spec.option("version") == "2023"
    assert msclap_spec.location == tiny_msclap["checkpoint"]
    # The family is found from the keys alone.
    auto = _clap_backends.resolve_model(tiny_msclap["checkpoint"])
    assert auto == msclap_spec


# -- parity with msclap --------------------------------------------------------


def test_msclap_audio_matches_msclap_wrapper_on_files(
    backend, msclap_files, wrapper_file_embeddings
):
    decoded = [soundfile.read(path, dtype="float32")[0] for path in msclap_files]
    ours = backend.embed_audio(decoded)
    assert ours.shape == (3, 1024) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, wrapper_file_embeddings, atol=1e-5, rtol=0)
    assert np.abs(wrapper_file_embeddings).max() > 0.1  # not a trivial match


def test_msclap_audio_matches_msclap_model_classes(backend, tiny_msclap):
    """Arrays through msclap's own CLAP (the model as built, before saving)."""
    import torch

    clips = [noise(SR, 1.1, seed=4)]
    padded = []
    for clip in clips:  # msclap's load_audio_into_tensor, on a tensor
        series = torch.from_numpy(clip)
        repeats = int(np.ceil(CLIP / series.shape[0]))
        padded.append(series.repeat(repeats)[:CLIP])
    with torch.no_grad():
        direct = tiny_msclap["model"].audio_encoder(torch.stack(padded))[0].numpy()
    np.testing.assert_allclose(backend.embed_audio(clips), direct, atol=1e-5, rtol=0)


TEXTS = [
    "a dog barks",
    "rain on a tin roof!",  # '!' is token 0, msclap's pad: it shifts the pooling
    "The engine hums, then stops.",
    "Ünïcode ☃ and tabs\tin text",
    " ".join(["the sound of a heavy truck passing by"] * 4),  # > 77 tokens
]


def test_msclap_tokens_match_msclap_preprocess_text(backend, wrapper):
    short = TEXTS[:4]
    ours = backend.tokenize(short)
    theirs = wrapper.preprocess_text(short)  # encode_plus text by text
    assert set(ours.keys()) == set(theirs.keys()) == {"input_ids", "attention_mask"}
    for key in theirs:
        assert ours[key].shape == (4, 77)
        assert (ours[key] == theirs[key]).all(), key
    # A text longer than 77 tokens keeps all of them, as in msclap.
    long = backend.tokenize(TEXTS[4:])
    alone = wrapper.preprocess_text(TEXTS[4:])
    assert long["input_ids"].shape[1] > 77
    assert (long["input_ids"] == alone["input_ids"]).all()


def test_msclap_text_matches_msclap_wrapper(backend, wrapper):
    ours = backend.embed_text(TEXTS)
    assert ours.shape == (len(TEXTS), 1024)
    # msclap embeds a batch only when no text is over 77 tokens.
    theirs = np.concatenate(
        [wrapper.get_text_embeddings(TEXTS[:4]).numpy()]
        + [wrapper.get_text_embeddings([text]).numpy() for text in TEXTS[4:]]
    )
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)
    one_by_one = np.concatenate([backend.embed_text([text]) for text in TEXTS])
    np.testing.assert_allclose(ours, one_by_one, atol=1e-5, rtol=0)


def test_msclap_text_past_the_position_limit_is_truncated(backend):
    config = backend.clap.caption_encoder.base.config
    too_long = " ".join(["word"] * config.n_positions)
    tokens = backend.tokenize([too_long, "short"])
    assert tokens["input_ids"].shape == (2, config.n_positions)
    assert np.isfinite(backend.embed_text([too_long])).all()


def test_msclap_stereo_file_is_joined_end_to_end_by_msclap(backend, wrapper, tmp_path):
    """The quirk avoided: msclap reshapes (channels, n) to one channel after another."""
    left, right = chirp(SR, 3.0), noise(SR, 3.0, seed=2)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), SR, subtype="FLOAT")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("torchaudio.load", soundfile_load)
        joined = wrapper.get_audio_embeddings([str(path)]).numpy()
    ours = backend.embed_audio([np.concatenate([left, right]), (left + right) / 2])
    np.testing.assert_allclose(ours[0], joined[0], atol=1e-5, rtol=0)
    assert unit(ours[1]) @ unit(joined[0]) < 0.9999


# -- the backend's own behaviour -------------------------------------------------


def test_msclap_repeat_pad_is_msclaps():
    clip = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(
        _clap_msclap.repeat_pad(clip, 12), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
    )
    np.testing.assert_array_equal(_clap_msclap.repeat_pad(clip, 5), clip)
    with pytest.raises(ValueError, match="longer than the model's 4"):
        _clap_msclap.repeat_pad(clip, 4)


def test_msclap_backend_has_no_fusion(backend):
    with pytest.raises(ValueError, match="no feature fusion"):
        backend.embed_audio([tone(440, SR, 1.0)], fusion=True)


def test_msclap_import_keeps_warnings_on(monkeypatch):
    """msclap's CLAPWrapper runs warnings.filterwarnings('ignore') on import."""
    from transformers import logging as hf_logging

    # Imported again (the model modules stay), the originals restored after.
    for name in ("msclap", "msclap.CLAPWrapper", "msclap.models"):
        monkeypatch.delitem(sys.modules, name)
    before = list(warnings.filters)
    verbosity = hf_logging.get_verbosity()
    _clap_msclap.import_msclap()
    assert "msclap.CLAPWrapper" in sys.modules  # the import really ran
    assert warnings.filters == before
    assert hf_logging.get_verbosity() == verbosity


# -- wrong checkpoints and missing pieces --------------------------------------


def test_msclap_missing_and_unreadable_checkpoints(tiny_msclap, tmp_path):
    with pytest.raises(FileNotFoundError, match="CLAP model not found"):
        _clap_backends.resolve_model(tmp_path / "nope.pth", family="msclap")
    for seed in range(3):  # bytes that are no checkpoint, whatever they start with
        garbage = tmp_path / f"garbage{seed}.pth"
        garbage.write_bytes(np.random.default_rng(seed).bytes(2000))
        with pytest.raises(CheckpointError, match="Could not read"):
            _clap_backends.resolve_model(garbage, family="msclap")
    with open(tiny_msclap["checkpoint"], "rb") as source:
        (tmp_path / "cut.pth").write_bytes(source.read(1_000_000))
    with pytest.raises(CheckpointError, match="Could not read"):
        _clap_backends.resolve_model(tmp_path / "cut.pth", family="msclap")
    # A file with pickled objects besides the weights is not unpickled.
    import argparse

    import torch

    pickled = tmp_path / "pickled.pth"
    torch.save({"model": {}, "args": argparse.Namespace(version="2023")}, pickled)
    with pytest.raises(CheckpointError, match="pickled Python object"):
        _clap_backends.resolve_model(pickled, family="msclap")


def test_msclap_family_of_a_laion_checkpoint_is_refused(tmp_path):
    import torch

    laion = tmp_path / "laion.pt"
    state = {"module.audio_branch.bn0.weight": torch.ones(64)}
    state["module.text_branch.embeddings.word_embeddings.weight"] = torch.ones(4, 2)
    torch.save({"state_dict": state}, laion)
    with pytest.raises(CheckpointError, match="is a 'laion' model.*not 'msclap'"):
        _clap_backends.resolve_model(laion, family="msclap")


def test_msclap_version_and_options_errors(tiny_msclap, tmp_path):
    import torch

    state = {"audio_encoder.base.htsat.bn0.weight": torch.ones(64)}
    state["caption_encoder.base.embeddings.word_embeddings.weight"] = torch.ones(4, 2)
    mixed = tmp_path / "mixed.pth"
    torch.save({"model": state}, mixed)
    with pytest.raises(CheckpointError, match="text encoder BERT, audio encoder HTSAT"):
        _clap_backends.resolve_model(mixed)
    path = tiny_msclap["checkpoint"]
    with pytest.raises(CheckpointError, match="no feature fusion"):
        _clap_backends.resolve_model(path, enable_fusion=True)
    with pytest.raises(CheckpointError, match="audio_model applies to laion-clap"):
        _clap_backends.resolve_model(path, audio_model="HTSAT-tiny")
    with pytest.raises(CheckpointError, match="audio_model applies to laion-clap"):
        _clap_backends.resolve_model("msclap-2023", audio_model="HTSAT")


def test_msclap_weights_that_do_not_fit_are_refused(tiny_msclap, tmp_path):
    """msclap loads with strict=False; here every misfit is named."""
    import torch

    state = published_state(tiny_msclap["model"])
    del state["audio_encoder.base.htsat.head.bias"]
    state["audio_encoder.base.htsat.extra.weight"] = torch.ones(3)
    key = "audio_encoder.base.htsat.norm.weight"
    state[key] = torch.ones(state[key].shape[0] + 1)
    edited = tmp_path / "edited.pth"
    torch.save({"model": state}, edited)
    spec = _clap_backends.resolve_model(edited, family="msclap")
    with pytest.raises(CheckpointError, match="does not fit the model") as error:
        _clap_msclap.load(spec, text_model=tiny_msclap["text_model"])
    message = str(error.value)
    assert "1 missing (audio_encoder.base.htsat.head.bias)" in message
    assert "1 unexpected (audio_encoder.base.htsat.extra.weight)" in message
    assert "1 wrong shape (audio_encoder.base.htsat.norm.weight (769,)" in message


def test_msclap_published_name_offline(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    spec = _clap_backends.resolve_model("msclap-2023")
    assert spec.location is None and spec.published.filename == "CLAP_weights_2023.pth"
    url = "https://huggingface.co/microsoft/msclap/resolve/main/CLAP_weights_2023.pth"
    with pytest.raises(FileNotFoundError) as error:
        _clap_msclap.load(spec, text_model=None)
    message = str(error.value)
    assert "CLAP_weights_2023.pth" in message and url in message
    assert "checkpoint='/path/to/CLAP_weights_2023.pth'" in message


def test_msclap_published_name_found_in_the_hub_cache(monkeypatch, tmp_path):
    """Where msclap's own download (hf_hub_download) put the file."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    repo = tmp_path / "models--microsoft--msclap"
    revision = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (snapshot / "CLAP_weights_2023.pth").write_bytes(b"weights")
    found = _clap_msclap.published_file(PUBLISHED_MODELS["msclap-2023"])
    assert found == snapshot / "CLAP_weights_2023.pth"


def test_msclap_text_model_errors(msclap_spec, tiny_msclap, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        _clap_msclap.load(msclap_spec, text_model=tmp_path / "nowhere")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="no weights file.*save_pretrained"):
        _clap_msclap.load(msclap_spec, text_model=tmp_path)

    # A tokenizer that is not the model's.
    mismatched = write_text_model(tmp_path / "other-gpt2", vocab_padding=5)
    with pytest.raises(OSError, match="263 tokens but the text model expects 268"):
        _clap_msclap.load(msclap_spec, text_model=mismatched)

    # No folder and no "gpt2" in the (empty) hub cache, offline.
    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache("gpt2", "config.json"), str):
        pytest.skip("gpt2 is in this machine's Hugging Face cache")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="text encoder 'gpt2'") as error:
        _clap_msclap.load(msclap_spec, text_model=None)
    message = str(error.value)
    assert "AutoModel.from_pretrained('gpt2').save_pretrained(d)" in message
    assert "text_model=d" in message


def test_msclap_wrong_text_model_type(msclap_spec, tmp_path):
    from transformers import BertConfig, BertModel

    folder = write_text_model(tmp_path / "gpt2-folder")
    BertModel(
        BertConfig(
            vocab_size=263,
            hidden_size=768,
            num_hidden_layers=1,
            num_attention_heads=12,
            intermediate_size=64,
        )
    ).save_pretrained(folder)
    with pytest.raises(OSError, match="is a 'bert' model, but msclap 2023"):
        _clap_msclap.load(msclap_spec, text_model=folder)


# -- through CLAPEmbedder ------------------------------------------------------


@pytest.fixture(scope="session")
def embedder(tiny_msclap, backend):
    """One CLAPEmbedder on the tiny msclap model (the backend already loaded)."""
    from sklearn_audioconcepts.clap import CLAPEmbedder

    return CLAPEmbedder(
        checkpoint=tiny_msclap["checkpoint"],
        family="msclap",
        text_model=tiny_msclap["text_model"],
        device="cpu",
        progress=False,
    )


@pytest.fixture(scope="session")
def embedder_file_embeddings(embedder, msclap_files):
    return with_params(embedder, batch_size=2).transform(msclap_files)


def test_msclap_embedder_matches_msclap_wrapper_on_files(
    embedder, backend, embedder_file_embeddings, wrapper_file_embeddings
):
    assert embedder._backend() is backend  # the one loaded model, shared
    ours = embedder_file_embeddings
    assert ours.shape == (3, 1024) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(ours, unit(wrapper_file_embeddings), atol=1e-5, rtol=0)
    assert embedder.get_feature_names_out().shape == (1024,)


def test_msclap_embedder_text_matches_msclap_wrapper(embedder, wrapper):
    ours = embedder.embed_text(TEXTS[:4])
    theirs = unit(wrapper.get_text_embeddings(TEXTS[:4]).numpy())
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)


def test_msclap_embedder_batch_size_does_not_change_the_numbers(
    embedder, msclap_files, embedder_file_embeddings
):
    one_by_one = with_params(embedder, batch_size=1).transform(msclap_files)
    np.testing.assert_allclose(one_by_one, embedder_file_embeddings, atol=1e-5)


def test_msclap_embedder_every_input_form(
    embedder, msclap_files, embedder_file_embeddings
):
    decoded = [soundfile.read(path, dtype="float32") for path in msclap_files]
    expected = embedder_file_embeddings
    # (waveform, rate) pairs, and 1-D waveforms with sample_rate.
    pairs = with_params(embedder).transform([decoded[2]])
    np.testing.assert_allclose(pairs, expected[[2]], atol=1e-5)
    listed = with_params(embedder, sample_rate=SR).transform([decoded[1][0]])
    np.testing.assert_allclose(listed, expected[[1]], atol=1e-5)
    # A 2-D array is one waveform per row.
    chirp_wave = decoded[0][0]
    rows = np.stack([chirp_wave, chirp_wave[::-1].copy()])
    from_array = with_params(embedder, sample_rate=SR).transform(rows)
    np.testing.assert_allclose(from_array[0], expected[0], atol=1e-5)
    # Stereo, channels last or first: averaged to mono (msclap would join them).
    stereo = np.stack([chirp_wave, chirp_wave], axis=1)
    both = with_params(embedder).transform([(stereo, SR), (stereo.T.copy(), SR)])
    np.testing.assert_allclose(both, expected[[0, 0]], atol=1e-5)


def test_msclap_embedder_resamples_to_44k(embedder, backend):
    """Other rates are resampled to 44.1 kHz before msclap's padding."""
    clip = chirp(16_000, 2.0)
    ours = with_params(embedder, sample_rate=16_000).transform([clip])
    direct = backend.embed_audio([resample(clip, 16_000, SR).astype(np.float32)])
    np.testing.assert_allclose(ours, unit(direct), atol=1e-5)


def test_msclap_embedder_long_clips(embedder, backend):
    """Over 7 s: evenly spaced 7 s windows averaged, or the first 7 s; msclap
    itself would crop at a random place (its issues #24, #37, #42)."""
    from sklearn.base import clone

    clip = np.concatenate([chirp(SR, 5.0), noise(SR, 5.0, seed=9)])  # 10 s
    starts = _clap_backends.window_starts(len(clip), CLIP)
    assert starts == [0, len(clip) - CLIP]
    direct = backend.embed_audio([clip[start : start + CLIP] for start in starts])
    mean = with_params(embedder, long_clips="mean").transform([(clip, SR)])
    np.testing.assert_allclose(mean[0], unit(direct.mean(axis=0)), atol=1e-5)
    crop = with_params(embedder, long_clips="crop").transform([(clip, SR)])
    np.testing.assert_allclose(crop[0], unit(direct[0]), atol=1e-5)
    fusion = clone(embedder).set_params(long_clips="fusion")
    with pytest.raises(ValueError, match="long_clips='fusion'.*msclap family"):
        fusion.transform([(clip, SR)])


def test_msclap_embedder_published_name_offline(monkeypatch, tmp_path):
    from huggingface_hub import constants

    from sklearn_audioconcepts.clap import CLAPEmbedder

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    embedder = CLAPEmbedder(checkpoint="msclap-2023", device="cpu")
    assert embedder.get_feature_names_out().shape == (1024,)  # nothing loaded
    with pytest.raises(FileNotFoundError, match="resolve/main/CLAP_weights_2023.pth"):
        embedder.embed_text(["a dog"])


def test_msclap_embedder_checkpoint_errors(tiny_msclap, tmp_path):
    import torch

    from sklearn_audioconcepts.clap import CLAPEmbedder

    laion = tmp_path / "laion.pt"
    torch.save({"state_dict": {"audio_branch.bn0.weight": torch.ones(2)}}, laion)
    with pytest.raises(CheckpointError, match="not 'msclap'"):
        CLAPEmbedder(checkpoint=str(laion), family="msclap").fit()
    with pytest.raises(FileNotFoundError, match="CLAP model not found"):
        CLAPEmbedder(checkpoint=str(tmp_path / "missing.pth"), family="msclap").fit()
    with pytest.raises(FileNotFoundError, match="not a directory"):
        CLAPEmbedder(
            checkpoint=tiny_msclap["checkpoint"],
            text_model=str(tmp_path / "nowhere"),
            device="cpu",
        ).embed_text(["x"])


def test_msclap_pipeline_and_grid_search(embedder, tmp_path, monkeypatch):
    """CLAPEmbedder -> ConceptDecomposer -> LogisticRegression on files, and
    a grid search whose clones share the loaded model."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    from sklearn_audioconcepts import ConceptDecomposer, ConceptVocabulary

    paths, labels = write_tones_and_noises(tmp_path, seconds=0.5)
    # The grid search embeds each file four more times: the model's forward
    # is memoised per window (the same numbers), to keep the test fast.
    backend = embedder._backend()
    real_embed, memo = backend.embed_audio, {}

    def embed_once(windows, *, fusion=False):
        keys = [np.ascontiguousarray(window).tobytes() for window in windows]
        new = [i for i, key in enumerate(keys) if key not in memo]
        if new:
            rows = real_embed([windows[i] for i in new], fusion=fusion)
            memo.update((keys[i], row) for i, row in zip(new, rows))
        return np.stack([memo[key] for key in keys])

    monkeypatch.setattr(backend, "embed_audio", embed_once)
    concepts = ["pure tone", "white noise", "hiss", "whistle", "hum", "static"]
    vocabulary = ConceptVocabulary.from_texts(
        concepts, embedder, template="the sound of {}"
    )
    assert vocabulary.embeddings.shape == (len(concepts), 1024)
    pipeline = Pipeline(
        [
            ("clap", with_params(embedder)),
            ("concepts", ConceptDecomposer(vocabulary, l1_penalty=0.01, device="cpu")),
            ("clf", LogisticRegression()),
        ]
    )
    pipeline.fit(paths, labels)
    assert pipeline["concepts"].components_.shape == (len(concepts), 1024)
    assert set(pipeline.predict(paths)) <= {"tone", "noise"}

    loads = []
    real_load = _clap_msclap.load
    monkeypatch.setattr(
        _clap_msclap, "load", lambda *a, **k: loads.append(a) or real_load(*a, **k)
    )
    search = GridSearchCV(pipeline, {"concepts__l1_penalty": [0.01, 0.05]}, cv=2)
    search.fit(paths, labels)
    assert loads == []
    assert search.best_params_["concepts__l1_penalty"] in (0.01, 0.05)
    assert search.best_estimator_["clap"]._backend() is backend
    assert len(memo) == len(paths)


def test_msclap_and_laion_never_share_cache_entries(tiny_msclap, tmp_path):
    from sklearn_audioconcepts.cache import embedder_identity
    from sklearn_audioconcepts.clap import CLAPEmbedder

    msclap = CLAPEmbedder(checkpoint=tiny_msclap["checkpoint"], family="msclap")
    laion = CLAPEmbedder(checkpoint="630k-audioset-best", family="laion")
    published = CLAPEmbedder(checkpoint="msclap-2023")
    identities = {embedder_identity(e) for e in (msclap, laion, published)}
    assert len(identities) == 3
    # The same file at the same path, rewritten, is another model.
    copy = tmp_path / "CLAP_weights_2023.pth"
    shutil.copyfile(tiny_msclap["checkpoint"], copy)
    first = embedder_identity(CLAPEmbedder(checkpoint=str(copy)))
    os.utime(copy, ns=(1, 1))
    assert embedder_identity(CLAPEmbedder(checkpoint=str(copy))) != first
