"""Directional central differences: how J changes along a direction v, with an error bound.

Method. For a direction v (one (VW, Vb) pair per layer, zero where v is zero) and a step t,
ΔJ(t) = J(θ + t v) - J(θ) is never formed as a subtraction of two forward passes: the
*difference* is carried through the layers. With every parameter moved by t v,

    ΔZ^(l) = t VW^(l) (A^(l-1) + ΔA^(l-1)) + W^(l) ΔA^(l-1) + t Vb^(l),   ΔA^(0) = 0,

and each activation turns ΔZ into ΔA = g(z + d) - g(z) by an identity of its own that never
subtracts two values of g (d = ΔZ, below): tanh and sigmoid by tanh's addition theorem,
tanh(a + b) - tanh(a) = sech²a / (coth b + tanh a) (σ(x) = (1 + tanh(x/2))/2); softplus as
log1p(σ(z) expm1(d)); elu as e^z expm1(d) or d on its pieces, and elu(z + d) - elu(z) of two
values of opposite sign where a step crosses 0; silu as z Δσ + d (σ(z) + Δσ) with Δσ the
sigmoid identity; gelu as z ΔΦ + d (Φ(z) + ΔΦ) with ΔΦ = ∫ φ over [z, z + d] by a three-term
series for |d| <= 1e-5, else n-point Gauss-Legendre (n chosen so the remainder is below
eps |d|); relu and leaky_relu(α) by the slope
of z's piece; softmax (output layer) as a (expm1(d) - s) / (1 + s), s = Σ_k a_k expm1(d_k).
The loss identities finish it per sample: mse ΔH = Δa (2(a - y) + Δa) (after any output,
softmax included); bce ΔH = sp(z + d) - sp(z) - y d on Z^(L) (the softplus identity);
cross_entropy ΔH = -y·d + (Σy) log1p(Σ_k a_k expm1(d_k)) on Z^(L). ΔJ = Σ ΔH / divisor (the
loss's reduction). ΔJ(±t) ≈ ±t ∇J·v, so the last subtraction, in D = (ΔJ(h) - ΔJ(-h)) / 2h,
cannot cancel either. The L2 term's central difference is exact: l2 Σ_l W^(l)⊙VW^(l), added to
D with its rounding. Nothing here differentiates anything.

A direction that is zero below layer l starts there (ΔA^(l-1) = 0), and at that layer only the
rows where v is nonzero change (all of them at a softmax output): the group tests of
`harness.fast` halve such directions, and each half costs less than the one before.

Error bound = rounding + truncation, per direction.

- Rounding. Each carried difference comes with E, per perturbation and sample, a bound (in
  eps = 2^-52) on the absolute rounding error of *every* neuron's difference: max-norm bounds,
  looser than per-entry ones but cheap. A layer's ΔZ sums n_(l-1) + 2 products and is scaled by
  t: (n_(l-1) + 3) (|t| r_V (|A| + |ΔA|) + |t| + ||W||_∞ |ΔA|), plus what the errors of A (the
  forward pass's) and of ΔA do through |t| r_V + ||W||_∞, where r_V is the largest number of
  nonzero entries in a row of VW. An activation's E is slope2 E_Z + K max|ΔA| + Kd max|ΔZ|
  (valid while |ΔZ| <= 1/4, which the step ensures; maxima over a sample's neurons): slope2
  bounds the identity's slope in d near z (twice g'(z), or a global bound), K its rounding
  relative to ΔA (16 eps for a smooth identity, plus what the forward error of z does, through
  |g''/g'| near z, which for tanh and sigmoid grows by max|ΔZ|), Kd its rounding relative to
  ΔZ where g' has zeros (silu, gelu, softmax: there the identity's terms cancel to O(d), never
  to O(g); a saturated softmax's terms scale with its mass off the top output), plus
  errZ sup|g''|. The loss sum adds (terms + 2) Σ|ΔH|. Then |D - exact quotient| <=
  eps ((E(h) + E(-h) + |ΔJ(h)| + |ΔJ(-h)|)/2h + 2|D|): it scales like ΔJ/h and does not grow
  as h shrinks.
- Truncation. D_h - ∇J·v = h² f'''/6 + O(h⁴) with f(t) = J(θ + t v), and D_h - D_(h/2) =
  h² f'''/8 + O(h⁴), so h²|f'''|/6 <= 4/3 (|D_h - D_(h/2)| + both rounding bounds); twice that
  is the truncation term (the factor 2 for the O(h⁴) rest: like Richardson's estimate, it
  assumes f''' changes little within ±h). Each direction is therefore carried at four steps,
  ±h and ±h/2.

Step. h = rel_step max(1, max|θ|), rel_step = 1e-8 (v has |v_e| = 1, so every parameter moves by
h). If some |ΔZ| still exceeds 1/4 (absurd weights), the slope bounds do not hold and the
bound is +inf. Why tiny: the rounding of D does not depend on h (no cancellation anywhere),
truncation falls as h², the band around a ReLU kink that makes a direction undecidable is
~h (Σ|A| + 1) wide, and ΔJ ~ h stays far above underflow (a floor of 2^-960/h covers
subnormals). Between 1e-9 and 1e-7 the bound barely changes.

Kinks. A direction is undecidable if one of its steps moves a relu/leaky_relu(α) pre-activation
by at least |z| minus z's forward error bound (across 0, onto 0, or off a z whose sign float64
cannot vouch for); its value is the quotient for the pieces z lies on at θ, its bound +inf. So is
a direction whose D or bound is not finite.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
from numpy.typing import NDArray

from harness.errors import SourceLimitError
from harness.network import Array, activate, forward, leaky_slope

# Work buffers only (no derivatives): the same per-thread pool as the finite differences.
from harness.sources.finite_diff.identities import _Pool, _thread_pool
from harness.spec import Problem

__all__ = ["Directional", "Network", "along", "prepare"]

Mask = NDArray[np.bool_]
Index = NDArray[np.intp]
#: One direction: (VW, Vb) per layer, or None where v is zero on the whole layer.
Direction = Sequence[tuple[Array, Array] | None]

_EPS: Final = float(np.finfo(np.float64).eps)
_TINY: Final = float(np.finfo(np.float64).tiny)
_UNDERFLOW: Final = 2.0**-960
_MAX_DZ: Final = 0.25  # largest pre-activation change the slope bounds hold for
_SMOOTH_ULPS: Final = 16.0  # rounding of one smooth difference identity, in eps
_STEPS: Final = np.array([-1.0, -0.5, 0.5, 1.0])  # ΔJ(-h), ΔJ(-h/2), ΔJ(h/2), ΔJ(h)
_SERIES: Final = 1e-4  # coth x = 1/x + x/3 to eps/100 while |x| <= 1e-4 (x³/45 left out)
_SERIES_1: Final = 2.6e-8  # and = 1/x to eps while |x| <= sqrt(3 eps)
_E_QUARTER: Final = 1.2841  # e^(1/4): |expm1(d)| <= 1.2841 |d| and 1/(1 + s) <= 1.2841
_INV_SQRT_2PI: Final = 1.0 / math.sqrt(2.0 * math.pi)
#: sup|g'| and sup|g''| of silu and gelu (rounded up), for slopes and the forward error of z.
_SILU_SLOPE, _SILU_CURVE = 1.1, 0.5
_GELU_SLOPE, _GELU_CURVE = 1.13, 0.7979
_POOLS: Final = threading.local()


def _gauss_legendre() -> list[tuple[Array, Array, float]]:
    """Nodes on [0, 1], weights, and the remainder factor c_n C_2n of n-point Gauss-Legendre
    (n = 1..12) for ∫ φ over an interval of length |d| times (|z| + 1/2): the remainder is
    c_n |d|^(2n+1) φ^(2n)(ξ), c_n = (n!)⁴ / ((2n+1) ((2n)!)³), and Cramér's bound on Hermite
    functions, |He_k(x)| e^(-x²/4) <= 1.0865 sqrt(k!), with x He_k = He_(k+1) + k He_(k-1),
    gives (|x| + 1/2) |φ^(2n)(x)| <= C_2n."""
    rules = []
    for n in range(1, 13):
        x, w = np.polynomial.legendre.leggauss(n)
        f = math.factorial
        c_n = f(n) ** 4 / ((2 * n + 1) * f(2 * n) ** 3)
        k = 2 * n
        C = (
            1.0865
            * _INV_SQRT_2PI
            * (math.sqrt(f(k + 1)) + k * math.sqrt(f(k - 1)) + 0.5 * math.sqrt(f(k)))
        )
        rules.append(((x + 1.0) / 2.0, w / 2.0, 1.01 * c_n * C))
    return rules


_GAUSS: Final = _gauss_legendre()
_GELU_SERIES: Final = 1e-5  # 0.19 |d|³ <= eps: three terms of ΔΦ's series (see _gelu)


@dataclass(frozen=True)
class Directional:
    """Directional central differences D_k ≈ ∇J·v_k, each with its error bound.

    ``value``, ``bound`` and ``undecidable`` have one entry per direction, in the order given;
    ``bound`` is +inf where ``undecidable`` (a step crosses a ReLU-type kink, or a value is not
    finite). ``step`` is h.
    """

    value: Array
    bound: Array
    undecidable: Mask
    step: float


@dataclass(frozen=True)
class _Layer:
    """One layer's difference identity: which (``kind``), its arrays (samples × neurons, or
    (1, 1) constants), and its error model per sample (max over neurons, see the module doc)."""

    kind: str  # tanh_form (tanh, sigmoid), softplus, identity, linear, elu, silu, gelu, softmax
    arrays: tuple[Array, ...]
    slope2: Array
    K: Array
    Kd: Array | None  # None: no term relative to ΔZ
    c: float = 1.0  # tanh_form: tanh's argument is c z
    K_dz: Array | None = None  # K grows by K_dz max|ΔZ| (|g''/g'| grows with |d| near z = 0)


def _per_sample(a: Array | float, m: int) -> Array:
    """Max over neurons of a (m, n) array (or a constant), as (m,)."""
    out: Array = np.broadcast_to(np.max(np.atleast_2d(a), axis=1), (m,)).copy()
    return out


def _sigmoid_parts(Z: Array) -> tuple[Array, Array, Array]:
    """σ(z), σ(z)σ(-z) and tanh(z/2), without overflow."""
    e = np.exp(-np.abs(Z))
    return activate("sigmoid", Z), e / (1.0 + e) ** 2, np.tanh(0.5 * Z)


def _layer(name: str, Z: Array, errZ: Array, A: Array) -> _Layer:
    """The identity of activation ``name`` at Z (samples × neurons) whose forward error is errZ
    (absolute), A = g(Z) the forward pass's; raises ValueError for a name it does not know."""
    m = Z.shape[0]
    base = 2.0 * errZ / _EPS  # twice z's error, in eps

    def made(kind: str, arrays: tuple[Array, ...], slope2: Array | float, K: Array | float,
             Kd: Array | None = None, c: float = 1.0) -> _Layer:  # fmt: skip
        Kd_max = None if Kd is None else _per_sample(Kd, m)
        return _Layer(kind, arrays, _per_sample(slope2, m), _per_sample(K, m), Kd_max, c)

    if name == "tanh":  # |g''/g'| = 2|tanh| <= 2(|tanh z| + |d|)
        e, Q = np.exp(-2.0 * np.abs(Z)), np.tanh(Z)
        S = 4.0 * e / (1.0 + e) ** 2  # sech²z
        layer = made("tanh_form", (S, Q), 2.0 * S, _SMOOTH_ULPS + 2.0 * np.abs(Q) * base)
        return replace(layer, K_dz=_per_sample(base, m))
    if name == "sigmoid":  # Δσ = ½sech²(z/2) / (coth(d/2) + tanh(z/2)); |g''/g'| = |tanh(z/2)|
        _, S, Q = _sigmoid_parts(Z)
        layer = made("tanh_form", (2.0 * S, Q), 2.0 * S, _SMOOTH_ULPS + np.abs(Q) * base, c=0.5)
        return replace(layer, K_dz=_per_sample(0.25 * base, m))
    if name == "softplus":  # g' = σ, |g''/g'| = σ(-z)
        sig = activate("sigmoid", Z)
        K = _SMOOTH_ULPS + activate("sigmoid", -Z) * base  # σ(-z-d) <= e^|d| σ(-z)
        return made("softplus", (sig,), 2.0 * sig, K)
    if name == "elu":  # g' = min(e^z, 1), |g''/g'| <= 1; crossings: see _elu
        P = np.exp(np.minimum(Z, 0.0))
        return made("elu", (P, Z), 2.0 * P, np.where(Z > 0.5, 1.0, _SMOOTH_ULPS + base))
    if name == "silu":
        sig, S, Q = _sigmoid_parts(Z)  # |Δσ| <= 1.3 |d| σσ̄ while |d| <= 1/4
        curve = np.minimum(_SILU_CURVE, 1.3 * S * (2.26 + np.abs(Z)))  # |g''| near z
        if float(np.max(errZ, initial=0.0)) >= 0.01:  # far from z: the global bound
            curve[:] = _SILU_CURVE
        Kd = 23.0 * np.abs(Z) * S + 5.0 * sig + 6.0 * S + 1.01 * curve * errZ / _EPS
        return made("silu", (2.0 * S, Q, sig, Z), _SILU_SLOPE, 1.0, Kd, c=0.5)
    if name == "gelu":
        with np.errstate(invalid="ignore", divide="ignore"):  # Φ = A/z: 2 eps more than erfc's
            Phi = np.where(Z != 0.0, A / Z, 0.5)
        abs_Z = np.abs(Z)
        phi_up = _INV_SQRT_2PI * np.exp(-0.5 * np.maximum(abs_Z - 0.26, 0.0) ** 2)  # φ near z
        curve = np.minimum(_GELU_CURVE, phi_up * (2.0 + (abs_Z + 0.26) ** 2))
        if float(np.max(errZ, initial=0.0)) >= 0.01:
            curve[:] = _GELU_CURVE
        R = 1.5 * (abs_Z + 0.5) ** 2 + abs_Z + 18.0  # ΔΦ's relative rounding (<= 12 nodes)
        r_Phi = 2.0 * np.minimum(Z, 0.0) ** 2 + 10.0  # Φ's: erfc, -z/√2, z Φ and A/z
        Kd = (R + 1.0) * abs_Z * phi_up + (r_Phi + 2.0) * Phi + (R + 2.0) * 0.25 * phi_up
        Kd += 1.01 * curve * errZ / _EPS + 1.0  # + the quadrature's remainder (<= eps |d|)
        phi = _INV_SQRT_2PI * np.exp(-0.5 * Z**2)
        return made("gelu", (Z, Phi, phi, (Z**2 - 1.0) / 6.0), _GELU_SLOPE, 1.0, Kd)
    if name == "softmax":  # see _softmax; ‖∂ΔA/∂d‖_∞ <= 2 max a(1 - a) <= 2 · 1.7u
        u, top, x = _off_top(Z)
        W_x = (A * x).sum(axis=1)  # Σ_(j≠top) a_j (max - z_j): what a's rounding does
        Kd = (3.4 + 1.7 * u) * W_x + u * (13.0 * Z.shape[1] + 47.0)
        Kd += 1.01 * _softmax_curve(u) * np.max(errZ, axis=1) / _EPS
        arrays = (A, A * (1.0 - top), top, u[:, None])
        return made("softmax", arrays, np.minimum(1.0, 4.0 * u), 0.0, Kd[:, None])
    if name == "identity":
        return made("identity", (), 1.0, 0.0)
    alpha = leaky_slope(name) if name != "relu" else 0.0
    if alpha is None:
        raise ValueError(f"directional: no difference identity for activation {name!r}")
    if alpha == 1.0:  # leaky_relu(1.0) is the identity: no kink
        return made("identity", (), 1.0, 0.0)
    slope = np.where(Z > 0, 1.0, alpha)
    margin = np.maximum(np.abs(Z) - errZ, _TINY)
    return made("linear", (slope, margin), slope, 1.0)


