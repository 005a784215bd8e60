"""Fast mode (harness.fast): one random direction tested in pieces detects, group testing
localizes, a full check confirms. Not timed: speed is measured by a script, never asserted.

What the tolerance can catch: each piece of a (layer, tensor) block has the tolerance
λ sqrt(Σ tol_e²) (Hoeffding, false-alarm probability of the whole check <= 1e-12) plus the
directional difference's bound. On small nets that is far below 1e-6 relative; on arch E
(26k parameters) it is ~1e-8 to ~1e-6 absolute: an error of 1e-4 relative is caught in every
tensor's largest entry, and 1e-3 relative in the median entry of every tensor (the tests below).
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from meta import correct

import reference
from harness import (
    ArrayShapeError,
    FastResult,
    HarnessError,
    NetworkSpec,
    Problem,
    audit,
    check,
    fast_check,
)
from harness.fast import FALSE_ALARM, _rademacher, false_alarm_lambda
from harness.sources import closed_form, directional
from harness.strategies import SEED_ACTIVATIONS, network_specs, problems
from harness.tolerance import candidate_bound

E = NetworkSpec((64, 128, 128, 10), ("tanh", "tanh", "sigmoid"), "mse")


def _grads(problem: Problem) -> list[tuple[Any, Any]]:
    spec = problem.spec
    return reference.backward(problem.params, problem.X, problem.Y, spec.activations, spec.loss)  # type: ignore[no-any-return]


def _inject(
    grads: list[tuple[Any, Any]], layer: int, k: int, rel: float, rank: float = 1.0
) -> tuple[list[tuple[Any, Any]], tuple[int, ...]]:
    """One entry off by ``rel`` relative: the block's largest (``rank`` 1), its median (0.5)."""
    bad = [(dW.copy(), db.copy()) for dW, db in grads]
    tensor = bad[layer][k]
    order = np.argsort(np.abs(tensor), axis=None)
    flat = int(order[min(int(rank * order.size), order.size - 1)])
    index = tuple(int(i) for i in np.unravel_index(flat, tensor.shape))
    tensor[index] *= 1.0 + rel
    return bad, index


def _assert_localizes(problem: Problem, rel: float, rank: float = 1.0) -> None:
    grads = _grads(problem)
    for layer in range(problem.spec.depth):
        for k, param in enumerate("Wb"):
            bad, index = _inject(grads, layer, k, rel, rank)
            result = fast_check(bad, problem, seed=0)
            where = f"{problem!r} layer {layer + 1} d{param}{list(index)} x(1{rel:+g})"
            assert not result.passed and not result.undecidable, where
            found = [(x.layer, x.param, x.index) for x in result.located]
            assert found == [(layer + 1, param, index)], f"{where}: {found}"
            (located,) = result.located
            assert located.observed == bad[layer][k][index]
            assert abs(located.expected - grads[layer][k][index]) <= located.bound, where
            assert not located.more_may_exist, where


SMALL = [
    NetworkSpec((4, 8, 8, 2), (act, act, "sigmoid"), loss)
    for act in SEED_ACTIVATIONS  # new conventions: tests/sources/test_directional_conventions.py
    for loss in ("mse", "bce")
]
DEPTH_4 = [
    NetworkSpec((3, 6, 5, 4, 2), ("relu", "softplus", "leaky_relu", "sigmoid"), "bce"),
    NetworkSpec((3, 6, 5, 4, 2), ("identity", "tanh", "sigmoid", "identity"), "mse"),
]


@pytest.mark.parametrize("rel", [1e-4, 1e-6])
@pytest.mark.parametrize("spec", SMALL + DEPTH_4, ids=repr)
def test_a_single_wrong_entry_is_localized_in_each_layer_and_tensor(
    spec: NetworkSpec, rel: float
) -> None:
    _assert_localizes(Problem.random(spec, 8, seed=3), rel)


