"""Audit a plugged-in backprop: `check` one problem, or `audit` a whole Hypothesis campaign.

A candidate follows the plug-in contract of DESIGN.md,
``backward(params, X, Y, activations, loss) -> [(dW1, db1), ...]``, and may declare what it
supports as an attribute, ``backward.supports = {"activations": [...], "losses": [...]}`` (losses
as names or `harness.Loss` conventions; also ``"l2"``, ``"sizes"``, ``"depths"``, ``"specs"``,
``"keywords"``: `harness.support`; the adapters in `harness.adapters` set it), or the caller passes
``supports=`` to `audit`. The harness tests it only there — a function that declares nothing is
audited on the seeds' conventions — and a `NotImplementedError` outside the declared support is
not a failure.

Both reports are records (STYLE 7): ``.passed``, ``.findings`` — one `Finding` per wrong
(layer, tensor) and per whole-call problem — and ``.to_json()``; ``str(report)`` is the message a
person reads: observed, expected, where, the pattern it looks like, and how to reproduce it.

``mode="fast"`` checks one random direction first (`harness.fast`): a pass is a fast pass (a
single wrong entry beyond the summed tolerance is always seen; several may cancel); a failure is
localized to entries and then the full per-entry check runs, so ``.findings`` are the full
check's and ``CheckReport.fast`` / ``.confirmed`` say what fast mode found and whether the full
check confirms it.
"""

from __future__ import annotations

import functools
import json
import shlex
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from hypothesis import strategies as st

from harness.campaign import (
    MODES,
    PROFILES,
    WEIGHT_SCALES,
    Profile,
    Progress,
    StrategyFor,
    check_case,
    fast_case,
    run_campaign,
)
from harness.candidate import Backward, Candidate, as_candidate
from harness.case import CaseResult, python_rules
from harness.compare import Entry, Rules, TensorRecord
from harness.coverage import Coverage
from harness.errors import HarnessError
from harness.fast import FastResult, direction_seed
from harness.isolation import DEFAULT_MEMORY_LIMIT, close_all
from harness.replay import PythonCall, cli_front
from harness.report import Run, check_report_dir, write_report
from harness.report_html import fragment
from harness.spec import NetworkSpec, Problem
from harness.strategies import problems
from harness.support import Support, parse_support
from harness.tolerance import DEFAULT_TIERS, Tiers

__all__ = ["KINDS", "AuditReport", "CheckReport", "Finding", "audit", "check"]

