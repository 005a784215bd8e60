"""The activations' difference identities of `harness.sources.finite_diff`: ΔA = g(z + ΔZ) - g(z)
without cancellation, each with the arrays its error bound needs (`_Layer`, `_layer`,
`_difference`; softmax's difference is in `coupled`); the package docstring gives the method and
the error model, `carry` the loss identities and the numpy path that uses these.

Dispatch is on a closed set: every activation name maps to one identity (`_kind`), and a name
outside the set raises instead of falling into another identity's branch.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Final

import numpy as np
from numpy.polynomial.legendre import leggauss
from numpy.typing import NDArray

from harness.network import ACTIVATIONS, Array, activate, erfc, leaky_slope

Mask = NDArray[np.bool_]
Index = NDArray[np.intp]

_EPS: Final = float(np.finfo(np.float64).eps)
_TINY: Final = float(np.finfo(np.float64).tiny)
_UNDERFLOW: Final = 2.0**-960
_MAX_DZ: Final = 0.25  # largest pre-activation change the slope factor 2 holds for
_IDENTITY_ULPS: Final = 16.0  # rounding of one smooth difference identity, in eps
_FORWARD_ULPS: Final = 8.0  # rounding of one forward activation, in eps (gelu: `_forward_ulps`)
#: Largest slope of an activation where it is not 1: only to bound magnitudes (`_lipschitz`;
#: silu' <= 1.0998 and gelu' <= 1.1290 at their maxima, leaky_relu(α): max(1, α)).
_LIPSCHITZ: Final = {"sigmoid": 0.25, "silu": 1.1, "gelu": 1.13}
#: silu and gelu: the rounding of ΔF = F(z + d) - F(z) (σ's identity, or ∫φ), relative, in eps.
_PRODUCT_ULPS: Final = 18.0

#: The identity each activation's differences use; ``leaky_relu(α)`` is "piecewise" (or
#: "identity" for α = 1). Any other name raises (`_kind`).
_KINDS: Final = {
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "relu": "piecewise",
    "leaky_relu": "piecewise",
    "identity": "identity",
    "softplus": "softplus",
    "elu": "elu",
    "silu": "silu",
    "gelu": "gelu",
    "softmax": "softmax",
}

_SQRT2: Final = math.sqrt(2.0)
_INV_SQRT_2PI: Final = 1.0 / math.sqrt(2.0 * math.pi)
#: Gauss-Legendre orders for gelu's ∫φ, and each order's nodes s_k on [0, 1] and weights w_k / 2.
_GL_ORDERS: Final = (2, 3, 4, 6, 8, 12, 16)
_GL: Final = {n: ((1.0 + x) / 2.0, w / 2.0) for n, (x, w) in ((n, leggauss(n)) for n in _GL_ORDERS)}
_GL_RHO: Final = np.geomspace(1.0, 1e8, 161)  # radii of the Cauchy estimate in `_gl_order`
#: |z d| beyond which gelu's ΔΦ is a difference of two tail values instead of ∫φ.
_GL_MAX_A: Final = 1.0
#: Largest |z d| + d²/2 for which ∫φ integrates e^-x's second-order Taylor polynomial instead.
_SERIES_MAX_X: Final = 1e-6


def _kind(name: str) -> str:
    """The identity activation ``name`` (canonical) uses; raises ValueError for any other name."""
    kind = _KINDS.get(name)
    if kind is not None:
        return kind
    try:
        alpha = leaky_slope(name)
    except ValueError:  # leaky_relu(<not a number>)
        alpha = None
    if alpha is None:
        raise ValueError(
            f"finite_diff has no difference identity for activation {name!r}; "
            f"known: {', '.join(ACTIVATIONS)}, leaky_relu(α)"
        )
    return "identity" if alpha == 1.0 else "piecewise"


def _lipschitz(name: str) -> float:
    """An upper bound on |g'| for activation ``name`` (elementwise ones; softmax: 1)."""
    _kind(name)  # raises on an unknown name
    alpha = leaky_slope(name)
    return max(1.0, alpha) if alpha is not None else _LIPSCHITZ.get(name, 1.0)


