"""The pytest plugin (entry point ``pytest11``): gradient checks as ordinary assertions.

>>> from harness.pytest_plugin import assert_backprop_correct
>>> def test_my_backprop():
...     assert_backprop_correct(my_backward, examples=50)   # a Hypothesis campaign
...     assert_backprop_correct(my_backward, problem=Problem.random(spec, 8, seed=0))

A failure raises `GradientMismatch` (an `AssertionError`, so pytest shows it as a failed
assertion, without this helper's source: ``__tracebackhide__``) whose message starts with the
headline of the reports (the verdict with the diagnosis), then says, per wrong tensor, what the
candidate returned, what the sources agree on, where, the pattern it looks like, and the command
that replays it; then the path of the report written. ``--gradcheck-report-dir DIR`` chooses
where reports go (default ``reports``), and the terminal summary lists every report written
during the session.

The candidate runs in a worker process (`harness.isolation`), so nothing it does — patching
``harness``, threads left running after a timeout, signals, ``os._exit`` — reaches pytest's
process or changes the verdict of a later test. ``--gradcheck-isolation inline`` (or
``isolation="inline"``) calls it in pytest's own process instead, to step through it in a
debugger; ``--gradcheck-memory-limit`` sets the worker's address-space limit (``4G``, ``none``).

Imprecise entries (beyond the rounding model, within the precision band: `harness.Tiers`) pass
with a `GradientPrecisionWarning`, which pytest lists in its warnings summary;
``--gradcheck-strict`` (or ``strict=True``) makes them fail. ``precision="float32"`` judges
float32 code against float32 rounding.

This module imports pytest only for its hooks' type hints, so ``assert_backprop_correct`` can be
used from any test runner.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.auditing import AuditReport, CheckReport, audit, check
from harness.candidate import ISOLATIONS, Backward
from harness.case import CaseResult
from harness.headline import headline
from harness.isolation import DEFAULT_MEMORY_LIMIT, close_all, parse_memory
from harness.report import Run, write_report
from harness.spec import NetworkSpec, Problem
from harness.tolerance import DEFAULT_TIERS, Tiers

if TYPE_CHECKING:
    import pytest

__all__ = ["GradientMismatch", "GradientPrecisionWarning", "assert_backprop_correct"]

#: Where reports go and which were written, set by the plugin when pytest configures it.
_session: dict[str, Any] = {
    "report_dir": Path("reports"),
    "written": [],
    "isolation": "process",
    "memory_limit": DEFAULT_MEMORY_LIMIT,
    "strict": False,
}

_UNSET: Any = object()


class GradientMismatch(AssertionError):  # noqa: N818 - the name users assert on
    """A backprop whose gradients disagree with the sources (or that misbehaves)."""

    def __init__(self, message: str, report: CheckReport | AuditReport, path: Path | None):
        super().__init__(message)
        self.report = report
        self.report_path = path


class GradientPrecisionWarning(UserWarning):
    """A backprop that passed with imprecise entries: a precision choice (an eps, a clip, a
    formula that loses accuracy), not a logic bug. ``--gradcheck-strict`` makes it a failure."""


def assert_backprop_correct(
    backward: Backward | str,
    *,
    problem: Problem | None = None,
    spec: NetworkSpec | None = None,
    examples: int = 50,
    seed: int = 0,
    supports: Mapping[str, Any] | None = None,
    timeout: float = 30.0,
    report_dir: str | Path | None = None,
    isolation: str | None = None,
    memory_limit: int | None = _UNSET,
    precision: str = "float64",
    strict: bool | None = None,
    tiers: Tiers = DEFAULT_TIERS,
) -> None:
    """Raise `GradientMismatch` unless ``backward`` computes the right gradients.

    With ``problem``: that one problem (`harness.check`); otherwise a campaign of ``examples``
    Hypothesis examples over ``spec``'s family or the declared support (`harness.audit`).
    A report is written only when something is wrong. ``isolation`` ("process" or "inline")
    and ``memory_limit`` (bytes, None for none) default to the session's
    ``--gradcheck-isolation`` and ``--gradcheck-memory-limit``; ``strict`` to
    ``--gradcheck-strict``. A pass with imprecise entries warns (`GradientPrecisionWarning`).
    """
    __tracebackhide__ = True  # pytest shows the test's line and the message, not this helper
    directory = Path(report_dir) if report_dir is not None else _session["report_dir"]
    boundary: dict[str, Any] = {
        "isolation": _session["isolation"] if isolation is None else isolation,
        "memory_limit": _session["memory_limit"] if memory_limit is _UNSET else memory_limit,
        "precision": precision,
        "strict": _session["strict"] if strict is None else strict,
        "tiers": tiers,
    }
    report: CheckReport | AuditReport
    if problem is not None:
        report = check(backward, problem, timeout=timeout, **boundary)
        cases: tuple[CaseResult, ...] = (report.case,)
        examples_run = 1
    else:
        report = audit(
            backward,
            spec=spec,
            examples=examples,
            seed=seed,
            supports=supports,
            timeout=timeout,
            **boundary,
        )
        cases = report.cases
        examples_run = report.examples
    if report.passed:
        if report.warnings:
            details = "\n".join(f"  {r.detail}" for r in report.warnings)
            warnings.warn(
                GradientPrecisionWarning(
                    f"passed with imprecise entries (not wrong; --gradcheck-strict fails "
                    f"them):\n{details}"
                ),
                stacklevel=2,
            )
        return
    name = cases[0].candidate or "candidate"
    run = Run(
        candidate=name,
        seed=seed,
        profile="pytest",
        examples=examples_run,
        cases=cases,
        passed=False,
        command=cases[0].reproduce,
        coverage=report.coverage if isinstance(report, AuditReport) else None,
    )
    close_all()  # nothing the candidate left running outlives the verdict or touches the report
    path = write_report(run, directory)
    _session["written"].append(path)
    raise GradientMismatch(f"{headline(run)}\n{report}\nreport: {path}", report, path)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradcheck", "gradcheck harness")
    group.addoption(
        "--gradcheck-report-dir",
        default="reports",
        metavar="DIR",
        help="where assert_backprop_correct writes reports of failing gradients (default: reports)",
    )
    group.addoption(
        "--gradcheck-isolation",
        default="process",
        choices=ISOLATIONS,
        help="where assert_backprop_correct runs the candidate: 'process' (a worker process it "
        "can kill; the default) or 'inline' (pytest's own process: unsafe, for a debugger)",
    )
    group.addoption(
        "--gradcheck-memory-limit",
        default=None,
        metavar="SIZE",
        help="the worker's address-space limit, e.g. 4G, 512M or none (default: 8G)",
    )
    group.addoption(
        "--gradcheck-strict",
        action="store_true",
        help="assert_backprop_correct fails on imprecise entries (beyond the rounding model, "
        "within the precision band) instead of warning",
    )


def pytest_configure(config: pytest.Config) -> None:
    _session["report_dir"] = Path(config.getoption("--gradcheck-report-dir"))
    _session["written"] = []
    _session["isolation"] = config.getoption("--gradcheck-isolation")
    _session["strict"] = bool(config.getoption("--gradcheck-strict"))
    limit = config.getoption("--gradcheck-memory-limit")
    try:
        _session["memory_limit"] = DEFAULT_MEMORY_LIMIT if limit is None else parse_memory(limit)
    except ValueError as error:
        import pytest  # this module imports pytest only where pytest runs it

        raise pytest.UsageError(f"--gradcheck-memory-limit: {error}") from None


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    written: list[Path] = _session["written"]
    if written:
        terminalreporter.section("gradcheck reports")
        for path in written:
            terminalreporter.write_line(f"gradcheck report: {path}")
