"""The bench's tables, bench.md and bench.json, written atomically to ``<root>/<run-id>/``.

Like harness/report.py: a new directory per run, named by UTC timestamp and a random suffix
(``os.mkdir`` retried on a clash), each file written to a temporary name and ``os.replace``'d into
place, then ``<root>/latest`` re-pointed. Non-finite floats are written as strings in JSON.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from harness import report
from tests.bench.ours import FIGURES

SCHEMA_VERSION = 1

#: competitor -> (label, the figure of ours it is paired with, why).
COMPETITORS: dict[str, tuple[str, str, str]] = {
    "gradcheck": ("torch gradcheck (full)", "fd", "every entry by central differences"),
    "gradcheck_fast": ("torch gradcheck fast_mode", "fast_pass", "one random direction"),
    "check_grads": ("jax check_grads (rev)", "fast_pass", "one random direction"),
    "numdifftools": ("numdifftools.Gradient", "fd", "every entry by central differences"),
    "naive_sympy": ("naive SymPy (expanded loss)", "fd", "every entry, exact derivative"),
}


# --- numbers as text -----------------------------------------------------------------------------


def seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    if value < 1e-6:
        return f"{value * 1e9:.0f} ns"
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    if value < 1.0:
        return f"{value * 1e3:.3g} ms"
    return f"{value:.3g} s"


def flops(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.0f}"


def sci(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1e}"


def ratio(value: float) -> str:
    return f"{value:.3g}×" if value < 100 else f"{value:,.0f}×"


def competitor_cell(result: dict[str, Any] | None, ours: float | None) -> str:
    """``"20.9 s (310×)"``; ``"> 120 s (> 1800×)"`` over the box; ``"—"`` not run."""
    if result is None:
        return "—"
    if result["status"] == "failed":
        return "failed"
    if result["median"] is None:
        box = result["box_s"]
        times = f" (> {ratio(box / ours)})" if ours else ""
        return f"> {box:g} s{times}" + (" (not run)" if result.get("skipped") else "")
    times = f" ({ratio(result['median'] / ours)})" if ours else ""
    runs = len(result["samples"])
    return f"{seconds(result['median'])}{times}" + ("" if runs >= 3 else f" [{runs} run]")


# --- tables --------------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]], text_last: bool = False) -> list[str]:
    """A Markdown table padded so that it also reads as plain text: numbers right-aligned,
    the first column (and the last, if ``text_last``) left-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    left = {0, len(header) - 1} if text_last else {0}

    def line(cells: list[str]) -> str:
        padded = (
            c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        )
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join("-" * (w + 1) + ("-" if i in left else ":") for i, w in enumerate(widths))
        + "|"
    )
    return [line(header), rule, *(line(r) for r in rows)]


def ours_table(data: dict[str, Any]) -> list[str]:
    archs = data["archs"]
    header = ["ours (median)", *(f"{a} P={archs[a]['params']}" for a in archs)]
    rows = [
        [label, *(_ours_cell(archs[a]["ours"][key]) for a in archs)]
        for key, label in FIGURES.items()
    ]
    slowest = [archs[a]["ours"]["fd_cold_compiled"]["samples"] for a in archs]
    rows.append(["FD cold compiled, slowest", *(seconds(max(t) if t else None) for t in slowest)])
    rows.append(["FD used (auto)", *(archs[a]["fd_kernel"] for a in archs)])
    return _table(header, rows)


def _ours_cell(figure: dict[str, Any]) -> str:
    """The median; "FAILED" if the code raised; "(missed)" if fast mode did not find the entry."""
    if "failed" in figure:
        return "FAILED"
    missed = figure.get("outcome", {}).get("found_injected") is False
    return seconds(figure["median"]) + (" (missed)" if missed else "")


def _gap(said: dict[str, Any]) -> str:
    """``"; |g·v - D| 1.9e-06, tolerance 2.8e-05"``, when the fast result says so."""
    try:
        gap = abs(float(said["observed"]) - float(said["expected"]))
        return f"; |g·v - D| {gap:.2g}, tolerance {float(said['tolerance']):.2g}"
    except (KeyError, TypeError, ValueError):
        return ""