def _off_top(Z: Array) -> tuple[Array, Array, Array]:
    """Per sample (rows of Z): u = 1 - max_k a_k, the softmax's mass off its top output, as
    Σ_(j≠top) e^(z_j - max) / Σ_j e^(z_j - max) without cancellation; the top as a one-hot
    row; and x = max - z. Every a_k (1 - a_k) <= u, and moving each z_j by up to 0.26 changes
    u by less than a factor e^0.52 < 1.7."""
    x = Z.max(axis=1, keepdims=True) - Z
    e = np.exp(-x)
    total = e.sum(axis=1)
    top = np.zeros_like(Z)
    top[np.arange(Z.shape[0]), np.argmax(Z, axis=1)] = 1.0
    u: Array = (e * (1.0 - top)).sum(axis=1) / total
    return u, top, x


def _softmax_curve(u: Array) -> Array:
    """Per sample, a bound on max_k Σ_ij |∂²a_k/∂z_i∂z_j| within 0.26 of z: the sum is
    <= 4a_k(1 - a_k)² + 2a_k Σ_i a_i(1 - a_i) <= 8u (and <= 6), u from `_off_top`."""
    curve: Array = np.minimum(6.0, 16.0 * u)
    return curve


def _restricted(layer: _Layer, rows: Index) -> _Layer:
    return replace(layer, arrays=tuple(a if a.size == 1 else a[:, rows] for a in layer.arrays))