#: What a finding can be: a kind per failing record status.
KINDS: Final = (
    "value",
    "imprecise",
    "shape",
    "nonfinite",
    "raises",
    "count",
    "mutates_inputs",
    "nondeterministic",
    "timeout",
    "crashed",
    "memory",
)
_KIND_OF_STATUS: Final = {
    "mismatch": "value",
    "imprecise": "imprecise",
    "shape": "shape",
    "dtype": "shape",
    "nonfinite": "nonfinite",
    "raises": "raises",
    "count": "count",
    "mutates_inputs": "mutates_inputs",
    "nondeterministic": "nondeterministic",
    "timeout": "timeout",
    "crashed": "crashed",
    "memory": "memory",
}
#: Rows of worst entries a message shows (pytest's approx shows a few, never whole matrices).
SHOWN: Final = 3


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a candidate: a (layer, tensor), or the whole call (layer None)."""

    layer: int | None
    param: str | None
    kind: str
    detail: str
    diagnosis: str | None
    worst: tuple[Entry, ...]
    mismatched: int
    total: int

    @classmethod
    def from_record(cls, record: TensorRecord) -> Finding:
        return cls(
            layer=record.layer,
            param=record.param,
            kind=_KIND_OF_STATUS[record.status],
            detail=record.detail,
            diagnosis=record.diagnosis,
            worst=record.worst,
            mismatched=record.mismatched,
            total=record.total,
        )

    @property
    def headline(self) -> str:
        """``layer 2 dW: 12/12 entries wrong, looks transposed``."""
        if self.layer is None:
            return f"whole call ({self.kind}): {self.detail}"
        where = f"layer {self.layer} d{self.param}"
        if self.kind == "imprecise":
            return (f"{where}: {self.mismatched}/{self.total} entries imprecise (strict): beyond "
                    f"the rounding model, within the precision band")  # fmt: skip
        if self.kind != "value":
            return self.detail if self.detail.startswith(where) else f"{where}: {self.detail}"
        pattern = self.diagnosis or "no known pattern"
        return f"{where}: {self.mismatched}/{self.total} entries wrong, {pattern}"

    def explain(self) -> str:
        """The headline, then the worst entries (observed, expected, bound), pytest-approx style."""
        lines = [self.headline]
        if self.kind in ("value", "imprecise") and self.worst:
            lines.append("  " + self.detail.split("; ", 1)[-1])
            label = "Mismatched" if self.kind == "value" else "Imprecise"
            lines.append(f"  {label} elements: {self.mismatched} / {self.total}")
            lines.append("  Index | Candidate | Expected | |Δ| | bound")
            for e in self.worst[:SHOWN]:
                index = "[" + ", ".join(str(i) for i in e.index) + "]"
                lines.append(
                    f"  {index} | {e.candidate:.6g} | {e.expected:.6g} | "
                    f"{e.abs_error:.1e} | {e.bound:.1e}"
                )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "param": self.param,
            "kind": self.kind,
            "detail": self.detail,
            "diagnosis": self.diagnosis,
            "mismatched": self.mismatched,
            "total": self.total,
            "worst": [e.as_dict() for e in self.worst],
        }


def _findings(case: CaseResult) -> tuple[Finding, ...]:
    return tuple(Finding.from_record(r) for r in case.failing if r.status in _KIND_OF_STATUS)


def _faults(case: CaseResult) -> tuple[str, ...]:
    return tuple(r.detail for r in case.records if r.status == "source-disagreement")


@dataclass(frozen=True)
class CheckReport:
    """The verdict on one explicit problem."""

    case: CaseResult

    @property
    def findings(self) -> tuple[Finding, ...]:
        return _findings(self.case)

    @property
    def harness_faults(self) -> tuple[str, ...]:
        """Places where the sources contradict each other: the harness's fault, loudly."""
        return _faults(self.case)

    @property
    def passed(self) -> bool:
        return self.case.passed

    @property
    def warnings(self) -> tuple[TensorRecord, ...]:
        """Tensors with imprecise entries that pass: beyond the rounding model, within the
        precision band (`harness.Tiers`) — a precision choice to look at, not a logic bug."""
        return self.case.warnings

    @property
    def problem(self) -> Problem:
        return self.case.problem

    @property
    def mode(self) -> str:
        return self.case.mode

    @property
    def fast(self) -> FastResult | None:
        """The fast verdict (``mode="fast"``), with the entries it localized on a failure."""
        return self.case.fast

    @property
    def confirmed(self) -> bool | None:
        """Whether the full check confirms every entry fast mode localized (None: no fast
        failure to confirm)."""
        return self.case.fast_confirmed

    @property
    def run(self) -> Run:
        """This check as a one-case `Run` (what the reports render)."""
        case = self.case
        name = case.candidate or "the candidate"
        return Run(name, 0, "single", 1, (case,), case.passed, case.reproduce)

    def _repr_html_(self) -> str:
        """A notebook shows the headline and the tensors' table (escaped HTML)."""
        return fragment(self.run)

    def to_json(self) -> str:
        data = self.case.as_dict()
        data["findings"] = [f.as_dict() for f in self.findings]
        if self.fast is not None:
            data["fast"] = self.fast.as_dict()
        return json.dumps(data, indent=2, default=str)

    def __str__(self) -> str:
        if self.passed and self.fast is not None and self.fast.passed:
            return f"passed: {self.fast.summary}, on {self.problem!r}"
        if self.passed and self.warnings:
            lines = [f"passed with {len(self.warnings)} warning(s) on {self.problem!r}:"]
            return "\n".join([*lines, *(f"  warning: {r.detail}" for r in self.warnings)])
        if self.passed:
            return f"passed: every gradient entry agrees with the sources on {self.problem!r}"
        parts = []
        if self.fast is not None:
            parts.append(self.fast.summary)
            if self.confirmed is not None:
                parts.append(f"a full check {'confirms' if self.confirmed else 'does NOT confirm'}"
                             f" the localized entries:")  # fmt: skip
        parts += [f.explain() for f in self.findings]
        if self.case.origin:
            parts.append(f"where the error starts: {self.case.origin}")
        parts += [f"HARNESS FAULT: {fault}" for fault in self.harness_faults]
        parts.append(f"reproduce: {self.case.reproduce}")
        return "\n".join(parts)