def _forward_ulps(name: str, Z: Array) -> Array | float:
    """The forward pass's rounding of g(z), relative, in eps. gelu's erfc sees its argument
    -z/√2 rounded, and erfc(x) magnifies that by up to ~2x² relative."""
    if _kind(name) == "gelu":
        return 1.5 * Z * Z + 16.0
    return _FORWARD_ULPS


def _forward_error(name: str, Z: Array, errZ: Array, A: Array) -> Array:
    """A bound on |A - g(exact z)| given |Z - exact z| <= errZ (neurons × samples)."""
    if _kind(name) != "softmax":
        out: Array = _lipschitz(name) * errZ + _forward_ulps(name, Z) * _EPS * np.abs(A)
        return out
    # a_k changes by <= a_k (|δz_k| + Σ_j a_j |δz_j|) (first order; 1.1 for the rest), and the
    # forward rounding of exp(z - max) / Σ is `_softmax_rounding`.
    e_bar = np.sum(A * errZ, axis=0, keepdims=True)
    out = _EPS * A * _softmax_rounding(Z, axis=0) + 1.1 * A * (errZ + e_bar)
    return out


def _softmax_rounding(Z: Array, axis: int) -> Array:
    """ρ: the relative rounding (eps) of the forward softmax: z - max (absolute eps|z - max|,
    which exp makes relative), exp, a sum of n, a division; twice, for safety."""
    n = Z.shape[axis]
    out: Array = 2.0 * np.abs(Z - np.max(Z, axis=axis, keepdims=True)) + (n + 8.0)
    return out


def _take(a: Array, i: Index | None) -> Array:
    """(m, n) array -> all as (1, m, n), or rows i as (C, m, 1): both broadcast against
    (perturbations, samples, neurons). A (1, 1) array is a constant."""
    out: Array = a[None] if i is None or a.size == 1 else a.T[i][:, :, None]
    return out


def _constant() -> Array:
    return np.zeros((1, 1))


@dataclass(frozen=True)
class _Layer:
    """One layer's identity arrays, samples × neurons (a (1, 1) array is a constant).

    ``name`` is the identity's kind (`_KINDS`). P is the identity's factor (sech²(z),
    2σ(z)σ(-z), σ(z), the slope of z's piece; elu e^z or 1; silu 2σ(z)σ(-z); gelu φ(z); softmax
    a); Q is tanh(z), tanh(z/2) (sigmoid, silu) or 1 on elu's positive piece; slope2 twice a bound
    on the identity's slope near z (for E); K the rounding the identity adds relative to |ΔA|, in
    eps; margin how far z is surely from 0 (relu-type kinks, elu's 0). R the rounding per unit
    |ΔZ| (eps) where it is not relative to ΔA (silu, gelu: ΔA vanishes at their minima while its
    terms do not); z and F: silu's and gelu's z and σ(z) or Φ(z). softmax: K is ρ, the relative
    rounding of a (eps), Q the forward error of z (eps).
    """

    name: str
    P: Array
    Q: Array
    slope2: Array
    K: Array
    margin: Array
    R: Array = field(default_factory=_constant)
    z: Array = field(default_factory=_constant)
    F: Array = field(default_factory=_constant)

    def take(self, i: Index | None) -> _Layer:
        arrays = (self.P, self.Q, self.slope2, self.K, self.margin, self.R, self.z, self.F)
        return _Layer(self.name, *(_take(a, i) for a in arrays))

    @cached_property
    def full(self) -> _Layer:
        return self.take(None)


