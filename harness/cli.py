"""`gradcheck-harness verify | audit`: the campaign and the audit from the shell.

Exit status: 0 every case passed, 1 a mismatch or a harness fault, 2 bad usage (including a
candidate that cannot be loaded), 130 Ctrl-C (the campaign stops, a partial report is written).
The parser is `harness.options` (argparse and literals only); the heavy modules are imported
inside the commands, so ``--help`` and ``--version`` answer at once. `harness.ci_output` renders
the run for CI: ``--junit-xml``, GitHub annotations, a plain progress line in a log.
"""

from __future__ import annotations

import argparse
import functools
import os
import secrets
import shlex
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar

from harness.options import (
    AUDIT_EXAMPLES,
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_TIMEOUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_PASSED,
    EXIT_USAGE,
    LOSSES,
    parser,
)

if TYPE_CHECKING:  # the heavy modules are imported when a command runs (--help stays fast)
    from rich.console import Console

    from harness.candidate import Candidate
    from harness.case import CaseResult
    from harness.compare import Rules
    from harness.report import Run
    from harness.spec import Loss, NetworkSpec, Problem

__all__ = ["main"]

_T = TypeVar("_T")
#: Console width when stdout is not a terminal (a CI log): wide enough that tables never wrap.
LOG_WIDTH = 400


# rich, on first use (it is a tenth of a second of --help's import time otherwise).
def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _scales(args: argparse.Namespace) -> tuple[tuple[float, ...], list[str]]:
    """The weight scales to draw, and the option that chose them, for a reproduce line."""
    from harness.campaign import WEIGHT_SCALES, scales_up_to

    if args.max_weight_scale is None:
        return WEIGHT_SCALES, []
    return scales_up_to(args.max_weight_scale), ["--max-weight-scale", f"{args.max_weight_scale:g}"]


def _rules(args: argparse.Namespace) -> Rules:
    from harness.compare import Rules
    from harness.errors import HarnessError
    from harness.tolerance import Tiers

    for flag, value in (("--tau", args.tau), ("--alpha", args.alpha)):
        if not 0 <= value < 1:
            raise HarnessError(f"{flag} must be a number in [0, 1), got {value}")
    return Rules(args.precision, args.strict, Tiers(args.tau, args.alpha))


def _spec(args: argparse.Namespace) -> NetworkSpec:
    from harness.errors import HarnessError
    from harness.spec import NetworkSpec

    if args.sizes is None or args.activations is None or args.loss is None:
        raise HarnessError("one problem needs all of --sizes, --activations and --loss")
    return NetworkSpec(args.sizes, args.activations, _loss(args), l2=args.l2)


def _loss(args: argparse.Namespace) -> Loss:
    from harness.spec import Loss

    return Loss(args.loss or "mse", half=args.half, reduction=args.reduction)


def _single_problem(args: argparse.Namespace) -> Problem:
    from harness.spec import Problem

    return Problem.random(
        _spec(args),
        args.batch,
        args.problem_seed or 0,
        args.weight_scale,
        kink_margin=args.kink_margin,
    )


def _campaign_with_bar(
    console: Console,
    planned: int,
    run: Callable[[Callable[[str, int, int], None]], _T],
    command: str = "verify",
) -> _T:
    """``run(progress)`` under a progress bar, or, in a log (not a terminal), under a plain
    line every few seconds (`harness.ci_output.PlainProgress`)."""
    if not console.is_terminal:
        from harness.ci_output import PlainProgress

        return run(PlainProgress(command, console.file))
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("checking", total=planned)

        def progress(phase: str, done: int, total: int) -> None:
            bar.update(task, description=phase, completed=min(done, total))

        return run(progress)


def _write(run: Run, report_dir: str) -> str:
    """Write the report; a report that cannot be written is said, never fatal: the verdict
    stands and is printed and returned all the same."""
    from harness.isolation import close_all
    from harness.report import write_report

    close_all()  # nothing the candidate left running outlives the verdict or touches the report
    try:
        path = write_report(run, Path(report_dir))
        if run.interrupted:
            return f"interrupted after {run.examples} examples; partial report: {path}"
        return f"report: {path}"
    except OSError as error:
        return f"report NOT written ({type(error).__name__}: {error}); the verdict above stands"


def _finish(console: Console, run: Run, seconds: float, report_dir: str) -> int:
    from harness.terminal import show_run

    passed = show_run(console, run, seconds, lambda timed: _write(timed, report_dir))
    return EXIT_PASSED if passed else EXIT_FAILED


