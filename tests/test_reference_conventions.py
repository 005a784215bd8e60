"""reference.backward speaks every convention of issue 11, checked against a 50-digit truth.

The truth is a central difference of J computed with mpmath at 50 significant digits (step
h = 1e-18: truncation ~h²·J''' ~ 1e-36, cancellation ~1e-50·|J|/h = 1e-32·|J|, so each
entry is allowed an absolute 1e-28·max(1, |J|) besides its rounding), on tiny nets whose
forward pass and losses are written below from their definitions (DESIGN.md), sharing nothing
with reference/ or harness.network's float64 code; `NetworkSpec.objective` confirms this J is the
harness's J. Every activation × every valid loss option (mse with and without ½, bce,
cross_entropy; × the three reductions) × l2 ∈ {0, 1e-3} must come within 1e-13·max|g| per tensor
(a float64 backprop's rounding, tests/test_agreement.py's FLOAT64_ERROR). At weight scale 10
(|Z| in the hundreds, saturated units) max|g| is no measure of rounding (A - Y of a saturated
sigmoid, W^T dJ_dZ cancelling): there each entry must come within the harness's own rounding
bound of a float64 backprop (`harness.tolerance`). |Z| up to 1e5 must give finite values. Any
NumPy warning during a reference call fails the test.

The truth of Σ_i C_i is computed once per problem and shared by its loss options: J's central
difference is Σ_i C_i's divided by the divisor plus the l2 term's (differences are linear).
"""

from __future__ import annotations

import itertools
import warnings
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import mpmath
import numpy as np
import pytest

import reference
from harness import Loss, NetworkSpec, Problem, tolerance
from harness.network import REDUCTIONS, leaky_slope

mpf = mpmath.mpf
Grads = list[tuple[Any, Any]]

DIGITS = 50
STEP = mpf("1e-18")
#: A float64 backprop's error against the exact gradient, per tensor, relative to max|g|.
FLOAT64_ERROR = 1e-13
#: The truth's own absolute error, relative to max(1, |J|): what an entry of a tensor whose
#: gradient is ~1e-45 (a saturated unit) may differ by, where the difference cannot resolve it.
TRUTH_ERROR = 1e-28
#: |J of this file - NetworkSpec.objective| relative to max(1, |J|): both evaluate the same J.
OBJECTIVE_MATCH = 1e-12

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
LOSSES = [
    *(Loss("mse", half=half, reduction=r) for half in (False, True) for r in REDUCTIONS),
    *(Loss(name, reduction=r) for name in ("bce", "cross_entropy") for r in REDUCTIONS),
]
L2S = (0.0, 1e-3)


# --- J at 50 digits, from the definitions ------------------------------------------------------


def _log_sigmoid(z: Any) -> Any:
    # log σ(z) = -log(1 + e^-z); log(1 - σ(z)) = log σ(-z).
    return -mpmath.log1p(mpmath.exp(-z))


_ELEMENTWISE: dict[str, Callable[[Any], Any]] = {
    "sigmoid": lambda z: 1 / (1 + mpmath.exp(-z)),
    "tanh": mpmath.tanh,
    "relu": lambda z: z if z > 0 else mpf(0),
    "identity": lambda z: z,
    "softplus": lambda z: mpmath.log1p(mpmath.exp(z)),
    "elu": lambda z: z if z > 0 else mpmath.expm1(z),
    "silu": lambda z: z / (1 + mpmath.exp(-z)),
    "gelu": lambda z: z * mpmath.erfc(-z / mpmath.sqrt(2)) / 2,
}


def _activate(name: str, z: list[Any]) -> list[Any]:
    """One sample's layer: elementwise, or softmax over the layer's outputs."""
    if name == "softmax":
        e = [mpmath.exp(v) for v in z]
        total = mpmath.fsum(e)
        return [v / total for v in e]
    alpha = leaky_slope(name)  # the slope a name carries: parsing, not derivative code
    if alpha is not None:
        return [v if v > 0 else mpf(alpha) * v for v in z]
    return [_ELEMENTWISE[name](v) for v in z]


