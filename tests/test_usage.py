"""Usage errors (issue 13, point 4): code plugged in the wrong way exits 2 with the fix, no
traceback and no report folder — a dict returned, a fixed-depth function fed another depth, a
correct backprop of another loss convention (½·MSE, a sum over the batch). Following each hint
makes the same code pass. And the controls: a real bug that looks like one of them is still
reported as a failure (exit 1, a report)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from harness import Loss, NetworkSpec, Problem, UsageError, audit, check
from harness.cli import main

MODULE = '''
import reference


def dict_grads(params, X, Y, activations, loss):
    grads = reference.backward(params, X, Y, activations, loss)
    return {f"{k}{l}": g for l, pair in enumerate(grads, 1) for k, g in zip(("W", "b"), pair)}


def two_layers(params, X, Y, activations, loss):
    (W1, b1), (W2, b2) = params  # written for one hidden layer
    return reference.backward(params, X, Y, activations, loss)


def half_mse(params, X, Y, activations, loss):
    """Correct for ½·MSE: dZ_L = (A - Y) / m."""
    return [(dW / 2, db / 2) for dW, db in reference.backward(params, X, Y, activations, loss)]


def summed(params, X, Y, activations, loss):
    """Correct for a loss summed over the batch."""
    m = X.shape[1]
    return [(m * dW, m * db) for dW, db in reference.backward(params, X, Y, activations, loss)]


def tripled(params, X, Y, activations, loss):
    """A constant factor no convention has."""
    return [(3 * dW, 3 * db) for dW, db in reference.backward(params, X, Y, activations, loss)]


def one_layer_halved(params, X, Y, activations, loss):
    grads = reference.backward(params, X, Y, activations, loss)
    grads[0] = (grads[0][0] / 2, grads[0][1] / 2)
    return grads


def loop_bug(params, X, Y, activations, loss):
    """Works on one and two layers, raises from three on: a bug, not a fixed depth."""
    if len(params) >= 3:
        raise IndexError("list index out of range")
    return reference.backward(params, X, Y, activations, loss)


def told_but_ignores(params, X, Y, activations, loss, half=False, reduction="mean", l2=0.0):
    """Takes the convention as keywords and ignores ``half``: never excused as a convention."""
    return [(dW / 2, db / 2) for dW, db in reference.backward(params, X, Y, activations, loss)]


told_but_ignores.supports = {"keywords": True, "losses": [Loss("mse", half=True), Loss("mse")]}
'''.replace("told_but_ignores.supports", "from harness import Loss\ntold_but_ignores.supports")


@pytest.fixture
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "user.py").write_text(MODULE)
    return tmp_path


def _audit(target: str, *options: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, bool]:
    """(exit code, stderr, whether a report folder was written)."""
    capsys.readouterr()
    code = main(["audit", f"user.py:{target}", "--examples", "40", *options,
                 "--report-dir", "reports"])  # fmt: skip
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err, Path("reports").exists()


@pytest.mark.parametrize(
    ("target", "options", "hints"),
    [
        ("dict_grads", (), ["returned a dict of gradients", "harness.adapters.from_dict("]),
        (
            "two_layers",
            (),
            ["handles 2-layer networks only", "supports={'depths': (2,)}", "--sizes 4,8,"],
        ),
        (
            "half_mse",
            ("--loss", "mse"),
            ["Loss('mse', half=True)", "--half", "that factor is the bug (scaled by 1/2)"],
        ),
        ("summed", (), ["reduction='sum')", "--reduction sum", "(scaled by m = "]),
    ],
)
def test_each_usage_error_exits_2_with_its_hint_and_no_report(
    user: Path, capsys: pytest.CaptureFixture[str], target: str, options: tuple[str, ...],
    hints: list[str],
) -> None:  # fmt: skip
    code, err, wrote = _audit(target, *options, capsys=capsys)
    assert code == 2 and not wrote
    assert err.startswith(f"gradcheck-harness: error: user.py:{target} ")
    for hint in hints:
        assert hint in err


def test_following_each_hint_makes_the_same_code_pass(
    user: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, err, _ = _audit("two_layers", capsys=capsys)
    suggested = err.split("(e.g. ")[1].split(")")[0]
    assert _audit("two_layers", *shlex.split(suggested), capsys=capsys)[0] == 0
    assert _audit("half_mse", "--loss", "mse", "--half", capsys=capsys)[0] == 0
    assert _audit("summed", "--reduction", "sum", capsys=capsys)[0] == 0


@pytest.mark.parametrize("target", ["tripled", "one_layer_halved", "loop_bug", "told_but_ignores"])
def test_real_bugs_that_resemble_a_usage_error_stay_failures(
    user: Path, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    """A factor no convention has, a factor on one layer only, a function that works on two
    depths, a function told the convention that ignores it: exit 1 and a report."""
    code, err, wrote = _audit(target, "--loss", "mse", capsys=capsys)
    assert (code, err, wrote) == (1, "", True)


def test_the_api_raises_the_typed_error_and_check_keeps_the_finding(user: Path) -> None:
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("usage_user", user / "user.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["usage_user"] = module
    try:
        spec.loader.exec_module(module)
        with pytest.raises(
            UsageError, match=r"supports=\{'losses': \(Loss\('mse', half=True\),\)\}"
        ):
            audit(module.half_mse, spec=NetworkSpec((3, 4, 2), ("tanh", "identity"), "mse"))
        # following it, the same function passes
        half = {"losses": [Loss("mse", half=True)]}
        assert audit(module.half_mse, supports=half, examples=20).passed
        # check() on one explicit problem keeps the per-tensor findings and their hint
        problem = Problem.random(NetworkSpec((3, 4, 2), ("tanh", "identity"), "mse"), 4, seed=1)
        report = check(module.half_mse, problem)
        assert not report.passed
        assert all("declare Loss('mse', half=True)" in (f.diagnosis or "") for f in report.findings)
    finally:
        del sys.modules["usage_user"]
