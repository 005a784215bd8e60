"""Each activation's slope g', curvature g'' and the magnitudes its usual formulas round: the
rounding model's own calculus, written here (DESIGN.md: independence is the product — no source,
the reference or the diagnoses lend it their derivatives; only the forward definition
`harness.network` is shared).

The slope and curvature carry a rounding forward: an error dz of z moves a = g(z) by g'·dz and
the slope a backprop forms by g''·dz. The *terms* are what a rounding is relative to when a
backprop forms a value the usual ways: ``1 - a²`` for tanh' rounds relative to 1 + a², not to
the (possibly tiny) result. They are taken as the largest over the usual formulas, including the
error a's own rounding carries into a formula written in a (1 - a², a(1 - a), a + 1 for elu).
Piecewise-linear functions (relu, leaky_relu(α), identity) form a and g' exactly or with one
product; their curvature is 0 away from the kink (kinks are the comparison's business).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from harness.network import Array, activate, erfc, leaky_slope

__all__ = ["curvature", "slope", "slope_terms", "value_terms"]

_INV_SQRT_2: Final = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI: Final = 1.0 / math.sqrt(2.0 * math.pi)
#: Activations whose a = g(z) is z itself or max(z, 0): no rounding at all.
_EXACT_VALUE: Final = frozenset({"identity", "relu"})


def _sigmoid(z: Array) -> Array:
    return activate("sigmoid", z)


def _normal_cdf(z: Array) -> Array:
    return 0.5 * erfc(-z * _INV_SQRT_2)


def _square(z: Array) -> Array:
    """z², capped where φ(z) is 0 already (so φ(z)·z² is 0 there, never inf·0)."""
    with np.errstate(over="ignore"):
        return np.minimum(z * z, 1e4)


def _normal_pdf(z: Array) -> Array:
    with np.errstate(under="ignore"):
        return np.exp(-0.5 * _square(z)) * _INV_SQRT_2PI


def _is_piecewise_linear(name: str) -> bool:
    return name in ("identity", "relu") or leaky_slope(name) is not None


def _capped(terms: Array, tail: Array, u: float) -> Array:
    """The terms of ``c - f`` with f → c, at most 2·tail/u: once the exact difference ``tail``
    is below an ulp, f rounds to c and the computed difference is off by ``tail`` itself."""
    return np.minimum(terms, 2.0 * tail / u)


def slope(name: str, z: Array) -> Array:
    """g'(z), each formula evaluated where it keeps its relative accuracy."""
    alpha = leaky_slope(name)
    if alpha is not None:
        return np.where(z > 0, 1.0, alpha)
    if name == "identity":
        return np.ones_like(z)
    if name == "relu":
        return np.where(z > 0, 1.0, 0.0)
    s, s_neg = _sigmoid(z), _sigmoid(-z)
    if name == "sigmoid":
        return s * s_neg
    if name == "tanh":  # sech² z = 4 σ(2z) σ(-2z)
        return 4.0 * _sigmoid(2.0 * z) * _sigmoid(-2.0 * z)
    if name == "softplus":
        return s
    if name == "elu":
        return np.where(z > 0, 1.0, np.exp(np.minimum(z, 0.0)))
    if name == "silu":
        return s * (1.0 + z * s_neg)
    if name == "gelu":
        return _normal_cdf(z) + z * _normal_pdf(z)
    raise ValueError(f"tolerance: no slope for activation {name!r}")


def curvature(name: str, z: Array) -> Array:
    """g''(z); 0 for the piecewise-linear functions."""
    if _is_piecewise_linear(name):
        return np.zeros_like(z)
    s, s_neg = _sigmoid(z), _sigmoid(-z)
    if name == "sigmoid":  # σ'(1 - 2σ), with 1 - 2σ = σ(-z) - σ(z)
        return s * s_neg * (s_neg - s)
    if name == "tanh":  # -2 tanh · sech²
        return -2.0 * np.tanh(z) * slope("tanh", z)
    if name == "softplus":
        return s * s_neg
    if name == "elu":
        return np.where(z > 0, 0.0, np.exp(np.minimum(z, 0.0)))
    if name == "silu":  # σ'(2 + z(1 - 2σ))
        return s * s_neg * (2.0 + z * (s_neg - s))
    if name == "gelu":  # φ(z)(2 - z²)
        return _normal_pdf(z) * (2.0 - _square(z))
    raise ValueError(f"tolerance: no curvature for activation {name!r}")


def value_terms(name: str, z: Array, a: Array, u: float) -> Array:
    """What the rounding of a = g(z) is relative to: |a|, except where the usual formulas
    cancel — e^z - 1 for elu (e^z + |a|), z(1 + erf(z/√2))/2 for gelu (whose argument's
    rounding also moves Φ by z·φ(z)) — and 0 where a is formed exactly."""
    if name in _EXACT_VALUE:
        return np.zeros_like(z)
    if name == "elu":
        return np.where(z > 0, 0.0, np.exp(np.minimum(z, 0.0)) + np.abs(a))
    if name == "gelu":
        Phi, pdf = _normal_cdf(z), _normal_pdf(z)
        return np.abs(z) * _capped(np.maximum(Phi, 1.0 - Phi), Phi, u) + _square(z) * pdf
    return np.abs(a)


def slope_terms(name: str, z: Array, a: Array, u: float) -> Array:
    """What the rounding of g'(z) is relative to, over the usual formulas: 1 - tanh² (1 + a²),
    σ(1 - σ) (a + a²), σ for softplus, a + 1 for elu (1 + |a|, at most its value's worth),
    σ + zσ(1 - σ) for silu, (1 + erf(z/√2))/2 + zφ(z) for gelu; 0 for piecewise-linear
    functions, whose slope is exact."""
    if _is_piecewise_linear(name):
        return np.zeros_like(z)
    if name == "tanh":
        return 1.0 + a * a
    if name == "sigmoid":
        return np.abs(a) + a * a
    if name == "softplus":
        return _sigmoid(z)
    if name == "elu":
        return np.where(z > 0, 0.0, _capped(1.0 + np.abs(a), np.exp(np.minimum(z, 0.0)), u))
    if name == "silu":
        s, s_neg = _sigmoid(z), _sigmoid(-z)
        return s + np.abs(z) * s * _capped(1.0 + s, s_neg, u)
    if name == "gelu":
        Phi, pdf = _normal_cdf(z), _normal_pdf(z)
        z2 = _square(z)
        return _capped(np.maximum(Phi, 1.0 - Phi), Phi, u) + np.sqrt(z2) * pdf * (2.0 + z2)
    raise ValueError(f"tolerance: no slope terms for activation {name!r}")
