"""The rounding model: how far any backprop of a problem, run in a given format, may be from the
exact gradient, entry by entry — every rounding counted once, then accumulated two ways.

A backprop is a fixed sequence of operations. To first order its error is ``Σ_r c_r δ_r``: one
term per rounding r (|δ_r| <= u, or ``c_fn·u`` for a library function such as exp or tanh), with
``c_r`` how much that rounding moves the entry (its value times the derivative of the rest of
the computation). Two numbers per entry bound that sum, both carried forward through the
forward pass, the loss head and the backward pass in units of u (`Err`):

- ``w``, the worst case: ``Σ_r |c_r|``. Each rounding enters once where it happens and is then
  carried by the chain rule on absolute values (|W| applied to the error of A, |g'| to the
  error of Z, |g''| to the error a slope inherits from its argument, ...). Nothing is widened
  twice: the error of A is counted in A's error, not again as a wider |A| in the products.
- ``s``, the spread: an upper bound on ``(Σ_r c_r²)^½``. A sum of n terms adds at most n
  roundings, each at most the sum of the |terms|: ``√n`` of it in ``s`` (``n`` in ``w``).
  Carried errors combine by the triangle inequality (``|W|`` applied to s), which holds however
  the carried errors are correlated.

Under the probabilistic model of rounding (Higham & Mary, "A new approach to probabilistic
rounding error analysis", SISC 2019: the δ_r are independent, or mean-independent, with mean 0
and |δ_r| <= u), Hoeffding's inequality gives ``P(|Σ_r c_r δ_r| > λ u s) <= 2 exp(-λ²/2)``. The
bound per entry is therefore

    bound = u · min(w, λ · s) + (half an ulp of the result when the candidate rounds it to a
            format narrower than float64) + a floor for underflow,

with λ = 9: a false alarm on a correct backprop has probability at most 2e^(-40.5) ≈ 5e-18 per
entry under that model (≈ 5e-11 over a soak of 10,000 problems of 1,000 entries), and never more
than the first-order worst case ``w`` allows. ``w`` is the smaller for short sums (n < λ² = 81);
``λ s`` for the wide layers of large nets.

The "usual formulas" a backprop forms its values from set what each rounding is relative to
(`harness.tolerance.functions`: 1 - tanh² rounds relative to 1 + tanh², not to its tiny
result): any correct backprop that sums in another order, per sample, with einsum, divides by m
early or late, or takes g' from A rather than from Z, stays within the bound. A formula that
loses relative accuracy near 0 (softplus as log(1 + exp(z)), tanh through exp, a clipped log)
does not: that is a precision choice, reported as *imprecise* (`Tiers`), not as wrong.

The model is first order: it needs λ√n·u small (n the longest sum), which holds for float64 and
float32 at the sizes the harness draws; float16 or bfloat16 would need a second-order term.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Final

import numpy as np

from harness.network import Array, forward, leaky_slope
from harness.spec import Problem
from harness.tolerance.functions import curvature, slope, slope_terms, value_terms
from harness.tolerance.precision import Precision

__all__ = ["LAMBDA", "NAIVE_TERMS", "Err", "rounding_errors"]

#: Hoeffding's multiplier of the spread s: 2 exp(-λ²/2) ≈ 5e-18 per entry.
LAMBDA: Final = 9.0
#: The absolute accuracy (in units of u, times the library's c_fn) a *naive* formula keeps for an
#: activation's value where it loses relative accuracy near 0: log(1 + exp(z)) for softplus,
#: 2/(1 + exp(-2z)) - 1 for tanh, exp(z) - 1 for elu (`rounding_errors(naive=True)`).
NAIVE_TERMS: Final = 2.0
_PIECEWISE_LINEAR: Final = frozenset({"identity", "relu"})
#: Roundings besides the sums: the product with g', the 1/m (and its own rounding), the l2 term.
_FEW: Final = 3


#: A row of an operand spanning more than this ratio may lose its small products to underflow
#: once squared (1e-200² is 0): there the spread takes Σ|a||b| instead, an upper bound of it.
_SQUARE_RANGE: Final = 1e100


def _rss(A: Array, B: Array) -> Array:
    """``sqrt(A² @ (B²)ᵀ)``, or more: each row scaled by its largest entry before squaring, and
    ``|A| @ |B|ᵀ`` (which bounds it, Cauchy–Schwarz aside) for the rows whose entries span more
    than `_SQUARE_RANGE`, where a small product that matters could underflow."""
    A, B = np.abs(A), np.abs(B)
    a = np.max(A, axis=1, keepdims=True)
    b = np.max(B, axis=1, keepdims=True)
    a_safe, b_safe = np.where(a > 0, a, 1.0), np.where(b > 0, b, 1.0)
    core = (A / a_safe) ** 2 @ ((B / b_safe) ** 2).T
    rss = np.sqrt(core) * a * b.T
    wide_a, wide_b = _wide(A, a_safe), _wide(B, b_safe)
    if not (wide_a.any() or wide_b.any()):
        return np.asarray(rss, dtype=np.float64)
    wide = np.logical_or.outer(wide_a, wide_b)
    return np.asarray(np.where(wide, np.maximum(rss, A @ B.T), rss), dtype=np.float64)


def _wide(M: Array, row_max: Array) -> Array:
    """Rows whose nonzero entries span more than `_SQUARE_RANGE`."""
    smallest = np.min(np.where(M > 0, M, np.inf), axis=1, keepdims=True)
    return np.asarray((row_max > _SQUARE_RANGE * smallest)[:, 0], dtype=bool)


@dataclass(frozen=True)
class Err:
    """First-order error bounds of an array of computed values, in units of u: ``w`` the worst
    case (Σ_r |c_r|) and ``s`` the spread ((Σ_r c_r²)^½ or more)."""

    w: Array
    s: Array
    value: Array | None = None

    @staticmethod
    def zero(like: Array) -> Err:
        return Err(np.zeros_like(like, dtype=np.float64), np.zeros_like(like, dtype=np.float64))

    @staticmethod
    def own(magnitude: Array, count: float = 1.0) -> Err:
        """``count`` fresh roundings, each relative to at most ``magnitude``."""
        magnitude = np.asarray(magnitude, dtype=np.float64)
        return Err(count * magnitude, math.sqrt(count) * magnitude)

    def __add__(self, other: Err) -> Err:
        """Errors of different roundings: worst cases add, spreads add in quadrature."""
        return Err(self.w + other.w, np.hypot(self.s, other.s))

    def __or__(self, other: Err) -> Err:
        """Errors that may share roundings (both carried from the same earlier values): worst
        cases add, spreads add too (the triangle inequality, whatever the correlation)."""
        return Err(self.w + other.w, self.s + other.s)

    def times(self, factor: Array | float) -> Err:
        """Carried through an elementwise product with ``factor``."""
        factor = np.abs(factor)
        return Err(self.w * factor, self.s * factor)

    def through(self, M: Array) -> Err:
        """Carried through a linear map along axis 0 (units): ``|M| @ w``, ``sqrt(M² @ s²)``."""
        return Err(np.abs(M) @ self.w, _rss(M, self.s.T))

    def summed(self, X: Array) -> Err:
        """Carried through ``Σ_i err_i x_i`` over the samples (axis 1): ``w @ |X|ᵀ``,
        ``sqrt(s² @ (X²)ᵀ)``."""
        return Err(self.w @ np.abs(X).T, _rss(self.s, X))

    def bound(self, lam: float | None = LAMBDA) -> Array:
        """``min(w, λ s)``; the worst case ``w`` alone with ``lam=None``."""
        return self.w if lam is None else np.minimum(self.w, lam * self.s)


def rounding_errors(
    problem: Problem, precision: Precision, naive: bool = False
) -> list[tuple[Err, Err]]:
    """`Err` of every gradient tensor (dW, db per layer) of a backprop of ``problem`` computing
    in ``precision`` (its inputs are exactly ``problem``'s values). Each `Err` carries the
    model's own float64 value of its tensor (``value``), for the rounding of the result."""
    with np.errstate(all="ignore"):  # saturated units: inf·0 in magnitudes that end up unused
        return _rounding_errors(problem, precision, naive)


def _rounding_errors(problem: Problem, precision: Precision, naive: bool) -> list[tuple[Err, Err]]:
    spec = problem.spec
    c_fn = precision.c_fn
    names = spec.activations
    L, m = spec.depth, problem.batch
    D = spec.divisor(m)
    Ws = [W for W, _ in problem.params]
    bs = [b for _, b in problem.params]
    cache = forward(problem.params, problem.X, names)
    Z = [z for z, _ in cache]
    A = [problem.X, *(a for _, a in cache)]  # A[l] is layer l's output; A[0] the input

    # Forward: the error of Z and A, and of the slope g'(Z) a backprop forms.
    err_A = [Err.zero(problem.X)]
    err_Z: list[Err] = []
    slopes: list[Array] = []
    err_slope: list[Err] = []
    for l, name in enumerate(names):
        W, b, A_prev, z, a = Ws[l], bs[l], A[l], Z[l], A[l + 1]
        terms = np.abs(W) @ np.abs(A_prev) + np.abs(b)[:, None]
        ez = Err.own(terms, W.shape[1] + 1) + err_A[l].through(W)
        err_Z.append(ez)
        if name == "softmax":
            slopes.append(np.zeros_like(z))
            err_slope.append(Err.zero(z))
            err_A.append(_softmax_errors(z, a, ez, c_fn))
            continue
        g1 = slope(name, z)
        slopes.append(g1)
        values, slopes_terms = (
            value_terms(name, z, a, precision.u),
            slope_terms(name, z, a, precision.u),
        )
        if naive and name not in _PIECEWISE_LINEAR and leaky_slope(name) is None:
            values = values + NAIVE_TERMS  # accurate to u·(|a| + 1): log(1 + exp(z)), ...
            slopes_terms = slopes_terms + NAIVE_TERMS * (1.0 + np.abs(a))  # 1 - a² of that a
        err_A.append(Err.own(c_fn * values) + ez.times(g1))
        err_slope.append(Err.own((c_fn + _FEW) * slopes_terms) + ez.times(curvature(name, z)))

    # The head: δ^(L) = h / D with h = ∂C_i/∂z^(L).
    h, err_h = _head(spec.loss.name, names[-1], A[L], problem.Y, slopes[-1], err_A[L],
                     err_slope[-1], precision.u)  # fmt: skip
    delta = h / D
    err_delta = err_h.times(1.0 / D) + Err.own(np.abs(delta), 2.0)  # the 1/m and its rounding

    out: list[tuple[Err, Err]] = []
    for l in range(L - 1, -1, -1):  # layer l + 1 in the 1-based naming
        A_prev, err_prev = A[l], err_A[l]
        P = np.abs(delta) @ np.abs(A_prev).T
        carried_A = Err(np.abs(delta) @ err_prev.w.T, _rss(delta, err_prev.s))
        err_dW = Err.own(P, m) + (err_delta.summed(A_prev) | carried_A)
        if spec.l2:
            err_dW = err_dW + Err.own(spec.l2 * np.abs(Ws[l]) + np.abs(P), 2.0)
        ones = np.ones((1, m))
        err_db = Err.own(np.abs(delta).sum(axis=1), m) + Err(
            err_delta.w.sum(axis=1), _rss(err_delta.s, ones)[:, 0]
        )
        dW = delta @ A_prev.T + spec.l2 * Ws[l]
        out.append((replace(err_dW, value=dW), replace(err_db, value=delta.sum(axis=1))))
        if l == 0:
            break
        W = Ws[l]
        e = W.T @ delta
        err_e = Err.own(np.abs(W).T @ np.abs(delta), W.shape[0]) + err_delta.through(W.T)
        g1 = slopes[l - 1]
        delta = e * g1
        err_delta = (err_e.times(g1) | err_slope[l - 1].times(e)) + Err.own(np.abs(delta))
    return out[::-1]


def _softmax_errors(z: Array, a: Array, ez: Err, c_fn: float) -> Err:
    """a = exp(z - max z) / Σ exp(z - max z): the shift, n + 1 exp, the sum and the division
    move a_j by at most a_j (|z_j - max| + c_fn + n + 2) u; an error dz moves it by
    a_j (|dz_j| + Σ_k a_k |dz_k|)."""
    n = z.shape[0]
    shift = np.abs(z - np.max(z, axis=0, keepdims=True)) + np.abs(z)
    own = Err.own(a * (shift + c_fn + 2.0), 1.0) + Err.own(a, float(n))
    carried = Err(
        a * (ez.w + np.sum(a * ez.w, axis=0, keepdims=True)),
        a * (ez.s + np.sum(a * ez.s, axis=0, keepdims=True)),
    )
    return own + carried


def _head(
    loss: str, out: str, a: Array, y: Array, g1: Array, err_a: Err, err_g1: Err, u: float
) -> tuple[Array, Err]:
    """h = ∂C_i/∂z^(L) per sample (before the divisor) and its `Err`, each way a backprop
    usually forms it."""
    if loss == "bce":  # after a sigmoid: a - y
        return a - y, err_a + Err.own(np.abs(a - y))
    if loss == "cross_entropy":  # after a softmax: a Σ_k y_k - y, or a - y when Σ_k y_k = 1
        n = a.shape[0]
        y_sum = np.sum(y, axis=0, keepdims=True)
        y_abs = np.sum(np.abs(y), axis=0, keepdims=True)
        h = a * y_sum - y
        off = np.abs(y_sum - 1.0) / u  # A - Y where Y's column sums to 1 only within rounding
        own = Err.own(a * y_abs, float(n)) + Err.own(a * off + np.abs(h), 2.0)
        return h, err_a.times(y_abs) + own
    d = 2.0 * (a - y)  # mse
    err_d = (err_a + Err.own(np.abs(a - y))).times(2.0)
    if out == "softmax":  # h_j = a_j (d_j - Σ_k a_k d_k), or the full Jacobian
        n = a.shape[0]
        s = np.sum(a * d, axis=0, keepdims=True)
        ad = np.abs(a * d)
        # every carried error here comes from a's: spreads add (triangle), like worst cases
        sa, sd = err_a.s, err_d.s
        ws = np.sum(np.abs(d) * err_a.w + a * err_d.w, axis=0, keepdims=True)
        ss = np.sum(np.abs(d) * sa + a * sd, axis=0, keepdims=True)
        sums = Err.own(np.sum(ad, axis=0, keepdims=True), float(n + 1))
        ws, ss = ws + sums.w, ss + sums.s
        h = a * (d - s)
        jacobian_terms = ad + a * np.sum(ad, axis=0, keepdims=True)
        own = Err.own(jacobian_terms, float(n + 2))
        carried = Err(
            np.abs(d - s) * err_a.w + a * (err_d.w + ws),
            np.abs(d - s) * sa + a * (sd + ss),
        )
        return h, carried + own
    h = d * g1
    return h, (err_d.times(g1) | err_g1.times(d)) + Err.own(np.abs(h), 2.0)
