"""Smoke test for ``benchmarks/bench_clap.py`` (random full-size CLAPs, seconds).

One quick run (one clip of 2 s per family, every case once) checks that each
installed family gets its rows, that the rates are finite and that
CLAPEmbedder's embeddings equal the library's own where both get the same
input.
"""

import importlib.util
import json
import math
import os
from pathlib import Path

import pytest

# laion-clap loads three tokenizers from the Hugging Face hub when imported;
# offline, each try otherwise retries for minutes.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_clap.py"
# find_spec, not imports: importing laion-clap or msclap takes seconds.
INSTALLED = {
    "laion": importlib.util.find_spec("laion_clap") is not None,
    "msclap": importlib.util.find_spec("msclap") is not None,
    "hf": importlib.util.find_spec("transformers") is not None,
}
pytestmark = pytest.mark.skipif(
    not any(INSTALLED.values()), reason="the CLAP benchmark needs a CLAP extra"
)
CASES = {
    "laion": {
        "laion_clap_as_called",
        "laion_clap_no_grad",
        "clap_embedder_arrays",
        "clap_embedder_wav_files",
        "clap_embedder_44k_arrays",
        "clap_embedder_int8",
    },
    "msclap": {
        "msclap_wrapper_files",
        "msclap_audio_encoder_no_grad",
        "clap_embedder_arrays",
        "clap_embedder_wav_files",
        "clap_embedder_int8",
    },
    "hf": {
        "hf_get_audio_features_no_grad",
        "clap_embedder_arrays",
        "clap_embedder_int8",
    },
}
SUMMARY_ROWS = {
    "laion": ["laion"],
    "msclap": ["msclap", "msclap (files)"],
    "hf": ["hf"],
}
# Cases whose input is exactly their reference's: the same numbers.
SAME_INPUT = {
    "laion": ["laion_clap_as_called", "clap_embedder_arrays"],
    "msclap": ["clap_embedder_arrays", "clap_embedder_wav_files"],
    "hf": ["clap_embedder_arrays"],
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("bench_clap", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    path = tmp_path_factory.mktemp("bench") / "clap.json"
    return bench.main(["--quick", "--json", str(path)]), path


def installed_families():
    return [family for family, present in INSTALLED.items() if present]


def test_quick_run_has_every_installed_family(quick_run):
    report, _ = quick_run
    assert set(report["families"]) == set(installed_families())
    assert not report["skipped"]
    labels = [row["family"] for row in report["summary"]]
    assert labels == [
        label for family in report["families"] for label in SUMMARY_ROWS[family]
    ]
    for label in labels:
        assert any(line.startswith(label) for line in report["table"].splitlines())


@pytest.mark.parametrize("family", ["laion", "msclap", "hf"])
def test_quick_run_reports_finite_rates(quick_run, family):
    if not INSTALLED[family]:
        pytest.skip(f"{family} is not installed")
    result = quick_run[0]["families"][family]
    assert set(result["cases"]) == CASES[family]
    for row in result["cases"].values():
        assert math.isfinite(row["clips_per_s"]) and row["clips_per_s"] > 0
        assert math.isfinite(row["cpu_seconds"]) and row["cpu_seconds"] > 0
    for row in result["summary"]:
        assert math.isfinite(row["ratio"]) and row["ratio"] > 0
        assert math.isfinite(row["ratio_cpu"]) and row["ratio_cpu"] > 0
    int8 = result["summary"][0]["int8"]
    assert math.isfinite(int8["speedup"]) and int8["speedup"] > 0
    # One clip: its cosine to the float32 embedding, a real number in [-1, 1].
    assert len(int8["cosines"]) == 1
    assert -1 - 1e-6 <= int8["cosine_min"] <= 1 + 1e-6
    assert int8["meets_bar"] == (int8["cosine_min"] >= 0.99)


@pytest.mark.parametrize("family", ["laion", "msclap", "hf"])
def test_quick_run_embeddings_agree_with_the_library(quick_run, family):
    if not INSTALLED[family]:
        pytest.skip(f"{family} is not installed")
    cases = quick_run[0]["families"][family]["cases"]
    for name in SAME_INPUT[family]:
        assert cases[name]["max_abs_diff"] <= 1e-5, name
    if family == "laion":
        # 16-bit WAV is what laion-clap quantises to anyway.
        assert cases["clap_embedder_wav_files"]["max_abs_diff"] <= 1e-4


def test_quick_run_keeps_the_laion_overhead_figures(quick_run):
    report, _ = quick_run
    if "laion" not in report["families"]:
        pytest.skip("laion-clap is not installed")
    assert math.isfinite(report["overhead_vs_no_grad"])
    assert 0 < report["embedder_without_model_seconds"] < math.inf
    assert report["overhead_alone_vs_no_grad"] > 0
    assert "overhead vs laion-clap no_grad" in report["table"]
    assert report["results"] == report["families"]["laion"]["cases"]


def test_quick_run_writes_json(quick_run):
    report, path = quick_run
    saved = json.loads(path.read_text())
    assert saved["settings"]["n_clips"] == 1
    assert saved["machine"]["cpu_count"] >= 1
    assert saved["summary"] == json.loads(json.dumps(report["summary"]))