def _lipschitz(name: str) -> float:
    """A bound on |g'| (only to carry the forward pass's error to the next layer)."""
    alpha = leaky_slope(name)
    bounds = {"sigmoid": 0.25, "silu": _SILU_SLOPE, "gelu": _GELU_SLOPE}
    return max(1.0, alpha) if alpha is not None else bounds.get(name, 1.0)


@dataclass(frozen=True)
class _Head:
    """The loss identity's arrays, samples × outputs. mse: two_r = 2(a - y) and its error (eps);
    bce: the softplus identity at Z^(L) (σ(z), 2σ(z), K per output); cross_entropy: a, Y,
    and per sample Σy, Σ|y| and what z's forward error does to Σ a expm1(d) per unit of
    max|d| (eps)."""

    loss: str
    divisor: float
    Y_T: Array
    two_r: Array | None = None
    err_two_r: Array | None = None
    softplus: _Layer | None = None
    a: Array | None = None
    y_sum: Array | None = None
    y_abs: Array | None = None
    z_error: Array | None = None

    @property
    def on_z(self) -> bool:
        """Whether ΔH is formed from ΔZ^(L) (bce, cross_entropy) rather than ΔA^(L)."""
        return self.loss != "mse"


@dataclass(frozen=True)
class Network:
    """What every direction of one problem shares: the forward pass, its error bounds, each
    layer's difference identity, the loss identity, and the L2 term's weights."""

    A_T: list[Array]  # A^(l-1) transposed, the input of layer l (m, n_(l-1))
    A_max: list[Array]  # (m,) max over neurons of |A^(l-1)|
    errA_max: list[Array]  # noqa: N815  (m,) max over neurons of A^(l-1)'s forward error, in eps
    WT: list[Array]  # W^(l) transposed (n_(l-1), n_l)
    W_norm: list[float]  # ||W^(l)||_∞, the largest row sum of |W^(l)|
    layers: list[_Layer]
    head: _Head
    l2: float
    step: float

    @property
    def pool(self) -> _Pool:
        """This thread's work buffers, kept across problems: fresh buffers cost more in page
        faults than a whole fast check of arch E."""
        return _thread_pool(_POOLS)

    @property
    def depth(self) -> int:
        return len(self.WT)