def _layer(name: str, Z: Array, errZ: Array) -> _Layer:
    """The arrays for activation ``name`` at Z (samples × neurons), whose forward error is errZ.

    K: 16 eps for the identity's own rounding, plus twice what an error errZ in z does to the
    identity's slope: |d log(slope)/dz| is 2|tanh z| (tanh), |tanh(z/2)| (sigmoid), σ(-z)
    (softplus), 1 (elu, z < 0), 0 on a linear piece. silu and gelu put that into R instead, as
    twice errZ times a bound on |g''| near z (their slope vanishes, its logarithm has no bound).
    Raises ValueError for an activation outside the closed set.
    """
    kind = _kind(name)
    base = 2.0 * errZ / _EPS
    zero, one = np.zeros((1, 1)), np.ones((1, 1))  # constants, or unused by this identity
    if kind == "tanh":
        e, Q = np.exp(-2.0 * np.abs(Z)), np.tanh(Z)
        P = 4.0 * e / (1.0 + e) ** 2
        return _Layer(kind, P, Q, 2.0 * P, _IDENTITY_ULPS + 2.0 * np.abs(Q) * base, zero)
    if kind == "sigmoid":
        e, Q = np.exp(-np.abs(Z)), np.tanh(0.5 * Z)
        P = 2.0 * e / (1.0 + e) ** 2
        return _Layer(kind, P, Q, P, _IDENTITY_ULPS + np.abs(Q) * base, zero)
    if kind == "softplus":
        S = activate("sigmoid", Z)
        K = _IDENTITY_ULPS + activate("sigmoid", -Z) * base
        return _Layer(kind, S, zero, 2.0 * S, K, zero)
    if kind == "identity":
        return _Layer(kind, one, zero, one, zero, zero)
    margin = np.maximum(np.abs(Z) - errZ, _TINY)
    if kind == "piecewise":
        alpha = leaky_slope(name)
        slope = np.where(Z > 0, 1.0, 0.0 if alpha is None else alpha)  # None: relu
        return _Layer(kind, slope, zero, slope, one, margin)
    if kind == "elu":
        # z > 0: ΔA = d (exact); z <= 0: e^(z + d) - e^z = e^z expm1(d), and elu' <= 1
        # everywhere, <= e^(z + 1/4) within 1/4 of a z <= 0
        positive, Z_neg = Z > 0, np.minimum(Z, 0.0)
        P = np.where(positive, 1.0, np.exp(Z_neg))
        slope2 = 2.0 * np.minimum(1.0, np.exp(Z_neg + _MAX_DZ))
        K = np.where(positive, 1.0, _IDENTITY_ULPS + base)
        return _Layer(kind, P, positive.astype(np.float64), slope2, K, margin)
    if kind == "silu":
        return _silu_layer(Z, base)
    if kind == "gelu":
        return _gelu_layer(Z, base)
    if kind == "softmax":
        P = np.ascontiguousarray(activate("softmax", Z.T).T)
        return _Layer(kind, P, errZ / _EPS, zero, _softmax_rounding(Z, axis=1), zero)
    raise AssertionError(f"no identity arrays for kind {kind!r}")  # pragma: no cover


def _silu_layer(Z: Array, base: Array) -> _Layer:
    """silu(z + d) - silu(z) = (z + d) Δσ + d σ(z), Δσ by sigmoid's identity (P, Q as sigmoid's).

    Near z: σ'(t) <= e^(1/2) σ(z)σ(-z) = 0.825 P, |silu''(t)| <= σ'(t)(2 + |t|), and
    |silu'(t)| <= e^(1/4) σ(z)(1 + |t| e^(1/4) σ(-z)) (and <= 1.1 everywhere).
    """
    e, Q = np.exp(-np.abs(Z)), np.tanh(0.5 * Z)
    P = 2.0 * e / (1.0 + e) ** 2
    S, S_minus = activate("sigmoid", Z), activate("sigmoid", -Z)
    t_max = np.abs(Z) + _MAX_DZ
    e4 = math.exp(_MAX_DZ)
    slope2 = 2.0 * np.minimum(_LIPSCHITZ["silu"], e4 * S * (1.0 + t_max * e4 * S_minus))
    # (z + d) Δσ: Δσ's 16 eps and two products; d σ(z): σ's 3 eps and one product
    sigma_prime = 0.825 * P
    R = _PRODUCT_ULPS * t_max * sigma_prime + 4.0 * S + base * sigma_prime * (2.0 + t_max)
    return _Layer("silu", P, Q, slope2, np.ones((1, 1)), np.zeros((1, 1)), R, Z.copy(), S)


