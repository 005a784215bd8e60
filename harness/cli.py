"""`gradcheck-harness verify | audit`: the campaign and the audit from the shell.

Exit status: 0 every case passed, 1 a mismatch or a harness fault, 2 bad usage (including a
candidate that cannot be loaded).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.adapters import from_flat, from_rows
from harness.audit import audit, check
from harness.campaign import PROFILES, CampaignResult, check_case, fast_case, run_campaign
from harness.candidate import Backward, CandidateError, load_candidate
from harness.case import CaseResult
from harness.compare import TensorRecord
from harness.errors import HarnessError
from harness.network import LOSSES, REDUCTIONS
from harness.report import Run, write_report
from harness.spec import Loss, NetworkSpec, Problem

__all__ = ["main"]

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_T = TypeVar("_T")
DEFAULT_CANDIDATE = "reference:backward"


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
    _add_fast_argument(verify)
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
    audit.add_argument("target", metavar="PATH.py:FUNC|module:FUNC", help="the backprop to audit")
    audit.add_argument(
        "--layout",
        choices=("columns", "rows", "flat"),
        default="columns",
        help="columns: the plug-in contract; rows: X (m, n0), W (n_{l-1}, n_l); "
        "flat: grad(theta, X, Y) (needs --sizes, --activations, --loss)",
    )
    audit.add_argument("--examples", type=int, default=100, metavar="N")
    audit.add_argument("--seed", type=int, default=0, metavar="S", help="campaign seed")
    audit.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")
    audit.add_argument("--report-dir", default="reports", metavar="DIR")
    _add_fast_argument(audit)
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


def _layer_table(case: CaseResult) -> Table:
    table = Table(title=escape(repr(case.problem)), title_justify="left", show_lines=False)
    for column in ("where", "status", "wrong", "max |Δ|", "diagnosis", "worst entry"):
        table.add_column(column, overflow="fold")
    fast_pass = case.fast is not None and case.fast.passed  # no per-entry |Δ| was computed
    for record in case.records:
        style = "green" if record.passed else "bold red"
        diagnosis = record.diagnosis or ("no known pattern" if record.status == "mismatch" else "")
        table.add_row(
            record.where,
            f"[{style}]{record.status}[/]",
            f"{record.mismatched}/{record.total}" if record.total else "",
            f"{record.max_abs_error:.1e}" if record.total and not fast_pass else "",
            escape(diagnosis),
            escape(record.detail.split("; ", 1)[-1]),
        )
    if case.taylor is not None:
        order = "n/a" if case.taylor.order is None else f"{case.taylor.order:.2f}"
        table.caption = f"Taylor remainder order {order} ({case.taylor.verdict})"
    return table


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


def _finish(
    console: Console,
    name: str,
    cases: Sequence[CaseResult],
    examples: int,
    seconds: float,
    report_dir: Path,
) -> int:
    minimal = cases[0] if cases and not cases[0].passed else None
    rate = f", {examples / seconds:.1f} examples/s" if seconds else ""
    fast = cases[0].fast if cases else None
    if fast is not None:
        console.print(escape(fast.summary), soft_wrap=True)
        confirmed = cases[0].fast_confirmed
        if confirmed is not None:
            verdict = "confirms" if confirmed else "does NOT confirm"
            console.print(f"a full check {verdict} the localized entries", soft_wrap=True)
    if minimal is None:
        console.print(f"[green]PASSED[/]: {escape(name)} agrees with the sources on "
                      f"{examples} example(s){rate}")  # fmt: skip
        if cases:
            console.print(_layer_table(cases[0]))
    else:
        label = "[bold red]HARNESS FAULT[/]" if minimal.harness_fault else "[bold red]FAILED[/]"
        console.print(f"{label}: {escape(name)}; minimal failing case after {examples} "
                      f"example(s):")  # fmt: skip
        for record in minimal.failing:
            console.print(f"  {escape(_headline(record))}", soft_wrap=True)
        console.print(_layer_table(minimal))
        console.print(f"reproduce: {escape(minimal.reproduce)}", soft_wrap=True)
    console.print(f"report: {escape(str(report_dir))}", soft_wrap=True)
    return EXIT_PASSED if minimal is None else EXIT_FAILED


def _headline(record: TensorRecord) -> str:
    if record.status == "mismatch":
        pattern = record.diagnosis or "no known pattern"
        return f"{record.where}: {record.mismatched}/{record.total} entries wrong, {pattern}"
    return record.detail


def _verify(args: argparse.Namespace, console: Console) -> int:
    backward = load_candidate(args.candidate)
    judge = fast_case if args.fast else check_case
    if args.sizes is not None:
        case = judge(backward, _single_problem(args), args.candidate)
        result = CampaignResult([case], 1, 1, 0.0, None if case.passed else case)
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
                backward,
                candidate=args.candidate,
                profile=PROFILES[profile],
                seed=args.seed,
                examples=args.examples,
                progress=progress,
                check=lambda problem: judge(backward, problem, args.candidate),
            ),
        )
        command = f"gradcheck-harness verify --candidate {shlex.quote(args.candidate)}"
        command += f" --profile {profile} --seed {args.seed}"
        if args.examples is not None:
            command += f" --examples {args.examples}"
        if args.fast:
            command += " --fast"
    run = Run(
        candidate=args.candidate,
        seed=args.seed,
        profile=profile,
        examples=result.examples,
        cases=tuple(result.cases),
        passed=result.passed,
        command=command,
    )
    report_dir = write_report(run, Path(args.report_dir))
    return _finish(console, args.candidate, result.cases, result.examples, result.seconds,
                   report_dir)  # fmt: skip


def _convention_given(args: argparse.Namespace) -> bool:
    return bool(args.half or args.reduction != "mean" or args.l2)


def _convention_flags(args: argparse.Namespace) -> str:
    """--half / --reduction / --l2 as given, for a reproduce line."""
    flags = " --half" if args.half else ""
    flags += f" --reduction {args.reduction}" if args.reduction != "mean" else ""
    return flags + (f" --l2 {args.l2!r}" if args.l2 else "")


def _audited(args: argparse.Namespace) -> Backward:
    function = load_candidate(args.target)
    if args.layout == "columns":
        return function
    if args.layout == "rows":
        return from_rows(function)
    spec = _spec(args)
    return from_flat(function, spec.sizes, spec.activations, spec.loss, l2=spec.l2)


def _audit(args: argparse.Namespace, console: Console) -> int:
    backward = _audited(args)
    front = f"audit {args.target}" + (
        f" --layout {args.layout}" if args.layout != "columns" else ""
    )
    if args.examples < 1:
        raise HarnessError(f"--examples must be a positive int, got {args.examples}")
    start = time.perf_counter()
    mode = "fast" if args.fast else "full"
    if args.problem_seed is not None:
        report = check(backward, _single_problem(args), timeout=args.timeout, name=args.target,
                       front=front, mode=mode)  # fmt: skip
        cases: tuple[CaseResult, ...] = (report.case,)
        examples = 1
        command = report.case.reproduce
    else:
        family = None
        supports: dict[str, Any] | None = None
        if args.sizes is not None:
            family = _spec(args)
        elif args.activations is not None or args.loss is not None or _convention_given(args):
            supports = {"l2": (args.l2,)}
            if args.activations is not None:
                supports["activations"] = args.activations
            losses = (args.loss,) if args.loss is not None else LOSSES
            supports["losses"] = tuple(
                Loss(name, half=args.half and name == "mse", reduction=args.reduction)
                for name in losses
            )
        audited = _campaign_with_bar(
            console,
            args.examples,
            lambda progress: audit(
                backward, spec=family, examples=args.examples, seed=args.seed,
                supports=supports, timeout=args.timeout, name=args.target, front=front,
                progress=progress, mode=mode,
            ),
        )  # fmt: skip
        cases, examples = audited.cases, audited.examples
        command = f"gradcheck-harness {front} --examples {args.examples} --seed {args.seed}"
        if family is not None:
            command += (f" --sizes {','.join(map(str, family.sizes))} --activations "
                        f"{shlex.quote(','.join(family.activations))} "
                        f"--loss {family.loss.name}")  # fmt: skip
        elif args.activations is not None:
            command += f" --activations {shlex.quote(','.join(args.activations))}"
        if args.loss is not None and family is None:
            command += f" --loss {args.loss}"
        command += _convention_flags(args)
        if args.fast:
            command += " --fast"
    seconds = time.perf_counter() - start
    run = Run(
        candidate=args.target,
        seed=args.seed,
        profile="audit",
        examples=examples,
        cases=cases,
        passed=all(c.passed for c in cases[:1]),
        command=command,
    )
    report_dir = write_report(run, Path(args.report_dir))
    return _finish(console, args.target, cases, examples, seconds, report_dir)


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
