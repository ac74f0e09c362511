"""Quick run of ``benchmarks/reproduce_concept_paper.py`` and its dataset loader."""

import importlib.util
import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch

SCRIPT = (
    Path(__file__).resolve().parents[2] / "benchmarks" / "reproduce_concept_paper.py"
)


def _run(script, argv, **kwargs):
    """``script.main`` in quick mode on one thread, restoring torch's threads."""
    threads = torch.get_num_threads()
    try:
        return script.main(["--quick", "--threads", "1", *argv], **kwargs)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("reproduce_concept_paper", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(script, tmp_path_factory):
    output = tmp_path_factory.mktemp("concept_paper")
    results = _run(script, ["--output", str(output)])
    return results, output


def test_sweep_covers_penalties_and_vocabulary_sizes(script, quick_run):
    results, _ = quick_run
    sweep = results["sweep"]
    assert set(sweep["l1_penalty"]) == set(script.QUICK["penalties"])
    assert set(sweep["vocabulary_size"]) == set(script.QUICK["vocabulary_sizes"])
    # More penalty, fewer active concepts, at every vocabulary size.
    for _, rows in sweep.groupby("vocabulary_size"):
        l0 = rows.sort_values("l1_penalty")["l0"].to_numpy()
        assert (np.diff(l0) < 0).all()
    for column in ("zero_shot", "probe", "cosine", "retrieval text_to_audio_R@1"):
        assert sweep[column].between(0, 1).all()
    # The concept form at mild sparsity is close to the dense embedding.
    mild = sweep[sweep["l1_penalty"] == min(script.QUICK["penalties"])]
    assert mild["cosine"].min() > 0.9
    assert mild["zero_shot"].max() >= results["dense"]["zero_shot"] - 0.1
    assert 0 <= results["dense"]["retrieval"]["audio_to_text_mAP@10"] <= 1


def test_top_concepts_per_class_and_files(quick_run):
    results, output = quick_run
    top = results["top_concepts"]
    assert set(top.columns) == {"class", "concept", "count"}
    assert (top.groupby("class").size() <= 5).all() and top["class"].nunique() == 4
    for name in ("zero_shot_vs_l0.png", "probe_vs_l0.png", "reconstruction_cosine.png",
                 "class_concepts.png"):  # fmt: skip
        assert (output / name).stat().st_size > 1000
    stored = json.loads((output / "results.json").read_text())
    assert len(stored["sweep"]) == len(results["sweep"])
    assert pd.read_csv(output / "sweep.csv").shape[0] == len(results["sweep"])


def _write_esc50_folder(folder, rows):
    (folder / "audio").mkdir(parents=True)
    (folder / "meta").mkdir()
    for name, *_ in rows:
        soundfile.write(folder / "audio" / name, np.zeros(800), 8000)
    pd.DataFrame(rows, columns=["filename", "fold", "category"]).to_csv(
        folder / "meta" / "esc50.csv", index=False
    )


def test_esc50_style_loader(script, tmp_path):
    rows = [("1-a.wav", 1, "dog"), ("2-b.wav", 2, "rain"), ("2-c.wav", 2, "dog")]
    _write_esc50_folder(tmp_path, rows)
    table = script.load_labelled_folder(tmp_path)
    assert list(table["category"]) == ["dog", "rain", "dog"]
    assert list(table["fold"]) == [1, 2, 2]
    assert Path(table["path"][0]) == tmp_path / "audio" / "1-a.wav"
    data = {"X": np.zeros((3, 2)), "labels": table["category"].to_numpy(),
            "folds": table["fold"].to_numpy()}  # fmt: skip
    assert list(script.split(data, None, 0)) == [False, True, True]  # last fold
    assert list(script.split(data, "1", 0)) == [True, False, False]
    with pytest.raises(ValueError, match="not one of"):
        script.split(data, "7", 0)


def test_loader_errors(script, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        script.load_labelled_folder(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="--csv"):
        script.load_labelled_folder(tmp_path)
    pd.DataFrame({"filename": ["x.wav"], "category": ["dog"]}).to_csv(
        tmp_path / "clips.csv", index=False
    )
    with pytest.raises(FileNotFoundError, match="missing"):
        script.load_labelled_folder(tmp_path)
    pd.DataFrame({"file": ["x.wav"]}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(ValueError, match="'filename' and a 'category'"):
        script.load_labelled_folder(tmp_path, tmp_path / "other.csv")
    with pytest.raises(SystemExit):
        script.parse_args(["--dataset", str(tmp_path)])  # needs a checkpoint too


class _SineEmbedder:
    """Fake embedder (``transform(paths)``, ``embed_text(texts)``) in 32-d.

    A clip's embedding is its normalised magnitude spectrum folded into 32
    bins (each test class is a sine in its own bin); a text naming a class is
    that bin's direction, any other text (the concepts) a random direction
    seeded by the text.
    """

    def __init__(self, class_bins):
        self.class_bins = class_bins

    def transform(self, paths):
        rows = []
        for path in paths:
            audio, _ = soundfile.read(path)
            spectrum = np.abs(np.fft.rfft(audio, n=64))[:32]
            rows.append(spectrum + 1e-3)
        rows = np.asarray(rows)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    def embed_text(self, texts):
        rows = []
        for text in texts:
            rng = np.random.default_rng(zlib.crc32(text.encode()))
            row = rng.standard_normal(32)
            for name, k in self.class_bins.items():
                if f" {name}." in text:
                    row = 0.1 * row
                    row[k] += 1.0
            rows.append(row / np.linalg.norm(row))
        return np.asarray(rows)


def test_fake_esc50_layout_end_to_end(script, tmp_path):
    class_bins = {"dog": 3, "rain": 9, "siren": 15}
    rng = np.random.default_rng(0)
    rows = []
    (tmp_path / "audio").mkdir()
    (tmp_path / "meta").mkdir()
    for fold in range(1, 6):
        for target, (name, k) in enumerate(class_bins.items()):
            for take in range(3):
                filename = f"{fold}-{target}{take}-A-{target}.wav"
                t = np.arange(640)
                audio = np.sin(2 * np.pi * k * t / 64) + 0.3 * rng.standard_normal(640)
                soundfile.write(tmp_path / "audio" / filename, 0.5 * audio, 8000)
                rows.append(
                    (filename, fold, target, name, False, f"{target}{take}", "A")
                )
    columns = ["filename", "fold", "target", "category", "esc10", "src_file", "take"]
    pd.DataFrame(rows, columns=columns).to_csv(
        tmp_path / "meta" / "esc50.csv", index=False
    )
    results = _run(
        script,
        [
            "--dataset", str(tmp_path),
            "--layout", "esc50",
            "--embedder", "fake-sine",
            "--bootstrap", "50",
            "--fine-tune-epochs", "3",
        ],  # fmt: skip
        embedder=_SineEmbedder(class_bins),
    )
    table_i = results["table_i"]
    # Fold 5 (9 clips) is evaluated; the sine is the prompt's bin.
    assert table_i["dense"]["value"] == 1.0
    for row in table_i.values():
        assert 0 <= row["low"] <= row["value"] <= row["high"] <= 1
    assert set(results["table_iii"]) == {"untuned", "concepts (ours)", "paper"}
    for row in results["table_iii"].values():
        assert 0 <= row["concept"] <= 1 and 0 <= row["dense"] <= 1
    sweep = results["sweep"]
    assert set(sweep["l1_penalty"]) == set(script.QUICK["penalties"])
    assert set(sweep["vocabulary_size"]) == set(script.QUICK["vocabulary_sizes"])
    assert "table_ii" not in results  # ESC-50 has no captions


def test_fake_clotho_layout_prints_table_ii(script, tmp_path):
    class_bins = {"dog": 3, "rain": 9}
    rng = np.random.default_rng(1)
    for split in ("development", "evaluation"):
        (tmp_path / split).mkdir()
        rows = []
        for i in range(12):
            name, k = list(class_bins.items())[i % 2]
            audio = np.sin(2 * np.pi * k * np.arange(640) / 64)
            audio += 0.3 * rng.standard_normal(640)
            soundfile.write(tmp_path / split / f"{i}.wav", 0.5 * audio, 8000)
            rows.append([f"{i}.wav"] + [f"A sound of {name}."] * 5)
        columns = ["file_name"] + [f"caption_{j}" for j in range(1, 6)]
        pd.DataFrame(rows, columns=columns).to_csv(
            tmp_path / f"clotho_captions_{split}.csv", index=False
        )
    results = _run(
        script,
        [
            "--dataset", str(tmp_path),
            "--layout", "clotho",
            "--embedder", "fake-sine",
        ],  # fmt: skip
        embedder=_SineEmbedder(class_bins),
    )
    table_ii = results["table_ii"]
    assert set(table_ii) == {"concept", "dense"}
    for scores in table_ii.values():
        assert all(0 <= value <= 1 for value in scores.values())
    # A caption names only its clip's class, shared by 6 of the 12 evaluation
    # clips: those rank first, so the right clip is always in the top 10.
    assert table_ii["dense"]["text_to_audio_R@10"] == 1.0
    assert "table_i" not in results and "table_iii" not in results
    assert results["sweep"]["zero_shot"].isna().all()


def test_fake_audioset_layout_scores_map(script, tmp_path):
    classes = {"/m/a": ("dog", 3), "/m/b": ("rain", 9), "/m/c": ("siren", 15)}
    (tmp_path / "class_labels_indices.csv").write_text(
        "index,mid,display_name\n"
        + "".join(
            f"{i},{mid},{name}\n" for i, (mid, (name, _)) in enumerate(classes.items())
        )  # fmt: skip
    )
    rng = np.random.default_rng(2)
    mids = list(classes)
    for split, n in (("balanced_train", 18), ("eval", 12)):
        lines = ["# YTID, start_seconds, end_seconds, positive_labels"]
        for i in range(n):
            labels = [mids[i % 3]] + ([mids[(i + 1) % 3]] if i % 4 == 0 else [])
            ytid = f"{split[:2]}{i:03d}xxxxx"
            lines.append(f'{ytid}, 0.000, 10.000, "{",".join(labels)}"')
            t = np.arange(640)
            audio = sum(np.sin(2 * np.pi * classes[m][1] * t / 64) for m in labels)
            audio = audio + 0.3 * rng.standard_normal(640)
            soundfile.write(tmp_path / f"{ytid}.wav", 0.3 * audio, 8000)
        # One listed segment whose video is gone: skipped, as AudioSet needs.
        lines.append(f'{split[:2]}gone00000, 0.000, 10.000, "{mids[0]}"')
        (tmp_path / f"{split}_segments.csv").write_text("\n".join(lines) + "\n")
    results = _run(
        script,
        [
            "--dataset", str(tmp_path),
            "--layout", "audioset",
            "--embedder", "fake-sine",
            "--bootstrap", "50",
        ],  # fmt: skip
        embedder=_SineEmbedder({name: k for name, k in classes.values()}),
    )
    dense = results["table_i"]["dense"]
    # mAP of ranking clips by their class's sine: every positive ranks first.
    assert dense["value"] == 1.0
    assert 0 <= results["table_i"]["concept"]["value"] <= 1
    assert "table_iii" not in results  # multi-label: no fine-tuning table
    assert results["sweep"]["probe"].isna().all()


def test_tag_vocabularies_of_each_construction(script, tmp_path):
    import argparse

    words = ["dog", "bark", "rain", "siren", "car", "engine", "bird", "wind", "water"]
    rng = np.random.default_rng(3)
    rows = [
        {"id": i, "tags": ",".join(rng.choice(words, 3, replace=False))}
        for i in range(40)
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "tags.csv", index=False)
    args = argparse.Namespace(tags=str(tmp_path / "tags.csv"), seed=0)
    vocabularies = script.tag_vocabularies(args, _SineEmbedder({}), [4, 6])
    kinds = {name.split()[0] for name in vocabularies}
    assert kinds == {"baseline", "pruned", "clustered"}
    for name, vocabulary in vocabularies.items():
        assert name.endswith(f"V={len(vocabulary)}") and len(vocabulary) <= 6
        assert set(vocabulary.names) <= set(words)


def test_single_label_targets_follow_the_class_order(script):
    # Regression: class names in any order (the sound scenes' sources are not
    # sorted) index the prompts they were given in.
    data = script._single_label(["siren", "bell", "siren"], ["siren", "bell"])
    assert data["target"].tolist() == [0, 1, 0]


def test_miniclap_embedder_on_sound_scenes(script):
    results = _run(
        script,
        [
            "--embedder", "miniclap",
            "--bootstrap", "20",
            "--fine-tune-epochs", "2",
        ],  # fmt: skip
    )
    assert {"table_i", "table_ii", "table_iii"} <= set(results)
    (name,) = set(results["sweep"]["vocabulary"])
    assert name.startswith("world V=")
    for row in results["table_iii"].values():
        assert 0 <= row["concept"] <= 1 and 0 <= row["dense"] <= 1
    with pytest.raises(SystemExit):
        script.parse_args(["--embedder", "630k-audioset-best.pt"])  # needs data


def test_embedder_takes_the_papers_msclap_2023_by_name(script, tmp_path):
    # The paper's own model: the family, architecture and width come from the
    # name (nothing is loaded), and --clap-audio-model is no longer forced.
    args = script.parse_args(
        ["--embedder", "msclap-2023", "--dataset", str(tmp_path), "--layout", "esc50"]
    )
    assert args.clap_audio_model is None and args.clap_family == "auto"
    embedder = script.make_embedder(args)
    params = embedder.get_params()
    assert params["checkpoint"] == "msclap-2023" and params["family"] == "auto"
    assert params["audio_model"] is None
    assert len(embedder.get_feature_names_out()) == 1024
    # A laion name keeps inferring its architecture (HTSAT-base here).
    args = script.parse_args(
        ["--embedder", "music_audioset_epoch_15_esc_90.14", "--dataset", str(tmp_path)]
    )
    script.make_embedder(args).fit()  # before: "set audio_model='HTSAT-base'"


def test_clap_family_is_checked_against_the_name(script, tmp_path):
    from sklearn_audioconcepts._clap_backends import CheckpointError

    args = script.parse_args(
        ["--embedder", "msclap-2023", "--dataset", str(tmp_path),
         "--clap-family", "laion"]
    )  # fmt: skip
    with pytest.raises(CheckpointError, match="'msclap' model"):
        script.make_embedder(args).fit()
    with pytest.raises(SystemExit):
        script.parse_args(["--embedder", "x", "--dataset", ".", "--clap-family", "y"])
