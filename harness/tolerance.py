"""The error model: how far a float64 gradient may be from the truth, entry by entry.

No global atol/rtol. Each source carries its own per-entry bound:

- **50-digit SymPy** values (nets of at most 200 parameters) are exact for our purposes; rounded
  to float64 they are off by at most half an ulp.
- **Finite differences** bring their own rigorous bound (`harness.sources.finite_diff`).
- **A float64 backprop** — the closed forms, SymPy evaluated in float64, and the candidate
  itself — is a sum of products. Its rounding error is bounded by the running-error bound
  ``κ · eps · M``: ``M`` is the same chain rule on absolute values
  (`harness.sources.closed_form.magnitudes`), and ``κ`` counts the operations one entry passes
  through: m samples summed, n_{l-1} + a few operations per layer, each layer's activation
  derivative evaluated at a pre-activation that is itself off by up to n · eps · |z|_abs
  (which the slope of g' amplifies by at most 2 · |z|_abs relative), and 2 n_L more for a
  softmax output (the Σ_k of its normalizer and of its Jacobian product). ``M`` carries the
  conventions: it is divided by the loss's divisor like the gradient, holds l2 · |W| (one more
  term of the sum), and takes each function's derivative as the terms a candidate usually
  forms it from (1 - tanh², A + 1 for elu, σ + zσ(1 - σ) for silu, erf for gelu, A - Y or the
  full Jacobian after a softmax). The constants below are the data of that model; `safety`
  covers the gap between a first-order bound and float64.

A candidate entry passes when ``|candidate - expected| <= backprop_bound + source_bound`` where
the expected value comes from the most precise source that speaks for the entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from harness.errors import HarnessError
from harness.network import Array, forward
from harness.spec import Problem

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_TIERS",
    "EPS",
    "PRECISIONS",
    "ErrorModel",
    "Precision",
    "Tiers",
    "backprop_bound",
    "candidate_bound",
    "half_ulp",
    "precision_of",
]

EPS: Final = float(np.finfo(np.float64).eps)
#: Activations whose derivative varies with z (and so inherits z's rounding); the others have a
#: piecewise-constant g'. Where |g''/g'| is not bounded by ``slope_sensitivity`` (silu' and
#: gelu' cross 0), `closed_form.magnitudes` takes g' as terms of at least |g''|/2, so the
#: sensitivity times those terms still bounds |g''| · (error of z).
SMOOTH_NONLINEAR: Final = frozenset(
    {"sigmoid", "tanh", "softplus", "elu", "silu", "gelu", "softmax"}
)
#: Activations that couple the outputs of a sample: their normalizer and the backward Σ_k over
#: the outputs each add n_L operations.
COUPLED: Final = frozenset({"softmax"})


@dataclass(frozen=True)
class ErrorModel:
    """Constants of the float64 backprop rounding model (see the module docstring)."""

    #: Multiplies the first-order operation count.
    safety: float = 2.0
    #: Operations per layer besides the n_{l-1}-term dot product (g', products, the 1/m, …).
    ops_per_layer: int = 8
    #: Operations at the output (the loss derivative) and the final division by m.
    ops_at_output: int = 8
    #: Relative sensitivity of g' to an error in z, per unit of |z|_abs (|g''/g'| <= 2).
    slope_sensitivity: float = 2.0
    #: Absolute floor, far below any gradient that matters, so a zero entry has a bound.
    floor: float = 2.0**-1000


DEFAULT_MODEL: Final = ErrorModel()


def operation_count(problem: Problem, model: ErrorModel = DEFAULT_MODEL) -> float:
    """κ: the first-order count of rounding errors one gradient entry accumulates."""
    count = float(problem.batch + model.ops_at_output)
    activations = [A for _, A in forward(problem.params, problem.X, problem.spec.activations)]
    A_prev_list = [problem.X, *activations[:-1]]
    for (W, b), A_prev, name in zip(problem.params, A_prev_list, problem.spec.activations):
        n_prev = W.shape[1]
        count += n_prev + model.ops_per_layer
        if name in COUPLED:  # Σ_k e^(z_k) in the forward, Σ_k ∂C/∂a_k ∂a_k/∂z_j backward
            count += 2 * W.shape[0]
        if name in SMOOTH_NONLINEAR:  # g' evaluated at a z that is off by z_error
            z_abs = np.abs(W) @ np.abs(A_prev) + np.abs(b)[:, None]  # what z's rounding scales with
            z_error = (n_prev + 2) * float(np.max(z_abs))  # absolute error of z, in units of eps
            count += model.slope_sensitivity * z_error
    return model.safety * count


def backprop_bound(
    problem: Problem,
    magnitudes: Sequence[tuple[Array, Array]],
    model: ErrorModel = DEFAULT_MODEL,
) -> list[tuple[Array, Array]]:
    """Per-entry bound on the rounding error of any float64 backprop of this problem."""
    kappa = operation_count(problem, model)
    return [
        (kappa * EPS * M_w + model.floor, kappa * EPS * M_b + model.floor)
        for M_w, M_b in magnitudes
    ]


def half_ulp(values: Array) -> Array:
    """Half a unit in the last place of each float64 value: the error of a correct rounding."""
    return np.spacing(np.abs(values)) / 2.0


@dataclass(frozen=True)
class Precision:
    """The floating-point format a candidate computes in: its dtype and unit roundoff u."""

    name: str
    dtype: type[np.floating[Any]]
    u: float


#: The formats a candidate may declare (``precision=`` / ``--precision``).
PRECISIONS: Final = {
    "float64": Precision("float64", np.float64, 2.0**-53),
    "float32": Precision("float32", np.float32, 2.0**-24),
}


def precision_of(precision: str | Precision) -> Precision:
    """The `Precision` named ``precision``; a clear error naming the choices otherwise."""
    if isinstance(precision, Precision):
        return precision
    if isinstance(precision, str) and precision in PRECISIONS:
        return PRECISIONS[precision]
    raise HarnessError(
        f"precision must be one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}"
    )


def candidate_bound(
    problem: Problem,
    precision: str | Precision = "float64",
    model: ErrorModel = DEFAULT_MODEL,
) -> list[tuple[Array, Array]]:
    """Per-entry bound on the rounding error of a backprop of ``problem`` run in ``precision``
    (its inputs are exactly ``problem``'s values), including the rounding of its result."""
    p = precision_of(precision)
    scale = 2.0 * p.u / EPS
    bound = backprop_bound(problem, closed_form_magnitudes(problem), model)
    return [(scale * bW, scale * bb) for bW, bb in bound]


def closed_form_magnitudes(problem: Problem) -> list[tuple[Array, Array]]:
    from harness.sources import closed_form

    return closed_form.magnitudes(problem)


@dataclass(frozen=True)
class Tiers:
    """Where *imprecise* ends and *wrong* starts: an entry beyond the rounding model but within
    ``tau·|expected| + alpha·max|expected of its tensor|`` is imprecise (a warning)."""

    tau: float = 1e-8
    alpha: float = 1e-11

    def allowance(self, expected: Array) -> Array:
        """Per-entry width of the imprecise tier for one expected tensor."""
        size = float(np.max(np.abs(expected))) if expected.size else 0.0
        return self.tau * np.abs(expected) + self.alpha * size


DEFAULT_TIERS: Final = Tiers()
