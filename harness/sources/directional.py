"""Directional central differences: how J changes along a direction v, with an error bound.

Method. For a direction v (one (VW, Vb) pair per layer, zero where v is zero) and a step t,
ΔJ(t) = J(θ + t v) - J(θ) is never formed as a subtraction of two forward passes: the
*difference* is carried through the layers. With every parameter moved by t v,

    ΔZ^(l) = t VW^(l) (A^(l-1) + ΔA^(l-1)) + W^(l) ΔA^(l-1) + t Vb^(l),   ΔA^(0) = 0,

and each activation turns ΔZ into ΔA with the cancellation-free difference identity of
`harness.sources.finite_diff` (tanh and sigmoid by the addition theorem, softplus as
log1p(σ(z) expm1(d)), relu and leaky_relu by the slope of z's piece, identity). The loss
identities finish it: mse ΔH = Δa (2(a - y) + Δa); bce ΔH = sp(z + Δz) - sp(z) - y Δz on Z^(L)
(the softplus identity again). ΔJ(±t) ≈ ±t ∇J·v, so the last subtraction, in
D = (ΔJ(h) - ΔJ(-h)) / 2h, cannot cancel either. Nothing here differentiates anything.

A direction that is zero below layer l starts there (ΔA^(l-1) = 0), and at that layer only the
rows where v is nonzero change: the group tests of `harness.fast` halve such directions, and each
half costs less than the one before.

Error bound = rounding + truncation, per direction.

- Rounding. Each carried difference comes with E, per perturbation and sample, a bound (in
  eps = 2^-52) on the absolute rounding error of *every* neuron's difference: max-norm bounds,
  looser than per-entry ones but cheap. A layer's ΔZ sums n_(l-1) + 2 products and is scaled by
  t: (n_(l-1) + 3) (|t| r_V (|A| + |ΔA|) + |t| + ||W||_∞ |ΔA|), plus what the errors of A (the
  forward pass's) and of ΔA do through |t| r_V + ||W||_∞, where r_V is the largest number of
  nonzero entries in a row of VW. An activation passes E on times twice its identity's slope
  (valid while |ΔZ| <= 1/4, which the step ensures) and adds its identity's own rounding K|ΔA|
  (16 eps, plus what the forward error of z does to the identity's slope); the loss sum adds
  (n_L m + 2) Σ|ΔH|. Then |D - exact quotient| <= eps ((E(h) + E(-h) + |ΔJ(h)| + |ΔJ(-h)|)/2h
  + 2|D|): it scales like ΔJ/h and does not grow as h shrinks.
- Truncation. D_h - ∇J·v = h² f'''/6 + O(h⁴) with f(t) = J(θ + t v), and D_h - D_(h/2) =
  h² f'''/8 + O(h⁴), so h²|f'''|/6 <= 4/3 (|D_h - D_(h/2)| + both rounding bounds); twice that
  is the truncation term (the factor 2 for the O(h⁴) rest: like Richardson's estimate, it
  assumes f''' changes little within ±h). Each direction is therefore carried at four steps,
  ±h and ±h/2.

Step. h = rel_step max(1, max|θ|), rel_step = 1e-8 (v has |v_e| = 1, so every parameter moves by
h). If some |ΔZ| still exceeds 1/4 (absurd weights), the slope factor of E does not hold and the
bound is +inf. Why tiny:
the rounding of D does not depend on h (no cancellation anywhere), truncation falls as h², the
band around a ReLU kink that makes a direction undecidable is ~h (Σ|A| + 1) wide, and ΔJ ~ h
stays far above underflow (a floor of 2^-960/h covers subnormals). Between 1e-9 and 1e-7 the
bound barely changes; 1e-8 keeps the kink band narrow without approaching any floor.

Kinks. A direction is undecidable if one of its steps moves a relu/leaky_relu pre-activation by
at least |z| minus z's forward error bound (across 0, onto 0, or off a z whose sign float64
cannot vouch for); its value is the quotient for the pieces z lies on at θ, its bound +inf. So is
a direction whose D or bound is not finite.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from harness.errors import SourceLimitError
from harness.network import Array, forward
from harness.sources.finite_diff.identities import (
    _EPS,
    _FORWARD_ULPS,
    _LIPSCHITZ,
    _MAX_DZ,
    _UNDERFLOW,
    _difference,
    _Layer,
    _layer,
    _Pool,
    _thread_pool,
)
from harness.spec import Problem

__all__ = ["Directional", "Network", "along", "prepare"]

Mask = NDArray[np.bool_]
Index = NDArray[np.intp]
#: One direction: (VW, Vb) per layer, or None where v is zero on the whole layer.
Direction = Sequence[tuple[Array, Array] | None]

_STEPS: Final = np.array([-1.0, -0.5, 0.5, 1.0])  # ΔJ(-h), ΔJ(-h/2), ΔJ(h/2), ΔJ(h)
_SERIES: Final = 1e-4  # coth x = 1/x + x/3 to eps/100 while |x| <= 1e-4 (x³/45 left out)
_SERIES_1: Final = 2.6e-8  # and = 1/x to eps while |x| <= sqrt(3 eps)
_POOLS: Final = threading.local()


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
class Network:
    """What every direction of one problem shares: the forward pass, its error bounds, and each
    layer's identity arrays (samples × neurons). For bce the last layer's identity is softplus
    at Z^(L): the loss identity works on ΔZ^(L)."""

    A_T: list[Array]  # A^(l-1) transposed, the input of layer l (m, n_(l-1))
    A_max: list[Array]  # (m,) max over neurons of |A^(l-1)|
    errA_max: list[Array]  # noqa: N815  (m,) max over neurons of A^(l-1)'s forward error, in eps
    WT: list[Array]  # W^(l) transposed (n_(l-1), n_l)
    W_norm: list[float]  # ||W^(l)||_∞, the largest row sum of |W^(l)|
    layers: list[_Layer]
    slope2_max: list[Array]  # (m,) max over neurons of the identity's slope2
    K_max: list[Array]  # (m,) max over neurons of the identity's K
    loss: str
    two_r: Array  # mse: 2(a - y) (m, n_L)
    err_two_r: Array  # mse: its error, in eps
    Y_T: Array  # (m, n_L)
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

    Raises `SourceLimitError` unless 0 < rel_step <= 1e-4.
    """
    if isinstance(rel_step, bool) or not (
        isinstance(rel_step, float | int) and 0 < rel_step <= 1e-4
    ):
        raise SourceLimitError(f"rel_step must be a number in (0, 1e-4], got {rel_step!r}")
    spec, params, m = problem.spec, problem.params, problem.batch
    fwd = forward(params, problem.X, spec.activations)
    A = [problem.X] + [A_l for _, A_l in fwd]
    errA = np.zeros_like(problem.X)
    A_T, A_max, errA_max, WT, W_norm = [], [], [], [], []
    layers, slope2_max, K_max = [], [], []
    bce = spec.loss.name == "bce"
    for l, ((W, b), (Z, A_l), name) in enumerate(zip(params, fwd, spec.activations)):
        absW = np.abs(W)
        errZ = (W.shape[1] + 2) * _EPS * (absW @ np.abs(A[l]) + np.abs(b)[:, None])
        errZ += absW @ errA
        A_T.append(np.ascontiguousarray(A[l].T))
        A_max.append(np.abs(A[l]).max(axis=0))
        errA_max.append(errA.max(axis=0) / _EPS)
        WT.append(np.ascontiguousarray(W.T))
        W_norm.append(float(absW.sum(axis=1).max()))
        identity = "softplus" if bce and l == spec.depth - 1 else name
        layer = _layer(identity, *(np.ascontiguousarray(a.T) for a in (Z, errZ)))
        layers.append(layer)
        slope2_max.append(np.broadcast_to(layer.slope2, (m, W.shape[0])).max(axis=1))
        K_max.append(np.broadcast_to(layer.K, (m, W.shape[0])).max(axis=1))
        errA = _LIPSCHITZ.get(name, 1.0) * errZ + _FORWARD_ULPS * _EPS * np.abs(A_l)
    two_r = 2.0 * (A[-1] - problem.Y)
    err_two_r = 2.0 * errA / _EPS + np.abs(two_r)
    theta_max = max(max(float(np.abs(W).max()), float(np.abs(b).max())) for W, b in params)
    h = rel_step * max(1.0, theta_max)
    return Network(
        A_T, A_max, errA_max, WT, W_norm, layers, slope2_max, K_max, spec.loss.name,
        np.ascontiguousarray(two_r.T), np.ascontiguousarray(err_two_r.T),
        np.ascontiguousarray(problem.Y.T), h,
    )  # fmt: skip


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
    return Directional(value, bound, undecidable, net.step)


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


