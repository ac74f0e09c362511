"""Quick run of ``benchmarks/bench_projector.py`` (a few seconds)."""

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_projector.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_projector", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(bench, tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "results.json"
    threads = torch.get_num_threads()
    try:
        results = bench.main(["--quick", "--json", str(path)])
    finally:
        # main() sets torch's thread count for the run; give it back.
        torch.set_num_threads(threads)
    return results, path


def test_quick_run_covers_both_tasks(quick_run):
    results, _ = quick_run
    assert [row["task"] for row in results["rows"]] == ["misaligned", "aligned"]
    for row in results["rows"]:
        for variant in ("dense", "untuned", "tuned"):
            for metric in ("zero_shot", "probe"):
                assert 0 <= row[variant][metric] <= 1
        assert row["untuned"]["epochs"] == 0
        assert row["untuned"]["relative_frobenius"] == 0
        assert row["tuned"]["epochs"] >= 1
        assert row["tuned"]["relative_frobenius"] > 0
        assert math.isfinite(row["tuned"]["fit_seconds"])
    assert "| misaligned | zero-shot |" in results["table"]


def test_quick_run_shows_the_planted_effect(quick_run):
    # Even at smoke-test size (150 training clips, 20 epochs) tuning must help
    # the misaligned task's zero-shot head and not hurt the aligned one.
    summary = quick_run[0]["summary"]
    assert summary["misaligned"]["gain_zero_shot"][0] >= 0.05
    assert summary["aligned"]["gain_zero_shot"][0] >= -0.05
    assert summary["aligned"]["gain_probe"][0] >= -0.05


def test_quick_run_writes_json(quick_run):
    results, path = quick_run
    saved = json.loads(path.read_text())
    assert saved["machine"]["cpu_count"] >= 1
    assert saved["summary"]["misaligned"]["tuned_zero_shot"][0] == pytest.approx(
        results["summary"]["misaligned"]["tuned_zero_shot"][0]
    )
