"""The adapters: a correct implementation in another convention passes the audit, a realistic bug
in that convention is blamed on exactly the right (layer, tensor)s, and declared support decides
what counts as "unsupported".

torch.autograd and jax.grad are audited through the adapters themselves, on every activation ×
both losses. Their tests skip when torch or jax is not installed ("nox -s adapters runs these"),
except under CI=true, where they fail (tests/optional.py: CI installs both, so a skip there would
hide a broken adapter).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from optional import need

import reference
from harness.adapters import (
    AdapterError,
    MissingDependencyError,
    from_flat,
    from_jax,
    from_rows,
    from_torch,
)
from harness.auditing import audit
from harness.campaign import check_case
from harness.case import CaseResult
from harness.compare import Rules
from harness.network import ACTIVATIONS, LOSSES
from harness.spec import NetworkSpec, Problem
from harness.strategies import SEED_ACTIVATIONS

Array = NDArray[np.float64]


def _specs() -> list[NetworkSpec]:
    """Every activation × every loss (bce: that activation below a sigmoid output;
    cross_entropy: below a softmax output), on three architectures: a hidden layer, width 1
    everywhere, and a width-1 bottleneck."""
    specs: list[NetworkSpec] = []
    outputs = {"bce": "sigmoid", "cross_entropy": "softmax"}
    for name in (*ACTIVATIONS, "leaky_relu(0.2)"):
        for loss in LOSSES:
            for sizes in ((3, 4, 2), (1, 1), (2, 1, 3)):
                hidden = "tanh" if name == "softmax" else name  # softmax: output layer only
                activations = (*(hidden,) * (len(sizes) - 2), outputs.get(loss, name))
                spec = NetworkSpec(sizes, activations, loss)
                if spec not in specs:
                    specs.append(spec)
    return specs


SPECS = _specs()
GRID = [pytest.param(spec, batch, id=f"{spec.sizes}-{spec.activations}-{spec.loss}-m{batch}")
        for spec in SPECS for batch in (1, 4)]  # fmt: skip


def _blamed(case: CaseResult) -> dict[tuple[int | None, str | None], str]:
    return {(r.layer, r.param): r.status for r in case.failing}


def _every_tensor(spec: NetworkSpec, status: str) -> dict[tuple[int | None, str | None], str]:
    return {(l, p): status for l in range(1, spec.depth + 1) for p in "Wb"}


def _need(module: str) -> Any:
    """The module, or a skip; under CI=true a missing module fails instead."""
    return need(module)


# --- a rows-as-samples backprop, written the way a rows-first course writes it -------------------


def _g(name: str, Z: Array) -> Array:
    if name == "sigmoid":
        return np.exp(-np.logaddexp(0.0, -Z))
    if name == "tanh":
        return np.tanh(Z)
    if name == "relu":
        return np.maximum(Z, 0.0)
    if name == "leaky_relu":
        return np.where(Z > 0, Z, 0.01 * Z)
    if name == "softplus":
        return np.logaddexp(0.0, Z)
    return np.array(Z, dtype=np.float64, copy=True)


def _g_prime(name: str, Z: Array) -> Array:
    if name == "sigmoid":
        return np.asarray(np.exp(-np.logaddexp(0.0, -Z) - np.logaddexp(0.0, Z)))  # σ(z)σ(-z)
    if name == "tanh":
        return 1.0 / np.cosh(Z) ** 2
    if name == "relu":
        return (Z > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(Z > 0, 1.0, 0.01)
    if name == "softplus":
        return np.exp(-np.logaddexp(0.0, -Z))
    return np.ones_like(Z)


def rows_backward(
    params_rows: Sequence[tuple[Array, Array]],
    X_rows: Array,
    Y_rows: Array,
    activations: Sequence[str],
    loss: str,
    *,
    bug: str | None = None,
) -> list[tuple[Array, Array]]:
    """Z_rows = A_prev_rows @ W_rows + b; dJ_dW_rows = A_prev_rows.T @ dJ_dZ_rows (n_{l-1}, n_l)."""
    m = X_rows.shape[0]
    A_rows, Z_rows = [X_rows], []
    for (W_rows, b), name in zip(params_rows, activations):
        Z_rows.append(A_rows[-1] @ W_rows + b)
        A_rows.append(_g(name, Z_rows[-1]))
    if loss == "mse":
        dJ_dZ = 2.0 * (A_rows[-1] - Y_rows) / m * _g_prime(activations[-1], Z_rows[-1])
    else:
        dJ_dZ = (A_rows[-1] - Y_rows) / m
    grads: list[tuple[Array, Array]] = []
    for l in range(len(params_rows) - 1, -1, -1):
        A_prev = A_rows[l]
        # BUG if "columns_formula_dW": the columns-as-samples formula, (n_l, n_{l-1}).
        dJ_dW = dJ_dZ.T @ A_prev if bug == "columns_formula_dW" else A_prev.T @ dJ_dZ
        dJ_db = dJ_dZ.sum(axis=0, keepdims=bug == "keepdims_db")  # BUG if keepdims: (1, n_l)
        grads.append((dJ_dW, dJ_db))
        if l > 0:
            dJ_dZ = (dJ_dZ @ params_rows[l][0].T) * _g_prime(activations[l - 1], Z_rows[l - 1])
    if bug == "writes_W_in_place":
        params_rows[0][0][0, 0] += 0.5  # BUG: writes into its input
    return grads[::-1]


@pytest.mark.parametrize(("spec", "batch"), GRID)
def test_from_rows_passes_a_correct_rows_backprop(spec: NetworkSpec, batch: int) -> None:
    case = check_case(from_rows(rows_backward), Problem.random(spec, batch, seed=3))
    assert case.passed, [r.detail for r in case.failing]


def test_from_rows_blames_every_dW_computed_with_the_columns_formula() -> None:
    wrong = from_rows(functools.partial(rows_backward, bug="columns_formula_dW"))
    spec = NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "mse")
    # Not transposed back into shape: the adapter never fixes a shape, the harness reports it.
    case = check_case(wrong, Problem.random(spec, 5, seed=1))
    assert _blamed(case) == {(1, "W"): "shape", (2, "W"): "shape"}
    # Square layers: the shape fits, the values are the transpose.
    square = NetworkSpec((3, 3, 3), ("tanh", "identity"), "mse")
    case = check_case(wrong, Problem.random(square, 5, seed=1))
    assert _blamed(case) == {(1, "W"): "mismatch", (2, "W"): "mismatch"}


def test_from_rows_passes_a_db_of_shape_1_by_n_through_to_the_harness() -> None:
    wrong = from_rows(functools.partial(rows_backward, bug="keepdims_db"))
    spec = NetworkSpec((2, 3, 1), ("relu", "sigmoid"), "bce")
    case = check_case(wrong, Problem.random(spec, 4, seed=2))
    assert _blamed(case) == {(1, "b"): "shape", (2, "b"): "shape"}
    assert "(1, 3)" in next(r.detail for r in case.failing if r.layer == 1)


def test_from_rows_hands_views_so_an_in_place_write_is_a_finding() -> None:
    wrong = from_rows(functools.partial(rows_backward, bug="writes_W_in_place"))
    case = check_case(wrong, Problem.random(NetworkSpec((2, 2), ("tanh",), "mse"), 3, seed=0))
    assert _blamed(case) == {(None, None): "mutates_inputs"}
    assert "W1" in case.failing[0].detail


def test_from_rows_leaves_a_malformed_output_for_the_harness() -> None:
    adapted = from_rows(lambda *args: np.zeros(3))
    case = check_case(adapted, Problem.random(NetworkSpec((2, 3), ("tanh",), "mse"), 2, seed=0))
    assert _blamed(case) == {(None, None): "count"}


def test_from_rows_declares_its_support_and_keeps_to_it() -> None:
    # undeclared: the seeds' conventions, like any function that declares nothing
    assert from_rows(rows_backward).supports == {
        "activations": SEED_ACTIVATIONS,
        "losses": ("mse", "bce"),
    }
    tanh_mse = from_rows(rows_backward, supports={"activations": ["tanh"], "losses": ["mse"]})
    assert tanh_mse.supports == {"activations": ("tanh",), "losses": ("mse",)}
    problem = Problem.random(NetworkSpec((2, 3, 1), ("relu", "sigmoid"), "bce"), 2, seed=0)
    assert _blamed(check_case(tanh_mse, problem)) == {}
    assert check_case(tanh_mse, problem).records[0].status == "unsupported"
    with pytest.raises(AdapterError, match="'swish'"):
        from_rows(rows_backward, supports={"activations": ["swish"]})
    with pytest.raises(AdapterError, match="sequences of names"):
        from_rows(rows_backward, supports={"activations": "tanh"})


# --- one flat parameter vector -------------------------------------------------------------------


def _unflatten(theta: Array, spec: NetworkSpec) -> list[tuple[Array, Array]]:
    params, start = [], 0
    for n_prev, n_l in zip(spec.sizes[:-1], spec.sizes[1:]):
        W = theta[start : start + n_l * n_prev].reshape(n_l, n_prev)
        b = theta[start + n_l * n_prev : start + n_l * n_prev + n_l]
        params.append((W, b))
        start += n_l * n_prev + n_l
    return params


def flat_grad_for(spec: NetworkSpec, *, bug: str | None = None) -> Callable[..., Any]:
    """A user's ``grad(theta, X, Y)`` for one architecture, built on `reference.backward`."""

    def grad(theta: Array, X: Array, Y: Array) -> Any:
        grads = reference.backward(_unflatten(theta, spec), X, Y, spec.activations, spec.loss)
        # BUG if "column_major_dW": dW raveled column-major.
        parts = [t.ravel(order="F" if bug == "column_major_dW" else "C") for p in grads for t in p]
        dtheta = np.concatenate(parts)
        if bug == "float32":
            return dtheta.astype(np.float32)
        if bug == "column_vector":
            return dtheta[:, None]
        if bug == "writes_theta":
            theta[0] += 1.0
        return dtheta

    return grad


