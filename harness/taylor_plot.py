"""The Taylor remainder of one case as a small inline SVG log-log plot (report.html).

r(γ) = |J(θ + γv) − J(θ) − γ g·v| against the step γ (`harness.taylor` stores both): a
gradient's remainder falls along the slope-2 guide, a wrong one along slope 1. Pure SVG, no
script; every number is formatted here, so the plot needs no escaping.
"""

from __future__ import annotations

import math

from harness.case import CaseResult

__all__ = ["taylor_plot"]


def _log_position(value: float, low: float, high: float, size: float) -> float:
    return (math.log10(value) - low) / (high - low) * size


def taylor_plot(case: CaseResult) -> str:
    """The Taylor remainder r(γ) against the step γ, log-log, as a small inline SVG: filled
    dots above the float64 noise floor (what the order is fitted on), hollow ones below it,
    and slope-2 (a gradient) and slope-1 (not a gradient) guides through the smallest fitted
    step. Empty when no remainder was computed."""
    taylor = case.taylor
    if taylor is None:
        return ""
    points = [(g, r) for g, r in zip(taylor.gammas, taylor.remainders) if g > 0 and r > 0]
    if len(points) < 2:
        return ""
    noise = taylor.noise if taylor.noise is not None and taylor.noise > 0 else None
    gammas, remainders = [g for g, _ in points], [r for _, r in points]
    x0, x1 = math.floor(math.log10(min(gammas))), math.ceil(math.log10(max(gammas)))
    lows = remainders + ([noise] if noise else [])
    y0 = math.floor(math.log10(min(lows)))
    y1 = math.ceil(math.log10(max(remainders)))
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    width, height, left, top, bottom = 300, 190, 46, 10, 30
    plot_w, plot_h = width - left - 10, height - top - bottom

    def at(g: float, r: float) -> tuple[float, float]:
        return (left + _log_position(g, x0, x1, plot_w),
                top + plot_h - _log_position(r, y0, y1, plot_h))  # fmt: skip

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="Taylor remainder against step, log-log" class="taylor">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
        f'stroke="#bbb"/>',
        '<g font-size="9" fill="#555" font-family="ui-monospace,monospace">',
    ]
    x_step = max(1, math.ceil((x1 - x0) / 5))
    for d in range(x0, x1 + 1, x_step):
        x = left + _log_position(10.0**d, x0, x1, plot_w)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" '
                     f'stroke="#e4e4e4"/><text x="{x:.1f}" y="{top + plot_h + 11}" '
                     f'text-anchor="middle">1e{d}</text>')  # fmt: skip
    y_step = max(1, math.ceil((y1 - y0) / 6))
    for d in range(y0, y1 + 1, y_step):
        y = top + plot_h - _log_position(10.0**d, y0, y1, plot_h)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                     f'stroke="#e4e4e4"/><text x="{left - 3}" y="{y + 3:.1f}" '
                     f'text-anchor="end">1e{d}</text>')  # fmt: skip
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 3}" text-anchor="middle">'
                 f"step γ</text></g>")  # fmt: skip
    parts.append(f'<svg x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" '
                 f'overflow="hidden"><g transform="translate({-left},{-top})">')  # fmt: skip
    if noise is not None:
        y = at(gammas[0], noise)[1]
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                     f'stroke="#999" stroke-dasharray="2 3"/>')  # fmt: skip
    fitted = [(g, r) for g, r in points if noise is None or r > noise]
    anchor = fitted[-1] if fitted else points[0]
    for slope, colour, dash in ((2, "#2e7d32", ""), (1, "#b71c1c", ' stroke-dasharray="5 3"')):
        g_lo, g_hi = 10.0**x0, 10.0**x1
        r_lo = anchor[1] * (g_lo / anchor[0]) ** slope
        r_hi = anchor[1] * (g_hi / anchor[0]) ** slope
        (ax, ay), (bx, by) = at(g_lo, r_lo), at(g_hi, r_hi)
        parts.append(f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}" '
                     f'stroke="{colour}" stroke-width="1"{dash} opacity="0.7"/>')  # fmt: skip
    trace = " ".join(f"{x:.1f},{y:.1f}" for x, y in (at(g, r) for g, r in points))
    parts.append(f'<polyline points="{trace}" fill="none" stroke="#1d1d1f" stroke-width="1"/>')
    for g, r in points:
        x, y = at(g, r)
        above = noise is None or r > noise
        fill = "#1d1d1f" if above else "#fff"
        note = "" if above else " (float64 noise, not fitted)"
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{fill}" stroke="#1d1d1f">'
            f"<title>γ = {g:.2e}: r = {r:.2e}{note}</title></circle>"
        )
    parts.append("</g></svg>")
    parts.append(f'<text x="{left + 4}" y="{top + 11}" font-size="9" fill="#2e7d32">'
                 f"slope 2: a gradient</text>"
                 f'<text x="{left + 4}" y="{top + 22}" font-size="9" fill="#b71c1c">'
                 f"slope 1: not one</text>")  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)
