"""The difference identities of `harness.sources.finite_diff`, and the numpy path that carries a
chunk of perturbations through the layers with them (`_carry`); the package docstring gives the
method and the error model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from typing import Final

import numpy as np
from numpy.typing import NDArray

from harness.network import LEAKY_SLOPE, Array, activate

Mask = NDArray[np.bool_]
Index = NDArray[np.intp]

_EPS: Final = float(np.finfo(np.float64).eps)
_TINY: Final = float(np.finfo(np.float64).tiny)
_UNDERFLOW: Final = 2.0**-960
_MAX_DZ: Final = 0.25  # largest pre-activation change the slope factor 2 holds for
_IDENTITY_ULPS: Final = 16.0  # rounding of one smooth difference identity, in eps
_FORWARD_ULPS: Final = 8.0  # rounding of one forward activation, in eps
#: Largest slope of an activation where it is not 1: only to bound magnitudes.
_LIPSCHITZ: Final = {"sigmoid": 0.25}


def _take(a: Array, i: Index | None) -> Array:
    """(m, n) array -> all as (1, m, n), or rows i as (C, m, 1): both broadcast against
    (perturbations, samples, neurons). A (1, 1) array is a constant."""
    out: Array = a[None] if i is None or a.size == 1 else a.T[i][:, :, None]
    return out


@dataclass(frozen=True)
class _Layer:
    """One layer's identity arrays, samples × neurons.

    P is the identity's factor (sech²(z), 2σ(z)σ(-z), σ(z), or the slope of z's piece); Q is
    tanh(z) or tanh(z/2); slope2 twice a bound on the identity's slope near z (for E); K the
    relative rounding the identity adds, in eps; margin how far z is surely from 0.
    """

    name: str
    P: Array
    Q: Array
    slope2: Array
    K: Array
    margin: Array

    def take(self, i: Index | None) -> _Layer:
        arrays = (self.P, self.Q, self.slope2, self.K, self.margin)
        return _Layer(self.name, *(_take(a, i) for a in arrays))

    @cached_property
    def full(self) -> _Layer:
        return self.take(None)


def _layer(name: str, Z: Array, errZ: Array) -> _Layer:
    """The arrays for activation ``name`` at Z (samples × neurons), whose forward error is errZ.

    K: 16 eps for the identity's own rounding, plus twice what an error errZ in z does to the
    identity's slope: |d log(slope)/dz| is 2|tanh z| (tanh), |tanh(z/2)| (sigmoid), σ(-z)
    (softplus), 0 on a linear piece.
    """
    base = 2.0 * errZ / _EPS
    zero, one = np.zeros((1, 1)), np.ones((1, 1))  # constants, or unused by this identity
    if name == "tanh":
        e, Q = np.exp(-2.0 * np.abs(Z)), np.tanh(Z)
        P = 4.0 * e / (1.0 + e) ** 2
        return _Layer(name, P, Q, 2.0 * P, _IDENTITY_ULPS + 2.0 * np.abs(Q) * base, zero)
    if name == "sigmoid":
        e, Q = np.exp(-np.abs(Z)), np.tanh(0.5 * Z)
        P = 2.0 * e / (1.0 + e) ** 2
        return _Layer(name, P, Q, P, _IDENTITY_ULPS + np.abs(Q) * base, zero)
    if name == "softplus":
        S = activate("sigmoid", Z)
        K = _IDENTITY_ULPS + activate("sigmoid", -Z) * base
        return _Layer(name, S, zero, 2.0 * S, K, zero)
    if name == "identity":
        return _Layer(name, one, zero, one, zero, zero)
    slope = np.where(Z > 0, 1.0, 0.0 if name == "relu" else LEAKY_SLOPE)
    return _Layer(name, slope, zero, slope, one, np.maximum(np.abs(Z) - errZ, _TINY))


@dataclass(frozen=True)
class _Head:
    """The loss identity's arrays, samples × outputs: mse two_r = 2(a - y); bce S = σ(z), Y
    and SY, twice a bound on ΔH's slope in d (for E); err_d, the error of ΔH per unit |d| (eps)
    the forward pass's error leaves: of 2(a - y) (mse), of z times the slope's change (bce)."""

    loss: str
    two_r: Array
    err_d: Array
    S: Array
    SY: Array
    Y: Array

    def take(self, i: Index | None) -> _Head:
        arrays = (self.two_r, self.err_d, self.S, self.SY, self.Y)
        return _Head(self.loss, *(_take(a, i) for a in arrays))

    @cached_property
    def full(self) -> _Head:
        return self.take(None)


@dataclass(frozen=True)
class _Net:
    """Everything the carried differences need, computed once per problem."""

    WT: list[Array]  # W^(l) transposed: ΔZ = ΔA W^T on (perturbations, samples, neurons)
    abs_WT: list[Array]  # noqa: N815
    inv_WT: list[Array]  # noqa: N815  (±inf where W = 0)
    layers: list[_Layer]
    head: _Head
    #: For the rank-1 layer l+1, whose error goes straight into ΔZ^(l+2) (None if no l+2):
    #: M[l][0][i, s, r] = Σ_j |W^(l+2)[r, j]| slope2^(l+1)[s, j] |W^(l+1)[j, i]| per unit error
    #: of ΔA^(l)[i, s]; M[l][1] the same with slope2 (K + n_(l+1) + 1) per unit of |ΔA^(l)[i, s]|
    #: (that layer's own rounding and its GEMM's, as |ΔA^(l+1)| <= slope2 |ΔZ^(l+1)|).
    M: list[tuple[Array, Array] | None]


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
    """ΔA = g(z + ΔZ) - g(z); G = slope2 E_Z + (K + extra)|ΔA| in eps (not formed if extra is
    None); kinks per perturbation (relu, leaky_relu). ``coth``, in the "G" buffer, may already
    hold coth(c ΔZ) for tanh and sigmoid; dZ is then not read."""
    shape = dZ.shape if coth is None else coth.shape
    dA, G = pool(q, "dA", shape), pool(q, "G", shape)
    kink = None
    if layer.name in ("tanh", "sigmoid"):
        if coth is None:
            np.tanh(dZ if layer.name == "tanh" else np.multiply(dZ, 0.5, out=G), out=G)
            with np.errstate(divide="ignore", over="ignore"):
                np.divide(1.0, G, out=G)  # ±inf where ΔZ = 0 (or subnormal): ΔA = ±0
        G += layer.Q
        if extra is None:  # ΔA only: in place, one buffer less to keep in cache
            return np.divide(layer.P, G, out=G), G, kink
        np.divide(layer.P, G, out=dA)
    elif layer.name == "softplus":
        np.expm1(dZ, out=G)
        G *= layer.P
        np.log1p(G, out=dA)
    elif layer.name == "identity":
        dA = dZ
    else:
        np.multiply(layer.P, dZ, out=dA)
        np.abs(dZ, out=G)
        kink = np.any(layer.margin <= G, axis=(1, 2))
    if extra is None:
        return dA, G, kink
    np.abs(dA, out=G)
    G *= layer.K + extra
    if E_Z is not None:
        G += np.multiply(layer.slope2, E_Z, out=pool(q, "tmp", E_Z.shape))
    return dA, G, kink


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


def _loss_difference(head: _Head, d: Array, E: Array, pool: _Pool) -> tuple[Array, Array]:
    """ΔJ per perturbation and sample from ΔA^(L) (mse) or ΔZ^(L) (bce), and its bound in eps.

    n_terms counts every term of the full sum over samples and outputs; |a + b| <= |a| + |b|
    splits off what depends on d, so sums of products are dot products.
    """
    m = d.shape[1]
    n_terms = m * d.shape[2]
    abs_d = np.abs(d, out=pool(-1, "abs_d", d.shape))
    if head.loss == "mse":  # ΔH = d (2(a - y) + d)
        d_d = _dot(d, d)
        dJ = _dot(d, head.two_r) + d_d
        # Σ |2r + d| (E + (n_terms + 3)|d|) + |d| err(2r)
        E_J = _dot(E, np.abs(head.two_r)) + _dot(E, abs_d) + (n_terms + 3) * d_d
        E_J += _dot(abs_d, (n_terms + 3) * np.abs(head.two_r) + head.err_d)
    else:  # ΔH = sp(z + d) - sp(z) - y d
        sp = np.expm1(d, out=pool(-1, "sp", d.shape))
        sp *= head.S
        np.log1p(sp, out=sp)
        dJ = np.sum(sp, axis=2) - _dot(d, head.Y)
        # Σ SY E + 16 |sp| + |y d| + (n_terms + 2)(|sp| + |y d|) + err_d |d|
        abs_sp = np.abs(sp, out=sp)
        E_J = _dot(E, head.SY) + (_IDENTITY_ULPS + n_terms + 2) * np.sum(abs_sp, axis=2)
        E_J += _dot(abs_d, (n_terms + 3) * head.Y + head.err_d)
    return dJ / m, E_J / m


def _carry(
    net: _Net, l: int, i: Index, dZ: Array, E_Z: Array, pool: _Pool
) -> tuple[Array, Array, Mask]:
    """Per perturbation and sample, ΔJ and its bound (eps), for changes ΔZ (C, m, 1) of rows i
    of Z^(l) with error bounds E_Z; and per perturbation whether it crosses a kink."""
    L, bce = len(net.layers), net.head.loss == "bce"
    C, m = dZ.shape[:2]
    kink = np.zeros(C, dtype=bool)
    dA, G, e, abs_delta = dZ, E_Z, E_Z, E_Z
    E_Z_q: Array | None = E_Z
    for q in range(l, L):
        n_q = net.WT[q].shape[1]
        coth = None
        if q == l + 1:  # rank-1: ΔZ^(l+1) = ΔA^(l)_i ⊗ W^(l+1)[:, i]
            w = net.WT[q][i][:, None, :]
            name = net.layers[q].name
            if name in ("tanh", "sigmoid") and not (q == L - 1 and bce):
                c = 1.0 if name == "tanh" else 0.5
                out = pool(q, "G", (C, m, n_q))
                coth = _coth_rank1(c, dA, w, net.inv_WT[q][i][:, None, :], out)
            if coth is None:
                dZ = np.multiply(dA, w, out=pool(q, "dZ", (C, m, n_q)))
            e, abs_delta = G, np.abs(dA)  # e: the error of ΔA^(l)_i and of the product
            E_Z_q = np.abs(w) * e if q == L - 1 else None  # else: via M at layer l+2
        elif q > l + 1:  # one small GEMM per perturbation: stays on this core, like the rest
            dZ = np.matmul(dA, net.WT[q], out=pool(q, "dZ", (C, m, n_q)))
            if q == l + 2:
                M = net.M[l]
                assert M is not None
                E_Z_q = M[0][i] * e
                E_Z_q += M[1][i] * abs_delta
            else:
                E_Z_q = np.matmul(G, net.abs_WT[q], out=pool(q, "E", (C, m, n_q)))
        if q == L - 1 and bce:
            break  # the loss identity works on ΔZ^(L)
        extra: float | None = 0.0 if q == L - 1 else (1.0 if q == l else n_q + 1.0)
        if q == l + 1 and q < L - 1:
            extra = None  # this layer's error reaches ΔZ^(l+2) through M
        layer = net.layers[q].take(i) if q == l else net.layers[q].full
        dA, G, q_kink = _difference(layer, dZ, E_Z_q, extra, pool, q, coth)
        if q_kink is not None:
            kink |= q_kink
    E: Array | None = E_Z_q if bce else G
    assert E is not None  # bce: E_Z of the last layer is always formed
    head = net.head.take(i) if l == L - 1 else net.head.full
    return (*_loss_difference(head, dZ if bce else dA, E, pool), kink)