@pytest.mark.parametrize(("spec", "batch"), GRID[::3])
def test_from_flat_passes_a_correct_flat_grad(spec: NetworkSpec, batch: int) -> None:
    adapted = from_flat(flat_grad_for(spec), spec.sizes, spec.activations, spec.loss)
    case = check_case(adapted, Problem.random(spec, batch, seed=4))
    assert case.passed, [r.detail for r in case.failing]


def test_from_flat_with_rows_layout_passes_X_and_Y_transposed() -> None:
    spec = NetworkSpec((3, 2, 2), ("softplus", "sigmoid"), "bce")
    columns = flat_grad_for(spec)
    adapted = from_flat(lambda t, X, Y: columns(t, X.T, Y.T), spec.sizes, spec.activations,
                        spec.loss, layout="rows")  # fmt: skip
    assert check_case(adapted, Problem.random(spec, 5, seed=0)).passed
    with pytest.raises(AdapterError, match="layout"):
        from_flat(columns, spec.sizes, spec.activations, spec.loss, layout="samples")


def test_from_flat_blames_the_weights_of_a_column_major_ravel() -> None:
    spec = NetworkSpec((3, 4, 2), ("tanh", "identity"), "mse")
    adapted = from_flat(flat_grad_for(spec, bug="column_major_dW"), spec.sizes, spec.activations,
                        spec.loss)  # fmt: skip
    case = check_case(adapted, Problem.random(spec, 5, seed=5))
    assert _blamed(case) == {(1, "W"): "mismatch", (2, "W"): "mismatch"}


