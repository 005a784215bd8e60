"""Closed forms under every convention of issue 11 against an independent high-precision truth,
and the float64 rounding bound (`harness.tolerance`) against correct backprops written other ways.

The truth is the complex step of J in mpmath: J is written here from its definition (DESIGN.md)
in mp arithmetic, and ``Im J(θ + i h e_p) / h`` with h = 1e-20 is ∂J/∂θ_p to some 25 digits
relative, with no subtraction of nearby values (so a tiny entry keeps its digits too). The
working precision is 30 digits plus 0.9 per unit of the largest |z|, so a saturated unit's
e^(-2|z|) (and 1 - σ(z) inside bce) keeps its digits beside a real part near 1; below h ~
10^-(digits - 10) mpmath's complex erfc loses the imaginary part. The kinked activations branch
on Re z, which `Problem.random` keeps 1e-3 away from the kink. No derivative is written in the
truth: mpmath's complex exp, log, tanh and erfc do the work.

Each check asks two things of a float64 gradient: every entry within the rounding bound
``candidate_bound(problem)`` of the truth, and (closed forms
only) every tensor within 1e-13 · max|truth| (the issue's acceptance for a float64 source).
"""

from __future__ import annotations

import functools
import math
import types
from collections.abc import Callable, Sequence
from typing import Any

import mpmath
import numpy as np
import pytest
from numpy.typing import NDArray

import reference
from harness import Loss, NetworkSpec, Problem
from harness.network import REDUCTIONS, forward, leaky_slope
from harness.sources import closed_form
from harness.tolerance import candidate_bound

Array = NDArray[np.float64]
Grads = list[tuple[Array, Array]]

ACTIVATIONS = (
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "leaky_relu(0.2)",
    "identity",
    "softplus",
    "elu",
    "silu",
    "gelu",
    "softmax",
)
#: mse × half × 3 reductions, bce × 3, cross_entropy × 3.
CONVENTIONS = (
    *(Loss("mse", half=half, reduction=r) for half in (False, True) for r in REDUCTIONS),
    *(Loss("bce", reduction=r) for r in REDUCTIONS),
    *(Loss("cross_entropy", reduction=r) for r in REDUCTIONS),
)
SOURCE_RTOL = 1e-13  # a float64 source vs the truth, relative to max|g| of the tensor
EPS = float(np.finfo(np.float64).eps)


def _spec(
    activation: str, loss: Loss, l2: float, sizes: tuple[int, ...] = (2, 3, 3)
) -> NetworkSpec:
    """``activation`` in every layer it may take: hidden and output for mse, hidden for bce
    (sigmoid output) and cross_entropy (softmax output); softmax itself only at the output."""
    hidden = "tanh" if activation == "softmax" else activation
    output = {"bce": "sigmoid", "cross_entropy": "softmax"}.get(loss.name, activation)
    return NetworkSpec(sizes, (hidden,) * (len(sizes) - 2) + (output,), loss, l2=l2)


#: (activation, loss, l2) for every activation × convention × l2 (bce needs a sigmoid output).
CASE_VALUES: list[tuple[str, Loss, float]] = [
    (act, loss, l2)
    for act in ACTIVATIONS
    for loss in CONVENTIONS
    for l2 in (0.0, 1e-3)
    if not (act == "softmax" and loss.name == "bce")
]
CASES = [pytest.param(*c, id=f"{c[0]}-{c[1]}-l2={c[2]}".replace(" ", "")) for c in CASE_VALUES]


# --- the truth: complex step of J in mpmath ------------------------------------------------

_H = mpmath.mpf(10) ** -20
#: Digits of the mp arithmetic: 30, plus what a saturated unit's e^(-2|z|) needs to keep its tiny
#: imaginary part (and 1 - σ(z) its digits) beside a real part near 1.
_DIGITS_PER_UNIT_OF_Z = 0.9