def _gelu_layer(Z: Array, base: Array) -> _Layer:
    """gelu(z + d) - gelu(z) = (z + d) ΔΦ + d Φ(z), ΔΦ = ∫_z^(z+d) φ (`_delta_Phi`).

    Near z: φ(t) <= φ(max(0, |z| - 1/4)), |gelu''(t)| = φ(t)|2 - t²|, gelu' = Φ + tφ <= 1.13.
    Rounding of ΔΦ, relative: by the integral, φ(z)'s exp of a rounded z²/2 (z²/4 eps) and
    the quadrature's (32 eps); by two tail values (|z| >= 4 only), each erfc magnifying its
    argument's 1.5 eps by 2x² + 2x, 4 eps its own, the difference at most 3.5 times them.
    """
    phi = _INV_SQRT_2PI * np.exp(-0.5 * Z * Z)
    Phi = 0.5 * erfc(-Z / _SQRT2)
    t_max = np.abs(Z) + _MAX_DZ
    t_min = np.maximum(np.abs(Z) - _MAX_DZ, 0.0)
    phi_max = _INV_SQRT_2PI * np.exp(-0.5 * t_min * t_min)
    Phi_max = 0.5 * erfc(-(Z + _MAX_DZ) / _SQRT2)
    slope2 = 2.0 * np.minimum(_LIPSCHITZ["gelu"], 1.01 * Phi_max + t_max * phi_max)
    by_tails = 3.5 * (1.5 * t_max * t_max + 2.0 * t_max + 4.0) + 1.0
    K_dPhi = np.where(np.abs(Z) >= 4.0, by_tails, 0.25 * Z * Z + 32.0)
    R = (K_dPhi + 2.0) * t_max * phi_max + (1.5 * Z * Z + 18.0) * Phi
    R += base * phi_max * (2.0 + t_max * t_max)
    return _Layer("gelu", phi, np.zeros((1, 1)), slope2, np.ones((1, 1)), np.zeros((1, 1)), R,
                  Z.copy(), Phi)  # fmt: skip


def _gl_order(a_max: float, b_max: float) -> int:
    """The fewest Gauss-Legendre nodes n whose error on I = ∫_0^1 exp(-(a s + b s²)) ds is below
    eps/8 relative for |a| <= a_max, 0 <= b <= b_max.

    Error: (n!)⁴ / ((2n + 1)((2n)!)³) |f^(2n)(ξ)|, and Cauchy's estimate on a circle of radius
    ρ gives |f^(2n)| <= (2n)! e^(a_max (1 + ρ) + b_max (1 + ρ)²) / ρ^(2n), while I >=
    e^(-a_max - b_max). Beyond the error model (|d| > 1/4), 16 nodes.
    """
    rho = _GL_RHO
    for n in _GL_ORDERS:
        log_c = 4.0 * math.lgamma(n + 1) - math.log(2 * n + 1) - 2.0 * math.lgamma(2 * n + 1)
        exponent = a_max * (2.0 + rho) + b_max * ((1.0 + rho) ** 2 + 1.0) - 2 * n * np.log(rho)
        if log_c + float(np.min(exponent)) <= math.log(_EPS / 8.0):
            return n
    return _GL_ORDERS[-1]


