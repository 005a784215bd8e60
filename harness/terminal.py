"""What the CLI prints at the end of a run: the headline first, then the evidence.

The first line is `harness.headline.headline` — the same sentence as summary.md's heading and
report.html's ``<h1>``. A pass then shows what it covered (`harness.coverage`): the
activations, losses, depths and widths drawn, the entries compared, the closest call and the
duration — never the layer table of whichever tiny net happened to be sampled. A failure shows
the minimal failing case: each failing tensor, where the error starts, the layer table and the
line that reproduces it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.case import CaseResult
from harness.coverage import coverage_rows
from harness.headline import headline, tensor_line, verdict
from harness.report import Run

__all__ = ["layer_table", "show_run"]

_STYLE = {"PASS": "bold green", "FAIL": "bold red", "HARNESS FAULT": "bold magenta",
          "INTERRUPTED": "bold yellow"}  # fmt: skip


def show_run(console: Console, run: Run, seconds: float, write: Callable[[Run], str]) -> bool:
    """Print the verdict of ``run`` (which took ``seconds``), ``write`` its report (it returns
    the line that says where, or why not) and print that; True when the run passed."""
    run = replace(run, seconds=seconds)
    cases = run.cases
    minimal = cases[0] if cases and not cases[0].passed else None
    v = verdict(run)
    style = "bold yellow" if v == "PASS" and run.warned_count else _STYLE[v]
    console.print(f"[{style}]{escape(headline(run))}[/]", soft_wrap=True)
    fast = cases[0].fast if cases else None
    if fast is not None:
        console.print(escape(fast.summary), soft_wrap=True)
        confirmed = cases[0].fast_confirmed
        if confirmed is not None:
            verb = "confirms" if confirmed else "does NOT confirm"
            console.print(f"a full check {verb} the localized entries", soft_wrap=True)
    if minimal is None:
        for record in run.warnings:
            console.print(f"  warning: {escape(record.detail)}", soft_wrap=True)
        for what, drawn in coverage_rows(run.covered, run.seconds):
            console.print(f"  {escape(what)}: {escape(drawn)}", soft_wrap=True)
    else:
        console.print(f"{escape(run.candidate)}: minimal failing case after {run.examples} "
                      f"example(s) ({run.judged_text}):", soft_wrap=True)  # fmt: skip
        for record in minimal.failing:
            console.print(f"  {escape(tensor_line(record))}", soft_wrap=True)
        if minimal.origin:
            console.print(f"  where the error starts: {escape(minimal.origin)}", soft_wrap=True)
        console.print(layer_table(minimal))
        console.print(f"reproduce: {escape(minimal.reproduce)}", soft_wrap=True)
    console.print(escape(write(run)), soft_wrap=True)
    return minimal is None


def layer_table(case: CaseResult) -> Table:
    """Every tensor of ``case``: status, wrong entries, max |Δ|, diagnosis, worst entry."""
    table = Table(title=escape(repr(case.problem)), title_justify="left", show_lines=False)
    for column in ("where", "status", "wrong", "max |Δ|", "diagnosis", "worst entry"):
        table.add_column(column, overflow="fold")
    fast_pass = case.fast is not None and case.fast.passed  # no per-entry |Δ| was computed
    for record in case.records:
        style = "green" if record.passed else "bold red"
        diagnosis = record.diagnosis or ("no known pattern" if record.status == "mismatch" else "")
        table.add_row(
            record.where,
            f"[{style}]{record.status}[/]",
            f"{record.mismatched}/{record.total}" if record.total else "",
            f"{record.max_abs_error:.1e}" if record.total and not fast_pass else "",
            escape(diagnosis),
            escape(record.detail.split("; ", 1)[-1]),
        )
    if case.taylor is not None:
        order = "n/a" if case.taylor.order is None else f"{case.taylor.order:.2f}"
        table.caption = f"Taylor remainder order {order} ({case.taylor.verdict})"
    return table
