"""Smoke test for ``benchmarks/bench_sae.py`` in quick mode."""

import importlib
import json
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_sae.py"


@pytest.fixture(scope="module")
def bench():
    # Imported by name from its folder (not from a file spec): the benchmark
    # runs each measurement in a spawned process, which re-imports the module
    # by name using the parent's sys.path.
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        yield importlib.import_module("bench_sae")
    finally:
        sys.path.remove(str(SCRIPT.parent))


@pytest.fixture(scope="module")
def quick_run(bench, tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "results.json"
    return bench.main(["--quick", "--threads", "1", "--json", str(path)]), path


def test_quick_run_reports_ours_and_plain(quick_run):
    results, _ = quick_run
    (row,) = results["rows"]
    assert row["n_latents"] == 4 * 64
    for name in ("ours", "plain"):
        result = row[name]
        assert result["available"], result
        assert math.isfinite(result["samples_per_s"]) and result["samples_per_s"] > 0
        assert result["peak_memory_mb"] >= 0
        assert 0 < result["final_nmse"] < 2 and 0 <= result["dead_fraction"] <= 1
    assert row["speedup_vs_plain"] > 0
    assert "ours/plain" in results["table"] and "cpus=" in results["table"]


def test_sae_lens_is_timed_or_reported_unavailable(quick_run):
    results, _ = quick_run
    (row,) = results["rows"]
    saelens = row["sae-lens"]
    if saelens["available"]:
        assert saelens["samples_per_s"] > 0 and row["speedup_vs_sae-lens"] > 0
    else:
        assert saelens["reason"] and "unavailable" in results["table"]


def test_quick_run_writes_json(quick_run):
    results, path = quick_run
    saved = json.loads(path.read_text())
    assert saved["rows"][0]["ours"]["samples_per_s"] == pytest.approx(
        results["rows"][0]["ours"]["samples_per_s"]
    )


def test_plain_reference_keeps_decoder_columns_unit_norm(bench):
    import torch

    args = bench.parse_args(["--quick"])
    data = bench.make_data(512, 64, 0)
    step, dead_fraction = bench.plain_trainer(64, 256, args, data)
    step(data[:256])
    assert 0 <= dead_fraction() <= 1
    # The reference must implement the same constraint as ours.
    model_weights = [
        cell.cell_contents
        for cell in step.__closure__
        if isinstance(cell.cell_contents, torch.nn.Module)
    ]
    (model,) = model_weights
    norms = model.decoder.weight.norm(dim=0)
    torch.testing.assert_close(norms, torch.ones_like(norms))
