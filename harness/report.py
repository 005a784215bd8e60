"""Findings -> JSON, Markdown and HTML, written atomically to ``reports/<run-id>/``.

`write_report` makes a new directory per run (UTC timestamp and a random suffix; `os.mkdir`
retried on a clash, so no run overwrites another) holding three files:

- ``summary.json``: machine-readable; ``schema_version`` (`SCHEMA_VERSION`), the versions of
  Python, numpy, SymPy, Hypothesis and the harness, the run's settings and verdict, and every
  case's ``CaseResult.as_dict()`` (records, Taylor order, spec, reproduce line). Non-finite floats
  are written as the strings ``"inf"``, ``"-inf"`` and ``"nan"`` (JSON has no such numbers).
- ``summary.md``: the headline (`harness.headline`: the verdict with the diagnosis) as its
  ``#`` heading; for a pass the coverage (`harness.coverage`); for a failure per case the spec,
  the reproduce line, the Taylor order and, for every tensor that is not ok, a
  pytest-approx-shaped block with only the worst entries, then the coverage.
- ``report.html``: one self-contained page, the headline as its ``<h1>``, a heatmap per
  tensor and the Taylor remainder as a log-log plot (`harness.report_html`).

Each file is written to a temporary name in the run directory and `os.replace`'d into place, so a
killed run never leaves a half-written file under a final name. No file holds a timestamp or
the run id: the same `Run` gives byte-identical files (its duration, ``Run.seconds``, is the one
value that differs between two runs of the same seed). ``reports/latest`` is a relative
symlink to the newest complete run, replaced atomically; it moves only after all three files are
in place.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import math
import os
import secrets
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final

import numpy as np

from harness._version import __version__
from harness.case import CaseResult
from harness.compare import DEFAULT_RULES, TensorRecord
from harness.coverage import Coverage, coverage_rows
from harness.errors import HarnessError
from harness.headline import headline, verdict
from harness.report_html import case_titles, index_text, render_html, taylor_text, value_text

__all__ = [
    "SCHEMA_VERSION",
    "ReportDirError",
    "Run",
    "check_report_dir",
    "json_safe",
    "new_run_dir",
    "point_latest",
    "summary_json",
    "summary_markdown",
    "write_atomic",
    "write_report",
]

#: Bumped whenever a key of summary.json changes meaning or disappears.
SCHEMA_VERSION: Final = 1
#: Distributions whose versions summary.json records.
_DISTRIBUTIONS: Final = ("numpy", "sympy", "hypothesis")


@dataclass(frozen=True)
class Run:
    """One verify/audit run, as the report shows it.

    ``cases`` are ordered: the minimal (shrunk) failing case first, then other failing cases,
    then a few sampled passing ones. ``command`` is the command line that reproduces the run.
    """

    candidate: str  # e.g. "reference.backward" or "tests/meta/transposed_dW.py:backward"
    seed: int
    profile: str  # "quick" | "default" | "thorough" | "single"
    examples: int  # examples run
    cases: tuple[CaseResult, ...]
    passed: bool
    command: str
    judged: int | None = None  # examples judged (None: every one, e.g. a single problem)
    warned: int | None = None  # examples with imprecise entries (None: count the cases)
    robustness: str | None = None  # the failure was seen only at large weight scales: how
    interrupted: bool = False  # Ctrl-C ended the campaign early (issue 15)
    coverage: Coverage | None = None  # over every example judged (None: over `cases` alone)
    seconds: float | None = None  # how long the run took (the one field that varies run to run)

    @property
    def warnings(self) -> tuple[TensorRecord, ...]:
        """The imprecise tensors of the passing cases shown: warnings, not failures."""
        return tuple(r for case in self.cases if case.passed for r in case.warnings)

    @property
    def warned_count(self) -> int:
        if self.warned is not None:
            return self.warned
        return sum(1 for case in self.cases if case.passed and case.warnings)

    @property
    def covered(self) -> Coverage:
        """What the run covered: its campaign's `Coverage`, else that of its cases."""
        return self.coverage if self.coverage is not None else Coverage.of(self.cases)

    @property
    def judged_count(self) -> int:
        return self.examples if self.judged is None else self.judged

    @property
    def judged_text(self) -> str:
        return f"{self.judged_count} of {self.examples} judged"


class ReportDirError(HarnessError, OSError):
    """A report directory that cannot take a report (found before the run starts)."""