def _mp_activate(name: str, zs: list[Any]) -> list[Any]:
    if name == "softmax":
        exps = [mpmath.exp(z) for z in zs]
        total = mpmath.fsum(exps)
        return [e / total for e in exps]
    alpha = leaky_slope(name)
    out = []
    for z in zs:
        positive = mpmath.re(z) > 0
        if alpha is not None:
            out.append(z if positive else alpha * z)
        elif name == "relu":
            out.append(z if positive else mpmath.mpf(0))
        elif name == "elu":
            out.append(z if positive else mpmath.exp(z) - 1)
        else:
            f = {
                "sigmoid": lambda z: 1 / (1 + mpmath.exp(-z)),
                "tanh": mpmath.tanh,
                "identity": lambda z: z,
                "softplus": lambda z: mpmath.log(1 + mpmath.exp(z)),
                "silu": lambda z: z / (1 + mpmath.exp(-z)),
                "gelu": lambda z: z * mpmath.erfc(-z / mpmath.sqrt(2)) / 2,
            }[name]
            out.append(f(z))
    return out


def _mp_objective(spec: NetworkSpec, params: list[Any], X: Array, Y: Array) -> Any:
    """J = Σ_i C_i / divisor + (l2/2) Σ w², straight from DESIGN.md."""
    m = X.shape[1]
    total = []
    for i in range(m):
        a = [mpmath.mpf(float(x)) for x in X[:, i]]
        for (W, b), name in zip(params, spec.activations):
            z = [mpmath.fsum(w * ak for w, ak in zip(row, a)) + bj for row, bj in zip(W, b)]
            a = _mp_activate(name, z)
        y = [mpmath.mpf(float(v)) for v in Y[:, i]]
        if spec.loss.name == "mse":
            total.append(mpmath.fsum((aj - yj) ** 2 for aj, yj in zip(a, y)))
        elif spec.loss.name == "bce":
            total.append(
                -mpmath.fsum(
                    yj * mpmath.log(aj) + (1 - yj) * mpmath.log(1 - aj) for aj, yj in zip(a, y)
                )
            )
        else:
            total.append(-mpmath.fsum(yj * mpmath.log(aj) for aj, yj in zip(a, y) if yj != 0))
    penalty = mpmath.fsum(w * w for W, _ in params for row in W for w in row)
    return mpmath.fsum(total) / spec.divisor(m) + mpmath.mpf(spec.l2) / 2 * penalty


def _mp_params(problem: Problem) -> list[Any]:
    return [
        ([[mpmath.mpf(float(w)) for w in row] for row in W], [mpmath.mpf(float(v)) for v in b])
        for W, b in problem.params
    ]


def _complex_step(problem: Problem, layer: int, where: tuple[int, ...]) -> float:
    params = _mp_params(problem)
    W, b = params[layer]
    if len(where) == 2:
        W[where[0]][where[1]] += mpmath.mpc(0, _H)
    else:
        b[where[0]] += mpmath.mpc(0, _H)
    return float(mpmath.im(_mp_objective(problem.spec, params, problem.X, problem.Y)) / _H)


def _complex_step_gradient(problem: Problem) -> Grads:
    z_max = max(float(np.max(np.abs(Z))) for Z, _ in forward(*_net(problem)))
    out = []
    with mpmath.workdps(30 + math.ceil(_DIGITS_PER_UNIT_OF_Z * z_max)):
        for l, (W, b) in enumerate(problem.params):
            dW = np.array([_complex_step(problem, l, idx) for idx in np.ndindex(W.shape)])
            db = np.array([_complex_step(problem, l, (j,)) for j in range(b.size)])
            out.append((dW.reshape(W.shape), db))
    return out


def _net(problem: Problem) -> tuple[Any, Array, tuple[str, ...]]:
    return problem.params, problem.X, problem.spec.activations


@functools.cache
def _truth_of(spec: NetworkSpec, batch: int, seed: int, scale: float) -> Grads:
    return _complex_step_gradient(Problem.random(spec, batch, seed, scale))


def _truth(problem: Problem) -> Grads:
    assert problem.seed is not None and problem.weight_scale is not None
    return _truth_of(problem.spec, problem.batch, problem.seed, problem.weight_scale)


def _problem(activation: str, loss: Loss, l2: float, scale: float) -> Problem:
    return Problem.random(_spec(activation, loss, l2), batch=3, seed=7, weight_scale=scale)


