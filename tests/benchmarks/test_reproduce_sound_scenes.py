"""Quick run of ``benchmarks/reproduce_sound_scenes.py``."""

import contextlib
import importlib.util
import io
import json
import shutil
from pathlib import Path

import pytest
import torch

SCRIPT = (
    Path(__file__).resolve().parents[2] / "benchmarks" / "reproduce_sound_scenes.py"
)

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None and shutil.which("espeak") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng)",
)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("reproduce_sound_scenes", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    output = tmp_path_factory.mktemp("sound_scenes")
    threads = torch.get_num_threads()
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            results = script.main(["--quick", "--output", str(output)])
    finally:
        torch.set_num_threads(threads)
    return script, results, output, printed.getvalue()


def test_prints_every_figure(quick_run):
    script, results, output, printed = quick_run
    factors = results["dense_zero_shot"]
    assert {"source", "pitch", "background", "effect", "language"} <= set(factors)
    # 300 training clips already read the source well above chance (1/8).
    assert factors["source"] > 0.35
    penalties = [row["l1_penalty"] for row in results["sweep"]]
    assert set(script.QUICK["penalties"]) <= set(penalties)
    active = [row["mean_active"] for row in results["sweep"]]
    assert active == sorted(active, reverse=True)  # larger penalty, fewer concepts
    for row in results["sweep"]:
        assert 0 <= row["precision_at_k"] <= 1 and 0 <= row["recall"] <= 1
    assert results["default_penalty"]["mean_active"] > 0
    assert results["retrieval"]["text_to_audio_R@10"] > 10 / script.QUICK["n_test"]
    assert results["projector"]["factor"] == min(factors, key=factors.get)
    assert {"before", "after", "linear_probe"} <= set(results["projector"])
    assert "a logistic regression on the dense embeddings reaches" in printed
    assert len(results["examples"]) == 3
    assert all(example["concepts"] for example in results["examples"])


def test_writes_figures_and_results(quick_run):
    _, results, output, _ = quick_run
    assert (output / "scenes_sparsity_sweep.png").stat().st_size > 0
    assert (output / "scenes_concept_bars.png").stat().st_size > 0
    saved = json.loads((output / "results.json").read_text())
    assert saved["dense_zero_shot"] == pytest.approx(results["dense_zero_shot"])