def outcome_lines(data: dict[str, Any]) -> list[str]:
    """Figures of ours that failed, what fast mode said about the wrong candidate, and every
    competitor that did not pass."""
    out = []
    for a, arch in data["archs"].items():
        for key, figure in arch["ours"].items():
            if "failed" in figure:
                said = figure["failed"].strip().splitlines()[-1]
                out.append(f"- **FAILED**: {FIGURES[key]} on {a}: {said} (bench.json has more)")
        said = arch["ours"]["fast_localize"].get("outcome")
        if said:
            where = arch["ours"]["fast_localize"]["injected"]
            found = "the injected entry" if said["found_injected"] else "NOT the injected entry"
            out.append(
                f"- fast mode, {a}, dW{where['layer']}{tuple(where['index'])} off by "
                f"{where['relative']:g}: passed={said['passed']}, located {said['located']} "
                f"({found})" + _gap(said)
            )
        for method, result in arch["competitors"].items():
            if result.get("outcome") not in (None, True):
                out.append(f"- {COMPETITORS[method][0]} on {a}: {result['outcome']}")
            if result["status"] == "failed":
                tail = " ".join(str(result.get("stderr", "")).split())[-200:]
                out.append(f"- {COMPETITORS[method][0]} on {a} failed: {tail}")
    return out


def floor_table(data: dict[str, Any]) -> list[str]:
    archs = data["archs"]
    header = ["FLOP floor", *archs]
    rows = [
        ["FD GEMM FLOPs", *(flops(archs[a]["fd_flops"]) for a in archs)],
        ["floor = FLOPs / GEMM rate", *(seconds(archs[a]["floor_s"]) for a in archs)],
        ["% of floor, FD numpy", *(_percent(archs[a], "fd_numpy") for a in archs)],
        ["% of floor, FD compiled", *(_percent(archs[a], "fd_compiled") for a in archs)],
    ]
    return _table(header, rows)


def _percent(arch: dict[str, Any], key: str) -> str:
    t = arch["ours"][key]["median"]
    return "n/a" if not t or not arch["fd_flops"] else f"{100.0 * arch['floor_s'] / t:.3g} %"


def competitors_table(data: dict[str, Any]) -> list[str]:
    archs = data["archs"]
    header = ["competitor (× ours)", *archs, "paired with"]
    rows = []
    for method, (label, pair, _) in COMPETITORS.items():
        cells = []
        for a in archs:
            ours = archs[a]["ours"][_pair_key(archs[a], pair)]["median"]
            cells.append(competitor_cell(archs[a]["competitors"].get(method), ours))
        rows.append([label, *cells, "FD full" if pair == "fd" else "fast (pass)"])
    return _table(header, rows, text_last=True)


def _pair_key(arch: dict[str, Any], pair: str) -> str:
    return f"fd_{arch['fd_kernel']}" if pair == "fd" else pair


def errors_table(data: dict[str, Any]) -> list[str]:
    archs = data["archs"]
    header = ["max error vs reference", *archs, "of what"]
    rows = []
    for key, label in (
        ("closed_form", "closed form"),
        ("symbolic_warm", "symbolic"),
        ("fd_numpy", "FD numpy"),
        ("fd_compiled", "FD compiled"),
    ):
        rows.append([label, *(sci(archs[a]["ours"][key]["error"]) for a in archs), "its gradient"])
    for method, (label, _, _) in COMPETITORS.items():
        results = [archs[a]["competitors"].get(method) for a in archs]
        of = next((r["error_of"] for r in results if r and "error_of" in r), "")
        rows.append([label, *(sci(r.get("error")) if r else "—" for r in results), of])
    for method, label in (("gradcheck", "torch.autograd.grad"), ("check_grads", "jax.grad")):
        results = [archs[a]["competitors"].get(method) for a in archs]
        rows.append(
            [
                label,
                *(sci(r.get("autodiff_error")) if r else "—" for r in results),
                "its gradient (autodiff side)",
            ]
        )
    return _table(header, rows, text_last=True)


def growth_table(data: dict[str, Any]) -> list[str]:
    rows = [[FIGURES[key], "n/a" if k is None else f"{k:.2f}"] for key, k in data["growth"].items()]
    return _table(["ours: t ∝ P^k", "k"], rows)