def test_from_flat_keeps_the_dtype_and_refuses_to_reshape() -> None:
    spec = NetworkSpec((2, 3, 1), ("tanh", "identity"), "mse")
    problem = Problem.random(spec, 3, seed=0)
    float32 = from_flat(flat_grad_for(spec, bug="float32"), spec.sizes, spec.activations, "mse")
    assert _blamed(check_case(float32, problem)) == _every_tensor(spec, "dtype")
    column = from_flat(flat_grad_for(spec, bug="column_vector"), spec.sizes, spec.activations,
                       "mse")  # fmt: skip
    case = check_case(column, problem)
    assert _blamed(case) == {(None, None): "raises"}
    assert f"shape ({spec.n_params}, 1), expected ({spec.n_params},)" in case.failing[0].detail


def test_from_flat_copies_a_write_into_theta_back_so_it_is_a_finding() -> None:
    spec = NetworkSpec((2, 2), ("tanh",), "mse")
    adapted = from_flat(flat_grad_for(spec, bug="writes_theta"), spec.sizes, spec.activations,
                        "mse")  # fmt: skip
    case = check_case(adapted, Problem.random(spec, 3, seed=0))
    assert (None, None) in _blamed(case) and "W1" in case.failing[0].detail


def test_from_flat_is_unsupported_outside_its_one_architecture() -> None:
    spec = NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "bce")
    adapted = from_flat(flat_grad_for(spec), spec.sizes, spec.activations, spec.loss)
    assert adapted.supports == {
        "activations": ("tanh", "sigmoid"),
        "losses": ("bce",),
        "l2": (0.0,),
        "specs": (spec,),
    }
    for other in (
        NetworkSpec((3, 5, 2), ("tanh", "sigmoid"), "bce"),
        NetworkSpec((3, 4, 2), ("relu", "sigmoid"), "bce"),
        NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "mse"),
    ):
        problem = Problem.random(other, 2, seed=0)
        case = check_case(adapted, problem)
        assert case.passed and [r.status for r in case.records] == ["unsupported"]
        assert "from_flat was made for" in case.records[0].detail
        # Where support is claimed, NotImplementedError is a failure.
        assert not check_case(adapted, problem, unsupported_ok=False).passed


