"""The Python API: check() and audit() turn every kind of misbehaviour into a finding, never a
crash, and leave the caller's arrays as they were."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pytest

import reference
from harness import (
    AuditReport,
    CheckReport,
    HarnessError,
    NetworkSpec,
    Problem,
    audit,
    check,
)

SPEC = NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "bce")


@pytest.fixture
def problem() -> Problem:
    return Problem.random(SPEC, 5, seed=2)


def _reference(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    return reference.backward(params, X, Y, activations, loss)


def mutates(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    grads = _reference(params, X, Y, activations, loss)
    W1 = params[0][0]
    W1 -= 0.1 * grads[0][0]  # an in-place "update step" inside backward
    Y[:] = 0.0
    return grads


def hangs(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    time.sleep(5.0)
    return _reference(params, X, Y, activations, loss)


def column_biases(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    return [(dW, db[:, None]) for dW, db in _reference(params, X, Y, activations, loss)]


def raises(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    raise IndexError("list index out of range")


_rng = np.random.default_rng(0)


def nondeterministic(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    grads = _reference(params, X, Y, activations, loss)
    return [(dW * (1 + 1e-6 * _rng.standard_normal(dW.shape)), db) for dW, db in grads]


def noise_1e_12(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    grads = _reference(params, X, Y, activations, loss)
    return [(dW * (1 + 1e-12 * _rng.standard_normal(dW.shape)), db) for dW, db in grads]


def nan_entries(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    grads = _reference(params, X, Y, activations, loss)
    grads[1][0][0, 1] = np.nan
    return grads


@pytest.mark.parametrize(
    ("backward", "kind", "where", "fragment"),
    [
        (mutates, "mutates_inputs", (None, None), "W1, Y"),
        (hangs, "timeout", (None, None), "did not return within 0.5 s"),
        (column_biases, "shape", (1, "b"), "shape (4, 1), expected (4,)"),
        (raises, "raises", (None, None), "IndexError: list index out of range"),
        (nondeterministic, "nondeterministic", (None, None), "two calls"),
        (nan_entries, "nonfinite", (2, "W"), "1/8 entries are not finite, first [0, 1]"),
    ],
    ids=["mutates", "hangs", "column-biases", "raises", "nondeterministic", "nan"],
)
def test_misbehaviour_is_a_finding_and_the_callers_arrays_are_intact(
    problem: Problem, backward: Any, kind: str, where: tuple[Any, Any], fragment: str
) -> None:
    params = [(W.copy(), b.copy()) for W, b in problem.params]
    X, Y = problem.X.copy(), problem.Y.copy()
    report = check(backward, problem, timeout=0.5)
    assert not report.passed
    kinds = {(f.layer, f.param): f.kind for f in report.findings}
    assert kinds.get(where) == kind, [f.headline for f in report.findings]
    assert any(fragment in f.detail for f in report.findings), str(report)
    for (W, b), (W0, b0) in zip(problem.params, params, strict=True):
        assert np.array_equal(W, W0) and np.array_equal(b, b0)
    assert np.array_equal(problem.X, X) and np.array_equal(problem.Y, Y)


def test_noise_of_1e_12_relative_is_not_nondeterminism(problem: Problem) -> None:
    """Two calls differing by 1e-12 relative are not a nondeterminism finding (values that far
    from the truth may still be flagged as values: 1e-12 is above a float64 backprop's bound)."""
    kinds = {f.kind for f in check(noise_1e_12, problem).findings}
    assert "nondeterministic" not in kinds


def test_a_correct_backprop_passes_with_no_findings(problem: Problem) -> None:
    report = check(_reference, problem)
    assert isinstance(report, CheckReport) and report.passed and report.findings == ()
    data = json.loads(report.to_json())
    assert data["passed"] is True and data["findings"] == []


def test_a_value_finding_carries_the_worst_entries(problem: Problem) -> None:
    def one_entry_off(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
        grads = _reference(params, X, Y, activations, loss)
        grads[0][0][2, 1] *= 1 + 1e-6
        return grads

    report = check(one_entry_off, problem)
    (finding,) = report.findings
    assert (finding.layer, finding.param, finding.kind) == (1, "W", "value")
    assert finding.mismatched == 1 and finding.total == 12
    assert finding.worst[0].index == (2, 1)
    assert "layer 1 dW: 1/12 entries wrong" in str(report)
    # a closure: no command line rebuilds it, so the line is the Python call (tests/test_replay.py)
    assert "reproduce: check(one_entry_off, Problem.random(" in str(report)
    assert json.loads(report.to_json())["findings"][0]["worst"][0]["index"] == [2, 1]


def test_not_implemented_outside_the_declared_support_is_not_a_failure() -> None:
    def tanh_only(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
        if set(activations) - {"tanh", "identity"} or loss != "mse":
            raise NotImplementedError("only tanh/identity with mse")
        return _reference(params, X, Y, activations, loss)

    declared = audit(
        tanh_only, examples=30, supports={"activations": ["tanh", "identity"], "losses": ["mse"]}
    )
    assert isinstance(declared, AuditReport) and declared.passed
    tanh_only.supports = {"activations": ("tanh", "identity"), "losses": ("mse",)}  # type: ignore[attr-defined]
    assert audit(tanh_only, examples=30).passed


def test_not_implemented_inside_the_declared_support_is_a_failure() -> None:
    def lazy(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
        raise NotImplementedError("todo")

    report = audit(lazy, examples=10, supports={"activations": ["tanh"], "losses": ["mse"]})
    assert not report.passed
    assert [f.kind for f in report.findings] == ["raises"]


def test_audit_over_a_spec_family_shrinks_and_writes_a_report(tmp_path: Any) -> None:
    def db_forgets_the_mean(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
        # the biases only: a whole gradient times m is the sum convention (tests/test_usage.py)
        return [(dW, db * X.shape[1]) for dW, db in _reference(params, X, Y, activations, loss)]

    spec = NetworkSpec((4, 6, 3), ("relu", "identity"), "mse")
    report = audit(db_forgets_the_mean, spec=spec, examples=40, seed=3, report_dir=tmp_path)
    assert not report.passed
    minimal = report.minimal_spec
    assert minimal is not None and minimal.activations == spec.activations
    assert all(n <= m for n, m in zip(minimal.sizes, spec.sizes, strict=True))
    assert report.report_path is not None and (report.report_path / "summary.json").is_file()
    assert {f.kind for f in report.findings} == {"value"}
    assert json.loads(report.to_json())["minimal_spec"] == repr(minimal)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda p: check("not callable", p), "callable"),
        (lambda p: check(_reference, "not a problem"), "harness.Problem"),
        (lambda p: check(_reference, p, timeout=0), "timeout"),
        (lambda p: audit(_reference, examples=0), "examples"),
        (lambda p: audit(_reference, supports={"activations": ["sigmod"]}), "sigmod"),
        (lambda p: audit(_reference, supports={"colour": []}), "unknown keys"),
        (lambda p: audit(_reference, spec=(3, 2)), "NetworkSpec"),
    ],
    ids=["not-callable", "not-problem", "timeout", "examples", "activation", "keys", "spec"],
)
def test_bad_arguments_raise_typed_errors(problem: Problem, call: Any, fragment: str) -> None:
    with pytest.raises(HarnessError, match=fragment):
        call(problem)
