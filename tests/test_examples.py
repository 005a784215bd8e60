"""examples/: each script runs as `python examples/NAME.py`, prints a passing verdict and exits 0,
and the `gradcheck-harness audit` line in its docstring works as written. The torch example
skips without torch (fails under CI=true, tests/optional.py) and then says so itself."""

from __future__ import annotations

import ast
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from optional import need
from output import first_result_line

from harness.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(path.stem for path in (ROOT / "examples").glob("*.py"))
NEEDS = {"torch_model": "torch"}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def _audit_line(name: str) -> list[str]:
    """The arguments of the `gradcheck-harness audit` line in the example's docstring."""
    doc = ast.get_docstring(ast.parse((ROOT / "examples" / f"{name}.py").read_text("utf-8")))
    (line,) = [l.strip() for l in (doc or "").splitlines() if "gradcheck-harness audit" in l]
    return shlex.split(line)[1:]


def test_there_are_three_examples() -> None:
    assert EXAMPLES == ["rows_numpy", "student_mlp", "torch_model"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_and_passes(name: str) -> None:
    if name in NEEDS:
        need(NEEDS[name])
    done = _run(f"examples/{name}.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("passed: 40 of 40 examples judged"), done.stdout


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_audit_line_in_its_docstring_passes(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if name in NEEDS:
        need(NEEDS[name])
    monkeypatch.chdir(ROOT)
    argv = _audit_line(name)
    assert argv[0] == "audit" and argv[1].startswith(("examples/", "'examples/"))
    assert main([*argv, "--examples", "5", "--report-dir", str(tmp_path)]) == 0
    assert first_result_line(capsys.readouterr().out).startswith("PASS: ")


def test_torch_example_without_torch_says_so_and_exits_0() -> None:
    hide_torch = (
        "import runpy, sys; sys.modules['torch'] = None; "
        "runpy.run_path('examples/torch_model.py', run_name='__main__')"
    )
    done = _run("-c", hide_torch)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("skipped: the torch adapter needs torch: pip install torch")
