"""The headline: the verdict with the diagnosis, one sentence, the first line of the terminal,
summary.md, report.html and summary.json alike (issue 15). Cases are built from records by
hand: the headline reads only their fields."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace

import numpy as np
import pytest
from rich.console import Console

from harness.case import CaseResult
from harness.compare import TensorRecord
from harness.coverage import Coverage
from harness.headline import headline, tensors_text, verdict
from harness.report import Run, render_html, summary_json, summary_markdown
from harness.spec import NetworkSpec, Problem
from harness.terminal import show_run

PROBLEM = Problem.random(NetworkSpec((3, 5, 4, 2), ("tanh", "tanh", "sigmoid"), "mse"), 6, seed=1)
SHAPES = {1: {"W": (5, 3), "b": (5,)}, 2: {"W": (4, 5), "b": (4,)}, 3: {"W": (2, 4), "b": (2,)}}


def _record(layer: int, param: str, status: str = "ok", diagnosis: str | None = None,
            wrong: int | None = None) -> TensorRecord:  # fmt: skip
    shape = SHAPES[layer][param]
    total = int(np.prod(shape))
    wrong = (total if status != "ok" else 0) if wrong is None else wrong
    ratio = np.full(shape, 1e9 if status == "mismatch" else 0.1)
    detail = f"layer {layer} d{param}: {wrong}/{total} entries wrong"
    return TensorRecord(layer, param, status, detail, shape, total, wrong, ratio=ratio,
                        diagnosis=diagnosis)  # fmt: skip


def _case(*wrong: TensorRecord) -> CaseResult:
    bad = {(r.layer, r.param): r for r in wrong}
    records = tuple(bad.get((l, p), _record(l, p)) for l in (1, 2, 3) for p in "Wb")
    return CaseResult(PROBLEM, records, None, "x.py:backward", "audit x.py:backward")


def _run(*cases: CaseResult, **fields: object) -> Run:
    passed = all(case.passed for case in cases[:1])
    return Run("x.py:backward", 0, "audit", 40, cases, passed, "gradcheck-harness audit x.py",
               **fields)  # type: ignore[arg-type]  # fmt: skip


MISSING = "missing g' of layer 3 (sigmoid)"


def test_tensors_sharing_one_diagnosis_are_named_together() -> None:
    case = _case(*(_record(l, p, "mismatch", MISSING) for l in (1, 2, 3) for p in "Wb"))
    assert headline(_run(case)) == f"FAIL: layers 1–3 dW, db — {MISSING}"


def test_an_undiagnosed_tensor_says_how_many_entries_are_wrong() -> None:
    case = _case(_record(2, "W", "mismatch", None, wrong=3))
    assert headline(_run(case)) == "FAIL: layer 2 dW — 3/20 entries wrong, no known pattern"


def test_one_mistake_diagnosed_at_several_places_is_one_finding() -> None:
    case = _case(
        _record(1, "W", "mismatch", "tanh' written as 1 - tanh(z) at layers 1, 2"),
        _record(1, "b", "mismatch", "tanh' written as 1 - tanh(z) at layers 1, 2"),
        _record(2, "W", "mismatch", "tanh' written as 1 - tanh(z) at layer 2"),
    )
    assert headline(_run(case)) == (
        "FAIL: layer 1 dW, db and layer 2 dW — tanh' written as 1 - tanh(z) at layers 1, 2"
    )
    transposed = _case(*(_record(l, "W", "mismatch", f"looks transposed (shape {l})")
                         for l in (1, 2, 3)))  # fmt: skip
    assert headline(_run(transposed)) == "FAIL: layers 1–3 dW — looks transposed"


def test_different_mistakes_are_each_named_and_the_rest_counted() -> None:
    case = _case(
        _record(1, "W", "mismatch", "scaled by m = 6"),
        _record(2, "b", "mismatch", None, wrong=1),
        _record(3, "W", "mismatch", "sign-flipped"),
    )
    text = headline(_run(case))
    assert text.startswith("FAIL: layer 1 dW — scaled by m = 6; layer 2 db — 1/4 entries wrong")
    assert text.endswith("; and 1 more finding")


def test_pass_warnings_fault_robustness_and_interrupted() -> None:
    passing = _case()
    assert headline(_run(passing)) == ("PASS: x.py:backward agrees with the sources on 40 examples")
    assert headline(_run(passing, judged=30)).endswith(
        "on 30 examples (10 more outside its declared support)"
    )
    assert headline(_run(passing, warned=2)).startswith(
        "PASS with warnings: x.py:backward: 2 of 40 examples have imprecise entries"
    )
    fault = _case(TensorRecord(2, "W", "source-disagreement", "HARNESS FAULT at layer 2 dW"))
    assert verdict(_run(fault)) == "HARNESS FAULT"
    assert headline(_run(fault)).startswith(
        "HARNESS FAULT: the sources contradict each other at layer 2 dW"
    )
    wrong = _case(_record(3, "b", "mismatch", "sign-flipped"))
    robust = "robustness: the formulas agree at weight scale ≤ 1 (30 examples); at 10 …"
    assert headline(_run(wrong, robustness=robust)) == (
        "FAIL (robustness): the formulas agree at weight scale ≤ 1 (30 examples); at 10 …"
    )
    stopped = _run(passing, interrupted=True, judged=12)
    assert verdict(stopped) == "INTERRUPTED"
    assert headline(stopped) == (
        "INTERRUPTED (Ctrl-C) after 12 examples judged: no failure so far; not a pass"
    )
    assert headline(_run(wrong, interrupted=True)) == (
        "FAIL (interrupted after 40 examples): layer 3 db — sign-flipped"
    )


def test_tensors_text_names_ranges_and_the_whole_call() -> None:
    records = [_record(1, "b"), _record(3, "b"), TensorRecord(None, None, "raises", "boom")]
    assert tensors_text(records) == "whole call and layers 1, 3 db"


@pytest.mark.parametrize("passing", [True, False], ids=["pass", "fail"])
def test_one_headline_leads_every_report(passing: bool) -> None:
    case = _case() if passing else _case(_record(2, "W", "mismatch", "looks transposed"))
    run = _run(case)
    expected = headline(run)
    assert summary_markdown(run).splitlines()[0] == f"# {expected}"
    h1 = re.search(r"<h1[^>]*>(.*?)</h1>", render_html(run))
    assert h1 is not None and h1.group(1) == expected.replace("'", "&#x27;")
    summary = json.loads(summary_json(run))
    keys = list(summary)
    assert summary["headline"] == expected and keys.index("headline") == keys.index("verdict") + 1
    out = io.StringIO()
    console = Console(file=out, width=200, highlight=False)
    assert show_run(console, run, 2.0, lambda timed: "report: nowhere") is passing
    lines = out.getvalue().splitlines()
    assert lines[0] == expected
    if passing:  # coverage, not a layer table
        assert any(line.startswith("  gradient entries compared: ") for line in lines)
        assert any(line.startswith("  duration: 2.0 s") for line in lines)
        assert "┃ where" not in out.getvalue()
    else:
        assert "┃ where" in out.getvalue() and "reproduce: " in out.getvalue()


def test_reports_show_their_headline_in_a_notebook_escaped() -> None:
    from harness.auditing import AuditReport, CheckReport

    wrong = _case(_record(2, "W", "mismatch", "looks <transposed>"))
    evil = CheckReport(replace(wrong, candidate="<b>evil</b>.py:f"))
    fragment = evil._repr_html_()
    assert "FAIL: layer 2 dW — looks &lt;transposed&gt;" in fragment
    assert "<b>evil" not in fragment and "<table" in fragment and "layer 2 dW" in fragment
    passing = AuditReport((_case(),), 40, None, judged=40, coverage=Coverage.of([_case()] * 40))
    page = passing._repr_html_()
    assert "PASS: x.py:backward agrees with the sources on 40 examples" in page
    assert "gradient entries compared" in page
