"""The directional source (fast mode's differences) on every convention of issue 11.

Truth is an mpmath evaluation of J written here, independent of every source: the forward pass,
the loss with its reduction and the L2 term at 50 digits, and ∇J·v as a central difference of
J(θ + t v) with t = 1e-20 (its truncation ~1e-40 relative, its rounding ~1e-30). The
directional difference must be within its own bound of that truth for every activation × loss
convention × l2 × weight scale, and fast mode must pass gradients rounded from that truth and
localize one entry off by 1e-4.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import mpmath as mp
import numpy as np
import pytest

from harness import Loss, NetworkSpec, Problem, fast_check
from harness.network import leaky_slope
from harness.sources import directional

HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "leaky_relu(0.2)", "identity", "softplus",
          "elu", "silu", "gelu")  # fmt: skip
REDUCTIONS = ("mean", "sum", "elementwise_mean")
#: (loss, output activations): mse after any output (its own hidden one, "same", or softmax).
CONVENTIONS = [
    *((Loss("mse", half=half, reduction=r), ("same", "softmax"))
      for half in (False, True) for r in REDUCTIONS),
    *((Loss("bce", reduction=r), ("sigmoid",)) for r in REDUCTIONS),
    *((Loss("cross_entropy", reduction=r), ("softmax",)) for r in REDUCTIONS),
]  # fmt: skip
DIGITS = 50


def _g(name: str, z: Any) -> Any:
    """The activation at an mpmath number."""
    if name == "sigmoid":
        return 1 / (1 + mp.exp(-z))
    if name == "tanh":
        return mp.tanh(z)
    if name == "identity":
        return z
    if name == "softplus":
        return mp.log1p(mp.exp(z))
    if name == "elu":
        return z if z > 0 else mp.expm1(z)
    if name == "silu":
        return z / (1 + mp.exp(-z))
    if name == "gelu":
        return z * mp.erfc(-z / mp.sqrt(2)) / 2
    alpha = 0.0 if name == "relu" else leaky_slope(name)
    assert alpha is not None, name
    return z if z > 0 else alpha * z


def _objective(spec: NetworkSpec, params: Sequence[tuple[Any, Any]], X: Any, Y: Any) -> Any:
    """J = Σ_i C_i / divisor + (l2/2) Σ ‖W‖², all in mpmath (lists of lists)."""
    m, total = len(X[0]), mp.mpf(0)
    for i in range(m):
        a = [row[i] for row in X]
        for (W, b), name in zip(params, spec.activations):
            z = [mp.fsum(w * x for w, x in zip(row, a)) + b_j for row, b_j in zip(W, b)]
            if name == "softmax":
                log_sum = mp.log(mp.fsum(mp.exp(z_j) for z_j in z))
                a = [mp.exp(z_j - log_sum) for z_j in z]
            else:
                a = [_g(name, z_j) for z_j in z]
        y = [row[i] for row in Y]
        if spec.loss.name == "mse":
            total += mp.fsum((a_j - y_j) ** 2 for a_j, y_j in zip(a, y))
        elif spec.loss.name == "bce":  # 1 - a as σ(-z): it keeps its digits where a -> 1
            total -= mp.fsum(
                y_j * mp.log(a_j) + (1 - y_j) * mp.log(_g("sigmoid", -z_j))
                for a_j, z_j, y_j in zip(a, z, y)
            )
        else:
            total -= mp.fsum(y_j * (z_j - log_sum) for z_j, y_j in zip(z, y))
    J = total / int(spec.divisor(m))  # the divisor is an exact integer
    W_squares = mp.fsum(w**2 for W, _ in params for row in W for w in row)
    return J + mp.mpf(spec.l2) / 2 * W_squares


def _mp(a: Any) -> Any:
    return [[mp.mpf(float(x)) for x in row] for row in np.atleast_2d(a)]


def _derivative(
    problem: Problem, v: Sequence[tuple[Any, Any] | None], digits: int = DIGITS
) -> float:
    """∇J·v at θ: (J(θ + t v) - J(θ - t v)) / 2t with t = 10^(-digits/2.5), its truncation
    ~t² and its rounding ~10^-digits / t relative to J; where ∇J·v is too small for that
    (saturated units), again with 60 more digits, twice at most."""
    with mp.workdps(digits):
        X, Y, t = _mp(problem.X), _mp(problem.Y), mp.mpf(10) ** (-digits // 2.5)
        values = []
        for sign in (1, -1):
            params = []
            for (W, b), pair in zip(problem.params, v):
                VW, Vb = pair if pair is not None else (np.zeros_like(W), np.zeros_like(b))
                params.append((
                    [[mp.mpf(float(w)) + sign * t * float(u) for w, u in zip(*rows)]
                     for rows in zip(W, VW)],
                    [mp.mpf(float(x)) + sign * t * float(u) for x, u in zip(b, Vb)],
                ))  # fmt: skip
            values.append(_objective(problem.spec, params, X, Y))
        D = (values[0] - values[1]) / (2 * t)
        small = abs(D) < mp.mpf(10) ** (-digits // 2 + 5) * (1 + abs(values[0]))
        if small and digits < DIGITS + 120:
            return _derivative(problem, v, digits + 60)
        return float(D)


def _directions(spec: NetworkSpec, seed: int) -> list[list[tuple[Any, Any] | None]]:
    """Every parameter ±1; layer 1's W in its first two rows only (a carry that starts on some
    rows); the output layer's b only (a softmax output still changes in every row)."""
    rng = np.random.default_rng(seed)
    shapes = spec.param_shapes
    full: list[tuple[Any, Any] | None] = [
        (rng.choice([-1.0, 1.0], size=w), rng.choice([-1.0, 1.0], size=b)) for w, b in shapes
    ]
    rows = np.zeros(shapes[0][0])
    rows[:2] = rng.choice([-1.0, 1.0], size=(2, shapes[0][0][1]))
    first: list[tuple[Any, Any] | None] = [None] * spec.depth
    first[0] = (rows, np.zeros(shapes[0][1]))
    last: list[tuple[Any, Any] | None] = [None] * spec.depth
    last[-1] = (np.zeros(shapes[-1][0]), rng.choice([-1.0, 1.0], size=shapes[-1][1]))
    return [full, first, last]


