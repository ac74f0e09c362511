"""The README's quickstart runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_quickstart_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no python quickstart"
    namespace = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)  # noqa: S102
    assert namespace["weights"].shape == (600, 1000)
    assert namespace["search"].best_params_["conceptdecomposer__l1_penalty"] in (
        0.02,
        0.05,
        0.1,
    )