def prepare(problem: Problem, *, rel_step: float = 1e-8) -> Network:
    """The arrays every direction of ``problem`` needs, and the step h (see the module doc).

    Raises `SourceLimitError` unless 0 < rel_step <= 1e-4, ValueError for a loss or activation
    this source has no identity for.
    """
    if isinstance(rel_step, bool) or not (
        isinstance(rel_step, float | int) and 0 < rel_step <= 1e-4
    ):
        raise SourceLimitError(f"rel_step must be a number in (0, 1e-4], got {rel_step!r}")
    spec, params, m = problem.spec, problem.params, problem.batch
    loss = spec.loss.name
    if loss not in ("mse", "bce", "cross_entropy"):
        raise ValueError(f"directional: no loss identity for loss {loss!r}")
    fwd = forward(params, problem.X, spec.activations)
    A = [problem.X] + [A_l for _, A_l in fwd]
    errA = np.zeros_like(problem.X)
    A_T, A_max, errA_max, WT, W_norm, layers = [], [], [], [], [], []
    for l, ((W, b), (Z, A_l), name) in enumerate(zip(params, fwd, spec.activations)):
        absW = np.abs(W)
        errZ = (W.shape[1] + 2) * _EPS * (absW @ np.abs(A[l]) + np.abs(b)[:, None])
        errZ += absW @ errA
        A_T.append(np.ascontiguousarray(A[l].T))
        A_max.append(np.abs(A[l]).max(axis=0))
        errA_max.append(errA.max(axis=0) / _EPS)
        WT.append(np.ascontiguousarray(W.T))
        W_norm.append(float(absW.sum(axis=1).max()))
        Z_T, errZ_T = (np.ascontiguousarray(a.T) for a in (Z, errZ))
        last = l == spec.depth - 1
        identity = "softplus" if last and loss == "bce" else name
        layers.append(_layer(identity, Z_T, errZ_T, np.ascontiguousarray(A_l.T)))
        if name == "softmax":  # |∂a_k/∂z|_1 = 2a_k(1 - a_k) <= 2u; rounding (max - z + n + 3)
            u, _, x = _off_top(Z_T)
            errA = np.minimum(0.5, 2.2 * u) * errZ.max(axis=0) + _EPS * A_l * (
                x.T + W.shape[0] + 3.0
            )
        else:
            ulps = 2.0 * np.minimum(Z, 0.0) ** 2 + 10.0 if name == "gelu" else 8.0
            errA = _lipschitz(name) * errZ + ulps * _EPS * np.abs(A_l)
    theta_max = max(max(float(np.abs(W).max()), float(np.abs(b).max())) for W, b in params)
    Y_T = np.ascontiguousarray(problem.Y.T)
    divisor = spec.divisor(m)
    if loss == "mse":
        two_r = 2.0 * (A[-1] - problem.Y)
        err_two_r = 2.0 * errA / _EPS + np.abs(two_r)
        head = _Head(loss, divisor, Y_T, np.ascontiguousarray(two_r.T),
                     np.ascontiguousarray(err_two_r.T))  # fmt: skip
    elif loss == "bce":  # per output: σ(z), the slope bound 2σ(z) and K (see _layer)
        sig = activate("sigmoid", Z_T)
        K = _SMOOTH_ULPS + activate("sigmoid", -Z_T) * 2.0 * errZ_T / _EPS
        head = _Head(loss, divisor, Y_T, softplus=replace(layers[-1], arrays=(sig, 2 * sig, K)))
    else:
        A_L = fwd[-1][1]
        z_error = _softmax_curve(_off_top(Z_T)[0]) * errZ.max(axis=0) / _EPS
        head = _Head(loss, divisor, Y_T, a=np.ascontiguousarray(A_L.T),
                     y_sum=Y_T.sum(axis=1), y_abs=np.abs(Y_T).sum(axis=1),
                     z_error=z_error)  # fmt: skip
    return Network(A_T, A_max, errA_max, WT, W_norm, layers, head, spec.l2,
                   rel_step * max(1.0, theta_max))  # fmt: skip