def _layout_words(args: argparse.Namespace) -> list[str]:
    """--layout and --bias where not the default, for a reproduce line."""
    words = ["--layout", args.layout] if args.layout != "columns" else []
    return words + (["--bias", args.bias] if args.bias != "vector" else [])


def _fast_seed(args: argparse.Namespace) -> int | None:
    """Fast mode's direction seed: as given, else drawn from the OS (and then printed)."""
    if not args.fast:
        return None
    return args.fast_seed if args.fast_seed is not None else secrets.randbits(32)


def _fast_words(args: argparse.Namespace, fast_seed: int | None) -> list[str]:
    """--fast and its seed, for a reproduce line."""
    return ["--fast", "--fast-seed", str(fast_seed)] if args.fast else []


def _replay_words(args: argparse.Namespace) -> list[str]:
    """--timeout, --isolation and --memory-limit where not the default: a reproduce line runs
    the candidate under the limits that produced the finding (a timeout replays as one)."""
    words = ["--timeout", f"{args.timeout:g}"] if args.timeout != DEFAULT_TIMEOUT else []
    if args.isolation != "process":
        words += ["--isolation", args.isolation]
    if args.memory_limit != DEFAULT_MEMORY_LIMIT:
        words += ["--memory-limit", "none" if args.memory_limit is None else str(args.memory_limit)]
    return words


def _verify(args: argparse.Namespace, console: Console) -> int:
    from harness.campaign import (
        PROFILES,
        CampaignInterrupted,
        CampaignResult,
        check_case,
        fast_case,
        run_campaign,
    )
    from harness.case import cli_rules
    from harness.errors import HarnessError
    from harness.report import check_report_dir

    check_report_dir(Path(args.report_dir))
    candidate = _audited(args, args.candidate)
    seed = _fast_seed(args)
    timeout = _positive(args.timeout, "--timeout")

    replay = _layout_words(args) + _replay_words(args)
    front = shlex.join(["verify", "--candidate", args.candidate, *replay]) if replay else "verify"

    rules = _rules(args)
    scales, scale_words = _scales(args)

    def judge(problem: Problem, fresh: bool = False) -> CaseResult:
        if seed is not None:
            return fast_case(candidate, problem, args.candidate, timeout=timeout, seed=seed,
                             fresh=fresh, front=front, rules=rules)  # fmt: skip
        return check_case(candidate, problem, args.candidate, timeout=timeout, fresh=fresh,
                          front=front, rules=rules)  # fmt: skip

    if args.sizes is not None:
        case = judge(_single_problem(args))
        result = CampaignResult([case], 1, 1, 0.0, None if case.passed else case, judged=1)
        profile = "single"
        command = case.reproduce
    else:
        if args.examples is not None and args.examples < 1:
            raise HarnessError(f"--examples must be a positive int, got {args.examples}")
        profile = args.profile
        words = ["gradcheck-harness", "verify", "--candidate", args.candidate,
                 "--profile", profile, "--seed", str(args.seed)]  # fmt: skip
        if args.examples is not None:
            words += ["--examples", str(args.examples)]
        command = shlex.join(words + _fast_words(args, seed) + replay + cli_rules(rules)
                             + scale_words)  # fmt: skip
        try:
            result = _campaign_with_bar(
                console,
                args.examples or PROFILES[profile].examples,
                lambda progress: run_campaign(
                    candidate,
                    candidate=args.candidate,
                    profile=PROFILES[profile],
                    seed=args.seed,
                    examples=args.examples,
                    progress=progress,
                    check=judge,
                    weight_scales=scales,
                ),
            )
        except CampaignInterrupted as stop:
            _CTRL_C.stopping = True
            result = stop.result
    return _conclude(console, args, _run(args.candidate, args.seed, profile, command, result),
                     result.seconds)  # fmt: skip


def _run(candidate: str, seed: int, profile: str, command: str, result: Any) -> Run:
    """The report's record of a campaign's ``result`` (a `CampaignResult` or an audit's
    `AuditReport`: the fields they share)."""
    from harness.report import Run

    cases = tuple(result.cases)
    interrupted = getattr(result, "interrupted", False)
    nothing = interrupted and not result.judged  # stopped before any verdict: never a pass
    return Run(
        candidate=candidate,
        seed=seed,
        profile=profile,
        examples=result.examples,
        cases=cases,
        passed=all(c.passed for c in cases[:1]) and not nothing,
        command=command,
        judged=result.judged,
        warned=result.warned,
        robustness=result.robustness,
        coverage=getattr(result, "coverage", None),
        interrupted=interrupted,
    )


