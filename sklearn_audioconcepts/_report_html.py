"""HTML pieces and file writers of the latent report (private).

Everything here knows nothing of estimators: it turns numbers, names and
waveforms into files of a static folder that opens from ``file://`` with no
server and no network (no CDN, no external fonts; one stylesheet and one
script beside the pages). Every string that reaches a page goes through
:func:`esc`; callers pass escaped fragments only where noted.
"""

import html
import math
from pathlib import Path

import numpy as np

# A marker file that says "this folder is a report we wrote": only such a
# folder is emptied by ``overwrite=True``, never an unrelated one.
MARKER = ".sklearn-audioconcepts-report"

STYLE = """\
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  margin: 1.5em auto; max-width: 70em; padding: 0 1em; color: #1d2330;
  background: #fff; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #dde;
  padding-bottom: .2em; }
a { color: #1f5fbf; text-decoration: none; }
a:hover { text-decoration: underline; }
nav { font-size: .9em; margin-bottom: 1em; color: #667; }
nav a { margin-right: 1em; }
.summary { color: #445; }
.note { color: #667; font-size: .9em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { padding: .25em .7em; border-bottom: 1px solid #eef; text-align: left;
  vertical-align: middle; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.sortable th { cursor: pointer; user-select: none; background: #f3f5fa; }
table.sortable th:hover { background: #e6ebf5; }
th[aria-sort=descending]::after { content: " \\25BE"; }
th[aria-sort=ascending]::after { content: " \\25B4"; }
audio { height: 2.2em; width: 16em; vertical-align: middle; }
.bar { display: inline-block; height: .8em; background: #4c78a8;
  vertical-align: middle; }
.val { display: inline-block; min-width: 4.5em; text-align: right;
  margin-right: .6em; font-variant-numeric: tabular-nums; }
.hist rect { fill: #4c78a8; }
.hist text { font-size: 11px; fill: #445; }
.hist line { stroke: #889; }
.shift { font-weight: 600; }
.up { color: #1a7f37; }
.down { color: #b42318; }
"""

# Sorting by a column: click its header. Numbers sort largest first on the
# first click, text alphabetically (digit runs as numbers); a second click
# reverses. Cells carry their
# sort key in data-value so that formatted numbers sort as numbers.
SCRIPT = """\
"use strict";
function sortTable(table, column, descending) {
  var body = table.tBodies[0];
  var numeric = table.tHead.rows[0].cells[column].dataset.type === "num";
  var rows = Array.prototype.slice.call(body.rows);
  var key = function (row) {
    var cell = row.cells[column];
    var value = cell.dataset.value !== undefined ? cell.dataset.value
      : cell.textContent;
    return numeric ? parseFloat(value) : value;
  };
  rows.sort(function (a, b) {
    var x = key(a), y = key(b), order;
    if (numeric) {
      if (isNaN(x)) { return isNaN(y) ? 0 : 1; }  // missing values last
      if (isNaN(y)) { return -1; }
      order = x < y ? -1 : (x > y ? 1 : 0);
    } else {  // "clip-2" before "clip-10"; case ignored
      order = x.localeCompare(y, undefined, {numeric: true, sensitivity: "base"});
    }
    return descending ? -order : order;
  });
  rows.forEach(function (row) { body.appendChild(row); });
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
    if (i === column) {
      th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    } else {
      th.removeAttribute("aria-sort");
    }
  });
}
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.addEventListener("click", function () {
        var current = th.getAttribute("aria-sort");
        var descending = current ? current === "ascending"
          : th.dataset.type === "num";
        sortTable(table, i, descending);
      });
    });
  });
});
"""


def esc(value):
    """Text for HTML, quotes included (safe in attributes too)."""
    return html.escape(str(value), quote=True)