def _within_bound(problem: Problem, grads: Grads, truth: Grads, who: str) -> None:
    bounds = candidate_bound(problem)
    for layer, (pair, true_pair, bound_pair) in enumerate(zip(grads, truth, bounds), start=1):
        for name, g, t, bound in zip("Wb", pair, true_pair, bound_pair):
            assert np.all(np.isfinite(g)), f"{who} layer {layer} d{name}: not finite\n{g}"
            assert np.all(np.isfinite(bound)), f"bound layer {layer} d{name}: not finite"
            ratio = np.abs(g - t) / bound
            worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(ratio)), ratio.shape))
            assert ratio[worst] <= 1.0, (
                f"{who} layer {layer} d{name}{list(worst)}: {float(g[worst])!r} but the truth "
                f"is {float(t[worst])!r} (|Δ| {abs(g[worst] - t[worst]):.2e} > bound "
                f"{bound[worst]:.2e}); {problem!r}"
            )


def _within_source_tolerance(grads: Grads, truth: Grads, problem: Problem) -> None:
    for layer, (pair, true_pair) in enumerate(zip(grads, truth), start=1):
        for name, g, t in zip("Wb", pair, true_pair):
            scale = float(np.max(np.abs(t)))
            gap = float(np.max(np.abs(g - t)))
            assert gap <= SOURCE_RTOL * scale + 1e-300, (
                f"closed_form layer {layer} d{name}: max |Δ| {gap:.2e} > 1e-13 · max|g| "
                f"{scale:.2e}; {problem!r}"
            )


# --- the closed forms -----------------------------------------------------------------------


@pytest.mark.parametrize(("activation", "loss", "l2"), CASES)
def test_closed_forms_match_the_truth(activation: str, loss: Loss, l2: float) -> None:
    problem = _problem(activation, loss, l2, 1.0)
    grads = closed_form.gradients(problem)
    truth = _truth(problem)
    _within_source_tolerance(grads, truth, problem)
    _within_bound(problem, grads, truth, "closed_form")


@pytest.mark.parametrize(("activation", "loss", "l2"), [c for c in CASES if c.values[2] != 0])
def test_closed_forms_stay_finite_and_right_at_weight_scale_10(
    activation: str, loss: Loss, l2: float
) -> None:
    problem = _problem(activation, loss, l2, 10.0)
    grads = closed_form.gradients(problem)
    truth = _truth(problem)
    _within_source_tolerance(grads, truth, problem)
    _within_bound(problem, grads, truth, "closed_form")


def _softmax_problem(loss: Loss, gap: float) -> Problem:
    """One sample whose softmax output 0 is e^-gap of output 1: 1e-300 at gap 690, 0 at 800."""
    spec = NetworkSpec((2, 3), ("softmax",), loss)
    W = np.array([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]])
    b = np.array([0.0, gap, gap - 2.0])
    X = np.array([[0.7], [-0.4]])
    Y = np.array([[1.0], [0.0], [0.0]]) if loss.name == "cross_entropy" else np.full((3, 1), 0.3)
    return Problem(spec, [(W, b)], X, Y)


@pytest.mark.parametrize("gap", [690.0, 800.0], ids=["a=1e-300", "a=0"])
@pytest.mark.parametrize("loss", [Loss("cross_entropy"), Loss("mse", reduction="sum")], ids=str)
def test_an_underflowing_softmax_output_keeps_the_gradient_finite_and_exact(
    loss: Loss, gap: float
) -> None:
    problem = _softmax_problem(loss, gap)
    a = forward(problem.params, problem.X, problem.spec.activations)[-1][1]
    assert a[0, 0] < 1e-299
    grads = closed_form.gradients(problem)
    truth = _complex_step_gradient(problem)
    _within_source_tolerance(grads, truth, problem)
    _within_bound(problem, grads, truth, "closed_form")


def test_unknown_names_raise_instead_of_taking_another_branch() -> None:
    z = np.array([[0.5, -0.5]])
    with pytest.raises(ValueError, match="swish"):
        closed_form.g_prime("swish", z)
    with pytest.raises(ValueError, match="softmax"):
        closed_form.g_prime("softmax", z)  # not elementwise: only the output's Jacobian
    for loss, out in [("hinge", "sigmoid"), ("bce", "tanh"), ("cross_entropy", "sigmoid")]:
        spec: Any = types.SimpleNamespace(loss=types.SimpleNamespace(name=loss), activations=(out,))
        with pytest.raises(ValueError, match=loss):
            closed_form.output_dC_dz(spec, z, z, z)


