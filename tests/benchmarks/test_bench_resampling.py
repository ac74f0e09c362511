"""Smoke test for ``benchmarks/bench_resampling.py`` (a random-weight CLAP, quick)."""

import importlib.util
import json
import os
from pathlib import Path

import pytest

# laion-clap loads three tokenizers from the Hugging Face hub when imported;
# offline, each try otherwise retries for minutes.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("laion_clap") is None
    or importlib.util.find_spec("librosa") is None,
    reason="the resampling benchmark needs the [clap] extra (laion-clap, librosa)",
)

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_resampling.py"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("bench_resampling", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    path = tmp_path_factory.mktemp("bench") / "resampling.json"
    return bench, bench.main(["--quick", "--json", str(path)]), path


def test_quick_run_reports_every_kind_and_rate(quick_run):
    _, report, path = quick_run
    rows = {(row["kind"], row["sample_rate"]): row for row in report["results"]}
    assert set(rows) == {(k, r) for k in ("noise", "tones") for r in (22_050, 48_000)}
    for (_, rate), row in rows.items():
        assert -1 <= row["min_cosine"] <= row["mean_cosine"] <= 1 + 1e-6
        if rate == 48_000:  # neither side resamples: the same embedding
            assert row["min_cosine"] > 1 - 1e-5
        # The librosa option resamples as laion-clap's file reader does.
        assert row["librosa_option_min_cosine"] > 1 - 1e-5
    assert report["worst_min_cosine"] == min(
        row["min_cosine"] for (_, rate), row in rows.items() if rate != 48_000
    )
    assert "RANDOM weights" in report["table"]
    assert json.loads(path.read_text())["settings"]["random_weights"] is True


def test_signals_have_the_requested_shape(quick_run):
    bench = quick_run[0]
    for kind in ("noise", "tones"):
        clips, _ = bench.make_signals(kind, 3, 0.5, 16_000)
        assert len(clips) == 3
        assert all(len(c) == 8_000 and abs(c).max() <= 0.5 + 1e-6 for c in clips)