def _sample_loss(loss: str, z: list[Any], a: list[Any], y: list[Any]) -> Any:
    if loss == "mse":
        return mpmath.fsum((a_j - y_j) ** 2 for a_j, y_j in zip(a, y))
    if loss == "bce":  # a = σ(z): y log a + (1 - y) log(1 - a) without rounding 1 - a
        return -mpmath.fsum(
            y_j * _log_sigmoid(z_j) + (1 - y_j) * _log_sigmoid(-z_j) for z_j, y_j in zip(z, y)
        )
    if loss == "cross_entropy":  # a = softmax(z): log a_j = z_j - log Σ_k e^z_k
        log_total = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in z))
        return -mpmath.fsum(y_j * (z_j - log_total) for z_j, y_j in zip(z, y))
    raise AssertionError(f"no loss {loss!r} in this test")


class SampleLosses:
    """Σ_i C_i at 50 digits as a function of θ, the flat list (W1 row-major, b1, W2, b2, ...)."""

    def __init__(self, sizes: Sequence[int], activations: Sequence[str], loss: str, X: Any, Y: Any):
        self.shapes = [(n, n_prev) for n_prev, n in itertools.pairwise(sizes)]
        self.activations, self.loss = activations, loss
        self.X = [[mpf(float(v)) for v in column] for column in X.T]
        self.Y = [[mpf(float(v)) for v in column] for column in Y.T]

    def layers(self, theta: list[Any]) -> list[tuple[list[list[Any]], list[Any]]]:
        out, at = [], 0
        for n, n_prev in self.shapes:
            W = [theta[at + j * n_prev : at + (j + 1) * n_prev] for j in range(n)]
            at += n * n_prev
            out.append((W, theta[at : at + n]))
            at += n
        return out

    def inputs(self, theta: list[Any]) -> list[list[list[Any]]]:
        """A^(l-1) of each sample, per layer l: ``inputs[l - 1][i]``."""
        out = [self.X]
        for (W, b), name in zip(self.layers(theta)[:-1], self.activations):
            out.append([_activate(name, _affine(W, b, a)) for a in out[-1]])
        return out

    def __call__(self, theta: list[Any], start: int = 0, inputs: Any = None) -> Any:
        """Σ_i C_i; from layer ``start`` (0-based) on, given the `inputs` of a θ that agrees with
        this one below that layer (a difference in layer l need not redo the layers below)."""
        layers = self.layers(theta)
        total = mpf(0)
        for i, y in enumerate(self.Y):
            a = self.X[i] if inputs is None else inputs[start][i]
            for (W, b), name in zip(layers[start:], self.activations[start:]):
                z = _affine(W, b, a)
                a = _activate(name, z)
            total += _sample_loss(self.loss, z, a, y)
        return total


def _affine(W: list[list[Any]], b: list[Any], a: list[Any]) -> list[Any]:
    return [mpmath.fsum(w * v for w, v in zip(row, a)) + b_j for row, b_j in zip(W, b)]


def _flat(params: Sequence[tuple[Any, Any]]) -> list[Any]:
    return [mpf(float(v)) for W, b in params for t in (W, b) for v in t.ravel()]


_DATA_PARTS: dict[tuple[Any, ...], tuple[Any, list[Any]]] = {}


def _data_part(
    sizes: Sequence[int], activations: Sequence[str], loss: str, params: Any, X: Any, Y: Any
) -> tuple[Any, list[Any]]:
    """Σ_i C_i and its central difference in each flat parameter, at 50 digits. Every loss
    option of one problem shares it: J's difference is this one ÷ divisor plus l2's (central
    differences are linear in the function), so it is computed once per problem."""
    key = (tuple(sizes), tuple(activations), loss, X.tobytes(), Y.tobytes(),
           *(t.tobytes() for pair in params for t in pair))  # fmt: skip
    if key not in _DATA_PARTS:
        C = SampleLosses(sizes, activations, loss, X, Y)
        theta = _flat(params)
        layer_of = [l for l, (n, n_prev) in enumerate(C.shapes) for _ in range(n * (n_prev + 1))]
        with mpmath.workdps(DIGITS):
            inputs = C.inputs(theta)
            differences = []
            for i, l in enumerate(layer_of):
                up, down = list(theta), list(theta)
                up[i] += STEP
                down[i] -= STEP
                differences.append((C(up, l, inputs) - C(down, l, inputs)) / (2 * STEP))
            _DATA_PARTS[key] = (C(theta), differences)
    return _DATA_PARTS[key]