def test_arch_E_localizes_the_largest_entry_of_each_tensor_off_by_1e_4_relative() -> None:
    _assert_localizes(Problem.random(E, 64, seed=0), 1e-4)


def test_arch_E_localizes_the_median_entry_of_each_tensor_off_by_1e_3_relative() -> None:
    _assert_localizes(Problem.random(E, 64, seed=0), 1e-3, rank=0.5)


def test_arch_E_tolerance_is_lambda_times_the_root_sum_of_squares() -> None:
    """λ makes the union bound over every set a check can test 1e-12, and the tolerance of the
    piece closest to it is λ sqrt(Σ tol²) over that piece plus that piece's directional bound
    (and the rounding of the sums, far below both).

    Which piece comes closest depends on the BLAS's rounding, so the piece is read from the
    result and every quantity is recomputed for it here, in the same process: nothing asserted
    depends on the rounding order beyond the documented bound."""
    problem = Problem.random(E, 64, seed=0)
    grads = _grads(problem)
    result = fast_check(grads, problem, seed=0)
    assert result.passed and result.pieces == 4 * 2 * E.depth == result.evaluations
    lam = false_alarm_lambda(problem)
    sets = sum(3 * int(np.prod(s)) - 1 for pair in E.param_shapes for s in pair)
    assert sets * 2 * np.exp(-(lam**2) / 2) <= FALSE_ALARM * (1 + 1e-9)
    assert 8.8 < lam < 9.0
    match = re.fullmatch(r"layer (\d+) d([Wb]) entries (\d+):(\d+) \(row-major\)", result.worst)
    assert match is not None, result.worst
    l, param, lo, hi = int(match[1]), match[2], int(match[3]), int(match[4])
    k = "Wb".index(param)
    tol = candidate_bound(problem)
    sigma = float(np.sqrt((tol[l - 1][k].ravel()[lo:hi] ** 2).sum()))
    rng = np.random.default_rng(0)  # fast_check's v: ±1 per entry, drawn in parameter order
    v = [tuple(_rademacher(rng, shape) for shape in pair) for pair in E.param_shapes]
    direction: list[Any] = [None] * E.depth
    piece = np.zeros(v[l - 1][k].size)
    piece[lo:hi] = v[l - 1][k].ravel()[lo:hi]
    pair = [np.zeros(shape) for shape in E.param_shapes[l - 1]]
    pair[k] = piece.reshape(E.param_shapes[l - 1][k])
    direction[l - 1] = tuple(pair)
    D_bound = float(directional.along(directional.prepare(problem), [direction]).bound[0])
    assert lam * sigma <= result.tolerance <= (lam * sigma + D_bound) * (1 + 1e-6)
    assert result.tolerance >= (lam * sigma + D_bound) * (1 - 1e-9)


def test_several_wrong_entries_in_one_block_say_more_may_exist() -> None:
    problem = Problem.random(SMALL[2], 8, seed=1)
    bad = [(dW.copy(), db.copy()) for dW, db in _grads(problem)]
    bad[1][0][0, 0] += 1e-3
    bad[1][0][0, 1] += 3e-3  # unequal: along v they cannot cancel; adjacent: one first piece
    result = fast_check(bad, problem, seed=0)
    assert not result.passed
    (located,) = result.located
    assert (located.layer, located.param) == (2, "W") and located.index in ((0, 0), (0, 1))
    assert located.more_may_exist
    assert "more wrong entries may exist in layer 2 dW" in str(located)


def test_wrong_entries_in_two_blocks_are_each_localized() -> None:
    problem = Problem.random(DEPTH_4[0], 8, seed=2)
    bad = [(dW.copy(), db.copy()) for dW, db in _grads(problem)]
    bad[0][1][2] += 1e-4
    bad[3][0][1, 3] -= 3e-4  # unequal: along v they cannot cancel
    found = {(x.layer, x.param, x.index) for x in fast_check(bad, problem, seed=0).located}
    assert found == {(1, "b", (2,)), (4, "W", (1, 3))}


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    problems(
        network_specs(max_depth=5, max_width=8),
        max_batch=8,
        weight_scales=(1.0, 0.1, 3.0, 10.0),
    )
)
def test_no_false_alarm_on_the_reference(problem: Problem) -> None:
    result = fast_check(_grads(problem), problem, seed=problem.seed or 0)
    assert result.passed or result.undecidable, result.summary
    assert result.located == ()