@dataclass(frozen=True)
class AuditReport:
    """The verdict of a campaign: the minimal failing case's findings, and where the report is."""

    cases: tuple[CaseResult, ...]
    examples: int
    report_path: Path | None
    mode: str = "full"
    judged: int = 0  # examples the candidate was judged on (the rest lay outside its support)
    warned: int = 0  # examples that passed with imprecise entries
    robustness: str | None = None  # a failure seen only at large weight scales, said so
    coverage: Coverage | None = None  # what the examples judged covered (harness.coverage)

    @property
    def warnings(self) -> tuple[TensorRecord, ...]:
        """The imprecise tensors of the passing cases kept (up to three cases; ``warned``
        counts them all): warnings, not failures, unless the audit was strict."""
        return tuple(r for case in self.cases if case.passed for r in case.warnings)

    @property
    def minimal(self) -> CaseResult | None:
        """The shrunk failing case (first in ``cases``), or None when every case passed."""
        return self.cases[0] if self.cases and not self.cases[0].passed else None

    @property
    def minimal_spec(self) -> NetworkSpec | None:
        return None if self.minimal is None else self.minimal.problem.spec

    @property
    def passed(self) -> bool:
        return self.minimal is None

    @property
    def findings(self) -> tuple[Finding, ...]:
        return () if self.minimal is None else _findings(self.minimal)

    def _repr_html_(self) -> str:
        """A notebook shows the headline, then the minimal failing case's tensors, or the
        coverage of a pass (escaped HTML)."""
        name = next((c.candidate for c in self.cases if c.candidate), None) or "the candidate"
        run = Run(name, 0, "audit", self.examples, self.cases, self.passed, "",
                  judged=self.judged, warned=self.warned, robustness=self.robustness,
                  coverage=self.coverage)  # fmt: skip
        return fragment(run)

    def to_json(self) -> str:
        return json.dumps(
            {
                "passed": self.passed,
                "examples": self.examples,
                "judged": self.judged,
                "warned": self.warned,
                "warnings": [r.detail for r in self.warnings],
                "robustness": self.robustness,
                "mode": self.mode,
                "minimal_spec": None if self.minimal_spec is None else repr(self.minimal_spec),
                "findings": [f.as_dict() for f in self.findings],
                "report_path": None if self.report_path is None else str(self.report_path),
                "cases": [c.as_dict() for c in self.cases],
            },
            indent=2,
            default=str,
        )

    def __str__(self) -> str:
        where = f"; report: {self.report_path}" if self.report_path else ""
        if self.minimal is None:
            how = " along one random direction each (fast mode)" if self.mode == "fast" else ""
            if self.warned:
                lines = [f"passed with warnings: {self.judged} of {self.examples} examples "
                         f"judged, {self.warned} with imprecise entries{how}{where}"]  # fmt: skip
                return "\n".join([*lines, *(f"  warning: {r.detail}" for r in self.warnings)])
            return (f"passed: {self.judged} of {self.examples} examples judged, all agree with the "
                    f"sources{how}{where}")  # fmt: skip
        head = f"{self.robustness}\n" if self.robustness else ""
        return f"{head}{CheckReport(self.minimal)}\n(after {self.examples} examples{where})"


def _positive_timeout(timeout: float) -> float:
    # Beyond threading.TIMEOUT_MAX (about 292 years) Thread.join raises OverflowError.
    if not (isinstance(timeout, (int, float)) and 0 < float(timeout) <= threading.TIMEOUT_MAX):
        raise HarnessError(
            f"timeout must be a positive number of seconds (at most {threading.TIMEOUT_MAX:.3g}), "
            f"got {timeout!r}"
        )
    return float(timeout)


def _optional_text(value: str | None, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise HarnessError(f"{what} must be a str or None, got {type(value).__name__}")
    return value


def _mode(mode: str) -> str:
    if not isinstance(mode, str) or mode not in MODES:
        raise HarnessError(
            f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r} "
            f"('fast': one random direction, localized on failure and confirmed by a full check)"
        )
    return mode


def _memory_limit(limit: int | None) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise HarnessError(
            f"memory_limit must be a positive number of bytes or None (no cap), got {limit!r}"
        )
    return limit


def _options(timeout: float, isolation: str, memory_limit: int | None) -> str:
    """``, timeout=60.0``-style text for the arguments of a Python call that are not defaults."""
    options = "" if timeout == 30.0 else f", timeout={timeout!r}"
    options += "" if isolation == "process" else f", isolation={isolation!r}"
    return options + ("" if memory_limit == DEFAULT_MEMORY_LIMIT
                      else f", memory_limit={memory_limit!r}")  # fmt: skip


