"""The SymPy source on the conventions of issue 11: elu, silu, gelu, leaky_relu(α), a softmax head
(cross_entropy, mse), bce, half, the three reductions and the L2 term.

The ground truth here is written in this file: J evaluated in mpmath from its definition
(DESIGN.md) and differentiated by central differences at 60 digits, so nothing of the source —
neither its SymPy expressions nor the shared forward definition — checks itself.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import pytest
import sympy as sp

from harness import Loss, NetworkSpec, Problem
from harness.sources import symbolic

# ------------------------------------------------------------------- J in mpmath, independently


def _leaky(alpha: str) -> Callable[[Any], Any]:
    return lambda z: z if z > 0 else mpmath.mpf(alpha) * z  # α at the working precision


_G: dict[str, Callable[[Any], Any]] = {
    "sigmoid": lambda z: 1 / (1 + mpmath.exp(-z)),
    "tanh": mpmath.tanh,
    "relu": lambda z: z if z > 0 else mpmath.mpf(0),
    "leaky_relu": _leaky("0.01"),
    "identity": lambda z: z,
    "softplus": lambda z: mpmath.log(1 + mpmath.exp(z)),
    "elu": lambda z: z if z > 0 else mpmath.exp(z) - 1,
    "silu": lambda z: z / (1 + mpmath.exp(-z)),
    "gelu": lambda z: z * mpmath.erfc(-z / mpmath.sqrt(2)) / 2,
}


def _g(name: str) -> Callable[[Any], Any]:
    """The activation, from its own table; leaky_relu(α) reads α from the name's decimal."""
    if name.startswith("leaky_relu(") and name.endswith(")"):
        return _leaky(name[len("leaky_relu(") : -1])
    return _G[name]


def _objective(spec: NetworkSpec, theta: list[Any], X: np.ndarray, Y: np.ndarray) -> Any:
    """J = Σ_i C_i / divisor + (l2/2) Σ ‖W‖², every operation in mpmath; theta = W1, b1, W2, ..."""
    m = X.shape[1]
    total = mpmath.mpf(0)
    for i in range(m):
        a = [mpmath.mpf(float(v)) for v in X[:, i]]
        for l, name in enumerate(spec.activations):
            W, b = theta[2 * l], theta[2 * l + 1]
            z = [mpmath.fsum(W[j][k] * a[k] for k in range(len(a))) + b[j] for j in range(len(b))]
            if name == "softmax":
                e = [mpmath.exp(v) for v in z]
                a = [v / mpmath.fsum(e) for v in e]
            else:
                a = [_g(name)(v) for v in z]
        y = [mpmath.mpf(float(v)) for v in Y[:, i]]
        if spec.loss.name == "mse":
            total += mpmath.fsum((aj - yj) ** 2 for aj, yj in zip(a, y))
        elif spec.loss.name == "bce":  # log σ(z) = -log(1 + e^-z), log(1 - σ(z)) = -log(1 + e^z)
            total += mpmath.fsum(
                yj * mpmath.log(1 + mpmath.exp(-zj)) + (1 - yj) * mpmath.log(1 + mpmath.exp(zj))
                for zj, yj in zip(z, y)
            )
        else:
            total -= mpmath.fsum(yj * mpmath.log(aj) for aj, yj in zip(a, y))
    n_L = spec.sizes[-1]
    divisor = {"mean": m, "sum": 1, "elementwise_mean": m * n_L}[spec.loss.reduction]
    divisor *= 2 if spec.loss.half else 1
    squares = mpmath.fsum(w**2 for W in theta[0::2] for row in W for w in row)
    return total / divisor + mpmath.mpf(spec.l2) / 2 * squares


def _central_differences(problem: Problem) -> list[np.ndarray]:
    """dJ/dθ for every entry, (J(θ + h) - J(θ - h)) / 2h at 60 digits with h = 1e-22."""
    with mpmath.workdps(60):
        h = mpmath.mpf("1e-22")
        theta: list[Any] = []
        for W, b in problem.params:
            theta.append([[mpmath.mpf(float(w)) for w in row] for row in W])
            theta.append([mpmath.mpf(float(v)) for v in b])
        out = []
        for tensor in theta:
            grad = np.empty(np.shape(np.array(tensor, dtype=object)), dtype=object)
            for index in np.ndindex(grad.shape):
                container = tensor if len(index) == 1 else tensor[index[0]]
                saved = container[index[-1]]
                container[index[-1]] = saved + h
                plus = _objective(problem.spec, theta, problem.X, problem.Y)
                container[index[-1]] = saved - h
                minus = _objective(problem.spec, theta, problem.X, problem.Y)
                container[index[-1]] = saved
                grad[index] = (plus - minus) / (2 * h)
            out.append(grad)
        return out


