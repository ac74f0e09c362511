"""The README's quickstarts run as written.

The speaker quickstart runs verbatim (offline: espeak-ng speech, the
pretrained resemblyzer encoder). The CLAP quickstart needs a published
checkpoint, which cannot be downloaded here: it runs verbatim except that the
checkpoint is a tiny random CLAP built through laion-clap's own classes (see
``_tiny_clap.py``), and ``paths`` and ``labels`` are synthesised files.
"""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 2, "the README should have two python quickstarts"
    return blocks


def test_speaker_quickstart_finds_and_steers_a_language_latent():
    pytest.importorskip("resemblyzer")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    namespace = {}
    exec(compile(_python_blocks()[0], str(README), "exec"), namespace)  # noqa: S102
    best, effect = namespace["best"], namespace["effect"]
    assert set(best.index) == {"en", "es", "ru"}
    assert best["auc"].max() > 0.9  # on the fitted data; held out: see
    assert effect.mean_after > effect.mean_before  # test_speech_end_to_end.py


def test_clap_quickstart_runs_on_files(tmp_path):
    # Through the package: a bare import fails offline on transformers 4
    # (laion-clap loads training tokenizers from the hub when imported).
    from sklearn_audioconcepts._clap import import_laion_clap

    try:
        import_laion_clap()
    except ImportError:
        pytest.skip("needs the [clap] extra (laion-clap)")
    from _tiny_clap import build_tiny_clap

    (tmp_path / "clap").mkdir()
    tiny = build_tiny_clap(tmp_path / "clap")
    block = _python_blocks()[1].replace(
        'CLAPEmbedder(checkpoint="630k-audioset-best")',
        "CLAPEmbedder(checkpoint=TINY['checkpoint'], "
        "audio_model=TINY['audio_model'], text_model=TINY['text_model'])",
    )
    assert "TINY" in block, "the README's CLAPEmbedder line changed"
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for i in range(12):
        t = np.arange(16000) / 16000
        tone = 0.3 * np.sin(2 * np.pi * (300 + 400 * (i % 2)) * t)
        tone += 0.05 * rng.standard_normal(t.size)
        soundfile.write(tmp_path / f"clip{i}.wav", tone, 16000)
        paths.append(str(tmp_path / f"clip{i}.wav"))
        labels.append(["low", "high"][i % 2])
    namespace = {"TINY": tiny, "paths": paths, "labels": labels}
    exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    assert namespace["X"].shape == (12, 512)
    assert len(namespace["vocabulary"]) > 2000
    assert set(namespace["decomposer"].explain(namespace["X"][:2])["sample"]) == {
        0,
        1,
    }
    assert namespace["search"].best_params_["concepts__l1_penalty"] in (
        0.02,
        0.05,
        0.1,
    )