def _front(
    backward: Any, loaded: Candidate, timeout: float, isolation: str, memory_limit: int | None
) -> str | PythonCall:
    """How a reproduce line names the candidate: ``audit TARGET`` for a target string or a
    function a command line rebuilds, else the Python call (`harness.replay`)."""
    front = shlex.join(["audit", backward]) if isinstance(backward, str) else None
    if front is None and isolation == "process":
        front = cli_front(loaded.replay)
    options = _options(timeout, isolation, memory_limit)
    if front is None or (options and not isinstance(backward, str)):
        return PythonCall(loaded.replay.python, options)
    words = [] if timeout == 30.0 else ["--timeout", repr(timeout)]
    words += [] if isolation == "process" else ["--isolation", isolation]
    if memory_limit != DEFAULT_MEMORY_LIMIT:
        words += ["--memory-limit", "none" if memory_limit is None else str(memory_limit)]
    return shlex.join([*shlex.split(front), *words])


def _audit_call(
    backward: Any, loaded: Candidate, options: str, examples: int, seed: int, direction: int | None
) -> str:
    """The Python call that runs this campaign again (``options``: its other arguments)."""
    expression = repr(backward) if isinstance(backward, str) else loaded.replay.python
    fast = "" if direction is None else f", mode='fast', fast_seed={direction}"
    return f"audit({expression}, examples={examples}, seed={seed}{options}{fast})"


def _judge(mode: str, fast_seed: int | None) -> tuple[Any, int | None]:
    """The function that judges one case, and fast mode's direction seed (None in full mode)."""
    if _mode(mode) != "fast":
        return check_case, None
    seed = direction_seed(fast_seed, "fast_seed")

    def fast(*args: Any, **kwargs: Any) -> CaseResult:
        return fast_case(*args, seed=seed, **kwargs)

    return fast, seed


def check(
    backward: Backward | Candidate | str,
    problem: Problem,
    *,
    timeout: float = 30.0,
    name: str | None = None,
    front: str | None = None,
    mode: str = "full",
    isolation: str = "process",
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
    fast_seed: int | None = None,
    precision: str = "float64",
    strict: bool = False,
    tiers: Tiers = DEFAULT_TIERS,
) -> CheckReport:
    """Check ``backward`` on one explicit problem (deterministic); ``mode="fast"``: one random
    direction first, seeded by ``fast_seed`` (default: from the OS; see the module docstring).

    ``isolation="process"`` runs the candidate in a worker process (`harness.candidate`);
    ``"inline"`` in this process, unsafe, for stepping through it in a debugger.

    ``precision="float32"``: the candidate computes in float32; it gets float32 arrays (the
    problem rounded to float32, which the sources then judge exactly) and is judged against a
    float32 rounding model. Entries beyond the rounding model but within ``tiers`` (τ·|expected|
    + α·max|expected|) are *imprecise*: warnings (``.warnings``) that fail only when ``strict``.
    """
    if not isinstance(problem, Problem):
        raise HarnessError(f"problem must be a harness.Problem, got {type(problem).__name__}")
    name = _optional_text(name, "name")
    front = _optional_text(front, "front")
    judge, _ = _judge(mode, fast_seed)
    rules = Rules(precision, strict, tiers)
    seconds = _positive_timeout(timeout)
    loaded = as_candidate(backward, isolation, _memory_limit(memory_limit))
    candidate = name or (backward if isinstance(backward, str) else loaded.name)
    case = judge(
        loaded,
        problem,
        candidate,
        timeout=seconds,
        unsupported_ok=False,
        front=front or _front(backward, loaded, seconds, isolation, memory_limit),
        rules=rules,
    )
    return CheckReport(case)


def _supported(candidate: Candidate, supports: Mapping[str, Any] | None) -> Support:
    if supports is not None:
        return parse_support(supports)  # anything not a mapping: a typed error
    if isinstance(candidate.support, BaseException):  # its own `supports` did not parse
        raise candidate.support
    return candidate.support  # type: ignore[no-any-return]


@st.composite
def _spec_family(draw: st.DrawFn, spec: NetworkSpec) -> NetworkSpec:
    """Same depth, activations, loss and l2; each width from 1 up to the spec's own."""
    sizes = tuple(draw(st.integers(1, n)) for n in spec.sizes)
    return NetworkSpec(sizes, spec.activations, spec.loss, l2=spec.l2)


