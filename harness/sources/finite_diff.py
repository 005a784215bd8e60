"""Finite differences: a central difference for every parameter, each with an error bound.

Method. For parameter θ_e with step h, D_e = (ΔJ(+h) - ΔJ(-h)) / (2h), ΔJ(t) = J(θ + t e) - J(θ);
but J(θ + t e) is never formed and subtracted: the *difference* is carried through the layers.
Perturbing W^(l)[i, k] by t changes only row i of Z^(l), by t A^(l-1)[k, :] (b^(l)[i]: by t).
Each activation turns ΔZ into ΔA with a difference identity free of cancellation:

    tanh      tanh(z+d) - tanh(z) = sech²(z) / (coth(d) + tanh(z))          (addition theorem)
    sigmoid   σ(z+d) - σ(z)       = 2σ(z)σ(-z) / (coth(d/2) + tanh(z/2))    (the same, on z/2)
    softplus  sp(z+d) - sp(z)     = log1p(σ(z) expm1(d))
    relu, leaky_relu  d times the slope of z's piece (z + d on the same side); identity  d

Layer l+1 changes by the rank-1 W^(l+1)[:, i] ⊗ ΔA^(l)_i (and coth of it is rank-1 too, via
coth x = 1/x + x/3 + O(x³)); from layer l+2 on, chunks of perturbations go through GEMMs. The
losses: mse (a+Δa-y)² - (a-y)² = Δa (2(a-y) + Δa); bce sp(z+Δz) - sp(z) - y Δz on Z^(L).
ΔJ(+h) ≈ gh and ΔJ(-h) ≈ -gh: the last subtraction cannot cancel either. Nothing here
differentiates anything.

Error model: bound = rounding + truncation, per entry.

- Rounding. Each carried difference comes with E, a running bound on its absolute rounding
  error in eps = 2^-52. A GEMM adds (n+1)|W||ΔA| and passes |W|E on; an activation passes E
  on times twice its identity's slope at z (valid while |ΔZ| <= 1/4, which the step ensures)
  and adds 16 eps relative, plus what the forward pass's error on z (<= (n+2) eps (|W||A| + |b|)
  + |W| err(A)) does to that slope; the loss sum adds (n_L m + 3) Σ|Δhead|. Then
  |D - exact quotient| <= eps ((E(+h) + E(-h) + |ΔJ(+h)| + |ΔJ(-h)|)/(2h) + 2|D|): it scales
  like ΔJ/h, so it does not grow as h shrinks.
- Truncation h²f'''/6 + O(h⁴). Samples are independent, so exactly J(θ + t e) - J(θ) =
  Σ_s ψ_is(t x_ks), ψ_is(v) = the change of J when Z^(l)[i, s] alone moves by v (x_ks =
  A^(l-1)[k, s], or 1 for b): f''' = Σ_s x_ks³ ψ_is'''(0). ψ_is''' is a third difference of the
  same carried kind, steps ±u/2, ±u with u_is >= |h x_ks|, plus its rounding bound; the term is
  2 h²/6 Σ_s |x_ks|³ (|ψ_is'''| + error). Like Richardson's |D(2h) - D(h)|/3, it assumes
  ψ''' changes little within ±u.

Step. h = rel_step max(1, |θ_e|), rel_step = 1e-9, shrunk where an a priori bound says a step
could move a pre-activation by more than 1/4. Rounding does not depend on h and truncation falls
as h², so small is good: truncation is then negligible unless |f'''/f'| > ~1e4/h² (deep,
saturated nets, where its term shows it), differences stay far from underflow (a floor of
2^-960/h covers subnormals), and the band around a ReLU kink that makes entries undecidable is
only ~1e-9 |θ_e| wide.

Kinks. An entry is undecidable if one of its steps moves a relu/leaky_relu pre-activation at or
after its layer by at least |z| minus the forward error bound of z: across 0, onto 0, or off a z
whose sign float64 cannot vouch for. Its grads are the quotient for the pieces z lies on at θ
(finite), its bound +inf. A quotient that is not finite (absurd weights) gives 0, bound +inf.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Final, TypeVar

import numpy as np
from numpy.typing import NDArray

import harness.sources._fd_kernel as _fd_kernel
from harness.errors import SourceLimitError
from harness.network import LEAKY_SLOPE, Array, activate, forward
from harness.spec import NetworkSpec, Problem
from harness.threads import one_blas_thread

__all__ = ["KERNELS", "Estimate", "compiled_available", "estimate", "gradients"]

#: ``estimate(kernel=...)``: "compiled" (numba, the ``fast`` extra), "numpy", or "auto" (compiled
#: when numba is installed).
KERNELS: Final = ("auto", "compiled", "numpy")

Mask = NDArray[np.bool_]
Index = NDArray[np.intp]
_Out = TypeVar("_Out")
_Five = tuple[Array, Array, Array, Array, Array]

_EPS: Final = float(np.finfo(np.float64).eps)
_TINY: Final = float(np.finfo(np.float64).tiny)
_UNDERFLOW: Final = 2.0**-960
_STEPS: Final = np.array([-1.0, 1.0])  # ΔJ(-h), ΔJ(+h)
_AUX_STEPS: Final = np.array([-1.0, -0.5, 0.5, 1.0])  # ψ(-u), ψ(-u/2), ψ(u/2), ψ(u)
_AUX_WEIGHTS: Final = np.array([-1.0, 2.0, -2.0, 1.0])  # ψ''' ≈ Σ w ψ / (2 (u/2)³)
_CHUNK: Final = 2**15  # float64 elements of one (perturbations, samples, neurons) block
_COMPILED_CHUNK: Final = 2**19  # (perturbation, sample) rows × the widest layer after l, per call
_MAX_DZ: Final = 0.25  # largest pre-activation change the slope factor 2 holds for
_IDENTITY_ULPS: Final = 16.0  # rounding of one smooth difference identity, in eps
_FORWARD_ULPS: Final = 8.0  # rounding of one forward activation, in eps
#: Largest slope of an activation where it is not 1: only to bound magnitudes.
_LIPSCHITZ: Final = {"sigmoid": 0.25}


@dataclass(frozen=True)
class Estimate:
    """Central differences for every parameter, each with its error bound.

    ``grads``, ``bound``, ``undecidable`` and ``step`` are ``[(W1-like, b1-like), ...]`` with the
    parameters' exact shapes: the estimate (float64), an upper bound on |estimate - dJ/dθ| (+inf
    where undecidable), True where a step crosses a ReLU-type kink, and each entry's step h.
    """

    grads: list[tuple[Array, Array]]
    bound: list[tuple[Array, Array]]
    undecidable: list[tuple[Mask, Mask]]
    step: list[tuple[Array, Array]]


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


class _Runner:
    """Carries one chunk of perturbations: row ``i[c]`` of Z^(l) moves by ``t[c] X_src[k[c], s]``
    in sample s, with error ``|t[c]| E_src[k[c], s]`` (eps). Returns per perturbation and sample
    ΔJ and its bound (eps), and per perturbation whether a step crosses a kink."""

    threaded = False

    def __init__(self, net: _Net) -> None:
        self.net, self.m = net, int(net.head.two_r.shape[0])
        self._local = threading.local()

    @property
    def pool(self) -> _Pool:
        """This thread's work buffers."""
        pool: _Pool | None = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = _Pool()
        return pool

    def chunk(self, l: int) -> int:
        """Perturbations per call for layer l."""
        raise NotImplementedError

    def map(self, job: Callable[[Index], _Out], chunks: Sequence[Index]) -> Iterable[_Out]:
        """``job`` on every chunk, results in order: one chunk per core at a time if threaded."""
        if not self.threaded or len(chunks) < 2:
            return map(job, chunks)
        return list(_executor().map(job, chunks))

    def __call__(
        self, l: int, i: Index, k: Index, t: Array, X_src: Array, E_src: Array
    ) -> tuple[Array, Array, Mask]:
        raise NotImplementedError


