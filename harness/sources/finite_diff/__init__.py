"""Finite differences: a central difference for every parameter, each with an error bound.

Method. For parameter θ_e with step h, D_e = (ΔJ(+h) - ΔJ(-h)) / (2h), ΔJ(t) = J(θ + t e) - J(θ);
but J(θ + t e) is never formed and subtracted: the *difference* is carried through the layers.
Perturbing W^(l)[i, k] by t changes only row i of Z^(l), by t A^(l-1)[k, :] (b^(l)[i]: by t).
Each activation turns ΔZ into ΔA with a difference identity free of cancellation (`identities`):

    tanh      tanh(z+d) - tanh(z) = sech²(z) / (coth(d) + tanh(z))          (addition theorem)
    sigmoid   σ(z+d) - σ(z)       = 2σ(z)σ(-z) / (coth(d/2) + tanh(z/2))    (the same, on z/2)
    softplus  sp(z+d) - sp(z)     = log1p(σ(z) expm1(d))
    elu       d for z > 0;  e^(z+d) - e^z = e^z expm1(d) for z <= 0
    silu      (z+d)σ(z+d) - zσ(z) = (z + d) Δσ + d σ(z), Δσ by sigmoid's identity
    gelu      (z+d)Φ(z+d) - zΦ(z) = (z + d) ΔΦ + d Φ(z), ΔΦ = d φ(z) ∫_0^1 e^-(z d s + d²s²/2) ds
              by its Taylor series for tiny z d, else Gauss-Legendre (errors below eps/8); for
              |z d| > 1 two tail values (erfc)
    relu, leaky_relu(α)  d times the slope of z's piece (z + d on the same side); identity  d
    softmax   a_k (expm1(Δz_k) - s) / (1 + s), s = Σ_j a_j expm1(Δz_j): the normalizer's
              relative change; every output of the sample moves when one z does. The largest
              output's numerator is r x_t - Σ_(j≠t) a_j x_j, r = Σ_(j≠t) a_j (`coupled`): no
              cancellation when it saturates

Layer l+1 changes by the rank-1 W^(l+1)[:, i] ⊗ ΔA^(l)_i (and coth of it is rank-1 too, via
coth x = 1/x + x/3 + O(x³)); from layer l+2 on, chunks of perturbations go through GEMMs. The
losses (`carry`): mse (a+Δa-y)² - (a-y)² = Δa (2(a-y) + Δa); bce sp(z+Δz) - sp(z) - y Δz on
Z^(L); cross_entropy -y·Δz + (Σy) log1p(Σ_k a_k expm1(Δz_k)) on Z^(L) (the change of
logsumexp, never formed), as Σ_k y_k log1p((s - x_k) / (1 + x_k)) so that it does not cancel
when the output fits y. Each is divided by the loss's divisor (`NetworkSpec.divisor`: the
reduction, and half). The L2 term's difference is exact, (l2/2)((w+h)² - (w-h)²)/(2h) = l2 w,
and is added with its rounding. ΔJ(+h) ≈ gh and ΔJ(-h) ≈ -gh: the last subtraction cannot cancel
either. Nothing here differentiates anything.

Error model: bound = rounding + truncation, per entry.

- Rounding. Each carried difference comes with E, a running bound on its absolute rounding
  error in eps = 2^-52. A GEMM adds (n+1)|W||ΔA| and passes |W|E on; an activation passes E
  on times twice its identity's slope at z (valid while |ΔZ| <= 1/4, which the step ensures)
  and adds 16 eps relative, plus what the forward pass's error on z (<= (n+2) eps (|W||A| +
  |b|) + |W| err(A)) does to that slope. silu and gelu add R|ΔZ| instead: their two terms
  cancel where g' vanishes, so their rounding is relative to ΔZ, not ΔA (gelu's includes
  erfc's magnification of its rounded argument, ~z² eps). softmax has its own: E through its
  coupled Jacobian, its normalizer's sum, the rounding of a. The loss sum adds (n_L m + 3)
  Σ|Δhead|. Then |D - exact quotient| <= eps ((E(+h) + E(-h) + |ΔJ(+h)| + |ΔJ(-h)|)/(2h)
  + 2|D|): it scales like ΔJ/h, so it does not grow as h shrinks.
- Truncation h²f'''/6 + O(h⁴). Samples are independent, so exactly J(θ + t e) - J(θ) =
  Σ_s ψ_is(t x_ks) (+ the L2 term, which has none), ψ_is(v) = the change of J when
  Z^(l)[i, s] alone moves by v (x_ks = A^(l-1)[k, s], or 1 for b): f''' = Σ_s x_ks³ ψ_is'''(0).
  ψ_is''' is a third difference of the same carried kind, steps ±u/2, ±u with u_is >= |h x_ks|,
  plus its rounding bound; the term is 2 h²/6 Σ_s |x_ks|³ (|ψ_is'''| + error). Like
  Richardson's |D(2h) - D(h)|/3, it assumes ψ''' changes little within ±u.

Step. h = rel_step max(1, |θ_e|), rel_step = 1e-9, shrunk where an a priori bound says a step
could move a pre-activation by more than 1/4. Rounding does not depend on h and truncation falls
as h², so small is good: truncation is then negligible unless |f'''/f'| > ~1e4/h² (deep,
saturated nets, where its term shows it), differences stay far from underflow (a floor of
2^-960/h covers subnormals), and the band around a ReLU kink that makes entries undecidable is
only ~1e-9 |θ_e| wide.

Kinks. An entry is undecidable if one of its steps moves a relu/leaky_relu(α) pre-activation at
or after its layer by at least |z| minus the forward error bound of z: across 0, onto 0, or off
a z whose sign float64 cannot vouch for. elu's 0 counts too: elu is C¹ there, so the quotient
still converges, but elu'' jumps, the truncation term's assumption (ψ''' smooth within the
step) fails, and no bound is vouched for (a z within ~1e-9 of 0: rare). Its grads are the
quotient for the pieces z lies on at θ (finite), its bound +inf. A quotient that is not finite
(absurd weights) gives 0, bound +inf.

Kernels. `kernel` compiles the carry for tanh, sigmoid, softplus, identity, relu and
leaky_relu(α) with mse or bce (the conventions of the speed goal); elu, silu, gelu, softmax and
cross_entropy are carried by the numpy path only: ``kernel="auto"`` runs numpy for them, and
``kernel="compiled"`` refuses them (`SourceLimitError`). Reductions, half and l2 run on both.

Layout: this module is the estimate and its error model; `identities` holds the activations'
difference identities, `coupled` those of softmax and cross_entropy (a sample's outputs
together), `carry` the loss identities and the numpy carry, `kernel` the same stages compiled
with numba (optional), and `runners` how chunks of perturbations go through one or the other.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from harness.errors import SourceLimitError
from harness.network import Array, activate, forward
from harness.sources.finite_diff import kernel as _fd_kernel
from harness.sources.finite_diff.carry import _Head, _Net
from harness.sources.finite_diff.coupled import _cross_entropy_arrays
from harness.sources.finite_diff.identities import (
    _EPS,
    _MAX_DZ,
    _UNDERFLOW,
    Index,
    Mask,
    _forward_error,
    _Layer,
    _layer,
    _lipschitz,
)
from harness.sources.finite_diff.runners import (
    _CompiledRunner,
    _NumpyRunner,
    _Runner,
    outside_kernel,
)
from harness.spec import NetworkSpec, Problem
from harness.threads import one_blas_thread

__all__ = ["KERNELS", "Estimate", "compiled_available", "estimate", "gradients"]

#: ``estimate(kernel=...)``: "compiled" (numba, the ``fast`` extra), "numpy", or "auto" (compiled
#: when numba is installed and the kernel carries the problem's conventions, else numpy).
KERNELS: Final = ("auto", "compiled", "numpy")
_STEPS: Final = np.array([-1.0, 1.0])  # ΔJ(-h), ΔJ(+h)
_AUX_STEPS: Final = np.array([-1.0, -0.5, 0.5, 1.0])  # ψ(-u), ψ(-u/2), ψ(u/2), ψ(u)
_AUX_WEIGHTS: Final = np.array([-1.0, 2.0, -2.0, 1.0])  # ψ''' ≈ Σ w ψ / (2 (u/2)³)


@dataclass(frozen=True)
class Estimate:
    """Central differences for every parameter, each with its error bound.

    ``grads``, ``bound``, ``undecidable`` and ``step`` are ``[(W1-like, b1-like), ...]`` with the
    parameters' exact shapes: the estimate (float64), an upper bound on |estimate - dJ/dθ| (+inf
    where undecidable), True where a step crosses a ReLU-type kink or elu's 0, and each entry's
    step h.
    """

    grads: list[tuple[Array, Array]]
    bound: list[tuple[Array, Array]]
    undecidable: list[tuple[Mask, Mask]]
    step: list[tuple[Array, Array]]


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
        errA.append(_forward_error(name, Z, errZ, A_l))
        # samples × neurons, C order: the elementwise passes run fastest on contiguous data
        layers.append(_layer(name, *(np.ascontiguousarray(a.T) for a in (Z, errZ))))
    head = _head(spec, m, fwd[-1], errZ, errA[-1], problem.Y)
    M: list[tuple[Array, Array] | None] = []
    for l in range(spec.depth):
        if l + 2 >= spec.depth:
            M.append(None)
            continue
        absW1T, absW2T = np.abs(params[l + 1][0]).T, np.abs(params[l + 2][0]).T
        n_next = absW1T.shape[1]
        nxt = layers[l + 1]
        slope2 = np.broadcast_to(nxt.slope2, (m, n_next))
        own = slope2 * (np.broadcast_to(nxt.K, (m, n_next)) + n_next + 1.0) + nxt.R
        M_e, M_delta = (  # (n_l, m, n_(l+2)), per sample (|W^(l+1)|^T factor[s]) |W^(l+2)|^T
            np.stack([(absW1T * factor[s]) @ absW2T for s in range(m)], axis=1)
            for factor in (slope2, np.broadcast_to(own, (m, n_next)))
        )
        M.append((M_e, M_delta))
    WT = [np.ascontiguousarray(W.T) for W, _ in params]
    with np.errstate(divide="ignore"):
        inv_WT = [1.0 / w for w in WT]
    return _Net(WT, [np.abs(w) for w in WT], inv_WT, layers, head, M), A, errA


def _head(
    spec: NetworkSpec, m: int, last: tuple[Array, Array], errZ: Array, errA: Array, Y: Array
) -> _Head:
    """The loss identity's arrays (outputs × samples in, samples × outputs out): see `_Head`.
    errZ, errA: the forward errors of Z^(L) and A^(L)."""
    Z_L, A_L = last
    loss, divisor = spec.loss.name, spec.divisor(m)
    two_r = 2.0 * (A_L - Y)
    extra: tuple[Array, ...] = ()
    if loss in ("mse", "bce"):
        S, S_minus = activate("sigmoid", Z_L), activate("sigmoid", -Z_L)
        if loss == "mse":  # 2 err(a) + rounding of 2(a - y)
            err_d = 2.0 * errA / _EPS + np.abs(two_r)
        else:  # |Δ(ΔH)| <= |d| |Δσ(z)| <= |d| 2σ(z)σ(-z) err(z)
            err_d = 2.0 * errZ / _EPS * S * S_minus
        # bce: ΔH changes with d at most at |σ(z + d) - y| <= |σ(z) - y| + σ(z)σ(-z) for |d| <= 1/4
        SY = 2.0 * (np.abs(Y * S_minus - (1.0 - Y) * S) + S * S_minus)
    elif loss == "cross_entropy":  # softmax output: S = a
        S = A_L
        SY, err_d, rho, sum_y = _cross_entropy_arrays(Z_L, A_L, errZ, Y)
        extra = (rho, sum_y)
    else:
        raise ValueError(f"finite_diff has no loss identity for {loss!r}")
    arrays = (two_r, err_d, S, SY, Y, *extra)
    return _Head(loss, divisor, *(np.ascontiguousarray(a.T) for a in arrays))


def compiled_available() -> bool:
    """Whether the compiled kernel can run (numba is installed: the ``fast`` extra)."""
    return _fd_kernel.AVAILABLE


def estimate(problem: Problem, *, rel_step: float = 1e-9, kernel: str = "auto") -> Estimate:
    """Central differences of J for every W and b entry of ``problem``, with error bounds.

    The step of entry θ_e is h = rel_step · max(1, |θ_e|), made smaller where it could move some
    pre-activation by more than 1/4 (an a priori bound); the module docstring gives the method
    and the error model. ``kernel``: "compiled" carries the differences in numba (its `kernel`
    module; tanh, sigmoid, softplus, identity, relu and leaky_relu(α) with mse or bce), "numpy"
    in numpy (every convention), "auto" compiled when numba is installed and the kernel carries
    the problem's conventions, numpy otherwise; both give the same estimates and bounds, to
    rounding. Raises `SourceLimitError` unless 0 < rel_step <= 1e-4, for an unknown kernel, for
    "compiled" without numba or on a convention only numpy carries (elu, silu, gelu, softmax,
    cross_entropy); ValueError for an activation or loss with no identity here.
    """
    if isinstance(rel_step, bool) or not (
        isinstance(rel_step, float | int) and 0 < rel_step <= 1e-4
    ):
        raise SourceLimitError(f"rel_step must be a number in (0, 1e-4], got {rel_step!r}")
    if not isinstance(kernel, str) or kernel not in KERNELS:
        raise SourceLimitError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if kernel == "compiled" and not _fd_kernel.AVAILABLE:
        raise SourceLimitError(
            "kernel='compiled' needs numba: pip install numba (or, in the harness's clone, "
            "pip install '.[fast]')"
        )
    outside = outside_kernel(problem.spec)
    if kernel == "compiled" and outside is not None:
        raise SourceLimitError(
            f"kernel='compiled' does not carry {outside}: use kernel='auto' (which runs the "
            f"numpy path for it) or kernel='numpy'"
        )
    compiled = kernel == "compiled" or (
        kernel == "auto" and _fd_kernel.AVAILABLE and outside is None
    )
    with one_blas_thread():
        return _estimate(problem, rel_step, _CompiledRunner if compiled else _NumpyRunner)


def _estimate(problem: Problem, rel_step: float, runner: type[_Runner]) -> Estimate:
    net, A, errA = _prepare(problem)
    params, m, run, l2 = problem.params, problem.batch, runner(net), problem.spec.l2
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
        if l2:  # + l2 w, the L2 term's exact quotient: its rounding, and the sum's
            decay = l2 * W
            D_W = D[:, :n_prev] + decay
            rounding[:, :n_prev] += _EPS * (np.abs(decay) + np.abs(D_W))
            D[:, :n_prev] = D_W
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
        dz_max *= _lipschitz(spec.activations[q - 1]) * float(
            np.abs(params[q][0]).sum(axis=1).max()
        )
        worst = max(worst, dz_max)
    return min(1.0, _MAX_DZ / worst)


def gradients(problem: Problem) -> list[tuple[Array, Array]]:
    """The central-difference estimate ``[(dW1, db1), ...]`` (see `estimate` for its bounds)."""
    return estimate(problem).grads
