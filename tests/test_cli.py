"""The command line, offline: every subcommand on files the tests write.

CLAP paths use the tiny random LAION-CLAP of ``tests/_tiny_clap.py`` (the real
laion-clap loading path); speaker paths use the real pretrained Resemblyzer
encoder on speech synthesised by eSpeak NG.
"""

import io
import os
import shutil
import subprocess
import sys
import textwrap
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest

# Imported first: it sets HF_HUB_OFFLINE before laion-clap reaches for the
# hub (offline, each of its tokenizer look-ups otherwise retries for minutes).
from _file_errors import assert_read_error  # tests/ is on sys.path
from _tiny_clap import build_tiny_clap

from sklearn_audioconcepts import __version__
from sklearn_audioconcepts._tables import read_table, write_table
from sklearn_audioconcepts.cli import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    main,
    run_demo,
)
from sklearn_audioconcepts.persistence import load_model, save_model
from sklearn_audioconcepts.sae import TopKSparseAutoencoder

HAS_ESPEAK = shutil.which("espeak-ng") is not None
# The smallest section of the bundled concept list: keeps text embedding fast.
SECTION = "sound descriptors for events"


def _has(module):
    try:
        __import__(module)
    except ImportError:
        return False
    return True


needs_speech = pytest.mark.skipif(
    not (HAS_ESPEAK and _has("resemblyzer")),
    reason="needs espeak-ng and resemblyzer (the speaker extra)",
)


@pytest.fixture(scope="module")
def tiny_clap(tmp_path_factory):
    # Through the package: a bare import fails offline on transformers 4
    # (laion-clap loads training tokenizers from the hub when imported).
    from sklearn_audioconcepts._clap import import_laion_clap

    try:
        import_laion_clap()
    except ImportError:
        pytest.skip("needs the [clap] extra (laion-clap)")
    return build_tiny_clap(tmp_path_factory.mktemp("tiny_clap"))


def _clap_options(tiny_clap, prefix="--clap-"):
    return [
        f"{prefix}audio-model",
        tiny_clap["audio_model"],
        f"{prefix}text-model",
        tiny_clap["text_model"],
    ]


@pytest.fixture(scope="module")
def tone_folder(tmp_path_factory):
    import soundfile

    folder = tmp_path_factory.mktemp("tones")
    (folder / "sub").mkdir()
    rate = 22050
    t = np.arange(int(0.5 * rate)) / rate
    for name, frequency in [("a.wav", 220), ("b.flac", 880), ("sub/c.wav", 3000)]:
        stereo = np.stack([np.sin(2 * np.pi * frequency * t)] * 2, axis=1) * 0.3
        soundfile.write(folder / name, stereo, rate)
    (folder / "notes.txt").write_text("not audio")
    return folder


@pytest.fixture(scope="module")
def speech_folder(tmp_path_factory):
    if not (HAS_ESPEAK and _has("resemblyzer")):
        pytest.skip("needs espeak-ng and resemblyzer (the speaker extra)")
    import soundfile

    from sklearn_audioconcepts.datasets import make_speech_corpus

    waveforms, metadata = make_speech_corpus(
        ("en", "es"), n_voices=2, n_utterances=1, random_state=0
    )
    folder = tmp_path_factory.mktemp("speech")
    for index, waveform in enumerate(waveforms):
        soundfile.write(folder / f"utt{index}.wav", waveform, 16000)
    return folder


@pytest.fixture
def embeddings_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 12)).astype(np.float32)
    path = tmp_path / "emb.npz"
    write_table(
        path, [f"clip{i}" for i in range(len(X))], X, [f"e{j}" for j in range(12)]
    )
    return path, X


# -- files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "suffix",
    [
        ".npz",
        pytest.param(
            ".parquet",
            marks=pytest.mark.skipif(
                not _has("pyarrow"), reason="Parquet needs pyarrow"
            ),
        ),
    ],
)
def test_tables_round_trip(tmp_path, suffix):
    X = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = write_table(
        tmp_path / f"t{suffix}", ["x", "y/z", "w"], X, list("abcd"), {"m": 1}
    )
    ids, values, columns, metadata = read_table(path)
    assert list(ids) == ["x", "y/z", "w"] and list(columns) == list("abcd")
    np.testing.assert_array_equal(values, X)
    assert metadata == {"m": 1}


def test_table_format_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown table format"):
        write_table(tmp_path / "t.csv", ["a"], np.ones((1, 1)), ["c"])
    with pytest.raises(ValueError, match="do not match"):
        write_table(tmp_path / "t.npz", ["a", "b"], np.ones((1, 1)), ["c"])
    np.savez(tmp_path / "other.npz", something=np.ones(3))
    with pytest.raises(ValueError, match="no \\['ids', 'values'\\]"):
        read_table(tmp_path / "other.npz")


# -- exit codes and errors -----------------------------------------------------


def test_module_entry_point_version():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_audioconcepts", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == __version__


