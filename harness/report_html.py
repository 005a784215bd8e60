"""report.html: one self-contained page that leads with the answer.

Its ``<h1>`` is the headline (`harness.headline`: the verdict with the diagnosis). A pass then
shows what it covered (``<table id="coverage">``, `harness.coverage`); a failure shows its cases,
the coverage last. For every case and every (layer, tensor) there is a
``<section class="layer-section">`` with a stable id (``case0-layer2-W``; ``case0-call`` for a
whole-call finding) holding an inline SVG grid: one cell per entry, blue where |Δ| ≤ bound
(fine, paler the smaller |Δ|/bound), orange to dark red where |Δ| > bound (wrong), coloured by
|Δ| / |expected| from 1e-8 to 1 — not by |Δ|/bound, which is ~1e10 for every entry of a real
bug — so a wrong row, a wrong column or a transpose (a red matrix with a blue diagonal) shows.
Each cell's tooltip gives both ratios. A bias is drawn as a column, beside the rows of its W.
Tensors larger than `MAX_CELLS` per side are max-pooled (the worst entry of each block shows),
and the page says so. Each case's Taylor remainder is a small log-log plot (remainder against
step, with slope-2 and slope-1 guides). No network: inline CSS and SVG, no script, system
fonts. All text is escaped.

The words shared with summary.md (verdict, case titles, Taylor line, number formatting) live
here too, so that `harness.report` imports this module and not the other way round.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import numpy as np

from harness.case import CaseResult
from harness.compare import TensorRecord
from harness.coverage import coverage_rows
from harness.headline import headline, verdict
from harness.network import Array
from harness.taylor_plot import taylor_plot

if TYPE_CHECKING:
    from harness.report import Run

__all__ = [
    "MAX_CELLS",
    "case_titles",
    "downsample",
    "fragment",
    "index_text",
    "ratio_color",
    "rel_color",
    "render_html",
    "section_id",
    "taylor_text",
    "value_text",
    "verdict",
]

#: At most this many cells per side of a heatmap; larger tensors are max-pooled.
MAX_CELLS: Final = 64
#: The log10 range of the colour scale: fine from 1e-8 to 1, wrong from 1 to 1e12 (|Δ|/bound);
#: a wrong entry's |Δ|/|expected| from 1e-8 to 1.
FINE_DECADES: Final = 8.0
WRONG_DECADES: Final = 12.0
REL_DECADES: Final = 8.0
_FINE = ((0xDF, 0xE8, 0xF5), (0x2F, 0x64, 0xB0))  # pale to strong blue
_WRONG = ((0xFD, 0xB8, 0x63), (0x67, 0x00, 0x0D))  # orange to dark red
_NAN = "#9e9e9e"

_CSS: Final = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;
 color:#1d1d1f;background:#fff;max-width:1400px}
h1{font-size:22px;margin:0 0 8px}
h1.headline{padding:8px 12px;border-radius:6px;color:#fff;line-height:1.3}
h1.PASS{background:#2e7d32}h1.FAIL{background:#b71c1c}h1.HARNESS-FAULT{background:#6a1b9a}
h1.INTERRUPTED{background:#8d6e00}h1.PASS.WARN{background:#e65100}.meta{color:#444;margin:4px 0}
.origin{font-weight:600}
figure.taylor{margin:6px 0 10px;display:flex;gap:12px;align-items:center}
figure.taylor figcaption{font-size:12px;color:#555;max-width:420px}
table#coverage th{text-align:left;white-space:nowrap}table#coverage td{text-align:left}
h2{font-size:18px;margin:28px 0 6px}
h3{font-size:14px;margin:0 0 4px}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#f4f5f7;padding:8px 10px;border-radius:4px;margin:4px 0 8px;
 white-space:pre-wrap;overflow-wrap:anywhere}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600}
.PASS,.ok{background:#2e7d32}.FAIL,.mismatch,.shape,.dtype,.nonfinite,.count,.raises,.timeout,
.crashed,.memory,.mutates_inputs,.nondeterministic{background:#b71c1c}.unsupported{background:#757575}
.HARNESS-FAULT,.source-disagreement{background:#6a1b9a}.undecidable{background:#8d6e00}
.imprecise,.WARN{background:#e65100}.warnings{border-left:4px solid #e65100;padding:2px 10px}
.case{border-top:2px solid #ddd;margin-top:24px}
.grid{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.layer-section{border:1px solid #ccc;border-radius:6px;padding:10px;min-width:240px;
 max-width:620px}
.layer-section.bad{border:2px solid #b71c1c}.detail{margin:2px 0 6px;font-size:12.5px}
.note{color:#555;font-size:12px;margin:2px 0}
.novalues{padding:18px;background:repeating-linear-gradient(45deg,#eee,#eee 6px,#fff 6px,
 #fff 12px);border:1px dashed #999;font-size:12.5px}
table{border-collapse:collapse;font-size:12.5px;margin:4px 0 8px}
td,th{border:1px solid #ddd;padding:2px 8px;text-align:right}
th{background:#f4f5f7}td:first-child,th:first-child{text-align:left}
.legend{display:flex;gap:16px;align-items:center;flex-wrap:wrap;margin:10px 0}
summary{cursor:pointer;font-size:16px;font-weight:600;margin:10px 0}
"""