def fmt(value, digits=3):
    """A number for display; an em dash for missing ones."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "\u2014"
    return f"{value:.{digits}f}"


def cell(text, *, value=None, numeric=False, raw=False):
    """One table cell: escaped ``text`` (or ``raw`` HTML) with a sort key."""
    content = text if raw else esc(text)
    attrs = ' class="num"' if numeric else ""
    if value is not None:
        key = "NaN" if isinstance(value, float) and math.isnan(value) else value
        attrs += f' data-value="{esc(key)}"'
    return f"<td{attrs}>{content}</td>"


def table(headers, rows, *, sortable=True, table_id=None, sorted_by=None):
    """A table; ``headers`` are (label, "num" | "text"); rows hold cell() HTML.

    ``sorted_by`` = (column, "descending" | "ascending") marks the order the
    rows are already in.
    """
    head = []
    for i, (label, kind) in enumerate(headers):
        attrs = f' data-type="{kind}"'
        if kind == "num":
            attrs += ' class="num"'
        if sorted_by is not None and sorted_by[0] == i:
            attrs += f' aria-sort="{sorted_by[1]}"'
        head.append(f"<th{attrs}>{esc(label)}</th>")
    identifier = f' id="{esc(table_id)}"' if table_id else ""
    classes = ' class="sortable"' if sortable else ""
    body = "\n".join(f"<tr>{''.join(row)}</tr>" for row in rows)
    return (
        f"<table{identifier}{classes}>\n<thead><tr>{''.join(head)}</tr></thead>\n"
        f"<tbody>\n{body}\n</tbody>\n</table>"
    )


def page(title, body, *, root="", nav=()):
    """A whole page; ``root`` is the relative path to the report folder.

    ``nav`` holds (href, label) pairs; ``body`` is HTML built by the caller.
    """
    links = "".join(f'<a href="{esc(href)}">{esc(label)}</a>' for href, label in nav)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{root}style.css">
<script src="{root}sort.js" defer></script>
</head>
<body>
<nav>{links}</nav>
<h1>{esc(title)}</h1>
{body}
</body>
</html>
"""


def audio_player(src):
    """An audio element that loads only its duration until played."""
    return f'<audio controls preload="metadata" src="{esc(src)}"></audio>'


def bar_cell(value, fraction, *, width_em=8):
    """A cell with a number, then a bar of ``fraction`` (0..1) of ``width_em``.

    Numbers are right-aligned in a fixed-width box and bars start at one
    left edge, so both columns read at a glance.
    """
    fraction = min(max(float(fraction), 0.0), 1.0)
    return (
        f'<td class="barcell" data-value="{esc(value)}">'
        f'<span class="val">{value:.3f}</span>'
        f'<span class="bar" style="width:{fraction * width_em:.2f}em"></span></td>'
    )


def histogram_svg(values, *, n_zero=0, bins=30, width=420, height=140, label="value"):
    """Inline SVG histogram of ``values`` (the nonzero activations).

    ``n_zero`` (samples where the unit did not fire) is stated in the caption
    rather than drawn: it would dwarf every other bar of a sparse latent.
    """
    values = np.asarray(values, dtype=float)
    caption = f"{len(values)} nonzero, {n_zero} zero"
    if len(values) == 0:
        return f'<p class="note">No nonzero {esc(label)} ({caption}).</p>'
    low, high = float(values.min()), float(values.max())
    if high <= low:
        high = low + 1e-12
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    left, bottom, top = 40, height - 22, 12
    plot_width = width - left - 10
    step = plot_width / bins
    tallest = counts.max()
    rects = []
    for i, count in enumerate(counts):
        if count == 0:
            continue
        h = (bottom - top) * count / tallest
        rects.append(
            f'<rect x="{left + i * step:.1f}" y="{bottom - h:.1f}" '
            f'width="{max(step - 1, 1):.1f}" height="{h:.1f}">'
            f"<title>{edges[i]:.3g} to {edges[i + 1]:.3g}: {count}</title></rect>"
        )
    return (
        f'<svg class="hist" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>Histogram of {esc(label)} ({caption})</title>"
        f'<line x1="{left}" y1="{bottom}" x2="{width - 10}" y2="{bottom}"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"/>'
        + "".join(rects)
        + f'<text x="{left}" y="{height - 6}">{low:.3g}</text>'
        f'<text x="{width - 10}" y="{height - 6}" text-anchor="end">{high:.3g}</text>'
        f'<text x="{(left + width) / 2:.0f}" y="{height - 6}" '
        f'text-anchor="middle">{esc(label)}</text>'
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{tallest}</text>'
        f'<text x="{left - 4}" y="{bottom}" text-anchor="end">0</text>'
        "</svg>"
        f'<p class="note">{caption}</p>'
    )


