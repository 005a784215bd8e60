"""The pytest plugin end to end, with pytester: a wrong backprop fails with a message that says
what, where and how to reproduce, a report is written and listed in the terminal summary."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

META = Path(__file__).resolve().parent / "meta"

TEST_FILE = f"""
import sys
sys.path.insert(0, {str(META.parent)!r})
import reference
from harness import NetworkSpec, Problem, assert_backprop_correct, GradientMismatch
from meta.wrong_backprops import WRONG_BACKPROPS

SPEC = NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "mse")

def test_reference_passes():
    assert_backprop_correct(reference.backward, problem=Problem.random(SPEC, 5, seed=1))
    assert_backprop_correct(reference.backward, examples=20)

def test_transposed_fails():
    assert_backprop_correct(
        WRONG_BACKPROPS["transposed_dW"].backward, problem=Problem.random(SPEC, 5, seed=1)
    )

def test_campaign_fails_on_missing_mean():
    assert_backprop_correct(WRONG_BACKPROPS["missing_1_over_m"].backward, examples=30)

def test_it_is_an_assertion_error():
    try:
        assert_backprop_correct(
            WRONG_BACKPROPS["bias_mean_over_samples"].backward,
            problem=Problem.random(SPEC, 5, seed=1),
        )
    except AssertionError as error:
        assert isinstance(error, GradientMismatch)
        assert error.report_path is not None and error.report_path.is_dir()
        assert [(f.layer, f.param) for f in error.report.findings] == [(1, "b"), (2, "b")]
    else:
        raise AssertionError("no GradientMismatch")
"""


def test_the_plugin_end_to_end(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_backprop=TEST_FILE)
    result = pytester.runpytest("--gradcheck-report-dir", "my-reports", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=2)
    output = result.stdout.str()
    # STYLE 4: observed, expected, where, and how to reproduce.
    result.stdout.fnmatch_lines(
        [
            "*layer 1 dW: */12 entries wrong*",
            "*layer 1 dW[[]*]: candidate * but sources agree on * (|Δ| * > bound *)*",
            "*Mismatched elements: * / 12*",
            "*reproduce: gradcheck-harness audit *--sizes 3,4,2 --activations tanh,sigmoid*",
            "*report: my-reports*",
        ]
    )
    assert "layer 1 dW: 1/1 entries wrong" in output or "entries wrong" in output
    # The terminal summary lists every report written.
    result.stdout.fnmatch_lines(["*gradcheck reports*", "gradcheck report: my-reports*"])
    written = list((pytester.path / "my-reports").iterdir())
    assert len([p for p in written if p.name != "latest"]) == 3  # one per failing call
    for run in written:
        if run.name != "latest":
            assert {p.name for p in run.iterdir()} == {"summary.json", "summary.md", "report.html"}


def test_the_option_is_in_the_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--gradcheck-report-dir*"])