def _delta_Phi(z: Array, phi: Array, d: Array) -> Array:
    """Φ(z + d) - Φ(z) for every (perturbation, sample, neuron), without cancellation.

    |z d| <= 1: d φ(z) ∫_0^1 exp(-(z d s + d² s²/2)) ds by Gauss-Legendre (`_gl_order`: below
    eps/8), or, while |z d| + d²/2 <= 1e-6 everywhere (the usual steps), by integrating
    1 - x + x²/2 term by term (the rest below eps/1000). Beyond (then |z| >= 4 > |d|: z and
    z + d in the same tail), the difference of the two tail values, which differ by a factor
    e^(|z d| - 1/16) at least: no cancellation.
    """
    a = z * d
    b = 0.5 * d * d
    a_abs_max, b_max = float(np.max(np.abs(a), initial=0.0)), float(np.max(b, initial=0.0))
    if a_abs_max + b_max <= _SERIES_MAX_X:
        # e^-x = 1 - x + x²/2 - R, 0 <= R <= x³/6 e^|x| <= eps/1000 here: ∫_0^1 term by term,
        # 1 + a(a/6 - 1/2) + b(b/10 + a/4 - 1/3), in place
        integral = np.multiply(b, 0.1)
        integral += 0.25 * a
        integral -= 1.0 / 3.0
        integral *= b
        a_term = np.multiply(a, 1.0 / 6.0, out=b)
        a_term -= 0.5
        a_term *= a
        integral += a_term
        integral += 1.0
        out: Array = np.multiply(d, phi, out=a)
        out *= integral
        return out
    small = np.abs(a) <= _GL_MAX_A
    a, b = np.where(small, a, 0.0), np.where(small, b, 0.0)  # the others: by the tails
    s, w = _GL[_gl_order(float(np.max(np.abs(a), initial=0.0)), float(np.max(b, initial=0.0)))]
    integral = np.zeros(np.broadcast_shapes(a.shape, b.shape))
    for s_k, w_k in zip(s, w):
        integral += w_k * np.exp(-(a * s_k + b * (s_k * s_k)))
    out = d * phi * integral
    if not small.all():
        zb, db = (np.broadcast_to(x, out.shape)[~small] for x in (z, d))
        lower = zb < 0  # Φ(t) = erfc(-t/√2)/2 in the lower tail, 1 - erfc(t/√2)/2 in the upper
        sign = np.where(lower, 1.0, -1.0)
        tail_new, tail_old = (0.5 * erfc(-sign * t / _SQRT2) for t in (zb + db, zb))
        out[~small] = sign * (tail_new - tail_old)
    return out


class _Pool:
    """Reused work buffers: fresh large arrays cost more in page faults than the arithmetic."""

    def __init__(self) -> None:
        self._buffers: dict[tuple[int, str], Array] = {}

    def __call__(self, q: int, role: str, shape: tuple[int, ...]) -> Array:
        size = int(np.prod(shape))
        buffer = self._buffers.get((q, role))
        if buffer is None or buffer.size < size:
            buffer = self._buffers[(q, role)] = np.empty(size)
        return buffer[:size].reshape(shape)


def _thread_pool(local: threading.local) -> _Pool:
    """The calling thread's `_Pool` in ``local`` (made on first use)."""
    pool: _Pool | None = getattr(local, "pool", None)
    if pool is None:
        pool = local.pool = _Pool()
    return pool