# --- the rounding bound covers correct backprops written other ways -------------------------

_ERF = np.frompyfunc(math.erf, 1, 1)


def _erf(x: Array) -> Array:
    return np.asarray(_ERF(x), dtype=np.float64)


def _textbook_forward(name: str, Z: Array) -> Array:
    """The forms a course writes: exp(z) - 1, 0.5 z (1 + erf(z/√2)), 1/(1 + exp(-z))."""
    alpha = leaky_slope(name)
    if alpha is not None:
        return np.where(Z > 0, Z, alpha * Z)
    with np.errstate(over="ignore"):
        if name == "sigmoid":
            return 1.0 / (1.0 + np.exp(-Z))
        if name == "silu":
            return Z / (1.0 + np.exp(-Z))
        if name == "elu":
            return np.where(Z > 0, Z, np.exp(Z) - 1.0)
    if name == "tanh":
        return np.tanh(Z)
    if name == "relu":
        return np.maximum(Z, 0.0)
    if name == "identity":
        return Z
    if name == "softplus":
        return np.logaddexp(0.0, Z)
    if name == "gelu":
        return 0.5 * Z * (1.0 + _erf(Z / math.sqrt(2.0)))
    if name == "softmax":
        E = np.exp(Z - Z.max(axis=0))
        return np.asarray(E / E.sum(axis=0), dtype=np.float64)
    raise ValueError(name)


def _textbook_prime(name: str, Z: Array, A: Array) -> Array:
    """g' from the activation's output where a course does: A(1 - A), 1 - A², A + 1, and
    σ + zσ(1 - σ), (1 + erf(z/√2))/2 + z e^(-z²/2)/√(2π)."""
    alpha = leaky_slope(name)
    if alpha is not None:
        return np.where(Z > 0, 1.0, alpha)
    if name == "sigmoid":
        return A * (1.0 - A)
    if name == "tanh":
        return 1.0 - A**2
    if name == "relu":
        return (Z > 0).astype(np.float64)
    if name == "identity":
        return np.ones_like(Z)
    if name == "softplus":
        return _textbook_forward("sigmoid", Z)
    if name == "elu":
        return np.where(Z > 0, 1.0, A + 1.0)
    if name == "silu":
        s = _textbook_forward("sigmoid", Z)
        return s + Z * s * (1.0 - s)
    if name == "gelu":
        with np.errstate(under="ignore"):
            pdf = np.exp(-(Z**2) / 2.0) / math.sqrt(2.0 * math.pi)
        return 0.5 * (1.0 + _erf(Z / math.sqrt(2.0))) + Z * pdf
    raise ValueError(name)


def textbook(problem: Problem) -> Grads:
    """Vectorized, J's divisor applied at the output, softmax-CE as A - Y, mse after a softmax
    through each sample's full Jacobian diag(a) - a aᵀ."""
    spec, Y = problem.spec, problem.Y
    Zs, As = [], [problem.X]
    for (W, b), name in zip(problem.params, spec.activations):
        Zs.append(W @ As[-1] + b[:, None])
        As.append(_textbook_forward(name, Zs[-1]))
    m, n_L = Y.shape[1], Y.shape[0]
    scale = {"mean": 1.0 / m, "sum": 1.0, "elementwise_mean": 1.0 / (m * n_L)}[spec.loss.reduction]
    A, out = As[-1], spec.activations[-1]
    if spec.loss.name == "cross_entropy" or spec.loss.name == "bce":
        dZ = (A - Y) * scale
    else:
        dA = (A - Y) * (scale if spec.loss.half else 2.0 * scale)
        if out == "softmax":
            jacobian = np.einsum("ki,kj->ikj", A, np.eye(n_L)) - np.einsum("ki,ji->ikj", A, A)
            dZ = np.einsum("ikj,ki->ji", jacobian, dA)
        else:
            dZ = dA * _textbook_prime(out, Zs[-1], A)
    grads = []
    for l in range(spec.depth, 0, -1):
        W = problem.params[l - 1][0]
        grads.append((dZ @ As[l - 1].T + spec.l2 * W, dZ.sum(axis=1)))
        if l > 1:
            dZ = (W.T @ dZ) * _textbook_prime(spec.activations[l - 2], Zs[l - 2], As[l - 1])
    return grads[::-1]


