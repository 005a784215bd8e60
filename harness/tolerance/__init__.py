"""The error model: how far a gradient may be from the truth, entry by entry, and what an entry
beyond it means.

No global atol/rtol. Each source carries its own per-entry bound:

- **50-digit SymPy** values (nets of at most 200 parameters) are exact for our purposes; rounded
  to float64 they are off by at most half an ulp.
- **Finite differences** bring their own rigorous bound (`harness.sources.finite_diff`).
- **A backprop** — the closed forms, SymPy evaluated in float64, and the candidate itself in the
  format it declares (`precision`) — gets the rounding model of `harness.tolerance.rounding`:
  every rounding counted once, ``u · min(w, λ s)`` per entry, λ = 9 (false-alarm probability
  ≤ 5e-18 per entry under the probabilistic model of rounding).

A candidate entry *agrees* when ``|candidate - expected| <= candidate_bound + source_bound``,
the expected value coming from the most precise source that speaks for the entry. Beyond that
but within ``Tiers.allowance`` (τ·|expected| + α·max|expected of its tensor|) it is
*imprecise*: a precision choice (an eps, a clip, a formula that loses relative accuracy near 0),
reported as a warning, failing only a strict check. Beyond both it is *wrong*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from harness.network import Array
from harness.spec import Problem
from harness.tolerance.precision import PRECISIONS, Precision, precision_of
from harness.tolerance.rounding import LAMBDA, rounding_errors

__all__ = [
    "DEFAULT_TIERS",
    "EPS",
    "LAMBDA",
    "PRECISIONS",
    "Precision",
    "Tiers",
    "candidate_bound",
    "half_ulp",
    "precision_of",
]

EPS: Final = float(np.finfo(np.float64).eps)
#: The floor of every bound, far below any gradient that matters, so a zero entry has one.
FLOOR: Final = 2.0**-1000


def half_ulp(values: Array) -> Array:
    """Half a unit in the last place of each float64 value: the error of a correct rounding."""
    return np.spacing(np.abs(values)) / 2.0


def candidate_bound(
    problem: Problem,
    precision: str | Precision = "float64",
    lam: float | None = LAMBDA,
    *,
    naive: bool = False,
) -> list[tuple[Array, Array]]:
    """Per-entry bound on the rounding error of a backprop of ``problem`` run in ``precision``
    (its inputs are exactly ``problem``'s values), including the rounding of its result to that
    format and a floor for underflow. ``lam=None``: the first-order worst case alone (for a
    computation that sums in an order of its own, such as SymPy's expression). ``naive``: for
    a backprop whose activations are accurate only to u·(|a| + 1) absolute (log(1 + exp(z)),
    tanh through exp): the imprecise band's third part (`Tiers`)."""
    p = precision_of(precision)
    spec = problem.spec
    # Below the format's smallest normal number a value has no relative accuracy (exp overflows
    # to inf and 1/(1 + inf) to 0, subnormals flush): an absolute error of that size per
    # operation, ~5e-35 for float32 on a 4-layer net, ~1e-301 for float64.
    operations = 8 * (problem.batch + sum(spec.sizes)) * spec.depth
    floor = max(FLOOR, float(np.finfo(p.dtype).tiny) * operations)
    out = []
    for err_W, err_b in rounding_errors(problem, p, naive):
        pair = []
        for err in (err_W, err_b):
            bound = p.u * err.bound(lam) + floor
            if p.rounds_result:  # the candidate's result, rounded to its format
                bound = bound + p.half_ulp(err.value)
            pair.append(bound)
        out.append((pair[0], pair[1]))
    return out


@dataclass(frozen=True)
class Tiers:
    """Where *imprecise* ends and *wrong* starts: an entry beyond the rounding model but within
    ``tau·|expected| + alpha·max|expected of its tensor|`` is imprecise (a warning) — or, with
    ``formulas``, within the rounding model of a backprop whose activations are accurate only to
    u·(|a| + 1) absolute (`candidate_bound(naive=True)`): softplus as log(1 + exp(z)) at z = -23
    is 1e-10 off by 6e-8 relative, and a dW = δ·a scales that error into a whole tensor, which no
    relative band covers.

    τ = 1e-8: no logic bug gives errors below 1e-8 relative, while precision choices do (an
    eps = 1e-12 inside a log, torch's softplus threshold at 20, a derivative taken at a point
    1e-12 away). α = 1e-11 of the tensor's largest entry covers the formulas that lose relative
    accuracy near 0 (softplus as log(1 + exp(z)) gives 1e-24 where the truth is 1.3e-24; g'
    taken at a 1e-12-jittered point errs by up to 1.2e-12 of the tensor's max on a
    (64, 128, 128, 10) net).
    """

    tau: float = 1e-8
    alpha: float = 1e-11
    formulas: bool = True

    def allowance(self, expected: Array) -> Array:
        """Per-entry width of the imprecise tier for one expected tensor."""
        size = float(np.max(np.abs(expected))) if expected.size else 0.0
        return self.tau * np.abs(expected) + self.alpha * size


DEFAULT_TIERS: Final = Tiers()
