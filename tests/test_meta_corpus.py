"""Test the tester end to end: `harness.check` on every backprop of the meta corpus.

For every entry of tests/meta/corpus.py, every spec of a small pool it runs on and two fixed
seeds, ``report = harness.check(entry.backward, problem, timeout=entry.timeout)`` must say
exactly what the entry declares:

- a wrong backprop fails, its findings sit on exactly ``entry.affected(spec)`` (a tensor's
  ``(layer, param)``, or ``(None, None)`` for the whole call) and have the entry's kind (value
  findings beside a whole-call kind only where the entry declares ``values_too``); where the
  bug hides on a spec (``affected`` empty) the check passes;
- a correct backprop passes with no finding at all;
- where the entry names a pattern, `harness.diagnose` names it on ``entry.must_name(spec)``.
  The diagnoser is asked directly for its pattern name; the finding must carry the same
  diagnosis as prose ("scaled by 1/m = 0.25"). These tests skip where `harness.diagnose` is
  missing.

An entry's ``affected`` holds for generic problems. Some data hide a bug on some spec: a relu
unit off on every sample of the batch, bce targets that are all 1 (a wrong (1 - y) term), no
output saturated at the chosen weight scale. The pool and ``SEEDS`` avoid those corners; a new
spec or seed that fails here may have found one (check the data before blaming the harness).

The timeout entry runs with its own 0.5 s timeout, in a test of its own. `test_score_table`
prints flagged / localized exactly / diagnosed / false alarms per style (``pytest -s`` shows it).

tests/meta is imported as `meta`, as in tests/test_meta.py.
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
import pytest
from meta.corpus import CORPUS, DIAGNOSES, STYLES, Entry

import harness
from harness import CheckReport, NetworkSpec, Problem
from harness.auditing import KINDS
from harness.support import declared_support

if TYPE_CHECKING:  # harness.diagnose is imported where it is used: its tests skip without it
    from harness.diagnose import Diagnosis

#: A wrong backprop may overflow or divide by zero (the NaN of bce_unsimplified_saturates is its
#: bug); numpy's warnings from the corpus modules are noise here, the findings say it.
pytestmark = pytest.mark.filterwarnings(r"ignore::RuntimeWarning:meta\.")

SEEDS = (0, 2)
SPECS = (
    NetworkSpec((3, 3, 3, 3), ("tanh", "sigmoid", "identity"), "mse"),
    NetworkSpec((2, 4, 4, 1), ("sigmoid", "leaky_relu", "sigmoid"), "mse"),
    NetworkSpec((4, 5, 3, 2), ("relu", "softplus", "sigmoid"), "bce"),
    NetworkSpec((3, 3, 3), ("sigmoid", "tanh"), "mse"),
    NetworkSpec((4, 4, 4, 4), ("relu", "leaky_relu", "identity"), "mse"),
    NetworkSpec((2, 2, 2), ("softplus", "sigmoid"), "bce"),
    NetworkSpec((3, 2), ("tanh",), "mse"),
    NetworkSpec((2, 3, 3, 3, 2), ("leaky_relu", "tanh", "relu", "softplus"), "mse"),
    NetworkSpec((3, 3, 3, 3), ("relu", "tanh", "sigmoid"), "bce"),
)

#: Bugs whose pattern `harness.diagnose` does not name yet, and why: expected failures of
#: `test_diagnoser_names_the_pattern` (not strict: the day it names them the test still passes,
#: and the score table shows it).
#: Bug classes the diagnoser is known not to name on some specs (none at the moment); an entry
#: here turns its diagnosis assertion into a non-strict expected failure.
KNOWN_DIAGNOSER_GAPS: dict[str, str] = {}

Key = tuple[int | None, str | None]


def _spec_id(spec: NetworkSpec) -> str:
    return f"{'-'.join(map(str, spec.sizes))}_{'-'.join(spec.activations)}_{spec.loss}"


@cache
def _problem(name: str, spec: NetworkSpec, seed: int) -> Problem:
    entry = CORPUS[name]
    return Problem.random(spec, batch=entry.batch, seed=seed, weight_scale=entry.weight_scale)


@cache
def _report(name: str, spec: NetworkSpec, seed: int) -> CheckReport:
    entry = CORPUS[name]
    return harness.check(entry.backward, _problem(name, spec, seed), timeout=entry.timeout)


def _all_cases() -> Iterator[tuple[Entry, NetworkSpec, int]]:
    for entry in CORPUS.values():
        for spec in SPECS:
            if entry.runs_on(spec):
                for seed in SEEDS:
                    yield entry, spec, seed


def _params(*, correct: bool, diagnosed: bool = False) -> list[object]:
    out = []
    for entry, spec, seed in _all_cases():
        if entry.correct != correct or entry.kind == "timeout":
            continue
        marks = []
        if diagnosed:
            if not entry.must_name(spec):
                continue
            if entry.name in KNOWN_DIAGNOSER_GAPS:
                marks.append(pytest.mark.xfail(reason=KNOWN_DIAGNOSER_GAPS[entry.name]))
        case_id = f"{entry.name}-{_spec_id(spec)}-seed{seed}"
        out.append(pytest.param(entry, spec, seed, id=case_id, marks=marks))
    return out


def _blame(report: CheckReport) -> set[Key]:
    return {(f.layer, f.param) for f in report.findings}


def _wrong_kinds(entry: Entry, report: CheckReport) -> list[str]:
    """Findings whose kind the entry does not declare."""
    bad = []
    for f in report.findings:
        expected = entry.kind
        if f.layer is not None and entry.values_too:
            expected = "value"
        if f.kind != expected:
            bad.append(f"{f.headline} is {f.kind!r}, expected {expected!r}")
    return bad


def _context(entry: Entry, spec: NetworkSpec, seed: int, report: CheckReport) -> str:
    return (
        f"{entry.name} ({entry.style}) on Problem.random({spec!r}, batch={entry.batch}, "
        f"seed={seed}, weight_scale={entry.weight_scale}):\n{report}"
    )


@pytest.mark.parametrize(("entry", "spec", "seed"), _params(correct=False))
def test_wrong_backprop_is_blamed_exactly(entry: Entry, spec: NetworkSpec, seed: int) -> None:
    report = _report(entry.name, spec, seed)
    context = _context(entry, spec, seed, report)
    assert not report.harness_faults, context
    expected = entry.affected(spec)
    if not expected:
        assert report.passed and not report.findings, f"the bug hides here, but: {context}"
        return
    assert not report.passed, f"not flagged: {context}"
    blamed = _blame(report)
    assert blamed == expected, (
        f"blamed {sorted(blamed, key=str)} but the bug lives in {sorted(expected, key=str)}; "
        f"{context}"
    )
    assert not _wrong_kinds(entry, report), f"{_wrong_kinds(entry, report)}; {context}"


@pytest.mark.parametrize(("entry", "spec", "seed"), _params(correct=True))
def test_correct_backprop_passes(entry: Entry, spec: NetworkSpec, seed: int) -> None:
    report = _report(entry.name, spec, seed)
    assert report.passed and not report.findings, _context(entry, spec, seed, report)
    assert not report.harness_faults, _context(entry, spec, seed, report)


def _output(name: str, problem: Problem) -> object:
    """The entry's backprop on copies of the problem, called in this process."""
    params = [(np.array(W), np.array(b)) for W, b in problem.params]
    X, Y = np.array(problem.X), np.array(problem.Y)
    return CORPUS[name].backward(params, X, Y, list(problem.spec.activations), problem.spec.loss)


