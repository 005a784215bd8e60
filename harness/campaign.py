"""The verification campaign: Hypothesis draws architectures, every case is checked, a failure
is shrunk to the smallest failing architecture.

`check_case` is one deterministic verdict (candidate vs the three sources, plus the Taylor order);
`run_campaign` drives it with Hypothesis under a fixed seed, so the same seed gives the same cases,
the same shrunk failure and the same report content.
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Flaky, Unsatisfiable
from hypothesis.strategies import SearchStrategy

from harness.candidate import Backward, CallResult, Candidate, as_candidate, call_candidate
from harness.case import CaseResult
from harness.compare import (
    DEFAULT_RULES,
    Rules,
    SourceValues,
    TensorRecord,
    compare,
    evaluate_sources,
)
from harness.coverage import Coverage
from harness.diagnose import diagnose
from harness.diagnose.confirm import confirm, supported
from harness.errors import HarnessError, NothingCheckedError
from harness.fast import fast_check, gradients_of
from harness.replay import PythonCall
from harness.spec import Problem
from harness.strategies import problems
from harness.support import Support
from harness.taylor import taylor_check
from harness.threads import one_blas_thread
from harness.tolerance import precision_of
from harness.usage import usage_error

__all__ = [
    "FORMULA_SCALE",
    "MODES",
    "PROFILES",
    "WEIGHT_SCALES",
    "CampaignInterrupted",
    "CampaignResult",
    "NothingCheckedError",
    "Profile",
    "check_case",
    "fast_case",
    "robustness_text",
    "run_campaign",
    "scales_up_to",
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
#: Weight scales a campaign draws by default; those up to FORMULA_SCALE judge the formulas,
#: the larger ones robustness (saturation, overflow, clipping).
WEIGHT_SCALES: Final = (1.0, 0.1, 0.5, 3.0, 10.0)
FORMULA_SCALE: Final = 1.0
#: A strategy for problems as a function of the weight scales it draws from.
StrategyFor = Callable[..., SearchStrategy[Problem]]
#: Passing cases kept for the report besides the failures, and passing cases with warnings.
SAMPLED: Final = 3
WARNED: Final = 3


def check_case(
    backward: Backward | Candidate,
    problem: Problem,
    candidate: str | None = None,
    *,
    timeout: float = 30.0,
    unsupported_ok: bool = True,
    front: str | PythonCall = "verify",
    fresh: bool = False,
    rules: Rules = DEFAULT_RULES,
) -> CaseResult:
    """The full verdict on one problem (``front``: how its reproduce line names the candidate;
    a plain callable is run in a worker process, `harness.candidate`; ``fresh``: the call is
    repeated in a new worker too; ``rules``: the candidate's precision — its inputs rounded to
    it — and whether imprecise entries fail)."""
    problem = _in_precision(problem, rules)
    loaded = as_candidate(backward)
    call = call_candidate(
        loaded, problem, timeout=timeout, unsupported_ok=unsupported_ok,
        fresh=fresh, dtype=precision_of(rules.precision).dtype,
    )  # fmt: skip
    if call.output is None and call.records:  # raised, timed out, or unsupported
        return CaseResult(problem, call.records, None, candidate, front, rules=rules)
    return _full_verdict(problem, call, candidate, front, rules, _Rerun(loaded, timeout, rules))


def _in_precision(problem: Problem, rules: Rules) -> Problem:
    """``problem`` as a candidate computing in ``rules.precision`` receives it: its values
    rounded to that format, which the sources then judge exactly."""
    dtype = precision_of(rules.precision).dtype
    return problem if dtype is np.float64 else problem.rounded(dtype)


def fast_case(
    backward: Backward | Candidate,
    problem: Problem,
    candidate: str | None = None,
    *,
    timeout: float = 30.0,
    unsupported_ok: bool = True,
    front: str | PythonCall = "verify",
    seed: int = 0,
    fresh: bool = False,
    rules: Rules = DEFAULT_RULES,
) -> CaseResult:
    """The fast verdict on one problem (`harness.fast`): one random direction; a full check
    follows when it fails (and confirms the localized entries, or not), when the direction
    crosses a kink, and when the output is malformed (the full check names what is wrong)."""
    problem = _in_precision(problem, rules)
    loaded = as_candidate(backward)
    call = call_candidate(
        loaded, problem, timeout=timeout, unsupported_ok=unsupported_ok,
        fresh=fresh, dtype=precision_of(rules.precision).dtype,
    )  # fmt: skip
    if call.output is None and call.records:
        return CaseResult(problem, call.records, None, candidate, front, "fast", fast_seed=seed,
                          rules=rules)  # fmt: skip
    rerun = _Rerun(loaded, timeout, rules)
    try:
        grads = gradients_of(call.output, problem, rules.dtypes)
    except HarnessError:
        full = _full_verdict(problem, call, candidate, front, rules, rerun)
        return replace(full, mode="fast", fast_seed=seed)
    fast = fast_check(grads, problem, seed=seed, precision=rules.precision)  # one BLAS thread
    if not fast.passed:
        full = _full_verdict(problem, call, candidate, front, rules, rerun)
        return replace(full, mode="fast", fast=fast)
    records = []
    for l, shapes in enumerate(problem.spec.param_shapes, start=1):
        for param, shape in zip("Wb", shapes):
            size = int(np.prod(shape))
            detail = f"layer {l} d{param}: {size}/{size} entries within the fast check"
            records.append(TensorRecord(l, param, "ok", detail, shape=shape, total=size))
    return CaseResult(problem, (*call.records, *records), None, candidate, front, "fast", fast,
                      rules=rules)  # fmt: skip


def _full_verdict(
    problem: Problem,
    call: CallResult,
    candidate: str | None,
    front: str | PythonCall,
    rules: Rules,
    rerun: _Rerun | None = None,
) -> CaseResult:
    with one_blas_thread():  # small GEMMs: see harness.threads
        return _verdict(problem, call, candidate, front, rules, rerun)


def _verdict(
    problem: Problem,
    call: CallResult,
    candidate: str | None,
    front: str | PythonCall,
    rules: Rules,
    rerun: _Rerun | None = None,
) -> CaseResult:
    sources = evaluate_sources(problem, precision=rules.precision)
    records = compare(problem, call.output, sources, rules)
    values_usable = all(r.status not in ("count", "shape", "dtype", "nonfinite") for r in records)
    # values usable: call.output is a list of float64 (dW, db) arrays of the right shapes
    output: Any = call.output
    taylor = taylor_check(problem, output) if values_usable else None
    if values_usable:
        records = _with_diagnoses(problem, output, sources, records, rerun)
    return CaseResult(problem, (*call.records, *records), taylor, candidate, front, rules=rules)


class _Rerun:
    """The candidate called once on another problem, as `check_case` calls it: its output, or
    None when the call did not return (`harness.diagnose.confirm`)."""

    def __init__(self, candidate: Candidate, timeout: float, rules: Rules):
        self.candidate, self.timeout, self.rules = candidate, timeout, rules

    def __call__(self, problem: Problem) -> Any:
        dtype = precision_of(self.rules.precision).dtype
        call = call_candidate(self.candidate, problem, timeout=self.timeout, repeat=False,
                              dtype=dtype)  # fmt: skip
        return call.output


def _with_diagnoses(
    problem: Problem,
    output: Any,
    sources: SourceValues,
    records: tuple[TensorRecord, ...],
    rerun: _Rerun | None = None,
) -> tuple[TensorRecord, ...]:
    """Name the pattern of each mismatched tensor; its headline then reads
    ``layer 2 dW: 12/12 entries wrong, looks transposed``. With ``rerun`` (the candidate), a
    name found on a small net is kept only if it is found again at a non-degenerate size
    (`harness.diagnose.confirm`)."""
    wrong = [(r.layer, r.param) for r in records if r.status == "mismatch"]
    if not wrong:
        return records
    found = diagnose(problem, output, sources, wrong)  # type: ignore[arg-type]
    if rerun is not None:
        allows = supported(rerun.candidate.support, problem.spec)
        found = confirm(problem, found, rerun, rules=rerun.rules, allows=allows)
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
    judged: int = 0  # examples the candidate was judged on (not "unsupported")
    warned: int = 0  # examples that passed with imprecise entries (warnings)
    warnings: tuple[CaseResult, ...] = ()  # the first few of them
    phase: str | None = None  # where the failure was found: "formulas" or "robustness"
    formula_examples: int = 0  # examples of the formulas phase, when it passed
    coverage: Coverage | None = None  # what every example judged covered (harness.coverage)
    interrupted: bool = False  # Ctrl-C ended it: the examples done, the failure found so far

    @property
    def robustness(self) -> str | None:
        """For a failure found only at large weight scales: the sentence that says so."""
        if self.phase != "robustness" or self.minimal is None:
            return None
        return robustness_text(self.minimal, self.formula_examples)

    @property
    def warning_records(self) -> tuple[TensorRecord, ...]:
        """The imprecise tensors of the kept warning cases."""
        return tuple(r for case in self.warnings for r in case.warnings)

    @property
    def passed(self) -> bool:
        return self.minimal is None


Progress = Callable[[str, int, int], None]  # (phase, examples done, examples planned)


class CampaignInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) ended a campaign: ``result`` is what it had judged by then (the
    examples done, the smallest failure found so far, ``interrupted=True``). A
    `KeyboardInterrupt`, so a caller that does not look for it stops as Ctrl-C stops Python."""

    def __init__(self, result: CampaignResult):
        super().__init__(f"interrupted after {result.examples} example(s)")
        self.result = result