def test_audit_of_from_flat_draws_only_its_declared_architecture() -> None:
    spec = NetworkSpec((2, 3, 1), ("leaky_relu", "sigmoid"), "bce")
    adapted = from_flat(flat_grad_for(spec), spec.sizes, spec.activations, spec.loss)
    report = audit(adapted, examples=5, seed=0)
    assert report.passed and report.examples == 5
    assert {case.problem.spec for case in report.cases} == {spec}


# --- torch.autograd ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch_backward() -> Any:
    _need("torch")
    return from_torch()


@pytest.mark.parametrize(("spec", "batch"), GRID)
def test_torch_autograd_passes_the_audit(
    torch_backward: Any, spec: NetworkSpec, batch: int
) -> None:
    case = check_case(torch_backward, Problem.random(spec, batch, seed=0))
    assert case.passed, [r.detail for r in case.failing]


def _softplus_problem(z: float) -> Problem:
    spec = NetworkSpec((1, 1), ("softplus",), "mse")
    return Problem(spec, [(np.array([[z]]), np.array([0.0]))], np.array([[1.0]]), np.array([[0.5]]))


@pytest.mark.parametrize("z", [21.0, 30.0, 39.0, 41.0, 100.0, 800.0])
def test_torch_softplus_is_exact_beyond_torchs_default_threshold(
    torch_backward: Any, z: float
) -> None:
    assert check_case(torch_backward, _softplus_problem(z)).passed


def test_torch_default_softplus_threshold_is_a_warning_and_fails_strict() -> None:
    """torch returns z and slope 1 above z = 20, where σ(21) = 1 - 7.6e-10: a precision choice,
    8e-10 relative, beyond the rounding model but within the precision band (τ = 1e-8). It is
    imprecise — a warning that passes — and a strict check fails it."""
    torch = _need("torch")

    def default_softplus(sizes: tuple[int, ...], activations: tuple[str, ...]) -> Any:
        return torch.nn.Sequential(torch.nn.Linear(sizes[0], sizes[1]), torch.nn.Softplus())

    case = check_case(from_torch(default_softplus), _softplus_problem(21.0))
    assert case.passed and not case.failing
    assert {(r.layer, r.param): r.status for r in case.warnings} == {
        (1, "W"): "imprecise",
        (1, "b"): "imprecise",
    }
    strict = check_case(from_torch(default_softplus), _softplus_problem(21.0),
                        rules=Rules(strict=True))  # fmt: skip
    assert _blamed(strict) == {(1, "W"): "imprecise", (1, "b"): "imprecise"}


def test_torch_module_factory_with_relu_where_tanh_is_declared_is_blamed() -> None:
    torch = _need("torch")
    nn = torch.nn

    def factory(sizes: tuple[int, ...], activations: tuple[str, ...]) -> Any:
        assert activations == ("tanh", "sigmoid")
        # BUG: ReLU where the spec says tanh.
        return nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.ReLU(),
                             nn.Linear(sizes[1], sizes[2]), nn.Sigmoid())  # fmt: skip

    spec = NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "mse")
    case = check_case(from_torch(factory), Problem.random(spec, 5, seed=0))
    assert _blamed(case) == _every_tensor(spec, "mismatch")
    bce = NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "bce")
    case = check_case(from_torch(factory), Problem.random(bce, 5, seed=0))
    assert _blamed(case) == _every_tensor(bce, "mismatch")


def test_torch_module_factory_that_is_right_passes_and_one_of_wrong_shape_raises() -> None:
    torch = _need("torch")
    nn = torch.nn

    def factory(sizes: tuple[int, ...], activations: tuple[str, ...]) -> Any:
        return nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.Tanh(),
                             nn.Linear(sizes[1], sizes[2]), nn.Sigmoid())  # fmt: skip

    spec = NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "bce")
    assert check_case(from_torch(factory), Problem.random(spec, 5, seed=1)).passed
    wrong = NetworkSpec((3, 4, 2, 1), ("tanh", "tanh", "sigmoid"), "bce")
    case = check_case(from_torch(factory), Problem.random(wrong, 2, seed=1))
    assert _blamed(case) == {(None, None): "raises"}
    assert "AdapterError" in case.failing[0].detail and "expected" in case.failing[0].detail