def along(net: Network, directions: Sequence[Direction]) -> Directional:
    """Directional central differences of J along each of ``directions`` (see the module doc).

    Directions that start at the same layer are carried together in one batch.
    """
    K = len(directions)
    value, bound = np.empty(K), np.empty(K)
    undecidable = np.zeros(K, dtype=bool)
    starts = [_start(d) for d in directions]
    for start in sorted(set(starts)):
        group = [k for k in range(K) if starts[k] == start]
        if start == net.depth:  # v = 0: J does not change
            value[group], bound[group] = 0.0, 0.0
            continue
        v, e, kink = _carry(net, [directions[k] for k in group], start)
        value[group], bound[group], undecidable[group] = v, e, kink
    if net.l2:
        for k, direction in enumerate(directions):
            value[k], bound[k] = _with_l2(net, direction, value[k], bound[k])
    return Directional(value, bound, undecidable, net.step)


def _with_l2(net: Network, direction: Direction, D: float, bound: float) -> tuple[float, float]:
    """D plus the L2 term's exact central difference l2 Σ W⊙VW, and the bound plus its
    rounding (a sum of n products, then the scaling and the final addition)."""
    total, total_abs, n = 0.0, 0.0, 0
    for pair, WT in zip(direction, net.WT):
        if pair is not None:
            total += float(np.einsum("ij,ji->", pair[0], WT))
            total_abs += float(np.einsum("ij,ji->", np.abs(pair[0]), np.abs(WT)))
            n += WT.size
    value = D + net.l2 * total
    rounding = _EPS * (net.l2 * (n + 3.0) * total_abs + 2.0 * abs(value))
    return value, bound + rounding


def _start(direction: Direction) -> int:
    for l, pair in enumerate(direction):
        if pair is not None and (np.any(pair[0]) or np.any(pair[1])):
            return l
    return len(direction)


def _pair(direction: Direction, l: int) -> tuple[Array, Array]:
    pair = direction[l]
    assert pair is not None  # the layer a direction starts at
    return pair


def _row_count(pair: tuple[Array, Array]) -> float:
    """r_V: the largest number of nonzero entries of v in one row (a bias counts)."""
    VW, Vb = pair
    return float(((VW != 0).sum(axis=1) + (Vb != 0)).max())