CASES = [
    (act, loss, output if output != "same" else act)
    for act in HIDDEN
    for loss, outputs in CONVENTIONS
    for output in outputs
]


@pytest.mark.parametrize(("act", "loss", "output"), CASES, ids=lambda x: str(x))
def test_the_directional_difference_is_within_its_bound_of_the_50_digit_truth(
    act: str, loss: Loss, output: str
) -> None:
    """For l2 ∈ {0, 1e-3} and weight scales 1 and 10, three directions each; the bound has
    teeth (far below the value's own size) and no direction is undecidable here. The L2
    term's part of the truth is l2 Σ W⊙VW, exact in mpmath."""
    for scale in (1.0, 10.0):
        spec = NetworkSpec((3, 4, 3), (act, output), loss)
        problem = Problem.random(spec, 2, seed=7, weight_scale=scale)
        directions = _directions(spec, seed=1)
        truths = [_derivative(problem, v) for v in directions]
        for l2 in (0.0, 1e-3):
            decayed = NetworkSpec(spec.sizes, spec.activations, spec.loss, l2=l2)
            same = Problem(decayed, problem.params, problem.X, problem.Y)
            _check(same, directions, truths, f"{decayed!r} at weight scale {scale}")


def _check(problem: Problem, directions: list[list[Any]], truths: list[float], at: str) -> None:
    result = directional.along(directional.prepare(problem), directions)
    for k, v in enumerate(directions):
        with mp.workdps(DIGITS):
            pairs = [(W, p[0]) for (W, _), p in zip(problem.params, v) if p is not None]
            decay = mp.fsum(mp.mpf(float(w)) * float(u) for W, VW in pairs
                            for w, u in zip(W.ravel(), VW.ravel()))  # fmt: skip
            truth = float(truths[k] + mp.mpf(problem.spec.l2) * decay)
        where = f"{at}, direction {k}"
        assert not result.undecidable[k], where
        error, bound = abs(float(result.value[k]) - truth), float(result.bound[k])
        assert error <= bound, f"{where}: D {result.value[k]!r}, truth {truth!r}, bound {bound}"
        assert bound <= 1e-8 * (1.0 + abs(truth)), f"{where}: bound {bound} for {truth!r}"


