"""Finite differences on the conventions of issue 11: elu, silu, gelu, leaky_relu(α), a softmax
output, cross_entropy, mse after softmax, half, every reduction and the L2 term.

The truth is written here, independently of every source: J itself (the definition in
DESIGN.md) evaluated by mpmath at 80 digits (more for entries far below J) from the problem's
exact float64 values, and its central differences with a step of 1e-25, which leaves ~1e-48 of
truncation and ~1e-55 of rounding: 50 digits of each gradient entry, with no derivative formula
anywhere. Each finite-
difference entry must lie within its own bound of it, and the bounds must be tight enough to mean
something. The identities themselves are held to 400-digit differences at chosen z and d (saturated
softmax outputs included), with their own bounds.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from collections.abc import Sequence

import mpmath
import numpy as np
import pytest

from harness.errors import SourceLimitError
from harness.network import leaky_slope
from harness.sources.finite_diff import Estimate, estimate, identities
from harness.sources.finite_diff import kernel as _fd_kernel
from harness.sources.finite_diff.carry import _Head
from harness.sources.finite_diff.coupled import (
    _cross_entropy_arrays,
    _cross_entropy_difference,
    _softmax_difference,
)
from harness.spec import Loss, NetworkSpec, Problem

EPS = float(np.finfo(np.float64).eps)
DPS = 80
#: The identities' exact differences: outputs of 1e-90 changing by 1e-165 need far more than 80.
EXACT_DPS = 400
STEP = mpmath.mpf("1e-25")
MpMatrix = list[list[mpmath.mpf]]

# --- the truth: J at 80 digits or more, and its central differences ------------------------


def _g(name: str, z: mpmath.mpf) -> mpmath.mpf:
    """Activation ``name`` at one z, by its definition (DESIGN.md)."""
    alpha = leaky_slope(name)
    if alpha is not None:
        return z if z > 0 else mpmath.mpf(alpha) * z
    return {
        "sigmoid": lambda: 1 / (1 + mpmath.exp(-z)),
        "tanh": lambda: mpmath.tanh(z),
        "relu": lambda: z if z > 0 else mpmath.mpf(0),
        "identity": lambda: z,
        "softplus": lambda: mpmath.log(1 + mpmath.exp(z)),
        "elu": lambda: z if z > 0 else mpmath.exp(z) - 1,
        "silu": lambda: z / (1 + mpmath.exp(-z)),
        "gelu": lambda: z * mpmath.erfc(-z / mpmath.sqrt(2)) / 2,
    }[name]()


def _sample_loss(
    loss: str, z: list[mpmath.mpf], a: list[mpmath.mpf], y: list[mpmath.mpf]
) -> mpmath.mpf:
    if loss == "mse":
        return mpmath.fsum((a_j - y_j) ** 2 for a_j, y_j in zip(a, y))
    if loss == "bce":  # 1 - a as σ(-z): 1 - a itself would lose every digit once z > ~140
        return -mpmath.fsum(
            y_j * mpmath.log(a_j) + (1 - y_j) * mpmath.log(1 / (1 + mpmath.exp(z_j)))
            for z_j, a_j, y_j in zip(z, a, y)
        )
    assert loss == "cross_entropy"
    return -mpmath.fsum(y_j * mpmath.log(a_j) for a_j, y_j in zip(a, y) if y_j)


def _data_sum(
    params: Sequence[tuple[MpMatrix, list[mpmath.mpf]]],
    X: MpMatrix,
    Y: MpMatrix,
    activations: Sequence[str],
    loss: str,
) -> mpmath.mpf:
    """Σ_i C_i at the working precision (columns of X and Y are samples)."""
    total = mpmath.mpf(0)
    for s in range(len(X[0])):
        a, z = [row[s] for row in X], []
        for (W, b), name in zip(params, activations):
            z = [mpmath.fsum(w * x for w, x in zip(row, a)) + b_i for row, b_i in zip(W, b)]
            if name == "softmax":
                top = max(z)
                e = [mpmath.exp(z_j - top) for z_j in z]
                a = [e_j / mpmath.fsum(e) for e_j in e]
            else:
                a = [_g(name, z_j) for z_j in z]
        total += _sample_loss(loss, z, a, [row[s] for row in Y])
    return total


def _mp(problem: Problem) -> tuple[list[tuple[MpMatrix, list[mpmath.mpf]]], MpMatrix, MpMatrix]:
    def matrix(a: np.ndarray) -> MpMatrix:
        return [[mpmath.mpf(float(v)) for v in row] for row in a]

    params = [(matrix(W), [mpmath.mpf(float(v)) for v in b]) for W, b in problem.params]
    return params, matrix(problem.X), matrix(problem.Y)


def data_sum_gradient(problem: Problem) -> list[tuple[np.ndarray, np.ndarray]]:
    """Central differences of Σ_i C_i, each to 50 digits or more, as mpf object arrays shaped like
    the params.

    With a step of 1e-25, J's rounding at p digits reaches the quotient as ~10^(25 - p) |J|: an
    entry far below J needs more digits, so each is redone with p = 80 + log10(|J| / |quotient|)
    until p suffices (a quotient of exactly 0 doubles p, up to 1280 digits). The step in the
    quotient is the one the two evaluations actually took.
    """
    spec = problem.spec
    params, X, Y = _mp(problem)

    def at(l: int, r: int, c: int | None) -> tuple[mpmath.mpf, mpmath.mpf]:
        W, b = params[l]
        old = W[r][c] if c is not None else b[r]
        h = STEP * max(1, abs(old))
        points, values = [], []
        for t in (h, -h):
            points.append(old + t)
            if c is not None:
                W[r][c] = points[-1]
            else:
                b[r] = points[-1]
            values.append(_data_sum(params, X, Y, spec.activations, spec.loss.name))
        if c is not None:
            W[r][c] = old
        else:
            b[r] = old
        return (values[0] - values[1]) / (points[0] - points[1]), abs(values[0])

    def quotient(l: int, r: int, c: int | None) -> mpmath.mpf:
        dps = DPS
        while True:
            with mpmath.workdps(dps):
                q, J = at(l, r, c)
                if q == 0:  # exactly (a dead unit), or below this precision: double it
                    need = 2 * dps if dps < 1280 else dps
                else:
                    need = DPS + int(mpmath.ceil(mpmath.log10(max(J, 1) / abs(q))))
            if need <= dps or dps >= 3000:
                return q
            dps = need + 10

    out = []
    for l, (W, b) in enumerate(problem.params):
        dW = np.empty(W.shape, dtype=object)
        for r, c in itertools.product(range(W.shape[0]), range(W.shape[1])):
            dW[r, c] = quotient(l, r, c)
        db = np.array([quotient(l, r, None) for r in range(b.size)], dtype=object)
        out.append((dW, db))
    return out


def l2_quotient(w: float, l2: float) -> mpmath.mpf:
    """The central difference of (l2/2) w² (exact: a quadratic has no truncation)."""
    with mpmath.workdps(DPS):
        w_mp, h = mpmath.mpf(w), STEP * max(1, abs(w))
        return mpmath.mpf(l2) / 2 * ((w_mp + h) ** 2 - (w_mp - h) ** 2) / (2 * h)


def truth(problem: Problem, data: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """dJ/dθ to 50 digits for ``problem``'s conventions from Σ_i C_i's central differences."""
    spec = problem.spec
    divisor = mpmath.mpf(spec.divisor(problem.batch))
    tensors = []
    with mpmath.workdps(DPS):
        for (dW, db), (W, _) in zip(data, problem.params):
            decay = np.vectorize(lambda w: l2_quotient(w, spec.l2), otypes=[object])(W)
            tensors += [dW / divisor + decay, db / divisor]
    return tensors


# --- the matrix: every activation × loss convention × l2 × weight scale -------------------------

SIZES = (2, 3, 3, 3)
BATCH = 3
HIDDEN = (
    "sigmoid", "tanh", "relu", "leaky_relu", "leaky_relu(0.2)", "identity", "softplus", "elu",
    "silu", "gelu",
)  # fmt: skip
#: (activations, loss name): each activation as hidden layers before every output it may meet.
NETS = [
    *(((act,) * 3, "mse") for act in HIDDEN),
    *(((act, act, "sigmoid"), "bce") for act in HIDDEN),
    *(((act, act, "softmax"), "cross_entropy") for act in HIDDEN),
    (("elu", "silu", "softmax"), "mse"),
    (("gelu", "leaky_relu(0.2)", "softmax"), "mse"),
]
CONVENTIONS = {
    "mse": [
        Loss("mse", half=h, reduction=r)
        for h in (False, True)
        for r in ("mean", "sum", "elementwise_mean")
    ],
    "bce": [Loss("bce", reduction=r) for r in ("mean", "sum", "elementwise_mean")],
    "cross_entropy": [
        Loss("cross_entropy", reduction=r) for r in ("mean", "sum", "elementwise_mean")
    ],
}


@functools.cache
def _base(activations: tuple[str, ...], loss: str, scale: float) -> Problem:
    spec = NetworkSpec(SIZES, activations, loss)
    return Problem.random(spec, BATCH, seed=11, weight_scale=scale)


@functools.cache
def _data(
    activations: tuple[str, ...], loss: str, scale: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    return data_sum_gradient(_base(activations, loss, scale))


def _variant(base: Problem, loss: Loss, l2: float) -> Problem:
    spec = NetworkSpec(base.spec.sizes, base.spec.activations, loss, l2=l2)
    return Problem(spec, base.params, base.X, base.Y)


def _tensors(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    return [t for pair in pairs for t in pair]


def _check_within_bound(problem: Problem, est: Estimate, exact: list[np.ndarray]) -> list[float]:
    """Every entry within its bound of the truth; returns bound / |g| of each entry."""
    ratios = []
    for t, (g, bound, unsure, want) in enumerate(
        zip(_tensors(est.grads), _tensors(est.bound), _tensors(est.undecidable), exact)
    ):
        assert not unsure.any(), f"tensor {t}: undecidable entries off every kink: {problem!r}"
        with mpmath.workdps(DPS):
            error = np.array([float(abs(mpmath.mpf(float(v)) - w)) for v, w in
                              zip(g.ravel(), want.ravel())]).reshape(g.shape)  # fmt: skip
            magnitude = np.array([float(abs(w)) for w in want.ravel()]).reshape(g.shape)
        outside = error > bound
        assert not outside.any(), (
            f"layer {t // 2 + 1} d{'Wb'[t % 2]}{np.argwhere(outside)[0].tolist()}: |fd - truth| "
            f"{error[outside][0]:.3e} > bound {bound[outside][0]:.3e} (fd {g[outside][0]!r}); "
            f"reproduce: {problem!r}"
        )
        big = magnitude > 1e-6 * magnitude.max()
        ratios += list(bound[big] / magnitude[big])
    return ratios


@pytest.mark.parametrize("scale", [1.0, 10.0], ids=lambda s: f"scale={s:g}")
@pytest.mark.parametrize("net", NETS, ids=lambda n: f"{'-'.join(n[0])}_{n[1]}")
def test_every_entry_is_within_its_bound_of_the_50_digit_truth(
    net: tuple[tuple[str, ...], str], scale: float
) -> None:
    activations, loss = net
    base = _base(activations, loss, scale)
    data = _data(activations, loss, scale)
    ratios: list[float] = []
    for convention, l2 in itertools.product(CONVENTIONS[loss], (0.0, 1e-3)):
        problem = _variant(base, convention, l2)
        ratios += _check_within_bound(problem, estimate(problem), truth(problem, data))
    if scale == 1.0:  # tight enough to catch a 1e-6 relative error, with a wide margin
        assert float(np.median(ratios)) < 1e-10, f"median bound/|g| {np.median(ratios):.2e}"
        assert max(ratios) < 1e-7, f"largest bound/|g| {max(ratios):.2e}"


SATURATED = [
    (("gelu", "gelu", "gelu"), Loss("mse", half=True)),
    (("silu", "elu", "softmax"), Loss("cross_entropy", reduction="sum")),
    (("gelu", "silu", "sigmoid"), Loss("bce", reduction="elementwise_mean")),
    (("elu", "gelu", "softmax"), Loss("mse")),
]


@pytest.mark.parametrize("net", SATURATED, ids=lambda n: "-".join(n[0]))
def test_absurd_weights_give_finite_estimates_without_a_floating_point_warning(
    net: tuple[tuple[str, ...], Loss],
) -> None:
    spec = NetworkSpec(SIZES, net[0], net[1], l2=1e-3)
    for scale in (100.0, 1000.0):
        problem = Problem.random(spec, BATCH, seed=5, weight_scale=scale)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no overflow, no invalid value on the way
            est = estimate(problem)
        assert all(np.all(np.isfinite(t)) for t in _tensors(est.grads))


@pytest.mark.parametrize("net", SATURATED[1:3], ids=lambda n: "-".join(n[0]))
def test_saturated_networks_stay_within_their_bounds(net: tuple[tuple[str, ...], Loss]) -> None:
    # (a gelu unit at z = -30 has a derivative of 1e-196: its truth needs ~280 digits)
    spec = NetworkSpec(SIZES, net[0], net[1], l2=1e-3)
    problem = Problem.random(spec, BATCH, seed=5, weight_scale=30.0)
    _check_within_bound(problem, estimate(problem), truth(problem, data_sum_gradient(problem)))


@pytest.mark.parametrize("kernel", ["numpy", *(["compiled"] if _fd_kernel.AVAILABLE else [])])
def test_reductions_half_and_l2_on_the_old_conventions_in_both_kernels(kernel: str) -> None:
    base = _base(("tanh", "relu", "sigmoid"), "bce", 1.0)
    data = _data(("tanh", "relu", "sigmoid"), "bce", 1.0)
    for convention in CONVENTIONS["bce"]:
        problem = _variant(base, convention, 1e-3)
        _check_within_bound(problem, estimate(problem, kernel=kernel), truth(problem, data))
    base = _base(("softplus",) * 3, "mse", 1.0)
    data = _data(("softplus",) * 3, "mse", 1.0)
    for convention in CONVENTIONS["mse"]:
        problem = _variant(base, convention, 1e-3)
        _check_within_bound(problem, estimate(problem, kernel=kernel), truth(problem, data))


# --- kernels, dispatch -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        NetworkSpec((2, 3, 2), ("gelu", "sigmoid"), "mse"),
        NetworkSpec((2, 3, 2), ("tanh", "softmax"), "mse"),
        NetworkSpec((2, 3, 2), ("tanh", "softmax"), "cross_entropy"),
    ],
    ids=["gelu", "softmax", "cross_entropy"],
)
def test_auto_runs_numpy_where_the_kernel_does_not_reach_and_compiled_refuses(
    spec: NetworkSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = Problem.random(spec, 2, seed=0)
    if _fd_kernel.AVAILABLE:
        with pytest.raises(SourceLimitError, match="does not carry"):
            estimate(problem, kernel="compiled")

    def no_kernel(*args: object) -> None:
        raise AssertionError("the compiled path ran")

    monkeypatch.setattr(_fd_kernel, "first_stage", no_kernel)
    auto, numpy_path = estimate(problem), estimate(problem, kernel="numpy")
    for a, b in zip(_tensors(auto.grads), _tensors(numpy_path.grads)):
        np.testing.assert_array_equal(a, b)


def test_leaky_relu_of_any_slope_runs_compiled_and_agrees_with_numpy() -> None:
    if not _fd_kernel.AVAILABLE:
        pytest.skip("numba is not installed")
    spec = NetworkSpec((3, 4, 4, 2), ("leaky_relu(0.2)", "leaky_relu(3.0)", "tanh"), "mse")
    problem = Problem.random(spec, 4, seed=1)
    compiled, numpy_path = estimate(problem, kernel="compiled"), estimate(problem, kernel="numpy")
    for g_c, g_n, b_n in zip(*map(_tensors, (compiled.grads, numpy_path.grads, numpy_path.bound))):
        assert np.all(np.abs(g_c - g_n) <= 2 * b_n + 1e-13 * np.max(np.abs(g_n)))


@pytest.mark.parametrize("name", ["swish", "leaky_relu(x)", "Tanh", "relu6"])
def test_an_activation_without_an_identity_raises_and_names_itself(name: str) -> None:
    Z = np.zeros((1, 1))
    with pytest.raises(ValueError, match=repr(name).replace("(", r"\(").replace(")", r"\)")):
        identities._layer(name, Z, Z)
    with pytest.raises(ValueError, match="finite_diff"):
        identities._lipschitz(name)


def test_a_loss_without_an_identity_raises() -> None:
    one = np.ones((1, 1))
    with pytest.raises(ValueError, match="'hinge'"):
        _Head("hinge", 1.0, one, one, one, one, one)


# --- the identities against 400-digit differences, within their own bounds -------------------

Z_GRID = np.array([-38.0, -30.0, -9.0, -4.5, -3.9, -1.2785, -0.75179, -0.3, 0.0, 1e-7, 0.6,
                   2.4, 7.0, 31.0])  # fmt: skip
D_GRIDS = {
    # up to 1/4: gelu's ΔΦ by Gauss-Legendre, and by two tail values where |z d| > 1
    "wide": np.array([-0.25, -0.03, -1.7e-5, -2e-9, 1e-12, 3e-9, 4e-6, 0.01, 0.2, 0.25]),
    # the steps finite differences take: gelu's ∫φ by its Taylor series
    "tiny": np.array([-2e-8, -7e-10, -1e-12, 5e-15, 3e-11, 4e-9, 2e-8]),
}


def _exact_elementwise(name: str, z: float, d: float, dps: int = EXACT_DPS) -> float:
    with mpmath.workdps(dps):
        z_mp, d_mp = mpmath.mpf(z), mpmath.mpf(d)
        return float(_g(name, z_mp + d_mp) - _g(name, z_mp))


@pytest.mark.parametrize("steps", D_GRIDS)
@pytest.mark.parametrize("name", ["elu", "silu", "gelu", "leaky_relu(0.2)", "leaky_relu(3.5)"])
def test_each_new_identity_is_within_its_own_bound_of_the_exact_difference(
    name: str, steps: str
) -> None:
    d_grid = D_GRIDS[steps]
    Z = np.repeat(Z_GRID, d_grid.size)[None, :]  # one sample, one "neuron" per (z, d)
    dZ = np.tile(d_grid, Z_GRID.size)[None, None, :]
    layer = identities._layer(name, Z, np.zeros_like(Z)).full
    dA, G, kink = identities._difference(layer, dZ, None, 0.0, identities._Pool(), 0)
    crosses = (((Z > 0) != (Z + dZ[0] > 0)) | (Z == 0)).ravel()  # z = 0: either piece
    for zi, di, got, bound, cross in zip(Z.ravel(), dZ.ravel(), dA.ravel(), G.ravel(), crosses):
        if cross and name != "silu" and name != "gelu":
            continue  # across a kink (or elu's 0) the identity is z's piece's: undecidable
        want = _exact_elementwise(name, float(zi), float(di))
        assert abs(got - want) <= bound * EPS + 1e-300, (
            f"{name}(z + d) - {name}(z) at z={zi}, d={di}: {got!r} but exactly {want!r}, "
            f"|Δ| {abs(got - want):.2e} > bound {bound * EPS:.2e}"
        )
        if not cross and got != 0:  # tight: a few eps relative, or of |d| where g' vanishes
            assert bound * EPS <= 1e-11 * abs(got) + 1e-12 * abs(di) * max(1.0, zi * zi), (
                f"{name} at z={zi}, d={di}: bound {bound * EPS:.2e} for {got:.2e}"
            )
    if name in ("elu", "leaky_relu(0.2)", "leaky_relu(3.5)"):
        assert kink is not None and kink.all()  # every batch holds a crossing of 0


@pytest.mark.parametrize("name", ["elu", "silu", "gelu", "leaky_relu(0.2)", "softplus"])
def test_each_identity_bounds_what_an_error_in_z_or_in_its_difference_does(name: str) -> None:
    # z off by up to errZ (the forward pass's error: slope's change, or R for silu and gelu) and
    # ΔZ off by up to E_Z (the carried error: slope2), at either extreme
    d_grid = D_GRIDS["wide"]
    Z = np.repeat(Z_GRID, d_grid.size)[None, :]
    dZ = np.tile(d_grid, Z_GRID.size)[None, None, :]
    errZ = 1e-11 * (1.0 + np.abs(Z))
    E_Z = 1e-9 * np.abs(dZ) / EPS
    layer = identities._layer(name, Z, errZ).full
    dA, G, _ = identities._difference(layer, dZ, E_Z, 0.0, identities._Pool(), 0)
    for zi, di, e, delta, got, bound in zip(
        Z.ravel(), dZ.ravel(), errZ.ravel(), E_Z.ravel() * EPS, dA.ravel(), G.ravel()
    ):
        if zi * (zi + di) <= 0 and name not in ("silu", "gelu", "softplus"):
            continue  # on or across the kink (elu's 0): undecidable
        for z_true, d_true in itertools.product((zi - e, zi + e), (di - delta, di + delta)):
            want = _exact_elementwise(name, float(z_true), float(d_true), DPS)
            assert abs(got - want) <= bound * EPS + 1e-300, (
                f"{name} at z={zi}, d={di} (exactly z={z_true}, d={d_true}): {got!r} but "
                f"{want!r}, |Δ| {abs(got - want):.2e} > bound {bound * EPS:.2e}"
            )


def _softmax_case(seed: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    Z = scale * rng.standard_normal((3, 5))  # samples × neurons
    dZ = rng.choice([-1.0, 1.0], (4, 3, 5)) * 10.0 ** rng.uniform(-12, np.log10(0.25), (4, 3, 5))
    dZ[1, :, 1:] = 0.0  # one z of each sample moves
    dZ[2] = dZ[2, :, :1]  # all move by the same: the outputs do not change
    return Z, dZ


def _exact_softmax(z: Sequence[float], dz: Sequence[float]) -> list[float]:
    with mpmath.workdps(EXACT_DPS):

        def softmax(v: Sequence[mpmath.mpf]) -> list[mpmath.mpf]:
            e = [mpmath.exp(x) for x in v]
            return [x / mpmath.fsum(e) for x in e]

        z_mp = [mpmath.mpf(float(v)) for v in z]
        new = softmax([v + mpmath.mpf(float(d)) for v, d in zip(z_mp, dz)])
        return [float(a - b) for a, b in zip(new, softmax(z_mp))]


def _jacobian_level(a: np.ndarray, d: np.ndarray) -> np.ndarray:
    """a_k Σ_j |δ_kj - a_j| |d_j| for each output of one sample: the size of the terms every
    formula for a softmax difference must combine, with 1 - a_k summed from the others."""
    others = np.array([np.sum(np.delete(a, k)) for k in range(a.size)])
    spread = np.array([np.sum(np.delete(a * np.abs(d), k)) for k in range(a.size)])
    out: np.ndarray = a * (others * np.abs(d) + spread)
    return out


@pytest.mark.parametrize("scale", [1.0, 10.0, 40.0])
def test_the_softmax_difference_is_within_its_own_bound(scale: float) -> None:
    for seed in range(5):
        Z, dZ = _softmax_case(seed, scale)
        layer = identities._layer("softmax", Z, np.zeros_like(Z)).full
        dA, G, _ = _softmax_difference(layer, dZ, None, 0.0)
        for c, s in itertools.product(range(dZ.shape[0]), range(Z.shape[0])):
            want = np.array(_exact_softmax(Z[s], dZ[c, s]))
            error = np.abs(dA[c, s] - want)
            assert np.all(error <= G[c, s] * EPS + 1e-300), (c, s, error, G[c, s] * EPS)
            # tight even where an output saturates (its change is ~ (1 - a) Δz, not Δz)
            level = _jacobian_level(layer.P[0, s], dZ[c, s])
            assert np.all(G[c, s] * EPS <= 1e-12 * level + 1e-300), (c, s, G[c, s], level)


@pytest.mark.parametrize("scale", [1.0, 10.0, 40.0])
def test_the_softmax_bound_covers_errors_in_z_and_in_the_differences(scale: float) -> None:
    rng = np.random.default_rng(7)
    for seed in range(3):
        Z, dZ = _softmax_case(seed, scale)
        errZ = 1e-11 * (1.0 + np.abs(Z))
        E_Z = 1e-9 * np.abs(dZ) / EPS
        layer = identities._layer("softmax", Z, errZ).full
        dA, G, _ = _softmax_difference(layer, dZ, E_Z, 0.0)
        for c, s in itertools.product(range(dZ.shape[0]), range(Z.shape[0])):
            for _ in range(4):  # the errors at extremes of random signs
                z_true = Z[s] + rng.choice([-1.0, 1.0], Z.shape[1]) * errZ[s]
                d_true = dZ[c, s] + rng.choice([-1.0, 1.0], Z.shape[1]) * E_Z[c, s] * EPS
                error = np.abs(dA[c, s] - np.array(_exact_softmax(z_true, d_true)))
                assert np.all(error <= G[c, s] * EPS + 1e-300), (c, s, error, G[c, s] * EPS)


def _exact_cross_entropy(z: Sequence[float], dz: Sequence[float], y: Sequence[float]) -> float:
    with mpmath.workdps(EXACT_DPS):

        def loss(v: Sequence[mpmath.mpf]) -> mpmath.mpf:
            log_sum = mpmath.log(mpmath.fsum(mpmath.exp(x) for x in v))
            return -mpmath.fsum(mpmath.mpf(float(t)) * (x - log_sum) for t, x in zip(y, v))

        z_mp = [mpmath.mpf(float(v)) for v in z]
        return float(loss([v + mpmath.mpf(float(d)) for v, d in zip(z_mp, dz)]) - loss(z_mp))


@pytest.mark.parametrize("scale", [1.0, 10.0, 40.0])
def test_the_cross_entropy_difference_is_within_its_own_bound(scale: float) -> None:
    for seed in range(5):
        Z, dZ = _softmax_case(seed, scale)
        a = np.exp(Z - Z.max(axis=1, keepdims=True))
        a /= a.sum(axis=1, keepdims=True)
        Y = np.random.default_rng(seed).dirichlet(np.ones(5), size=3)  # probability vectors
        Y[0] = np.eye(5)[int(np.argmax(Z[0]))]  # one sample well fitted: ΔC cancels
        arrays = _cross_entropy_arrays(Z.T, a.T, np.zeros_like(Z.T), Y.T)
        SY, err_d, rho, _ = (np.ascontiguousarray(M.T)[None] for M in arrays)
        dJ, E_J = _cross_entropy_difference(
            a[None], Y[None], SY, err_d, rho, dZ, np.zeros_like(dZ), Z.size
        )
        for c, s in itertools.product(range(dZ.shape[0]), range(Z.shape[0])):
            want = _exact_cross_entropy(Z[s], dZ[c, s], Y[s])
            assert abs(dJ[c, s] - want) <= E_J[c, s] * EPS + 1e-300, (c, s, dJ[c, s], want)
            level = np.sum(Y[s] * _jacobian_level(a[s], dZ[c, s]) / np.maximum(a[s], 1e-300))
            assert E_J[c, s] * EPS <= 1e-12 * level + 1e-300, (c, s, E_J[c, s], level)


def test_gelu_quadrature_order_is_below_an_eighth_of_eps() -> None:
    # the Cauchy bound is rigorous; here it meets the 80-digit ∫ at its worst corner
    for a_max, b_max in ((1e-9, 1e-20), (1e-4, 5e-9), (0.3, 1e-3), (1.0, 1 / 32)):
        n = identities._gl_order(a_max, b_max)
        s, w = identities._GL[n]
        for a in (-a_max, a_max):
            got = float(np.sum(w * np.exp(-(a * s + b_max * s * s))))
            with mpmath.workdps(DPS):
                want = mpmath.quad(lambda t, a=a, b=b_max: mpmath.exp(-(a * t + b * t * t)), [0, 1])
            assert abs(got - float(want)) <= 8 * EPS * float(want), (a_max, b_max, n)
    assert identities._gl_order(1e-9, 1e-20) <= 3  # tiny steps: few nodes