class _Sigint:
    """While a campaign runs: SIGINT sets ``hit`` and raises `KeyboardInterrupt`. Hypothesis
    catches a KeyboardInterrupt in places (and one raised inside a gc callback is lost), so the
    campaign reads ``hit`` after Hypothesis returns: a swallowed Ctrl-C still ends it. Outside
    the main thread (no signal handler can be set there) only a propagated one is seen."""

    def __init__(self) -> None:
        self.hit = False
        self._previous: Any = None
        self._unraisable: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.hit:  # a second Ctrl-C (GNU timeout sends two) while the campaign winds up
            return
        self.hit = True
        raise KeyboardInterrupt

    def _swallowed(self, unraisable: Any) -> None:
        """A KeyboardInterrupt raised where Python cannot raise it (a gc callback, a
        destructor) is not printed as "Exception ignored": ``hit`` already holds it."""
        if not (self.hit and issubclass(unraisable.exc_type, KeyboardInterrupt)):
            self._unraisable(unraisable)

    def __enter__(self) -> _Sigint:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
            self._unraisable, sys.unraisablehook = sys.unraisablehook, self._swallowed
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            sys.unraisablehook = self._unraisable


def robustness_text(case: CaseResult, formula_examples: int) -> str:
    """``robustness: the formulas agree at weight scale ≤ 1 (N examples); at scale 10 layer 2
    dW is NaN …``: a failure seen only where the weights are large."""
    failing = case.failing
    tensors = [r.where for r in failing if r.layer is not None]
    if any(r.status == "nonfinite" for r in failing):
        what = f"{', '.join(tensors)} not finite (overflow in exp or log?)"
    elif tensors:
        what = f"{', '.join(tensors)} wrong (clipping, saturation or cancellation?)"
    else:
        what = "; ".join(r.detail for r in failing) or "it fails"
    return (
        f"robustness: the formulas agree at weight scale ≤ {FORMULA_SCALE:g} "
        f"({formula_examples} examples); at weight scale {case.problem.weight_scale:g} {what}"
    )


