"""Closed forms: seed 000's chain rule, index by index.

For one sample i, with j a node of layer l and k a node of layer l-1 (seed 000's indices):

    ∂C_i/∂w_jk^(l) = ∂C_i/∂a_j^(l) · g_l'(z_j^(l)) · a_k^(l-1)          (the three factors)
    ∂C_i/∂b_j^(l)  = ∂C_i/∂a_j^(l) · g_l'(z_j^(l)) · 1                  (seed 001's bias)
    ∂C_i/∂a_k^(l-1) = Σ_j ∂C_i/∂a_j^(l) · g_l'(z_j^(l)) · w_jk^(l)       (the backward sum)

and the gradient of the batch loss is the mean over samples, ∂C/∂w = (1/m) Σ_i ∂C_i/∂w.
At the output, C_i = Σ_j (a_j - y_j)² for mse (so ∂C_i/∂a_j = 2(a_j - y_j)) and
C_i = -Σ_j [y_j log a_j + (1 - y_j) log(1 - a_j)] for bce.

Each einsum's subscripts are the formula's indices (j, k, i = sample), so a line can be checked
against the seed. This module derives its own activation and loss derivatives; it shares only the
forward definition (`harness.network`) with the other sources.
"""

from __future__ import annotations

import numpy as np

from harness.network import LEAKY_SLOPE, Array, activate, forward
from harness.spec import Problem

__all__ = ["gradients", "magnitudes"]


def _sigmoid(z: Array) -> Array:
    """σ itself is part of the forward definition, which the sources may share."""
    return activate("sigmoid", z)


def g_prime(name: str, z: Array) -> Array:
    """∂a/∂z = g'(z) for activation ``name``, elementwise."""
    if name == "sigmoid":
        return _sigmoid(z) * _sigmoid(-z)  # σ(z)(1 - σ(z)), with 1 - σ(z) = σ(-z) exactly
    if name == "tanh":
        with np.errstate(over="ignore"):  # cosh overflows for |z| > 710: sech² is then 0
            return 1.0 / np.cosh(z) ** 2  # 1 - tanh²(z) = sech²(z)
    if name == "relu":
        return np.where(z > 0, 1.0, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, LEAKY_SLOPE)
    if name == "identity":
        return np.ones_like(z)
    if name == "softplus":
        return _sigmoid(z)  # d/dz log(1 + e^z) = e^z / (1 + e^z)
    raise AssertionError(f"activation {name!r} passed validation but has no derivative here")


def dC_da_times_g_prime(loss: str, name: str, z: Array, a: Array, y: Array) -> Array:
    """The first two factors at the output layer, ∂C_i/∂a_j · g'(z_j), per sample.

    For bce the factors are kept separate, as in the seed, but ``1 - a`` is evaluated as
    σ(-z) instead of by subtraction, so neither factor rounds to 0 or ∞ on a saturated output.
    """
    if loss == "mse":
        return 2.0 * (a - y) * g_prime(name, z)
    # bce, sigmoid output: ∂C/∂a = -y/a + (1 - y)/(1 - a); g'(z) = a (1 - a).
    a_ = _sigmoid(z)
    one_minus_a = _sigmoid(-z)
    with np.errstate(divide="ignore", invalid="ignore"):  # |z| > 745: a or 1 - a underflows
        dC_da = np.where(y != 0, -y / a_, 0.0) + np.where(y != 1, (1.0 - y) / one_minus_a, 0.0)
        return np.asarray(dC_da * (a_ * one_minus_a), dtype=np.float64)