def test_the_l2_term_is_exact_and_its_rounding_bounded() -> None:
    """With l2 the value moves by exactly l2 Σ W⊙VW (up to its rounding), the data term's
    bound unchanged; a direction on biases only does not see l2."""
    spec = NetworkSpec((3, 4, 3), ("gelu", "softmax"), Loss("cross_entropy", reduction="sum"))
    problem = Problem.random(spec, 3, seed=2)
    decay = NetworkSpec(spec.sizes, spec.activations, spec.loss, l2=0.5)
    with_l2 = Problem(decay, problem.params, problem.X, problem.Y)
    directions = _directions(spec, seed=3)
    plain = directional.along(directional.prepare(problem), directions)
    decayed = directional.along(directional.prepare(with_l2), directions)
    for k, v in enumerate(directions):
        exact = 0.5 * sum(float((W * p[0]).sum()) for (W, _), p in zip(problem.params, v) if p)
        assert abs(decayed.value[k] - plain.value[k] - exact) <= 1e-15 * (1 + abs(exact))
        assert plain.bound[k] <= decayed.bound[k] <= plain.bound[k] + 1e-13 * (1 + abs(exact))
    assert decayed.value[2] == plain.value[2]  # the output layer's b only


def test_a_leaky_relu_kink_crossed_by_a_step_is_undecidable() -> None:
    """leaky_relu(0.2) with Z1[0, 0] exactly 0: directions that move it are undecidable."""
    spec = NetworkSpec((2, 3, 2), ("leaky_relu(0.2)", "softmax"), "cross_entropy")
    W1 = np.array([[1.0, 0.0], [0.5, -0.3], [-0.7, 0.2]])
    params = [(W1, np.array([0.0, 0.1, 0.2])), (np.ones((2, 3)) * 0.3, np.zeros(2))]
    X = np.array([[0.0, 1.0], [0.3, 0.2]])
    problem = Problem(spec, params, X, np.array([[1.0, 0.0], [0.0, 1.0]]))
    result = directional.along(directional.prepare(problem), _directions(spec, seed=0))
    assert result.undecidable[0] and np.isinf(result.bound[0])  # moves W1[0, :]
    assert not result.undecidable[2]  # the output bias does not move Z1


def test_unknown_names_raise_instead_of_falling_into_another_identity() -> None:
    Z = np.zeros((2, 3))
    with pytest.raises(ValueError, match="'swish'"):
        directional._layer("swish", Z, Z, Z)
    spec = NetworkSpec((3, 4, 3), ("tanh", "softmax"), "cross_entropy")
    problem = Problem.random(spec, 3, seed=0)
    net = directional.prepare(problem)
    net = replace(net, head=replace(net.head, loss="hinge"))
    with pytest.raises(ValueError, match="'hinge'"):
        directional.along(net, _directions(spec, seed=0)[:1])


def _truth_gradients(problem: Problem) -> list[tuple[Any, Any]]:
    """dJ/dθ rounded to float64, one 80-digit central difference per entry."""
    grads = []
    for l, (W, b) in enumerate(problem.params):
        pair = []
        for k, tensor in enumerate((W, b)):
            g = np.empty_like(tensor)
            for index in np.ndindex(tensor.shape):
                unit = np.zeros_like(tensor)
                unit[index] = 1.0
                v: list[tuple[Any, Any] | None] = [None] * problem.spec.depth
                v[l] = (unit, np.zeros_like(b)) if k == 0 else (np.zeros_like(W), unit)
                g[index] = _derivative(problem, v)
            pair.append(g)
        grads.append((pair[0], pair[1]))
    return grads


FAST = [
    NetworkSpec((3, 4, 3), (act, output), loss, l2=l2)
    for act in HIDDEN
    for output, loss, l2 in [
        ("softmax", Loss("cross_entropy", reduction="sum"), 1e-3),
        ("softmax", Loss("mse", half=True, reduction="elementwise_mean"), 0.0),
        ("sigmoid", Loss("bce"), 1e-3),
    ]
]


@pytest.mark.parametrize("spec", FAST, ids=repr)
def test_fast_check_passes_the_truth_and_localizes_one_entry_off_by_1e_4(
    spec: NetworkSpec,
) -> None:
    problem = Problem.random(spec, 3, seed=11)
    grads = _truth_gradients(problem)
    result = fast_check(grads, problem, seed=0)
    assert result.passed, result.summary
    for l in range(spec.depth):
        for k, param in enumerate("Wb"):
            bad = [(dW.copy(), db.copy()) for dW, db in grads]
            tensor = bad[l][k]
            index = np.unravel_index(int(np.argmax(np.abs(tensor))), tensor.shape)
            tensor[index] *= 1.0 + 1e-4
            result = fast_check(bad, problem, seed=0)
            found = [(x.layer, x.param, x.index) for x in result.located]
            where = f"{problem!r} layer {l + 1} d{param}{list(index)}"
            assert found == [(l + 1, param, tuple(int(i) for i in index))], f"{where}: {found}"