def _restricted(layer: _Layer, rows: Index) -> _Layer:
    arrays = (layer.P, layer.Q, layer.slope2, layer.K, layer.margin)
    return _Layer(layer.name, *(a if a.size == 1 else a[:, rows] for a in arrays))


def _activate(layer: _Layer, dZ: Array, pool: _Pool, q: int) -> tuple[Array, Mask | None]:
    """ΔA by the layer's identity; coth of a tiny ΔZ by its series (saves a tanh)."""
    coth = None
    if layer.name in ("tanh", "sigmoid"):
        c = 1.0 if layer.name == "tanh" else 0.5
        x_max = c * float(np.max(np.abs(dZ), initial=0.0))
        if x_max <= _SERIES:
            coth = pool(q, "G", dZ.shape)
            with np.errstate(divide="ignore"):  # ±inf where ΔZ = 0: ΔA = ±0
                np.divide(1.0 / c, dZ, out=coth)
            if x_max > _SERIES_1:
                coth += (c / 3.0) * dZ
    dA, _, kink = _difference(layer, dZ, None, None, pool, q, coth)
    return dA, kink


def _carry(net: Network, group: list[Direction], l: int) -> tuple[Array, Array, Mask]:
    """D, its bound and the kink flag for directions that all start at layer l (0-based)."""
    L, S, K = net.depth, len(_STEPS), len(group)
    P, h, pool = K * S, net.step, net.pool
    t = np.tile(_STEPS * h, K)
    abs_t = np.abs(t)[:, None]
    kink = np.zeros(P, dtype=bool)
    seeds = [_pair(d, l) for d in group]
    # Layer l: only the rows where some direction is nonzero change (unless a direction goes
    # on into later layers: its t VW ΔA term needs every row of ΔA).
    nonzero = [np.flatnonzero(VW.any(axis=1) | (Vb != 0)) for VW, Vb in seeds]
    rows: Index = np.unique(np.concatenate(nonzero))
    onward = any(_start(d[l + 1 :]) < len(d) - l - 1 for d in group)
    if onward or l == L - 1:  # and the loss needs every output
        rows = np.arange(net.WT[l].shape[1])
    all_rows = rows.size == net.WT[l].shape[1]
    U = np.stack([net.A_T[l] @ VW[rows].T + Vb[rows] for VW, Vb in seeds])
    dZ = (U[:, None] * (_STEPS * h)[None, :, None, None]).reshape(P, *U.shape[1:])  # t U, one pass
    dA = dZ
    r_V = np.repeat([_row_count(pair) for pair in seeds], S)[:, None]
    n_prev = net.WT[l].shape[0]
    E_Z = abs_t * ((n_prev + 3.0) * (r_V * net.A_max[l] + 1.0) + r_V * net.errA_max[l])
    dz_max = float(np.max(np.abs(dZ), initial=0.0))
    layer = net.layers[l] if all_rows else _restricted(net.layers[l], rows)
    bce = net.loss == "bce"
    q = l
    while True:
        if q == L - 1 and bce:
            break
        dA, q_kink = _activate(layer.full, dZ, pool, q)
        if q_kink is not None:
            kink |= q_kink
        dA_max = np.max(np.abs(dA), axis=2)
        E_A = net.slope2_max[q] * E_Z + net.K_max[q] * dA_max
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
        dz_max = max(dz_max, float(np.max(np.abs(dZ), initial=0.0)))
        layer = net.layers[q]
    dJ, E_J = _loss_difference(net, dZ if bce else dA, E_Z if bce else E_A, pool)
    D, rounding = _central(dJ.reshape(K, S), E_J.reshape(K, S), h)
    unsure = kink.reshape(K, S).any(axis=1)
    truncation = 2.0 * 4.0 / 3.0 * (np.abs(D[:, 1] - D[:, 0]) + rounding[:, 0] + rounding[:, 1])
    bound = rounding[:, 1] + truncation + _UNDERFLOW / h
    value = D[:, 1]
    if dz_max > _MAX_DZ:  # the slope factor 2 of E does not hold: no bound
        bound[:] = np.inf
    bad = unsure | ~np.isfinite(value) | ~np.isfinite(bound)
    return np.where(np.isfinite(value), value, 0.0), np.where(bad, np.inf, bound), bad