def _truth(
    sizes: Sequence[int],
    activations: Sequence[str],
    loss: str,
    params: Any,
    X: Any,
    Y: Any,
    divisor: float,
    l2: float,
) -> tuple[Any, list[list[Any]]]:
    """J = Σ_i C_i / divisor + (l2/2)·Σ‖W‖² and its central differences, per tensor."""
    data, d_data = _data_part(sizes, activations, loss, params, X, Y)
    theta = _flat(params)
    shapes = [(n, n_prev) for n_prev, n in itertools.pairwise(sizes)]
    is_weight = [t == "W" for n, n_prev in shapes for t in "W" * (n * n_prev) + "b" * n]
    with mpmath.workdps(DIGITS):
        half_l2 = mpf(l2) / 2
        J = data / mpf(divisor) + half_l2 * mpmath.fsum(
            w**2 for w, weight in zip(theta, is_weight) if weight
        )
        flat = [
            d / mpf(divisor)
            + (half_l2 * ((w + STEP) ** 2 - (w - STEP) ** 2) / (2 * STEP) if weight else 0)
            for d, w, weight in zip(d_data, theta, is_weight)
        ]
    tensors, at = [], 0
    for n, n_prev in shapes:
        for size in (n * n_prev, n):
            tensors.append(flat[at : at + size])
            at += size
    return J, tensors


def _reference(problem: Problem) -> Grads:
    spec = problem.spec
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow or invalid-value warning fails the test
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


def _assert_exact(grads: Grads, truth: list[list[Any]], J: Any, rounding: Any = None) -> None:
    """Each tensor within FLOAT64_ERROR·max|g| of the truth or, given ``rounding`` (per-entry
    bounds ``[(dW1, db1), ...]``), each entry within its bound; plus the truth's own error."""
    names = [f"layer {l} d{t}" for l in range(1, len(grads) + 1) for t in "Wb"]
    tensors = [t for pair in grads for t in pair]
    bounds = [None] * len(tensors) if rounding is None else [t for pair in rounding for t in pair]
    for where, tensor, exact, entry_bound in zip(names, tensors, truth, bounds, strict=True):
        assert np.all(np.isfinite(tensor)), f"{where}: non-finite {tensor}"
        scale = max(abs(float(v)) for v in exact)
        errors = np.array([float(abs(mpf(float(g)) - e)) for g, e in zip(tensor.ravel(), exact)])
        if entry_bound is None:
            allowed, what = np.full(tensor.size, FLOAT64_ERROR * scale), f"{FLOAT64_ERROR:g}·max|g|"
        else:
            allowed, what = np.ravel(entry_bound), "the rounding model"
        bound = allowed + TRUTH_ERROR * max(1.0, abs(float(J)))
        worst = int(np.argmax(errors / bound))
        assert errors[worst] <= bound[worst], (
            f"{where}[{worst}] (flat): reference {tensor.ravel()[worst]!r} but the 50-digit "
            f"value is {mpmath.nstr(exact[worst], 20)} (|Δ| {errors[worst]:.2e} > bound "
            f"{bound[worst]:.2e}: {what} + the truth's error)"
        )


def _check_against_truth(problem: Problem, *, rounding_model: bool = False) -> None:
    """The reference against the truth: within FLOAT64_ERROR·max|g| per tensor, or with
    ``rounding_model`` within the harness's per-entry rounding bound of a float64 backprop
    (`harness.tolerance`: the chain rule on absolute values, where cancellation and saturation
    make max|g| no measure of rounding)."""
    spec = problem.spec
    J, truth = _truth(
        spec.sizes,
        spec.activations,
        spec.loss.name,
        problem.params,
        problem.X,
        problem.Y,
        spec.divisor(problem.batch),
        spec.l2,
    )
    J_64 = spec.objective(problem.params, problem.X, problem.Y)
    assert abs(float(J) - J_64) <= OBJECTIVE_MATCH * max(1.0, abs(J_64)), (
        f"this file's J {mpmath.nstr(J, 17)} is not spec.objective's {J_64!r}"
    )
    rounding = None
    if rounding_model:
        rounding = tolerance.candidate_bound(problem)
    _assert_exact(_reference(problem), truth, J, rounding)


# --- every activation × every loss option × l2 -------------------------------------------------


def _spec(activation: str, loss: Loss, l2: float, sizes: tuple[int, ...]) -> NetworkSpec:
    """``activation`` on the hidden layers and, where the loss allows it, on the output too;
    softmax (output only) goes on the output with tanh below it."""
    hidden = "tanh" if activation == "softmax" else activation
    output = {"mse": activation, "bce": "sigmoid", "cross_entropy": "softmax"}[loss.name]
    return NetworkSpec(sizes, (hidden,) * (len(sizes) - 2) + (output,), loss, l2=l2)