IDENTITY_Z = [-40.0, -7.5, -1.2784645, -0.3, -1e-9, 0.0, 2e-12, 0.6, 1.9, 9.0, 35.0]
#: Steps d in three calls, one per branch of the identities: the leading term only (tanh,
#: sigmoid), short series (those and gelu), the full functions.
IDENTITY_D = [[1e-13, -2e-8], [3e-9, -2e-6, 1e-5], [-4e-4, 0.03, -0.2, 0.25]]


def _softmax_mp(z: Sequence[Any]) -> list[Any]:
    top = max(z)
    e = [mp.exp(x - top) for x in z]
    return [x / mp.fsum(e) for x in e]


@pytest.mark.parametrize("steps", IDENTITY_D, ids=["tiny", "small", "large"])
@pytest.mark.parametrize("shift", [0.0, 1.0, -1.0])
@pytest.mark.parametrize("name", [*HIDDEN, "softmax"])
def test_each_identity_is_within_its_own_error_model_of_the_truth(
    name: str, shift: float, steps: list[float]
) -> None:
    """g(z + d) - g(z) for z across the range (saturated, silu's g' = 0 near -1.278, elu's
    pieces and 0 crossed by d) and |d| up to 1/4, against mpmath: within eps (K|ΔA| + Kd|d|),
    one sample per z so the per-sample maxima are that z's own. The identity sees the float z
    (and g(z) rounded) while the truth is at z + shift errZ, errZ = 1e-9 (1 + |z|) the forward
    error it is told about. A softmax output sample is (z, 0, -z) moved by (d, -d/2, d/4),
    its truth shifted by (+, -, +) errZ. Kink crossings (and z within errZ of 0) are left out."""
    Z = np.array(IDENTITY_Z)[:, None]
    signs, directions = np.array([[1.0]]), np.array([[1.0]])
    if name == "softmax":
        Z = np.hstack([Z, np.zeros_like(Z), -Z])
        signs, directions = np.array([[1.0, -1.0, 1.0]]), np.array([[1.0, -0.5, 0.25]])
    errZ = 1e-9 * (1.0 + np.abs(Z))
    dZ = np.array(steps)[:, None, None] * directions[None] * np.ones_like(Z)[None]
    with mp.workdps(120):  # g(z + d) and g(z) agree to ~90 digits where g saturates
        rows = [[mp.mpf(float(z)) + shift * s * float(e) for z, s, e in zip(row, signs[0], e_row)]
                for row, e_row in zip(Z, errZ)]  # fmt: skip
        moved = [[[z + mp.mpf(float(d)) for z, d in zip(row, ds)] for row, ds in zip(rows, dZ_p)]
                 for dZ_p in dZ]  # fmt: skip
        if name == "softmax":
            g = _softmax_mp
            A_mp = [g([mp.mpf(float(z)) for z in row]) for row in Z]
            truth = [[[b - a for a, b in zip(g(row), g(m_row))]
                      for row, m_row in zip(rows, moved_p)] for moved_p in moved]  # fmt: skip
        else:
            A_mp = [[_g(name, mp.mpf(float(z))) for z in row] for row in Z]
            truth = [[[_g(name, x) - _g(name, z) for z, x in zip(row, m_row)]
                      for row, m_row in zip(rows, moved_p)] for moved_p in moved]  # fmt: skip
        A = np.array([[float(a) for a in row] for row in A_mp])
        exact = np.array([[[float(x) for x in row] for row in p] for p in truth])
    layer = directional._layer(name, Z, errZ, A)
    dz = float(np.abs(dZ).max())
    dA, dA_max, kink = directional._difference(layer, dZ, dz, directional._Pool(), 0)
    E = layer.K * dA_max
    if layer.Kd is not None:
        E += layer.Kd * np.abs(dZ).max(axis=2)
    if layer.K_dz is not None:
        E += dz * layer.K_dz * dA_max
    unsure = np.abs(Z) <= np.abs(dZ) + errZ if kink is not None else np.zeros(dZ.shape, bool)
    error = np.where(unsure, 0.0, np.abs(dA - exact))
    allowed = directional._EPS * E[:, :, None] + 1e-300
    assert np.all(error <= allowed), (np.argwhere(error > allowed)[:3], (error / allowed).max())
