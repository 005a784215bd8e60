"""`gradcheck-harness verify`: the campaign from the shell.

Exit status: 0 every case passed, 1 a mismatch or a harness fault, 2 bad usage (including a
candidate that cannot be loaded).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.campaign import PROFILES, CampaignResult, check_case, run_campaign
from harness.candidate import CandidateError, load_candidate
from harness.case import CaseResult
from harness.errors import HarnessError
from harness.network import LOSSES
from harness.report import Run, write_report
from harness.spec import NetworkSpec, Problem

__all__ = ["main"]

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
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
    one = verify.add_argument_group("one problem (all of --sizes/--activations/--loss needed)")
    one.add_argument("--sizes", type=_csv_ints, metavar="N0,N1,...")
    one.add_argument("--activations", type=_csv_names, metavar="G1,G2,...")
    one.add_argument("--loss", choices=LOSSES)
    one.add_argument("--batch", type=int, default=4)
    one.add_argument("--problem-seed", type=int, default=0)
    one.add_argument("--weight-scale", type=float, default=1.0)
    one.add_argument("--kink-margin", type=float, default=1e-3)
    return parser


def _single_problem(args: argparse.Namespace) -> Problem:
    if args.activations is None or args.loss is None:
        raise HarnessError("--sizes needs --activations and --loss too")
    spec = NetworkSpec(args.sizes, args.activations, args.loss)
    return Problem.random(
        spec, args.batch, args.problem_seed, args.weight_scale, kink_margin=args.kink_margin
    )


def _layer_table(case: CaseResult) -> Table:
    table = Table(title=escape(repr(case.problem)), title_justify="left", show_lines=False)
    for column in ("where", "status", "wrong", "max |Δ|", "max rel", "detail"):
        table.add_column(column, overflow="fold")
    for record in case.records:
        style = "green" if record.passed else "bold red"
        table.add_row(
            record.where,
            f"[{style}]{record.status}[/]",
            f"{record.mismatched}/{record.total}" if record.total else "",
            f"{record.max_abs_error:.1e}" if record.total else "",
            f"{record.max_rel_error:.1e}" if record.total else "",
            escape(record.detail.split("; ", 1)[-1]),
        )
    if case.taylor is not None:
        order = "n/a" if case.taylor.order is None else f"{case.taylor.order:.2f}"
        table.caption = f"Taylor remainder order {order} ({case.taylor.verdict})"
    return table


def _verify(args: argparse.Namespace, console: Console) -> int:
    backward = load_candidate(args.candidate)
    if args.sizes is not None:
        case = check_case(backward, _single_problem(args), args.candidate)
        result = CampaignResult([case], 1, 1, 0.0, None if case.passed else case)
        profile = "single"
    else:
        if args.examples is not None and args.examples < 1:
            raise HarnessError(f"--examples must be a positive int, got {args.examples}")
        profile = args.profile
        planned = args.examples or PROFILES[profile].examples
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("checking", total=planned)

            def progress(phase: str, done: int, total: int) -> None:
                bar.update(task, description=phase, completed=min(done, total))

            result = run_campaign(
                backward,
                candidate=args.candidate,
                profile=PROFILES[profile],
                seed=args.seed,
                examples=args.examples,
                progress=progress,
            )
    if profile == "single":
        command = case.reproduce
    else:
        command = f"gradcheck-harness verify --candidate {shlex.quote(args.candidate)}"
        command += f" --profile {profile} --seed {args.seed}"
        if args.examples is not None:
            command += f" --examples {args.examples}"
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
    rate = f", {result.examples / result.seconds:.1f} examples/s" if result.seconds else ""
    if result.minimal is None:
        console.print(
            f"[green]PASSED[/]: {args.candidate} agrees with the sources on "
            f"{result.examples} example(s){rate}"
        )
        if result.cases:
            console.print(_layer_table(result.cases[0]))
    else:
        fault = result.minimal.harness_fault
        label = "[bold red]HARNESS FAULT[/]" if fault else "[bold red]FAILED[/]"
        console.print(
            f"{label}: {args.candidate}; minimal failing case after {result.examples} "
            f"example(s){rate}:"
        )
        console.print(_layer_table(result.minimal))
        console.print(f"reproduce: {escape(result.minimal.reproduce)}", soft_wrap=True)
    console.print(f"report: {escape(str(report_dir))}", soft_wrap=True)
    return EXIT_PASSED if result.passed else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gradcheck-harness` console script."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(arguments)
    console = Console(highlight=False)
    # Saturated activations overflow harmlessly inside numpy (cosh, exp); a value that really
    # goes non-finite is a finding of its own, so the warnings would only be noise here.
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    try:
        return _verify(args, console)
    except (CandidateError, HarnessError) as error:
        print(f"gradcheck-harness: error: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