def _closed_form(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    sizes = (X.shape[0], *(W.shape[0] for W, _ in params))
    problem = Problem(NetworkSpec(sizes, tuple(activations), loss), params, X, Y)
    return closed_form.gradients(problem)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(problems(network_specs(max_depth=5, max_width=6), max_batch=6))
@pytest.mark.parametrize(
    "backward", [correct.saturation_proof_correct, _closed_form], ids=lambda f: f.__name__
)
def test_no_false_alarm_on_correct_backprops_written_differently(
    backward: Any, problem: Problem
) -> None:
    """At any weight scale; the closed form overflows on some saturated bce problems (where it
    does not speak in the full check either): those are skipped."""
    spec = problem.spec
    with np.errstate(all="ignore"):
        grads = backward(problem.params, problem.X, problem.Y, spec.activations, spec.loss)
    assume(all(np.all(np.isfinite(t)) for pair in grads for t in pair))
    result = fast_check(grads, problem, seed=problem.seed or 0)
    assert result.passed or result.undecidable, result.summary
    assert result.located == ()


STYLES = [correct.loops_correct, correct.rows_correct, correct.einsum_correct,
          correct.layers_correct, correct.dict_cache_correct]  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(problems(network_specs(max_depth=5, max_width=6), max_batch=6, weight_scales=(1.0, 0.1)))
@pytest.mark.parametrize("backward", STYLES, ids=lambda f: f.__name__)
def test_no_false_alarm_on_the_corpus_correct_backprops(backward: Any, problem: Problem) -> None:
    """These form bce's dJ/dA^(L) as -(y/a - (1-y)/(1-a)): exact in float64 only away from
    saturation (weight scales 3 and 10 saturate it; that is the corpus's
    bce_unsimplified_saturates), so they are drawn at scales 1 and 0.1."""
    result = fast_check(backward, problem, seed=problem.seed or 0)
    assert result.passed or result.undecidable, result.summary
    assert result.located == ()


def _kinked_problem() -> Problem:
    """relu with a pre-activation exactly at the kink: Z1[0, 0] = 0."""
    spec = NetworkSpec((2, 3, 1), ("relu", "identity"), "mse")
    W1 = np.array([[1.0, 0.0], [0.5, -0.3], [-0.7, 0.2]])
    b1 = np.array([0.0, 0.1, 0.2])
    W2 = np.array([[0.4, -0.6, 0.9]])
    b2 = np.array([0.05])
    X = np.array([[0.0, 1.0, -0.5], [0.3, 0.2, 0.7]])
    Y = np.array([[0.1, 0.5, 0.9]])
    return Problem(spec, [(W1, b1), (W2, b2)], X, Y)


def test_a_step_across_a_kink_is_undecidable_never_a_mismatch() -> None:
    """Pieces whose steps move Z1[0, 0] are undecidable; a piece that avoids the kink still
    decides, and blames only the entry that is really wrong."""
    problem = _kinked_problem()
    result = fast_check(_grads(problem), problem, seed=0)
    assert result.undecidable and not result.passed and result.located == ()
    assert "undecidable" in result.summary
    bad, index = _inject(_grads(problem), 0, 0, 0.5)
    result = fast_check(bad, problem, seed=0)
    assert result.undecidable or [(x.layer, x.param, x.index) for x in result.located] == [
        (1, "W", index)
    ]


def test_check_fast_at_a_kink_leaves_the_verdict_to_the_full_check() -> None:
    report = check(lambda *a: _grads(_kinked_problem()), _kinked_problem(), mode="fast")
    assert report.mode == "fast" and report.fast is not None and report.fast.undecidable
    assert "value" not in {f.kind for f in report.findings}
    assert report.confirmed is None


def test_the_directional_source_agrees_with_the_closed_form_to_its_bound_and_can_disagree() -> None:
    """D matches g·v of the closed form within D's bound plus the closed form's own; a gradient
    off in one entry by more than that is seen by the same comparison, and a wrong identity
    (ΔA scaled by 1 + 1e-6) makes the source disagree with the closed form."""
    problem = Problem.random(DEPTH_4[0], 8, seed=5)
    g = closed_form.gradients(problem)
    tol = candidate_bound(problem)
    rng = np.random.default_rng(0)
    v = [tuple(np.where(rng.random(s) < 0.5, -1.0, 1.0) for s in pair) for pair in
         problem.spec.param_shapes]  # fmt: skip
    net = directional.prepare(problem)
    D = directional.along(net, [v])  # type: ignore[list-item]
    gv = sum(
        float((gt * vt).sum()) for pair_g, pair_v in zip(g, v) for gt, vt in zip(pair_g, pair_v)
    )
    allowed = float(D.bound[0]) + sum(float(t.sum()) for pair in tol for t in pair) + 1e-15
    assert abs(gv - float(D.value[0])) <= allowed
    assert float(D.bound[0]) < 1e-3 * abs(float(D.value[0]))  # a bound with teeth
    assert abs((gv + 3 * allowed) - float(D.value[0])) > allowed  # one entry off by 3x: seen


def test_a_wrong_difference_identity_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = Problem.random(SMALL[0], 8, seed=4)
    grads = _grads(problem)
    assert fast_check(grads, problem, seed=0).passed
    right = directional._difference

    def off(*args: Any, **kwargs: Any) -> Any:
        dA, G, kink = right(*args, **kwargs)
        return dA * (1.0 + 1e-6), G, kink

    monkeypatch.setattr(directional, "_difference", off)
    assert not fast_check(grads, problem, seed=0).passed


def test_a_result_is_a_record_with_counts_and_json() -> None:
    problem = Problem.random(SMALL[0], 4, seed=0)
    bad, _ = _inject(_grads(problem), 1, 0, 1e-3)
    result = fast_check(bad, problem, seed=7)
    assert isinstance(result, FastResult) and result.seed == 7 and result.seconds >= 0
    # the first pieces, then one directional difference per halving of the failing piece
    assert result.pieces == 4 * 2 * problem.spec.depth
    assert result.pieces < result.evaluations <= result.pieces + int(np.log2(8 * 8))
    data = json.loads(json.dumps(result.as_dict()))
    assert data["located"][0]["layer"] == 2 and data["located"][0]["param"] == "W"
    assert "seconds" not in result.as_dict(with_time=False)
    with pytest.raises(AttributeError):
        result.passed = True  # type: ignore[misc]


def test_the_same_seed_gives_the_same_direction_and_a_callable_is_called() -> None:
    problem = Problem.random(SMALL[3], 4, seed=1)
    first = fast_check(lambda *a: reference.backward(*a), problem, seed=3)
    again = fast_check(_grads(problem), problem, seed=3)
    other = fast_check(_grads(problem), problem, seed=4)
    assert first.observed == again.observed and first.expected == again.expected
    assert other.observed != first.observed


@pytest.mark.parametrize(
    ("output", "error"),
    [
        (lambda g: g[:1], HarnessError),
        (lambda g: [(g[0][0].T, g[0][1]), g[1]], ArrayShapeError),
        (lambda g: [(g[0][0].astype(np.float32), g[0][1]), g[1]], HarnessError),
        (lambda g: [(g[0][0] * np.nan, g[0][1]), g[1]], HarnessError),
        (lambda g: np.zeros(3), HarnessError),
    ],
    ids=["count", "shape", "dtype", "nonfinite", "array"],
)
def test_malformed_gradients_raise_typed_errors(output: Any, error: type[Exception]) -> None:
    problem = Problem.random(NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "mse"), 4, seed=0)
    with pytest.raises(error):
        fast_check(output(_grads(problem)), problem)