def _abs_max(a: Array) -> float:
    return max(float(a.max(initial=0.0)), -float(a.min(initial=0.0)))


# The identities: ΔA = g(z + d) - g(z) on (perturbations, samples, neurons), and per
# perturbation whether a step crosses a kink. Buffers are keyed by layer q: ΔA stays valid
# until the next direction's carry reaches layer q again.
Identity = Callable[[_Layer, Array, float, _Pool, int], tuple[Array, Mask | None]]


def _tanh_addition(S: Array, Q: Array, c: float, dZ: Array, dz: float, G: Array) -> Array:
    """S / (coth(c d) + Q) in G; coth of a tiny argument by its series (saves a tanh)."""
    with np.errstate(divide="ignore", over="ignore"):  # ±inf where d = 0: ΔA = ±0
        if c * dz <= _SERIES:
            np.divide(1.0 / c, dZ, out=G)
            if c * dz > _SERIES_1:
                G += (c / 3.0) * dZ
        else:
            np.tanh(np.multiply(dZ, c, out=G), out=G)
            np.divide(1.0, G, out=G)
    G += Q
    return np.divide(S, G, out=G)


def _tanh_form(layer: _Layer, dZ: Array, dz: float, pool: _Pool, q: int) -> tuple[Array, None]:
    S, Q = layer.arrays
    return _tanh_addition(S, Q, layer.c, dZ, dz, pool(q, "dA", dZ.shape)), None


def _softplus(layer: _Layer, dZ: Array, dz: float, pool: _Pool, q: int) -> tuple[Array, None]:
    dA = np.expm1(dZ, out=pool(q, "dA", dZ.shape))  # log(1 + e^(z+d)) - log(1 + e^z)
    dA *= layer.arrays[0]
    return np.log1p(dA, out=dA), None


def _identity(layer: _Layer, dZ: Array, dz: float, pool: _Pool, q: int) -> tuple[Array, None]:
    return dZ, None


def _linear(layer: _Layer, dZ: Array, dz: float, pool: _Pool, q: int) -> tuple[Array, Mask]:
    slope, margin = layer.arrays
    dA = np.multiply(slope, dZ, out=pool(q, "dA", dZ.shape))
    return dA, np.any(margin <= np.abs(dZ, out=pool(q, "abs", dZ.shape)), axis=(1, 2))


def _elu(layer: _Layer, dZ: Array, dz: float, pool: _Pool, q: int) -> tuple[Array, None]:
    """e^z expm1(d) for z <= 0, d for z > 0; where |d| >= |z| (a step may cross 0) the two
    values elu(z + d) and elu(z), of opposite signs there or both within 2|d| of 0: their
    difference loses nothing relative to |ΔA| >= 0.6 |d|."""
    P, Z = layer.arrays
    dA = np.expm1(dZ, out=pool(q, "dA", dZ.shape))
    dA *= P
    np.copyto(dA, dZ, where=Z > 0)
    cross = np.abs(dZ, out=pool(q, "abs", dZ.shape)) >= np.abs(Z)
    if cross.any():
        z, d = np.broadcast_to(Z, dZ.shape)[cross], dZ[cross]
        dA[cross] = activate("elu", z + d) - activate("elu", z)
    return dA, None


def _silu(layer: _Layer, dZ: Array, dz: float, pool: _Pool, q: int) -> tuple[Array, None]:
    """(z + d) σ(z + d) - z σ(z) = z Δσ + d (σ(z) + Δσ)."""
    S, Q, sig, Z = layer.arrays
    d_sig = _tanh_addition(S, Q, layer.c, dZ, dz, pool(q, "G", dZ.shape))
    dA = np.add(sig, d_sig, out=pool(q, "dA", dZ.shape))
    dA *= dZ
    d_sig *= Z
    dA += d_sig
    return dA, None


def _gelu(layer: _Layer, dZ: Array, dz: float, pool: _Pool, q: int) -> tuple[Array, None]:
    """(z + d) Φ(z + d) - z Φ(z) = z ΔΦ + d (Φ(z) + ΔΦ), ΔΦ = ∫_0^d φ(z + s) ds: while
    |d| <= `_GELU_SERIES`, φ(z) d (1 - z d/2 + (z² - 1) d²/6) (the integral of φ's Taylor
    polynomial; the rest, times |z + d|, is <= 0.19 |d|⁴ <= eps |d| by Cramér's bound, as in
    `_gauss_legendre`), else by the fewest Gauss-Legendre nodes whose remainder is <= eps |d|."""
    Z, Phi, phi, He_2 = layer.arrays
    d_Phi, x = pool(q, "G", dZ.shape), pool(q, "x", dZ.shape)
    if dz <= _GELU_SERIES:
        np.multiply(dZ, Z, out=d_Phi)
        d_Phi *= -0.5
        d_Phi += 1.0
        np.square(dZ, out=x)
        x *= He_2
        d_Phi += x
        d_Phi *= phi
    else:
        rule = (r for r in _GAUSS if r[2] * dz ** (2 * len(r[0])) <= _EPS)
        nodes, weights, _ = next(rule, _GAUSS[-1])
        for i, (s, w) in enumerate(zip(nodes, weights)):
            np.multiply(dZ, s, out=x)
            x += Z
            np.square(x, out=x)
            x *= -0.5
            np.exp(x, out=x)
            if i == 0:
                np.multiply(x, w * _INV_SQRT_2PI, out=d_Phi)
            else:
                x *= w * _INV_SQRT_2PI
                d_Phi += x
    d_Phi *= dZ
    dA = np.add(Phi, d_Phi, out=pool(q, "dA", dZ.shape))
    dA *= dZ
    d_Phi *= Z
    dA += d_Phi
    return dA, None


