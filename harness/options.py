"""The command line of `gradcheck-harness`: its parser, built from argparse and literals only.

``gradcheck-harness --help`` must answer at once, so this module imports no numpy, SymPy,
Hypothesis or loky: the few constants the options name (losses, reductions, precisions, …) are
written here as literals, and tests/test_cli_options.py checks that they equal the real ones
(`harness.network.LOSSES`, `harness.campaign.PROFILES`, …). `harness.cli` imports the heavy
modules only when a command runs.

verify and audit share their options (one spelling, default and help each): the candidate's
conventions, the campaign, its worker process, the verdict, the output and the problem. Only the
target (verify's ``--candidate``, audit's positional) and verify's ``--profile`` are their own
(an audit draws the default profile's architectures, `harness.auditing.audit`); ``--examples``
differs in its default only. One difference of meaning stays: verify's --sizes/--activations/
--loss name one problem, audit's a family (one problem with --problem-seed).
"""

from __future__ import annotations

import argparse
import sys
from typing import Final, NoReturn

from harness._version import __version__

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_PASSED", "EXIT_USAGE", "parser"]

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CODES: Final = """exit status:
  0    passed
  1    a failure (a wrong gradient; an imprecise one with --strict) or a harness fault
       (the sources disagree)
  2    bad usage: an option, a candidate that cannot be loaded, nothing judged
  130  interrupted by Ctrl-C: the campaign stops, a partial report is written"""

# Literals of the heavy modules (tests/test_cli_options.py holds them equal to the real ones).
LOSSES: Final = ("mse", "bce", "cross_entropy")  # harness.network.LOSSES
REDUCTIONS: Final = ("mean", "sum", "elementwise_mean")  # harness.network.REDUCTIONS
PRECISIONS: Final = ("float64", "float32")  # harness.tolerance.PRECISIONS
ISOLATIONS: Final = ("process", "inline")  # harness.candidate.ISOLATIONS
BIASES: Final = ("vector", "column", "row")  # harness.adapters.BIASES
LAYOUTS: Final = ("columns", "rows", "flat", "dict")
PROFILE_EXAMPLES: Final = {"quick": 4000, "default": 5000, "thorough": 20000}  # campaign.PROFILES
WEIGHT_SCALES: Final = (1.0, 0.1, 0.5, 3.0, 10.0)  # harness.campaign.WEIGHT_SCALES
FORMULA_SCALE: Final = 1.0  # harness.campaign.FORMULA_SCALE
TAU, ALPHA = 1e-8, 1e-11  # harness.tolerance.DEFAULT_TIERS
DEFAULT_MEMORY_LIMIT: Final = 8 * 2**30  # harness.isolation.DEFAULT_MEMORY_LIMIT
DEFAULT_CANDIDATE: Final = "reference:backward"
DEFAULT_TIMEOUT: Final = 30.0  # seconds each call of the candidate may take (--timeout)
AUDIT_EXAMPLES: Final = 100
TARGET: Final = "PATH.py:FUNC|module:FUNC"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, except that the exit-status table keeps its lines."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text is EXIT_CODES:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


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


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative int")
    return value