def test_check_fast_reports_a_malformed_output_through_the_full_check() -> None:
    problem = Problem.random(NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "mse"), 4, seed=0)
    report = check(lambda *a: [(dW, db[:, None]) for dW, db in _grads(problem)], problem,
                   mode="fast")  # fmt: skip
    assert not report.passed and report.fast is None
    assert {(f.layer, f.param, f.kind) for f in report.findings} >= {(1, "b", "shape")}


def test_check_fast_passes_a_correct_backprop_and_says_it_was_fast() -> None:
    problem = Problem.random(DEPTH_4[1], 6, seed=2)
    report = check(lambda *a: reference.backward(*a), problem, mode="fast")
    assert report.passed and report.findings == () and report.mode == "fast"
    assert report.fast is not None and report.fast.passed and report.confirmed is None
    assert "fast check passed: one random ±1 direction" in str(report)
    assert json.loads(report.to_json())["fast"]["passed"] is True


def test_check_fast_localizes_and_the_full_check_confirms() -> None:
    problem = Problem.random(DEPTH_4[1], 6, seed=2)

    def one_entry_off(*args: Any) -> Any:
        return _inject(reference.backward(*args), 2, 0, 1e-4)[0]

    report = check(one_entry_off, problem, mode="fast")
    assert not report.passed and report.confirmed is True
    assert report.fast is not None
    (located,) = report.fast.located
    (finding,) = report.findings
    assert (finding.layer, finding.param, finding.kind) == (located.layer, located.param, "value")
    assert finding.worst[0].index == located.index
    text = str(report)
    assert "fast check failed" in text and "a full check confirms" in text
    # a closure: it replays as the Python call, with the direction's seed (tests/test_replay.py)
    assert text.rstrip().endswith(f", mode='fast', fast_seed={report.fast.seed})")