# --- words shared with summary.md -----------------------------------------------------------


def case_titles(cases: Sequence[CaseResult]) -> list[str]:
    """ "Minimal failing case" for a failing first case, then "Failing case k", "Passing case k"."""
    titles = []
    failing = passing = 0
    for position, case in enumerate(cases):
        if case.passed:
            passing += 1
            titles.append(f"Passing case {passing}")
        else:
            failing += 1
            titles.append("Minimal failing case" if position == 0 else f"Failing case {failing}")
    return titles


def taylor_text(case: CaseResult) -> str:
    """The observed Taylor order and what it means, in one line."""
    taylor = case.taylor
    if taylor is None:
        return "not run"
    order = "n/a" if taylor.order is None else f"{taylor.order:.2f}"
    meaning = {
        "order-2": "the remainder shrinks like γ²: consistent with dJ/dθ",
        "order-1": "the remainder shrinks like γ: evidence the candidate is not dJ/dθ",
        "inconclusive": "too few remainders above float64 noise to tell",
    }.get(taylor.verdict, taylor.verdict)
    return f"{order} ({taylor.verdict}: {meaning})"


def value_text(value: float, other: float, abs_error: float) -> str:
    """``value`` with enough significant digits to differ visibly from ``other``."""
    if not (math.isfinite(value) and math.isfinite(other)) or abs_error <= 0:
        return f"{value:.6g}"
    scale = max(abs(value), abs(other))
    digits = 4 if scale == 0 else max(4, math.ceil(math.log10(scale / abs_error)) + 2)
    return f"{value:.{min(digits, 17)}g}"


def index_text(index: Sequence[int]) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


def section_id(case_index: int, record: TensorRecord) -> str:
    """The stable DOM id of a record's section: ``case0-layer2-W``, or ``case0-call``."""
    if record.layer is None:
        return f"case{case_index}-call"
    return f"case{case_index}-layer{record.layer}-{record.param}"


# --- colour and pooling ---------------------------------------------------------------------


def _mix(pair: tuple[tuple[int, int, int], tuple[int, int, int]], t: float) -> str:
    lo, hi = pair
    r, g, b = (round(a + (c - a) * t) for a, c in zip(lo, hi))
    return f"#{r:02x}{g:02x}{b:02x}"


def ratio_color(ratio: float) -> str:
    """Blue for |Δ|/bound ≤ 1 (paler the smaller), orange to dark red above 1, log scale."""
    if math.isnan(ratio):
        return _NAN
    if ratio <= 1.0:
        decades = math.log10(ratio) if ratio > 0 else -FINE_DECADES
        return _mix(_FINE, min(max(1.0 + decades / FINE_DECADES, 0.0), 1.0))
    decades = math.log10(ratio) if math.isfinite(ratio) else WRONG_DECADES
    return _mix(_WRONG, min(decades / WRONG_DECADES, 1.0))