def test_help_lists_commands_and_exit_codes(capsys):
    assert main(["--help"]) == EXIT_OK
    text = capsys.readouterr().out
    for command in ("embed", "vocabulary", "decompose", "explain", "sae", "demo"):
        assert command in text
    assert "exit codes" in text


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["embed", "x.wav"],  # no --output
        ["demo", "--n-samples", "5"],
        ["decompose", "e.npz", "-o", "w.npz", "--vocabulary", "bundled"],
        ["sae", "fit", "e.npz", "-o", "m.joblib", "--k", "0"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err


def test_runtime_errors_exit_1_without_traceback(tmp_path, capsys):
    missing = str(tmp_path / "missing.npz")
    assert (
        main(["sae", "fit", missing, "-o", str(tmp_path / "m.joblib")]) == EXIT_FAILURE
    )
    err = capsys.readouterr().err
    assert err.startswith("error:") and "missing.npz" in err and "Traceback" not in err
    with pytest.raises(FileNotFoundError):
        main(["sae", "fit", missing, "-o", "m.joblib", "--debug"])


def test_embed_errors(tmp_path, tone_folder, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = str(tmp_path / "e.npz")
    assert (
        main(["embed", str(empty), "-o", out, "--model", "resemblyzer"]) == EXIT_FAILURE
    )
    assert "No audio files" in capsys.readouterr().err
    assert main(["embed", str(tmp_path / "nope.wav"), "-o", out]) == EXIT_FAILURE
    assert "no such file" in capsys.readouterr().err
    # Two folders with files of the same relative name would give equal ids.
    argv = ["embed", str(tone_folder), str(tone_folder), "-o", out]
    assert main(argv) == EXIT_USAGE
    assert "same file id" in capsys.readouterr().err
    argv = ["embed", str(tone_folder), "-o", out, "--model", "resemblyzer",
            "--checkpoint", "x"]  # fmt: skip
    assert main(argv) == EXIT_USAGE


# -- sae -----------------------------------------------------------------------


def test_sae_fit_transform_steer(tmp_path, embeddings_file):
    path, X = embeddings_file
    model = tmp_path / "sae.skops"  # skops: loads without --trust-pickle
    common = ["--quiet"]
    fit = [
        "sae",
        "fit",
        str(path),
        "-o",
        str(model),
        "--n-latents",
        "24",
        "--k",
        "4",
        "--aux-k",
        "8",
        "--max-epochs",
        "5",
        "--batch-size",
        "32",
        "--device",
        "cpu",
    ]
    assert main(fit + common) == EXIT_OK
    sae = load_model(model, expected=TopKSparseAutoencoder)
    assert sae.n_latents_ == 24

    latents = tmp_path / "z.npz"
    assert (
        main(["sae", "transform", str(path), "--model", str(model), "-o", str(latents)])
        == 0
    )
    ids, Z, columns, metadata = read_table(latents)
    assert ids[0] == "clip0" and Z.shape == (120, 24) and columns[0] == "latent_0"
    assert ((Z > 0).sum(axis=1) <= 4).all() and metadata["kind"] == "latents"
    np.testing.assert_allclose(Z, sae.transform(X), rtol=1e-6)

    recon = tmp_path / "r.npz"
    argv = ["sae", "transform", str(path), "--model", str(model), "-o", str(recon),
            "--reconstruct"]  # fmt: skip
    assert main(argv) == EXIT_OK
    _, R, columns, _ = read_table(recon)
    assert R.shape == X.shape and columns[0] == "e0"

    steered = tmp_path / "s.npz"
    argv = ["sae", "steer", str(path), "--model", str(model), "-o", str(steered),
            "--latent", "3", "--delta", "2.0"]  # fmt: skip
    assert main(argv) == EXIT_OK
    _, S, _, _ = read_table(steered)
    np.testing.assert_allclose(S, sae.steer(X, 3, delta=2.0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(S, X)
    argv[-2:] = ["--value", "1", "--scale", "2"]
    assert main(argv) == EXIT_USAGE
    argv[-4:] = ["--latent", "99", "--value", "1"]
    assert main(argv) == EXIT_FAILURE  # out of range: the estimator's message


def test_sae_fit_batch_topk_matryoshka(tmp_path, embeddings_file):
    path, X = embeddings_file
    model = tmp_path / "sae.skops"
    argv = ["sae", "fit", str(path), "-o", str(model), "--n-latents", "24", "--k",
            "4", "--max-epochs", "3", "--device", "cpu", "--sparsity", "batch_topk",
            "--matryoshka-sizes", "6", "12", "--quiet"]  # fmt: skip
    assert main(argv) == EXIT_OK
    sae = load_model(model, expected=TopKSparseAutoencoder)
    assert sae.sparsity == "batch_topk" and sae.threshold_ > 0
    assert sae.matryoshka_sizes_.tolist() == [6, 12, 24]
    latents = tmp_path / "z.npz"
    argv = ["sae", "transform", str(path), "--model", str(model), "-o", str(latents)]
    assert main(argv) == EXIT_OK
    np.testing.assert_allclose(read_table(latents)[1], sae.transform(X), rtol=1e-6)
    argv = ["sae", "fit", str(path), "-o", str(model), "--n-latents", "24",
            "--matryoshka-sizes", "12", "6", "--device", "cpu", "--quiet"]  # fmt: skip
    assert main(argv) == EXIT_FAILURE  # the estimator's message


def test_sae_transform_rejects_other_models(tmp_path, embeddings_file, capsys):
    path, _ = embeddings_file
    joblib.dump({"not": "a model"}, tmp_path / "x.joblib")
    argv = ["sae", "transform", str(path), "--model", str(tmp_path / "x.joblib"),
            "-o", str(tmp_path / "z.npz")]  # fmt: skip
    assert main(argv) == EXIT_FAILURE
    assert "TopKSparseAutoencoder" in capsys.readouterr().err


# -- embed with the real offline speaker encoder -------------------------------


@needs_speech
def test_embed_speech_folder_with_resemblyzer_and_cache(tmp_path, speech_folder):
    out = tmp_path / "speech.npz"
    cache = tmp_path / "cache"
    argv = ["embed", str(speech_folder), "-o", str(out), "--model", "resemblyzer",
            "--device", "cpu", "--cache", str(cache), "--quiet"]  # fmt: skip
    assert main(argv) == EXIT_OK
    ids, X, columns, metadata = read_table(out)
    assert sorted(ids) == [f"utt{i}.wav" for i in range(4)]
    assert X.shape == (4, 256) and columns[0].startswith("resemblyzer")
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5)
    assert metadata["model"] == "resemblyzer"
    assert any(cache.rglob("*.npy"))
    # A second run reads the cache and writes the same table.
    out2 = tmp_path / "speech2.npz"
    argv[3] = str(out2)
    assert main(argv) == EXIT_OK
    np.testing.assert_allclose(read_table(out2)[1], X, rtol=1e-6)


# -- the concept path with a tiny offline CLAP ---------------------------------


def test_clap_embed_vocabulary_decompose_explain(
    tmp_path, tiny_clap, tone_folder, capsys
):
    embeddings = tmp_path / "clap.npz"
    argv = ["embed", str(tone_folder), "-o", str(embeddings), "--checkpoint",
            tiny_clap["checkpoint"], "--device", "cpu", "--batch-size", "2",
            *_clap_options(tiny_clap, prefix="--")]  # fmt: skip
    assert main(argv) == EXIT_OK
    ids, X, _, _ = read_table(embeddings)
    assert list(ids) == ["a.wav", "b.flac", "sub/c.wav"]  # sorted, relative, no .txt
    assert X.shape == (3, 512)

    vocabulary = tmp_path / "vocab.npz"
    argv = ["vocabulary", "-o", str(vocabulary), "--clap-checkpoint",
            tiny_clap["checkpoint"], "--sections", SECTION, "--template",
            "the sound of {}", *_clap_options(tiny_clap)]  # fmt: skip
    assert main(argv) == EXIT_OK
    from sklearn_audioconcepts import ConceptVocabulary
    from sklearn_audioconcepts.data import load_audio_concepts

    loaded = ConceptVocabulary.load(vocabulary)
    assert loaded.names == load_audio_concepts(SECTION)
    assert loaded.metadata["template"] == "the sound of {}"

    weights = tmp_path / "weights.npz"
    argv = ["decompose", str(embeddings), "--vocabulary", str(vocabulary), "-o",
            str(weights), "--l1-penalty", "0.02", "--device", "cpu"]  # fmt: skip
    assert main(argv) == EXIT_OK
    w_ids, W, names, metadata = read_table(weights)
    assert list(w_ids) == list(ids) and list(names) == loaded.names
    assert W.shape == (3, len(loaded)) and (W >= 0).all() and (W > 0).any()
    assert metadata["kind"] == "concept_weights"

    table_path = tmp_path / "top.tsv"
    assert main(["explain", str(weights), "--top-k", "3", "-o", str(table_path)]) == 0
    table = pd.read_csv(table_path, sep="\t")
    assert list(table.columns) == ["id", "rank", "concept", "weight"]
    assert set(table["id"]) <= set(ids) and table["rank"].max() <= 3
    assert set(table["concept"]) <= set(loaded.names)
    best = W[0].argmax()
    first = table[(table["id"] == "a.wav") & (table["rank"] == 1)]
    assert first["concept"].item() == loaded.names[best]

    capsys.readouterr()
    assert main(["explain", str(weights), "--top-k", "2"]) == EXIT_OK
    printed = capsys.readouterr().out
    assert printed.startswith("a.wav\n") and loaded.names[best] in printed
    # Embeddings are not weights: explain says to give a vocabulary.
    assert main(["explain", str(embeddings)]) == EXIT_USAGE
    assert "--vocabulary" in capsys.readouterr().err
    # The bundled list, embedded on the fly, explains the embeddings directly.
    argv = ["explain", str(embeddings), "--vocabulary", "bundled", "--clap-checkpoint",
            tiny_clap["checkpoint"], "--sections", SECTION, "--format", "csv",
            "--l1-penalty", "0.02", "--quiet", *_clap_options(tiny_clap)]  # fmt: skip
    assert main(argv) == EXIT_OK
    direct = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert set(direct["concept"]) <= set(loaded.names) and len(direct) > 0


def test_decompose_dimension_mismatch(tmp_path, embeddings_file, capsys):
    from sklearn_audioconcepts import ConceptVocabulary

    path, _ = embeddings_file
    vocabulary = ConceptVocabulary(["a", "b"], np.eye(2, 5)).save(tmp_path / "v.npz")
    argv = ["decompose", str(path), "--vocabulary", str(vocabulary), "-o",
            str(tmp_path / "w.npz")]  # fmt: skip
    assert main(argv) == EXIT_FAILURE
    assert "same CLAP model" in capsys.readouterr().err


# -- demo ----------------------------------------------------------------------


def test_sound_scenes_concept_demo_reports_figures_and_concepts():
    out = io.StringIO()
    assert run_demo(n_samples=200, out=out) == 0
    report = out.getvalue()
    for text in ("Held-out zero-shot accuracy per factor", "Sparsity sweep",
                 "top-3 concept precision", "text->audio R@1",
                 "FineTunedConceptProjector", "Top concepts of 3 held-out clips",
                 "caption:"):  # fmt: skip
        assert text in report


def test_demo_without_clap_says_how_to_get_a_checkpoint(tmp_path, capsys, monkeypatch):
    from sklearn_audioconcepts import _demo

    monkeypatch.setattr(_demo, "find_cached_clap_checkpoint", lambda: None)
    argv = ["demo", "--quick", "--skip-speech", "--output", str(tmp_path)]
    assert main(argv) == EXIT_OK
    out = capsys.readouterr().out
    assert "--clap-checkpoint" in out and "msclap-2023" in out
    assert "630k-audioset-best" in out and "laion/larger_clap_general" in out
    report = (tmp_path / "report.txt").read_text()
    assert "Sparsity sweep" in report and "Speaker" not in report
    for name in ("scenes_concept_bars.png", "scenes_sparsity_sweep.png"):
        assert (tmp_path / name).stat().st_size > 1000


@needs_speech
def test_demo_quick_end_to_end(tmp_path, tiny_clap, capsys):
    argv = ["demo", "--quick", "--output", str(tmp_path), "--clap-checkpoint",
            tiny_clap["checkpoint"], "--sections", SECTION, "--device", "cpu",
            *_clap_options(tiny_clap)]  # fmt: skip
    assert main(argv) == EXIT_OK
    out = capsys.readouterr().out
    report = (tmp_path / "report.txt").read_text()
    assert out.strip() == report.strip()
    for text in ("Top latent per language", "held-out AUC", "hold music: latent",
                 "Steering latent", "EER original", "EER SAE reconstructions",
                 "CLAP embeddings", "pure tone 440 Hz", "Sparsity sweep"):  # fmt: skip
        assert text in report
    for name in ("latent_auc.png", "steering_shift.png", "clap_concept_bars.png",
                 "scenes_concept_bars.png", "scenes_sparsity_sweep.png"):  # fmt: skip
        assert (tmp_path / name).stat().st_size > 1000
    ids, X, _, _ = read_table(tmp_path / "speech_embeddings.npz")
    metadata = pd.read_csv(tmp_path / "speech_metadata.csv")
    assert list(metadata["id"]) == list(ids) and X.shape[1] == 256
    assert set(metadata["language"]) == {"en", "es", "ru"}
    concepts = pd.read_csv(tmp_path / "clap_concepts.csv")
    assert {"sound", "concept", "weight"} <= set(concepts.columns)
    sae = load_model(tmp_path / "language_sae.skops", expected=TopKSparseAutoencoder)
    assert sae.transform(X).shape == (len(X), 16)


def test_demo_quiet_prints_nothing(tmp_path, capsys, monkeypatch):
    from sklearn_audioconcepts import _demo

    monkeypatch.setattr(_demo, "find_cached_clap_checkpoint", lambda: None)
    argv = ["demo", "--quick", "--skip-speech", "--quiet", "--output", str(tmp_path)]
    assert main(argv) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert "Sparsity sweep" in (tmp_path / "report.txt").read_text()


@needs_speech
def test_embed_skips_unreadable_files_when_asked(tmp_path, speech_folder, capsys):
    folder = tmp_path / "mixed"
    shutil.copytree(speech_folder, folder)
    (folder / "broken.wav").write_bytes(b"RIFF not really a wav file")
    out = tmp_path / "e.npz"
    argv = ["embed", str(folder), "-o", str(out), "--model", "resemblyzer",
            "--device", "cpu", "--quiet"]  # fmt: skip
    assert main(argv) == EXIT_FAILURE
    assert "broken.wav" in capsys.readouterr().err and not out.exists()
    assert main([*argv, "--on-error", "skip"]) == EXIT_OK
    assert "1 of 5 files could not be embedded" in capsys.readouterr().err
    ids, X, _, _ = read_table(out)
    assert sorted(ids) == [f"utt{i}.wav" for i in range(4)] and np.isfinite(X).all()
    failures = pd.read_csv(tmp_path / "e.failed.csv")
    assert list(failures["id"]) == ["broken.wav"] and failures["error"].notna().all()


@needs_speech
def test_embed_skips_audio_without_speech_when_asked(tmp_path, speech_folder, capsys):
    """A one-sample file and quiet noise fail their own rows, not the run."""
    import soundfile

    folder = tmp_path / "mixed"
    shutil.copytree(speech_folder, folder)
    soundfile.write(folder / "one_sample.wav", np.array([0.1]), 16000)
    rng = np.random.default_rng(0)
    soundfile.write(folder / "quiet.wav", 1e-4 * rng.standard_normal(16000), 16000)
    out = tmp_path / "e.npz"
    argv = ["embed", str(folder), "-o", str(out), "--model", "resemblyzer",
            "--device", "cpu", "--quiet", "--on-error", "skip"]  # fmt: skip
    assert main(argv) == EXIT_OK
    assert "2 of 6 files could not be embedded" in capsys.readouterr().err
    ids, X, _, _ = read_table(out)
    assert sorted(ids) == [f"utt{i}.wav" for i in range(4)] and np.isfinite(X).all()
    failures = pd.read_csv(tmp_path / "e.failed.csv")
    assert sorted(failures["id"]) == ["one_sample.wav", "quiet.wav"]
    assert failures["message"].str.contains("no speech").all()


def test_embed_titanet_missing_checkpoint_is_explained(tmp_path, tone_folder, capsys):
    missing = tmp_path / "titanet-l.nemo"
    argv = ["embed", str(tone_folder), "-o", str(tmp_path / "e.npz"), "--model",
            "titanet", "--checkpoint", str(missing), "--device", "cpu"]  # fmt: skip
    assert main(argv) == EXIT_FAILURE
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error:")
    # Without NeMo the message says how to install it; with it, which file.
    assert (str(missing) if _has("nemo") else "sklearn-audioconcepts[speaker]") in last


# -- model and input files: never unpickled unless trusted; errors name them ----


def _sae_fit_argv(path, model):
    return ["sae", "fit", str(path), "-o", str(model), "--n-latents", "16",
            "--k", "2", "--aux-k", "4", "--max-epochs", "2", "--device", "cpu",
            "--quiet"]  # fmt: skip


class _WritesMarker:
    """Unpickling this object writes a file: a stand-in for a malicious model."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import pathlib

        return pathlib.Path.write_text, (pathlib.Path(self.marker), "code ran")


@pytest.mark.parametrize("command", ["transform", "steer"])
def test_sae_never_unpickles_a_crafted_model(
    tmp_path, embeddings_file, capsys, command
):
    path, _ = embeddings_file
    marker, out = tmp_path / "marker", tmp_path / "out.npz"
    crafted = tmp_path / "crafted.joblib"
    joblib.dump(_WritesMarker(str(marker)), crafted)
    argv = ["sae", command, str(path), "--model", str(crafted), "-o", str(out)]
    if command == "steer":
        argv += ["--latent", "0", "--delta", "1"]
    assert main(argv) == EXIT_FAILURE
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: could not read TopKSparseAutoencoder model '{crafted}'"
    )
    assert "--trust-pickle" in err and "Traceback" not in err
    assert not marker.exists() and not out.exists()
    # The file is live: with the flag its code runs (what the help warns of).
    assert main([*argv, "--trust-pickle"]) == EXIT_FAILURE
    assert marker.exists() and "holds a int" in capsys.readouterr().err


def test_sae_joblib_model_loads_only_with_trust_pickle(
    tmp_path, embeddings_file, capsys
):
    path, X = embeddings_file
    model = tmp_path / "sae.joblib"
    assert main(_sae_fit_argv(path, model)) == EXIT_OK
    sae = joblib.load(model)
    out = tmp_path / "z.npz"
    argv = ["sae", "transform", str(path), "--model", str(model), "-o", str(out)]
    assert main(argv) == EXIT_FAILURE
    assert "--trust-pickle" in capsys.readouterr().err and not out.exists()
    assert main([*argv, "--trust-pickle"]) == EXIT_OK  # as before the flag existed
    np.testing.assert_allclose(read_table(out)[1], sae.transform(X), rtol=1e-6)
    joblib.dump({"not": "a model"}, tmp_path / "x.joblib")
    argv[4] = str(tmp_path / "x.joblib")
    assert main([*argv, "--trust-pickle"]) == EXIT_FAILURE
    assert "holds a dict, not a TopKSparseAutoencoder" in capsys.readouterr().err


def test_sae_fit_writes_skops_with_only_trusted_types(tmp_path, embeddings_file):
    import skops.io as sio

    from sklearn_audioconcepts.persistence import TRUSTED_TYPES

    path, _ = embeddings_file
    model = tmp_path / "sae.skops"
    assert main(_sae_fit_argv(path, model)) == EXIT_OK
    assert (
        sio.get_untrusted_types(file=model) == (TRUSTED_TYPES["TopKSparseAutoencoder"])
    )
    # Neither skops nor an explicit pickle name: the command line is wrong.
    assert main(_sae_fit_argv(path, tmp_path / "sae.npz")) == EXIT_USAGE
    assert not (tmp_path / "sae.npz").exists()


def _not_a_model(kind, tmp_path, embeddings):
    path = tmp_path / f"model-{kind}.skops"
    if kind == "embeddings file":
        return embeddings
    if kind == "vocabulary":
        from sklearn_audioconcepts import ConceptVocabulary

        return ConceptVocabulary(["a", "b"], np.eye(2, 3)).save(tmp_path / "v.npz")
    path.write_bytes({"text file": b"hello world\n", "empty": b""}[kind])
    return path


@pytest.mark.parametrize(
    "kind", ["embeddings file", "vocabulary", "text file", "empty"]
)
def test_sae_model_that_is_no_model_names_the_file(
    tmp_path, embeddings_file, capsys, kind
):
    path, _ = embeddings_file
    model = _not_a_model(kind, tmp_path, path)
    argv = ["sae", "transform", str(path), "--model", str(model), "-o",
            str(tmp_path / "z.npz")]  # fmt: skip
    assert main(argv) == EXIT_FAILURE
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: could not read TopKSparseAutoencoder model '{model}': "
    )
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_sae_unreadable_embeddings_file_names_it(tmp_path, embeddings_file, capsys):
    path, _ = embeddings_file
    broken = tmp_path / "broken.npz"
    broken.write_bytes(path.read_bytes()[:100])
    argv = ["sae", "fit", str(broken), "-o", str(tmp_path / "m.skops")]
    assert main(argv) == EXIT_FAILURE
    err = capsys.readouterr().err
    assert err.startswith(f"error: could not read embeddings file '{broken}': ")
    assert "truncated" in err


@pytest.mark.parametrize("command", ["transform", "steer"])
def test_sae_help_says_why_pickles_need_a_flag(capsys, command):
    assert main(["sae", command, "--help"]) == EXIT_OK
    text = " ".join(capsys.readouterr().out.split())
    assert "--trust-pickle" in text and "runs any code the file holds" in text


# -- unreadable tables: one error type that names the file -----------------------


def _table_bytes(tmp_path, suffix, **replace):
    rng = np.random.default_rng(0)
    path = write_table(
        tmp_path / f"source{suffix}",
        [f"clip{i}" for i in range(40)],
        rng.standard_normal((40, 16)),
        [f"e{j}" for j in range(16)],
        {"model": "x"},
    )
    if replace:
        with np.load(path) as archive:
            arrays = {**dict(archive), **replace}
        np.savez(path, **arrays)
    return path.read_bytes()


def _flip_middle(content):
    content = bytearray(content)
    content[len(content) // 2] ^= 0xFF
    return bytes(content)


def _vocabulary_file_bytes(tmp_path):
    from sklearn_audioconcepts import ConceptVocabulary

    return ConceptVocabulary(["a", "b"], np.eye(2, 3)).save(tmp_path / "v").read_bytes()


# case -> (bytes of an .npz table, words the reason must contain)
_BAD_TABLES = {
    "empty": (lambda tmp: b"", "empty (0 bytes)"),
    "truncated": (lambda tmp: _table_bytes(tmp, ".npz")[:500], "truncated"),
    "flipped byte": (
        lambda tmp: _flip_middle(_table_bytes(tmp, ".npz")),
        "damaged",
    ),
    "metadata a JSON array": (
        lambda tmp: _table_bytes(tmp, ".npz", metadata=np.str_("[1, 2]")),
        "metadata is a JSON array",
    ),
    "metadata not JSON": (
        lambda tmp: _table_bytes(tmp, ".npz", metadata=np.str_("{oops")),
        "metadata is not valid JSON",
    ),
    "text values": (
        lambda tmp: _table_bytes(tmp, ".npz", values=np.full((40, 16), "x")),
        "values are not numeric",
    ),
    "text file": (lambda tmp: b"id,e0\nclip0,1.0\n", "neither a .npy array"),
    "vocabulary file": (_vocabulary_file_bytes, "has no ['ids', 'values'] arrays"),
}


@pytest.mark.parametrize("case", list(_BAD_TABLES))
def test_unreadable_npz_tables_raise_one_error_naming_the_file(case, tmp_path):
    make, reason = _BAD_TABLES[case]
    path = tmp_path / "table.npz"
    path.write_bytes(make(tmp_path))
    kind = "embeddings file"
    assert_read_error(lambda: read_table(path, kind=kind), kind, path, reason)


@pytest.mark.skipif(not _has("pyarrow"), reason="Parquet needs pyarrow")
@pytest.mark.parametrize("case", ["empty", "truncated", "text file", "no id column"])
def test_unreadable_parquet_tables_raise_one_error_naming_the_file(case, tmp_path):
    import pyarrow
    import pyarrow.parquet

    from sklearn_audioconcepts import FileReadError

    path = tmp_path / "table.parquet"
    if case == "no id column":
        pyarrow.parquet.write_table(pyarrow.table({"e0": [1.0]}), path)
    else:
        good = _table_bytes(tmp_path, ".parquet")
        content = {"empty": b"", "truncated": good[: len(good) // 2]}
        path.write_bytes(content.get(case, b"id,e0\nclip0,1.0\n"))
    with pytest.raises(FileReadError, match="could not read table '.*table.parquet'"):
        read_table(path)


def test_missing_table_is_a_file_read_error_and_file_not_found(tmp_path):
    from sklearn_audioconcepts import FileReadError

    for suffix in (".npz", ".parquet"):
        with pytest.raises(FileReadError, match="no such file") as error:
            read_table(tmp_path / f"nope{suffix}")
        assert isinstance(error.value, FileNotFoundError)
    (tmp_path / "t.csv").write_text("id,x\n")
    with pytest.raises(FileReadError, match="unknown table format '.csv'"):
        read_table(tmp_path / "t.csv")


# -- output paths are checked before any work (issue 13, item 4) ---------------


@pytest.fixture
def not_a_folder(tmp_path):
    """A path whose parent folder cannot be created: a regular file is in the way.

    Permission bits cannot make a folder unwritable for root (tests may run
    as root), but no one can create a folder below a regular file.
    """
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    return blocker / "sub"


def _bad_output_cases(tmp_path, embeddings, tone_folder, blocked):
    missing_model = str(tmp_path / "missing.joblib")
    missing_vocabulary = str(tmp_path / "missing_vocabulary.npz")
    embed = ["embed", str(tone_folder), "--checkpoint", str(tmp_path / "none.pt")]
    return [
        (embed + ["-o", str(tmp_path / "out" / "corpus.csv")], EXIT_USAGE, ".csv"),
        (embed + ["-o", str(blocked / "x.npz")], EXIT_FAILURE, "not a folder"),
        (embed + ["-o", str(tmp_path)], EXIT_USAGE, "unsupported file type"),
        (["sae", "fit", embeddings, "-o", str(blocked / "sae.joblib")],
         EXIT_FAILURE, "not a folder"),
        (["sae", "fit", embeddings, "-o", str(tmp_path / "sae.txt")],
         EXIT_USAGE, "name the file with .skops,"),
        (["sae", "transform", embeddings, "--model", missing_model, "-o",
          str(blocked / "z.npz")], EXIT_FAILURE, "not a folder"),
        (["sae", "steer", embeddings, "--model", missing_model, "-o",
          str(tmp_path / "s.txt"), "--latent", "0", "--value", "1"],
         EXIT_USAGE, ".npz or .parquet"),
        (["decompose", embeddings, "--vocabulary", missing_vocabulary, "-o",
          str(blocked / "w.npz")], EXIT_FAILURE, "not a folder"),
        (["explain", embeddings, "--vocabulary", missing_vocabulary, "-o",
          str(tmp_path / "top.xlsx")], EXIT_USAGE, ".csv, .tsv or .tab"),
        (["vocabulary", "--clap-checkpoint", str(tmp_path / "none.pt"), "-o",
          str(blocked / "v.npz")], EXIT_FAILURE, "not a folder"),
        (["demo", "--quick", "--output", str(blocked)], EXIT_FAILURE, "not a folder"),
        (["report", embeddings, "--audio", str(tone_folder), "--model",
          missing_model, "-o", str(blocked / "report")], EXIT_FAILURE,
         "not a folder"),
    ]  # fmt: skip


def test_output_paths_fail_before_any_work(
    tmp_path, embeddings_file, tone_folder, not_a_folder, capsys
):
    import time

    path, _ = embeddings_file
    cases = _bad_output_cases(tmp_path, str(path), tone_folder, not_a_folder)
    for argv, code, text in cases:
        start = time.perf_counter()
        assert main(argv) == code, argv
        elapsed = time.perf_counter() - start
        err = capsys.readouterr().err
        # The message is about the output, not the missing checkpoint, model
        # or vocabulary that the work would have tripped over first.
        assert text in err and "--output" in err and "missing" not in err, err
        assert elapsed < 1.0, (argv, elapsed)
    assert not (tmp_path / "out").exists() and not (tmp_path / "sae.txt").exists()
    # embed --cache is an output folder too.
    cache = str(not_a_folder / "cache")
    argv = ["embed", str(tone_folder), "-o", str(tmp_path / "e.npz"), "--checkpoint",
            str(tmp_path / "none.pt"), "--cache", cache]  # fmt: skip
    assert main(argv) == EXIT_FAILURE
    err = capsys.readouterr().err
    assert "--cache" in err and "not a folder" in err


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_output_folder_that_cannot_be_written(tmp_path, embeddings_file, capsys):
    # /proc takes no new files, even from root (which ignores permission bits).
    path, _ = embeddings_file
    argv = ["sae", "fit", str(path), "-o", "/proc/self/sae.skops"]
    assert main(argv) == EXIT_FAILURE
    err = capsys.readouterr().err
    assert "cannot write in /proc/self" in err and "Traceback" not in err


def test_check_output_path_accepts_writable_paths(tmp_path):
    from sklearn_audioconcepts.cli._checks import check_output_path

    target = tmp_path / "new" / "deeper" / "sae.skops"
    assert check_output_path(target, (".skops", ".joblib")) == target
    assert not (tmp_path / "new").exists()  # checked, not created
    assert list(tmp_path.iterdir()) == []  # the probe file is gone


# -- folders: every audio-looking entry is reported (issue 13, item 6) ---------


def _links_folder(tmp_path, speech_folder):
    """Speech files, a broken link, a self-loop link and a folder loop."""
    folder = tmp_path / "links"
    shutil.copytree(speech_folder, folder)
    (folder / "broken.wav").symlink_to("nowhere.wav")
    (folder / "loop.wav").symlink_to("loop.wav")
    (folder / "up").symlink_to(".")  # a folder loop: walked once, then cut
    return folder


@needs_speech
def test_embed_reports_broken_links_and_loops(tmp_path, speech_folder, capsys):
    folder = _links_folder(tmp_path, speech_folder)
    out = tmp_path / "new" / "sub" / "e.npz"  # the folder does not exist yet
    argv = ["embed", str(folder), "-o", str(out), "--model", "resemblyzer",
            "--device", "cpu"]  # fmt: skip
    assert main(argv) == EXIT_FAILURE  # on_error raise: before any model loads
    err = capsys.readouterr().err
    assert "broken.wav: broken symbolic link" in err and "(and 1 more)" in err
    assert not out.parent.exists()

    assert main([*argv, "--on-error", "skip"]) == EXIT_OK
    err = capsys.readouterr().err
    assert "2 of 6 files could not be embedded" in err
    assert "6 audio files found, 4 rows written" in err
    assert "links back to a folder above it" in err
    ids, _, _, _ = read_table(out)
    assert sorted(ids) == [f"utt{i}.wav" for i in range(4)]
    failures = pd.read_csv(out.with_suffix(".failed.csv"))
    assert list(failures["id"]) == ["broken.wav", "loop.wav"]
    assert "broken symbolic link" in failures["message"][0]
    assert "link loop" in failures["message"][1]


def test_audio_files_keeps_unopenable_entries(tmp_path):
    from sklearn_audioconcepts.cli._common import audio_files, unreadable

    (tmp_path / "a.wav").write_bytes(b"RIFF")
    (tmp_path / "notes.txt").write_text("not audio")
    (tmp_path / "broken.flac").symlink_to("missing.flac")
    (tmp_path / "loop.wav").symlink_to("loop.wav")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "back").symlink_to("..")
    (tmp_path / "linked").symlink_to("sub")
    (tmp_path / "sub" / "b.wav").write_bytes(b"RIFF")
    notes = []
    console = type("Console", (), {"info": lambda self, text: notes.append(text)})()
    found = audio_files([tmp_path], True, console)
    assert [i for i, _ in found] == [
        "a.wav", "broken.flac", "linked/b.wav", "loop.wav", "sub/b.wav"
    ]  # fmt: skip
    assert len(notes) == 2 and all("links back" in note for note in notes)
    reasons = {i: unreadable(p) for i, p in found}
    assert reasons["a.wav"] is None and reasons["sub/b.wav"] is None
    assert "broken symbolic link" in reasons["broken.flac"]
    assert "link loop" in reasons["loop.wav"]
    assert [i for i, _ in audio_files([tmp_path], False, console)] == [
        "a.wav", "broken.flac", "loop.wav"
    ]  # fmt: skip


# -- command-line output and Ctrl-C (issue 13, item 8) -------------------------


def test_warnings_one_line_by_default_none_when_quiet(capsys, monkeypatch):
    import logging

    from sklearn_audioconcepts.cli._common import library_output

    # transformers binds its log handler (stream and flush) to the sys.stderr
    # of its first import, which under pytest may be an earlier test's
    # capture, closed since: point it at this test's.
    for handler in logging.getLogger("transformers").handlers:
        if type(handler) is logging.StreamHandler:
            monkeypatch.setattr(handler, "stream", sys.stderr)
            monkeypatch.setattr(handler, "flush", sys.stderr.flush)

    def emit():
        warnings.warn("the user's file is truncated", UserWarning, stacklevel=1)
        # A library's warning about its own internals (e.g. torch.meshgrid).
        warnings.warn_explicit(
            "internal detail", UserWarning, "functional.py", 504,
            module="torch.functional",
        )  # fmt: skip
        warnings.warn("old API", DeprecationWarning, stacklevel=1)
        logging.getLogger("transformers.modeling_utils").warning("log warning")

    with library_output(quiet=False, debug=False):
        emit()
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "warning: the user's file is truncated"
    assert "internal detail" not in err and "old API" not in err
    assert "test_cli.py" not in err

    with library_output(quiet=True, debug=False):
        assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
        emit()
    assert capsys.readouterr().err == ""
    assert "HF_HUB_DISABLE_PROGRESS_BARS" not in os.environ  # restored

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with library_output(quiet=False, debug=True):
            emit()
    assert len(caught) == 3  # --debug: everything, as the libraries say it


def _interrupt_on_import(module, argv):
    """A Python command that runs the CLI and sends itself SIGINT on importing
    ``module``: Ctrl-C during the start-up imports, at a known moment."""
    return [sys.executable, "-c", textwrap.dedent(f"""
        import os, runpy, signal, sys

        class Interrupt:
            def find_spec(self, name, path=None, target=None):
                if name == {module!r}:
                    os.kill(os.getpid(), signal.SIGINT)
                return None

        sys.meta_path.insert(0, Interrupt())
        sys.argv = ["sklearn-audioconcepts", *{argv!r}]
        runpy.run_module("sklearn_audioconcepts", run_name="__main__")
        """)]  # fmt: skip


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_during_start_up_imports_is_one_line(tmp_path, embeddings_file):
    path, _ = embeddings_file
    model = tmp_path / "sae.joblib"
    argv = ["sae", "fit", str(path), "-o", str(model)]
    result = subprocess.run(
        _interrupt_on_import("torch", argv), capture_output=True, text=True
    )
    assert result.returncode == EXIT_INTERRUPTED, result.stderr
    assert result.stderr == "interrupted\n" and not model.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_during_sae_fit_saves_nothing(tmp_path, embeddings_file):
    import queue
    import signal
    import threading
    import time

    path, _ = embeddings_file
    model = tmp_path / "sae.joblib"
    argv = [sys.executable, "-m", "sklearn_audioconcepts", "sae", "fit", str(path),
            "-o", str(model), "--max-epochs", "1000000", "--n-latents", "24",
            "--k", "4", "--aux-k", "8", "--device", "cpu"]  # fmt: skip
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()
    threading.Thread(
        target=lambda: lines.put(process.stderr.readline()), daemon=True
    ).start()
    try:
        line = lines.get(timeout=60)  # printed just before the fit starts
        assert line.startswith("Training on 120 embeddings"), line
        time.sleep(1.0)  # well inside the epochs (a million take hours)
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=30)[1]
    finally:
        process.kill()
    assert process.returncode == EXIT_INTERRUPTED
    assert rest == "interrupted\n" and not model.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["decompose", "e.npz", "-o", "w.npz", "--vocabulary", "v.npz",
         "--l1-penalty", "-1"],
        ["explain", "w.npz", "--top-k", "-1"],
        ["explain", "w.npz", "--top-k", "two"],
        ["sae", "fit", "e.npz", "-o", "m.skops", "--lr", "0"],
        ["sae", "fit", "e.npz", "-o", "m.skops", "--lr", "nan"],
        ["sae", "fit", "e.npz", "-o", "m.skops", "--expansion-factor", "-2"],
        ["sae", "fit", "e.npz", "-o", "m.skops", "--aux-k", "-1"],
        ["sae", "fit", "e.npz", "-o", "m.skops", "--random-state", "-1"],
        ["sae", "steer", "e.npz", "--model", "m.skops", "-o", "s.npz",
         "--latent", "-1", "--value", "1"],
        ["sae", "steer", "e.npz", "--model", "m.skops", "-o", "s.npz",
         "--latent", "1", "--scale", "inf"],
        ["vocabulary", "-o", "v.npz", "--similarity-threshold", "1.5"],
        ["embed", "x.wav", "-o", "e.npz", "--batch-size", "0"],
        ["demo", "--n-samples", "19"],
        ["report", "e.npz", "--audio", "a/", "-o", "r", "--top-clips", "0"],
        ["report", "e.npz", "--audio", "a/", "-o", "r", "--clip-seconds", "61"],
    ],
)  # fmt: skip
def test_invalid_numeric_values_exit_2_with_usage(argv, capsys):
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("usage: sklearn-audioconcepts ") and "argument --" in err


def test_every_numeric_option_has_a_range():
    from sklearn_audioconcepts.cli._checks import Parser

    with pytest.raises(TypeError, match="no range"):
        Parser().add_argument("--new-option", type=int)
    with pytest.raises(TypeError, match="declared"):
        Parser().add_argument("--lr", type=int)


def test_interrupted_table_write_leaves_no_file(tmp_path, embeddings_file, monkeypatch):
    def write_half_then_interrupt(file, *args, **kwargs):
        file.write(b"PK half a file")
        raise KeyboardInterrupt

    path, _ = embeddings_file
    monkeypatch.setattr(np, "savez_compressed", write_half_then_interrupt)
    sae = TopKSparseAutoencoder(n_latents=24, k=4, max_epochs=1, random_state=0)
    model = tmp_path / "sae.skops"
    save_model(sae.fit(read_table(path)[1]), model)
    out = tmp_path / "z.npz"
    argv = ["sae", "transform", str(path), "--model", str(model), "-o", str(out)]
    assert main(argv) == EXIT_INTERRUPTED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb.npz", "sae.skops"]


def test_vocabulary_texts_that_are_not_utf8_name_the_file(tmp_path, capsys):
    """Before: a bare UnicodeDecodeError that did not say which file."""
    from sklearn_audioconcepts.cli import EXIT_FAILURE, main

    texts = tmp_path / "concepts.txt"
    texts.write_bytes("dog barking\nchien qui aboie\n".encode("utf-16"))
    argv = ["vocabulary", "-o", str(tmp_path / "vocab.npz"), "--clap-checkpoint",
            str(tmp_path / "none.pt"), "--texts", str(texts)]  # fmt: skip
    assert main(argv) == EXIT_FAILURE
    error = capsys.readouterr().err
    assert f"could not read concept list '{texts}'" in error
    assert "not UTF-8" in error
    assert not (tmp_path / "vocab.npz").exists()


# -- a user's own embedder (the embedder protocol) -----------------------------

_TOY_EMBEDDER = '''
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from sklearn_audioconcepts.audio import audio_sources


class BandEmbedder(TransformerMixin, BaseEstimator):
    """Energy in 8 frequency bands of the first 0.2 s, and texts by hashing."""

    def __init__(self, device="cpu", progress=False, on_error="raise"):
        self.device = device
        self.progress = progress
        self.on_error = on_error

    def fit(self, X=None, y=None):
        return self

    def transform(self, X):
        rows = []
        for source in audio_sources(X, sample_rate=None):
            waveform = source.load(16000, mono=True)[:3200]
            spectrum = np.abs(np.fft.rfft(waveform, 512))[:256]
            rows.append(spectrum.reshape(8, 32).sum(axis=1) + 1e-6)
        rows = np.asarray(rows)
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype("float32")

    def embed_text(self, texts):
        rows = np.array([[(hash(t) >> s) % 7 + 1.0 for s in range(8)] for t in texts])
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype("float32")


NOT_AN_EMBEDDER = object()
'''


def test_user_embedder_embeds_files_and_concepts(tmp_path, tone_folder, monkeypatch):
    """--embedder MODULE:NAME: the CLI's embed and vocabulary take any object
    following the embedder protocol, found in the current folder."""
    (tmp_path / "toy_embedder.py").write_text(_TOY_EMBEDDER)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "bands.npz"
    argv = ["embed", str(tone_folder), "-o", str(out), "-q",
            "--embedder", "toy_embedder:BandEmbedder"]  # fmt: skip
    assert main(argv) == EXIT_OK
    ids, X, _, metadata = read_table(out)
    assert sorted(ids) == ["a.wav", "b.flac", "sub/c.wav"]
    assert X.shape == (3, 8) and metadata["model"] == "toy_embedder:BandEmbedder"
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5)
    # The 220 Hz and 880 Hz tones peak in the first 1 kHz band, 3 kHz in the fourth.
    peaks = {file_id: int(np.argmax(row)) for file_id, row in zip(ids, X)}
    assert peaks == {"a.wav": 0, "b.flac": 0, "sub/c.wav": 3}

    texts = tmp_path / "concepts.txt"
    texts.write_text("low hum\nhigh whistle\nmid tone\n")
    vocabulary = tmp_path / "vocabulary.npz"
    argv = ["vocabulary", "-o", str(vocabulary), "--texts", str(texts), "-q",
            "--embedder", "toy_embedder:BandEmbedder"]  # fmt: skip
    assert main(argv) == EXIT_OK
    from sklearn_audioconcepts import ConceptVocabulary

    loaded = ConceptVocabulary.load(vocabulary)
    assert loaded.names == ["low hum", "high whistle", "mid tone"]
    assert loaded.embeddings.shape == (3, 8)


def test_user_embedder_errors(tmp_path, tone_folder, monkeypatch, capsys):
    (tmp_path / "toy_embedder.py").write_text(_TOY_EMBEDDER)
    monkeypatch.chdir(tmp_path)
    out = str(tmp_path / "x.npz")
    cases = [
        ("toy_embedder", "takes MODULE:NAME"),
        ("no_such_module:Thing", "cannot import 'no_such_module'"),
        ("toy_embedder:Missing", "has no 'Missing'"),
        ("toy_embedder:NOT_AN_EMBEDDER", "has no transform() method"),
    ]
    for target, message in cases:
        argv = ["embed", str(tone_folder), "-o", out, "--embedder", target]
        assert main(argv) == EXIT_USAGE
        assert message in capsys.readouterr().err
    argv = ["embed", str(tone_folder), "-o", out, "--embedder",
            "toy_embedder:BandEmbedder", "--checkpoint", "630k-best"]  # fmt: skip
    assert main(argv) == EXIT_USAGE
    assert "replaces --model" in capsys.readouterr().err
    argv = ["vocabulary", "-o", str(tmp_path / "v.npz")]
    assert main(argv) == EXIT_USAGE
    assert "one of the two" in capsys.readouterr().err


def test_demo_finds_a_cached_published_model(tmp_path, monkeypatch):
    """The demo picks up paper 1's model from the Hugging Face cache, then a
    LAION one; nothing cached gives None (no network is touched)."""
    import huggingface_hub

    from sklearn_audioconcepts import _demo

    cached = {}

    def from_cache(repo, filename):
        return cached.get((repo, filename))

    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", from_cache)
    assert _demo.find_cached_clap_checkpoint() is None
    config = tmp_path / "config.json"
    config.write_text("{}")
    cached[("laion/larger_clap_general", "config.json")] = str(config)
    assert _demo.find_cached_clap_checkpoint() == "laion/larger_clap_general"
    weights = tmp_path / "CLAP_weights_2023.pth"
    weights.write_bytes(b"0")
    cached[("microsoft/msclap", "CLAP_weights_2023.pth")] = str(weights)
    assert _demo.find_cached_clap_checkpoint() == str(weights)