def per_sample_loops(problem: Problem) -> Grads:
    """One sample at a time: cross_entropy through -y/a and the Jacobian's entries
    a_k(δ_kj - a_j), bce's two terms multiplied out, every sample's share divided by the divisor
    before it is added, the l2 term added first, the backward sum over j in reverse."""
    spec, params = problem.spec, problem.params
    divisor = spec.divisor(problem.batch)
    grads = [(spec.l2 * W.copy(), np.zeros_like(b)) for W, b in params]
    for i in range(problem.batch):
        zs, acts = [], [problem.X[:, i].copy()]
        for (W, b), name in zip(params, spec.activations):
            zs.append(W @ acts[-1] + b)
            acts.append(_textbook_forward(name, zs[-1][:, None])[:, 0])
        a, y, out = acts[-1], problem.Y[:, i], spec.activations[-1]
        n = len(a)
        if spec.loss.name == "cross_entropy":
            dC_da = [-y[k] / a[k] for k in range(n)]
        else:
            dC_da = [2.0 * (a[k] - y[k]) for k in range(n)]
        if out == "softmax":
            dz = [sum(dC_da[k] * a[k] * ((k == j) - a[j]) for k in range(n)) for j in range(n)]
        elif spec.loss.name == "bce":  # (-y/a + (1 - y)/(1 - a)) · a(1 - a), multiplied out
            dz = [-y[j] * (1.0 - a[j]) + (1.0 - y[j]) * a[j] for j in range(n)]
        else:
            prime = _textbook_prime(out, zs[-1][:, None], a[:, None])[:, 0]
            dz = [dC_da[j] * prime[j] for j in range(n)]
        for l in range(spec.depth, 0, -1):
            W = params[l - 1][0]
            dW, db = grads[l - 1]
            for j in range(W.shape[0]):
                db[j] += dz[j] / divisor
                for k in range(W.shape[1]):
                    dW[j, k] += dz[j] * acts[l - 1][k] / divisor
            if l > 1:
                name = spec.activations[l - 2]
                prime = _textbook_prime(name, zs[l - 2][:, None], acts[l - 1][:, None])[:, 0]
                dz = [
                    sum(dz[j] * W[j, k] for j in reversed(range(W.shape[0]))) * prime[k]
                    for k in range(W.shape[1])
                ]
    return grads


def the_reference(problem: Problem) -> Grads:
    spec = problem.spec
    return reference.backward(
        problem.params,
        problem.X,
        problem.Y,
        spec.activations,
        spec.loss.name,
        half=spec.loss.half,
        reduction=spec.loss.reduction,
        l2=spec.l2,
    )


BACKPROPS: Sequence[Callable[[Problem], Grads]] = (textbook, per_sample_loops, the_reference)


