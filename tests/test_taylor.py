"""The Taylor remainder shrinks at order 2 for the true gradient and at order 1 for a wrong one."""

from __future__ import annotations

import numpy as np
import pytest

import reference
from harness import NetworkSpec, Problem
from harness.strategies import ALL_ACTIVATIONS
from harness.taylor import taylor_check


def _problem(activation: str, loss: str) -> Problem:
    output = {"bce": "sigmoid", "cross_entropy": "softmax"}.get(loss, activation)
    activation = "tanh" if activation == "softmax" else activation  # output layer only
    spec = NetworkSpec((3, 5, 4, 2), (activation, activation, output), loss)
    return Problem.random(spec, 6, seed=2)


#: The remainder of this problem changes sign (its γ² and γ³ terms have opposite signs) right
#: where the fit window sits above the noise floor, so the fitted order is ~1.2 for the true
#: gradient: the reason the order is advisory and never decides a verdict (taylor.py).
SIGN_CHANGE_IN_THE_WINDOW = {("tanh", "cross_entropy"), ("softmax", "cross_entropy")}


@pytest.mark.parametrize("loss", ["mse", "bce", "cross_entropy"])
@pytest.mark.parametrize("activation", ALL_ACTIVATIONS)
def test_true_gradient_has_order_two(
    activation: str, loss: str, request: pytest.FixtureRequest
) -> None:
    if (activation, loss) in SIGN_CHANGE_IN_THE_WINDOW:
        request.applymarker(pytest.mark.xfail(strict=True, reason="remainder changes sign"))
    problem = _problem(activation, loss)
    spec = problem.spec
    grads = reference.backward(
        problem.params, problem.X, problem.Y, spec.activations, spec.loss.name
    )
    result = taylor_check(problem, grads)
    assert result.verdict == "order-2" and result.order is not None
    assert abs(result.order - 2.0) < 0.2
    assert result.passed


@pytest.mark.parametrize("activation", ALL_ACTIVATIONS)
def test_a_wrong_gradient_has_order_one(activation: str) -> None:
    problem = _problem(activation, "mse")
    spec = problem.spec
    grads = reference.backward(
        problem.params, problem.X, problem.Y, spec.activations, spec.loss.name
    )
    doubled = [(2.0 * dW, 2.0 * db) for dW, db in grads]  # e.g. the ½-convention bug, inverted
    result = taylor_check(problem, doubled)
    assert result.verdict == "order-1" and result.order is not None
    assert abs(result.order - 1.0) < 0.2
    assert not result.passed


def test_the_check_is_reproducible_and_reports_its_points() -> None:
    problem = _problem("tanh", "bce")
    spec = problem.spec
    grads = reference.backward(
        problem.params, problem.X, problem.Y, spec.activations, spec.loss.name
    )
    a, b = taylor_check(problem, grads, seed=5), taylor_check(problem, grads, seed=5)
    assert a == b
    assert len(a.gammas) == len(a.remainders) >= 3
    assert np.all(np.diff(a.gammas) < 0)
    assert a.as_dict()["verdict"] == "order-2"
