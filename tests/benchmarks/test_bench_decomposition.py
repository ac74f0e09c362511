"""Smoke test for ``benchmarks/bench_decomposition.py`` (a few seconds)."""

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_decomposition.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_decomposition", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(bench, tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "results.json"
    return bench.main(["--quick", "--json", str(path)]), path


def test_quick_run_reports_finite_positive_throughputs(quick_run, capsys):
    results, _ = quick_run
    (row,) = results["rows"]
    assert row["n_atoms"] == 200 and row["n_samples"] == 300
    for solver in ("ours", "sklearn", "admm"):
        rate = row[solver]["samples_per_s"]
        assert math.isfinite(rate) and rate > 0, solver
    for ratio in ("speedup_vs_sklearn", "speedup_vs_admm"):
        assert math.isfinite(row[ratio]) and row[ratio] > 0
    assert row["sklearn"]["rows"] == 100
    assert "ours/sklearn" in results["table"] and "cpus=" in results["table"]


def test_quick_run_objectives_agree(quick_run):
    results, _ = quick_run
    (row,) = results["rows"]
    # scikit-learn's lasso_cd with transform_alpha = l1_penalty is our problem.
    assert row["sklearn"]["max_rel"] <= 1e-4
    assert row["ours"]["n_not_converged"] == 0
    # ADMM stops at equal objective (or reports that it did not get there).
    admm = row["admm"]
    if admm["n_reached"] == admm["rows"]:
        assert admm["max_signed"] <= 1e-4
    assert row["ours"]["mean_l0"] > 0 and 0 < row["ours"]["mean_cosine"] <= 1


def test_quick_run_writes_json(quick_run):
    results, path = quick_run
    saved = json.loads(path.read_text())
    assert saved["machine"]["cpu_count"] >= 1
    assert saved["rows"][0]["ours"]["samples_per_s"] == pytest.approx(
        results["rows"][0]["ours"]["samples_per_s"]
    )


@pytest.mark.parametrize("n_atoms", [10, 40])
@pytest.mark.parametrize("method", ["full", "woodbury", "auto"])
def test_admm_x_update_solves_the_ridge_system(bench, n_atoms, method):
    generator = torch.Generator().manual_seed(0)
    atoms = torch.randn(n_atoms, 16, generator=generator, dtype=torch.float64)
    rhs = torch.randn(5, n_atoms, generator=generator, dtype=torch.float64)
    update, used = bench.make_x_update(atoms, 2.0, method)
    system = atoms @ atoms.T + 2.0 * torch.eye(n_atoms, dtype=torch.float64)
    expected = torch.linalg.solve(system, rhs.T).T
    torch.testing.assert_close(update(rhs), expected)
    if method == "auto":
        assert used == ("woodbury" if n_atoms > 16 else "full")


def test_several_penalties_give_one_row_each(bench):
    results = bench.main(["--quick", "--l1-penalty", "0.05", "0.3"])
    dense, sparse = results["rows"]
    assert (dense["l1_penalty"], sparse["l1_penalty"]) == (0.05, 0.3)
    # A larger penalty keeps fewer concepts, for every solver.
    for solver in ("ours", "sklearn"):
        assert sparse[solver]["mean_l0"] < dense[solver]["mean_l0"]
    assert sparse["sklearn"]["max_rel"] <= 1e-4


def test_solver_option_times_the_working_set_solver(bench):
    results = bench.main(["--quick", "--solver", "working_set"])
    (row,) = results["rows"]
    assert results["config"]["solver"] == "working_set"
    assert "solver=working_set" in results["table"]
    assert row["ours"]["n_not_converged"] == 0 and row["sklearn"]["max_rel"] <= 1e-4


def test_path_mode_reports_the_ratios(bench, tmp_path):
    path = tmp_path / "path.json"
    results = bench.main(
        ["--path", "--quick", "--sklearn-samples", "20", "--json", str(path)]
    )
    (row,) = results["path_rows"]
    assert row["l1_penalties"] == sorted(bench.PAPER_PENALTIES, reverse=True)
    for key in ("path_seconds", "cold_sum_seconds", "densest_cold_seconds"):
        assert math.isfinite(row[key]) and row[key] > 0, key
    assert row["path_over_densest"] == pytest.approx(
        row["path_seconds"] / row["densest_cold_seconds"]
    )
    assert row["sklearn_rows"] == 20 and row["sklearn_over_path"] > 0
    for entry in row["per_penalty"]:
        # Warm starts reach each penalty's optimum, as scikit-learn does.
        assert entry["path_vs_cold_max_rel"] <= 1e-6
        assert entry["sklearn"]["max_rel"] <= 1e-4
        assert entry["n_not_converged"] == 0
    l0 = [entry["mean_l0"] for entry in row["per_penalty"]]
    assert l0 == sorted(l0)
    for label in ("path/densest", "path/cold sum", "sklearn/path"):
        assert label in results["table"]
    assert json.loads(path.read_text())["path_rows"][0]["n_atoms"] == 200