def rel_color(rel: float) -> str:
    """A wrong entry's colour: orange for |Δ|/|expected| ≤ 1e-8 to dark red for ≥ 1, log scale."""
    if math.isnan(rel):
        return _NAN
    decades = math.log10(rel) if rel > 0 else -REL_DECADES
    return _mix(_WRONG, min(max(1.0 + decades / REL_DECADES, 0.0), 1.0))


def _cell_color(ratio: float, rel: float | None) -> str:
    """Blue by |Δ|/bound where the entry agrees; where it is wrong, by |Δ|/|expected| when
    known (else by |Δ|/bound)."""
    if rel is None or math.isnan(ratio) or ratio <= 1.0:
        return ratio_color(ratio)
    return rel_color(rel)


def downsample(ratio: Array, max_cells: int = MAX_CELLS) -> tuple[Array, tuple[int, int]]:
    """Max-pool a 2-D array to at most ``max_cells`` per side; NaN only where a block is all NaN."""
    rows, cols = ratio.shape
    bh, bw = math.ceil(rows / max_cells), math.ceil(cols / max_cells)
    if bh == 1 and bw == 1:
        return ratio, (1, 1)
    R, C = math.ceil(rows / bh), math.ceil(cols / bw)
    padded = np.full((R * bh, C * bw), -np.inf)
    padded[:rows, :cols] = ratio
    blocks = padded.reshape(R, bh, C, bw)
    pooled: Array = np.fmax.reduce(np.fmax.reduce(blocks, axis=3), axis=1)
    return pooled, (bh, bw)


# --- the page -------------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _grid(values: Array) -> Array:
    return values.reshape(-1, 1) if values.ndim == 1 else values.reshape(values.shape[0], -1)


def _heatmap(record: TensorRecord) -> str:
    assert record.ratio is not None
    ratio = np.asarray(record.ratio, dtype=np.float64)
    grid = _grid(ratio)
    pooled, (bh, bw) = downsample(grid)
    rel = None
    if record.rel is not None and record.status in ("mismatch", "imprecise"):
        rel, _ = downsample(_grid(np.asarray(record.rel, dtype=np.float64)))
    R, C = pooled.shape
    cell = max(4, min(32, 384 // max(R, C)))
    left, top = 30, 16
    width, height = left + C * cell + 2, top + R * cell + 2
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(record.where)} heatmap">',
        '<g font-size="9" fill="#555" font-family="ui-monospace,monospace">',
    ]
    for r in range(0, R, max(1, math.ceil(R / 8))):
        y = top + r * cell + cell / 2 + 3
        parts.append(f'<text x="{left - 4}" y="{y:.1f}" text-anchor="end">{r * bh}</text>')
    for c in range(0, C, max(1, math.ceil(C / 8))):
        x = left + c * cell + cell / 2
        parts.append(f'<text x="{x:.1f}" y="{top - 4}" text-anchor="middle">{c * bw}</text>')
    parts.append("</g>")
    gap = 1 if cell >= 6 else 0
    for r in range(R):
        for c in range(C):
            value = float(pooled[r, c])
            relative = None if rel is None else float(rel[r, c])
            where = (
                index_text((r, c) if ratio.ndim == 2 else (r,))
                if (bh, bw) == (1, 1)
                else f"rows {r * bh}–{min((r + 1) * bh, grid.shape[0]) - 1}, "
                f"cols {c * bw}–{min((c + 1) * bw, grid.shape[1]) - 1} (max)"
            )
            tip = f"{where}: |Δ|/bound = {value:.2g}"
            if relative is not None:
                tip += f", |Δ|/|expected| = {relative:.2g}"
            parts.append(
                f'<rect x="{left + c * cell}" y="{top + r * cell}" width="{cell - gap}" '
                f'height="{cell - gap}" fill="{_cell_color(value, relative)}">'
                f"<title>{_e(tip)}</title></rect>"
            )
    for entry in record.worst if record.status == "mismatch" else ():
        r = entry.index[0] // bh
        c = (entry.index[1] if len(entry.index) > 1 else 0) // bw
        parts.append(
            f'<circle cx="{left + c * cell + (cell - gap) / 2:.1f}" '
            f'cy="{top + r * cell + (cell - gap) / 2:.1f}" r="{max(1.5, cell / 6):.1f}" '
            f'fill="#fff" stroke="#000" stroke-width="1"/>'
        )
    parts.append("</svg>")
    shape = "×".join(str(n) for n in ratio.shape)
    note = f"{shape} entries"
    if (bh, bw) != (1, 1):
        note += f", shown as {R}×{C} cells, each the max of a {bh}×{bw} block"
    if record.status == "mismatch":
        note += "; white dots: the worst entries (table below)"
    if record.undecidable:
        note += f"; {record.undecidable} entries cross a ReLU kink (undecidable, not wrong)"
    return "".join(parts) + f'<p class="note">{_e(note)}</p>'


