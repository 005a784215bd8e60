"""Closed forms: seed 000's chain rule, index by index.

For one sample i, with j a node of layer l and k a node of layer l-1 (seed 000's indices):

    ∂C_i/∂w_jk^(l) = ∂C_i/∂a_j^(l) · g_l'(z_j^(l)) · a_k^(l-1)          (the three factors)
    ∂C_i/∂b_j^(l)  = ∂C_i/∂a_j^(l) · g_l'(z_j^(l)) · 1                  (seed 001's bias)
    ∂C_i/∂a_k^(l-1) = Σ_j ∂C_i/∂a_j^(l) · g_l'(z_j^(l)) · w_jk^(l)       (the backward sum)

and the gradient of J = Σ_i C_i / divisor + (l2/2) Σ w² is
∂J/∂w_jk = (Σ_i ∂C_i/∂w_jk) / divisor + l2 · w_jk (the divisor of the loss's reduction,
`harness.spec.NetworkSpec.divisor`; the l2 term is not divided). At the output:

- mse: C_i = Σ_j (a_j - y_j)², so ∂C_i/∂a_j = 2(a_j - y_j) (``half`` lives in the divisor);
- bce (sigmoid output): ∂C_i/∂a_j = -y_j/a_j + (1 - y_j)/(1 - a_j);
- cross_entropy (softmax output): ∂C_i/∂a_k = -y_k/a_k.

A softmax output couples the outputs of a sample: its Jacobian ∂a_k/∂z_j = a_k(δ_kj - a_j)
replaces the factor g'(z_j), and the first two factors become a sum over k,

    ∂C_i/∂z_j = Σ_k ∂C_i/∂a_k · a_k(δ_kj - a_j).

For cross_entropy the product (-y_k/a_k) · a_k is -y_k, so ∂C_i/∂z_j = Σ_k -y_k(δ_kj - a_j)
= -y_j + a_j Σ_k y_k: y/a is never formed, and the value stays finite (and exact) when a
softmax output underflows.

Each einsum's subscripts are the formula's indices (j, k, i = sample), so a line can be checked
against the seed. This module derives its own activation and loss derivatives; it shares only the
forward definition (`harness.network`) with the other sources.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

import numpy as np

from harness.network import Array, activate, erfc, forward, leaky_slope
from harness.spec import NetworkSpec, Problem

__all__ = ["gradients"]

_SQRT_2: Final = math.sqrt(2.0)
_INV_SQRT_2PI: Final = 1.0 / math.sqrt(2.0 * math.pi)


def _sigmoid(z: Array) -> Array:
    """σ itself is part of the forward definition, which the sources may share."""
    return activate("sigmoid", z)


def _normal_cdf(z: Array) -> Array:
    """Φ(z) = erfc(-z/√2)/2: GELU's forward factor (harness.network.erfc, shared forward code)."""
    return 0.5 * erfc(-z / _SQRT_2)


def _normal_pdf(z: Array) -> Array:
    """φ(z) = e^(-z²/2)/√(2π) = Φ'(z); 0 once z² overflows."""
    with np.errstate(over="ignore", under="ignore"):
        return np.exp(-0.5 * (z * z)) * _INV_SQRT_2PI


def _sigmoid_prime(z: Array) -> Array:
    return _sigmoid(z) * _sigmoid(-z)  # σ(z)(1 - σ(z)), with 1 - σ(z) = σ(-z) exactly


def _tanh_prime(z: Array) -> Array:
    with np.errstate(over="ignore"):  # cosh overflows for |z| > 710: sech² is then 0
        return 1.0 / np.cosh(z) ** 2  # 1 - tanh²(z) = sech²(z)


def _relu_prime(z: Array) -> Array:
    return np.where(z > 0, 1.0, 0.0)


def _identity_prime(z: Array) -> Array:
    return np.ones_like(z)


def _softplus_prime(z: Array) -> Array:
    return _sigmoid(z)  # d/dz log(1 + e^z) = e^z / (1 + e^z)


def _elu_prime(z: Array) -> Array:
    # d/dz z = 1 for z > 0; d/dz (e^z - 1) = e^z for z <= 0 (both 1 at 0: C¹).
    return np.where(z > 0, 1.0, np.exp(np.minimum(z, 0.0)))


def _silu_prime(z: Array) -> Array:
    # d/dz z σ(z) = σ(z) + z σ(z)(1 - σ(z)) = σ(z)(1 + z σ(-z)).
    return _sigmoid(z) * (1.0 + z * _sigmoid(-z))


def _gelu_prime(z: Array) -> Array:
    # d/dz z Φ(z) = Φ(z) + z φ(z).
    return _normal_cdf(z) + z * _normal_pdf(z)


#: g' of each elementwise activation; leaky_relu(α) is read from its name, softmax is not
#: elementwise (its Jacobian is `_through_softmax`).
_G_PRIME: Final[dict[str, Callable[[Array], Array]]] = {
    "sigmoid": _sigmoid_prime,
    "tanh": _tanh_prime,
    "relu": _relu_prime,
    "identity": _identity_prime,
    "softplus": _softplus_prime,
    "elu": _elu_prime,
    "silu": _silu_prime,
    "gelu": _gelu_prime,
}


def g_prime(name: str, z: Array) -> Array:
    """∂a/∂z = g'(z) for the elementwise activation ``name``."""
    alpha = leaky_slope(name)
    if alpha is not None:
        return np.where(z > 0, 1.0, alpha)  # slope 1 for z > 0, α below
    derivative = _G_PRIME.get(name)
    if derivative is None:
        raise ValueError(f"closed_form: activation {name!r} has no elementwise derivative here")
    return derivative(z)


