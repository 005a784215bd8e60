"""Reproduce lines that replay (issue 13, point 3): a candidate handed to the Python API is named
by a command line where one rebuilds it (a top-level function of a file, plain or through
from_rows / from_columns / from_flat) and by the exact Python ``check(...)`` call otherwise (a
closure, a bound method, the other adapters). Each line is run again here and must give the same
verdict, down to the wrong entry."""

from __future__ import annotations

import importlib.util
import json
import shlex
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import harness
from harness import Loss, NetworkSpec, Problem, audit, check
from harness.adapters import from_dict, from_rows
from harness.cli import main

MODULE = '''
import numpy as np
import reference


def backward(params, X, Y, activations, loss):
    """One entry of layer 1's dW off by 1e-6 of itself."""
    grads = reference.backward(params, X, Y, activations, loss)
    grads[0][0][1, 0] *= 1 + 1e-6
    return grads


def backward_rows(params_rows, X_rows, Y_rows, activations, loss):
    """Rows as samples, biases as (n, 1) columns; layer 2's db doubled."""
    params = [(W_rows.T, b[:, 0]) for W_rows, b in params_rows]
    grads = reference.backward(params, X_rows.T, Y_rows.T, activations, loss)
    out = [(dW.T, db[:, None]) for dW, db in grads]
    out[-1] = (out[-1][0], 2 * out[-1][1])
    return out


def make(scale):
    """A factory: the backward it makes scales layer 2's dW."""
    def scaled(params, X, Y, activations, loss):
        grads = reference.backward(params, X, Y, activations, loss)
        grads[-1] = (scale * grads[-1][0], grads[-1][1])
        return grads
    return scaled


class TwoLayerNet:
    """cs231n's style: params dict, loss(X, y) -> (loss, grads); layer 1's db sign-flipped."""

    def __init__(self):
        self.params = {}

    def loss(self, X, y):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        m = X.shape[0]
        H = np.tanh(X @ W1 + b1)
        S = H @ W2 + b2
        P = np.exp(S - S.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        dS = P.copy()
        dS[np.arange(m), y] -= 1
        dS /= m
        dH = dS @ W2.T * (1 - H**2)
        grads = {"W1": X.T @ dH, "b1": -dH.sum(axis=0), "W2": H.T @ dS, "b2": dS.sum(axis=0)}
        return float(-np.log(P[np.arange(m), y]).mean()), grads
'''

PROBLEM = Problem.random(NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), Loss("bce")), batch=5, seed=4)


@pytest.fixture
def mine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The module above, imported from its file as a user's script imports its own code."""
    path = tmp_path / "mine.py"
    path.write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    spec = importlib.util.spec_from_file_location("replay_mine", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "replay_mine", module)
    spec.loader.exec_module(module)
    return module


def _wrong(report: Any) -> set[tuple[int, str, tuple[int, ...] | None]]:
    return {(f.layer, f.param, f.worst[0].index if f.worst else None) for f in report.findings}


def _replay_cli(line: str, tmp_path: Path) -> dict[str, Any]:
    words = shlex.split(line)
    assert words[0] == "gradcheck-harness"
    assert main([*words[1:], "--report-dir", str(tmp_path / "replayed")]) == 1
    data: dict[str, Any] = json.loads((tmp_path / "replayed/latest/summary.json").read_text())
    return data


def _failing(summary: dict[str, Any]) -> set[tuple[int, str]]:
    (case,) = summary["cases"][:1]
    return {(r["layer"], r["param"]) for r in case["records"] if r["status"] != "ok"}


def test_a_function_of_a_file_replays_as_a_command_line(mine: ModuleType, tmp_path: Path) -> None:
    report = check(mine.backward, PROBLEM)
    line = report.case.reproduce
    assert line.startswith("gradcheck-harness audit mine.py:backward --sizes 3,4,2 ")
    assert _wrong(report) == {(1, "W", (1, 0))}
    assert _failing(_replay_cli(line, tmp_path)) == {(1, "W")}