def _memory(text: str) -> int | None:
    """``8G``, ``512M``, ``1073741824`` or ``none`` (parsed by `harness.isolation`, imported
    only when the option is given)."""
    from harness.isolation import parse_memory

    try:
        return parse_memory(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_campaign(parser: argparse.ArgumentParser, examples: str) -> None:
    group = parser.add_argument_group("campaign")
    group.add_argument("--examples", type=int, default=None, metavar="N",
                       help=f"examples Hypothesis draws ({examples})")  # fmt: skip
    group.add_argument("--seed", type=int, default=0, metavar="S",
                       help="campaign seed: one seed, the same examples (default 0)")  # fmt: skip
    scales = ", ".join(f"{x:g}" for x in WEIGHT_SCALES)
    group.add_argument(
        "--max-weight-scale",
        type=float,
        default=None,
        metavar="S",
        help=f"draw weight scales up to S only (of {scales}; default all): the formulas are "
        f"judged at scales ≤ {FORMULA_SCALE:g}, then robustness (saturation, overflow) at the "
        f"larger ones",
    )
    group.add_argument(
        "--fast",
        action="store_true",
        help="fast mode: one random direction per case; a failure is localized to entries and "
        "confirmed by the full per-entry check",
    )
    group.add_argument(
        "--fast-seed",
        type=_non_negative_int,
        metavar="S",
        help="seed of fast mode's direction (default: from the OS, printed in the report; a "
        "fixed public seed lets a candidate hide errors that cancel along it)",
    )


def _add_boundary(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the candidate's worker process")
    group.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"seconds each call of the candidate may take (default {DEFAULT_TIMEOUT:g})",
    )
    group.add_argument(
        "--isolation",
        choices=ISOLATIONS,
        default="process",
        help="process (default): the candidate runs in a worker process the harness can kill; "
        "inline: in the harness's own process — unsafe, for stepping through it in a debugger",
    )
    group.add_argument(
        "--memory-limit",
        type=_memory,
        default=DEFAULT_MEMORY_LIMIT,
        metavar="SIZE",
        help=f"address space of the worker process, e.g. 4G, 512M or none "
        f"(default {DEFAULT_MEMORY_LIMIT // 2**30}G)",
    )


def _add_verdict(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("verdict")
    group.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="float64",
        help="the format the candidate computes in: it gets arrays of that dtype (the problem "
        "rounded to it) and is judged against that format's rounding model (default float64)",
    )
    group.add_argument(
        "--strict",
        action="store_true",
        help="imprecise entries (beyond the rounding model, within the precision band) fail "
        "instead of being warnings",
    )
    group.add_argument(
        "--tau",
        type=float,
        default=TAU,
        metavar="T",
        help=f"relative width of the precision band: an entry within T·|expected| + "
        f"ALPHA·max|expected| beyond the rounding model is imprecise, not wrong (default {TAU:g})",
    )
    group.add_argument(
        "--alpha",
        type=float,
        default=ALPHA,
        metavar="ALPHA",
        help=f"the band's part relative to the tensor's largest entry (default {ALPHA:g})",
    )


def _add_output(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument(
        "--report-dir",
        default="reports",
        metavar="DIR",
        help="where the report (summary.json, summary.md, report.html) is written, under "
        "DIR/<run>/ and DIR/latest/ (default reports)",
    )
    group.add_argument(
        "--junit-xml",
        default=None,
        metavar="PATH",
        help="also write a JUnit XML file: a testcase per case shown in the report, a failure "
        "carrying the headline, the diagnosis and the reproduce line (for CI test tabs)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        help="print summary.json to stdout; the human output goes to stderr",
    )


def _add_problem(parser: argparse.ArgumentParser, title: str) -> None:
    group = parser.add_argument_group(title)
    group.add_argument("--sizes", type=_csv_ints, metavar="N0,N1,...",
                       help="layer widths n0,...,nL, e.g. 4,8,1")  # fmt: skip
    group.add_argument(
        "--activations",
        type=_csv_names,
        metavar="G1,G2,...",
        help="one per layer, e.g. 'leaky_relu(0.2)',gelu,softmax (quote the parentheses)",
    )
    group.add_argument("--loss", choices=LOSSES, help="the per-sample loss (DESIGN.md)")
    group.add_argument("--half", action="store_true",
                       help="mse with ½: J = ½·Σ(a - y)² / reduction")  # fmt: skip
    group.add_argument(
        "--reduction",
        choices=REDUCTIONS,
        default="mean",
        help="mean: ÷ m (default, the seeds'); sum; elementwise_mean: ÷ m·n_L (torch's default)",
    )
    group.add_argument(
        "--l2",
        type=float,
        default=0.0,
        metavar="λ",
        help="L2 weight decay: J gains (λ/2)·Σ‖W‖² (biases excluded, not divided by m)",
    )
    group.add_argument("--batch", type=int, default=4, metavar="M",
                       help="samples m of the one problem (default 4)")  # fmt: skip
    group.add_argument("--problem-seed", type=int, metavar="S",
                       help="seed of the one problem's weights and data")  # fmt: skip
    group.add_argument("--weight-scale", type=float, default=1.0, metavar="S",
                       help="scale of the one problem's weights (default 1)")  # fmt: skip
    group.add_argument("--kink-margin", type=float, default=1e-3, metavar="D",
                       help="the one problem keeps pre-activations this far from a kink "
                       "(relu's 0), where the derivative is undefined (default 0.001)")  # fmt: skip


def _add_layout(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the candidate's conventions (adapters)")
    group.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="columns",
        help="columns: the plug-in contract; rows: X (m, n0), W (n_{l-1}, n_l); "
        "flat: grad(theta, X, Y) (needs --sizes, --activations, --loss); dict: a method "
        "loss(X, y) -> (loss, grads) of an object with a params dict, W1/b1/..., rows, integer "
        "labels (harness.adapters.from_dict; needs --activations, one per layer; --loss "
        "defaults to cross_entropy)",
    )
    group.add_argument(
        "--bias",
        choices=BIASES,
        default="vector",
        help="how the code keeps biases, with --layout columns or rows: vector (n,), the "
        "contract's; column (n, 1); row (1, n)",
    )


def _add_shared(parser: argparse.ArgumentParser, examples: str, problem: str) -> None:
    _add_layout(parser)
    _add_campaign(parser, examples)
    _add_boundary(parser)
    _add_verdict(parser)
    _add_output(parser)
    _add_problem(parser, problem)


def parser() -> argparse.ArgumentParser:
    """The parser of ``gradcheck-harness verify | audit``."""
    formatter = _Formatter
    top = _Parser(
        prog="gradcheck-harness",
        description="Prove a hand-written backprop computes the right gradients.",
        epilog=EXIT_CODES,
        formatter_class=formatter,
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                     help="print the version and exit")  # fmt: skip
    commands = top.add_subparsers(dest="command", required=True, parser_class=_Parser)
    verify = commands.add_parser(
        "verify",
        help="run a Hypothesis campaign of random architectures against a candidate backprop",
        description=(
            "Compare a candidate backprop with three independent gradient sources on random "
            "architectures; shrink any failure to the smallest failing architecture and write "
            "a report. With --sizes, check exactly one problem instead."
        ),
        epilog=EXIT_CODES,
        formatter_class=formatter,
    )
    verify.add_argument(
        "--candidate",
        default=DEFAULT_CANDIDATE,
        metavar=TARGET,
        help=f"the backprop to verify (default: {DEFAULT_CANDIDATE})",
    )
    profiles = ", ".join(f"{name} {n}" for name, n in PROFILE_EXAMPLES.items())
    verify.add_argument(
        "--profile",
        choices=sorted(PROFILE_EXAMPLES),
        default="default",
        help=f"how many examples and how large the architectures ({profiles} examples; "
        f"default: default)",
    )
    _add_shared(verify, "default: the profile's",
                "one problem (all of --sizes/--activations/--loss needed)")  # fmt: skip

    audit = commands.add_parser(
        "audit",
        help="audit your own backprop: findings per layer and tensor, with a diagnosis",
        description=(
            "Audit a plugged-in backprop on a Hypothesis campaign (the family of --sizes/"
            "--activations/--loss if given, else every architecture), or on exactly one problem "
            "with --problem-seed."
        ),
        epilog=EXIT_CODES,
        formatter_class=formatter,
    )
    audit.add_argument(
        "target",
        metavar=TARGET,
        help="the backprop to audit; FUNC may be Class.method (built with no arguments) or "
        "obj.method",
    )
    _add_shared(audit, f"default {AUDIT_EXAMPLES}",
                "architecture (a family; with --problem-seed: one problem)")  # fmt: skip
    return top