def _worst_table(record: TensorRecord) -> str:
    if record.status not in ("mismatch", "imprecise") or not record.worst:
        return ""
    label = "Mismatched" if record.status == "mismatch" else "Imprecise"
    count = record.mismatched if record.status == "mismatch" else record.imprecise
    rows = "".join(
        f"<tr><td>{_e(index_text(e.index))}</td>"
        f"<td>{_e(value_text(e.candidate, e.expected, e.abs_error))}</td>"
        f"<td>{_e(value_text(e.expected, e.candidate, e.abs_error))}</td>"
        f"<td>{e.abs_error:.1e}</td><td>{e.bound:.1e}</td></tr>"
        for e in record.worst
    )
    return (
        f'<p class="note">{label} elements: {count} / {record.total}; '
        f"max abs difference {record.max_abs_error:.1e}, max rel difference "
        f"{record.max_rel_error:.1e}</p><table><tr><th>Index</th><th>Candidate</th>"
        f"<th>Expected</th><th>abs error</th><th>bound</th></tr>{rows}</table>"
    )


def _section(case_index: int, record: TensorRecord) -> str:
    bad = "" if record.passed else " bad"
    body = (
        _heatmap(record)
        if record.ratio is not None
        else f'<div class="novalues">no per-entry values: {_e(record.status)} finding</div>'
    )
    return (
        f'<section class="layer-section{bad}" id="{section_id(case_index, record)}">'
        f'<h3>{_e(record.where)} <span class="badge {_e(record.status)}">'
        f"{_e(record.status)}</span></h3>"
        f'<p class="detail">{_e(record.detail)}</p>{body}{_worst_table(record)}</section>'
    )


def _taylor_figure(case: CaseResult) -> str:
    plot = taylor_plot(case)
    if not plot:
        return ""
    return (
        f'<figure class="taylor">{plot}<figcaption>Taylor remainder r(γ) = |J(θ + γv) − J(θ) − '
        f"γ g·v| along one random direction v: it shrinks like γ² (slope 2) when g is dJ/dθ. "
        f"Hollow dots: below the float64 noise floor (dotted), not fitted.</figcaption></figure>"
    )