@cache
def _found(name: str, spec: NetworkSpec, seed: int) -> dict[Key, Diagnosis]:
    """What `harness.diagnose` gives each value finding of the case."""
    from harness.compare import evaluate_sources
    from harness.diagnose import diagnose

    problem = _problem(name, spec, seed)
    wrong = [(f.layer, f.param) for f in _report(name, spec, seed).findings if f.kind == "value"]
    if not wrong:
        return {}
    output = _output(name, problem)
    return diagnose(problem, output, evaluate_sources(problem), wrong)  # type: ignore[arg-type]


def _diagnoses(name: str, spec: NetworkSpec, seed: int) -> dict[Key, tuple[str, str]]:
    """(pattern, text) that `harness.diagnose` gives each value finding of the case."""
    return {key: (d.pattern, d.text) for key, d in _found(name, spec, seed).items()}


def _confirmed(name: str, spec: NetworkSpec, seed: int) -> dict[Key, tuple[str, str]]:
    """(pattern, text) of the names `harness.diagnose.confirm` keeps: what a finding says (a
    name found on a small net is found again at a larger size, where coinciding names part)."""
    from harness.diagnose.confirm import confirm, supported

    problem = _problem(name, spec, seed)
    allows = supported(declared_support(CORPUS[name].backward), spec)
    kept = confirm(problem, _found(name, spec, seed), lambda p: _output(name, p), allows=allows)
    return {key: (d.pattern, d.text) for key, d in kept.items()}


