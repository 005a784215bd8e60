"""Targets that name a method (issue 13, point 2): ``file.py:Class.method`` (the class built with
no arguments) and ``file.py:obj.method`` (an object built at import), on the command line, in
the Python API and in the pytest plugin; each loaded and called in the worker process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import CandidateError, NetworkSpec, Problem, audit, check
from harness.cli import main

pytest_plugins = ["pytester"]

MODULE = '''
import numpy as np
import reference


class MLP:
    """A correct backprop kept on an object, as many people write it."""

    def __init__(self):
        self.calls = 0

    def backward(self, params, X, Y, activations, loss):
        self.calls += 1
        return reference.backward(params, X, Y, activations, loss)

    @staticmethod
    def static_backward(params, X, Y, activations, loss):
        return reference.backward(params, X, Y, activations, loss)


class Transposed(MLP):
    def backward(self, params, X, Y, activations, loss):
        grads = reference.backward(params, X, Y, activations, loss)
        return [(dW.T.reshape(dW.shape), db) for dW, db in grads]


class NeedsArguments:
    def __init__(self, sizes):
        self.sizes = sizes

    def backward(self, params, X, Y, activations, loss):
        return reference.backward(params, X, Y, activations, loss)


model = MLP()


def make(transposed=False):
    """A factory: the backward it returns is a closure."""
    def backward(params, X, Y, activations, loss):
        grads = reference.backward(params, X, Y, activations, loss)
        return [(dW.T.reshape(dW.shape), db) for dW, db in grads] if transposed else grads
    return backward


def make_wrong():
    return make(transposed=True)


def broken_factory():
    raise RuntimeError("no config file")


SETTINGS = {"seed": 0}
'''

ONE = ["--sizes", "3,4,2", "--activations", "tanh,sigmoid", "--loss", "mse", "--problem-seed", "1"]


@pytest.fixture
def mlp(tmp_path: Path) -> Path:
    path = tmp_path / "mlp.py"
    path.write_text(MODULE)
    return path


@pytest.mark.parametrize(
    "name", ["MLP.backward", "model.backward", "MLP.static_backward", "make()", "MLP().backward"]
)
def test_a_method_target_is_audited_on_the_command_line(
    mlp: Path, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = ["--report-dir", str(tmp_path / "r")]
    assert main(["audit", f"{mlp}:{name}", "--examples", "5", *reports]) == 0
    assert main(["verify", "--candidate", f"{mlp}:{name}", *ONE, *reports]) == 0
    assert "PASS: " in capsys.readouterr().out


def test_a_wrong_method_fails_and_its_reproduce_line_names_the_method(
    mlp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = ["--report-dir", str(tmp_path / "r")]
    assert main(["audit", f"{mlp}:Transposed.backward", *ONE, *reports]) == 1
    summary = json.loads((tmp_path / "r" / "latest" / "summary.json").read_text())
    reproduce = summary["cases"][0]["reproduce"]
    assert f"{mlp}:Transposed.backward" in reproduce
    capsys.readouterr()


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        ("NeedsArguments.backward",
         ["building NeedsArguments() to call its backward raised TypeError",
          "build one at import (model = NeedsArguments(...)) and name model.backward"]),
        ("MLP.backwards", ["MLP has no attribute 'backwards'", "backward"]),
        ("model.calls", ["model.calls is a int, not a function"]),
        ("Nope.backward", ["has no function 'Nope'", "MLP"]),
        ("broken_factory()", ["calling broken_factory() raised RuntimeError: no config file",
                              "build the function at import (backward = broken_factory(...))"]),
        ("SETTINGS()", ["SETTINGS is a dict: it cannot be called as SETTINGS()"]),
        ("make", ["make(transposed) cannot be called as backward(params, X, Y, activations, "
                  "loss)", "looks like a factory", "'mlp.py:make()' (quoted in a shell)"]),
    ],
)  # fmt: skip
def test_a_method_target_that_cannot_be_loaded_exits_2_and_says_why(
    mlp: Path, name: str, fragments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", f"{mlp}:{name}", *ONE, "--report-dir", "unused"]) == 2
    err = capsys.readouterr().err
    assert f"could not load {mlp}:{name}" in err
    for fragment in fragments:
        assert fragment in err, err
    assert "Traceback" not in err


def test_the_python_api_takes_a_target_string(mlp: Path) -> None:
    problem = Problem.random(NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "mse"), 5, seed=1)
    assert check(f"{mlp}:MLP.backward", problem).passed
    wrong = check(f"{mlp}:Transposed.backward", problem)
    assert not wrong.passed
    assert f"audit {mlp}:Transposed.backward" in wrong.case.reproduce
    assert audit(f"{mlp}:model.backward", examples=5).passed
    with pytest.raises(CandidateError, match="could not load"):
        check(f"{mlp}:NeedsArguments.backward", problem)
    assert check(f"{mlp}:MLP.backward", problem, isolation="inline").passed


def test_a_factory_target_fails_on_its_bug_and_replays(
    mlp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = ["--report-dir", str(tmp_path / "r")]
    assert main(["audit", f"{mlp}:make_wrong()", "--examples", "10", *reports]) == 1
    summary = json.loads((tmp_path / "r" / "latest" / "summary.json").read_text())
    reproduce = summary["cases"][0]["reproduce"]
    assert f"audit '{mlp}:make_wrong()' --sizes" in reproduce  # shell-quoted: () is syntax
    capsys.readouterr()
    import shlex

    again = ["--report-dir", str(tmp_path / "again")]
    assert main([*shlex.split(reproduce)[1:], *again]) == 1
    problem = Problem.random(NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "mse"), 5, seed=1)
    assert check(f"{mlp}:make()", problem).passed
    assert not check(f"{mlp}:make_wrong()", problem).passed


def test_the_plugin_takes_a_method_target(mlp: Path, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_method=f"""
from harness import assert_backprop_correct

def test_method():
    assert_backprop_correct({f"{mlp}:MLP.backward"!r}, examples=5)

def test_factory():
    assert_backprop_correct({f"{mlp}:make()"!r}, examples=5)

def test_wrong_method():
    assert_backprop_correct({f"{mlp}:Transposed.backward"!r}, examples=5)
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--gradcheck-report-dir", "r")
    result.assert_outcomes(passed=2, failed=1)


IS_COMPARISONS = """
import numpy as np
import reference

def backward(params, X, Y, activations, loss):
    # Written with `is` (CPython warns): it works on interned names, as in most programs.
    for name in activations:
        if not (name is "tanh" or name is "sigmoid"):
            raise NotImplementedError(name)
    if not (loss is "mse"):
        raise NotImplementedError(loss)
    return reference.backward(params, X, Y, activations, loss)

backward.supports = {"activations": ["tanh", "sigmoid"], "losses": ["mse"]}
"""


def test_names_compared_with_is_get_the_same_verdict_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "is_names.py"
    path.write_text(IS_COMPARISONS)
    problem = Problem.random(NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "mse"), 5, seed=1)
    for isolation in ("process", "inline"):
        assert check(f"{path}:backward", problem, isolation=isolation).passed, isolation
    reports = ["--report-dir", str(tmp_path / "r")]
    assert main(["audit", f"{path}:backward", *ONE, *reports]) == 0
    assert main(["audit", f"{path}:backward", "--examples", "5", *reports]) == 0
    capsys.readouterr()
