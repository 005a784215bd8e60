"""`gradcheck-harness verify | audit`: the campaign and the audit from the shell.

Exit status: 0 every case passed, 1 a mismatch or a harness fault, 2 bad usage (including a
candidate that cannot be loaded).
"""

from __future__ import annotations

import argparse
import functools
import secrets
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.adapters import BIASES, from_columns, from_dict, from_flat, from_rows
from harness.auditing import audit, check
from harness.campaign import (
    FORMULA_SCALE,
    PROFILES,
    WEIGHT_SCALES,
    CampaignResult,
    check_case,
    fast_case,
    run_campaign,
    scales_up_to,
)
from harness.candidate import ISOLATIONS, Candidate, CandidateError, load_candidate
from harness.case import CaseResult, cli_rules
from harness.compare import Rules
from harness.errors import HarnessError
from harness.isolation import DEFAULT_MEMORY_LIMIT, close_all, parse_memory
from harness.network import LOSSES, REDUCTIONS
from harness.report import Run, check_report_dir, write_report
from harness.spec import Loss, NetworkSpec, Problem
from harness.terminal import show_run
from harness.tolerance import DEFAULT_TIERS, PRECISIONS, Tiers

__all__ = ["main"]

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_T = TypeVar("_T")
DEFAULT_CANDIDATE = "reference:backward"
#: Seconds each call of the candidate may take (--timeout).
DEFAULT_TIMEOUT = 30.0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _csv_ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of positive ints, e.g. 4,8,1"
        ) from None
    if len(values) < 2 or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(
            f"{text!r}: sizes need at least two positive ints (n0,...,nL), e.g. 4,8,1"
        )
    return values


def _csv_names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _add_problem_arguments(parser: argparse.ArgumentParser, title: str) -> None:
    one = parser.add_argument_group(title)
    one.add_argument("--sizes", type=_csv_ints, metavar="N0,N1,...")
    one.add_argument(
        "--activations",
        type=_csv_names,
        metavar="G1,G2,...",
        help="one per layer, e.g. 'leaky_relu(0.2)',gelu,softmax (quote the parentheses)",
    )
    one.add_argument("--loss", choices=LOSSES, help="the per-sample loss (DESIGN.md)")
    one.add_argument("--half", action="store_true", help="mse with ½: J = ½·Σ(a - y)² / reduction")
    one.add_argument(
        "--reduction",
        choices=REDUCTIONS,
        default="mean",
        help="mean: ÷ m (default, the seeds'); sum; elementwise_mean: ÷ m·n_L (torch's default)",
    )
    one.add_argument(
        "--l2",
        type=float,
        default=0.0,
        metavar="λ",
        help="L2 weight decay: J gains (λ/2)·Σ‖W‖² (biases excluded, not divided by m)",
    )
    one.add_argument("--batch", type=int, default=4)
    one.add_argument("--problem-seed", type=int, metavar="S")
    one.add_argument("--weight-scale", type=float, default=1.0)
    one.add_argument("--kink-margin", type=float, default=1e-3)


def _add_fast_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fast",
        action="store_true",
        help="fast mode: one random direction per case; a failure is localized to entries and "
        "confirmed by the full per-entry check",
    )
    parser.add_argument(
        "--fast-seed",
        type=_non_negative_int,
        metavar="S",
        help="seed of fast mode's direction (default: from the OS, printed in the report; a "
        "fixed public seed lets a candidate hide errors that cancel along it)",
    )


def _add_rules_arguments(parser: argparse.ArgumentParser) -> None:
    rules = parser.add_argument_group("verdict")
    rules.add_argument(
        "--precision",
        choices=tuple(PRECISIONS),
        default="float64",
        help="the format the candidate computes in: it gets arrays of that dtype (the problem "
        "rounded to it) and is judged against that format's rounding model (default float64)",
    )
    rules.add_argument(
        "--strict",
        action="store_true",
        help="imprecise entries (beyond the rounding model, within the precision band) fail "
        "instead of being warnings",
    )
    rules.add_argument(
        "--tau",
        type=float,
        default=DEFAULT_TIERS.tau,
        metavar="T",
        help=f"relative width of the precision band: an entry within "
        f"T·|expected| + ALPHA·max|expected| beyond the rounding model is imprecise, not wrong "
        f"(default {DEFAULT_TIERS.tau:g})",
    )
    rules.add_argument(
        "--alpha",
        type=float,
        default=DEFAULT_TIERS.alpha,
        metavar="ALPHA",
        help=f"the band's part relative to the tensor's largest entry (default "
        f"{DEFAULT_TIERS.alpha:g})",
    )


def _add_scale_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-weight-scale",
        type=float,
        default=None,
        metavar="S",
        help=f"draw weight scales up to S only (of {', '.join(f'{x:g}' for x in WEIGHT_SCALES)}; "
        f"default all): the formulas are judged at scales ≤ {FORMULA_SCALE:g}, then robustness "
        f"(saturation, overflow) at the larger ones",
    )


