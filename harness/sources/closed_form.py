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

__all__ = ["gradients", "magnitudes"]

_SQRT_2: Final = math.sqrt(2.0)
_INV_SQRT_2PI: Final = 1.0 / math.sqrt(2.0 * math.pi)
_EPS: Final = float(np.finfo(np.float64).eps)


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


# ---------------------------------------------------------------------------------------------
# Magnitudes: the same chain rule on absolute values, for harness.tolerance's rounding bound.


def _capped(terms: Array, tail: Array) -> Array:
    """|terms| of ``c - f`` with f → c: once ``tail = c - f`` is below an ulp, f rounds to c and
    the computed difference is off by ``tail`` itself, not by eps · |terms|."""
    return np.minimum(terms, 4.0 * tail / _EPS)


def _g_prime_terms(name: str, z: Array, a: Array) -> Array:
    """|terms| of g'(z) as a candidate usually forms it, at least |g'(z)| and |g''(z)|/2.

    1 - tanh², σ(1 - σ), A + 1 (elu), σ + zσ(1 - σ) (silu) and (1 + erf(z/√2))/2 + zφ (gelu)
    cancel where the unit saturates, so their rounding scales with their terms, not with g'.
    """
    if name == "tanh":
        return 1.0 + np.tanh(z) ** 2
    if name == "sigmoid":
        s = _sigmoid(z)
        return s + s**2
    if name == "elu":  # e^z formed as A + 1 for z <= 0
        return np.where(z > 0, 1.0, _capped(1.0 + np.abs(a), np.exp(np.minimum(z, 0.0))))
    if name == "silu":  # σ + z σ (1 - σ), the 1 - σ by subtraction
        s, s_neg = _sigmoid(z), _sigmoid(-z)
        return s + np.abs(z) * s * _capped(1.0 + s, s_neg)
    if name == "gelu":  # (1 + erf(z/√2))/2 + z φ(z), erf's argument and z² rounded
        Phi, pdf = _normal_cdf(z), _normal_pdf(z)
        return _capped(np.maximum(Phi, 1.0 - Phi), Phi) + np.abs(z) * pdf * (2.0 + z * z)
    return np.abs(g_prime(name, z))


def _a_terms(name: str, z: Array, a: Array) -> Array:
    """|terms| of a = g(z) as a candidate usually forms it: e^z - 1 (elu), z(1 + erf(z/√2))/2
    (gelu) lose relative accuracy where they cancel; the others are |a|."""
    if name == "elu":
        return np.where(z > 0, np.abs(a), 1.0 + np.exp(np.minimum(z, 0.0)))
    if name == "gelu":
        Phi = _normal_cdf(z)
        return np.abs(z) * (np.maximum(Phi, 1.0 - Phi) + np.abs(z) * _normal_pdf(z))
    return np.abs(a)


def _output_magnitude(spec: NetworkSpec, z: Array, a: Array, a_mag: Array, y: Array) -> Array:
    """Σ |terms| of ∂C_i/∂z_j at the output, each way a candidate usually forms it."""
    loss, out = spec.loss.name, spec.activations[-1]
    y_abs = np.abs(y)
    if out == "softmax":
        if loss == "cross_entropy":
            # -y_j + a_j Σ_k y_k (or A - Y, or Σ_k (-y_k/a_k) a_k(δ_kj - a_j)): the terms
            # |y_j| + a_j Σ_k |y_k|, and A - Y's a_j |Σ_k y_k - 1| when Y's column sums to 1 only
            # to within rounding.
            y_sum_off = np.abs(np.sum(y, axis=0) - 1.0) / _EPS
            return np.asarray(y_abs + a_mag * (np.sum(y_abs, axis=0) + y_sum_off), np.float64)
        if loss == "mse":
            # Σ_k |2(a_k - y_k)| a_k (δ_kj + a_j), through the full Jacobian. a - y is formed by
            # subtraction (its terms |a| widened by a's rounding, and |y|); the Jacobian's
            # factors a_k, a_j are taken as they are, like σ + σ² for a sigmoid: their own
            # rounding is the slope term of `harness.tolerance` (softmax is SMOOTH_NONLINEAR).
            # Widened there too, they squared the widening (M/|g| ~ 1e10 on 64-128-128-10).
            dC_da_times_a = 2.0 * (a_mag + y_abs) * a
            return np.asarray(dC_da_times_a + a * np.sum(dC_da_times_a, axis=0), np.float64)
    elif loss == "mse":  # a - y is formed by subtraction, so its terms are |a| and |y|
        return 2.0 * (a_mag + y_abs) * _g_prime_terms(out, z, a)
    elif loss == "bce" and out == "sigmoid":  # a candidate forms a - y
        return a_mag + y_abs
    raise ValueError(f"closed_form: no magnitude for loss {loss!r} after a {out!r} output")


def magnitudes(problem: Problem) -> list[tuple[Array, Array]]:
    """The same chain rule on absolute values: Σ over every product term of |term|.

    ``M = Σ_i |∂C_i/∂a_j g'(z_j)| |a_k| / divisor (+ l2 |w_jk|)`` with the backward sum taken
    over ``|w_jk|``, each |a| widened by the magnitude of its own rounding, |g'(z)| (|W||a| + |b|)
    (for softmax, Σ_j |a_k(δ_kj - a_j)| of it), and each g' taken as the |terms| it is usually
    computed from (1 + tanh², σ + σ², …). A float64 evaluation of the gradient in any summation
    order is off by at most a small multiple of eps · M (the running error bound of a sum of
    products); `harness.tolerance` turns it into per-entry bounds.
    """
    spec = problem.spec
    params = problem.params
    cache = forward(params, problem.X, spec.activations)
    divisor = spec.divisor(problem.batch)
    L = spec.depth
    # |a| plus the magnitude of its own rounding: g'(z) times the terms of z = W a_prev + b.
    a_mag: list[Array] = [np.abs(problem.X)]
    for (W, b), (z_l, a_l), name in zip(params, cache, spec.activations):
        z_terms = np.abs(W) @ a_mag[-1] + np.abs(b)[:, None]
        if name == "softmax":  # Σ_j a_k |δ_kj - a_j| z_terms_j <= a_k (z_terms_k + Σ_j a_j ...)
            a_mag.append(a_l * (1.0 + z_terms + np.sum(a_l * z_terms, axis=0)))
        else:
            a_mag.append(_a_terms(name, z_l, a_l) + np.abs(g_prime(name, z_l)) * z_terms)
    z, a = cache[L - 1]
    dC_dz_abs = _output_magnitude(spec, z, a, a_mag[L], problem.Y)
    out_backward: list[tuple[Array, Array]] = []
    for l in range(L, 0, -1):
        W, _ = params[l - 1]
        M_w = np.einsum("ji,ki->jk", dC_dz_abs, a_mag[l - 1], optimize=True) / divisor
        if spec.l2:
            M_w = M_w + spec.l2 * np.abs(W)  # l2 · w_jk, one more term of the sum
        M_b = np.einsum("ji->j", dC_dz_abs) / divisor
        out_backward.append((M_w, M_b))
        if l > 1:
            M_a_prev = np.einsum("ji,jk->ki", dC_dz_abs, np.abs(W), optimize=True)
            name = spec.activations[l - 2]
            z_prev, a_prev = cache[l - 2]
            dC_dz_abs = M_a_prev * _g_prime_terms(name, z_prev, a_prev)
    return out_backward[::-1]
