"""Quick run of ``benchmarks/reproduce_sae_paper.py`` (about a minute)."""

import importlib.util
import shutil
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "reproduce_sae_paper.py"

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None and shutil.which("espeak") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng)",
)


def test_quick_run_reports_language_gender_music_and_variants(capsys):
    pytest.importorskip("resemblyzer")  # its weights ship inside the package
    spec = importlib.util.spec_from_file_location("reproduce_sae_paper", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    threads = torch.get_num_threads()
    try:
        results = script.main(["--quick", "--sae-seeds", "2", "--variants"])
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    assert 0 < results["original_eer"] < 0.5
    assert len(results["aucs"]) == len(script.QUICK["sizes"])
    for aucs in results["aucs"]:
        assert set(aucs) == {"language", "gender", "music"}
        assert set(aucs["language"]) == set(script.QUICK["languages"])
        assert set(aucs["gender"]) == {"male", "female"}
        assert set(aucs["music"]) == {"music"}
        # held-out speakers, yet every attribute has a latent well above chance
        for by_class in aucs.values():
            assert all(0.6 < auc <= 1 for auc in by_class.values())
    assert set(results["variants"]) == {"topk", "batch_topk", "matryoshka"}
    for spread in results["variants"].values():
        assert 0.5 < spread["min"] <= spread["max"] <= 1
    assert "music AUC music:" in printed and "seed spread" in printed
