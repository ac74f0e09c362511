"""Smoke test for ``benchmarks/bench_clap.py`` (a tiny random CLAP, seconds)."""

import importlib.util
import json
import math
import os
from pathlib import Path

import pytest

# laion-clap loads three tokenizers from the Hugging Face hub when imported;
# offline, each try otherwise retries for minutes.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# find_spec, not an import: importing laion-clap takes seconds.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("laion_clap") is None,
    reason="the CLAP benchmark needs the [clap] extra",
)

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_clap.py"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("bench_clap", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    path = tmp_path_factory.mktemp("bench") / "clap.json"
    return bench.main(["--quick", "--json", str(path)]), path


def test_quick_run_reports_rates_for_every_case(quick_run):
    report, _ = quick_run
    assert set(report["results"]) == {
        "laion_clap_as_called",
        "laion_clap_no_grad",
        "clap_embedder_arrays",
        "clap_embedder_wav_files",
        "clap_embedder_44k_arrays",
    }
    for row in report["results"].values():
        assert math.isfinite(row["clips_per_s"]) and row["clips_per_s"] > 0
    assert math.isfinite(report["overhead_vs_no_grad"])
    assert 0 < report["embedder_without_model_seconds"] < math.inf
    assert report["overhead_alone_vs_no_grad"] > 0
    assert "overhead vs laion-clap no_grad" in report["table"]


def test_quick_run_embeddings_agree_with_laion_clap(quick_run):
    results = quick_run[0]["results"]
    # Same model, same 48 kHz input: the same numbers.
    for name in ("laion_clap_as_called", "clap_embedder_arrays"):
        assert results[name]["max_abs_diff_vs_laion"] <= 1e-5
    # 16-bit WAV is what laion-clap quantises to anyway.
    assert results["clap_embedder_wav_files"]["max_abs_diff_vs_laion"] <= 1e-4


def test_quick_run_writes_json(quick_run):
    report, path = quick_run
    saved = json.loads(path.read_text())
    assert saved["settings"]["n_clips"] == 4
    assert saved["machine"]["cpu_count"] >= 1