def test_from_torch_without_torch_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # what `import torch` does when absent
    with pytest.raises(MissingDependencyError) as raised:
        from_torch()
    assert str(raised.value) == (
        "the torch adapter needs torch: pip install torch (on Linux, the CPU build: "
        "pip install torch --index-url https://download.pytorch.org/whl/cpu)"
    )


# --- jax.grad ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jax_backward() -> Any:
    _need("jax")
    return from_jax()


@pytest.mark.parametrize(("spec", "batch"), GRID)
def test_jax_grad_passes_the_audit(jax_backward: Any, spec: NetworkSpec, batch: int) -> None:
    case = check_case(jax_backward, Problem.random(spec, batch, seed=0))
    assert case.passed, [r.detail for r in case.failing]


def _jax_mse(half: bool) -> Callable[..., Any]:
    jax = _need("jax")
    jnp = jax.numpy

    def loss_fn(params: Any, X: Any, Y: Any) -> Any:
        (W1, b1), (W2, b2) = params
        A1 = jnp.tanh(W1 @ X + b1[:, None])
        A2 = W2 @ A1 + b2[:, None]
        J = jnp.sum((A2 - Y) ** 2) / X.shape[1]
        return 0.5 * J if half else J  # BUG if half: the ½ (a - y)² convention

    return loss_fn


def test_jax_loss_fn_is_audited_and_the_half_convention_is_blamed_everywhere() -> None:
    spec = NetworkSpec((3, 4, 2), ("tanh", "identity"), "mse")
    problem = Problem.random(spec, 5, seed=2)
    right = from_jax(_jax_mse(half=False), activations=spec.activations, loss="mse")
    assert right.supports == {"activations": ("tanh", "identity"), "losses": ("mse",)}
    assert check_case(right, problem).passed
    half = from_jax(_jax_mse(half=True), activations=spec.activations, loss="mse")
    assert _blamed(check_case(half, problem)) == _every_tensor(spec, "mismatch")
    other = Problem.random(NetworkSpec((3, 4, 2), ("identity", "tanh"), "mse"), 2, seed=0)
    assert [r.status for r in check_case(right, other).records] == ["unsupported"]
    with pytest.raises(AdapterError, match="activations="):
        from_jax(_jax_mse(half=False))


def test_from_jax_sets_float64_and_returns_float64() -> None:
    jax = _need("jax")
    backward = from_jax()
    assert jax.config.jax_enable_x64
    problem = Problem.random(NetworkSpec((2, 3, 1), ("softplus", "sigmoid"), "bce"), 3, seed=0)
    grads = backward(list(problem.params), problem.X, problem.Y, problem.spec.activations, "bce")
    assert all(t.dtype == np.float64 and isinstance(t, np.ndarray) for pair in grads for t in pair)


def test_from_jax_without_jax_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jax", None)
    with pytest.raises(MissingDependencyError, match=r"needs jax: pip install jax$"):
        from_jax()


# --- saturated units and whole campaigns -------------------------------------------------------


@pytest.mark.parametrize("framework", ["torch", "jax"])
@pytest.mark.parametrize(
    "spec",
    [
        NetworkSpec((3, 4, 2), ("tanh", "tanh"), "mse"),
        NetworkSpec((3, 4, 2), ("sigmoid", "sigmoid"), "mse"),
        NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "bce"),
    ],
    ids=str,
)
def test_autograd_on_saturated_units_is_no_false_alarm(framework: str, spec: NetworkSpec) -> None:
    """torch and jax take tanh' = 1 - a², σ' = a(1 - a) from the output: exact to eps absolute,
    not relative, so a saturated unit's g' (a rounds to ±1: autograd says 0 for a true 2e-17)
    must fall inside the error model's bound, not be called a bug."""
    _need(framework)
    backward = from_torch() if framework == "torch" else from_jax()
    for batch, seed in ((1, 11), (5, 15)):
        case = check_case(backward, Problem.random(spec, batch, seed=seed, weight_scale=10.0))
        assert case.passed, [r.detail for r in case.failing]


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_autograd_passes_an_audit_campaign(framework: str) -> None:
    _need(framework)
    backward = from_torch() if framework == "torch" else from_jax()
    report = audit(backward, examples=40, seed=1)
    assert report.passed, str(report)