def check_report_dir(root: Path) -> None:
    """Raise `ReportDirError` naming the cause if ``root`` cannot take a new run directory:
    it is a file, it cannot be written, or its ``latest`` is a real directory."""
    existing = root
    while not existing.exists():
        if existing.is_symlink():  # a dangling link
            raise ReportDirError(f"report directory {root} is a broken symlink; remove it")
        existing = existing.parent
    if not existing.is_dir():
        raise ReportDirError(f"report directory {root}: {existing} is a file, not a directory; "
                             f"pass --report-dir to another place")  # fmt: skip
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ReportDirError(f"report directory {root}: {existing} is not writable; "
                             f"pass --report-dir to a writable place")  # fmt: skip
    latest = root / "latest"
    if latest.exists() and not latest.is_symlink():
        raise ReportDirError(f"{latest} is a real {'directory' if latest.is_dir() else 'file'}, "
                             f"where the harness keeps a symlink to the newest run; move it "
                             f"away or pass another --report-dir")  # fmt: skip


def write_report(run: Run, root: Path | str = "reports") -> Path:
    """Write summary.json, summary.md and report.html to a new ``root/<run-id>/``; return it."""
    texts = {
        "summary.json": summary_json(run),
        "summary.md": summary_markdown(run),
        "report.html": render_html(run),
    }
    root_path = Path(root)
    root_path.mkdir(parents=True, exist_ok=True)
    run_dir = new_run_dir(root_path)
    for name, text in texts.items():
        write_atomic(run_dir / name, text)
    point_latest(root_path, run_dir)
    return run_dir


# --- files and directories ---------------------------------------------------------------------