def _scales(args: argparse.Namespace) -> tuple[tuple[float, ...], list[str]]:
    """The weight scales to draw, and the option that chose them, for a reproduce line."""
    if args.max_weight_scale is None:
        return WEIGHT_SCALES, []
    return scales_up_to(args.max_weight_scale), ["--max-weight-scale", f"{args.max_weight_scale:g}"]


def _rules(args: argparse.Namespace) -> Rules:
    for flag, value in (("--tau", args.tau), ("--alpha", args.alpha)):
        if not 0 <= value < 1:
            raise HarnessError(f"{flag} must be a number in [0, 1), got {value}")
    return Rules(args.precision, args.strict, Tiers(args.tau, args.alpha))


def _memory(text: str) -> int | None:
    """``8G``, ``512M``, ``1073741824`` or ``none``."""
    try:
        return parse_memory(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative int")
    return value


def _add_boundary_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--isolation",
        choices=ISOLATIONS,
        default="process",
        help="process (default): the candidate runs in a worker process the harness can kill; "
        "inline: in the harness's own process — unsafe, for stepping through it in a debugger",
    )
    parser.add_argument(
        "--memory-limit",
        type=_memory,
        default=DEFAULT_MEMORY_LIMIT,
        metavar="SIZE",
        help=f"address space of the worker process, e.g. 4G, 512M or none "
        f"(default {DEFAULT_MEMORY_LIMIT // 2**30}G)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gradcheck-harness",
        description="Prove a hand-written backprop computes the right gradients.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    verify = commands.add_parser(
        "verify",
        help="run a Hypothesis campaign of random architectures against a candidate backprop",
        description=(
            "Compare a candidate backprop with three independent gradient sources on random "
            "architectures; shrink any failure to the smallest failing architecture and write "
            "a report. With --sizes, check exactly one problem instead."
        ),
    )
    verify.add_argument(
        "--candidate",
        default=DEFAULT_CANDIDATE,
        metavar="PATH.py:FUNC|module:FUNC",
        help=f"the backprop to verify (default: {DEFAULT_CANDIDATE})",
    )
    verify.add_argument("--profile", choices=sorted(PROFILES), default="default")
    verify.add_argument("--examples", type=int, metavar="N", help="examples (overrides profile)")
    verify.add_argument("--seed", type=int, default=0, metavar="S", help="campaign seed")
    verify.add_argument("--report-dir", default="reports", metavar="DIR")
    verify.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help="seconds each call of the candidate may take")  # fmt: skip
    _add_fast_argument(verify)
    _add_boundary_arguments(verify)
    _add_rules_arguments(verify)
    _add_scale_argument(verify)
    _add_problem_arguments(verify, "one problem (all of --sizes/--activations/--loss needed)")

    audit = commands.add_parser(
        "audit",
        help="audit your own backprop: findings per layer and tensor, with a diagnosis",
        description=(
            "Audit a plugged-in backprop on a Hypothesis campaign (the family of --sizes/"
            "--activations/--loss if given, else every architecture), or on exactly one problem "
            "with --problem-seed. Exit 0 passed, 1 findings, 2 bad usage."
        ),
    )
    audit.add_argument(
        "target",
        metavar="PATH.py:FUNC|module:FUNC",
        help="the backprop to audit; FUNC may be Class.method (built with no arguments) or "
        "obj.method",
    )
    audit.add_argument(
        "--layout",
        choices=("columns", "rows", "flat", "dict"),
        default="columns",
        help="columns: the plug-in contract; rows: X (m, n0), W (n_{l-1}, n_l); "
        "flat: grad(theta, X, Y) (needs --sizes, --activations, --loss); dict: a method "
        "loss(X, y) -> (loss, grads) of an object with a params dict, W1/b1/..., rows, integer "
        "labels (harness.adapters.from_dict; needs --activations, one per layer; --loss "
        "defaults to cross_entropy)",
    )
    audit.add_argument(
        "--bias",
        choices=BIASES,
        default="vector",
        help="how the code keeps biases, with --layout columns or rows: vector (n,), the "
        "contract's; column (n, 1); row (1, n)",
    )
    audit.add_argument("--examples", type=int, default=100, metavar="N")
    audit.add_argument("--seed", type=int, default=0, metavar="S", help="campaign seed")
    audit.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                       help="seconds each call of the candidate may take")  # fmt: skip
    audit.add_argument("--report-dir", default="reports", metavar="DIR")
    _add_fast_argument(audit)
    _add_boundary_arguments(audit)
    _add_rules_arguments(audit)
    _add_scale_argument(audit)
    _add_problem_arguments(audit, "architecture (a family; with --problem-seed: one problem)")
    return parser


def _spec(args: argparse.Namespace) -> NetworkSpec:
    if args.sizes is None or args.activations is None or args.loss is None:
        raise HarnessError("one problem needs all of --sizes, --activations and --loss")
    return NetworkSpec(args.sizes, args.activations, _loss(args), l2=args.l2)


def _loss(args: argparse.Namespace) -> Loss:
    return Loss(args.loss or "mse", half=args.half, reduction=args.reduction)


