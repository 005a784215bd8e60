"""The first line of every report: the verdict *with* the diagnosis, in one sentence.

``headline(run)`` is what the terminal prints first, summary.md's ``#`` heading, report.html's
``<h1>`` and summary.json's ``"headline"``, so the four never disagree:

- ``FAIL: layers 1–3 dW, db — missing g' of layer 3 (sigmoid)``
- ``FAIL: layer 2 dW — 3/12 entries wrong, no known pattern``
- ``PASS: reference.backward agrees with the sources on 4000 examples``
- ``INTERRUPTED (Ctrl-C) after 812 examples judged: no failure so far; not a pass``

Tensors of the minimal failing case that share one diagnosis are named together, so one bug
that propagates through every layer reads as one finding, not six.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from harness.case import CaseResult
from harness.compare import TensorRecord

if TYPE_CHECKING:
    from harness.report import Run

__all__ = ["failure_text", "headline", "tensors_text", "verdict"]

#: Distinct findings a headline names before it says how many more there are.
SHOWN: Final = 2


def verdict(run: Run) -> str:
    """ "PASS", "FAIL", "HARNESS FAULT" (any case's sources contradict each other), or
    "INTERRUPTED" (Ctrl-C ended the campaign before any failure: not a pass)."""
    if any(case.harness_fault for case in run.cases):
        return "HARNESS FAULT"
    if run.interrupted and _minimal(run) is None:
        return "INTERRUPTED"
    return "PASS" if run.passed else "FAIL"


def headline(run: Run) -> str:
    """The verdict with the diagnosis, one line (see the module docstring)."""
    v = verdict(run)
    minimal = _minimal(run)
    judged = run.judged_count
    if v == "HARNESS FAULT":
        faults = [
            r for case in run.cases for r in case.records if r.status == "source-disagreement"
        ]
        return (f"HARNESS FAULT: the sources contradict each other at {tensors_text(faults)}; "
                f"the candidate is not judged")  # fmt: skip
    if v == "INTERRUPTED":
        return (f"INTERRUPTED (Ctrl-C) after {_examples(judged)} judged: no failure so far; "
                f"not a pass")  # fmt: skip
    if minimal is not None:
        if run.interrupted:
            return f"FAIL (interrupted after {_examples(run.examples)}): {failure_text(minimal)}"
        if run.robustness:
            return f"FAIL (robustness): {run.robustness.removeprefix('robustness: ')}"
        return f"FAIL: {failure_text(minimal)}"
    if v == "FAIL":  # no failing case kept (a Run built by hand)
        return "FAIL: the candidate's gradient is wrong"
    fast = " along one random direction each (fast mode)" if _fast(run) else ""
    outside = run.examples - judged
    unjudged = f" ({outside} more outside its declared support)" if outside > 0 else ""
    if run.warned_count:
        return (f"PASS with warnings: {run.candidate}: {run.warned_count} of "
                f"{_examples(judged)} have imprecise entries, none is wrong{fast} (a precision "
                f"choice, not a logic bug; --strict makes them fail)")  # fmt: skip
    return f"PASS: {run.candidate} agrees with the sources on {_examples(judged)}{fast}{unjudged}"


def failure_text(case: CaseResult) -> str:
    """What is wrong in ``case``: its failing tensors grouped by diagnosis, the first
    ``SHOWN`` groups named (``layers 1, 2 dW, db — tanh' written as 1 - tanh(z) at layers 1,
    2``), then how many more."""
    groups: dict[str, list[TensorRecord]] = {}
    for record in case.failing:
        groups.setdefault(_finding(record), []).append(record)
    merged = _merge(groups)
    parts = []
    for what, records in merged[:SHOWN]:
        if records[0].status == "mismatch" and records[0].diagnosis is None:
            wrong = sum(r.mismatched for r in records)
            total = sum(r.total for r in records)
            what = f"{wrong}/{total} entries wrong, no known pattern"
        elif records[0].status == "imprecise":
            wrong = sum(r.imprecise for r in records)
            total = sum(r.total for r in records)
            what = f"{wrong}/{total} entries imprecise (strict)"
        named = tensors_text(records)
        parts.append(f"{named} — {what}" if named else what)
    more = len(merged) - SHOWN
    text = "; ".join(parts) or "the candidate's gradient is wrong"
    return f"{text}; and {more} more finding{'s' * (more > 1)}" if more > 0 else text


def tensors_text(records: Sequence[TensorRecord]) -> str:
    """``layers 1–3 dW, db``, ``layer 1 dW, db and layer 2 dW``, ``whole call``: the tensors of
    ``records``, layers with the same tensors named together."""
    by_layer: dict[int, list[str]] = {}
    whole = False
    for r in records:
        if r.layer is None:
            whole = True
        elif f"d{r.param}" not in by_layer.setdefault(r.layer, []):
            by_layer[r.layer].append(f"d{r.param}")
    same: dict[tuple[str, ...], list[int]] = {}
    for layer in sorted(by_layer):
        same.setdefault(tuple(sorted(by_layer[layer], key="dWdb".index)), []).append(layer)
    parts = ["whole call"] if whole else []
    for params, layers in sorted(same.items(), key=lambda item: item[1][0]):
        word = "layer" if len(layers) == 1 else "layers"
        parts.append(f"{word} {_ranges(layers)} {', '.join(params)}")
    return " and ".join(parts)


def _ranges(layers: list[int]) -> str:
    """``1–3``, ``1, 3``: consecutive runs of three or more as a range."""
    runs: list[list[int]] = []
    for n in layers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(
        f"{run[0]}–{run[-1]}" if len(run) > 2 else ", ".join(map(str, run)) for run in runs
    )


def _finding(record: TensorRecord) -> str:
    """What is wrong with one tensor, without where: its diagnosis, or its detail's first
    clause (a shape, a dtype, an exception)."""
    if record.status == "mismatch":
        return record.diagnosis or "no known pattern"
    if record.status == "imprecise":
        return "imprecise"
    first = record.detail.split("; ", 1)[0]
    prefix = f"{record.where}: "
    return first.removeprefix(prefix) if record.layer is not None else f"{record.status}: {first}"


def _stem(text: str) -> str:
    """A diagnosis without where it holds: ``looks transposed (dW.T, …)`` -> ``looks
    transposed``; ``tanh' written as … at layers 1, 2`` -> ``tanh' written as …``;
    ``single entry wrong at [4]`` -> ``single entry wrong``."""
    return text.split(" at layer", 1)[0].split(" at [", 1)[0].split(" (", 1)[0]


def _merge(groups: dict[str, list[TensorRecord]]) -> list[tuple[str, list[TensorRecord]]]:
    """Groups whose diagnoses name one mistake at several places (``… at layers 1, 2`` and
    ``… at layer 2``; ``looks transposed (shape of layer 1)`` and ``(… layer 2)``) as one: the
    text naming the most places when they say where, else the shared stem."""
    merged: dict[str, list[tuple[str, list[TensorRecord]]]] = {}
    for text, records in groups.items():
        stem = _stem(text) if records[0].diagnosis else text
        merged.setdefault(stem, []).append((text, records))
    out = []
    for stem, members in merged.items():
        records = [r for _, rs in members for r in rs]
        texts = [text for text, _ in members]
        if len(texts) == 1:
            out.append((texts[0], records))
        elif all(" at layer" in t for t in texts):
            out.append((max(texts, key=len), records))
        else:
            out.append((stem, records))
    return out


def _minimal(run: Run) -> CaseResult | None:
    return run.cases[0] if run.cases and not run.cases[0].passed else None


def _fast(run: Run) -> bool:
    return bool(run.cases) and all(case.mode == "fast" for case in run.cases)


def _examples(n: int) -> str:
    return f"{n} example{'s' * (n != 1)}"


def tensor_line(record: TensorRecord) -> str:
    """``layer 2 dW: 12/12 entries wrong, looks transposed``: one tensor, one line (the terminal's
    failing tensors, the junit failures, the GitHub annotations)."""
    if record.status == "mismatch":
        pattern = record.diagnosis or "no known pattern"
        return f"{record.where}: {record.mismatched}/{record.total} entries wrong, {pattern}"
    if record.status == "imprecise":
        strict = "" if record.passed else " (strict)"  # imprecise fails only under strict
        return (f"{record.where}: {record.imprecise}/{record.total} entries imprecise{strict}: "
                f"beyond the rounding model, within the precision band")  # fmt: skip
    return record.detail