def _softmax(layer: _Layer, dZ: Array, dz: float, pool: _Pool, q: int) -> tuple[Array, None]:
    """a_k(z + d) - a_k(z) = a_k (expm1(d_k) - s) / (1 + s), s = Σ_j a_j expm1(d_j): every
    output of a sample changes. At the top output, expm1(d_top) - s is formed as
    expm1(d_top) u - Σ_(j≠top) a_j expm1(d_j) (Σ a = 1), so no rounding of size |d| is left
    where a saturated softmax changes by u |d| only."""
    a, a_off, top, u = layer.arrays
    e = np.expm1(dZ, out=pool(q, "G", dZ.shape))
    s = np.einsum("psk,sk->ps", e, a)[:, :, None]
    at_top = np.einsum("psk,sk->ps", e, top)[:, :, None] * u
    at_top -= np.einsum("psk,sk->ps", e, a_off)[:, :, None]
    dA = np.subtract(e, s, out=pool(q, "dA", dZ.shape))
    np.copyto(dA, at_top, where=top > 0.0)
    dA *= a
    dA /= 1.0 + s
    return dA, None


_IDENTITIES: Final[dict[str, Identity]] = {
    "tanh_form": _tanh_form,
    "softplus": _softplus,
    "identity": _identity,
    "linear": _linear,
    "elu": _elu,
    "silu": _silu,
    "gelu": _gelu,
    "softmax": _softmax,
}


def _difference(
    layer: _Layer, dZ: Array, dz: float, pool: _Pool, q: int
) -> tuple[Array, Array, Mask | None]:
    """ΔA by the layer's identity, max|ΔA| per perturbation and sample, and the kink flags."""
    dA, kink = _IDENTITIES[layer.kind](layer, dZ, dz, pool, q)
    dA_max = np.max(np.abs(dA, out=pool(q, "abs", dA.shape)), axis=2)
    return dA, dA_max, kink


def _carry(net: Network, group: list[Direction], l: int) -> tuple[Array, Array, Mask]:
    """D, its bound and the kink flag for directions that all start at layer l (0-based)."""
    L, S, K = net.depth, len(_STEPS), len(group)
    P, h, pool, head = K * S, net.step, net.pool, net.head
    t = np.tile(_STEPS * h, K)
    abs_t = np.abs(t)[:, None]
    kink = np.zeros(P, dtype=bool)
    seeds = [_pair(d, l) for d in group]
    # Layer l: only the rows where some direction is nonzero change (unless a direction goes
    # on into later layers: its t VW ΔA term needs every row of ΔA).
    nonzero = [np.flatnonzero(VW.any(axis=1) | (Vb != 0)) for VW, Vb in seeds]
    rows: Index = np.unique(np.concatenate(nonzero))
    onward = any(_start(d[l + 1 :]) < len(d) - l - 1 for d in group)
    if onward or l == L - 1:  # and the loss (and a softmax) needs every output
        rows = np.arange(net.WT[l].shape[1])
    all_rows = rows.size == net.WT[l].shape[1]
    U = np.stack([net.A_T[l] @ VW[rows].T + Vb[rows] for VW, Vb in seeds])
    dZ = (U[:, None] * (_STEPS * h)[None, :, None, None]).reshape(P, *U.shape[1:])  # t U, one pass
    dA = dZ
    r_V = np.repeat([_row_count(pair) for pair in seeds], S)[:, None]
    n_prev = net.WT[l].shape[0]
    E_Z = abs_t * ((n_prev + 3.0) * (r_V * net.A_max[l] + 1.0) + r_V * net.errA_max[l])
    E_A = E_Z
    layer = net.layers[l] if all_rows else _restricted(net.layers[l], rows)
    dz_max, q = 0.0, l
    while True:
        dz = _abs_max(dZ)
        dz_max = max(dz_max, dz)
        if q == L - 1 and head.on_z:
            break
        dA, dA_max, q_kink = _difference(layer, dZ, dz, pool, q)
        if q_kink is not None:
            kink |= q_kink
        E_A = layer.slope2 * E_Z + layer.K * dA_max
        if layer.K_dz is not None:
            E_A += (dz * layer.K_dz) * dA_max
        if layer.Kd is not None:
            E_A += layer.Kd * np.max(np.abs(dZ, out=pool(q, "abs", dZ.shape)), axis=2)
        if q == L - 1:
            break
        q += 1
        WT = net.WT[q] if q > l + 1 or all_rows else net.WT[q][rows]
        dZ = (dA.reshape(-1, dA.shape[2]) @ WT).reshape(P, dA.shape[1], WT.shape[1])
        n_prev = net.WT[q].shape[0]
        E_Z = net.W_norm[q] * ((n_prev + 3.0) * dA_max + E_A)
        for k, d in enumerate(group):  # directions with entries at layer q: t VW (A + ΔA) + t Vb
            pair = d[q]
            if pair is None or not (np.any(pair[0]) or np.any(pair[1])):
                continue
            p = slice(k * S, (k + 1) * S)
            VWT = pair[0].T
            dZ[p] += t[p, None, None] * (net.A_T[q] @ VWT + pair[1] + dA[p] @ VWT)
            r = _row_count(pair)
            E_Z[p] += abs_t[p] * (
                (n_prev + 3.0) * (r * (net.A_max[q] + dA_max[p]) + 1.0)
                + r * (net.errA_max[q] + E_A[p])
            )
        layer = net.layers[q]
    if head.on_z:
        dJ, E_J = _loss_difference(head, dZ, E_Z, pool)
    else:
        dJ, E_J = _loss_difference(head, dA, E_A, pool)
    D, rounding = _central(dJ.reshape(K, S), E_J.reshape(K, S), h)
    unsure = kink.reshape(K, S).any(axis=1)
    truncation = 2.0 * 4.0 / 3.0 * (np.abs(D[:, 1] - D[:, 0]) + rounding[:, 0] + rounding[:, 1])
    bound = rounding[:, 1] + truncation + _UNDERFLOW / h
    value = D[:, 1]
    if dz_max > _MAX_DZ:  # the slope bounds of E do not hold: no bound
        bound[:] = np.inf
    bad = unsure | ~np.isfinite(value) | ~np.isfinite(bound)
    return np.where(np.isfinite(value), value, 0.0), np.where(bad, np.inf, bound), bad