def new_run_dir(root: Path) -> Path:
    """A fresh directory ``<UTC timestamp>-<random>``; never one that exists already."""
    now = datetime.now(timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%S") + f".{now.microsecond // 1000:03d}Z"
    for _ in range(100):
        run_dir = root / f"{stamp}-{secrets.token_hex(3)}"
        try:
            os.mkdir(run_dir)
        except FileExistsError:
            continue
        return run_dir
    raise FileExistsError(f"no free run directory name under {root} after 100 attempts")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to a temporary file beside ``path``, then rename it into place."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def point_latest(root: Path, run_dir: Path) -> None:
    """Make ``root/latest`` a relative symlink to ``run_dir``, swapped in atomically."""
    tmp = root / f".latest.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    os.symlink(run_dir.name, tmp)
    try:
        os.replace(tmp, root / "latest")
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


# --- summary.json ------------------------------------------------------------------------------


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {
        "python": ".".join(str(part) for part in sys.version_info[:3])
    }
    for dist in _DISTRIBUTIONS:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    versions["gradcheck-harness"] = __version__
    return versions


def json_safe(value: Any) -> Any:
    """Plain JSON values; non-finite floats become the strings "inf", "-inf", "nan"."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        x = float(value)
        if math.isfinite(x):
            return x
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return value


def summary_json(run: Run) -> str:
    """The text of summary.json (deterministic: the same run gives the same bytes)."""
    data = {
        "schema_version": SCHEMA_VERSION,
        "versions": _versions(),
        "candidate": run.candidate,
        "seed": run.seed,
        "profile": run.profile,
        "examples": run.examples,
        "judged": run.judged_count,
        "interrupted": run.interrupted,
        "passed": run.passed,
        "verdict": verdict(run),
        "headline": headline(run),
        "robustness": run.robustness,
        "origin": _origin(run),
        "precision": _rules(run)[0],
        "strict": _rules(run)[1],
        "warned": run.warned_count,
        "warnings": [r.detail for r in run.warnings],
        "command": run.command,
        "cases": [case.as_dict(with_ratio=False) for case in run.cases],
        "coverage": run.covered.as_dict(run.seconds),
    }
    return json.dumps(json_safe(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# --- summary.md --------------------------------------------------------------------------------


def _record_block(record: TensorRecord) -> list[str]:
    """The pytest-approx-shaped block for one record that is not ok."""
    lines = [f"### {record.where} — {record.status}", "", record.detail, ""]
    if record.status in ("mismatch", "imprecise", "undecidable", "nonfinite"):
        label = {
            "mismatch": "Mismatched",
            "imprecise": "Imprecise",
            "undecidable": "Undecidable (at a kink)",
        }.get(record.status, "Non-finite")
        count = {"undecidable": record.undecidable, "imprecise": record.imprecise}.get(
            record.status, record.mismatched
        )
        lines += ["```text", f"{label} elements: {count} / {record.total}"]
        if record.status != "nonfinite":
            lines += [
                f"Max absolute difference: {record.max_abs_error:.1e}",
                f"Max relative difference: {record.max_rel_error:.1e}",
            ]
        lines += ["```", ""]
    if record.status in ("mismatch", "imprecise") and record.worst:
        shown = len(record.worst)
        many = record.mismatched if record.status == "mismatch" else record.imprecise
        if many > shown:
            kind = "wrong" if record.status == "mismatch" else "imprecise"
            lines += [f"The {shown} worst of {many} {kind} entries:", ""]
        lines += [
            "| Index | Candidate | Expected | abs error | bound |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for e in record.worst:
            lines.append(
                f"| {index_text(e.index)} | {value_text(e.candidate, e.expected, e.abs_error)} "
                f"| {value_text(e.expected, e.candidate, e.abs_error)} "
                f"| {e.abs_error:.1e} | {e.bound:.1e} |"
            )
        lines.append("")
    return lines


def _status_table(case: CaseResult) -> list[str]:
    lines = [
        "| layer | tensor | shape | status | wrong / total | max abs error |",
        "| ---: | --- | --- | --- | ---: | ---: |",
    ]
    for r in case.records:
        layer = "—" if r.layer is None else str(r.layer)
        tensor = "whole call" if r.param is None else f"d{r.param}"
        shape = "—" if not r.shape else "×".join(str(n) for n in r.shape)
        lines.append(
            f"| {layer} | {tensor} | {shape} | {r.status} | {r.mismatched} / {r.total} "
            f"| {r.max_abs_error:.1e} |"
        )
    return [*lines, ""]


def _fence(command: str) -> str:
    """A shell line, or a Python call (`harness.replay`) for a candidate no command rebuilds."""
    return "```sh" if command.startswith("gradcheck-harness") else "```python"


def _case_markdown(case: CaseResult, title: str) -> list[str]:
    status = "HARNESS FAULT" if case.harness_fault else "FAIL"
    lines = [f"## {title} — {status}", "", "```python", f"spec = {case.problem.spec!r}"]
    lines.append(f"problem = {case.problem!r}")
    lines += ["```", "", "Reproduce:", "", _fence(case.reproduce), case.reproduce, "```", ""]
    lines += [f"Taylor remainder order: {taylor_text(case)}", ""]
    if case.origin:
        lines += [f"Where the error starts: {case.origin}", ""]
    for record in case.records:
        if record.status != "ok":
            lines += _record_block(record)
    lines += ["#### Every tensor of this case", "", *_status_table(case)]
    return lines


def _coverage_markdown(run: Run) -> list[str]:
    """The coverage table: what the run drew, how many entries it compared, the closest call."""
    lines = ["## Coverage", "", "| what | drawn |", "| --- | --- |"]
    for what, drawn in coverage_rows(run.covered, run.seconds):
        lines.append(f"| {what} | {drawn.replace('|', '∣')} |")
    return [*lines, ""]


def summary_markdown(run: Run) -> str:
    """The text of summary.md: the headline (verdict and diagnosis), then the coverage of a
    pass, or each case of a failure (the minimal failing case first), the coverage last."""
    minimal = run.cases[0] if run.cases and not run.cases[0].passed else None
    lines = [f"# {headline(run)}", "", f"- candidate: `{run.candidate}`"]
    lines += [
        f"- examples: {run.examples}, judged: {run.judged_count} (profile {run.profile})"
        + (", interrupted by Ctrl-C" if run.interrupted else ""),
        f"- precision: {_rules(run)[0]}{', strict' if _rules(run)[1] else ''}",
        f"- seed: {run.seed}",
        "",
        "Reproduce the run:",
        "",
        _fence(run.command),
        run.command,
        "```",
        "",
    ]
    if minimal is None:
        lines += _coverage_markdown(run)
    titles = case_titles(run.cases)
    passing = []
    for case, title in zip(run.cases, titles):
        if case.passed:
            passing.append(
                f"- {title}: PASS `{case.problem!r}`, Taylor order {taylor_text(case)}; "
                f"`{case.reproduce}`"
            )
        else:
            lines += _case_markdown(case, title)
    if run.warnings:
        lines += [
            "## Warnings — imprecise entries",
            "",
            "Beyond the rounding model of a correct backprop, within the precision band "
            "(τ·|expected| + α·max|expected|): an eps, a clip, a formula that loses accuracy. "
            "They pass; `--strict` makes them fail.",
            "",
        ]
        for case in run.cases:
            for record in case.warnings if case.passed else ():
                lines += [f"Reproduce: `{case.reproduce}`", "", *_record_block(record)]
    if minimal is not None:
        lines += _coverage_markdown(run)
    if passing:
        lines += ["## Sampled passing cases", "", *passing, ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _origin(run: Run) -> str | None:
    """Where the error of the minimal failing case starts (`CaseResult.origin`)."""
    return run.cases[0].origin if run.cases and not run.cases[0].passed else None


def _rules(run: Run) -> tuple[str, bool]:
    """The precision and strictness the run's cases were judged by."""
    rules = run.cases[0].rules if run.cases else DEFAULT_RULES
    return rules.precision, rules.strict