def _case(case_index: int, case: CaseResult, title: str) -> str:
    status = "HARNESS FAULT" if case.harness_fault else ("PASS" if case.passed else "FAIL")
    badge = f'<span class="badge {status.replace(" ", "-")}">{status}</span>'
    if case.passed and case.warnings:
        badge += ' <span class="badge WARN">WARNINGS</span>'
    overview = "".join(
        f'<tr><td><a href="#{section_id(case_index, r)}">{_e(r.where)}</a></td>'
        f'<td><span class="badge {_e(r.status)}">{_e(r.status)}</span></td>'
        + (
            f"<td>{r.mismatched} / {r.total}</td><td>{r.max_abs_error:.1e}</td></tr>"
            if r.total
            else "<td>—</td><td>—</td></tr>"  # a whole-call finding: no entries compared
        )
        for r in case.records
    )
    origin = (
        f'<p class="origin">Where the error starts: {_e(case.origin)}</p>' if case.origin else ""
    )
    body = (
        f"<p>Spec: <code>{_e(repr(case.problem.spec))}</code><br>"
        f"Problem: <code>{_e(repr(case.problem))}</code></p>"
        f"<p>Reproduce:</p><pre>{_e(case.reproduce)}</pre>"
        f"<p>Taylor remainder order: {_e(taylor_text(case))}</p>{_taylor_figure(case)}{origin}"
        f"<table><tr><th>tensor</th><th>status</th><th>wrong / total</th>"
        f"<th>max abs error</th></tr>{overview}</table>"
        f'<div class="grid">{"".join(_section(case_index, r) for r in case.records)}</div>'
    )
    if case.passed:
        return (
            f'<section class="case" id="case{case_index}"><details><summary>{_e(title)} '
            f"{badge}</summary>{body}</details></section>"
        )
    return (
        f'<section class="case" id="case{case_index}"><h2>{_e(title)} {badge}</h2>{body}</section>'
    )


def _bar(colors: list[str], labels: dict[int, str], title: str) -> str:
    width, pad = 8, 20  # px per stop; room for the end labels
    rects = "".join(
        f'<rect x="{pad + k * width}" y="12" width="{width}" height="14" fill="{color}"/>'
        for k, color in enumerate(colors)
    )
    ticks = "".join(
        f'<text x="{pad + k * width + width / 2:.0f}" y="38" font-size="10" '
        f'text-anchor="middle">{_e(label)}</text>'
        for k, label in labels.items()
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * pad + len(colors) * width}" '
        f'height="42"><text x="{pad}" y="9" font-size="10" font-weight="600">{_e(title)}</text>'
        f"{rects}{ticks}</svg>"
    )