def _flaky(first: CaseResult, replayed: CaseResult | None) -> CaseResult:
    """The first failure, with what Hypothesis saw when it ran the same case again."""
    before = "; ".join(r.detail.split("; ")[0] for r in first.failing) or "it failed"
    if replayed is None:
        after = "it did not fail the same way"
    else:
        after = "it passed" if replayed.passed else "it failed differently"
    detail = (f"the same case gave two verdicts: first {before}; run again on the same inputs, "
              f"{after}")  # fmt: skip
    record = TensorRecord(None, None, "nondeterministic", detail)
    return replace(first, records=(record, *first.records))


def _confirmed(minimal: CaseResult, again: CaseResult) -> CaseResult:
    """The minimal failing case, with what judging it again in a new worker added."""
    if again.passed:
        detail = ("in a new worker this case passes: the failure depends on state kept between "
                  "calls (what the campaign's worker ran before it) or on chance")  # fmt: skip
        added: tuple[TensorRecord, ...] = (TensorRecord(None, None, "nondeterministic", detail),)
    else:
        added = tuple(r for r in again.records
                      if r.status == "nondeterministic" and r not in minimal.records)  # fmt: skip
    return replace(minimal, records=(*added, *minimal.records)) if added else minimal


def run_campaign(
    backward: Backward | Candidate,
    *,
    candidate: str | None,
    profile: Profile,
    seed: int = 0,
    examples: int | None = None,
    progress: Progress | None = None,
    strategy: SearchStrategy[Problem] | StrategyFor | None = None,
    check: Callable[..., CaseResult] | None = None,
    rules: Rules = DEFAULT_RULES,
    weight_scales: Sequence[float] = WEIGHT_SCALES,
) -> CampaignResult:
    """Run ``examples`` Hypothesis examples (default: the profile's) against ``backward``.

    Formulas first, robustness second: the examples drawn at weight scales ≤ `FORMULA_SCALE`
    come first (two thirds of them); only when the formulas agree there do the larger scales of
    ``weight_scales`` follow, where saturation, overflow and clipping live. A failure found
    there is ``phase="robustness"``: the formulas are right, the code is not robust.

    ``strategy`` replaces the profile's architectures (e.g. an audit's declared support): a
    function of the weight scales to draw from, or one strategy (one phase, as it draws);
    ``check(problem, fresh=False)`` replaces `check_case` (e.g. with another timeout; it then
    carries its own ``rules``: precision and strictness). Cases that pass with imprecise entries
    are counted (``warned``) and the first few kept (``warnings``). The
    minimal failing case is judged again with ``fresh=True`` (in a new worker, as its reproduce
    line will run), and a different verdict there is a finding; a minimal case that shows the
    candidate was plugged in the wrong way raises `harness.usage.UsageError`. A campaign that
    judged no case (every one outside the support, or none could be drawn) raises
    `NothingCheckedError`; a case
    that fails and then passes on Hypothesis's replay is a ``nondeterministic`` finding.
    """
    planned = examples if examples is not None else profile.examples
    loaded = as_candidate(backward)
    sampled: list[CaseResult] = []
    state = {"examples": 0, "done": 0, "calls": 0, "judged": 0, "warned": 0, "shrinking": False}
    warned: list[CaseResult] = []
    first: list[CaseResult] = []
    latest: dict[str, CaseResult] = {}  # by problem, to show both outcomes of a flaky case
    unjudged: list[str] = []
    failures: list[CaseResult] = []  # the latest failure
    coverage = Coverage()  # over every example, not only the cases kept
    if strategy is None:  # what the candidate declares it supports (harness.support)
        support = loaded.support
        if not isinstance(support, Support):
            raise support
        specs = support.specs_strategy(profile.max_depth, profile.max_width)
        strategy = functools.partial(problems, specs, max_batch=profile.max_batch)
    phases = _phases(strategy, _weight_scales(weight_scales), planned)
    if check is None:

        def check(problem: Problem, fresh: bool = False) -> CaseResult:
            return check_case(loaded, problem, candidate, fresh=fresh, rules=rules)

    sigint = _Sigint()

    def campaign(problem: Problem) -> None:
        if sigint.hit:  # a Ctrl-C that Hypothesis (or a gc callback) swallowed: stop here
            raise KeyboardInterrupt
        state["calls"] += 1
        if not state["shrinking"]:
            state["examples"] += 1
        result = check(problem)
        latest[repr(problem)] = result
        state["done"] += not state["shrinking"]
        if not state["shrinking"]:
            coverage.add(result)
        if result.judged:
            state["judged"] += not state["shrinking"]  # like examples: shrink attempts aside
        elif not unjudged:
            unjudged.append(next(r.detail for r in result.records if r.status == "unsupported"))
        if progress is not None:
            phase = "shrinking" if state["shrinking"] else "checking"
            progress(phase, int(state["examples"]), planned)
        if not result.passed:
            if not first:
                first.append(result)
                state["shrinking"] = True
            failures[:] = [result]
            raise _CaseFailedError(result)
        if result.warnings and not state["shrinking"]:
            state["warned"] += 1
            if len(warned) < WARNED:
                warned.append(result)
        elif len(sampled) < SAMPLED and not state["shrinking"]:
            sampled.append(result)

    start = time.perf_counter()
    minimal: CaseResult | None = None
    found_in: str | None = None
    formula_examples = 0
    with sigint:
        try:
            for name, drawn, count in phases:
                found_in = name
                _hypothesis_run(drawn, count, seed, campaign)
                if sigint.hit:  # Hypothesis swallowed the KeyboardInterrupt
                    raise KeyboardInterrupt
                if name == "formulas":
                    formula_examples = int(state["examples"])
            found_in = None
        except _CaseFailedError as failure:
            minimal = failure.result
        except KeyboardInterrupt:
            sigint.hit = True  # also one not sent through the handler (another thread's)
            minimal = failures[0] if failures else None  # the smallest failure shrunk so far
        except Flaky:
            if not failures:
                raise
            replayed = latest.get(repr(failures[0].problem))
            minimal = _flaky(failures[0], None if replayed is failures[0] else replayed)
        except Unsatisfiable as error:
            if not sigint.hit:
                raise NothingCheckedError(
                    f"nothing was checked: no architecture inside the declared support could be "
                    f"drawn ({error})"
                ) from None
        if minimal is not None and not sigint.hit:
            try:
                minimal = _confirmed(minimal, check(minimal.problem, fresh=True))
            except KeyboardInterrupt:
                sigint.hit = True  # kept as found: unconfirmed in a new worker
            if not sigint.hit:
                misuse = usage_error(loaded, minimal, check)  # plugged in wrong: say how
                if misuse is not None:
                    raise misuse
    seconds = time.perf_counter() - start
    if minimal is None and state["judged"] == 0 and not sigint.hit:
        if not unjudged:
            raise NothingCheckedError("nothing was checked: no example was drawn")
        raise NothingCheckedError(
            f"nothing was checked: each of the {state['examples']} example(s) drawn lies outside "
            f"what the candidate implements (it raised NotImplementedError outside its declared "
            f"support; the first: {unjudged[0]}); declare the support it has (supports= or a "
            f".supports attribute) or audit a spec inside it"
        )
    cases: list[CaseResult] = []
    if minimal is not None:
        cases.append(minimal)
        if first and repr(first[0].problem) != repr(minimal.problem):
            cases.append(first[0])
    cases.extend(warned)
    cases.extend(sampled)
    result = CampaignResult(
        cases=cases,
        examples=int(state["done" if sigint.hit else "examples"]),
        calls=int(state["calls"]),
        seconds=seconds,
        minimal=minimal,
        first_failure=first[0] if first else None,
        judged=int(state["judged"]),
        warned=int(state["warned"]),
        warnings=tuple(warned),
        phase=found_in if minimal is not None else None,
        formula_examples=formula_examples,
        coverage=coverage,
        interrupted=sigint.hit,
    )
    if sigint.hit:
        raise CampaignInterrupted(result)
    return result


