"""The numpy path of `harness.sources.finite_diff`: the loss identities (`_Head`,
`_loss_difference`) and `_carry`, which takes a chunk of perturbations through the layers with the
activations' identities (`identities`, softmax's in `coupled`) and ends in the loss's. The
package docstring gives the method and the error model; `kernel` compiles the same stages for
the conventions it carries (`runners.outside_kernel`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Final

import numpy as np

from harness.network import LOSSES, Array
from harness.sources.finite_diff.coupled import _cross_entropy_difference, _softmax_difference
from harness.sources.finite_diff.identities import (
    _IDENTITY_ULPS,
    Index,
    Mask,
    _coth_rank1,
    _difference,
    _dot,
    _Layer,
    _Pool,
    _take,
)

#: Losses whose identity works on ΔZ^(L) instead of ΔA^(L).
_ON_Z: Final = frozenset({"bce", "cross_entropy"})


def _constant() -> Array:
    return np.zeros((1, 1))


@dataclass(frozen=True)
class _Head:
    """The loss identity's arrays, samples × outputs, and the loss's divisor (`Loss.divisor`).

    mse: two_r = 2(a - y); err_d the error of ΔH per unit |d| (eps) of 2(a - y).
    bce: S = σ(z), Y and SY, twice a bound on ΔH's slope in d (for E); err_d, of z times the
    slope's change. cross_entropy (softmax output): S = a, Y, SY likewise, rho = ρ (a's relative
    rounding, eps), sum_y = Σ_k y_k (repeated over the outputs), err_d what z's forward error
    does per unit |d_k| (`coupled._cross_entropy_arrays`). ``loss`` is one of
    `harness.network.LOSSES` (else ValueError).
    """

    loss: str
    divisor: float
    two_r: Array
    err_d: Array
    S: Array
    SY: Array
    Y: Array
    rho: Array = field(default_factory=_constant)
    sum_y: Array = field(default_factory=_constant)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"finite_diff has no loss identity for {self.loss!r}")

    @property
    def on_z(self) -> bool:
        """The identity takes ΔZ^(L) (bce, cross_entropy), not ΔA^(L) (mse)."""
        return self.loss in _ON_Z

    @property
    def coupled(self) -> bool:
        """Every output of a sample enters one term (cross_entropy's normalizer)."""
        return self.loss == "cross_entropy"

    def take(self, i: Index | None) -> _Head:
        arrays = (self.two_r, self.err_d, self.S, self.SY, self.Y, self.rho, self.sum_y)
        return _Head(self.loss, self.divisor, *(_take(a, i) for a in arrays))

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
    #: of ΔA^(l)[i, s]; M[l][1] the same with slope2 (K + n_(l+1) + 1) + R per unit of
    #: |ΔA^(l)[i, s]| (that layer's own rounding and its GEMM's, as |ΔA^(l+1)| <= slope2
    #: |ΔZ^(l+1)| and |ΔZ^(l+1)| = |W^(l+1)[:, i]| |ΔA^(l)[i, s]|).
    M: list[tuple[Array, Array] | None]

    @property
    def whole_last_layer(self) -> bool:
        """A change of one Z^(L) entry moves every output of its sample (softmax output, or the
        cross_entropy head): perturbations of layer L are carried over all its rows."""
        return self.layers[-1].name == "softmax" or self.head.coupled


def _loss_difference(head: _Head, d: Array, E: Array, pool: _Pool) -> tuple[Array, Array]:
    """ΔJ per perturbation and sample from ΔA^(L) (mse) or ΔZ^(L) (bce, cross_entropy), and its
    bound in eps; both divided by the loss's divisor.

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
    elif head.loss == "bce":  # ΔH = sp(z + d) - sp(z) - y d
        sp = np.expm1(d, out=pool(-1, "sp", d.shape))
        sp *= head.S
        np.log1p(sp, out=sp)
        dJ = np.sum(sp, axis=2) - _dot(d, head.Y)
        # Σ SY E + 16 |sp| + |y d| + (n_terms + 2)(|sp| + |y d|) + err_d |d|
        abs_sp = np.abs(sp, out=sp)
        E_J = _dot(E, head.SY) + (_IDENTITY_ULPS + n_terms + 2) * np.sum(abs_sp, axis=2)
        E_J += _dot(abs_d, (n_terms + 3) * head.Y + head.err_d)
    elif head.loss == "cross_entropy":
        dJ, E_J = _cross_entropy_difference(
            head.S, head.Y, head.SY, head.err_d, head.rho, d, E, n_terms
        )
    else:  # pragma: no cover  (_Head checks its loss)
        raise AssertionError(f"no loss identity for {head.loss!r}")
    return dJ / head.divisor, E_J / head.divisor


def _spread(x: Array, i: Index, n: int) -> Array:
    """(C, m, 1) changes of rows i -> (C, m, n), zero elsewhere: every row of the layer."""
    out = np.zeros((x.shape[0], x.shape[1], n))
    out[np.arange(x.shape[0]), :, i] = x[:, :, 0]
    return out


def _carry(
    net: _Net, l: int, i: Index, dZ: Array, E_Z: Array, pool: _Pool
) -> tuple[Array, Array, Mask]:
    """Per perturbation and sample, ΔJ and its bound (eps), for changes ΔZ (C, m, 1) of rows i
    of Z^(l) with error bounds E_Z; and per perturbation whether it crosses a kink."""
    L, on_z = len(net.layers), net.head.on_z
    C, m = dZ.shape[:2]
    kink = np.zeros(C, dtype=bool)
    whole = l == L - 1 and net.whole_last_layer
    if whole:
        n_L = net.WT[-1].shape[1]
        dZ, E_Z = _spread(dZ, i, n_L), _spread(E_Z, i, n_L)
    dA, G, e, abs_delta = dZ, E_Z, E_Z, E_Z
    E_Z_q: Array | None = E_Z
    for q in range(l, L):
        n_q = net.WT[q].shape[1]
        coth = None
        if q == l + 1:  # rank-1: ΔZ^(l+1) = ΔA^(l)_i ⊗ W^(l+1)[:, i]
            w = net.WT[q][i][:, None, :]
            kind = net.layers[q].name
            if kind in ("tanh", "sigmoid") and not (q == L - 1 and on_z):
                c = 1.0 if kind == "tanh" else 0.5
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
        if q == L - 1 and on_z:
            break  # the loss identity works on ΔZ^(L)
        extra: float | None = 0.0 if q == L - 1 else (1.0 if q == l else n_q + 1.0)
        if q == l + 1 and q < L - 1:
            extra = None  # this layer's error reaches ΔZ^(l+2) through M
        layer = net.layers[q].take(i) if q == l and not whole else net.layers[q].full
        if layer.name == "softmax":  # the output layer (so extra is 0.0, and no coth)
            dA, G, q_kink = _softmax_difference(layer, dZ, E_Z_q, extra)
        else:
            dA, G, q_kink = _difference(layer, dZ, E_Z_q, extra, pool, q, coth)
        if q_kink is not None:
            kink |= q_kink
    E: Array | None = E_Z_q if on_z else G
    assert E is not None  # on ΔZ^(L): E_Z of the last layer is always formed
    head = net.head.take(i) if l == L - 1 and not whole else net.head.full
    return (*_loss_difference(head, dZ if on_z else dA, E, pool), kink)
