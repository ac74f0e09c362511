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
        results = script.main(
            ["--quick", "--sae-seeds", "2", "--variants", "--variant-seeds", "2"]
        )
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
        # held-out speakers, yet every attribute has a latent above chance
        for by_class in aucs.values():
            assert all(0.5 < auc <= 1 for auc in by_class.values())
    # well above it in the smallest dictionary, whose seed is picked for it
    # (larger ones measured 0.58-0.96 with the demo's hold music)
    for by_class in results["aucs"][0].values():
        assert all(0.6 < auc <= 1 for auc in by_class.values())
    # the comparison table: one row per variant, figures per seed
    assert set(results["variants"]) == {"topk", "batch_topk", "matryoshka"}
    larger = [n for n, _ in script.QUICK["variant_sizes"][1:]]
    n_latents, k = script.QUICK["variant_sizes"][0]
    for name, row in results["variants"].items():
        assert len(row["fvu"]) == len(row["eer"]) == 2
        assert all(0 < fvu < 1 for fvu in row["fvu"])
        assert all(0 <= dead <= 1 for dead in row["dead"])
        assert all(0 < eer < 0.5 for eer in row["eer"])
        if name != "batch_topk":  # BatchTopK keeps k per row on average only
            assert all(l0 <= k for l0 in row["l0"])
        assert set(row["auc"]) == set(script.QUICK["languages"])
        assert all(0.5 < auc <= 1 for aucs in row["auc"].values() for auc in aucs)
        assert set(row["children"]) == set(larger)
        assert 0 <= row["direction_cosine"] <= 1
    assert "music AUC music:" in printed
    assert f"TopK vs BatchTopK vs Matryoshka (L={n_latents}, k={k}" in printed
    for name in ("topk", "batch_topk", "matryoshka"):
        assert f"\n{name} " in printed