def _single_problem(args: argparse.Namespace) -> Problem:
    return Problem.random(
        _spec(args),
        args.batch,
        args.problem_seed or 0,
        args.weight_scale,
        kink_margin=args.kink_margin,
    )


def _campaign_with_bar(
    console: Console, planned: int, run: Callable[[Callable[[str, int, int], None]], _T]
) -> _T:
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
    close_all()  # nothing the candidate left running outlives the verdict or touches the report
    try:
        return f"report: {write_report(run, Path(report_dir))}"
    except OSError as error:
        return f"report NOT written ({type(error).__name__}: {error}); the verdict above stands"


def _finish(console: Console, run: Run, seconds: float, report_dir: str) -> int:
    passed = show_run(console, run, seconds, lambda timed: _write(timed, report_dir))
    return EXIT_PASSED if passed else EXIT_FAILED


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
    check_report_dir(Path(args.report_dir))
    candidate = load_candidate(args.candidate, isolation=args.isolation,
                               memory_limit=args.memory_limit)  # fmt: skip
    seed = _fast_seed(args)
    timeout = _positive(args.timeout, "--timeout")

    replay = _replay_words(args)
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
        words = ["gradcheck-harness", "verify", "--candidate", args.candidate,
                 "--profile", profile, "--seed", str(args.seed)]  # fmt: skip
        if args.examples is not None:
            words += ["--examples", str(args.examples)]
        command = shlex.join(words + _fast_words(args, seed) + replay + cli_rules(rules)
                             + scale_words)  # fmt: skip
    run = Run(
        candidate=args.candidate,
        seed=args.seed,
        profile=profile,
        examples=result.examples,
        cases=tuple(result.cases),
        passed=result.passed,
        command=command,
        judged=result.judged,
        warned=result.warned,
        robustness=result.robustness,
        coverage=result.coverage,
    )
    return _finish(console, run, result.seconds, args.report_dir)


def _positive(value: float, flag: str) -> float:
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


def _audited(args: argparse.Namespace) -> Candidate:
    """The target, loaded in its worker and adapted there to the plug-in contract."""
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
    return load_candidate(args.target, isolation=args.isolation, adapter=adapter,
                          memory_limit=args.memory_limit)  # fmt: skip


def _audit(args: argparse.Namespace, console: Console) -> int:
    if args.examples < 1:
        raise HarnessError(f"--examples must be a positive int, got {args.examples}")
    timeout = _positive(args.timeout, "--timeout")
    check_report_dir(Path(args.report_dir))
    candidate = _audited(args)
    front_words = ["audit", args.target]
    if args.layout != "columns":
        front_words += ["--layout", args.layout]
    if args.bias != "vector":
        front_words += ["--bias", args.bias]
    front_words += _replay_words(args)
    front = shlex.join(front_words)
    start = time.perf_counter()
    mode = "fast" if args.fast else "full"
    seed = _fast_seed(args)
    rules = _rules(args)
    scales, scale_words = _scales(args)
    robustness, coverage = None, None
    if args.problem_seed is not None:
        report = check(candidate, _single_problem(args), timeout=timeout, name=args.target,
                       front=front, mode=mode, fast_seed=seed, precision=rules.precision,
                       strict=rules.strict, tiers=rules.tiers)  # fmt: skip
        cases: tuple[CaseResult, ...] = (report.case,)
        examples = judged = 1
        warned = None
        command = report.case.reproduce
    else:
        family = None
        supports: dict[str, Any] | None = None
        words = ["gradcheck-harness", *front_words,
                 "--examples", str(args.examples), "--seed", str(args.seed)]  # fmt: skip
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
        audited = _campaign_with_bar(
            console,
            args.examples,
            lambda progress: audit(
                candidate, spec=family, examples=args.examples, seed=args.seed,
                supports=supports, timeout=timeout, name=args.target, front=front,
                progress=progress, mode=mode, fast_seed=seed, precision=rules.precision,
                strict=rules.strict, tiers=rules.tiers, weight_scales=scales,
            ),
        )  # fmt: skip
        cases, examples, judged = audited.cases, audited.examples, audited.judged
        warned, robustness, coverage = audited.warned, audited.robustness, audited.coverage
        command = shlex.join(words + _convention_words(args) + _fast_words(args, seed)
                             + cli_rules(rules) + scale_words)  # fmt: skip
    seconds = time.perf_counter() - start
    run = Run(
        candidate=args.target,
        seed=args.seed,
        profile="audit",
        examples=examples,
        cases=cases,
        passed=all(c.passed for c in cases[:1]),
        command=command,
        judged=judged,
        warned=warned,
        robustness=robustness,
        coverage=coverage,
    )
    return _finish(console, run, seconds, args.report_dir)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gradcheck-harness` console script."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(arguments)
    console = Console(highlight=False)
    # Saturated activations overflow harmlessly inside numpy (cosh, exp); a value that really
    # goes non-finite is a finding of its own, so the warnings would only be noise here.
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    try:
        if args.command == "audit":
            return _audit(args, console)
        return _verify(args, console)
    except (CandidateError, HarnessError) as error:
        print(f"gradcheck-harness: error: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
