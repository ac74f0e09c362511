"""The published-model tables of the user guide and the README match the code.

``clap.published_models()`` is the source of truth (``_clap_models.py``); the
tables written in ``docs/user_guide.rst`` and ``README.md`` must list the
same models, in the same order, with the same facts, so they cannot drift.
"""

import re
from pathlib import Path

import pytest

from sklearn_audioconcepts.clap import published_models

ROOT = Path(__file__).resolve().parents[1]
USER_GUIDE = ROOT / "docs" / "user_guide.rst"
README = ROOT / "README.md"
REPRODUCING = ROOT / "docs" / "reproducing.rst"
COLUMNS = ["name", "family", "audio", "text", "fusion", "rate (Hz)", "clip", "width"]


def _expected_rows():
    table = published_models()
    return [
        (
            name,
            row["family"],
            row["audio_architecture"],
            row["text_encoder"],
            bool(row["fusion"]),
            int(row["sample_rate"]),
            float(row["clip_seconds"]),
            int(row["embedding_dim"]),
        )
        for name, row in table.iterrows()
    ]


def _typed(cells):
    """A table row's cells as the values of ``_expected_rows``."""
    name, family, audio, text, fusion, rate, clip, width = (
        cell.strip().strip("`") for cell in cells
    )
    assert fusion in ("yes", "no"), f"fusion must read yes or no, got {fusion!r}"
    assert clip.endswith(" s"), f"clip length must read '<seconds> s', got {clip!r}"
    return (
        name,
        family,
        audio,
        text,
        fusion == "yes",
        int(rate.replace(",", "")),
        float(clip[:-2]),
        int(width),
    )


def _rst_simple_table(text, label):
    """Header and rows of the first simple table after ``.. _label:``."""
    lines = text[text.index(f".. _{label}:") :].splitlines()
    borders = [i for i, line in enumerate(lines) if re.fullmatch(r"=+( +=+)+", line)]
    assert len(borders) >= 3, f"no simple table after .. _{label}:"
    top, below_header, bottom = borders[:3]
    spans = [m.span() for m in re.finditer(r"=+", lines[top])]

    def cells(line):
        ends = [start for start, _ in spans[1:]] + [None]
        return [line[start:end].strip() for (start, _), end in zip(spans, ends)]

    header = cells(lines[top + 1])
    rows = [cells(line) for line in lines[below_header + 1 : bottom] if line.strip()]
    return header, rows


def _markdown_table(text, first_header):
    lines = text.splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |")
    )
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows[0], rows[2:]  # header, separator, rows


def test_user_guide_table_matches_published_models():
    header, rows = _rst_simple_table(USER_GUIDE.read_text(), "published_clap_models")
    assert header == COLUMNS
    assert [_typed(row) for row in rows] == _expected_rows()


def test_readme_table_matches_published_models():
    header, rows = _markdown_table(README.read_text(), "name")
    assert header == COLUMNS
    assert [_typed(row) for row in rows] == _expected_rows()


@pytest.mark.parametrize(
    "path", [USER_GUIDE, README, REPRODUCING], ids=lambda p: p.name
)
def test_paper_setup_is_named(path):
    # Paper 1 (Zhang, Thomaz & Lu 2025) evaluated Microsoft CLAP 2023.
    assert 'CLAPEmbedder("msclap-2023")' in path.read_text()
