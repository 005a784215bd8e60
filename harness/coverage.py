"""What a run covered: the evidence behind a PASS.

A pass says nothing unless one can see what was tried. `Coverage` is accumulated over every
example a campaign judges (not only the few cases a report keeps): the activations, losses,
depths, widths, batch sizes and weight scales drawn, how many gradient entries were compared one
by one, and the closest call — the largest |Δ| / bound of an entry that agreed, and where.
`run_campaign` feeds it one `CaseResult` at a time (`Coverage.add`); `coverage_rows` renders it
as (what, drawn) rows that the terminal, summary.md and report.html each lay out their own way.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.case import CaseResult

__all__ = ["Closest", "Coverage", "coverage_rows"]


@dataclass(frozen=True)
class Closest:
    """The entry that came nearest its bound while agreeing: |Δ| / bound, where, on what."""

    ratio: float
    where: str  # "layer 2 dW[1, 0]"
    problem: str  # repr of the problem
    reproduce: str

    def as_dict(self) -> dict[str, Any]:
        return {"ratio": self.ratio, "where": self.where, "problem": self.problem,
                "reproduce": self.reproduce}  # fmt: skip


@dataclass
class Coverage:
    """Counts over the examples judged (the candidate was not outside its declared support)."""

    examples: int = 0  # examples seen, judged or not
    judged: int = 0
    activations: Counter[str] = field(default_factory=Counter)  # per layer drawn
    losses: Counter[str] = field(default_factory=Counter)  # str(Loss): "mse (half, sum)"
    depths: Counter[int] = field(default_factory=Counter)
    widths: Counter[int] = field(default_factory=Counter)  # every n_l, input and output too
    batches: Counter[int] = field(default_factory=Counter)
    scales: Counter[str] = field(default_factory=Counter)  # weight scales, "given" for explicit
    l2: int = 0  # examples with an l2 term
    entries: int = 0  # gradient entries compared one by one with the sources
    directions: int = 0  # entries checked only along one random direction (fast-mode passes)
    closest: Closest | None = None

    @classmethod
    def of(cls, cases: Iterable[CaseResult]) -> Coverage:
        """The coverage of ``cases`` alone (a single problem; a Run built without a campaign)."""
        coverage = cls()
        for case in cases:
            coverage.add(case)
        return coverage

    def add(self, case: CaseResult) -> None:
        """Count one judged example (shrink attempts are not examples: don't add them)."""
        self.examples += 1
        if not case.judged:
            return
        self.judged += 1
        spec, problem = case.problem.spec, case.problem
        self.activations.update(spec.activations)
        self.losses[str(spec.loss)] += 1
        self.depths[spec.depth] += 1
        self.widths.update(spec.sizes)
        self.batches[problem.batch] += 1
        scale = problem.weight_scale
        self.scales["given" if scale is None else f"{scale:g}"] += 1
        self.l2 += spec.l2 > 0
        for record in case.records:
            if record.layer is None or record.status not in ("ok", "imprecise", "undecidable",
                                                             "mismatch"):  # fmt: skip
                continue
            if record.ratio is None:
                self.directions += record.total
                continue
            self.entries += record.total
            if record.status != "ok":
                continue
            ratio = np.asarray(record.ratio, dtype=np.float64)
            flat = int(np.nanargmax(ratio)) if np.any(np.isfinite(ratio)) else 0
            top = float(ratio.flat[flat])
            if math.isfinite(top) and (self.closest is None or top > self.closest.ratio):
                index = np.unravel_index(flat, ratio.shape)
                where = f"{record.where}[{', '.join(str(int(i)) for i in index)}]"
                self.closest = Closest(top, where, repr(problem), case.reproduce)

    def as_dict(self, seconds: float | None = None) -> dict[str, Any]:
        """summary.json's ``"coverage"``; counters as {value: examples}, sorted by value."""

        def counts(counter: Counter[Any]) -> dict[str, int]:
            return {str(k): counter[k] for k in sorted(counter, key=_order)}

        return {
            "examples": self.examples,
            "judged": self.judged,
            "activations": counts(self.activations),
            "losses": counts(self.losses),
            "depths": counts(self.depths),
            "widths": counts(self.widths),
            "batches": counts(self.batches),
            "weight_scales": counts(self.scales),
            "l2": self.l2,
            "entries_compared": self.entries,
            "entries_fast": self.directions,
            "closest": None if self.closest is None else self.closest.as_dict(),
            "seconds": seconds,
        }


def _order(key: Any) -> tuple[int, float, str]:
    """Numbers by value, then names alphabetically."""
    try:
        return (0, float(key), "")
    except ValueError:
        return (1, 0.0, str(key))


def _spread(counter: Counter[int]) -> str:
    """``1–16 (median 5)``, or the one value."""
    if not counter:
        return "—"
    values = sorted(counter.elements())
    low, high, median = values[0], values[-1], values[len(values) // 2]
    return str(low) if low == high else f"{low}–{high} (median {median})"


def _tally(counter: Counter[Any], unit: str = "") -> str:
    """``tanh 812 · sigmoid 640``: each value with how often it was drawn, most drawn first
    (numbers in their own order)."""
    if not counter:
        return "—"
    numeric = all(_order(k)[0] == 0 for k in counter)
    keys = sorted(counter, key=_order) if numeric else sorted(counter, key=lambda k: -counter[k])
    return " · ".join(f"{unit}{k}: {counter[k]}" if numeric else f"{k} {counter[k]}" for k in keys)


def duration_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def coverage_rows(coverage: Coverage, seconds: float | None = None) -> list[tuple[str, str]]:
    """(what, drawn) rows, in the order a reader asks: how much, of what, how close, how long."""
    judged = f"{coverage.judged}"
    if coverage.examples != coverage.judged:
        judged += f" of {coverage.examples} (the rest outside the declared support)"
    entries = f"{coverage.entries:,}"
    if coverage.directions:
        entries += f" one by one; {coverage.directions:,} along one random direction (fast mode)"
    rows = [
        ("examples judged", judged),
        ("activations (per layer)", _tally(coverage.activations)),
        ("losses", _tally(coverage.losses)),
        ("depths (layers)", _tally(coverage.depths)),
        ("widths (every n_l)", _spread(coverage.widths)),
        ("batch sizes", _spread(coverage.batches)),
        ("weight scales", _tally(coverage.scales, "×")),
        ("with an l2 term", f"{coverage.l2} examples"),
        ("gradient entries compared", entries),
    ]
    closest = coverage.closest
    if closest is not None:
        rows.append(("closest call (largest |Δ|/bound)",
                     f"{closest.ratio:.2g} at {closest.where} of {closest.problem}"))  # fmt: skip
    if seconds is not None:
        rate = f" ({coverage.examples / seconds:.3g} examples/s)" if seconds > 0 else ""
        rows.append(("duration", f"{duration_text(seconds)}{rate}"))
    return rows