def trim_waveform(waveform, sample_rate, seconds):
    """At most ``seconds`` of ``waveform``, from where the sound starts.

    Leading near-silence (below 1% of the peak) is skipped so that a short
    excerpt of a clip that begins quietly still holds its sound.
    """
    waveform = np.asarray(waveform, dtype=np.float32)
    peak = float(np.abs(waveform).max()) if waveform.size else 0.0
    start = 0
    if peak > 0:
        start = int(np.argmax(np.abs(waveform) > 0.01 * peak))
    return waveform[start : start + max(1, int(round(seconds * sample_rate)))]


def write_clip_audio(waveform, sample_rate, path, *, seconds, quality=0.3):
    """Write an excerpt as OGG Vorbis (small, and played by every browser).

    ``quality`` is Vorbis's 0..1 quality (libsndfile's compression level is
    one minus it); 0.3 keeps speech clear at about 4 kB per second.
    """
    import soundfile

    excerpt = trim_waveform(waveform, sample_rate, seconds)
    # Vorbis rejects samples outside [-1, 1] only by clipping them badly.
    excerpt = np.clip(excerpt, -1.0, 1.0)
    soundfile.write(
        path,
        excerpt,
        sample_rate,
        format="OGG",
        subtype="VORBIS",
        compression_level=1.0 - quality,
    )
    return len(excerpt) / sample_rate


def write_assets(output):
    """The stylesheet and the sorting script every page links to."""
    output = Path(output)
    (output / "style.css").write_text(STYLE, encoding="utf-8")
    (output / "sort.js").write_text(SCRIPT, encoding="utf-8")


# -- pages -------------------------------------------------------------------------
# ``context`` is the report-wide dict built by report._context; units and clips
# are the records of report._units and report._clips.


def _best_text(best):
    if best is None:
        return "\u2014"
    auc, attribute, cls = best
    return f"{attribute} = {cls}"


def _index_nav(root):
    return ((f"{root}index.html", "All units"), (f"{root}clips.html", "All clips"))


def units_index(context, units):
    """index.html: every unit, sortable."""
    word = context["word"]
    headers = [
        # Latents sort by number; concepts by name.
        (word.capitalize(), "num" if context["kind"] == "sae" else "text"),
        ("Fires on" if context["kind"] == "sae" else "Active in", "num"),
        (f"Max {context['value']}", "num"),
        ("Best AUC", "num"),
        ("Best attribute", "text"),
    ]
    if context["has_nearest"]:
        headers.append(("Nearest concept", "text"))
    if context["has_steering"]:
        headers.append(("Steering shift", "num"))
    order = sorted(
        range(len(units)), key=lambda i: (-units[i]["frequency"], units[i]["column"])
    )
    rows = []
    for i in order:
        unit = units[i]
        best = unit["best"]
        auc = float("nan") if best is None else best[0]
        row = [
            cell(
                f'<a href="{esc(unit["href"])}">{esc(unit["name"])}</a>',
                value=unit["name"] if context["kind"] == "concepts" else unit["column"],
                raw=True,
            ),
            cell(
                f"{unit['frequency']:.1%} ({unit['n_active']})",
                value=unit["frequency"],
                numeric=True,
            ),
            cell(fmt(unit["max"]), value=unit["max"], numeric=True),
            cell(fmt(auc), value=auc, numeric=True),
            cell(_best_text(best)),
        ]
        if context["has_nearest"]:
            name, cosine = unit["nearest"][0]
            row.append(cell(f"{name} ({cosine:.2f})"))
        if context["has_steering"]:
            shift = (
                float("nan") if unit["steering"] is None else unit["steering"]["shift"]
            )
            row.append(cell(fmt(shift, 4), value=shift, numeric=True))
        rows.append(row)
    body = (
        "".join(f'<p class="summary">{esc(fact)}</p>' for fact in context["facts"])
        + f'<p class="note">Click a column header to sort. Each {word} links to '
        "its page: top clips to listen to, histogram, AUCs.</p>"
        + table(headers, rows, table_id="units", sorted_by=(1, "descending"))
    )
    return page(context["title"], body, nav=_index_nav(""))