def gradients(problem: Problem) -> list[tuple[Array, Array]]:
    """dJ/dθ as ``[(dW1, db1), ...]`` from seed 000's per-index formulas."""
    spec = problem.spec
    params = problem.params
    cache = forward(params, problem.X, spec.activations)
    m = problem.batch
    L = spec.depth

    z, a = cache[L - 1]
    # dC_dz[j, i] = ∂C_i/∂a_j · g'(z_j) for sample i: the first two factors of the chain.
    dC_dz = dC_da_times_g_prime(spec.loss.name, spec.activations[L - 1], z, a, problem.Y)
    grads_backward: list[tuple[Array, Array]] = []  # layer L first
    for l in range(L, 0, -1):
        W, _ = params[l - 1]
        a_prev = problem.X if l == 1 else cache[l - 2][1]
        # ∂C/∂w_jk = (1/m) Σ_i [∂C_i/∂a_j g'(z_j)] · a_k      (third factor: a_k^(l-1))
        dC_dw = np.einsum("ji,ki->jk", dC_dz, a_prev, optimize=True) / m
        # ∂C/∂b_j = (1/m) Σ_i [∂C_i/∂a_j g'(z_j)] · 1
        dC_db = np.einsum("ji->j", dC_dz) / m
        grads_backward.append((dC_dw, dC_db))
        if l > 1:
            # ∂C_i/∂a_k^(l-1) = Σ_j [∂C_i/∂a_j g'(z_j)] · w_jk   (the backward sum over j)
            dC_da_prev = np.einsum("ji,jk->ki", dC_dz, W, optimize=True)
            z_prev = cache[l - 2][0]
            dC_dz = dC_da_prev * g_prime(spec.activations[l - 2], z_prev)
    return grads_backward[::-1]


def _g_prime_terms(name: str, z: Array) -> Array:
    """|terms| of g'(z) as a candidate usually forms it: 1 - tanh² and σ(1 - σ) cancel when the
    unit saturates, so their rounding scales with 1 + tanh² and σ + σ², not with g' itself."""
    if name == "tanh":
        return 1.0 + np.tanh(z) ** 2
    if name == "sigmoid":
        s = _sigmoid(z)
        return s + s**2
    return np.abs(g_prime(name, z))


def magnitudes(problem: Problem) -> list[tuple[Array, Array]]:
    """The same chain rule on absolute values: Σ over every product term of |term|.

    ``M = (1/m) Σ_i |∂C_i/∂a_j g'(z_j)| |a_k|`` with the backward sum taken over ``|w_jk|``,
    each |a| widened by the magnitude of its own rounding, |g'(z)| (|W||a| + |b|), and each g'
    taken as the |terms| it is usually computed from (1 + tanh², σ + σ²). A float64
    evaluation of the gradient in any summation order is off by at most a small multiple of
    eps · M (the running error bound of a sum of products); `harness.tolerance` turns it into
    per-entry bounds.
    """
    spec = problem.spec
    params = problem.params
    cache = forward(params, problem.X, spec.activations)
    m = problem.batch
    L = spec.depth
    # |a| plus the magnitude of its own rounding: g'(z) times the terms of z = W a_prev + b.
    a_mag: list[Array] = [np.abs(problem.X)]
    for (W, b), (z_l, a_l), name in zip(params, cache, spec.activations):
        z_terms = np.abs(W) @ a_mag[-1] + np.abs(b)[:, None]
        a_mag.append(np.abs(a_l) + np.abs(g_prime(name, z_l)) * z_terms)
    z = cache[L - 1][0]
    # Output factors: a - y is formed by subtraction, so its terms are |a| and |y|.
    y = problem.Y
    if spec.loss.name == "mse":
        dC_dz_abs = 2.0 * (a_mag[L] + np.abs(y)) * _g_prime_terms(spec.activations[L - 1], z)
    else:  # bce: a candidate forms a - y; its rounding scales with |a| + |y|
        dC_dz_abs = a_mag[L] + np.abs(y)
    out_backward: list[tuple[Array, Array]] = []
    for l in range(L, 0, -1):
        W, _ = params[l - 1]
        M_w = np.einsum("ji,ki->jk", dC_dz_abs, a_mag[l - 1], optimize=True) / m
        M_b = np.einsum("ji->j", dC_dz_abs) / m
        out_backward.append((M_w, M_b))
        if l > 1:
            M_a_prev = np.einsum("ji,jk->ki", dC_dz_abs, np.abs(W), optimize=True)
            z_prev = cache[l - 2][0]
            dC_dz_abs = M_a_prev * _g_prime_terms(spec.activations[l - 2], z_prev)
    return out_backward[::-1]
