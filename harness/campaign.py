"""The verification campaign: Hypothesis draws architectures, every case is checked, a failure
is shrunk to the smallest failing architecture.

`check_case` is one deterministic verdict (candidate vs the three sources, plus the Taylor order);
`run_campaign` drives it with Hypothesis under a fixed seed, so the same seed gives the same cases,
the same shrunk failure and the same report content.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.strategies import SearchStrategy

from harness.candidate import Backward, CallResult, call_candidate
from harness.case import CaseResult
from harness.compare import SourceValues, TensorRecord, compare, evaluate_sources
from harness.diagnose import diagnose
from harness.errors import HarnessError
from harness.fast import fast_check, gradients_of
from harness.spec import Problem
from harness.strategies import problems
from harness.support import declared_support
from harness.taylor import taylor_check
from harness.threads import one_blas_thread

__all__ = [
    "MODES",
    "PROFILES",
    "CampaignResult",
    "Profile",
    "check_case",
    "fast_case",
    "run_campaign",
]

#: How a case is checked: every entry against the three sources, or one random direction first.
MODES: Final = ("full", "fast")


@dataclass(frozen=True)
class Profile:
    """How many examples, and how large an architecture, a campaign draws."""

    examples: int
    max_depth: int
    max_width: int
    max_batch: int


PROFILES: Final = {
    "quick": Profile(examples=4000, max_depth=3, max_width=8, max_batch=8),  # ≈ 1 min
    "default": Profile(examples=5000, max_depth=4, max_width=16, max_batch=16),  # a few min
    "thorough": Profile(examples=20000, max_depth=5, max_width=32, max_batch=32),
}
#: Passing cases kept for the report besides the failures.
SAMPLED: Final = 3


def check_case(
    backward: Backward,
    problem: Problem,
    candidate: str | None = None,
    *,
    timeout: float = 30.0,
    unsupported_ok: bool = True,
    front: str = "verify",
) -> CaseResult:
    """The full verdict on one problem (``front``: how its reproduce line names the candidate)."""
    call = call_candidate(backward, problem, timeout=timeout, unsupported_ok=unsupported_ok)
    if call.output is None and call.records:  # raised, timed out, or unsupported
        return CaseResult(problem, call.records, None, candidate, front)
    return _full_verdict(problem, call, candidate, front)


def fast_case(
    backward: Backward,
    problem: Problem,
    candidate: str | None = None,
    *,
    timeout: float = 30.0,
    unsupported_ok: bool = True,
    front: str = "verify",
    seed: int = 0,
) -> CaseResult:
    """The fast verdict on one problem (`harness.fast`): one random direction; a full check
    follows when it fails (and confirms the localized entries, or not), when the direction
    crosses a kink, and when the output is malformed (the full check names what is wrong)."""
    call = call_candidate(backward, problem, timeout=timeout, unsupported_ok=unsupported_ok)
    if call.output is None and call.records:
        return CaseResult(problem, call.records, None, candidate, front, mode="fast")
    try:
        grads = gradients_of(call.output, problem)
    except HarnessError:
        return replace(_full_verdict(problem, call, candidate, front), mode="fast")
    fast = fast_check(grads, problem, seed=seed)  # holds BLAS to one thread itself
    if not fast.passed:
        return replace(_full_verdict(problem, call, candidate, front), mode="fast", fast=fast)
    records = []
    for l, shapes in enumerate(problem.spec.param_shapes, start=1):
        for param, shape in zip("Wb", shapes):
            size = int(np.prod(shape))
            detail = f"layer {l} d{param}: {size}/{size} entries within the fast check"
            records.append(TensorRecord(l, param, "ok", detail, shape=shape, total=size))
    return CaseResult(problem, (*call.records, *records), None, candidate, front, "fast", fast)


def _full_verdict(
    problem: Problem, call: CallResult, candidate: str | None, front: str
) -> CaseResult:
    with one_blas_thread():  # small GEMMs: see harness.threads
        return _verdict(problem, call, candidate, front)


def _verdict(problem: Problem, call: CallResult, candidate: str | None, front: str) -> CaseResult:
    sources = evaluate_sources(problem)
    records = compare(problem, call.output, sources)
    values_usable = all(r.status not in ("count", "shape", "dtype", "nonfinite") for r in records)
    taylor = taylor_check(problem, call.output) if values_usable else None
    if values_usable:
        records = _with_diagnoses(problem, call.output, sources, records)
    return CaseResult(problem, (*call.records, *records), taylor, candidate, front)


def _with_diagnoses(
    problem: Problem, output: Any, sources: SourceValues, records: tuple[TensorRecord, ...]
) -> tuple[TensorRecord, ...]:
    """Name the pattern of each mismatched tensor; its headline then reads
    ``layer 2 dW: 12/12 entries wrong, looks transposed``."""
    wrong = [(r.layer, r.param) for r in records if r.status == "mismatch"]
    if not wrong:
        return records
    found = diagnose(problem, output, sources, wrong)  # type: ignore[arg-type]
    named = []
    for record in records:
        if record.status != "mismatch":
            named.append(record)
            continue
        diagnosis = found.get((record.layer, record.param))  # type: ignore[arg-type]
        text = diagnosis.text if diagnosis is not None else None
        headline, _, rest = record.detail.partition("; ")
        detail = f"{headline}, {text or 'no known pattern'}; {rest}"
        named.append(replace(record, diagnosis=text, detail=detail))
    return tuple(named)


class _CaseFailedError(Exception):
    def __init__(self, result: CaseResult):
        super().__init__(result.reproduce)
        self.result = result


@dataclass
class CampaignResult:
    """What a campaign found: the shrunk failure first, then the first failure, then samples."""

    cases: list[CaseResult]
    examples: int  # distinct examples generated (not counting shrink attempts)
    calls: int  # every check, shrink attempts included
    seconds: float
    minimal: CaseResult | None = None
    first_failure: CaseResult | None = field(default=None)

    @property
    def passed(self) -> bool:
        return self.minimal is None


Progress = Callable[[str, int, int], None]  # (phase, examples done, examples planned)


def run_campaign(
    backward: Backward,
    *,
    candidate: str | None,
    profile: Profile,
    seed: int = 0,
    examples: int | None = None,
    progress: Progress | None = None,
    strategy: SearchStrategy[Problem] | None = None,
    check: Callable[[Problem], CaseResult] | None = None,
) -> CampaignResult:
    """Run ``examples`` Hypothesis examples (default: the profile's) against ``backward``.

    ``strategy`` replaces the profile's architectures (e.g. an audit's declared support);
    ``check`` replaces `check_case` (e.g. with another timeout).
    """
    planned = examples if examples is not None else profile.examples
    sampled: list[CaseResult] = []
    state = {"examples": 0, "calls": 0, "shrinking": False}
    first: list[CaseResult] = []
    if strategy is None:  # what the candidate declares it supports (harness.support)
        specs = declared_support(backward).specs_strategy(profile.max_depth, profile.max_width)
        strategy = problems(specs, max_batch=profile.max_batch)
    if check is None:

        def check(problem: Problem) -> CaseResult:
            return check_case(backward, problem, candidate)

    @hypothesis_seed(seed)
    @settings(
        max_examples=planned,
        database=None,
        deadline=None,
        derandomize=False,
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def campaign(problem: Problem) -> None:
        state["calls"] += 1
        if not state["shrinking"]:
            state["examples"] += 1
        result = check(problem)
        if progress is not None:
            phase = "shrinking" if state["shrinking"] else "checking"
            progress(phase, int(state["examples"]), planned)
        if not result.passed:
            if not first:
                first.append(result)
                state["shrinking"] = True
            raise _CaseFailedError(result)
        if len(sampled) < SAMPLED and not state["shrinking"]:
            sampled.append(result)

    start = time.perf_counter()
    minimal: CaseResult | None = None
    try:
        campaign()
    except _CaseFailedError as failure:
        minimal = failure.result
    seconds = time.perf_counter() - start
    cases: list[CaseResult] = []
    if minimal is not None:
        cases.append(minimal)
        if first and repr(first[0].problem) != repr(minimal.problem):
            cases.append(first[0])
    cases.extend(sampled)
    return CampaignResult(
        cases=cases,
        examples=int(state["examples"]),
        calls=int(state["calls"]),
        seconds=seconds,
        minimal=minimal,
        first_failure=first[0] if first else None,
    )