def clips_index(context, clips, units):
    """clips.html: every clip with its labels and strongest units."""
    headers = [("Clip", "text")]
    headers += [(name, "text") for name in context["attributes"]]
    headers += [(f"Active {context['word']}s", "num"), ("Strongest", "text")]
    rows = []
    for clip in clips:
        row = [
            cell(
                f'<a href="{esc(clip["href"])}">{esc(clip["id"])}</a>',
                value=clip["id"],
                raw=True,
            )
        ]
        row += [cell(clip["attributes"][name]) for name in context["attributes"]]
        row.append(cell(str(clip["n_active"]), value=clip["n_active"], numeric=True))
        row.append(cell(", ".join(units[p]["name"] for p, _ in clip["top"][:3])))
        rows.append(row)
    body = f'<p class="summary">{len(clips)} clips.</p>' + table(
        headers, rows, table_id="clips"
    )
    return page("Clips", body, nav=_index_nav(""))


def _clip_audio(clip, root):
    if clip["audio"] is None:
        return (
            f'<span class="note">audio unavailable: {esc(clip["audio_error"])}</span>'
        )
    return audio_player(root + clip["audio"])


def unit_page(context, units, position, clips):
    """The page of one latent or concept."""
    unit = units[position]
    root = "../"
    word = context["word"]
    parts = [
        f'<p class="summary">{"Fires on" if context["kind"] == "sae" else "Active in"} '
        f"{unit['frequency']:.1%} of clips "
        f"({unit['n_active']} of {unit['n_active'] + unit['n_zero']}); maximum "
        f"{context['value']} {fmt(unit['max'])}, mean when active "
        f"{fmt(unit['mean_active'])}.</p>"
    ]
    parts.append("<h2>Top-activating clips</h2>")
    if unit["top"]:
        headers = [
            ("Rank", "num"),
            ("Clip", "text"),
            (context["value"].capitalize(), "num"),
        ]
        headers += [(name, "text") for name in context["attributes"]]
        headers.append(("Listen", "text"))
        rows = []
        for rank, (index, activation) in enumerate(unit["top"], start=1):
            clip = clips[index]
            row = [
                cell(str(rank), value=rank, numeric=True),
                cell(
                    f'<a href="{root}{esc(clip["href"])}">{esc(clip["id"])}</a>',
                    value=clip["id"],
                    raw=True,
                ),
                cell(fmt(activation), value=activation, numeric=True),
            ]
            row += [cell(clip["attributes"][a]) for a in context["attributes"]]
            row.append(cell(_clip_audio(clip, root), raw=True))
            rows.append(row)
        parts.append(table(headers, rows, table_id="top-clips"))
    else:
        parts.append(f'<p class="note">This {word} fires on no clip.</p>')

    parts.append(f"<h2>{context['value'].capitalize()} histogram</h2>")
    parts.append(
        histogram_svg(unit["values"], n_zero=unit["n_zero"], label=context["value"])
    )

    if unit["steering"] is not None:
        s = unit["steering"]
        direction = "up" if s["shift"] > 0 else "down"
        parts.append("<h2>Steering preview</h2>")
        parts.append(
            f"<p>Setting this latent to {fmt(s['value'])} (its mean activation on "
            f"{esc(s['attribute'])} = {esc(s['class'])}) in {s['n']} clips outside "
            "that class moves their relative similarity to the class "
            "(cosine to its centroid minus cosine to the others' centroid) from "
            f"{fmt(s['before'], 4)} to {fmt(s['after'], 4)}: "
            f'<span class="shift {direction}">{s["shift"]:+.4f}</span>; it rose '
            f"for {s['fraction_increased']:.0%} of them.</p>"
        )
    elif context["has_steering"]:
        parts.append("<h2>Steering preview</h2>")
        parts.append(f'<p class="note">Not computed: this {word} fires on no clip.</p>')

    if unit["nearest"] is not None:
        parts.append("<h2>Nearest concepts of the decoder direction</h2>")
        rows = [
            [
                cell(name),
                bar_cell(c, max(c, 0)),
            ]
            for name, c in unit["nearest"]
        ]
        parts.append(
            table([("Concept", "text"), ("Cosine", "num")], rows, sortable=False)
        )

    if unit["scores"]:
        parts.append("<h2>Attribute AUCs</h2>")
        parts.append(
            f'<p class="note">This {word} alone as a one-vs-rest classifier of each '
            "class (0.5 = chance; 1 = it fires more on every clip of the class).</p>"
        )
        rows = [
            [
                cell(attribute),
                cell(cls),
                bar_cell(auc, auc),
                cell(fmt(accuracy), value=accuracy, numeric=True),
            ]
            for attribute, cls, auc, accuracy in unit["scores"]
        ]
        headers = [
            ("Attribute", "text"),
            ("Class", "text"),
            ("AUC", "num"),
            ("Best accuracy", "num"),
        ]
        parts.append(table(headers, rows, table_id="aucs", sorted_by=(2, "descending")))

    nav = list(_index_nav(root))
    if position > 0:
        nav.append((root + units[position - 1]["href"], "\u2190 previous"))
    if position + 1 < len(units):
        nav.append((root + units[position + 1]["href"], "next \u2192"))
    title = unit["name"] if context["kind"] == "sae" else f"Concept: {unit['name']}"
    return page(title, "\n".join(parts), root=root, nav=nav)


