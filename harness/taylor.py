"""The Taylor check: seed 001's gradient-descent step, used as a test that needs no source.

For the candidate's gradient g and a random direction v, the first-order Taylor remainder

    r(γ) = |J(θ + γ v) - J(θ) - γ g·v|

shrinks like γ² when g is the gradient, and only like γ when it is not. We halve γ a few times
and fit the slope of log r against log γ: the observed order. It needs no tolerance: an order
near 2 passes, an order near 1 means g is not dJ/dθ. Steps are kept small enough that no
ReLU-type pre-activation changes sign (a kink would add a first-order term of its own), and
remainders that sink into float64 noise of J are left out of the fit.

The order is advisory: it is reported beside every verdict but does not decide one. On deep,
saturated nets (weight scale 10) the float64 noise of J(θ + γv) − J(θ) can exceed the noise floor
estimated here and bend the fitted order of a correct gradient below 1 — a false alarm the
per-entry comparison never makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from harness.network import Array, forward, is_kinked
from harness.spec import Problem

__all__ = ["TaylorResult", "taylor_check"]

#: Halvings of γ, the largest relative step γ·|v|/|θ|, and how many of the smallest steps above
#: the noise the order is fitted on (the asymptotic regime is at small γ: a saturated net's higher
#: order terms can dominate the larger steps).
HALVINGS: Final = 14
FIT_POINTS: Final = 4
FIRST_STEP: Final = 1e-2
#: Remainders below this multiple of eps · Σ|loss terms| are rounding noise.
NOISE: Final = 1e4
#: The verdicts: order >= PASS is right, order <= FAIL is a wrong gradient, between: unclear.
PASS: Final = 1.8
FAIL: Final = 1.3


@dataclass(frozen=True)
class TaylorResult:
    """Observed order of the remainder (None when too few remainders rise above the noise)."""

    order: float | None
    verdict: str  # "order-2" (passes), "order-1" (wrong gradient), "inconclusive"
    gammas: tuple[float, ...]
    remainders: tuple[float, ...]
    noise: float | None = None  # remainders at or below it are float64 noise, not fitted

    @property
    def passed(self) -> bool:
        return self.verdict != "order-1"

    def as_dict(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "verdict": self.verdict,
            "gammas": list(self.gammas),
            "remainders": list(self.remainders),
            "noise": self.noise,
        }


def _step(
    params: Sequence[tuple[Array, Array]], v: list[Array], gamma: float
) -> list[tuple[Array, Array]]:
    flat = iter(v)
    return [(W + gamma * next(flat), b + gamma * next(flat)) for W, b in params]


def _crosses_kink(problem: Problem, v: list[Array], gamma: float) -> bool:
    spec = problem.spec
    base = forward(problem.params, problem.X, spec.activations)
    for sign in (1.0, -1.0):
        moved = forward(_step(problem.params, v, sign * gamma), problem.X, spec.activations)
        for name, (Z0, _), (Z1, _) in zip(spec.activations, base, moved):
            if is_kinked(name) and np.any(np.signbit(Z0) != np.signbit(Z1)):
                return True
    return False


def _loss_terms(problem: Problem) -> float:
    """Σ of |terms| the float64 loss adds up: its rounding noise scales with this, not with J."""
    spec = problem.spec
    Z_L, A_L = forward(problem.params, problem.X, spec.activations)[-1]
    Y = problem.Y
    if spec.loss.name == "mse":
        terms = (np.abs(A_L) + np.abs(Y)) ** 2
    elif spec.loss.name == "bce":  # softplus(z) - y z, each term on its own
        terms = np.logaddexp(0.0, Z_L) + np.abs(Y * Z_L)
    else:  # cross_entropy: -y (z - logsumexp(z)), each term on its own
        top = np.max(np.abs(Z_L), axis=0, keepdims=True)
        terms = np.abs(Y) * (np.abs(Z_L) + top + np.log(Z_L.shape[0]))
    l2_terms = 0.5 * spec.l2 * sum(float(np.sum(W * W)) for W, _ in problem.params)
    return float(np.sum(terms) / spec.divisor(problem.batch)) + l2_terms


def taylor_check(
    problem: Problem, grads: Sequence[tuple[Array, Array]], *, seed: int = 0
) -> TaylorResult:
    """The observed order of the Taylor remainder along a random direction (seeded)."""
    spec = problem.spec
    rng = np.random.default_rng(seed)
    v = [rng.standard_normal(shape) for pair in spec.param_shapes for shape in pair]
    theta_norm = np.sqrt(sum(float(np.sum(W**2) + np.sum(b**2)) for W, b in problem.params))
    v_norm = np.sqrt(sum(float(np.sum(t**2)) for t in v))
    scale = max(theta_norm, 1.0) / v_norm
    v = [t * scale for t in v]
    g_dot_v = sum(
        float(np.sum(g * t)) for g, t in zip((x for pair in grads for x in pair), v, strict=True)
    )

    gamma0 = FIRST_STEP
    for _ in range(40):
        if not _crosses_kink(problem, v, gamma0):
            break
        gamma0 /= 2.0
    else:
        return TaylorResult(None, "inconclusive", (), ())

    J0 = spec.objective(problem.params, problem.X, problem.Y)
    gammas = tuple(gamma0 / 2.0**k for k in range(HALVINGS))
    remainders = tuple(
        abs(spec.objective(_step(problem.params, v, g), problem.X, problem.Y) - J0 - g * g_dot_v)
        for g in gammas
    )
    noise = float(
        NOISE * np.finfo(np.float64).eps * max(_loss_terms(problem), np.finfo(np.float64).tiny)
    )
    usable = [(np.log(g), np.log(r)) for g, r in zip(gammas, remainders) if r > noise]
    usable = usable[-FIT_POINTS:]
    if len(usable) < 3:
        return TaylorResult(None, "inconclusive", gammas, remainders, noise)
    x, y = np.array(usable).T
    order = float(np.polyfit(x, y, 1)[0])
    verdict = "order-2" if order >= PASS else "order-1" if order <= FAIL else "inconclusive"
    return TaylorResult(order, verdict, gammas, remainders, noise)