def _conclude(console: Console, args: argparse.Namespace, run: Run, seconds: float) -> int:
    """Print the verdict and write the report (`_finish`), then what CI reads: --junit-xml,
    GitHub annotations, --json; 130 when Ctrl-C ended the campaign."""
    from dataclasses import replace

    run = replace(run, seconds=seconds)  # one Run for the report, --json and the junit xml
    code = _finish(console, run, seconds, args.report_dir)
    if args.junit_xml is not None:
        from harness.ci_output import write_junit_xml

        try:
            written = write_junit_xml(run, args.command, seconds, args.junit_xml)
            console.print(escape(f"junit xml: {written}"), soft_wrap=True)
        except OSError as error:
            console.print(escape(f"junit xml NOT written ({type(error).__name__}: {error})"),
                          soft_wrap=True)  # fmt: skip
    if os.environ.get("GITHUB_ACTIONS") == "true":
        from harness.ci_output import github_annotations

        for line in github_annotations(run):
            print(line, file=console.file, flush=True)
    if args.json:
        from harness.report import summary_json

        sys.stdout.write(summary_json(run))
        sys.stdout.flush()
    return EXIT_INTERRUPTED if run.interrupted else code


def _positive(value: float, flag: str) -> float:
    from harness.errors import HarnessError

    if not value > 0:
        raise HarnessError(f"{flag} must be a positive number of seconds, got {value}")
    return value


def _convention_given(args: argparse.Namespace) -> bool:
    return bool(args.half or args.reduction != "mean" or args.l2)


def _convention_words(args: argparse.Namespace) -> list[str]:
    """--half / --reduction / --l2 as given, for a reproduce line."""
    words = ["--half"] if args.half else []
    words += ["--reduction", args.reduction] if args.reduction != "mean" else []
    return words + (["--l2", repr(args.l2)] if args.l2 else [])


def _audited(args: argparse.Namespace, target: str) -> Candidate:
    """``target``, loaded in its worker and adapted there to the plug-in contract (--layout,
    --bias)."""
    from harness.adapters import from_columns, from_dict, from_flat, from_rows
    from harness.candidate import load_candidate
    from harness.errors import HarnessError
    from harness.spec import Loss

    adapter: Any = None
    if args.layout == "rows":
        adapter = functools.partial(from_rows, bias=args.bias)
    elif args.bias != "vector" and args.layout == "columns":
        adapter = functools.partial(from_columns, bias=args.bias)
    elif args.bias != "vector":
        raise HarnessError(
            f"--bias applies to --layout columns or rows; --layout {args.layout} has none"
        )
    elif args.layout == "dict":
        if args.activations is None:
            raise HarnessError(
                "--layout dict needs --activations, one per layer, e.g. --activations "
                "relu,softmax: the network loss(X, y) computes"
            )
        loss = _loss(args) if args.loss is not None else Loss("cross_entropy",
                                                              reduction=args.reduction)  # fmt: skip
        labels = "int" if loss.name == "cross_entropy" else "onehot"
        adapter = functools.partial(from_dict, activations=tuple(args.activations), loss=loss,
                                    l2=args.l2, labels=labels)  # fmt: skip
    elif args.layout == "flat":
        spec = _spec(args)
        adapter = functools.partial(from_flat, sizes=spec.sizes, activations=spec.activations,
                                    loss=spec.loss, l2=spec.l2)  # fmt: skip
    return load_candidate(target, isolation=args.isolation, adapter=adapter,
                          memory_limit=args.memory_limit)  # fmt: skip