def clip_page(context, clip, clips, units):
    """The page of one clip: its audio, labels and strongest units."""
    root = "../"
    parts = [f"<p>{_clip_audio(clip, root)}</p>"]
    if clip["duration"] is not None:
        parts.append(f'<p class="note">Excerpt of {clip["duration"]:.1f} s.</p>')
    info = [(name, clip["attributes"][name]) for name in context["attributes"]]
    info += list(clip["metadata"].items())
    if info:
        rows = [[cell(name), cell(value)] for name, value in info]
        parts.append(
            table([("Field", "text"), ("Value", "text")], rows, sortable=False)
        )
    word = context["word"]
    parts.append(f"<h2>Strongest {word}s</h2>")
    if clip["top"]:
        largest = clip["top"][0][1]
        rows = []
        for position, activation in clip["top"]:
            unit = units[position]
            rows.append(
                [
                    cell(
                        f'<a href="{root}{esc(unit["href"])}">{esc(unit["name"])}</a>',
                        value=unit["name"],
                        raw=True,
                    ),
                    bar_cell(activation, activation / largest, width_em=12),
                ]
            )
        label = context["value"].capitalize()
        parts.append(
            table(
                [(word.capitalize(), "text"), (label, "num")],
                rows,
                table_id="clip-units",
                sorted_by=(1, "descending"),
            )
        )
        if clip["n_active"] > len(clip["top"]):
            parts.append(
                f'<p class="note">{clip["n_active"]} active in all; the '
                f"{len(clip['top'])} strongest are shown.</p>"
            )
    else:
        parts.append(f'<p class="note">No {word} is active in this clip.</p>')
    nav = list(_index_nav(root))
    i = clip["index"]
    if i > 0:
        nav.append((root + clips[i - 1]["href"], "\u2190 previous"))
    if i + 1 < len(clips):
        nav.append((root + clips[i + 1]["href"], "next \u2192"))
    return page(f"Clip: {clip['id']}", "\n".join(parts), root=root, nav=nav)