def _flat(grads: Sequence[tuple[Any, Any]]) -> list[Any]:
    return [tensor for pair in grads for tensor in pair]


def _assert_matches_mpmath(problem: Problem) -> None:
    """50-digit SymPy = mpmath central differences to ~1e-30 of the tensor's largest entry, and
    SymPy in float64 = the 50-digit values to 1e-13 of it."""
    exact = symbolic.gradients(problem, digits=50)
    rough = symbolic.gradients(problem)
    truth = _central_differences(problem)
    for position, (e, t, f) in enumerate(zip(_flat(exact.exact), truth, _flat(rough), strict=True)):
        where = f"{problem.spec!r}, layer {position // 2 + 1} d{'Wb'[position % 2]}"
        scale = max(abs(v) for v in t.flat)
        assert scale > 0, where
        worst = max(abs(a - b) for a, b in zip(e.flat, t.flat))
        assert worst <= mpmath.mpf("1e-30") * scale, f"{where}: 50 digits off by {worst}"
        rounded = np.asarray(e, dtype=np.float64)
        assert np.all(np.isfinite(f)), where
        assert np.max(np.abs(f - rounded)) <= 1e-13 * float(scale), f"{where}: {f} vs {rounded}"


# -------------------------------------------------------------------- each convention, checked

CASES = [
    # hidden activation(s), output activation, loss, l2, weight scale
    pytest.param(("elu",), "sigmoid", Loss("bce", reduction="sum"), 0.0, 1.0, id="elu-bce-sum"),
    pytest.param(("silu",), "tanh", Loss("mse", half=True), 1e-3, 1.0, id="silu-mse-half-l2"),
    pytest.param(
        ("gelu",),
        "softmax",
        Loss("cross_entropy", reduction="elementwise_mean"),
        1e-3,
        1.0,
        id="gelu-ce-elementwise-l2",
    ),
    pytest.param(
        ("leaky_relu(0.2)",),
        "softmax",
        Loss("mse", half=True, reduction="sum"),
        0.0,
        1.0,
        id="leaky0.2-softmax-mse-half-sum",
    ),
    pytest.param(("tanh",), "gelu", Loss("mse", reduction="sum"), 0.5, 1.0, id="gelu-out-l2"),
    pytest.param(("sigmoid",), "elu", Loss("mse"), 0.0, 1.0, id="elu-out"),
    pytest.param(("softplus",), "silu", Loss("mse", reduction="elementwise_mean"), 0.0, 1.0),
    pytest.param(("leaky_relu",), "leaky_relu(3.0)", Loss("mse"), 1e-3, 1.0, id="leaky3-out"),
    pytest.param(("gelu", "elu"), "softmax", Loss("cross_entropy"), 1e-3, 3.0, id="depth3-ce"),
    pytest.param(("silu",), "softmax", Loss("cross_entropy", reduction="sum"), 0.0, 10.0),
    pytest.param(("elu",), "softmax", Loss("mse", reduction="elementwise_mean"), 0.0, 10.0),
    pytest.param(("gelu",), "sigmoid", Loss("bce"), 1e-3, 10.0, id="gelu-bce-scale10"),
]


@pytest.mark.parametrize(("hidden", "output", "loss", "l2", "scale"), CASES)
def test_gradients_match_mpmath_central_differences(
    hidden: tuple[str, ...], output: str, loss: Loss, l2: float, scale: float
) -> None:
    sizes = (2, *(3,) * len(hidden), 3)
    spec = NetworkSpec(sizes, (*hidden, output), loss, l2=l2)
    problem = Problem.random(spec, 3, seed=len(hidden) + 7, weight_scale=scale)
    _assert_matches_mpmath(problem)


