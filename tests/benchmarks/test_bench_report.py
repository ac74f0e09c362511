"""Smoke test for ``benchmarks/bench_report.py`` in quick mode."""

import importlib
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_report.py"


def test_quick_run_measures_the_noise_report(tmp_path):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        bench = importlib.import_module("bench_report")
    finally:
        sys.path.remove(str(SCRIPT.parent))
    results = bench.main(["--quick", "--kinds", "noise", "--json", str(tmp_path / "r")])
    (row,) = results["rows"]
    assert row["kind"] == "noise" and row["n_clips"] == 30
    assert 0 < row["audio_mb"] < row["total_mb"]
    # 2 s excerpts of noise: a few kB per second each, plus the pages.
    assert row["kb_per_clip"] < 60
    # index, clips, style, script, 30 clip pages, 30 excerpts, 32 latent pages, marker
    assert row["n_files"] == 4 + 30 + 30 + 32 + 1
    assert (tmp_path / "r").is_file()