@pytest.mark.parametrize(("entry", "spec", "seed"), _params(correct=False, diagnosed=True))
def test_diagnoser_names_the_pattern(entry: Entry, spec: NetworkSpec, seed: int) -> None:
    pytest.importorskip("harness.diagnose")
    found = _diagnoses(entry.name, spec, seed)
    must = sorted(entry.must_name(spec), key=str)
    missed = {key: found.get(key, (None,))[0] for key in must}
    missed = {key: pattern for key, pattern in missed.items() if pattern != entry.diagnosis}
    assert not missed, (
        f"{entry.name} on {spec!r} (seed {seed}): expected {entry.diagnosis!r} on {must}, "
        f"diagnose named {missed} there"
    )
    # The finding says what survives confirmation at a non-degenerate size: the same pattern,
    # its coinciding names narrowed there ("1/m = 1/(2·n_L)" on n_L = 2 is "1/m").
    confirmed = _confirmed(entry.name, spec, seed)
    shown = {(f.layer, f.param): f.diagnosis for f in _report(entry.name, spec, seed).findings}
    for key in must:
        assert confirmed.get(key, (None,))[0] == entry.diagnosis, f"not confirmed at {key}"
        assert shown[key] == confirmed[key][1], f"the finding at {key} says {shown[key]!r}"


def test_a_hung_backprop_is_abandoned_after_its_timeout() -> None:
    entry = CORPUS["hangs"]
    spec = next(s for s in SPECS if entry.runs_on(s))
    started = time.perf_counter()
    report = _report(entry.name, spec, SEEDS[0])
    assert time.perf_counter() - started < 5.0, "the check waited for the hung call"
    assert entry.timeout <= 0.5
    assert not report.passed
    assert [(f.layer, f.param, f.kind) for f in report.findings] == [(None, None, "timeout")]


def test_corpus_is_large_and_varied() -> None:
    wrong = [e for e in CORPUS.values() if not e.correct]
    right = [e for e in CORPUS.values() if e.correct]
    assert len(wrong) >= 25, f"only {len(wrong)} wrong backprops"
    classes = [e.bug_class for e in wrong]
    assert None not in classes and len(set(classes)) == len(classes), "bug classes must differ"
    assert len(right) >= 6, f"only {len(right)} correct backprops"
    styles = {e.style for e in CORPUS.values()}
    assert styles <= set(STYLES) and len(styles) >= 5, f"styles {sorted(styles)}"
    # A worker's death (crashed, memory) is a hostile plug-in's doing: tests/hostile has those.
    # An imprecise backprop is not wrong (it passes with a warning): tests/tiers and
    # tests/variants hold those.
    assert {e.kind for e in wrong} == set(KINDS) - {"crashed", "memory", "imprecise"}, (
        "every kind of finding"
    )
    assert {e.diagnosis for e in wrong} - {None} == set(DIAGNOSES), "every named pattern"
    for e in CORPUS.values():
        assert e.description, f"{e.name} has no docstring"
        assert e.correct == (e.kind is None) and (e.diagnosis is None or e.kind == "value")