def test_softmax_head_at_huge_logits_is_finite_and_exact() -> None:
    """Logits of ±800 overflow e^z in float64: the shifted evaluation must give the unshifted
    definition's values (the 50-digit ones, which mpmath computes without any shift)."""
    for loss in (Loss("cross_entropy"), Loss("mse", reduction="sum")):
        spec = NetworkSpec((2, 3), ("softmax",), loss)
        W = np.array([[400.0, 0.0], [-400.0, 1.0], [0.0, 2.0]])
        b = np.array([0.0, 3.0, -1.0])
        X = np.array([[2.0, -2.0, 0.001], [1.0, 0.5, 3.0]])
        Y = np.array([[0.0, 1.0, 0.2], [1.0, 0.0, 0.3], [0.0, 0.0, 0.5]])
        problem = Problem(spec, [(W, b)], X, Y)
        ((dW, db),) = symbolic.gradients(problem)
        ((eW, eb),) = symbolic.gradients(problem, digits=50).grads
        for got, want in ((dW, eW), (db, eb)):
            assert np.all(np.isfinite(got))
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-14 * np.max(np.abs(want)))
        _assert_matches_mpmath(problem)


def test_gelu_far_below_zero_keeps_its_digits() -> None:
    """gelu'(-35) ≈ -1.6e-265: SymPy's own erfc(-x) → 2 - erfc(x) would leave nothing of it at 50
    digits (nor in float64); the erfc kept from that rewrite gives every digit."""
    spec = NetworkSpec((1, 1), ("gelu",), Loss("mse", reduction="sum"))
    problem = Problem(
        spec, [(np.array([[1.0]]), np.array([-36.0]))], np.ones((1, 1)), np.ones((1, 1))
    )
    ((_, db),) = symbolic.gradients(problem, digits=50).exact
    ((_, db64),) = symbolic.gradients(problem)
    with mpmath.workdps(60):
        z = mpmath.mpf(-35)
        gelu = z * mpmath.erfc(-z / mpmath.sqrt(2)) / 2
        gelu_prime = mpmath.erfc(-z / mpmath.sqrt(2)) / 2 + z * mpmath.npdf(z)
        want = 2 * (gelu - 1) * gelu_prime
        assert abs(db[0] - want) <= mpmath.mpf("1e-45") * abs(want)
    np.testing.assert_allclose(db64, [float(want)], rtol=1e-13)