def _through_softmax(dC_da: Array, a: Array) -> Array:
    """∂C_i/∂z_j = Σ_k ∂C_i/∂a_k · a_k(δ_kj - a_j): the softmax Jacobian, summed over k.

    Its diagonal is a_j(1 - a_j) and, as Σ_k a_k = 1, 1 - a_j = Σ_k a_k (1 - δ_kj); the
    off-diagonal entries are -a_k a_j. So the sum is
    ``a_j [∂C/∂a_j · Σ_k a_k (1 - δ_kj) - Σ_k ∂C/∂a_k a_k (1 - δ_kj)]``: both sums run over
    k != j only (the matrix 1 - δ), so neither cancels when a_j -> 1, and no n_L × n_L
    Jacobian per sample is stored.
    """
    off = 1.0 - np.eye(a.shape[0])  # 1 - δ_kj
    one_minus_a = np.einsum("ki,kj->ji", a, off, optimize=True)  # Σ_k a_k (1 - δ_kj)
    others = np.einsum("ki,ki,kj->ji", dC_da, a, off, optimize=True)  # Σ_k ∂C/∂a_k a_k (1 - δ_kj)
    return np.asarray(a * (dC_da * one_minus_a - others), dtype=np.float64)


def _cross_entropy_through_softmax(a: Array, y: Array) -> Array:
    """∂C_i/∂z_j for cross_entropy: Σ_k (-y_k/a_k) · a_k(δ_kj - a_j) = Σ_k -y_k(δ_kj - a_j).

    The product (-y_k/a_k) · a_k is -y_k, so y/a is never formed (a softmax output may
    underflow). With -y_j = -y_j Σ_k a_k the k = j terms cancel exactly:
    ``Σ_k (1 - δ_kj)(a_j y_k - y_j a_k) = a_j Σ_{k≠j} y_k - y_j Σ_{k≠j} a_k``
    (= -y_j + a_j Σ_k y_k), which keeps full relative accuracy when a_j -> y_j = 1.
    """
    off = 1.0 - np.eye(a.shape[0])  # 1 - δ_kj
    return np.asarray(
        np.einsum("ji,ki,kj->ji", a, y, off, optimize=True)
        - np.einsum("ji,ki,kj->ji", y, a, off, optimize=True),
        dtype=np.float64,
    )


def _bce_times_sigmoid_prime(z: Array, y: Array) -> Array:
    """∂C/∂a_j · g'(z_j) for bce after a sigmoid, the factors kept separate as in the seed.

    ∂C/∂a = -y/a + (1 - y)/(1 - a) and g'(z) = a(1 - a), with ``1 - a`` evaluated as σ(-z)
    instead of by subtraction, so neither factor rounds to 0 or ∞ on a saturated output.
    """
    a_ = _sigmoid(z)
    one_minus_a = _sigmoid(-z)
    with np.errstate(divide="ignore", invalid="ignore"):  # |z| > 745: a or 1 - a underflows
        dC_da = np.where(y != 0, -y / a_, 0.0) + np.where(y != 1, (1.0 - y) / one_minus_a, 0.0)
        return np.asarray(dC_da * (a_ * one_minus_a), dtype=np.float64)


def output_dC_dz(spec: NetworkSpec, z: Array, a: Array, y: Array) -> Array:
    """The first two factors at the output layer, ∂C_i/∂z_j, per sample (columns)."""
    loss, out = spec.loss.name, spec.activations[-1]
    if out == "softmax":
        if loss == "cross_entropy":
            return _cross_entropy_through_softmax(a, y)
        if loss == "mse":
            return _through_softmax(2.0 * (a - y), a)  # ∂C/∂a_k = 2(a_k - y_k)
    elif loss == "mse":
        return 2.0 * (a - y) * g_prime(out, z)
    elif loss == "bce" and out == "sigmoid":
        return _bce_times_sigmoid_prime(z, y)
    raise ValueError(f"closed_form: no derivative for loss {loss!r} after a {out!r} output")


def gradients(problem: Problem) -> list[tuple[Array, Array]]:
    """dJ/dθ as ``[(dW1, db1), ...]`` from seed 000's per-index formulas."""
    spec = problem.spec
    params = problem.params
    cache = forward(params, problem.X, spec.activations)
    divisor = spec.divisor(problem.batch)
    L = spec.depth

    z, a = cache[L - 1]
    # dC_dz[j, i] = ∂C_i/∂a_j · g'(z_j) for sample i: the first two factors of the chain.
    dC_dz = output_dC_dz(spec, z, a, problem.Y)
    grads_backward: list[tuple[Array, Array]] = []  # layer L first
    for l in range(L, 0, -1):
        W, _ = params[l - 1]
        a_prev = problem.X if l == 1 else cache[l - 2][1]
        # ∂J/∂w_jk = Σ_i [∂C_i/∂a_j g'(z_j)] · a_k / divisor     (third factor: a_k^(l-1))
        dJ_dw = np.einsum("ji,ki->jk", dC_dz, a_prev, optimize=True) / divisor
        if spec.l2:
            dJ_dw = dJ_dw + spec.l2 * W  # ∂/∂w_jk of (l2/2) Σ w² = l2 · w_jk
        # ∂J/∂b_j = Σ_i [∂C_i/∂a_j g'(z_j)] · 1 / divisor
        dJ_db = np.einsum("ji->j", dC_dz) / divisor
        grads_backward.append((dJ_dw, dJ_db))
        if l > 1:
            # ∂C_i/∂a_k^(l-1) = Σ_j [∂C_i/∂a_j g'(z_j)] · w_jk   (the backward sum over j)
            dC_da_prev = np.einsum("ji,jk->ki", dC_dz, W, optimize=True)
            z_prev = cache[l - 2][0]
            dC_dz = dC_da_prev * g_prime(spec.activations[l - 2], z_prev)
    return grads_backward[::-1]