def _seed(spec: NetworkSpec) -> int:
    """Fixed per architecture and loss name, varied across them; the same for every reduction,
    ½ and l2, so those cases share one problem (and one 50-digit difference of Σ_i C_i)."""
    key = f"{spec.sizes} {spec.activations} {spec.loss.name}"
    return zlib.crc32(key.encode()) % 10_000


GRID = [
    pytest.param(activation, loss, l2, id=f"{activation}-{loss}-l2={l2:g}".replace(" ", ""))
    for activation, loss, l2 in itertools.product(ACTIVATIONS, LOSSES, L2S)
    if not (activation == "softmax" and loss.name == "bce")  # bce needs a sigmoid output
]


@pytest.mark.parametrize(("activation", "loss", "l2"), GRID)
def test_reference_matches_the_50_digit_gradient(activation: str, loss: Loss, l2: float) -> None:
    spec = _spec(activation, loss, l2, (2, 3, 2, 3))
    _check_against_truth(Problem.random(spec, batch=3, seed=_seed(spec)))


LARGE = [
    pytest.param(activation, loss, id=f"{activation}-{loss}".replace(" ", ""))
    for activation, loss in itertools.product(
        ACTIVATIONS, [Loss("mse", half=True), Loss("bce", reduction="sum"), Loss("cross_entropy")]
    )
    if not (activation == "softmax" and loss.name == "bce")
]


@pytest.mark.parametrize(("activation", "loss"), LARGE)
def test_large_pre_activations_stay_finite_quiet_and_within_rounding(
    activation: str, loss: Loss
) -> None:
    """Weight scale 10 on a deeper net: |Z| reaches the hundreds, units saturate."""
    spec = _spec(activation, loss, 1e-3, (2, 3, 3, 3))
    problem = Problem.random(spec, batch=3, seed=_seed(spec), weight_scale=10.0)
    _check_against_truth(problem, rounding_model=True)


def test_extreme_pre_activations_give_finite_values_without_warnings() -> None:
    """|Z| ~ 1e3..1e5, where cosh, exp(z) and z² of a naive formula overflow."""
    rng = np.random.default_rng(3)
    X = 1e3 * rng.standard_normal((3, 5))
    for hidden, (output, loss) in itertools.product(
        ACTIVATIONS[:-1], [("tanh", "mse"), ("sigmoid", "bce"), ("softmax", "cross_entropy")]
    ):
        params = [
            (30.0 * rng.standard_normal((4, 3)), rng.standard_normal(4)),
            (30.0 * rng.standard_normal((3, 4)), rng.standard_normal(3)),
        ]
        Y = np.eye(3)[:, rng.integers(0, 3, size=5)]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            grads = reference.backward(params, X, Y, (hidden, output), loss, l2=1e-3)
        for dW, db in grads:
            assert np.all(np.isfinite(dW)) and np.all(np.isfinite(db)), (hidden, output, loss)


def test_cross_entropy_uses_the_general_form_for_targets_that_do_not_sum_to_one() -> None:
    """dJ/dZ = A·ΣY - Y, not A - Y: right even for columns of Y summing to 2.5 or 0.3 (outside
    what the spec accepts, so called directly)."""
    rng = np.random.default_rng(11)
    sizes, activations = (2, 3, 3), ("gelu", "softmax")
    params = [(rng.standard_normal((n, p)), rng.standard_normal(n)) for p, n in [(2, 3), (3, 3)]]
    X = rng.standard_normal((2, 2))
    Y = np.array([[1.0, 0.1], [0.5, 0.0], [1.0, 0.2]])
    grads = reference.backward(params, X, Y, activations, "cross_entropy", reduction="sum")
    J, truth = _truth(sizes, activations, "cross_entropy", params, X, Y, divisor=1.0, l2=0.0)
    _assert_exact(grads, truth, J)


def test_leaky_relu_spellings_name_the_same_function() -> None:
    spec = NetworkSpec((2, 3, 1), ("leaky_relu", "identity"))
    p = Problem.random(spec, batch=4, seed=0)
    default = reference.backward(p.params, p.X, p.Y, ("leaky_relu", "identity"), "mse")
    for name in ("leaky_relu(0.01)", "leaky_relu( 0.01 )", "leaky_relu(1e-2)"):
        spelled = reference.backward(p.params, p.X, p.Y, (name, "identity"), "mse")
        for (dW, db), (dW_s, db_s) in zip(default, spelled):
            assert np.array_equal(dW, dW_s) and np.array_equal(db, db_s), name