def _difference(
    layer: _Layer,
    dZ: Array,
    E_Z: Array | None,
    extra: float | None,
    pool: _Pool,
    q: int,
    coth: Array | None = None,
) -> tuple[Array, Array, Mask | None]:
    """ΔA = g(z + ΔZ) - g(z); G = slope2 E_Z + (K + extra)|ΔA| + R|ΔZ| in eps (not formed if
    extra is None); kinks per perturbation (relu-type, elu's 0). ``coth``, in the "G" buffer,
    may already hold coth(c ΔZ) for tanh and sigmoid; dZ is then not read. The elementwise
    identities only: softmax couples a sample's outputs (`coupled._softmax_difference`)."""
    kind = layer.name
    shape = dZ.shape if coth is None else coth.shape
    dA, G = pool(q, "dA", shape), pool(q, "G", shape)
    kink = None
    if kind in ("tanh", "sigmoid"):
        if coth is None:
            np.tanh(dZ if kind == "tanh" else np.multiply(dZ, 0.5, out=G), out=G)
            with np.errstate(divide="ignore", over="ignore"):
                np.divide(1.0, G, out=G)  # ±inf where ΔZ = 0 (or subnormal): ΔA = ±0
        G += layer.Q
        if extra is None:  # ΔA only: in place, one buffer less to keep in cache
            return np.divide(layer.P, G, out=G), G, kink
        np.divide(layer.P, G, out=dA)
    elif kind == "softplus":
        np.expm1(dZ, out=G)
        G *= layer.P
        np.log1p(G, out=dA)
    elif kind == "identity":
        dA = dZ
    elif kind == "piecewise":
        np.multiply(layer.P, dZ, out=dA)
        np.abs(dZ, out=G)
        kink = np.any(layer.margin <= G, axis=(1, 2))
    elif kind == "elu":
        np.expm1(dZ, out=dA)
        dA *= layer.P
        np.copyto(dA, dZ, where=layer.Q > 0.0)  # the positive piece: ΔA = ΔZ
        np.abs(dZ, out=G)
        kink = np.any(layer.margin <= G, axis=(1, 2))
    elif kind in ("silu", "gelu"):
        _product_difference(layer, dZ, dA)
    else:  # softmax, or (impossible: _kind is closed) another kind
        raise ValueError(f"no elementwise difference identity for {kind!r}")
    if extra is None:
        return dA, G, kink
    np.abs(dA, out=G)
    G *= layer.K + extra
    if E_Z is not None:
        G += np.multiply(layer.slope2, E_Z, out=pool(q, "tmp", E_Z.shape))
    if kind in ("silu", "gelu"):
        G += layer.R * np.abs(dZ)
    return dA, G, kink


def _product_difference(layer: _Layer, dZ: Array, out: Array) -> None:
    """g(z + d) - g(z) = (z + d) ΔF + d F(z) for g = z F(z): silu (F = σ, ΔF by sigmoid's
    identity) and gelu (F = Φ, ΔF = `_delta_Phi`). Where g' vanishes the two terms cancel:
    their rounding is R|d| (`_layer`), not relative to ΔA."""
    if layer.name == "silu":
        dF = np.tanh(0.5 * dZ)
        with np.errstate(divide="ignore", over="ignore"):
            np.divide(1.0, dF, out=dF)  # ±inf where ΔZ = 0: Δσ = ±0
        dF += layer.Q
        np.divide(layer.P, dF, out=dF)
    else:
        dF = _delta_Phi(layer.z, layer.P, dZ)
    np.add(layer.z, dZ, out=out)
    out *= dF
    out += dZ * layer.F


def _coth_rank1(c: float, delta: Array, w: Array, inv_w: Array, out: Array) -> Array | None:
    """coth(c ΔZ) for the rank-1 ΔZ = δ ⊗ w, from coth x = 1/x + x/3 - x³/45 + ...

    Used while |c ΔZ| <= 1e-4, where the terms left out are below eps/100 relative; x/3 is
    left out too while |c ΔZ| <= 2.6e-8 = sqrt(3 eps), where it is below eps relative (both
    within the identity's 16 eps). None otherwise: then tanh and 1/t do it.
    """
    x_max = c * float(np.max(np.abs(delta))) * float(np.max(np.abs(w)))
    if x_max > 1e-4:
        return None
    with np.errstate(divide="ignore", over="ignore"):
        coth = np.multiply(1.0 / (c * delta), inv_w, out=out)  # ±inf where ΔZ = 0: ΔA = ±0
    if x_max > 2.6e-8:
        coth += (c / 3.0 * delta) * w
    return coth


def _dot(X: Array, Y: Array) -> Array:
    """Σ_j X Y over the last axis (neurons), per perturbation and sample."""
    out: Array = np.einsum("psj,psj->ps", X, np.broadcast_to(Y, X.shape))
    return out