def _audit(args: argparse.Namespace, console: Console) -> int:
    from harness.auditing import audit, check
    from harness.campaign import CampaignInterrupted
    from harness.case import cli_rules
    from harness.errors import HarnessError
    from harness.report import check_report_dir
    from harness.spec import Loss

    examples = AUDIT_EXAMPLES if args.examples is None else args.examples
    if examples < 1:
        raise HarnessError(f"--examples must be a positive int, got {examples}")
    timeout = _positive(args.timeout, "--timeout")
    check_report_dir(Path(args.report_dir))
    candidate = _audited(args, args.target)
    front_words = ["audit", args.target, *_layout_words(args), *_replay_words(args)]
    front = shlex.join(front_words)
    start = time.perf_counter()
    mode = "fast" if args.fast else "full"
    seed = _fast_seed(args)
    rules = _rules(args)
    scales, scale_words = _scales(args)
    result: Any
    if args.problem_seed is not None:
        report = check(candidate, _single_problem(args), timeout=timeout, name=args.target,
                       front=front, mode=mode, fast_seed=seed, precision=rules.precision,
                       strict=rules.strict, tiers=rules.tiers)  # fmt: skip
        result = SimpleNamespace(cases=(report.case,), examples=1, judged=1, warned=None,
                                 robustness=None)  # fmt: skip
        command = report.case.reproduce
    else:
        family = None
        supports: dict[str, Any] | None = None
        words = ["gradcheck-harness", *front_words,
                 "--examples", str(examples), "--seed", str(args.seed)]  # fmt: skip
        if args.sizes is not None:
            family = _spec(args)
            words += ["--sizes", ",".join(map(str, family.sizes)),
                      "--activations", ",".join(family.activations),
                      "--loss", family.loss.name]  # fmt: skip
        elif args.layout == "dict":  # from_dict declares its one architecture itself
            words += ["--activations", ",".join(args.activations)]
            words += ["--loss", args.loss] if args.loss is not None else []
        elif args.activations is not None or args.loss is not None or _convention_given(args):
            supports = {"l2": (args.l2,)}
            if args.activations is not None:
                supports["activations"] = args.activations
                words += ["--activations", ",".join(args.activations)]
            losses = (args.loss,) if args.loss is not None else LOSSES
            if args.loss is not None:
                words += ["--loss", args.loss]
            supports["losses"] = tuple(
                Loss(name, half=args.half and name == "mse", reduction=args.reduction)
                for name in losses
            )
        command = shlex.join(words + _convention_words(args) + _fast_words(args, seed)
                             + cli_rules(rules) + scale_words)  # fmt: skip
        try:
            result = _campaign_with_bar(
                console,
                examples,
                lambda progress: audit(
                    candidate, spec=family, examples=examples, seed=args.seed,
                    supports=supports, timeout=timeout, name=args.target, front=front,
                    progress=progress, mode=mode, fast_seed=seed, precision=rules.precision,
                    strict=rules.strict, tiers=rules.tiers, weight_scales=scales,
                ),
                "audit",
            )  # fmt: skip
        except CampaignInterrupted as stop:
            _CTRL_C.stopping = True
            result = stop.result
    seconds = time.perf_counter() - start
    run = _run(args.target, args.seed, "audit", command, result)
    return _conclude(console, args, run, seconds)


def _console(args: argparse.Namespace) -> Console:
    """The human output: stdout (stderr with --json, which keeps stdout for the summary); in a
    log (not a terminal) wide enough that a table never wraps."""
    from rich.console import Console

    stream = sys.stderr if args.json else sys.stdout
    console = Console(highlight=False, file=stream)
    if not console.is_terminal:
        console = Console(highlight=False, file=stream, width=LOG_WIDTH)
    return console


class _CtrlC:
    """The CLI's SIGINT handler: the first Ctrl-C raises `KeyboardInterrupt` (a campaign
    installs its own, `harness.campaign`, and ends with a partial result); once the run is
    stopping, more (GNU timeout sends the signal twice, an impatient second press) are ignored,
    so the partial report is written and the workers stopped without a traceback."""

    stopping = False

    def __call__(self, signum: int, frame: Any) -> None:
        if self.stopping:
            return
        self.stopping = True
        raise KeyboardInterrupt


_CTRL_C = _CtrlC()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gradcheck-harness` console script: 0 passed, 1 failed or a harness
    fault, 2 bad usage, 130 Ctrl-C (`harness.options.EXIT_CODES`)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(arguments)
    # Saturated activations overflow harmlessly inside numpy (cosh, exp); a value that really
    # goes non-finite is a finding of its own, so the warnings would only be noise here.
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    _CTRL_C.stopping = False
    previous = signal.signal(signal.SIGINT, _CTRL_C) if _main_thread() else None
    try:
        from harness.errors import CandidateError, HarnessError

        console = _console(args)
        try:
            if args.command == "audit":
                return _audit(args, console)
            return _verify(args, console)
        except (CandidateError, HarnessError) as error:
            print(f"gradcheck-harness: error: {error}", file=sys.stderr)
            return EXIT_USAGE
    except KeyboardInterrupt:  # outside a campaign (loading, writing): nothing to keep
        _CTRL_C.stopping = True
        _stop_workers()
        print("gradcheck-harness: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        # After a Ctrl-C the handler stays: a second SIGINT already tripped but not yet run
        # (the handler is looked up when Python runs it, not when it arrives) would otherwise
        # reach Python's own and end the process with an uncaught KeyboardInterrupt.
        if previous is not None and not _CTRL_C.stopping:
            signal.signal(signal.SIGINT, previous)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _stop_workers() -> None:
    if "harness.isolation" in sys.modules:
        sys.modules["harness.isolation"].close_all()


if __name__ == "__main__":
    raise SystemExit(main())
