"""What a run says to CI: a JUnit XML file, GitHub Actions annotations, a plain progress line.

A run's records (`harness.report.Run`) are rendered here for machines that read CI logs; the
person at a terminal gets `harness.cli`'s tables. Nothing here judges: it formats the verdict
the run already holds.

- `junit_xml`: one ``<testsuite>``, one ``<testcase>`` per case the report shows (the minimal
  failing case first, then the first failure if it differs, warnings, passing samples); a
  failing case carries ``<failure>`` (``<error>`` for a harness fault) whose message is the
  headline of its first failing tensor and whose body is every failing record, where the error
  starts, and the reproduce line. The campaign's counts are ``<properties>``.
- `github_annotations`: GitHub's workflow commands, ``::error title=…::…`` per failing tensor of the
  minimal case, ``::warning`` per imprecise tensor and for an interrupted run, escaped as the
  runner reads them (``%``, CR, LF; in properties also ``:`` and ``,``).
- `PlainProgress`: in a log (stdout not a terminal), one line every few seconds instead of a
  progress bar: ``verify: 120/4000 examples, 0 failing, 14 s``.
"""

from __future__ import annotations

import os
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import IO, TYPE_CHECKING

from harness.headline import tensor_line

if TYPE_CHECKING:
    from harness.case import CaseResult
    from harness.report import Run

__all__ = ["PlainProgress", "github_annotations", "junit_xml", "write_junit_xml"]

#: Seconds between two progress lines in a log.
PROGRESS_EVERY = 5.0


def _case_name(case: CaseResult) -> str:
    spec = case.problem.spec
    widths = ",".join(str(n) for n in spec.sizes)
    return (f"sizes {widths}, {','.join(spec.activations)}, {spec.loss.name}, batch "
            f"{case.problem.batch}, weight scale {case.problem.weight_scale:g}")  # fmt: skip


def junit_xml(run: Run, command: str, seconds: float) -> bytes:
    """The JUnit XML document of ``run`` (``command``: "verify" or "audit")."""
    failures = sum(1 for c in run.cases if not c.passed and not c.harness_fault)
    errors = sum(1 for c in run.cases if c.harness_fault)
    suite = ET.Element(
        "testsuite",
        name=f"gradcheck-harness {command} {run.candidate}",
        tests=str(len(run.cases)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=f"{seconds:.3f}",
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("candidate", run.candidate),
        ("seed", str(run.seed)),
        ("examples", str(run.examples)),
        ("judged", str(run.judged_count)),
        ("warned", str(run.warned_count)),
        ("interrupted", str(run.interrupted).lower()),
        ("command", run.command),
    ):
        ET.SubElement(properties, "property", name=name, value=value)
    for case in run.cases:
        testcase = ET.SubElement(suite, "testcase", classname=run.candidate,
                                 name=_case_name(case), time="0")  # fmt: skip
        if not case.passed:
            failing = case.failing
            message = tensor_line(failing[0]) if failing else "failed"
            kind = "error" if case.harness_fault else "failure"
            body = [record.detail for record in failing]
            if case.origin:
                body.append(f"where the error starts: {case.origin}")
            body.append(f"reproduce: {case.reproduce}")
            kind_name = "harness fault" if case.harness_fault else "mismatch"
            element = ET.SubElement(testcase, kind, message=message, type=kind_name)
            element.text = "\n".join(body)
        elif case.warnings:
            out = ET.SubElement(testcase, "system-out")
            out.text = "\n".join(f"warning: {record.detail}" for record in case.warnings)
    if run.robustness:
        ET.SubElement(suite, "system-out").text = run.robustness
    if run.interrupted:
        note = f"interrupted (Ctrl-C) after {run.examples} example(s): a partial run"
        ET.SubElement(suite, "system-err").text = note
    ET.indent(suite)
    document: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def write_junit_xml(run: Run, command: str, seconds: float, path: str | Path) -> Path:
    """Write `junit_xml` to ``path`` atomically (a temporary file beside it, then renamed)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = junit_xml(run, command, seconds)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def escape_data(text: str) -> str:
    """A workflow command's message, as the GitHub runner reads it back."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (``title=``, ``file=``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(kind: str, title: str, message: str, file: str | None) -> str:
    properties = [f"file={escape_property(file)}"] if file else []
    properties.append(f"title={escape_property(title)}")
    return f"::{kind} {','.join(properties)}::{escape_data(message)}"


def github_annotations(run: Run) -> list[str]:
    """GitHub Actions workflow commands for ``run``: errors for the failing tensors of the
    minimal failing case, warnings for imprecise tensors and for an interrupted run."""
    path = run.candidate.rpartition(":")[0] if ".py:" in run.candidate else None
    file = path if path and Path(path).is_file() else None
    lines = []
    minimal = run.cases[0] if run.cases and not run.cases[0].passed else None
    if minimal is not None:
        label = "harness fault" if minimal.harness_fault else "gradient wrong"
        for record in minimal.failing:
            message = f"{record.detail}\nreproduce: {minimal.reproduce}"
            lines.append(_command("error", f"gradcheck-harness: {label}: {tensor_line(record)}",
                                  message, file))  # fmt: skip
    for record in run.warnings:
        lines.append(_command("warning", f"gradcheck-harness: {tensor_line(record)}",
                              record.detail, file))  # fmt: skip
    if run.interrupted:
        lines.append(_command("warning", "gradcheck-harness: interrupted",
                              f"interrupted after {run.examples} example(s): a partial run",
                              None))  # fmt: skip
    return lines


class PlainProgress:
    """A progress callback (phase, done, planned) that prints a line every `PROGRESS_EVERY`
    seconds to ``stream``: ``verify: 120/4000 examples, 0 failing, 14 s``."""

    def __init__(self, command: str, stream: IO[str], every: float = PROGRESS_EVERY) -> None:
        self.command, self.stream, self.every = command, stream, every
        self.start = self.last = time.monotonic()

    def __call__(self, phase: str, done: int, planned: int) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        failing = "1 failing, shrinking it" if phase == "shrinking" else "0 failing"
        line = (f"{self.command}: {done}/{planned} examples, {failing}, "
                f"{now - self.start:.0f} s")  # fmt: skip
        print(line, file=self.stream, flush=True)
