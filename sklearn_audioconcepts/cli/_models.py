"""``models``: the published CLAP models, by the names ``--checkpoint`` takes."""

from .._clap_models import PUBLISHED_MODELS
from ._common import EXIT_OK

_COLUMNS = (
    ("name", "name"),
    ("family", "family"),
    ("audio", "audio_architecture"),
    ("text", "text_encoder"),
    ("fusion", "fusion"),
    ("rate", "sample_rate"),
    ("clip", "clip_seconds"),
    ("dim", "embedding_dim"),
)


def cmd_models(args, console):
    rows = [
        model.as_row()
        for model in PUBLISHED_MODELS.values()
        if args.family is None or model.family == args.family
    ]
    cells = [[header for header, _ in _COLUMNS]]
    for row in rows:
        cells.append(
            [
                ("yes" if row[key] else "no")
                if key == "fusion"
                else f"{row[key]:g} s"
                if key == "clip_seconds"
                else str(row[key])
                for _, key in _COLUMNS
            ]
        )
    widths = [max(len(line[i]) for line in cells) for i in range(len(_COLUMNS))]
    for line in cells:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
        )
    console.info(
        "\nWeights are fetched from the Hugging Face hub on first use, or read "
        "from its cache; offline, pass the downloaded file or folder instead: "
        + ", ".join(sorted({row["url"].rsplit("/resolve/", 1)[0] for row in rows}))
    )
    return EXIT_OK
