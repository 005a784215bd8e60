"""The identities that couple the outputs of a sample: a softmax output layer and the
cross_entropy head, for `harness.sources.finite_diff` (its docstring gives the method and the
error model; `carry` calls these).

Both rest on the normalizer's relative change s = Σ_j a_j expm1(Δz_j) (the change of Σ_j e^(z_j)
without forming it), and both stay free of cancellation when one output saturates: with a_t the
largest output of a sample ("top") and r = Σ_(j != t) a_j (= 1 - a_t, but summed, so exact to a
few ulps even when a_t rounds to 1), x_t - s = r x_t - Σ_(j != t) a_j x_j is formed from the
small terms only. Every bound below is in eps, per (perturbation, sample, output) unless summed.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from harness.network import Array
from harness.sources.finite_diff.identities import _EPS, Mask, _dot, _Layer, _softmax_rounding


def _top(a: Array) -> tuple[Mask, Array, Array, Array]:
    """Per sample (the last axis holds the outputs): the one-hot mask of the largest output, a
    with it zeroed, r = Σ of the others, and a_t (both with a kept axis)."""
    top = np.zeros(a.shape, dtype=bool)
    np.put_along_axis(top, np.argmax(a, axis=-1)[..., None], True, axis=-1)
    a_rest = np.where(top, 0.0, a)
    r = np.sum(a_rest, axis=-1, keepdims=True)
    return top, a_rest, r, np.sum(a, axis=-1, keepdims=True, where=top)


class _Normalizer(NamedTuple):
    """For x = expm1(Δz) (C, m, n) against a (1, m, n): the top's mask, a_rest, r, a_t; x_t,
    s_rest = Σ_(j != t) a_j x_j, s; the numerator x - s with its top entry r x_t - s_rest; and T,
    the magnitude of the terms that form it (its rounding is (n + 3) eps of T at most)."""

    top: Mask
    a_rest: Array
    r: Array
    a_top: Array
    x_top: Array
    s: Array
    num: Array
    T: Array


def _normalizer(a: Array, x: Array) -> _Normalizer:
    n = x.shape[2]
    top, a_rest, r, a_top = _top(a)
    x_top = np.sum(x, axis=2, keepdims=True, where=top)
    s_rest = _dot(x, a_rest)[..., None]
    s = s_rest + a_top * x_top
    num = x - s
    np.copyto(num, r * x_top - s_rest, where=np.broadcast_to(top, num.shape))
    abs_x = np.abs(x)
    S1_rest = _dot(abs_x, a_rest)[..., None]
    T = abs_x + (n + 3.0) * (S1_rest + a_top * np.abs(x_top))
    np.copyto(T, (n + 3.0) * (r * np.abs(x_top) + S1_rest), where=np.broadcast_to(top, T.shape))
    return _Normalizer(top, a_rest, r, a_top, x_top, s, num, T)


def _a_rounding(
    rho: Array, top: Mask, a_rest: Array, a_top: Array, x: Array, x_top: Array
) -> Array:
    """How far the numerator x_k - s moves when each a_j moves by ρ_j a_j (its forward
    rounding): through s for k != t, through r and s_rest for k = t."""
    abs_x = np.abs(x)
    rho_rest = rho * a_rest
    rho_x_rest = _dot(abs_x, rho_rest)[..., None]
    rho_top = np.sum(rho, axis=2, keepdims=True, where=top)
    others = rho_x_rest + rho_top * a_top * np.abs(x_top)
    at_top = np.abs(x_top) * np.sum(rho_rest, axis=2, keepdims=True) + rho_x_rest
    out: Array = np.where(top, at_top, others)
    return out


def _weighted(v: Array, top: Mask, a_rest: Array, r: Array) -> Array:
    """Σ_j |δ_kj - a_j| v_j for every k, given v >= 0 (C or 1, m, n): r v_t + Σ_(j != t) a_j v_j
    at the top, and the bound v_k + Σ_(j != t) a_j v_j + v_t elsewhere (|δ_kj - a_j| <= 1)."""
    v_top = np.sum(v, axis=2, keepdims=True, where=top)
    v_rest = _dot(v, a_rest)[..., None]
    out: Array = np.where(top, r * v_top + v_rest, v + v_rest + v_top)
    return out


def _softmax_difference(
    layer: _Layer, dZ: Array, E_Z: Array | None, extra: float | None
) -> tuple[Array, Array, None]:
    """softmax(z + Δz) - softmax(z) per sample, a_k (x_k - s) / (1 + s), x = expm1(Δz), with the
    top's numerator r x_t - s_rest: every output of a sample changes when one z does; dZ
    (C, m, n) holds the whole layer. ``layer``: P = a, Q = z's forward error (eps), K = ρ.

    G: the Jacobian a'_k(δ_kj - a'_j) <= e a_k |δ_kj - a_j| on E, twice; the numerator's
    rounding ((n + 3) T), the division's and extra's (n + 4 + extra)|ΔA|; a's own rounding ρ
    (directly, and in the numerator, `_a_rounding`, times 1/(1 + s) <= 1.3); and what z's
    forward error e does, through the second derivative a_k[(δ_ki - a_i)(δ_kj - a_j) -
    a_j(δ_ij - a_i)], <= a_k(u_k v_k + Σ_j a_j |d_j| u_j) with u, v the |δ - a|-weighted sums of
    e and |d| (e^(3/2) along the way, twice).
    """
    a, e, rho = layer.P, layer.Q, layer.K
    x = np.expm1(dZ)
    N = _normalizer(a, x)
    dA: Array = a * N.num / (1.0 + N.s)
    if extra is None:
        return dA, dA, None
    n = dZ.shape[2]
    abs_dA, abs_d = np.abs(dA), np.abs(dZ)
    rho_x = _dot(np.abs(x), rho * a)[..., None]  # a's rounding in s: 1 + s, relative
    G: Array = 2.0 * a * N.T + (n + 4.0 + extra + rho + 1.3 * rho_x) * abs_dA
    G += 1.3 * a * _a_rounding(rho, N.top, N.a_rest, N.a_top, x, N.x_top)
    u = _weighted(e, N.top, N.a_rest, N.r)
    v = _weighted(abs_d, N.top, N.a_rest, N.r)
    G += 9.0 * a * (u * v + _dot(abs_d, a * u)[..., None])
    if E_Z is not None:
        G += 2.0 * math.e * a * _weighted(E_Z, N.top, N.a_rest, N.r)
    return dA, G, None


def _cross_entropy_arrays(Z: Array, A: Array, errZ: Array, Y: Array) -> tuple[Array, ...]:
    """The cross_entropy head's SY, err_d, ρ and Σy (see `_cross_entropy_difference`) from the
    softmax output A, Z, Z's forward error and Y (all outputs × samples, and so the results)."""
    a, e, y = (np.ascontiguousarray(M.T) for M in (A, errZ / _EPS, Y))  # samples × outputs
    top, a_rest, r, _ = _top(a)
    sum_y = np.sum(y, axis=1, keepdims=True)
    # ΔC's slope in d_k is a'_k Σy - y_k, and |a'_k - a_k| <= (e^(1/2) - 1) min(a_k, 1 - a_k)
    SY = 2.0 * (np.abs(a * sum_y - y) + 1.65 * sum_y * np.minimum(a, r))
    # z's error e moves ΔC by Σy Σ_j e_j |a'_j - a_j| <= e Σy Σ_k |d_k| a_k Σ_j |δ_kj - a_j| e_j
    err_d = 2.0 * math.e * sum_y * a * _weighted(e[None], top[None], a_rest[None], r[None])[0]
    rho = _softmax_rounding(Z.T, axis=1)
    return tuple(M.T for M in (SY, err_d, rho, np.broadcast_to(sum_y, a.shape)))


