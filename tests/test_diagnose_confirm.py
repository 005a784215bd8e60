"""Diagnoses that do not guess (issue 12 point 5), and where the error starts.

1. No hypothesis matches a tensor whose candidate values or truth are all zero.
2. The least-squares "scaled by" offers no factor indistinguishable from ±1 or a named factor.
3. A name found on a degenerate (shrunk) net is kept only if `harness.diagnose.confirm` finds the
   same hypothesis again on a net with every hidden width and the batch ≥ 3.
4. `CaseResult.origin` names the first wrong tensor in backprop order; the terminal verdict and
   the reports show it.

The candidates are module-level functions (a worker process runs them) built on
`reference.backward`, or `_tanh_backward` below with one bug.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import reference
from harness.auditing import CheckReport
from harness.campaign import check_case
from harness.compare import compare, evaluate_sources
from harness.diagnose import MATCH_FACTOR, Diagnosis, diagnose
from harness.diagnose.confirm import confirm, larger_problem, supported
from harness.report import Run, write_report
from harness.spec import NetworkSpec, Problem
from harness.support import parse_support

Array = Any
Grads = list[tuple[Array, Array]]

#: A shrunk failure: 1×1 layers, a batch of 2 (m = 2 = the named factor 2).
TINY = NetworkSpec((1, 1, 1), ("tanh", "identity"), "mse")
GENERIC = NetworkSpec((3, 6, 4, 3), ("tanh", "sigmoid", "identity"), "mse")
THREE = NetworkSpec((3, 4, 4, 2), ("tanh", "tanh", "identity"), "mse")


def _found(problem: Problem, candidate: Sequence[tuple[Array, Array]]) -> dict[Any, Diagnosis]:
    sources = evaluate_sources(problem)
    records = compare(problem, candidate, sources)
    wrong = [(r.layer, r.param) for r in records if r.status == "mismatch"]
    assert wrong, "the candidate was supposed to be wrong somewhere"
    return diagnose(problem, candidate, sources, wrong)  # type: ignore[arg-type]


def _truth(problem: Problem) -> Grads:
    return [(dW.copy(), db.copy()) for dW, db in evaluate_sources(problem).grads["symbolic"]]


def _named(case: Any) -> dict[tuple[int, str], str | None]:
    return {(r.layer, r.param): r.diagnosis for r in case.records if r.status == "mismatch"}


# --- candidates ----------------------------------------------------------------------------------


def _scaled_by(
    factor: float, params: Any, X: Array, Y: Array, activations: Any, loss: Any
) -> Grads:
    return [
        (dW * factor, db * factor) for dW, db in reference.backward(params, X, Y, activations, loss)
    ]


def divides_by_n_L(params: Any, X: Array, Y: Array, activations: Any, loss: Any) -> Grads:
    """The mean taken over the outputs instead of the samples: truth × m/n_L. On a 1×1 net with
    m = 2 that is "scaled by m = 2"; on a wider one m/n_L is no named factor."""
    return _scaled_by(X.shape[1] / Y.shape[0], params, X, Y, activations, loss)


def missing_1_over_m(params: Any, X: Array, Y: Array, activations: Any, loss: Any) -> Grads:
    return _scaled_by(X.shape[1], params, X, Y, activations, loss)


def sign_flipped_on_one_input(
    params: Any, X: Array, Y: Array, activations: Any, loss: Any
) -> Grads:
    """Right, except with a single input, where it is -truth: nothing a wider net shows."""
    return _scaled_by(-1.0 if X.shape[0] == 1 else 1.0, params, X, Y, activations, loss)


def _tanh_backward(params: Any, X: Array, Y: Array, bug: str = "") -> Grads:
    """mse (mean over samples), tanh hidden layers, identity output; ``bug``: "g_prime_2" (layer
    2's tanh' taken as 1) or "transposed_dW_2" (layer 2's dW transposed: square W only)."""
    A, Zs, As = X, [], [X]
    for l, (W, b) in enumerate(params, start=1):
        Z = W @ A + b[:, None]
        A = Z if l == len(params) else np.tanh(Z)
        Zs.append(Z)
        As.append(A)
    dJ_dA = 2.0 * (A - Y) / X.shape[1]
    grads: Grads = []
    for l in range(len(params), 0, -1):
        Z = Zs[l - 1]
        g = (
            np.ones_like(Z)
            if l == len(params) or (bug == "g_prime_2" and l == 2)
            else 1 - np.tanh(Z) ** 2
        )
        dJ_dZ = dJ_dA * g
        dW = dJ_dZ @ As[l - 1].T
        grads.append((dW.T if bug == "transposed_dW_2" and l == 2 else dW, dJ_dZ.sum(axis=1)))
        dJ_dA = params[l - 1][0].T @ dJ_dZ
    return grads[::-1]


def missing_g_prime_at_layer_2(
    params: Any, X: Array, Y: Array, activations: Any, loss: Any
) -> Grads:
    return _tanh_backward(params, X, Y, "g_prime_2")


def transposed_dW_at_layer_2(params: Any, X: Array, Y: Array, activations: Any, loss: Any) -> Grads:
    return _tanh_backward(params, X, Y, "transposed_dW_2")


# --- 1. all zero: no name -------------------------------------------------------------------------


def _dead_relu_problem() -> Problem:
    """Layer 1's relu is off on every sample: the truth of layer 1 and of layer 2's dW is 0."""
    spec = NetworkSpec((2, 2, 2, 2), ("relu", "tanh", "identity"), "mse")
    rng = np.random.default_rng(0)
    params = [
        (-np.ones((2, 2)), np.full(2, -5.0)),
        (rng.standard_normal((2, 2)), 0.1 * rng.standard_normal(2)),
        (rng.standard_normal((2, 2)), 0.1 * rng.standard_normal(2)),
    ]
    X = np.abs(rng.standard_normal((2, 4)))
    return Problem(spec, params, X, rng.random((2, 4)))


def test_a_tensor_whose_truth_or_candidate_is_all_zero_gets_no_name() -> None:
    problem = _dead_relu_problem()
    truth = _truth(problem)
    assert not np.any(truth[0][0]) and not np.any(truth[0][1]) and not np.any(truth[1][0])
    # Layers returned in reverse order: layer 1 holds layer 3's gradient (its truth is 0),
    # layer 3 holds layer 1's zeros. Each used to read "holds layer k's gradient".
    found = _found(problem, truth[::-1])
    assert not {(1, "W"), (1, "b"), (3, "W"), (3, "b")} & set(found), found


def test_a_zero_candidate_of_a_nonzero_truth_gets_no_name() -> None:
    problem = Problem.random(GENERIC, 5, seed=7)
    candidate = _truth(problem)
    candidate[1] = (np.zeros_like(candidate[1][0]), candidate[1][1])
    assert _found(problem, candidate) == {}


# --- 2. only meaningful factors ---------------------------------------------------------------


@pytest.mark.parametrize("factor", [1 + 1e-11, 1 - 1e-12, -(1 + 1e-10), 0.2 * (1 + 1e-9)])
def test_a_factor_indistinguishable_from_one_or_a_named_factor_is_no_name(factor: float) -> None:
    problem = Problem.random(GENERIC, 5, seed=7)  # 0.2 = 1/m
    sources = evaluate_sources(problem)
    candidate = [(dW * factor, db * factor) for dW, db in _truth(problem)]
    # Every tensor offered (compare may call so small a difference imprecise, not wrong), and
    # every one off the truth beyond the tolerance diagnose matches within.
    for (C, _), (T, _), (bound, _) in zip(candidate, sources.grads["symbolic"], sources.backprop):
        assert np.any(np.abs(C - T) > MATCH_FACTOR * bound)
    every = [(l, p) for l in range(1, GENERIC.depth + 1) for p in "Wb"]
    assert diagnose(problem, candidate, sources, every) == {}  # type: ignore[arg-type]


def test_a_meaningful_unnamed_factor_is_still_named() -> None:
    problem = Problem.random(GENERIC, 5, seed=7)
    candidate = [(dW * 0.7, db * 0.7) for dW, db in _truth(problem)]
    found = _found(problem, candidate)
    assert len(found) == 6 and {d.text for d in found.values()} == {"scaled by 0.7"}


# --- 3. confirmed at a non-degenerate size --------------------------------------------------------


def test_the_larger_problem_widens_hidden_layers_inputs_outputs_and_batch() -> None:
    tiny = Problem.random(TINY, 2, seed=3, weight_scale=0.5)
    larger = larger_problem(tiny)
    assert larger is not None
    assert larger.spec == NetworkSpec((3, 3, 3), TINY.activations, TINY.loss)
    assert larger.batch == 4  # >= 3 and not n_L: m and n_L stay apart
    assert (larger.seed, larger.weight_scale) == (3, 0.5)
    # A support that fixes n_0 and n_L: only the hidden widths change.
    only_hidden = larger_problem(tiny, lambda spec: spec.sizes[::2] == (1, 1))
    assert only_hidden is not None and only_hidden.spec.sizes == (1, 3, 1)
    assert larger_problem(tiny, lambda spec: False) is None
    ce = Problem.random(NetworkSpec((2, 1, 2), ("tanh", "softmax"), "cross_entropy"), 1, seed=0)
    assert larger_problem(ce).spec.sizes == (3, 3, 3)  # type: ignore[union-attr]
    wide = Problem.random(GENERIC, 5, seed=0)
    assert larger_problem(wide) is wide  # nothing to confirm: the problem is that size


def test_supported_keeps_to_the_declared_support() -> None:
    fixed = parse_support({"sizes": [(1, 1, 1), (1, 3, 1)]})
    allows = supported(fixed, TINY)
    assert allows(NetworkSpec((1, 3, 1), TINY.activations)) and not allows(
        NetworkSpec((3, 3, 3), TINY.activations)
    )
    # outside its own support (a problem of the caller's choosing): the hidden widths only
    outside = supported(parse_support({"activations": ["sigmoid"]}), TINY)
    assert outside(NetworkSpec((1, 3, 1), TINY.activations))
    assert not outside(NetworkSpec((3, 3, 3), TINY.activations))


def test_a_pattern_seen_only_at_width_one_is_not_named() -> None:
    problem = Problem.random(TINY, 2, seed=0)
    output = divides_by_n_L(list(problem.params), problem.X, problem.Y, TINY.activations, "mse")
    # On the 1×1 net m/n_L = 2 = m: diagnose alone would name it.
    assert {d.text for d in _found(problem, output).values()} == {"scaled by m = 2"}
    case = check_case(divides_by_n_L, problem)
    assert len(_named(case)) == 4 and set(_named(case).values()) == {None}
    assert "no known pattern" in case.failing[0].detail


def test_a_pattern_found_again_at_the_larger_size_is_kept() -> None:
    case = check_case(missing_1_over_m, Problem.random(TINY, 2, seed=0))
    assert set(_named(case).values()) == {"scaled by m = 2"}
    assert len(_named(case)) == 4


def test_coinciding_names_are_narrowed_to_those_found_again() -> None:
    # On n_L = 2, m = 4: 1/m = 1/(2·n_L), and the factor reads as a convention; at n_L = 3 it
    # is only 1/m.
    spec = NetworkSpec((3, 2), ("tanh",), "mse")
    problem = Problem.random(spec, 4, seed=0)

    def run(p: Problem) -> Grads:
        return _scaled_by(1 / p.batch, list(p.params), p.X, p.Y, spec.activations, "mse")

    found = _found(problem, run(problem))
    assert found[(1, "W")].names == ("1/m", "1/(2·n_L)")
    kept = confirm(problem, found, run)
    assert {d.text for d in kept.values()} == {"scaled by 1/m = 0.25"}
    assert {d.names for d in kept.values()} == {("1/m",)}


def test_a_bug_absent_at_the_larger_size_loses_its_name() -> None:
    problem = Problem.random(TINY, 2, seed=0)
    case = check_case(sign_flipped_on_one_input, problem)
    assert len(_named(case)) == 4 and set(_named(case).values()) == {None}


def test_a_confirming_call_that_fails_drops_every_name() -> None:
    problem = Problem.random(TINY, 2, seed=0)
    output = missing_1_over_m(list(problem.params), problem.X, problem.Y, TINY.activations, "mse")
    found = _found(problem, output)
    assert len(found) == 4
    assert confirm(problem, found, lambda p: None) == {}
    assert confirm(problem, found, lambda p: None, allows=lambda spec: False) == {}


# --- 4. where the error starts ----------------------------------------------------------------


def test_origin_names_the_first_wrong_tensor_in_backprop_order(tmp_path: Path) -> None:
    case = check_case(missing_g_prime_at_layer_2, Problem.random(THREE, 5, seed=1))
    assert {r.layer for r in case.failing} == {1, 2}
    origin = (
        "the first wrong tensor in backprop order is layer 2 dW; layer 3 is right: look at the "
        "propagation from layer 3 into layer 2"
    )
    assert case.origin == origin
    assert f"where the error starts: {origin}" in str(CheckReport(case))
    run_dir = write_report(Run("c", 0, "single", 1, (case,), False, "cmd"), tmp_path)
    assert json.loads((run_dir / "summary.json").read_text())["origin"] == origin
    assert f"Where the error starts: {origin}" in (run_dir / "summary.md").read_text()
    html = (run_dir / "report.html").read_text()
    assert html.count('<p class="origin">') == 1 and "propagation from layer 3 into" in html


def test_origin_at_the_output_layer_points_at_the_loss_derivative() -> None:
    case = check_case(missing_1_over_m, Problem.random(THREE, 5, seed=1))
    assert case.origin == (
        "the first wrong tensor in backprop order is layer 3 dW (the output layer): look at the "
        "loss derivative or the output layer's g'"
    )


def test_origin_of_a_wrong_dW_beside_a_right_db() -> None:
    square = NetworkSpec((3, 3, 3, 3), ("tanh", "tanh", "identity"), "mse")
    case = check_case(transposed_dW_at_layer_2, Problem.random(square, 5, seed=1))
    assert [r.where for r in case.failing] == ["layer 2 dW"]
    assert case.origin == (
        "the first wrong tensor in backprop order is layer 2 dW; layer 2 db and layer 3 are "
        "right: look at how dW is formed from dJ/dZ (A_prev, a transpose, the l2·W term)"
    )


def test_no_origin_when_nothing_is_wrong() -> None:
    case = check_case(reference.backward, Problem.random(THREE, 5, seed=1))
    assert case.passed and case.origin is None
    assert case.as_dict()["origin"] is None