class _NumpyRunner(_Runner):
    """`_carry` on (perturbations, samples, neurons) blocks of about _CHUNK elements."""

    def chunk(self, l: int) -> int:
        widest_after = max((w.shape[1] for w in self.net.WT[l + 2 :]), default=1)
        return max(1, _CHUNK // (widest_after * self.m))

    def __call__(
        self, l: int, i: Index, k: Index, t: Array, X_src: Array, E_src: Array
    ) -> tuple[Array, Array, Mask]:
        dZ = (t[:, None] * X_src[k])[:, :, None]
        E_Z = (np.abs(t)[:, None] * E_src[k])[:, :, None]
        return _carry(self.net, l, i, dZ, E_Z, self.pool)


class _CompiledRunner(_Runner):
    """The same stages as `_carry`, each one fused pass of `_fd_kernel` (numba) over a block of
    (perturbation, sample) rows, with numpy's GEMMs in between; one chunk per core at a time, on
    threads, with BLAS held to one thread (see `_fd_kernel`)."""

    threaded = True  # the stages release the GIL

    def __init__(self, net: _Net) -> None:
        super().__init__(net)
        m = self.m

        def per_sample(a: Array, n: int) -> Array:
            return np.ascontiguousarray(np.broadcast_to(a, (m, n)))

        self.layers: list[_Five] = []
        for x, w in zip(net.layers, net.WT):
            n = w.shape[1]
            P, Q, slope2, K, margin = (
                per_sample(a, n) for a in (x.P, x.Q, x.slope2, x.K, x.margin)
            )
            self.layers.append((P, Q, slope2, K, margin))
        n_L, h = net.WT[-1].shape[1], net.head
        self.head: _Five = (
            per_sample(h.two_r, n_L), per_sample(h.err_d, n_L), per_sample(h.S, n_L),
            per_sample(h.SY, n_L), per_sample(h.Y, n_L),
        )  # fmt: skip
        self.codes = [_fd_kernel.ACT_CODES[x.name] for x in net.layers]

    def chunk(self, l: int) -> int:
        widest_after = max((w.shape[1] for w in self.net.WT[l + 1 :]), default=1)
        return max(1, _COMPILED_CHUNK // (widest_after * self.m))

    def __call__(
        self, l: int, i: Index, k: Index, t: Array, X_src: Array, E_src: Array
    ) -> tuple[Array, Array, Mask]:
        kernel, net, pool, m = _fd_kernel, self.net, self.pool, self.m
        L, bce = len(net.layers), net.head.loss == "bce"
        C = i.shape[0]
        rows = i.astype(np.int64)
        kink = np.zeros(C, dtype=bool)
        dJ, E_J = np.empty((C, m)), np.empty((C, m))
        last = l == L - 1
        dA, G = pool(l, "dA", (C, m)), pool(l, "G", (C, m))
        kernel.first_stage(
            self.codes[l], last and bce, *self.layers[l], rows, k.astype(np.int64),
            np.ascontiguousarray(t, dtype=np.float64), X_src, E_src, 0.0 if last else 1.0,
            dA, G, kink,
        )  # fmt: skip
        if last:
            kernel.loss(
                bce, True, *self.head, rows, dA.reshape(-1, 1), G.reshape(-1, 1), m, dJ, E_J
            )
            return dJ, E_J, kink
        q, e, abs_delta = l + 1, G, np.abs(dA)
        last = q == L - 1
        n_q = net.WT[q].shape[1]
        A_q, G_q = pool(q, "dA", (C * m, n_q)), pool(q, "G", (C * m, n_q))
        kernel.rank1_stage(
            self.codes[q],
            last and bce,
            last,
            net.WT[q],
            rows,
            dA,
            G,
            *self.layers[q],
            A_q,
            G_q,
            kink,
        )
        for q in range(l + 2, L):
            n_q = net.WT[q].shape[1]
            Z, E_Z = pool(q, "dZ", (C * m, n_q)), pool(q, "E", (C * m, n_q))
            np.matmul(A_q, net.WT[q], out=Z)
            if q == l + 2:
                M = net.M[l]
                assert M is not None
                kernel.m_bound(M[0], M[1], rows, e, abs_delta, E_Z)
            else:
                np.matmul(G_q, net.abs_WT[q], out=E_Z)
            if q == L - 1 and bce:
                A_q, G_q = Z, E_Z
                break
            extra = 0.0 if q == L - 1 else n_q + 1.0
            A_q, G_q = pool(q, "dA", (C * m, n_q)), pool(q, "G", (C * m, n_q))
            kernel.stage(self.codes[q], m, *self.layers[q], Z, E_Z, extra, A_q, G_q, kink)
        kernel.loss(bce, False, *self.head, rows, A_q, G_q, m, dJ, E_J)
        return dJ, E_J, kink


@functools.cache
def _executor() -> ThreadPoolExecutor:
    """One worker per core this process may use, kept for the process's life."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return ThreadPoolExecutor(max_workers=max(1, cores or 1), thread_name_prefix="finite_diff")


def _prepare(problem: Problem) -> tuple[_Net, list[Array], list[Array]]:
    """The network's arrays, with A^(0..L) and bounds on their forward rounding errors."""
    spec, params, m = problem.spec, problem.params, problem.batch
    fwd = forward(params, problem.X, spec.activations)
    A = [problem.X] + [A_l for _, A_l in fwd]
    errA: list[Array] = [np.zeros_like(problem.X)]
    layers: list[_Layer] = []
    for (W, b), (Z, A_l), name, A_prev in zip(params, fwd, spec.activations, A):
        absW = np.abs(W)
        errZ = (W.shape[1] + 2) * _EPS * (absW @ np.abs(A_prev) + np.abs(b)[:, None])
        errZ += absW @ errA[-1]
        errA.append(_LIPSCHITZ.get(name, 1.0) * errZ + _FORWARD_ULPS * _EPS * np.abs(A_l))
        # samples × neurons, C order: the elementwise passes run fastest on contiguous data
        layers.append(_layer(name, *(np.ascontiguousarray(a.T) for a in (Z, errZ))))
    errZ_L = errZ
    Z_L, A_L = fwd[-1]
    S, S_minus, Y = activate("sigmoid", Z_L), activate("sigmoid", -Z_L), problem.Y
    two_r = 2.0 * (A_L - Y)
    if spec.loss == "mse":  # 2 err(a) + rounding of 2(a - y)
        err_d = 2.0 * errA[-1] / _EPS + np.abs(two_r)
    else:  # |Δ(ΔH)| <= |d| |Δσ(z)| <= |d| 2σ(z)σ(-z) err(z)
        err_d = 2.0 * errZ_L / _EPS * S * S_minus
    # bce: ΔH changes with d at most at |σ(z + d) - y| <= |σ(z) - y| + σ(z)σ(-z) for |d| <= 1/4
    SY = 2.0 * (np.abs(Y * S_minus - (1.0 - Y) * S) + S * S_minus)
    head_arrays = (two_r, err_d, S, SY, Y)
    head = _Head(spec.loss, *(np.ascontiguousarray(a.T) for a in head_arrays))
    M: list[tuple[Array, Array] | None] = []
    for l in range(spec.depth):
        if l + 2 >= spec.depth:
            M.append(None)
            continue
        absW1T, absW2T = np.abs(params[l + 1][0]).T, np.abs(params[l + 2][0]).T
        n_next = absW1T.shape[1]
        slope2 = np.broadcast_to(layers[l + 1].slope2, (m, n_next))
        own = slope2 * (np.broadcast_to(layers[l + 1].K, (m, n_next)) + n_next + 1.0)
        M_e, M_delta = (  # (n_l, m, n_(l+2)), per sample (|W^(l+1)|^T factor[s]) |W^(l+2)|^T
            np.stack([(absW1T * factor[s]) @ absW2T for s in range(m)], axis=1)
            for factor in (slope2, own)
        )
        M.append((M_e, M_delta))
    WT = [np.ascontiguousarray(W.T) for W, _ in params]
    with np.errstate(divide="ignore"):
        inv_WT = [1.0 / w for w in WT]
    return _Net(WT, [np.abs(w) for w in WT], inv_WT, layers, head, M), A, errA


def compiled_available() -> bool:
    """Whether the compiled kernel can run (numba is installed: the ``fast`` extra)."""
    return _fd_kernel.AVAILABLE


def estimate(problem: Problem, *, rel_step: float = 1e-9, kernel: str = "auto") -> Estimate:
    """Central differences of J for every W and b entry of ``problem``, with error bounds.

    The step of entry θ_e is h = rel_step · max(1, |θ_e|), made smaller where it could move some
    pre-activation by more than 1/4 (an a priori bound); the module docstring gives the method
    and the error model. ``kernel``: "compiled" carries the differences in numba
    (`harness.sources._fd_kernel`), "numpy" in numpy, "auto" compiled when numba is installed;
    both give the same estimates and bounds, to rounding. Raises `SourceLimitError` unless
    0 < rel_step <= 1e-4, or for an unknown kernel or "compiled" without numba.
    """
    if isinstance(rel_step, bool) or not (
        isinstance(rel_step, float | int) and 0 < rel_step <= 1e-4
    ):
        raise SourceLimitError(f"rel_step must be a number in (0, 1e-4], got {rel_step!r}")
    if not isinstance(kernel, str) or kernel not in KERNELS:
        raise SourceLimitError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if kernel == "compiled" and not _fd_kernel.AVAILABLE:
        raise SourceLimitError(
            "kernel='compiled' needs numba: pip install 'gradcheck-harness[fast]'"
        )
    compiled = kernel == "compiled" or (kernel == "auto" and _fd_kernel.AVAILABLE)
    with one_blas_thread():
        return _estimate(problem, rel_step, _CompiledRunner if compiled else _NumpyRunner)


def _estimate(problem: Problem, rel_step: float, runner: type[_Runner]) -> Estimate:
    net, A, errA = _prepare(problem)
    params, m, run = problem.params, problem.batch, runner(net)
    grads: list[tuple[Array, Array]] = []
    bounds: list[tuple[Array, Array]] = []
    steps: list[tuple[Array, Array]] = []
    undecidable: list[tuple[Mask, Mask]] = []
    for l, (W, b) in enumerate(params):
        n_prev = W.shape[1]
        X_aug = np.vstack([A[l], np.ones((1, m))])  # x_ks: A^(l-1)[k, s], and 1 for the bias
        E_unit = np.vstack([errA[l] / _EPS + np.abs(A[l]), np.ones((1, m))])
        theta = np.hstack([W, b[:, None]])
        H = rel_step * np.maximum(1.0, np.abs(theta))
        H *= _step_scale(float(H.max() * np.abs(X_aug).max()), l, params, problem.spec)
        C = run.chunk(l)
        entries = theta.size * len(_STEPS)
        dJ, E_J, kink = np.empty(entries), np.empty(entries), np.zeros(entries, dtype=bool)

        chunks = [np.arange(p0, min(p0 + C, entries)) for p0 in range(0, entries, C)]
        job = functools.partial(_entries, run, l, n_prev, H, X_aug, E_unit)
        for p, (dJ_p, E_J_p, kink_p) in zip(chunks, run.map(job, chunks)):
            dJ[p], E_J[p], kink[p] = dJ_p, E_J_p, kink_p
        D, rounding = _central(dJ.reshape(*theta.shape, 2), E_J.reshape(*theta.shape, 2), H)
        u = H.max(axis=1)[:, None] * np.abs(X_aug).max(axis=0)[None, :]  # u_is >= |h x_ks|
        psi3 = _third_derivative_bound(run, l, u, C)
        truncation = H**2 / 3.0 * (psi3 @ (np.abs(X_aug) ** 3).T)
        bound = rounding + truncation + _UNDERFLOW / H
        unsure: Mask = np.logical_or.reduce(kink.reshape(*theta.shape, 2), axis=2)
        bound = np.where(unsure | ~np.isfinite(D) | ~np.isfinite(bound), np.inf, bound)
        D = np.where(np.isfinite(D), D, 0.0)
        for out, value in ((grads, D), (bounds, bound), (steps, H)):
            out.append((value[:, :n_prev].copy(), value[:, n_prev].copy()))
        undecidable.append((unsure[:, :n_prev].copy(), unsure[:, n_prev].copy()))
    return Estimate(grads, bounds, undecidable, steps)


def _entries(
    run: _Runner, l: int, n_prev: int, H: Array, X_aug: Array, E_unit: Array, p: Index
) -> tuple[Array, Array, Mask]:
    """Perturbations p of layer l's (W | b), 2 per entry (-h, +h), through ``run``: ΔJ and its
    bound summed over the samples (so a chunk's result is small while others are computed)."""
    entry, step = np.divmod(p, len(_STEPS))
    i, k = np.divmod(entry, n_prev + 1)
    dJ, E_J, kink = run(l, i, k, _STEPS[step] * H[i, k], X_aug, E_unit)
    return dJ.sum(axis=1), E_J.sum(axis=1), kink


def _central(dJ: Array, E_J: Array, H: Array) -> tuple[Array, Array]:
    """D = (ΔJ(+h) - ΔJ(-h))/(2h) and the bound on its rounding error."""
    dJm, dJp, Em, Ep = dJ[..., 0], dJ[..., 1], E_J[..., 0], E_J[..., 1]
    D = (dJp - dJm) / (2.0 * H)
    return D, _EPS * ((Em + Ep + np.abs(dJp) + np.abs(dJm)) / (2.0 * H) + 2.0 * np.abs(D))


def _third_derivative_bound(run: _Runner, l: int, u: Array, C: int) -> Array:
    """|ψ_is'''| + its rounding bound for every row i and sample s of Z^(l) (n_l, m).

    Row i moves by a different v = step · u_is in each sample at once; samples do not interact,
    so the per-sample loss differences are the ψ_is(v) themselves.
    """
    n_l, m = u.shape
    total = n_l * len(_AUX_STEPS)
    psi, E_psi = np.empty((total, m)), np.empty((total, m))
    no_error = np.zeros_like(u)

    def rows_of(p: Index) -> tuple[Array, Array, Mask]:
        i, step = np.divmod(p, len(_AUX_STEPS))
        return run(l, i, i, _AUX_STEPS[step], u, no_error)

    chunks = [np.arange(p0, min(p0 + C, total)) for p0 in range(0, total, C)]
    for p, (psi_p, E_psi_p, _) in zip(chunks, run.map(rows_of, chunks)):
        psi[p], E_psi[p] = psi_p, E_psi_p
    psi, E_psi = psi.reshape(n_l, -1, m), E_psi.reshape(n_l, -1, m)
    v3 = 2.0 * (u / 2.0) ** 3
    psi3 = np.abs(np.einsum("k,iks->is", _AUX_WEIGHTS, psi)) / v3
    error = np.einsum("k,iks->is", np.abs(_AUX_WEIGHTS), E_psi + 2.0 * np.abs(psi)) / v3
    bound: Array = psi3 + _EPS * error + 4.0 * _EPS * psi3
    return bound


def _step_scale(
    dz_max: float, l: int, params: Sequence[tuple[Array, Array]], spec: NetworkSpec
) -> float:
    """The factor (<= 1) that keeps every pre-activation change <= 1/4, from the largest change
    dz_max of Z^(l) and, downstream, ||W||_inf times the activation's largest slope."""
    worst = dz_max
    for q in range(l + 1, len(params)):
        dz_max *= _LIPSCHITZ.get(spec.activations[q - 1], 1.0) * float(
            np.abs(params[q][0]).sum(axis=1).max()
        )
        worst = max(worst, dz_max)
    return min(1.0, _MAX_DZ / worst)


def gradients(problem: Problem) -> list[tuple[Array, Array]]:
    """The central-difference estimate ``[(dW1, db1), ...]`` (see `estimate` for its bounds)."""
    return estimate(problem).grads
