"""Smoke test for ``benchmarks/bench_long_audio.py`` in quick mode."""

import importlib.util
import json
import math
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("resemblyzer") is None,
    reason="the quick run embeds with Resemblyzer (the [speaker] extra)",
)

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_long_audio.py"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("bench_long_audio", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    path = tmp_path_factory.mktemp("bench") / "long.json"
    return bench.main(["--quick", "--threads", "1", "--json", str(path)]), path


def test_quick_run_measures_every_length(quick_run):
    report, _ = quick_run
    assert set(report["results"]) == {"resemblyzer_3min", "resemblyzer_5min"}
    for row in report["results"].values():
        assert row["finite"] and row["seconds"] > 0
        assert 0 < row["baseline_mb"] <= row["batch_baseline_mb"]
        assert row["peak_mb"] > 0
        assert math.isfinite(row["extra_mb"]) and row["file_mb"] > 0
    assert "+ vs 10 s" in report["table"]


def test_quick_run_memory_does_not_grow_with_length(quick_run):
    results = quick_run[0]["results"]
    short, long = results["resemblyzer_3min"], results["resemblyzer_5min"]
    # More audio (two segments, then three): the same peak, to within
    # allocator noise.
    assert long["extra_mb"] < short["extra_mb"] + 50
    assert long["extra_mb"] < 300


def test_quick_run_writes_json(quick_run):
    report, path = quick_run
    saved = json.loads(path.read_text())
    assert saved["settings"]["minutes"] == [3, 5]
    assert saved["results"].keys() == report["results"].keys()
