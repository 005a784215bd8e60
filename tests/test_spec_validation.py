"""`NetworkSpec` and `Problem` validate at the boundary: every bad input raises its own typed
`HarnessError` whose message names the problem; valid ones are reproducible and frozen."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from harness.errors import (
    ArrayDtypeError,
    ArrayShapeError,
    HarnessError,
    NonFiniteError,
    ProblemError,
    SpecError,
    TargetRangeError,
    UnknownActivationError,
    UnknownLossError,
)
from harness.network import forward, is_kinked
from harness.spec import Loss, NetworkSpec, Problem

# A valid bce problem, 3 -> 2 -> 1, batch 4; each case below breaks exactly one thing.
SPEC = NetworkSpec((3, 2, 1), ("tanh", "sigmoid"), "bce")
_rng = np.random.default_rng(2024)
GOOD: dict[str, Any] = {
    "W1": _rng.standard_normal((2, 3)),
    "b1": _rng.standard_normal(2),
    "W2": _rng.standard_normal((1, 2)),
    "b2": _rng.standard_normal(1),
    "X": _rng.standard_normal((3, 4)),
    "Y": np.array([[0.0, 1.0, 1.0, 0.0]]),
}


def _problem_with(**changes: Any) -> Problem:
    """The valid problem with some of spec, params, W1, b1, W2, b2, X, Y replaced."""
    a = {**GOOD, **changes}
    params = a.get("params", [(a["W1"], a["b1"]), (a["W2"], a["b2"])])
    return Problem(a.get("spec", SPEC), params, a["X"], a["Y"])


def _set(name: str, index: tuple[int, ...], value: float) -> Any:
    """A copy of GOOD[name] with one entry replaced."""
    array = GOOD[name].copy()
    array[index] = value
    return array


def _spec(
    sizes: Any = (3, 2, 1), activations: Any = ("tanh", "sigmoid"), loss: Any = "mse"
) -> Callable[[], NetworkSpec]:
    return lambda: NetworkSpec(sizes, activations, loss)


def _random(
    spec: Any = SPEC, batch: Any = 4, seed: Any = 0, **kwargs: Any
) -> Callable[[], Problem]:
    return lambda: Problem.random(spec, batch, seed, **kwargs)


def _case(
    make: Callable[[], object], error: type[HarnessError], *fragments: str, id: str
) -> object:
    return pytest.param(make, error, fragments, id=id)


CASES = [
    # sizes
    _case(_spec(sizes=(3, 0, 1)), SpecError, "sizes[1] = 0", "positive int", id="size-zero"),
    _case(_spec(sizes=(3, -1, 1)), SpecError, "sizes[1] = -1", id="size-negative"),
    _case(_spec(sizes=(3, 2.5, 1)), SpecError, "sizes[1] = 2.5", id="size-float"),
    _case(_spec(sizes=(3, "3", 1)), SpecError, "sizes[1] = '3'", id="size-string"),
    _case(_spec(sizes=(3, True, 1)), SpecError, "sizes[1] = True", id="size-bool"),
    _case(_spec(sizes=(3,), activations=()), SpecError, "at least two entries", id="size-one"),
    _case(_spec(sizes=3), SpecError, "sizes must be a sequence", "got 3", id="sizes-int"),
    _case(_spec(sizes="321"), SpecError, "sizes must be a sequence", id="sizes-str"),
    # activations
    _case(
        _spec(activations=("tanh",)),
        SpecError,
        "activations has 1 names but sizes describe 2 layer(s)",
        id="activations-too-few",
    ),
    _case(
        _spec(activations=("tanh", "tanh", "tanh")),
        SpecError,
        "activations has 3 names",
        id="activations-too-many",
    ),
    _case(
        _spec(activations="tanh"),
        SpecError,
        "single string 'tanh'",
        "('tanh',) * 2",
        id="activations-single-string",
    ),
    _case(
        _spec(activations=(n for n in ("tanh", "tanh"))),
        SpecError,
        "activations must be a sequence",
        id="activations-generator",
    ),
    _case(
        _spec(activations=("tanh", "sigmod")),
        UnknownActivationError,
        "layer 2: unknown activation 'sigmod'",
        "did you mean 'sigmoid'",
        id="activation-typo",
    ),
    _case(
        _spec(activations=("ReLU", "tanh")),
        UnknownActivationError,
        "layer 1",
        "did you mean 'relu'",
        id="activation-case",
    ),
    _case(
        _spec(activations=(None, "tanh")),
        UnknownActivationError,
        "unknown activation None",
        "known: sigmoid",
        id="activation-none",
    ),
    # loss
    _case(
        _spec(loss="mes"),
        UnknownLossError,
        "unknown loss 'mes'",
        "did you mean 'mse'",
        id="loss-typo",
    ),
    _case(_spec(loss=None), UnknownLossError, "unknown loss None", id="loss-none"),
    _case(
        _spec(activations=("sigmoid", "tanh"), loss="bce"),
        SpecError,
        "loss 'bce' needs a sigmoid output layer",
        "layer 2 is 'tanh'",
        id="bce-without-sigmoid-output",
    ),
    # params
    _case(
        lambda: _problem_with(spec="3,2,1"), ProblemError, "must be a NetworkSpec", id="not-spec"
    ),
    _case(
        lambda: _problem_with(params=[(GOOD["W1"], GOOD["b1"])]),
        ProblemError,
        "params has 1 layer(s) but the spec has 2",
        id="params-count",
    ),
    _case(
        lambda: _problem_with(params=[GOOD["W1"], GOOD["W2"]]),
        ProblemError,
        "params[0] must be a pair (W1, b1)",
        id="params-not-pairs",
    ),
    _case(
        lambda: _problem_with(params=[(GOOD["W1"], GOOD["b1"]), (GOOD["W2"], GOOD["b2"], 0)]),
        ProblemError,
        "params[1] must be a pair (W2, b2)",
        id="params-triple",
    ),
    _case(
        lambda: _problem_with(params={"W1": GOOD["W1"]}),
        ProblemError,
        "params must be a sequence",
        id="params-dict",
    ),
    # shapes
    _case(
        lambda: _problem_with(W1=GOOD["W1"].T.copy()),
        ArrayShapeError,
        "W1 (layer 1 weights) has shape (3, 2), expected (2, 3)",
        id="W-transposed",
    ),
    _case(
        lambda: _problem_with(W2=np.zeros((2, 2))),
        ArrayShapeError,
        "W2 (layer 2 weights) has shape (2, 2), expected (1, 2)",
        id="W2-shape",
    ),
    _case(
        lambda: _problem_with(b1=GOOD["b1"][:, None].copy()),
        ArrayShapeError,
        "b1 (layer 1 bias) has shape (2, 1), expected (2,)",
        id="b-column",
    ),
    _case(
        lambda: _problem_with(X=GOOD["X"][:2].copy()),
        ArrayShapeError,
        "X (inputs, columns are samples) has shape (2, 4), expected (3, 4)",
        id="X-rows",
    ),
    _case(
        lambda: _problem_with(Y=GOOD["Y"][:, :3].copy()),
        ArrayShapeError,
        "Y (targets, columns are samples) has shape (1, 3), expected (1, 4)",
        id="Y-batch",
    ),
    _case(
        lambda: _problem_with(Y=GOOD["Y"][0].copy()),
        ArrayShapeError,
        "has shape (4,), expected (1, 4)",
        id="Y-1d",
    ),
    _case(
        lambda: _problem_with(X=GOOD["X"][:, :0].copy(), Y=GOOD["Y"][:, :0].copy()),
        ArrayShapeError,
        "at least one sample",
        id="X-no-samples",
    ),
    _case(
        lambda: _problem_with(X=GOOD["X"][:, 0].copy()),
        ArrayShapeError,
        "has shape (3,), expected (3, m)",
        id="X-1d",
    ),
    # dtypes
    _case(
        lambda: _problem_with(W1=GOOD["W1"].astype(np.int64)),
        ArrayDtypeError,
        "W1 (layer 1 weights) has dtype int64, expected float64",
        id="W-int",
    ),
    _case(
        lambda: _problem_with(b2=GOOD["b2"].astype(np.float32)),
        ArrayDtypeError,
        "b2 (layer 2 bias) has dtype float32, expected float64",
        id="b-float32",
    ),
    _case(
        lambda: _problem_with(X=GOOD["X"].astype(np.complex128)),
        ArrayDtypeError,
        "has dtype complex128, expected float64",
        id="X-complex",
    ),
    _case(
        lambda: _problem_with(Y=GOOD["Y"].astype(object)),
        ArrayDtypeError,
        "Y (targets, columns are samples) has dtype object",
        id="Y-object",
    ),
    _case(
        lambda: _problem_with(W2=GOOD["W2"].tolist()),
        ArrayDtypeError,
        "W2 (layer 2 weights) must be a numpy.ndarray",
        "got list",
        id="W-list",
    ),
    _case(
        lambda: _problem_with(X=GOOD["X"].tolist()),
        ArrayDtypeError,
        "must be a numpy.ndarray",
        "got list",
        id="X-list",
    ),
    _case(
        lambda: _problem_with(Y=GOOD["Y"].tolist()),
        ArrayDtypeError,
        "Y (targets, columns are samples) must be a numpy.ndarray",
        id="Y-list",
    ),
    # finiteness
    _case(
        lambda: _problem_with(W1=_set("W1", (0, 1), np.nan)),
        NonFiniteError,
        "W1 (layer 1 weights) has 1 non-finite entry",
        "(0, 1)",
        id="W-nan",
    ),
    _case(
        lambda: _problem_with(b2=_set("b2", (0,), np.inf)),
        NonFiniteError,
        "b2 (layer 2 bias) has 1 non-finite entry",
        id="b-inf",
    ),
    _case(
        lambda: _problem_with(X=_set("X", (2, 3), -np.inf)),
        NonFiniteError,
        "X (inputs, columns are samples) has 1 non-finite entry",
        "(2, 3)",
        id="X-minus-inf",
    ),
    _case(
        lambda: _problem_with(Y=_set("Y", (0, 1), np.nan)),
        NonFiniteError,
        "Y (targets, columns are samples) has 1 non-finite entry",
        id="Y-nan",
    ),
    # targets
    _case(
        lambda: _problem_with(Y=_set("Y", (0, 2), 2.0)),
        TargetRangeError,
        "'bce' needs targets in [0, 1]",
        "Y[0, 2]",
        id="bce-target-above-1",
    ),
    _case(
        lambda: _problem_with(Y=_set("Y", (0, 3), -0.5)),
        TargetRangeError,
        "Y[0, 3]",
        id="bce-target-below-0",
    ),
    # Problem.random's arguments
    _case(_random(batch=0), ProblemError, "batch must be a positive int", id="batch-zero"),
    _case(_random(batch=2.0), ProblemError, "batch must be a positive int", id="batch-float"),
    _case(_random(batch=True), ProblemError, "batch must be a positive int", id="batch-bool"),
    _case(_random(seed=-1), ProblemError, "seed must be a non-negative int", id="seed-negative"),
    _case(_random(weight_scale=0.0), ProblemError, "weight_scale", id="weight-scale-zero"),
    _case(_random(weight_scale=np.inf), ProblemError, "weight_scale", id="weight-scale-inf"),
    _case(_random(weight_scale=np.nan), ProblemError, "weight_scale", id="weight-scale-nan"),
    _case(_random(kink_margin=np.nan), ProblemError, "kink_margin", id="kink-margin-nan"),
    _case(_random(kink_margin=-1.0), ProblemError, "kink_margin", id="kink-margin-negative"),
    _case(_random(spec=(3, 2, 1)), ProblemError, "NetworkSpec", id="random-not-spec"),
]


@pytest.mark.parametrize(("make", "error", "fragments"), CASES)
def test_invalid_input_raises_its_typed_error_naming_the_problem(
    make: Callable[[], object], error: type[HarnessError], fragments: tuple[str, ...]
) -> None:
    with pytest.raises(HarnessError) as caught:
        make()
    assert type(caught.value) is error, f"{type(caught.value).__name__}: {caught.value}"
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_the_valid_problem_the_cases_break_is_accepted() -> None:
    problem = _problem_with()
    assert problem.batch == 4


@pytest.mark.parametrize(
    "spec",
    [
        NetworkSpec((4, 8, 2), ("tanh", "sigmoid"), "bce"),
        NetworkSpec([3, 1], ["identity"]),
        NetworkSpec((np.int64(2), 5, 5, 1), ("relu", "leaky_relu", "softplus"), "mse"),
    ],
    ids=repr,
)
def test_spec_repr_round_trips(spec: NetworkSpec) -> None:
    again = eval(repr(spec), {"NetworkSpec": NetworkSpec})
    assert again == spec
    assert repr(again) == repr(spec)


@pytest.mark.parametrize(
    "kwargs", [{}, {"weight_scale": 2.0}, {"kink_margin": 0.2}], ids=["default", "scale", "margin"]
)
def test_random_problem_repr_reproduces_it(kwargs: dict[str, float]) -> None:
    spec = NetworkSpec((3, 4, 2), ("relu", "identity"), "mse")
    problem = Problem.random(spec, batch=6, seed=5, **kwargs)
    again = eval(repr(problem), {"Problem": Problem, "NetworkSpec": NetworkSpec})
    _assert_same_arrays(again, problem)


def _arrays(problem: Problem) -> list[np.ndarray]:
    return [a for pair in problem.params for a in pair] + [problem.X, problem.Y]


def _assert_same_arrays(p: Problem, q: Problem) -> None:
    assert p.spec == q.spec
    for a, b in zip(_arrays(p), _arrays(q), strict=True):
        np.testing.assert_array_equal(a, b)


def test_random_problem_is_deterministic_per_seed() -> None:
    spec = NetworkSpec((3, 4, 2), ("leaky_relu", "sigmoid"), "bce")
    _assert_same_arrays(Problem.random(spec, 5, seed=3), Problem.random(spec, 5, seed=3))
    other = Problem.random(spec, 5, seed=4)
    for a, b in zip(_arrays(Problem.random(spec, 5, seed=3)), _arrays(other)):
        assert not np.array_equal(a, b)


def test_problem_keeps_read_only_copies() -> None:
    W1, X, Y = GOOD["W1"].copy(), GOOD["X"].copy(), GOOD["Y"].copy()
    problem = _problem_with(W1=W1, X=X, Y=Y)
    W1[0, 0], X[0, 0], Y[0, 0] = 99.0, 99.0, 1.0
    np.testing.assert_array_equal(problem.params[0][0], GOOD["W1"])
    np.testing.assert_array_equal(problem.X, GOOD["X"])
    np.testing.assert_array_equal(problem.Y, GOOD["Y"])
    for array in _arrays(problem):
        assert not array.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        problem.X[0, 0] = 1.0


def test_random_bce_labels_are_zero_or_one() -> None:
    spec = NetworkSpec((2, 3, 4), ("tanh", "sigmoid"), "bce")
    Y = Problem.random(spec, 50, seed=1).Y
    assert set(np.unique(Y)) == {0.0, 1.0}


@pytest.mark.parametrize("kink_margin", [1e-3, 0.2])
@pytest.mark.parametrize("seed", range(5))
def test_random_relu_pre_activations_keep_off_the_kink(seed: int, kink_margin: float) -> None:
    spec = NetworkSpec((4, 6, 5, 3), ("relu", "leaky_relu", "sigmoid"), "bce")
    problem = Problem.random(spec, 20, seed=seed, kink_margin=kink_margin)
    layers = forward(problem.params, problem.X, spec.activations)
    for layer, ((Z, _), (_, b), name) in enumerate(
        zip(layers, problem.params, spec.activations), start=1
    ):
        if not is_kinked(name):
            continue
        # Documented: |Z| >= kink_margin · max(1, rms of the row of Z - b), so >= kink_margin.
        rms = np.sqrt(np.mean((Z - b[:, None]) ** 2, axis=1, keepdims=True))
        margin = kink_margin * np.maximum(1.0, rms)
        closest = float(np.min(np.abs(Z) / margin))
        assert closest >= 1 - 1e-9, f"layer {layer} ({name}): |Z| / margin = {closest}"


# --- issue 11: softmax, cross_entropy targets, Loss, l2 ----------------------------------------


def _ce_problem(Y: np.ndarray) -> Problem:
    spec = NetworkSpec((2, 3), ("softmax",), "cross_entropy")
    W, b, X = np.zeros((3, 2)), np.zeros(3), np.zeros((2, Y.shape[1]))
    return Problem(spec, [(W, b)], X, Y)


def test_cross_entropy_targets_must_be_probability_vectors() -> None:
    one_hot = np.eye(3)[:, [0, 2, 1, 1]]
    assert _ce_problem(one_hot).batch == 4
    smoothed = 0.9 * one_hot + 0.1 / 3  # label smoothing: still a probability vector per column
    assert _ce_problem(smoothed).batch == 4
    with pytest.raises(TargetRangeError, match=r"column 1 sums to 2\.0.*numpy\.eye"):
        _ce_problem(np.array([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]))
    with pytest.raises(TargetRangeError, match=r"nonnegative.*Y\[0, 0\] = -0\.5"):
        _ce_problem(np.array([[-0.5], [1.0], [0.5]]))


def test_random_cross_entropy_targets_are_one_hot() -> None:
    problem = Problem.random(NetworkSpec((3, 5, 4), ("tanh", "softmax"), "cross_entropy"), 9, 2)
    assert set(np.unique(problem.Y)) <= {0.0, 1.0}
    np.testing.assert_array_equal(problem.Y.sum(axis=0), np.ones(9))


def test_loss_conventions_validate_and_reprs_replay() -> None:
    loss = Loss("mse", half=True, reduction="elementwise_mean")
    assert eval(repr(loss), {"Loss": Loss}) == loss
    assert loss.divisor(8, 3) == 48.0 and Loss("bce", reduction="sum").divisor(8, 3) == 1.0
    spec = NetworkSpec((3, 4, 2), ("leaky_relu(0.20)", "softmax"), loss, l2=1e-3)
    assert spec.activations == ("leaky_relu(0.2)", "softmax")  # canonical spelling
    again = eval(repr(spec), {"NetworkSpec": NetworkSpec, "Loss": Loss})
    assert again == spec and repr(again) == repr(spec)
    assert NetworkSpec((1, 1), ("leaky_relu(0.01)",)).activations == ("leaky_relu",)
    for bad, message in [
        (lambda: Loss("bce", half=True), "mse only"),
        (lambda: Loss("mse", reduction="batchmean"), "known reductions"),
        (lambda: NetworkSpec((1, 1), ("identity",), l2=-1.0), "Nielsen"),
        (lambda: NetworkSpec((1, 1), ("leaky_relu(-2)",)), "leaky_relu(0.2)"),
        (lambda: NetworkSpec((1, 1), ("identity",), "l2"), "NetworkSpec(..., l2=λ)"),
    ]:
        with pytest.raises(SpecError, match=re.escape(message)):
            bad()