def test_audit_fast_shrinks_a_wrong_backprop_and_passes_a_correct_one() -> None:
    assert audit(lambda *a: reference.backward(*a), examples=15, mode="fast").passed

    def forgets_the_mean(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
        grads = reference.backward(params, X, Y, activations, loss)
        return [(dW * X.shape[1], db) for dW, db in grads]

    report = audit(forgets_the_mean, examples=30, mode="fast")
    assert not report.passed and report.mode == "fast"
    minimal = report.minimal
    assert minimal is not None and minimal.fast is not None and not minimal.fast.passed
    assert minimal.reproduce.endswith(f", mode='fast', fast_seed={minimal.fast.seed})")


@pytest.mark.parametrize("mode", ["quick", "FAST", None, 1])
def test_mode_is_validated(mode: Any) -> None:
    problem = Problem.random(SMALL[0], 2, seed=0)
    with pytest.raises(HarnessError, match="mode must be one of 'full', 'fast'"):
        check(lambda *a: reference.backward(*a), problem, mode=mode)
    with pytest.raises(HarnessError, match="mode must be one of"):
        audit(lambda *a: reference.backward(*a), examples=1, mode=mode)


def test_fast_check_validates_its_arguments() -> None:
    problem = Problem.random(SMALL[0], 2, seed=0)
    with pytest.raises(HarnessError, match=r"harness\.Problem"):
        fast_check(_grads(problem), "problem")  # type: ignore[arg-type]
    with pytest.raises(HarnessError, match="seed must be a non-negative int or None"):
        fast_check(_grads(problem), problem, seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(HarnessError, match="seed must be a non-negative int or None"):
        fast_check(_grads(problem), problem, seed=-1)
    seeds = {fast_check(_grads(problem), problem).seed for _ in range(3)}
    assert len(seeds) == 3  # from the OS, 32 bits each: equal with probability ~1e-9