def test_from_rows_with_column_biases_replays_with_its_layout_and_bias(
    mine: ModuleType, tmp_path: Path
) -> None:
    report = check(from_rows(mine.backward_rows, bias="column"), PROBLEM)
    line = report.case.reproduce
    front = "gradcheck-harness audit mine.py:backward_rows --layout rows --bias column "
    assert line.startswith(front)
    assert {f[:2] for f in _wrong(report)} == {(2, "b")}
    assert _failing(_replay_cli(line, tmp_path)) == {(2, "b")}


def test_a_closure_replays_as_the_python_check_call(mine: ModuleType) -> None:
    scaled = mine.make(1.0 + 1e-5)
    report = check(scaled, PROBLEM)
    line = report.case.reproduce
    assert line.startswith("check(scaled, Problem.random(NetworkSpec(sizes=(3, 4, 2)")
    replayed = eval(line, vars(harness) | {"scaled": scaled})  # the user's own names
    assert not replayed.passed and _wrong(replayed) == _wrong(report)
    assert {f[:2] for f in _wrong(report)} == {(2, "W")}


def test_a_bound_method_through_from_dict_replays_with_every_option(mine: ModuleType) -> None:
    problem = Problem.random(
        NetworkSpec((3, 4, 3), ("tanh", "softmax"), Loss("cross_entropy")), batch=6, seed=2
    )
    two_layer_net = mine.TwoLayerNet()
    adapted = from_dict(two_layer_net.loss, activations=("tanh", "softmax"))
    report = check(adapted, problem, timeout=20)
    line = report.case.reproduce
    assert line.startswith("check(from_dict(two_layer_net.loss, activations=('tanh', 'softmax')), ")
    assert line.endswith(", timeout=20.0)")
    names = vars(harness) | {"from_dict": from_dict, "two_layer_net": mine.TwoLayerNet()}
    replayed = eval(line, names)
    assert {f[:2] for f in _wrong(report)} == {(1, "b")} and _wrong(replayed) == _wrong(report)


def test_fast_mode_replays_with_its_direction_seed(mine: ModuleType) -> None:
    scaled = mine.make(1.0 + 1e-5)
    report = check(scaled, PROBLEM, mode="fast", fast_seed=1234)
    line = report.case.reproduce
    assert line.endswith(", mode='fast', fast_seed=1234)")
    replayed = eval(line, vars(harness) | {"scaled": scaled})
    assert replayed.case.fast is not None and replayed.case.fast.seed == 1234
    assert _wrong(replayed) == _wrong(report)


def test_an_audit_of_a_closure_writes_python_calls_in_its_report(
    mine: ModuleType, tmp_path: Path
) -> None:
    scaled = mine.make(2.0)
    result = audit(scaled, examples=5, seed=3, report_dir=tmp_path / "reports")
    summary = json.loads((tmp_path / "reports/latest/summary.json").read_text())
    assert summary["command"] == "audit(scaled, examples=5, seed=3)"
    minimal = summary["cases"][0]["reproduce"]
    assert minimal.startswith("check(scaled, Problem.random(")
    replayed = eval(minimal, vars(harness) | {"scaled": scaled})
    assert not replayed.passed and _wrong(replayed) == _wrong(result)
    markdown = (tmp_path / "reports/latest/summary.md").read_text()
    assert f"```python\n{minimal}\n```" in markdown and "```sh" not in markdown
    # spec=, supports= and the limits are part of the call
    family = NetworkSpec((3, 4, 2), ("tanh", "identity"), "mse")
    declared = {"activations": ["tanh", "identity"]}
    audit(scaled, spec=family, supports=declared, examples=3, seed=1, timeout=9,
          report_dir=tmp_path / "family")  # fmt: skip
    summary = json.loads((tmp_path / "family/latest/summary.json").read_text())
    assert summary["command"] == (
        f"audit(scaled, examples=3, seed=1, spec={family!r}, supports={declared!r}, timeout=9.0)"
    )


def test_a_target_string_replays_as_its_command_with_the_non_default_limits(
    mine: ModuleType, tmp_path: Path
) -> None:
    report = check("mine.py:backward", PROBLEM, timeout=12, memory_limit=2**31)
    line = report.case.reproduce
    assert line.startswith("gradcheck-harness audit mine.py:backward --timeout 12.0 ")
    assert "--memory-limit 2147483648" in line
    assert _failing(_replay_cli(line, tmp_path)) == {(1, "W")}