@pytest.mark.parametrize("backprop", BACKPROPS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("scale", [1.0, 10.0])
def test_the_rounding_bound_covers_correct_backprops_written_other_ways(
    backprop: Callable[[Problem], Grads], scale: float
) -> None:
    """Every case of the closed-form tests (their truths are cached), at scales 1 and 10."""
    for activation, loss, l2 in CASE_VALUES:
        if scale == 10.0 and not l2:
            continue  # the scale-10 truths were computed with l2 only
        problem = _problem(activation, loss, l2, scale)
        _within_bound(problem, backprop(problem), _truth(problem), backprop.__name__)


def _cancelling_problem(case: str) -> Problem:
    """Every unit of one layer where a usual float64 form cancels: g' or a formed from terms
    far larger than itself, or a softmax output within 1e-10 of its one-hot target."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((2, 3))
    if case.startswith("softmax"):
        loss = Loss("cross_entropy") if case == "softmax-ce" else Loss("mse", reduction="sum")
        W = 1e-3 * rng.standard_normal((3, 2))
        b = np.array([23.0, 0.0, 0.5])  # a_0 = 1 - 2e-10 for every sample
        Y = np.eye(3)[:, [0, 0, 0]] if loss.name == "cross_entropy" else rng.random((3, 3))
        return Problem(NetworkSpec((2, 3), ("softmax",), loss), [(W, b)], X, Y)
    name, z = {
        "gelu-erf": ("gelu", -7.0),  # (1 + erf(z/√2))/2 ~ 1e-12, formed from 1 - 1
        "elu-A+1": ("elu", -25.0),  # A + 1 ~ 1e-11, formed from -1 + 1
        "elu-expm1": ("elu", -1e-9),  # exp(z) - 1 ~ -1e-9, formed from 1 - 1
        "silu-zero": ("silu", -1.2784645427610738),  # σ + zσ(1 - σ) = 0
        # Past an ulp the usual forms round the small part away: the bound's terms are capped
        # there (closed_form._capped) and must still cover the lost part.
        "gelu-deep": ("gelu", -10.0),  # erf(z/√2) = -1 exactly: Φ(z) ~ 1e-23 lost
        "elu-deep": ("elu", -40.0),  # A = -1 exactly: A + 1 = 0 instead of 4e-18
        "silu-edge": ("silu", 37.0),  # σ(z) = 1 - ~eps: 1 - σ loses all its digits
    }[case]
    W1 = min(1e-7, 1e-3 * abs(z)) * rng.standard_normal((3, 2))  # z stays on its side of 0
    b1 = np.full(3, z)
    W2, b2 = rng.standard_normal((2, 3)), rng.standard_normal(2)
    spec = NetworkSpec((2, 3, 2), (name, "identity"), Loss("mse", half=True))
    return Problem(spec, [(W1, b1), (W2, b2)], X, rng.random((2, 3)))


CANCELLING = ("gelu-erf", "elu-A+1", "elu-expm1", "silu-zero", "softmax-ce", "softmax-mse")
ROUNDED_AWAY = ("gelu-deep", "elu-deep", "silu-edge")


@pytest.mark.parametrize("case", CANCELLING + ROUNDED_AWAY)
def test_the_bound_admits_the_cancellations_of_the_usual_forms(case: str) -> None:
    """Where the usual forms lose relative accuracy the bound follows their terms: the
    textbook's error is far above eps · |g| (so a bound on |g| alone would call it wrong), yet
    every correct backprop, and the closed forms, stay within the bound."""
    problem = _cancelling_problem(case)
    truth = _complex_step_gradient(problem)
    loss_of_accuracy = max(
        float(np.max(np.abs(g - t) / (np.abs(t) + 1e-300)))
        for pair, true_pair in zip(textbook(problem), truth)
        for g, t in zip(pair, true_pair)
    )
    assert case == "silu-edge" or loss_of_accuracy > 1e5 * EPS, loss_of_accuracy
    for backprop in (*BACKPROPS, closed_form.gradients):
        _within_bound(problem, backprop(problem), truth, backprop.__name__)
    if case != "silu-zero":  # σ(z)(1 + zσ(-z)) cancels at the zero of silu' in any float64 form
        _within_source_tolerance(closed_form.gradients(problem), truth, problem)


def test_the_bound_admits_A_minus_Y_when_the_targets_sum_to_1_only_nearly() -> None:
    """-y_j + a_j Σ_k y_k is A - Y only when Σ_k y_k = 1; a computed probability vector sums to
    1 to within rounding (the spec accepts 1e-9), and A - Y stays within the bound there."""
    rng = np.random.default_rng(5)
    Y = np.array([[0.7, 0.1], [0.2, 0.3], [0.1 + 3e-10, 0.6 - 2e-10]])
    spec = NetworkSpec((2, 4, 3), ("tanh", "softmax"), Loss("cross_entropy", reduction="sum"))
    params = [
        (rng.standard_normal((4, 2)), rng.standard_normal(4)),
        (rng.standard_normal((3, 4)), rng.standard_normal(3)),
    ]
    problem = Problem(spec, params, rng.standard_normal((2, 2)), Y)
    truth = _complex_step_gradient(problem)
    off_by = max(
        float(np.max(np.abs(g - t))) for p, q in zip(textbook(problem), truth) for g, t in zip(p, q)
    )
    assert off_by > 1e-11  # A - Y really differs from the gradient of J here
    for backprop in (*BACKPROPS, closed_form.gradients):
        _within_bound(problem, backprop(problem), truth, backprop.__name__)
    _within_source_tolerance(closed_form.gradients(problem), truth, problem)
