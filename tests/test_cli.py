"""The command line, offline: every subcommand on files the tests write.

CLAP paths use the tiny random LAION-CLAP of ``tests/_tiny_clap.py`` (the real
laion-clap loading path); speaker paths use the real pretrained Resemblyzer
encoder on speech synthesised by eSpeak NG.
"""

import io
import shutil
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest

# Imported first: it sets HF_HUB_OFFLINE before laion-clap reaches for the
# hub (offline, each of its tokenizer look-ups otherwise retries for minutes).
from _tiny_clap import build_tiny_clap  # tests/ is on sys.path

from sklearn_audioconcepts import __version__
from sklearn_audioconcepts._tables import read_table, write_table
from sklearn_audioconcepts.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main, run_demo

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
    pytest.importorskip("laion_clap")
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
    model = tmp_path / "sae.joblib"
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
    sae = joblib.load(model)
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
    assert "--clap-checkpoint" in out and "630k-audioset-best" in out
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
    for text in ("Top latent per language", "held-out AUC", "Steering latent",
                 "EER original", "EER SAE reconstructions", "CLAP embeddings",
                 "pure tone 440 Hz", "Sparsity sweep"):  # fmt: skip
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
    sae = joblib.load(tmp_path / "language_sae.joblib")
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


def test_embed_titanet_missing_checkpoint_is_explained(tmp_path, tone_folder, capsys):
    missing = tmp_path / "titanet-l.nemo"
    argv = ["embed", str(tone_folder), "-o", str(tmp_path / "e.npz"), "--model",
            "titanet", "--checkpoint", str(missing), "--device", "cpu"]  # fmt: skip
    assert main(argv) == EXIT_FAILURE
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error:")
    # Without NeMo the message says how to install it; with it, which file.
    assert (str(missing) if _has("nemo") else "sklearn-audioconcepts[speaker]") in last