def _phases(
    strategy: SearchStrategy[Problem] | StrategyFor, scales: tuple[float, ...], planned: int
) -> list[tuple[str, SearchStrategy[Problem], int]]:
    """(name, strategy, examples) per phase: formulas at scales ≤ `FORMULA_SCALE`, then
    robustness at the larger ones with a third of the examples (one phase when the scales are
    all on one side, when a single example is planned, or for a given strategy)."""
    if isinstance(strategy, SearchStrategy):
        return [("formulas", strategy, planned)]
    formulas = tuple(x for x in scales if x <= FORMULA_SCALE)
    robustness = tuple(x for x in scales if x > FORMULA_SCALE)
    if not formulas:
        return [("robustness", strategy(weight_scales=robustness), planned)]
    later = planned // 3 if robustness else 0
    phases = [("formulas", strategy(weight_scales=formulas), planned - later)]
    if later:
        phases.append(("robustness", strategy(weight_scales=robustness), later))
    return phases


def _weight_scales(scales: Sequence[float]) -> tuple[float, ...]:
    if isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence) or not scales:
        raise HarnessError(f"weight_scales must be a non-empty sequence of positive numbers, "
                           f"e.g. (1.0, 0.1), got {scales!r}")  # fmt: skip
    for x in scales:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 < x < float("inf"):
            raise HarnessError(f"weight_scales must hold positive finite numbers, got {x!r}")
    return tuple(float(x) for x in scales)


def scales_up_to(largest: float) -> tuple[float, ...]:
    """The default weight scales no larger than ``largest`` (``--max-weight-scale``)."""
    kept = tuple(x for x in WEIGHT_SCALES if x <= largest)
    if not kept:
        raise HarnessError(f"--max-weight-scale {largest:g} leaves no weight scale to draw; the "
                           f"scales are {', '.join(f'{x:g}' for x in WEIGHT_SCALES)}")  # fmt: skip
    return kept


def _hypothesis_run(
    strategy: SearchStrategy[Problem], examples: int, seed: int, body: Callable[[Problem], None]
) -> None:
    """Run ``body`` on ``examples`` draws of ``strategy`` under Hypothesis, seeded, shrinking a
    failure (``body`` raises) to the smallest example."""

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(problem: Problem) -> None:
        body(problem)

    run()
