"""Usage errors a campaign recognises in its minimal failing case: code plugged in the wrong way.

A campaign (`harness.campaign.run_campaign`: `audit`, the CLI, the pytest plugin) that fails
looks at its minimal failing case once more before reporting it. Three failures are not about the
gradient but about how the code was plugged in; each raises `UsageError` (the CLI exits 2, no
report is written) with the fix:

- **a dict returned** (cs231n's ``grads``): the contract wants ``[(dW1, db1), ...]``; the fix is
  `harness.adapters.from_dict`.
- **a fixed depth**: the function raised or returned the wrong number of layers on an
  architecture of depth k, and, tried on one small network of each depth 1 to 4, it returns a
  gradient of the right structure for exactly one depth d ≥ 2 (code written for "two layers").
  The fix: declare it (``supports={"depths": (d,)}``, or ``--sizes`` with d + 1 widths). A
  function that works on two depths or more is not called fixed: its failure is reported as the
  bug it is.
- **an undeclared loss convention**: every failing tensor is a plain mismatch diagnosed as the
  expected one times a constant (``scaled by 1/2: a ½·MSE convention? ...``, ``scaled by m``),
  and judged under that other convention — on the failing case *and* on a new problem with
  widths and batch ≥ 3 and at least two layers — the candidate passes completely. The same
  numbers come from a missing factor (a forgotten 1/m), so the message gives both readings:
  declare the convention, or fix the factor. A candidate that takes the convention as keywords
  (``supports["keywords"]``) is told it and is never excused this way.

`harness.check` on one explicit problem does not do this: its report keeps each finding, with
the convention hint in the diagnosis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np

from harness.candidate import Candidate, call_candidate
from harness.case import CaseResult
from harness.errors import UsageError
from harness.plain import DICT_HINT
from harness.spec import Loss, NetworkSpec, Problem
from harness.strategies import LOSS_CONVENTIONS

__all__ = ["PROBE_DEPTHS", "PROBE_TIMEOUT", "UsageError", "usage_error"]

#: Depths tried when a structural failure may mean a fixed-depth function.
PROBE_DEPTHS: Final = (1, 2, 3, 4)
#: Each probe call's time limit (at most the campaign's own).
PROBE_TIMEOUT: Final = 10.0
#: How `harness.diagnose` names a tensor that is the expected one times a constant.
_SCALED: Final = ("scaled by", "loss term scaled by")


def usage_error(
    candidate: Candidate,
    case: CaseResult,
    judge: Callable[[Problem], CaseResult],
    timeout: float = 30.0,
) -> UsageError | None:
    """The usage error ``case`` (a campaign's minimal failing case) shows, or None.
    ``judge(problem)`` gives the campaign's verdict on another problem."""
    name = case.candidate or candidate.name
    failing = case.failing
    if any(r.status == "count" and DICT_HINT in r.detail for r in failing):
        return UsageError(
            f"{name} returned a dict of gradients; the contract is backward(params, X, Y, "
            f"activations, loss) -> [(dW1, db1), ...]. For a model kept as a dict of parameters "
            f"with loss(X, y) -> (loss, grads), wrap it: harness.adapters.from_dict(model.loss, "
            f"activations=(...)); otherwise return the list of (dW, db) pairs"
        )
    if failing and all(r.status in ("raises", "count") for r in failing):
        return _fixed_depth(candidate, name, case, min(timeout, PROBE_TIMEOUT))
    if failing and all(r.status == "mismatch" and (r.diagnosis or "").startswith(_SCALED)
                       for r in failing):  # fmt: skip
        return _convention(candidate, name, case, judge)
    return None


# --- a fixed depth -------------------------------------------------------------------------------


def _hidden(spec: NetworkSpec) -> str:
    return next((a for a in spec.activations if a != "softmax"), "tanh")


def _probe_spec(spec: NetworkSpec, depth: int) -> NetworkSpec:
    activations = (*([_hidden(spec)] * (depth - 1)), spec.activations[-1])
    return NetworkSpec(
        (3, *([3] * (depth - 1)), spec.sizes[-1]), activations, spec.loss, l2=spec.l2
    )


def _works(candidate: Candidate, problem: Problem, timeout: float) -> bool:
    """The candidate returns a gradient of the right structure here (values not judged)."""
    result = call_candidate(candidate, problem, timeout=timeout, repeat=False)
    output = result.output
    if result.records or not isinstance(output, list) or len(output) != problem.spec.depth:
        return False
    return all(
        isinstance(d, np.ndarray) and d.shape == shape
        for pair, shapes in zip(output, problem.spec.param_shapes)
        for d, shape in zip(pair, shapes)
    )


def _fixed_depth(
    candidate: Candidate, name: str, case: CaseResult, timeout: float
) -> UsageError | None:
    spec = case.problem.spec
    working = [
        depth
        for depth in PROBE_DEPTHS
        if _works(candidate, Problem.random(_probe_spec(spec, depth), batch=3, seed=0), timeout)
    ]
    if len(working) != 1 or working[0] < 2 or working[0] == spec.depth:
        return None
    (depth,) = working
    what = "; ".join(r.detail.split(" on Problem")[0] for r in case.failing[:1])
    worked = _probe_spec(spec, depth)
    example = (f"--sizes {','.join(['4', *(['8'] * (depth - 1)), str(spec.sizes[-1])])} "
               f"--activations {','.join(worked.activations)} --loss {spec.loss.name}")  # fmt: skip
    return UsageError(
        f"{name} handles {depth}-layer networks only: on a {spec.depth}-layer network "
        f"(sizes {spec.sizes}) the {what}. Declare its depth: supports={{'depths': "
        f"({depth},)}} (or {{'sizes': [(...)]}} for fixed widths) in Python, --sizes with "
        f"{depth + 1} widths on the command line (e.g. {example}); or make it loop over the layers"
    )


# --- an undeclared loss convention ---------------------------------------------------------------


def _alternatives(loss: Loss) -> list[Loss]:
    return [other for other in LOSS_CONVENTIONS if other.name == loss.name and other != loss]


def _with_loss(problem: Problem, loss: Loss) -> Problem:
    spec = NetworkSpec(problem.spec.sizes, problem.spec.activations, loss, l2=problem.spec.l2)
    return Problem(spec, problem.params, problem.X, problem.Y, seed=problem.seed,
                   weight_scale=problem.weight_scale, kink_margin=problem.kink_margin)  # fmt: skip


def _wider(problem: Problem, loss: Loss) -> Problem:
    """A problem where fewer hypotheses coincide than on a shrunk case: widths and batch ≥ 3,
    at least two layers (on one layer, a factor on "layer 1" is a factor on everything)."""
    spec = problem.spec
    activations = spec.activations
    if len(activations) == 1:
        activations = (_hidden(spec), *activations)
    sizes = (*(max(n, 3) for n in spec.sizes[:-1]), *([3] * (len(activations) - spec.depth)),
             spec.sizes[-1])  # fmt: skip
    wider = NetworkSpec(sizes, activations, loss, l2=spec.l2)
    return Problem.random(wider, batch=max(problem.batch, 3), seed=(problem.seed or 0) + 1)


def _passes(judge: Callable[[Problem], CaseResult], problem: Problem) -> bool:
    """Judged there (not outside the declared support) and passed."""
    result = judge(problem)
    return result.passed and result.judged


def _plausible(case: CaseResult, declared: Loss) -> list[Loss]:
    """The alternatives worth judging: with no l2, those whose factor over the declared
    convention is the ratio candidate/expected of the worst entries (each judge is a full
    check); with l2 (only the loss term scales), all of them."""
    alternatives = _alternatives(declared)
    if case.problem.spec.l2:
        return alternatives
    ratios = [e.candidate / e.expected for r in case.failing for e in r.worst if e.expected]
    if not ratios:
        return alternatives
    m, n_L = case.problem.batch, case.problem.spec.sizes[-1]
    own = declared.divisor(m, n_L)  # an alternative's gradient is the declared one × own/its
    return [
        alternative
        for alternative in alternatives
        if all(abs(ratio * alternative.divisor(m, n_L) / own - 1) < 1e-6 for ratio in ratios)
    ]


def _convention(
    candidate: Candidate, name: str, case: CaseResult, judge: Callable[[Problem], CaseResult]
) -> UsageError | None:
    if candidate.keywords:
        return None
    declared = case.problem.spec.loss
    for alternative in _plausible(case, declared):
        if not _passes(judge, _with_loss(case.problem, alternative)):
            continue
        if not _passes(judge, _wider(case.problem, alternative)):
            continue
        factor = (case.failing[0].diagnosis or "").split(":")[0]
        return UsageError(_convention_text(name, declared, alternative, factor))
    return None


def _convention_text(name: str, declared: Loss, matched: Loss, factor: str) -> str:
    flags = []
    if matched.half:
        flags.append("--half")
    if matched.reduction != "mean":
        flags.append(f"--reduction {matched.reduction}")
    cli = " ".join(flags) or "no --half / --reduction"
    return (
        f"{name} computes the gradient of {matched!r}, not of the declared {declared!r}: every "
        f"gradient it returned is a constant multiple of the expected one and, judged as "
        f"{matched!r}, it passes (on the failing case and on a wider one). If that is its "
        f"convention, declare it: {cli} on the command line, supports={{'losses': "
        f"({matched!r},)}} in Python. If it is meant to compute {declared!r}, that factor is "
        f"the bug ({factor})"
    )