def _strategy(spec: NetworkSpec | None, support: Support, profile: Profile) -> StrategyFor:
    """Problems of ``spec``'s family or of the declared support, as a function of the weight
    scales (the campaign draws the formulas' scales first, then robustness's)."""
    if spec is not None and support.specs is None:
        return functools.partial(problems, _spec_family(spec), max_batch=profile.max_batch)
    specs = support.specs_strategy(profile.max_depth, profile.max_width)
    return functools.partial(problems, specs, max_batch=profile.max_batch)


def audit(
    backward: Backward | Candidate | str,
    *,
    spec: NetworkSpec | None = None,
    examples: int = 100,
    seed: int = 0,
    supports: Mapping[str, Any] | None = None,
    timeout: float = 30.0,
    report_dir: str | Path | None = None,
    name: str | None = None,
    front: str | None = None,
    progress: Progress | None = None,
    mode: str = "full",
    isolation: str = "process",
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
    fast_seed: int | None = None,
    precision: str = "float64",
    strict: bool = False,
    tiers: Tiers = DEFAULT_TIERS,
    weight_scales: Sequence[float] = WEIGHT_SCALES,
) -> AuditReport:
    """A Hypothesis campaign against ``backward``; a failure is shrunk to the smallest case.

    Architectures: ``spec``'s family (its depth, activations and loss, widths up to its own), or
    every architecture of the default profile restricted to the declared support. With
    ``report_dir`` the three report files are written there (the directory is checked before
    the campaign starts). ``mode="fast"`` checks each example along one random direction first,
    seeded by ``fast_seed`` (default: from the OS). ``isolation`` and ``memory_limit``: see
    `check`, as are ``precision``, ``strict`` and ``tiers``. The formulas are judged first, at
    weight scales ≤ 1, then robustness at the larger ``weight_scales`` (a failure only there
    is a robustness finding, `AuditReport.robustness`); pass ``weight_scales=(1.0, 0.1, 0.5)``
    to judge the formulas only. A campaign that judged nothing raises
    `harness.campaign.NothingCheckedError`.
    """
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 1:
        raise HarnessError(f"examples must be a positive int, got {examples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise HarnessError(f"seed must be an int, got {seed!r}")
    if spec is not None and not isinstance(spec, NetworkSpec):
        raise HarnessError(f"spec must be a NetworkSpec, got {type(spec).__name__}")
    seconds = _positive_timeout(timeout)
    name = _optional_text(name, "name")
    front = _optional_text(front, "front")
    judge, direction = _judge(mode, fast_seed)
    rules = Rules(precision, strict, tiers)
    if report_dir is not None:
        check_report_dir(Path(report_dir))
    loaded = as_candidate(backward, isolation, _memory_limit(memory_limit))
    support = _supported(loaded, supports)
    candidate = name or (backward if isinstance(backward, str) else loaded.name)
    profile = PROFILES["default"]
    named = front or _front(backward, loaded, seconds, isolation, memory_limit)

    def check_one(problem: Problem, fresh: bool = False) -> CaseResult:
        inside = support.covers(problem.spec)
        return judge(  # type: ignore[no-any-return]
            loaded,
            problem,
            candidate,
            timeout=seconds,
            unsupported_ok=not inside,
            front=named,
            fresh=fresh,
            rules=rules,
        )

    result = run_campaign(
        loaded,
        candidate=candidate,
        profile=profile,
        seed=seed,
        examples=examples,
        strategy=_strategy(spec, support, profile),
        check=check_one,
        progress=progress,
        weight_scales=weight_scales,
    )
    path = None
    if report_dir is not None:
        run = Run(
            candidate=candidate,
            seed=seed,
            profile="audit",
            examples=result.examples,
            cases=tuple(result.cases),
            passed=result.passed,
            command=_audit_call(
                backward,
                loaded,
                (f", spec={spec!r}" if spec is not None else "")
                + (f", supports={dict(supports)!r}" if supports is not None else "")
                + _options(seconds, isolation, memory_limit)
                + python_rules(rules)
                + (
                    ""
                    if tuple(weight_scales) == WEIGHT_SCALES
                    else f", weight_scales={tuple(weight_scales)!r}"
                ),
                examples,
                seed,
                direction,
            ),
            judged=result.judged,
            warned=result.warned,
            robustness=result.robustness,
            coverage=result.coverage,
            seconds=result.seconds,
        )
        close_all()  # nothing the candidate left running outlives the verdict or the report
        path = write_report(run, Path(report_dir))
    return AuditReport(
        tuple(result.cases),
        result.examples,
        path,
        mode,
        result.judged,
        result.warned,
        result.robustness,
        result.coverage,
    )