# --- names the reference does not know -----------------------------------------------------------

W, b, X1, Y1 = np.ones((1, 2)), np.zeros(1), np.ones((2, 3)), np.zeros((1, 3))
KNOWN_ACTIVATIONS = (
    "known: sigmoid, tanh, relu, leaky_relu, identity, softplus, elu, silu, gelu, softmax, "
    "leaky_relu(α) for a slope α > 0"
)


@pytest.mark.parametrize(
    ("activations", "loss", "options", "message"),
    [
        (("sigmod",), "mse", {}, f"unknown activation 'sigmod'; {KNOWN_ACTIVATIONS}"),
        (("Softmax",), "mse", {}, f"unknown activation 'Softmax'; {KNOWN_ACTIVATIONS}"),
        (("leaky_relu(0)",), "mse", {}, f"unknown activation 'leaky_relu(0)'; {KNOWN_ACTIVATIONS}"),
        (("leaky_relu(-0.1)",), "mse", {},
         f"unknown activation 'leaky_relu(-0.1)'; {KNOWN_ACTIVATIONS}"),
        (("leaky_relu(inf)",), "mse", {},
         f"unknown activation 'leaky_relu(inf)'; {KNOWN_ACTIVATIONS}"),
        (("leaky_relu(a)",), "mse", {}, f"unknown activation 'leaky_relu(a)'; {KNOWN_ACTIVATIONS}"),
        (("gelu", "sigmod"), "mse", {}, f"unknown activation 'sigmod'; {KNOWN_ACTIVATIONS}"),
        (("softmax", "sigmoid"), "mse", {},
         "activation 'softmax' couples the outputs of a sample: output layer only"),
        (("sigmoid",), "hinge", {}, "unknown loss 'hinge'; known: mse, bce, cross_entropy"),
        (("softmax",), "nll", {}, "unknown loss 'nll'; known: mse, bce, cross_entropy"),
        (("tanh",), "bce", {}, "loss 'bce' needs a sigmoid output layer"),
        (("sigmoid",), "cross_entropy", {}, "loss 'cross_entropy' needs a softmax output layer"),
        (("sigmoid",), "bce", {"half": True},
         "half=True is mse's ½·Σ(a - y)² only; loss 'bce' has no ½ form"),
        (("softmax",), "cross_entropy", {"half": True},
         "half=True is mse's ½·Σ(a - y)² only; loss 'cross_entropy' has no ½ form"),
        (("sigmoid",), "mse", {"reduction": "none"},
         "unknown reduction 'none'; known: mean, sum, elementwise_mean"),
    ],
    ids=[
        "unknown-activation", "case-matters", "leaky-slope-0", "leaky-slope-negative",
        "leaky-slope-inf", "leaky-slope-not-a-number", "unknown-output-activation",
        "hidden-softmax", "unknown-loss", "loss-alias", "bce-without-sigmoid",
        "cross-entropy-without-softmax", "half-bce", "half-cross-entropy", "unknown-reduction",
    ],
)  # fmt: skip
def test_reference_names_what_it_does_not_know(
    activations: tuple[str, ...], loss: str, options: dict[str, Any], message: str
) -> None:
    params = [(W, b)] if len(activations) == 1 else [(np.ones((2, 2)), np.zeros(2)), (W, b)]
    with pytest.raises(ValueError) as raised:
        reference.backward(params, X1, Y1, activations, loss, **options)
    assert type(raised.value) is ValueError
    assert str(raised.value) == message


def test_reference_forward_refuses_an_unknown_activation() -> None:
    with pytest.raises(ValueError, match=r"unknown activation 'erf'; known: sigmoid, .* gelu"):
        reference.forward([(W, b)], X1, ["erf"])


def test_reference_names_are_the_harness_names() -> None:
    """reference/ keeps its own names and constants (it imports nothing from the harness,
    tests/test_independence.py): they must still be the harness's."""
    import harness.network as network

    assert reference.backprop._LEAKY_SLOPE == network.LEAKY_SLOPE
    assert reference.backprop._LOSSES == network.LOSSES
    assert reference.backprop._REDUCTIONS == network.REDUCTIONS
    assert (*reference.backprop._ACTIVATIONS, "softmax") == network.ACTIVATIONS
