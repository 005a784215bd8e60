"""Coverage: what a run tried, counted over every example judged — not over the few cases a
report keeps — with the closest call (the entry nearest its bound that still agreed)."""

from __future__ import annotations

import json
import re

import numpy as np

import reference
from harness.campaign import PROFILES, run_campaign
from harness.case import CaseResult
from harness.compare import TensorRecord
from harness.coverage import Coverage, coverage_rows
from harness.report import Run, summary_json, summary_markdown
from harness.spec import NetworkSpec, Problem


def test_a_campaign_counts_every_example_not_only_the_cases_it_keeps() -> None:
    result = run_campaign(reference.backward, candidate="reference:backward",
                          profile=PROFILES["quick"], seed=5, examples=12)  # fmt: skip
    coverage = result.coverage
    assert coverage is not None and result.passed
    assert len(result.cases) < 12
    assert coverage.examples == result.examples == 12 and coverage.judged == result.judged
    assert sum(coverage.depths.values()) == coverage.judged
    assert sum(coverage.losses.values()) == coverage.judged
    assert sum(coverage.activations.values()) == sum(d * n for d, n in coverage.depths.items())
    kept = Coverage.of(result.cases)
    assert coverage.entries > kept.entries > 0
    closest = coverage.closest
    assert closest is not None and 0 < closest.ratio <= 1
    assert re.fullmatch(r"layer \d+ d[Wb]\[\d+(, \d+)?\]", closest.where)
    assert closest.reproduce.startswith("gradcheck-harness verify --candidate reference:backward")


def test_the_closest_call_is_the_largest_ratio_of_an_entry_that_agreed() -> None:
    problem = Problem.random(NetworkSpec((2, 3, 1), ("tanh", "sigmoid"), "mse"), 4, seed=0)

    def record(layer: int, param: str, status: str, ratio: list[float]) -> TensorRecord:
        values = np.array(ratio)
        return TensorRecord(layer, param, status, "", values.shape, values.size, ratio=values)

    records = (
        record(1, "W", "ok", [0.1, 0.7, 0.2]),
        record(1, "b", "ok", [0.3, 0.01, 0.05]),
        record(2, "W", "mismatch", [1e9, 0.9, 0.1]),  # wrong: not a close call
        record(2, "b", "ok", [0.2]),
    )
    coverage = Coverage.of([CaseResult(problem, records, None, "x.py:f")])
    assert coverage.closest is not None
    assert (coverage.closest.ratio, coverage.closest.where) == (0.7, "layer 1 dW[1]")
    assert coverage.entries == 10 and coverage.judged == 1


def test_coverage_is_in_every_report_and_a_pass_leads_with_it() -> None:
    problem = Problem.random(NetworkSpec((2, 3, 1), ("tanh", "sigmoid"), "mse"), 4, seed=0)
    ok = TensorRecord(1, "W", "ok", "", (3, 2), 6, ratio=np.full((3, 2), 0.25))
    case = CaseResult(problem, (ok,), None, "x.py:f")
    coverage = Coverage.of([case] * 3)
    run = Run("x.py:f", 0, "default", 3, (case,), True, "cmd", coverage=coverage, seconds=75.0)
    summary = json.loads(summary_json(run))["coverage"]
    assert summary["judged"] == 3 and summary["entries_compared"] == 18
    assert summary["activations"] == {"sigmoid": 3, "tanh": 3}
    assert summary["depths"] == {"2": 3} and summary["seconds"] == 75.0
    markdown = summary_markdown(run)
    assert markdown.index("## Coverage") < markdown.index("## Sampled passing cases")
    assert "| duration | 1 min 15 s (0.04 examples/s) |" in markdown
    rows = dict(coverage_rows(coverage, 75.0))
    assert rows["widths (every n_l)"] == "1–3 (median 2)"
    assert rows["closest call (largest |Δ|/bound)"].startswith("0.25 at layer 1 dW[0, 0] of ")