def _loss_difference(net: Network, d: Array, E: Array, pool: _Pool) -> tuple[Array, Array]:
    """ΔJ per perturbation from ΔA^(L) (mse) or ΔZ^(L) (bce) with per-sample errors E (eps),
    and its rounding bound (eps)."""
    m, n_L = d.shape[1], d.shape[2]
    abs_d = np.abs(d)
    if net.loss == "mse":  # ΔH = d (2(a - y) + d)
        H = d * (net.two_r + d)
        E_H = E[:, :, None] * (np.abs(net.two_r) + 2.0 * abs_d) + abs_d * net.err_two_r
    else:  # ΔH = sp(z + d) - sp(z) - y d, the softplus identity at Z^(L)
        layer = net.layers[-1].full
        sp, _ = _activate(layer, d, pool, net.depth - 1)
        yd = net.Y_T * d
        H = sp - yd
        E_H = (layer.slope2 + net.Y_T) * E[:, :, None] + layer.K * np.abs(sp) + np.abs(yd)
    abs_H = np.abs(H)
    dJ = H.sum(axis=(1, 2)) / m
    E_J = (E_H.sum(axis=(1, 2)) + (m * n_L + 2.0) * abs_H.sum(axis=(1, 2))) / m + np.abs(dJ)
    return dJ, E_J


def _central(dJ: Array, E_J: Array, h: float) -> tuple[Array, Array]:
    """D_(h/2) and D_h (columns 0 and 1), and the bounds on their rounding errors."""
    D = np.stack([(dJ[:, 2] - dJ[:, 1]) / h, (dJ[:, 3] - dJ[:, 0]) / (2.0 * h)], axis=1)
    E = np.stack([E_J[:, 2] + E_J[:, 1], E_J[:, 3] + E_J[:, 0]], axis=1)
    dJ_abs = np.stack([np.abs(dJ[:, 2]) + np.abs(dJ[:, 1]), np.abs(dJ[:, 3]) + np.abs(dJ[:, 0])], 1)
    steps = np.array([h, 2.0 * h])
    return D, _EPS * ((E + dJ_abs) / steps + 2.0 * np.abs(D))