def fit_exponent(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of log t against log P; None with fewer than two distinct P."""
    pts = [(math.log(P), math.log(t)) for P, t in points if t and t > 0]
    if len({x for x, _ in pts}) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)


# --- bench.md and bench.json ---------------------------------------------------------------------


def markdown(data: dict[str, Any], disagreement_lines: list[str] | None) -> str:
    m, s = data["machine"], data["settings"]
    blas = m["blas"]
    v = m["versions"]
    gemm = m["gemm"]
    out = [
        f"# gradcheck harness bench — run {data['run_id']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['platform']}. BLAS: {blas.get('name')} "
        f"{blas.get('version')} ({blas.get('config')}), threads {blas.get('threads')} "
        f"({blas.get('threads_source')}); numba threads {m['numba_threads']}; torch threads "
        f"{s['torch_threads']}. GEMM rate {gemm['flops_per_s'] / 1e9:.1f} GFLOP/s "
        f"(float64 {gemm['n']}×{gemm['n']} matmul, best of {gemm['repeat']}).",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        "",
        f"Problem: `Problem.random(NetworkSpec(sizes, ('tanh',)*(L-1) + ('sigmoid',), 'mse'), m, "
        f"seed=0)` — issue 6's distribution (checked: {data['problem_matches_issue']}). "
        f"Settings: repeat {s['repeat']}, time box {s['time_box']:g} s, archs "
        f"{','.join(s['archs'])}{', quick' if s['quick'] else ''}. "
        f"Total run time {data['total_s']:.0f} s.",
        "",
        "## Our sources",
        "",
        *ours_table(data),
        "",
        "Median of the repeats after one warm-up call. Symbolic cold: every cache cleared before "
        "each run (on-disk cache off). FD cold: the first call in a fresh process (numba JIT or "
        "cache load included), median over fresh processes. Fast mode: on the reference (pass), "
        "and on reference.backward with the largest |dW| of the middle layer off by 1e-4 relative "
        "(detect + localize). Whole verdict: `check(reference.backward, problem)` with "
        "`str(report)` and `report.to_json()`.",
        "",
        *outcome_lines(data),
        "",
        "## Side by side (time, and its ratio to ours in this run)",
        "",
        *competitors_table(data),
        "",
        "Pairing: a method that estimates every entry (gradcheck full, numdifftools, naive SymPy) "
        "is divided by our finite differences of every entry (the kernel `auto` picks); a method "
        "that checks one random direction (gradcheck fast_mode, check_grads) by our fast mode on "
        "the passing reference. Competitors: median of 3 runs in one child process after an "
        "untimed warm-up call, or the first run alone when it takes over 30 s ([1 run]); "
        f"torch with {s['torch_threads']} threads (as numpy's BLAS), jax with XLA's default. "
        f'Over the {s["time_box"]:g} s time box a run is killed: "> box", and the ratio is a '
        "lower bound; a method over the box on one arch is not run on larger ones (not run).",
        "",
        "## Errors",
        "",
        *errors_table(data),
        "",
        "max|Δ|/max|g_ref| per tensor, max over tensors, against reference.backward; for the "
        'one-direction checkers, the scalar they compare (see "of what").',
        "",
        "## FLOP floor of finite differences",
        "",
        *floor_table(data),
        "",
        "FLOPs = Σ_l P_l · 2 · Σ_{q≥l+2} 2·m·n_{q-1}·n_q: for every parameter of layer l, both "
        "signs, the GEMMs from layer l+2 on (layer l+1 is a rank-1 update). % of floor = floor / "
        "our FD time.",
        "",
        "## Growth with P (least squares on log t vs log P over the archs run)",
        "",
        *growth_table(data),
    ]
    if data.get("memory"):
        out += ["", *memory_lines(data["memory"])]
    if data.get("isolation"):
        from tests.bench.isolation import lines as isolation_lines

        out += ["", "## The worker process (isolation)", "", *isolation_lines(data["isolation"])]
    if disagreement_lines:
        out += ["", "## Disagreement between sources", "", "```", *disagreement_lines, "```"]
    return "\n".join(out) + "\n"


def memory_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The extra-memory section (tests/bench/memory.py), one row per finite-difference kernel."""
    sizes = ", ".join(map(str, rows[0]["sizes"]))
    out = [
        f"## Extra memory of finite differences on ({sizes}), m={rows[0]['batch']}",
        "",
        "| kernel | extra (peak RSS - RSS before) | peak RSS | time |",
        "|---|---:|---:|---:|",
    ]
    for row in rows:
        out.append(
            f"| {row['kernel']} | {row['extra_mib']:.0f} MiB | {row['peak_mib']:.0f} MiB "
            f"| {seconds(row['seconds'])} |"
        )
    out += [
        "",
        "Each kernel in a fresh child process, after a small warm-up estimate; resident memory "
        "(numba's and BLAS's allocations included). Issue 6 allows 256 MiB.",
    ]
    return out


def new_run_dir(root: Path) -> Path:
    """A fresh ``<UTC timestamp>-<random>`` directory under ``root`` (harness.report's)."""
    root.mkdir(parents=True, exist_ok=True)
    return report.new_run_dir(root)


def write(run_dir: Path, data: dict[str, Any], md: str) -> None:
    """bench.json and bench.md into ``run_dir`` (write, then rename), then ``latest`` beside it
    points there: harness.report's own helpers, so a bench run is as crash-safe as a report."""
    text = json.dumps(report.json_safe(data), indent=2, allow_nan=False) + "\n"
    report.write_atomic(run_dir / "bench.json", text)
    report.write_atomic(run_dir / "bench.md", md)
    report.point_latest(run_dir.parent, run_dir)