def _loss_difference(head: _Head, d: Array, E: Array, pool: _Pool) -> tuple[Array, Array]:
    """ΔJ per perturbation from ΔA^(L) (mse) or ΔZ^(L) (bce, cross_entropy) with per-sample
    errors E (eps), and its rounding bound (eps)."""
    m, n_L = d.shape[1], d.shape[2]
    abs_d = np.abs(d, out=pool(-1, "abs", d.shape))
    if head.loss == "mse":  # ΔH = d (2(a - y) + d)
        assert head.two_r is not None and head.err_two_r is not None
        H = d * (head.two_r + d)
        E_H = E[:, :, None] * (np.abs(head.two_r) + 2.0 * abs_d) + abs_d * head.err_two_r
        terms = m * n_L
    elif head.loss == "bce":  # ΔH = sp(z + d) - sp(z) - y d, the softplus identity at Z^(L)
        assert head.softplus is not None
        sig, slope2, K = head.softplus.arrays
        sp = np.expm1(d, out=pool(-1, "sp", d.shape))
        sp *= sig
        np.log1p(sp, out=sp)
        yd = head.Y_T * d
        H = sp - yd
        E_H = (slope2 + head.Y_T) * E[:, :, None] + K * np.abs(sp) + np.abs(yd)
        terms = m * n_L
    elif head.loss == "cross_entropy":  # ΔH = -y·d + (Σy) log1p(Σ a expm1(d)), per sample
        assert head.a is not None and head.y_sum is not None
        assert head.y_abs is not None and head.z_error is not None
        e = np.expm1(d, out=pool(-1, "sp", d.shape))
        log_s = np.log1p(np.einsum("psk,sk->ps", e, head.a))
        H = head.y_sum * log_s - np.einsum("psk,sk->ps", d, head.Y_T)
        d_max = np.max(abs_d, axis=2)
        s_error = _E_QUARTER * d_max * (_E_QUARTER * (2.37 * n_L + 5.0) + head.z_error)
        E_H = (head.y_abs + np.abs(head.y_sum)) * E + (n_L + 1.0) * np.einsum(
            "psk,sk->ps", abs_d, np.abs(head.Y_T)
        )  # the error of d (Σ_k |∂ΔH/∂d_k| <= Σ|y| + |Σy|), the rounding of y·d
        E_H += np.abs(head.y_sum) * (_E_QUARTER * s_error + 2.0 * np.abs(log_s)) + np.abs(H)
        terms = m
    else:
        raise ValueError(f"directional: no loss identity for loss {head.loss!r}")
    dJ = H.sum(axis=tuple(range(1, H.ndim))) / head.divisor
    abs_H = np.abs(H).sum(axis=tuple(range(1, H.ndim)))
    E_J = (E_H.sum(axis=tuple(range(1, E_H.ndim))) + (terms + 2.0) * abs_H) / head.divisor
    return dJ, E_J + np.abs(dJ)


def _central(dJ: Array, E_J: Array, h: float) -> tuple[Array, Array]:
    """D_(h/2) and D_h (columns 0 and 1), and the bounds on their rounding errors."""
    D = np.stack([(dJ[:, 2] - dJ[:, 1]) / h, (dJ[:, 3] - dJ[:, 0]) / (2.0 * h)], axis=1)
    E = np.stack([E_J[:, 2] + E_J[:, 1], E_J[:, 3] + E_J[:, 0]], axis=1)
    dJ_abs = np.stack([np.abs(dJ[:, 2]) + np.abs(dJ[:, 1]), np.abs(dJ[:, 3]) + np.abs(dJ[:, 0])], 1)
    steps = np.array([h, 2.0 * h])
    return D, _EPS * ((E + dJ_abs) / steps + 2.0 * np.abs(D))
