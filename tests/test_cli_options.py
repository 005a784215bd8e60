"""The command line itself (harness/options.py): --version, help on every option, one set of
options for verify and audit, exit codes, and a parser that imports nothing heavy."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from harness import options
from harness._version import __version__
from harness.cli import main

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("sympy", "hypothesis", "numba", "loky", "torch", "jax", "numpy", "rich")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.option_strings[-1]: a for a in parser._actions if a.option_strings}


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"gradcheck-harness {__version__}"


def test_every_option_of_every_command_has_help() -> None:
    top = options.parser()
    parsers = {"gradcheck-harness": top, **_subparsers(top)}
    for name, parser in parsers.items():
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            label = "/".join(action.option_strings) or action.dest
            assert action.help and action.help.strip(), f"{name} {label} has no help text"


def test_verify_and_audit_share_their_options_with_one_spelling_default_and_help() -> None:
    commands = _subparsers(options.parser())
    verify, audit = _options(commands["verify"]), _options(commands["audit"])
    own = {"--candidate", "--profile"}
    assert set(verify) - own == set(audit)
    for flag in set(audit) - {"--help", "--examples"}:
        a, b = verify[flag], audit[flag]
        assert (a.default, a.help, a.type, a.choices, a.metavar) == (
            b.default, b.help, b.type, b.choices, b.metavar
        ), flag  # fmt: skip
    for flag in ("--junit-xml", "--json", "--layout", "--bias", "--timeout", "--fast", "--strict"):
        assert flag in verify and flag in audit


def test_the_parser_s_literals_equal_the_harness_s_constants() -> None:
    from harness.adapters import BIASES
    from harness.campaign import FORMULA_SCALE, PROFILES, WEIGHT_SCALES
    from harness.candidate import ISOLATIONS
    from harness.isolation import DEFAULT_MEMORY_LIMIT
    from harness.network import LOSSES, REDUCTIONS
    from harness.tolerance import DEFAULT_TIERS, PRECISIONS

    assert options.LOSSES == LOSSES and options.REDUCTIONS == REDUCTIONS
    assert tuple(PRECISIONS) == options.PRECISIONS and options.ISOLATIONS == ISOLATIONS
    assert options.BIASES == BIASES and options.DEFAULT_MEMORY_LIMIT == DEFAULT_MEMORY_LIMIT
    assert {name: p.examples for name, p in PROFILES.items()} == options.PROFILE_EXAMPLES
    assert options.WEIGHT_SCALES == WEIGHT_SCALES and options.FORMULA_SCALE == FORMULA_SCALE
    assert (DEFAULT_TIERS.tau, DEFAULT_TIERS.alpha) == (options.TAU, options.ALPHA)


def test_help_imports_nothing_heavy() -> None:
    """``import harness``, ``import harness.cli`` and every --help import no SymPy, Hypothesis,
    numba, loky, numpy (deterministic: the modules, not a time)."""
    script = (
        "import sys, contextlib, io\n"
        "import harness, harness.cli\n"
        "for argv in (['--help'], ['verify', '--help'], ['audit', '--help'], ['--version']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        harness.cli.main(argv)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout  # fmt: skip
    assert out.strip() == "[]", out


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--help"], 0),
        (["verify", "--help"], 0),
        (["audit", "--help"], 0),
        (["--version"], 0),
        ([], 2),
        (["frobnicate"], 2),
        (["verify", "--no-such-option"], 2),
        (["audit"], 2),
        (["verify", "--examples", "0", "--report-dir", "{tmp}"], 2),
        (["verify", "--timeout", "0", "--report-dir", "{tmp}"], 2),
        (
            ["audit", "reference:backward", "--examples", "0", "--report-dir", "{tmp}"],
            2,
        ),
        (["verify", "--candidate", "no_such_file.py:backward", "--report-dir", "{tmp}"], 2),
        (["verify", "--memory-limit", "12"], 2),
    ],
)
def test_exit_codes(
    argv: list[str], code: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        got = main([word.format(tmp=tmp_path) for word in argv])
    except SystemExit as exit_:
        got = exit_.code  # type: ignore[assignment]
    assert got == code, capsys.readouterr()


def test_exit_codes_are_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["verify", "--help"], ["audit", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        out = capsys.readouterr().out
        assert "exit status:" in out
        for line in ("0    passed", "1    a failure", "2    bad usage", "130  interrupted"):
            assert line in out, (argv, line)