def _legend() -> str:
    quarters = int(FINE_DECADES * 4)
    fine = _bar(
        [ratio_color(10.0 ** (-FINE_DECADES + k / 4)) for k in range(quarters + 1)],
        {0: "≤1e-8", quarters // 2: "1e-4", quarters: "1"},
        "agrees: |Δ| / bound",
    )
    steps = int(REL_DECADES * 4)
    wrong = _bar(
        [rel_color(10.0 ** (-REL_DECADES + k / 4)) for k in range(steps + 1)],
        {0: "≤1e-8", steps // 2: "1e-4", steps: "≥1"},
        "wrong (|Δ| > bound): |Δ| / |expected|",
    )
    return (
        f'<div class="legend">{fine}{wrong}<div>Each cell is one gradient entry. '
        f"<b>Blue</b>: |Δ| ≤ bound, it agrees (paler: further inside its bound). "
        f"<b>Orange to dark red</b>: |Δ| &gt; bound, wrong, coloured by its relative error "
        f"|Δ| / |expected| — a wrong row, column or a transpose shows as a pattern; by |Δ| / "
        f"bound every wrong entry of a real bug is ~1e10 and the map would be solid red. "
        f"Grey: |Δ| = bound = 0. Hover a cell for its index and both ratios.</div></div>"
    )


def _coverage(run: Run) -> str:
    """The coverage table: what the run drew, entries compared, the closest call, duration."""
    rows = "".join(
        f"<tr><th>{_e(what)}</th><td>{_e(drawn)}</td></tr>"
        for what, drawn in coverage_rows(run.covered, run.seconds)
    )
    return (
        f'<section class="coverage"><h2>Coverage</h2><p class="note">Counted over every '
        f"example judged, not only the cases shown below.</p>"
        f'<table id="coverage">{rows}</table></section>'
    )


def _warnings(run: Run) -> str:
    """The imprecise tensors of passing cases: warnings, listed before the cases."""
    if not run.warnings:
        return ""
    items = "".join(f"<li>{_e(r.detail)}</li>" for r in run.warnings)
    return (
        f'<div class="warnings"><h2>Warnings <span class="badge WARN">{run.warned_count} '
        f"example(s)</span></h2><p>Imprecise entries: beyond the rounding model of a correct "
        f"backprop, within the precision band (τ·|expected| + α·max|expected|) — an eps, a "
        f"clip, a formula that loses accuracy. They pass; <code>--strict</code> makes them "
        f"fail.</p><ul>{items}</ul></div>"
    )


def _pattern(record: TensorRecord) -> str:
    return record.diagnosis or ("no known pattern" if record.status == "mismatch" else "")


def fragment(run: Run) -> str:
    """A notebook's view of ``run`` (`_repr_html_`): the headline, the minimal failing case's
    tensors (or the one case's, or the coverage of a passing campaign), the reproduce line.
    Inline styles only: a notebook keeps no page CSS."""
    v = verdict(run)
    colour = {"PASS": "#2e7d32", "FAIL": "#b71c1c", "HARNESS FAULT": "#6a1b9a"}.get(v, "#8d6e00")
    cell = 'style="border:1px solid #ddd;padding:2px 8px;text-align:left"'
    parts = [
        f'<div class="gradcheck"><p style="background:{colour};color:#fff;padding:6px 10px;'
        f'border-radius:4px;font-weight:600;margin:0 0 6px">{_e(headline(run))}</p>'
    ]
    case = run.cases[0] if run.cases else None
    if case is not None and (not case.passed or run.profile == "single"):
        rows = "".join(
            f"<tr><td {cell}>{_e(r.where)}</td><td {cell}>{_e(r.status)}</td>"
            f"<td {cell}>{f'{r.mismatched} / {r.total}' if r.total else '—'}</td>"
            f"<td {cell}>{_e(_pattern(r))}</td></tr>"
            for r in case.records
        )
        head = "".join(f"<th {cell}>{h}</th>" for h in ("tensor", "status", "wrong / total",
                                                         "diagnosis"))  # fmt: skip
        parts.append(f'<table style="border-collapse:collapse"><tr>{head}</tr>{rows}</table>')
        if not case.passed:
            parts.append(f"<pre>{_e(case.reproduce)}</pre>")
    else:
        rows = "".join(
            f"<tr><th {cell}>{_e(what)}</th><td {cell}>{_e(drawn)}</td></tr>"
            for what, drawn in coverage_rows(run.covered, run.seconds)
        )
        parts.append(f'<table style="border-collapse:collapse">{rows}</table>')
    return "".join(parts) + "</div>"


def render_html(run: Run) -> str:
    """The whole page for ``run`` (deterministic: no timestamp, no run id)."""
    v = verdict(run)
    titles = case_titles(run.cases)
    cases = "".join(_case(k, case, title) for k, (case, title) in enumerate(zip(run.cases, titles)))
    failed = bool(run.cases) and not run.cases[0].passed
    interrupted = ", interrupted by Ctrl-C" if run.interrupted else ""
    warn = " WARN" if v == "PASS" and run.warned_count else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(headline(run))} — gradcheck</title><style>{_CSS}</style></head>"
        f'<body><h1 class="headline {v.replace(" ", "-")}{warn}">{_e(headline(run))}</h1>'
        + f'<p class="meta">gradcheck report · candidate <code>{_e(run.candidate)}</code> · '
        f"examples: {run.examples} ({_e(run.judged_text)}{interrupted}) · profile "
        f"{_e(run.profile)} · seed {run.seed}</p>"
        + (f'<p class="robustness"><b>{_e(run.robustness)}</b></p>' if run.robustness else "")
        + f"<p>Reproduce the run:</p><pre>{_e(run.command)}</pre>{_warnings(run)}"
        + ("" if failed else _coverage(run))
        + f"{_legend()}{cases}"
        + (_coverage(run) if failed else "")
        + "</body></html>\n"
    )