def _cross_entropy_difference(
    S: Array, Y: Array, SY: Array, err_d: Array, rho: Array, d: Array, E: Array, n_terms: int
) -> tuple[Array, Array]:
    """ΔC = -y·d + (Σy) Δlogsumexp = Σ_k y_k log1p(q_k), q_k = (s - x_k) / (1 + x_k), x =
    expm1(d): (1 + s) e^(-d_k) - 1 without forming logsumexp, with the top's r x_t - s_rest (all
    outputs of a sample: d (C, m, n); S = a). Per (perturbation, sample), not yet divided.

    Bound: E through ΔC's slope (SY); q's rounding (numerator (n + 3) T, division) and a's
    (`_a_rounding`) through log1p (1/(1 + x) <= 1.3, 1/(1 + q) <= e^(1/2)), log1p's own; the
    sum over outputs and samples (n_terms + 3); what z's forward error does (err_d).
    """
    x = np.expm1(d)
    N = _normalizer(S, x)
    q = -N.num / (1.0 + x)  # s - x_k
    L = np.log1p(q)
    dJ = _dot(L, Y)
    a_err = _a_rounding(rho, N.top, N.a_rest, N.a_top, x, N.x_top)
    per_output = 2.2 * (N.T + a_err) + 5.0 * np.abs(q)
    per_output += (n_terms + 4.0) * np.abs(L)
    E_J = _dot(E, SY) + _dot(np.abs(d), err_d) + _dot(per_output, Y)
    return dJ, E_J