def test_leaky_slope_is_the_exact_decimal_of_its_name() -> None:
    expr = symbolic._activation_derivative("leaky_relu(0.2)").expr
    assert sp.Rational(1, 5) in expr.atoms(sp.Rational)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: symbolic._activation_expr("swish"), "'swish'"),
        (lambda: symbolic._activation_expr("softmax"), "softmax"),
        (lambda: symbolic._head_expr(symbolic.PER_OUTPUT, "cross_entropy", "sigmoid"), "cross"),
        (lambda: symbolic._head_expr(symbolic.SOFTMAX, "bce", "softmax"), "'bce'"),
        (lambda: symbolic._head_expr("coupled", "mse", "tanh"), "'coupled'"),
        (lambda: symbolic.derivative(1, 1, "W", "coupled"), "'coupled'"),
    ],
)
def test_an_unknown_name_raises_naming_it(call: Callable[[], object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        call()


# ------------------------------------------------------------ one derivative per depth and head


def _clear_memory_caches() -> None:
    for value in vars(symbolic).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()
    sp.core.cache.clear_cache()


def test_one_softmax_derivative_serves_every_width_pattern_loss_and_reduction() -> None:
    symbolic.derivative.cache_clear()
    symbolic._l2_derivative.cache_clear()
    specs = [
        NetworkSpec((3, 5, 2), ("gelu", "softmax"), Loss("cross_entropy"), l2=1e-3),
        NetworkSpec((1, 2, 4), ("elu", "softmax"), Loss("mse", half=True, reduction="sum")),
        NetworkSpec((2, 1, 3), ("leaky_relu(0.5)", "softmax"), Loss("cross_entropy"), l2=0.1),
    ]
    for spec in specs:
        _assert_matches_mpmath(Problem.random(spec, 2, seed=3))
    info = symbolic.derivative.cache_info()
    assert info.misses == 4  # (layer 1, 2) × (W, b) of the softmax head, built once for depth 2
    assert symbolic._l2_derivative.cache_info().misses == 2  # W1, W2
    per_output = NetworkSpec((2, 3, 2), ("silu", "tanh"), Loss("mse"), l2=1e-3)
    _assert_matches_mpmath(Problem.random(per_output, 2, seed=4))
    assert symbolic.derivative.cache_info().misses == 8  # the per-output head is its own
    assert symbolic._l2_derivative.cache_info().misses == 2  # the L2 term is the same


def test_the_softmax_derivative_holds_both_paths() -> None:
    """∂C/∂W_L[p, q] of the softmax head: ∂head/∂ξ at z_p, and ∂head/∂ν times e'(z_p)."""
    text = str(symbolic.derivative(1, 1, "W", symbolic.SOFTMAX))
    assert "Derivative(head(_xi_1, y[p], Sum(e(" in text
    assert "Derivative(e(_xi_1), _xi_1), _xi_1, b1[p]" in text
    assert "_xi_3), _xi_3), _xi_3, Sum(e(" in text
    assert not symbolic.derivative(1, 1, "W", symbolic.SOFTMAX).has(sp.KroneckerDelta)


@pytest.mark.parametrize(("layer", "tensor"), [(1, "W"), (1, "b"), (2, "W"), (2, "b")])
def test_no_path_of_the_softmax_derivative_sits_in_a_sum_of_paths(layer: int, tensor: str) -> None:
    """Σ_k (a + b) is distributed: evaluated whole, (a + b) would be a tensor over k and every
    free index of both paths at once, before k is summed."""
    dC = symbolic.derivative(2, layer, tensor, symbolic.SOFTMAX)
    sums = [e for e in sp.preorder_traversal(dC) if isinstance(e, sp.Sum)]
    assert sums and not any(isinstance(s.function, sp.Add) for s in sums)


def test_the_l2_derivative_is_lambda_times_the_weight() -> None:
    assert str(symbolic._l2_derivative(3, 2)) == "l2*W2[p, q]"


# ------------------------------------------------------------------------ the on-disk cache


@pytest.fixture
def disk_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv(symbolic.CACHE_ENV, str(tmp_path))
    _clear_memory_caches()
    yield tmp_path
    monkeypatch.delenv(symbolic.CACHE_ENV)
    _clear_memory_caches()


def _forbid_building(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> None:
        raise AssertionError(f"rebuilt {args} although the disk cache holds it")

    monkeypatch.setattr(symbolic, "_build_derivative", fail)
    monkeypatch.setattr(symbolic, "_build_l2", fail)
    monkeypatch.setattr(sp, "simplify", fail)


def test_disk_cache_keys_head_loss_and_l2_apart(
    disk_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ce = Problem.random(
        NetworkSpec((3, 4, 3), ("gelu", "softmax"), Loss("cross_entropy"), l2=1e-3), 4, seed=1
    )
    built = symbolic.gradients(ce)
    names = sorted(p.name.rsplit("-", 1)[0] for p in disk_cache.glob("*.pickle"))
    assert names == sorted(
        [
            *(f"derivative-softmax-d2-{t}{l}" for t in "Wb" for l in (1, 2)),
            "activation_derivative-gelu",
            "head_derivative-softmax-cross_entropy-softmax-arg0",
            "head_derivative-softmax-cross_entropy-softmax-arg2",
            "l2_derivative-d2-W1",
            "l2_derivative-d2-W2",
        ]
    ), names
    for path in disk_cache.glob("*.pickle"):
        key, expr = pickle.loads(path.read_bytes())
        assert key[0] == path.name.rsplit("-", 1)[0] and isinstance(expr, sp.Expr)
    # mse after softmax shares the derivatives, not the head's; a per-output head shares nothing.
    mse = NetworkSpec((3, 4, 3), ("gelu", "softmax"), Loss("mse", half=True), l2=1e-3)
    symbolic.gradients(Problem.random(mse, 4, seed=1))
    assert len(list(disk_cache.glob("*.pickle"))) == 9 + 2
    per_output = NetworkSpec((3, 4, 3), ("gelu", "sigmoid"), Loss("bce"))
    symbolic.gradients(Problem.random(per_output, 4, seed=1))
    assert len(list(disk_cache.glob("derivative-d2-*.pickle"))) == 4
    # Read back: the same numbers, nothing rebuilt.
    exact = symbolic.gradients(ce, digits=50).grads
    _clear_memory_caches()
    _forbid_building(monkeypatch)
    for got, want in zip(_flat(symbolic.gradients(ce)), _flat(built), strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(_flat(symbolic.gradients(ce, digits=50).grads), _flat(exact)):
        np.testing.assert_array_equal(got, want)


def test_a_cached_gelu_derivative_keeps_its_unreflected_erfc(disk_cache: Path) -> None:
    """Unpickling rebuilds each function from its arguments: the kept erfc must survive it."""
    built = symbolic._activation_derivative("gelu").expr
    _clear_memory_caches()
    loaded = symbolic._activation_derivative("gelu").expr
    assert loaded == built and loaded.has(symbolic._Erfc)
    assert not loaded.has(sp.erf)
