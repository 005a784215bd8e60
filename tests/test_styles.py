"""Backprops written in the styles people use, audited through their adapters (issue 13): each
correct one passes, each injected bug is caught and pinned to the tensors it breaks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness import NetworkSpec, Problem, audit, check
from harness.adapters import AdapterError, from_per_sample

sys.path.insert(0, str(Path(__file__).resolve().parent / "styles"))

import nielsen

SIGMOID_NET = NetworkSpec((3, 4, 2), ("sigmoid", "sigmoid"), "mse")


def _wrong(report: object) -> set[tuple[int | None, str | None]]:
    return {(f.layer, f.param) for f in report.findings}  # type: ignore[attr-defined]


def test_nielsen_per_sample_backprop_passes_an_audit() -> None:
    net = nielsen.Network()
    report = audit(from_per_sample(net.backprop), examples=20, seed=0)
    assert report.passed and report.judged == report.examples == 20


def test_nielsen_summed_over_the_batch_is_the_sum_reduction() -> None:
    backward = from_per_sample(nielsen.Network().backprop, reduction="sum")
    assert audit(backward, examples=10, seed=1).passed
    # Judged against the seeds' mse (no ½, averaged) it is off by the factor 2/m it lacks.
    report = check(lambda *a: backward(*a), Problem.random(SIGMOID_NET, 5, seed=0))
    assert not report.passed


@pytest.mark.parametrize(
    ("bug", "tensors"),
    [
        # σ' used in every layer: every tensor is off
        ("sigmoid_prime_is_sigmoid", {(1, "W"), (1, "b"), (2, "W"), (2, "b")}),
        ("output_delta_without_sigma_prime", {(1, "W"), (1, "b"), (2, "W"), (2, "b")}),
        ("cost_derivative_flipped", {(1, "W"), (1, "b"), (2, "W"), (2, "b")}),
    ],
)
def test_nielsen_bugs_are_caught_through_the_adapter(
    bug: str, tensors: set[tuple[int, str]]
) -> None:
    backward = from_per_sample(nielsen.Network(bug=bug).backprop)
    spec = NetworkSpec((3, 4, 2), ("sigmoid", "sigmoid"), backward.supports["losses"][0])
    problem = Problem.random(spec, 5, seed=0)
    report = check(backward, problem)
    assert not report.passed
    assert _wrong(report) == tensors
    assert not audit(backward, examples=10, seed=0).passed


def test_from_per_sample_usage_errors_say_the_fix() -> None:
    with pytest.raises(AdapterError, match="pass set_params="):
        from_per_sample(lambda x, y: ([], []))
    with pytest.raises(AdapterError, match="returns must be 'b,w' or 'w,b'"):
        from_per_sample(nielsen.Network().backprop, returns="bw")
    with pytest.raises(AdapterError, match="reduction must be 'mean'"):
        from_per_sample(nielsen.Network().backprop, reduction="avg")