@pytest.mark.parametrize(
    "entry", [e for e in CORPUS.values() if not e.correct], ids=lambda e: e.name
)
def test_wrong_backprop_shows_on_the_pool(entry: Entry) -> None:
    shown = [s for s in SPECS if entry.runs_on(s) and entry.affected(s)]
    assert len(shown) >= (1 if entry.kind == "timeout" else 2), f"{entry.name} shows on {shown}"


@pytest.mark.parametrize("entry", list(CORPUS.values()), ids=list(CORPUS))
def test_entry_has_a_file_for_the_command_line(entry: Entry) -> None:
    module = importlib.import_module(f"meta.{entry.name}")
    assert module.backward is entry.backward


def _score_rows() -> list[tuple[str, dict[str, int]]]:
    """Per style, then in total: the counts behind the score table."""
    counts: dict[str, dict[str, int]] = {}
    keys = ("cases", "shown", "flagged", "localized", "to_name", "named", "clean", "alarms")
    diagnoser = importlib.util.find_spec("harness.diagnose") is not None
    for entry, spec, seed in _all_cases():
        report = _report(entry.name, spec, seed)
        row = counts.setdefault(entry.style, dict.fromkeys(keys, 0))
        row["cases"] += 1
        expected = entry.affected(spec)
        blamed = _blame(report)
        if expected:
            row["shown"] += 1
            row["flagged"] += not report.passed
            row["localized"] += blamed == expected and not _wrong_kinds(entry, report)
            stray = bool(blamed - expected)
        else:
            row["clean"] += 1
            stray = not report.passed or bool(blamed)
        row["alarms"] += stray
        must = entry.must_name(spec)
        row["to_name"] += len(must)
        if must and diagnoser:
            found = _diagnoses(entry.name, spec, seed)
            row["named"] += sum(found.get(key, (None,))[0] == entry.diagnosis for key in must)
    total = {key: sum(row[key] for row in counts.values()) for key in keys}
    return [*((style, counts[style]) for style in STYLES if style in counts), ("total", total)]


def test_score_table() -> None:
    rows = _score_rows()
    diagnoser = importlib.util.find_spec("harness.diagnose") is not None
    lines = [
        "",
        f"meta corpus: {sum(not e.correct for e in CORPUS.values())} wrong, "
        f"{sum(e.correct for e in CORPUS.values())} correct, {len(SPECS)} specs x {len(SEEDS)} "
        f"seeds",
        f"{'style':<16}{'cases':>6}{'flagged':>11}{'localized':>11}{'diagnosed':>11}"
        f"{'false alarms':>15}",
    ]
    for style, r in rows:
        named = f"{r['named']}/{r['to_name']}" if diagnoser else f"-/{r['to_name']}"
        lines.append(
            f"{style:<16}{r['cases']:>6}{r['flagged']:>7}/{r['shown']:<3}"
            f"{r['localized']:>7}/{r['shown']:<3}{named:>11}"
            f"{r['alarms']:>9}/{r['cases']:<5}"
        )
    lines.append(
        "flagged, localized: of the cases where the bug shows; diagnosed: tensors where the "
        "entry's pattern must be named" + ("" if diagnoser else " (harness.diagnose not yet there)")
    )
    lines.append(
        "false alarms: cases with a finding where nothing is wrong (correct entries, a "
        "hidden bug, a tensor the bug does not touch)"
    )
    print("\n".join(lines))
    total = rows[-1][1]
    assert total["flagged"] == total["shown"] and total["alarms"] == 0
