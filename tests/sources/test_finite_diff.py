"""Finite differences: every decidable entry lies within its bound of the true gradient, the bound
is tight enough to catch a 1e-6 relative error, kinks are flagged where (and only where) a step
crosses one, and the estimate can disagree with a different network.

The truth is a backprop written here, in np.longdouble (80-bit on x86: eps 1.1e-19, some 2000
times finer than float64), from the problem's exact float64 values. It is the only place in the
test that knows a derivative. It covers the activations and losses before issue 11 (mean
reduction, no l2); tests/sources/test_finite_diff_conventions.py holds the new conventions to a
60-digit truth that needs no derivative.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import mpmath
import numpy as np
import pytest
from numpy.typing import NDArray

from harness.errors import SourceLimitError
from harness.sources.finite_diff import Estimate, estimate, gradients, identities
from harness.sources.finite_diff import kernel as _fd_kernel
from harness.spec import NetworkSpec, Problem

LD = np.longdouble
LongArray = NDArray[np.longdouble]
EPS = float(np.finfo(np.float64).eps)

#: Both paths of the estimate: pure numpy, and the compiled kernel where numba is installed.
KERNELS = ["numpy", *(["compiled"] if _fd_kernel.AVAILABLE else [])]

#: The activations this file's truth knows (the others: test_finite_diff_conventions.py).
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "identity", "softplus")

pytestmark = pytest.mark.skipif(
    np.finfo(LD).eps > 1e-18, reason="needs an extended-precision np.longdouble for the truth"
)


# --- the truth: backprop in extended precision --------------------------------------------


def _sigmoid(z: LongArray) -> LongArray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _g(name: str, z: LongArray) -> LongArray:
    return {
        "sigmoid": _sigmoid,
        "tanh": np.tanh,
        "relu": lambda v: np.maximum(v, 0),
        "leaky_relu": lambda v: np.where(v > 0, v, LD("0.01") * v),
        "identity": lambda v: v,
        "softplus": lambda v: np.logaddexp(LD(0), v),
    }[name](z)


def _g_prime(name: str, z: LongArray) -> LongArray:
    one = np.ones_like(z)
    return {
        "sigmoid": lambda: _sigmoid(z) * _sigmoid(-z),
        "tanh": lambda: 4 * np.exp(-2 * np.abs(z)) / (1 + np.exp(-2 * np.abs(z))) ** 2,
        "relu": lambda: np.where(z > 0, one, 0 * one),
        "leaky_relu": lambda: np.where(z > 0, one, LD("0.01") * one),
        "identity": lambda: one,
        "softplus": lambda: _sigmoid(z),
    }[name]()


def true_gradients(problem: Problem) -> list[tuple[LongArray, LongArray]]:
    params = [(W.astype(LD), b.astype(LD)) for W, b in problem.params]
    X, Y, m = problem.X.astype(LD), problem.Y.astype(LD), problem.batch
    names = problem.spec.activations
    A, Z = [X], []
    for (W, b), name in zip(params, names):
        Z.append(W @ A[-1] + b[:, None])
        A.append(_g(name, Z[-1]))
    if problem.spec.loss.name == "mse":
        dZ = 2 * (A[-1] - Y) / m * _g_prime(names[-1], Z[-1])
    else:
        dZ = (_sigmoid(Z[-1]) - Y) / m
    grads = []
    for l in reversed(range(len(params))):
        grads.append((dZ @ A[l].T, dZ.sum(axis=1)))
        if l:
            dZ = (params[l][0].T @ dZ) * _g_prime(names[l - 1], Z[l - 1])
    return grads[::-1]


# --- helpers --------------------------------------------------------------------------------


def _tensors(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    return [t for pair in pairs for t in pair]


def _where(l: int) -> str:
    return f"layer {l // 2 + 1} d{'Wb'[l % 2]}"


def _assert_within_bound(problem: Problem, est: Estimate) -> None:
    for l, (g, bound, unsure, truth) in enumerate(
        zip(*map(_tensors, (est.grads, est.bound, est.undecidable, true_gradients(problem))))
    ):
        error = np.abs(g.astype(LD) - truth).astype(np.float64)
        outside = (error > bound) & ~unsure
        assert not outside.any(), (
            f"{_where(l)}{np.argwhere(outside)[0].tolist()}: |fd - truth| "
            f"{error[outside][0]:.3e} > bound {bound[outside][0]:.3e}; reproduce: {problem!r}"
        )


def _specs() -> list[tuple[NetworkSpec, int]]:
    sizes_pool = [(3, 1), (1, 4, 2), (3, 5, 1, 4), (4, 6, 5, 3, 2)]
    cases = []
    for act, sizes, batch in itertools.product(ACTIVATIONS, sizes_pool, (1, 6)):
        depth = len(sizes) - 1
        cases.append((NetworkSpec(sizes, (act,) * depth, "mse"), batch))
        cases.append((NetworkSpec(sizes, (act,) * (depth - 1) + ("sigmoid",), "bce"), batch))
    return cases


def _id(case: tuple[NetworkSpec, int]) -> str:
    spec, batch = case
    return f"{'-'.join(map(str, spec.sizes))}_{'-'.join(spec.activations)}_{spec.loss}_m{batch}"


SPECS = _specs()


# --- the bound holds, and is tight ------------------------------------------------------------


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("case", SPECS, ids=map(_id, SPECS))
def test_every_decidable_entry_is_within_its_bound_of_the_truth(
    case: tuple[NetworkSpec, int], kernel: str
) -> None:
    spec, batch = case
    for seed in (0, 1):
        problem = Problem.random(spec, batch, seed=seed)
        est = estimate(problem, kernel=kernel)
        for tensors in (est.grads, est.bound, est.step):
            for t, (W, b) in zip(tensors, problem.params):
                assert (t[0].shape, t[1].shape) == (W.shape, b.shape)
                assert t[0].dtype == np.float64 and t[1].dtype == np.float64
        for (uW, ub), (W, b) in zip(est.undecidable, problem.params):
            assert uW.shape == W.shape and ub.shape == b.shape and uW.dtype == np.bool_
            # Problem.random keeps ReLU pre-activations 1e-3 from 0: far beyond any step.
            assert not uW.any() and not ub.any()
        assert all(np.all(np.isfinite(t)) for t in _tensors(est.grads) + _tensors(est.bound))
        _assert_within_bound(problem, est)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("case", SPECS, ids=map(_id, SPECS))
def test_the_bound_is_tight_enough_to_catch_a_relative_error_of_1e_6(
    case: tuple[NetworkSpec, int], kernel: str
) -> None:
    spec, batch = case
    problem = Problem.random(spec, batch, seed=2, weight_scale=1.0)
    est = estimate(problem, kernel=kernel)
    for l, (bound, truth) in enumerate(zip(_tensors(est.bound), _tensors(true_gradients(problem)))):
        scale = float(np.max(np.abs(truth)))
        # (+ the bound's floor for subnormal intermediates, 2^-960/h, where all of g is 0)
        assert np.max(bound) <= 1e-8 * scale + 1e-250, (
            f"{_where(l)}: bound {np.max(bound):.2e} > 1e-8 max|g| = {1e-8 * scale:.2e}"
        )


def test_an_entry_off_by_1e_6_relative_is_outside_the_bound_exactly_there() -> None:
    spec = NetworkSpec((4, 8, 8, 3), ("tanh", "softplus", "sigmoid"), "bce")
    problem = Problem.random(spec, 5, seed=4)
    est = estimate(problem)
    for l, (g, bound, truth) in enumerate(
        zip(_tensors(est.grads), _tensors(est.bound), _tensors(true_gradients(problem)))
    ):
        candidate = truth.astype(np.float64)
        worst = np.unravel_index(np.argmax(np.abs(candidate)), candidate.shape)
        candidate[worst] *= 1 + 1e-6
        flagged = np.abs(candidate - g) > bound
        assert flagged[worst] and np.sum(flagged) == 1, (
            f"{_where(l)}: flagged {np.argwhere(flagged).tolist()}, expected {list(worst)} only"
        )


@pytest.mark.parametrize("rel_step", [1e-12, 1e-9, 1e-6, 1e-4], ids=lambda r: f"rel_step={r:g}")
@pytest.mark.parametrize(
    "activations", [("tanh", "tanh", "identity"), ("sigmoid", "softplus", "sigmoid")]
)
def test_larger_steps_are_covered_by_the_truncation_term(
    rel_step: float, activations: tuple[str, ...]
) -> None:
    # rel_step 1e-6 and 1e-4 make truncation dominate, and take the other coth evaluations.
    spec = NetworkSpec((3, 6, 5, 2), activations, "mse")
    for seed in range(3):
        problem = Problem.random(spec, 4, seed=seed, weight_scale=3.0)
        est = estimate(problem, rel_step=rel_step)
        _assert_within_bound(problem, est)
        assert all(np.all(h > 0) for h in _tensors(est.step))


@pytest.mark.parametrize(
    "spec",
    [
        NetworkSpec((3, 4, 4, 2), ("sigmoid", "sigmoid", "sigmoid"), "bce"),
        NetworkSpec((3, 4, 4, 2), ("tanh", "tanh", "sigmoid"), "mse"),
        NetworkSpec((5, 8, 8, 8, 1), ("tanh", "sigmoid", "tanh", "sigmoid"), "bce"),
        NetworkSpec((2, 6, 6, 6, 3), ("softplus", "tanh", "relu", "identity"), "mse"),
    ],
    ids=lambda s: "-".join(s.activations) + "_" + s.loss.name,
)
@pytest.mark.parametrize("weight_scale", [10.0, 1000.0])
@pytest.mark.parametrize("kernel", KERNELS)
def test_saturated_networks_give_finite_estimates_within_their_bounds(
    spec: NetworkSpec, weight_scale: float, kernel: str
) -> None:
    problem = Problem.random(spec, 6, seed=5, weight_scale=weight_scale)
    est = estimate(problem, kernel=kernel)
    decidable = [~u for u in _tensors(est.undecidable)]
    assert all(np.all(np.isfinite(g)) for g in _tensors(est.grads))
    assert all(np.all(np.isfinite(b[d])) for b, d in zip(_tensors(est.bound), decidable))
    _assert_within_bound(problem, est)


# --- kinks --------------------------------------------------------------------------------------


def _hand_built(
    sizes: tuple[int, ...],
    activations: tuple[str, ...],
    params: list[tuple[list[list[float]], list[float]]],
    X: list[list[float]],
) -> Problem:
    arrays = [(np.array(W, dtype=np.float64), np.array(b, dtype=np.float64)) for W, b in params]
    m = len(X[0])
    Y = np.linspace(0.1, 0.9, sizes[-1] * m).reshape(sizes[-1], m)
    return Problem(NetworkSpec(sizes, activations, "mse"), arrays, np.array(X), Y)


def _kink_in_layer_1(b_0: float) -> Problem:
    # Z1[0, 0] = 1·1 - 0.5·2 + b_0; every other pre-activation is at least 0.1 from 0.
    return _hand_built(
        (2, 3, 2),
        ("relu", "identity"),
        [
            ([[1.0, -0.5], [0.3, 0.8], [-0.7, 0.2]], [b_0, 0.1, 0.4]),
            ([[0.5, -1.0, 0.7], [1.2, 0.3, -0.4]], [0.05, -0.1]),
        ],
        [[1.0, 0.5, -1.0], [2.0, -1.0, 0.5]],
    )


@pytest.mark.parametrize("b_0", [0.0, 1e-12], ids=["z=0", "z=1e-12"])
def test_a_pre_activation_within_the_step_of_a_kink_makes_exactly_its_entries_undecidable(
    b_0: float,
) -> None:
    problem = _kink_in_layer_1(b_0)
    est = estimate(problem)
    (uW1, ub1), (uW2, ub2) = est.undecidable
    assert uW1[0].all() and ub1[0]  # row 0 moves Z1[0, 0]
    assert not uW1[1:].any() and not ub1[1:].any()
    assert not uW2.any() and not ub2.any()  # layer 2 does not move Z1
    assert np.all(np.isinf(est.bound[0][0][0])) and np.isinf(est.bound[0][1][0])
    assert all(np.all(np.isfinite(g)) for g in _tensors(est.grads))
    _assert_within_bound(problem, est)


def test_a_kink_farther_than_the_step_is_decidable_and_right() -> None:
    problem = _kink_in_layer_1(1e-12)
    est = estimate(problem, rel_step=1e-14)  # steps move Z1[0, 0] by at most 2e-14
    assert not any(u.any() for u in _tensors(est.undecidable))
    _assert_within_bound(problem, est)


def test_a_kink_deep_in_the_network_reaches_back_only_through_nonzero_weights() -> None:
    # relu layers 1 and 2; Z2[0, 0] = 1·1 - 0.5·2 + 0·0.25 = 0, and W2[0, 2] = 0, so row 2 of
    # layer 1 cannot move it. Every other pre-activation is at least 0.25 from 0.
    problem = _hand_built(
        (2, 3, 2, 1),
        ("relu", "relu", "identity"),
        [
            ([[1.0, 0.0], [0.0, 1.0], [0.25, 0.0]], [0.0, 0.0, 0.0]),
            ([[1.0, -0.5, 0.0], [0.5, 0.5, -1.0]], [0.0, 0.1]),
            ([[1.0, -2.0]], [0.3]),
        ],
        [[1.0, 2.0], [2.0, 1.0]],
    )
    est = estimate(problem)
    (uW1, ub1), (uW2, ub2), (uW3, ub3) = est.undecidable
    assert uW1[:2].all() and ub1[:2].all() and not uW1[2].any() and not ub1[2]
    assert uW2[0].all() and ub2[0] and not uW2[1].any() and not ub2[1]
    assert not uW3.any() and not ub3.any()
    _assert_within_bound(problem, est)


# --- the source can disagree ------------------------------------------------------------------


def test_the_estimate_tells_apart_a_network_with_one_weight_changed_by_1e_6() -> None:
    spec = NetworkSpec((3, 5, 4, 2), ("tanh", "leaky_relu", "sigmoid"), "mse")
    problem = Problem.random(spec, 4, seed=6)
    params = [(W.copy(), b.copy()) for W, b in problem.params]
    params[1][0][2, 1] *= 1 + 1e-6
    other = Problem(spec, params, problem.X, problem.Y)
    est = estimate(problem)
    outside = [
        np.abs(g - truth.astype(np.float64)) > bound
        for g, bound, truth in zip(
            _tensors(est.grads), _tensors(est.bound), _tensors(true_gradients(other))
        )
    ]
    assert sum(int(o.sum()) for o in outside) >= 10, [int(o.sum()) for o in outside]
    assert outside[2][2, 1] and outside[3][2]  # the changed weight's own row, for one


# --- the difference identities themselves ------------------------------------------------------


def _exact_difference(name: str) -> Callable[[float, float], float]:
    def g(v: mpmath.mpf) -> mpmath.mpf:
        if name == "tanh":
            return mpmath.tanh(v)
        if name == "sigmoid":
            return 1 / (1 + mpmath.exp(-v))
        return mpmath.log(1 + mpmath.exp(v))

    def diff(z: float, d: float) -> float:
        with mpmath.workdps(60):
            return float(g(mpmath.mpf(z) + mpmath.mpf(d)) - g(mpmath.mpf(z)))

    return diff


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus"])
def test_the_difference_identities_are_accurate_to_a_few_eps_relative(name: str) -> None:
    z = np.array([-30.0, -7.5, -1.0, -1e-3, 0.0, 2e-4, 0.7, 3.0, 12.0, 36.0])
    d = np.array([-0.25, -1e-2, -3e-6, -1e-9, 1e-12, 4e-9, 2e-5, 0.1, 0.25])
    Z = np.repeat(z, d.size)[None, :]  # one sample, one "neuron" per (z, d)
    dZ = np.tile(d, z.size)[None, None, :]
    layer = identities._layer(name, Z, np.zeros_like(Z)).full
    dA, _, _ = identities._difference(layer, dZ, None, 0.0, identities._Pool(), 0)
    exact = _exact_difference(name)
    for zi, di, got in zip(Z.ravel(), dZ.ravel(), dA.ravel()):
        want = exact(float(zi), float(di))
        assert abs(got - want) <= 8 * EPS * abs(want) + 1e-300, (
            f"{name}(z + d) - {name}(z) at z={zi}, d={di}: {got!r} but exactly {want!r}"
        )


# --- the API -------------------------------------------------------------------------------------


def test_gradients_is_the_estimate_and_the_problem_is_left_alone() -> None:
    problem = Problem.random(NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "bce"), 3, seed=8)
    before = [(W.copy(), b.copy()) for W, b in problem.params]
    g = gradients(problem)
    for (dW, db), (eW, eb) in zip(g, estimate(problem).grads):
        assert np.array_equal(dW, eW) and np.array_equal(db, eb)
    assert all(
        np.array_equal(W, W0) and np.array_equal(b, b0)
        for (W, b), (W0, b0) in zip(problem.params, before)
    )


@pytest.mark.parametrize("rel_step", [0.0, -1e-9, 1e-3, float("nan"), True])
def test_a_step_outside_the_error_model_is_refused(rel_step: float) -> None:
    problem = Problem.random(NetworkSpec((2, 2), ("tanh",), "mse"), 2, seed=0)
    with pytest.raises(SourceLimitError, match="rel_step"):
        estimate(problem, rel_step=rel_step)
