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

def test_campaign_fails_on_g_prime_of_a():
    assert_backprop_correct(WRONG_BACKPROPS["g_prime_of_A"].backward, examples=30)

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
    result.stdout.fnmatch_lines(["*--gradcheck-report-dir*", "*--gradcheck-isolation*"])


# One test's candidate tampers with the judge: on its first call it replaces `compare` in
# harness.campaign (so that every later comparison judges the true gradient, not the output)
# and leaves a thread that does it again a moment later, after its test has ended. Its own
# gradient is right, so its test passes. The next tests audit wrong gradients.
TAMPER_FILE = """
import threading, time
import numpy as np
import reference
from harness import NetworkSpec, Problem, assert_backprop_correct

SPEC = NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "mse")

def _tamper():
    import harness.campaign as campaign
    original = campaign.compare
    if getattr(original, "hostile", False):
        return
    def compare(problem, output, *args, **kwargs):
        spec = problem.spec
        truth = reference.backward([(np.array(W), np.array(b)) for W, b in problem.params],
                                   np.array(problem.X), np.array(problem.Y),
                                   list(spec.activations), spec.loss.name)
        return original(problem, truth, *args, **kwargs)
    compare.hostile = True
    campaign.compare = compare

def tampering(params, X, Y, activations, loss):
    _tamper()
    threading.Thread(target=lambda: (time.sleep(0.2), _tamper()), daemon=True).start()
    return reference.backward(params, X, Y, activations, loss)

def off_by_one(params, X, Y, activations, loss):
    return [(dW + 1.0, db) for dW, db in reference.backward(params, X, Y, activations, loss)]

def test_1_tampers_and_passes():
    assert_backprop_correct(tampering, problem=Problem.random(SPEC, 5, seed=1))

def test_2_wrong_problem_fails():
    time.sleep(0.5)  # the abandoned thread has run by now
    assert_backprop_correct(off_by_one, problem=Problem.random(SPEC, 5, seed=2))

def test_3_wrong_campaign_fails():
    assert_backprop_correct(off_by_one, examples=10)
"""


def test_one_tests_tampering_cannot_change_a_later_tests_verdict(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_tamper=TAMPER_FILE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--gradcheck-report-dir", "r")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*test_2_wrong_problem_fails*", "*test_3_wrong_campaign_fails*"])
    # The tampering is real: in pytest's own process it turns both later verdicts into passes.
    inline = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--gradcheck-report-dir", "r", "--gradcheck-isolation", "inline"
    )
    inline.assert_outcomes(passed=3)


def test_the_isolation_options_are_checked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("--gradcheck-memory-limit", "lots")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--gradcheck-memory-limit: 'lots' is not a memory size*"])
    result = pytester.runpytest_subprocess("--gradcheck-isolation", "thread")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*invalid choice: 'thread'*"])


def test_a_failure_shows_the_headline_not_the_helpers_source(pytester: pytest.Pytester) -> None:
    """``__tracebackhide__``: the failure starts at the test's own line and the message leads
    with the headline of the reports, instead of ~40 lines of assert_backprop_correct."""
    pytester.makepyfile(
        test_one=f"""
import sys
sys.path.insert(0, {str(META.parent)!r})
from harness import NetworkSpec, Problem, assert_backprop_correct
from meta.wrong_backprops import WRONG_BACKPROPS

def test_transposed():
    problem = Problem.random(NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "mse"), 5, seed=1)
    assert_backprop_correct(WRONG_BACKPROPS["transposed_dW"].backward, problem=problem)
"""
    )
    result = pytester.runpytest("--gradcheck-report-dir", "r", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    for helper_line in ("def assert_backprop_correct", "directory = Path(report_dir)",
                        "raise GradientMismatch", "boundary: dict[str, Any]"):  # fmt: skip
        assert helper_line not in output, output
    errors = [line for line in output.splitlines() if line.startswith("E ")]
    assert "GradientMismatch: FAIL: layer" in errors[0], errors[:3]
    assert "looks transposed" in errors[0]
