"""The README's Python examples run as written, and its report excerpt is what the tool writes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXCERPT = re.search(r"````markdown\n(.*?)````", README, flags=re.DOTALL)
WITHOUT_EXCERPT = re.sub(r"````markdown\n.*?````", "", README, flags=re.DOTALL)
BLOCKS = re.findall(r"```python\n(.*?)```", WITHOUT_EXCERPT, flags=re.DOTALL)
RUNNABLE = [block for block in BLOCKS if "-> grads" not in block]  # skip the contract signature


def test_the_readme_has_runnable_examples() -> None:
    assert len(RUNNABLE) >= 5


def test_readme_examples_run_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    """Like a reader pasting them one after another into one session."""
    namespace: dict[str, object] = {"__name__": "readme_example"}
    for number, block in enumerate(RUNNABLE):
        exec(compile(block, f"README.md block {number}", "exec"), namespace)
        out = capsys.readouterr().out
        assert out.strip(), f"block {number} prints what it shows"
        # Every example that prints a verdict shows a passing one (the failing example prints
        # its report instead): a README that claims True must not print False.
        assert "False" not in out, f"block {number} printed {out!r}"


SHELL = re.findall(r"```sh\n(.*?)```", WITHOUT_EXCERPT, flags=re.DOTALL)
AUDIT_LINES = [
    line for block in SHELL for line in block.splitlines()
    if line.startswith("gradcheck-harness audit") and "# exit" in line
]  # fmt: skip


@pytest.mark.parametrize("line", AUDIT_LINES, ids=[f"line{i}" for i in range(len(AUDIT_LINES))])
def test_readme_audit_commands_exit_as_documented(
    line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    command, _, expected = line.partition("# exit")
    monkeypatch.chdir(ROOT)
    argv = [*shlex.split(command)[1:], "--report-dir", str(tmp_path)]
    assert main(argv) == int(expected.strip())
    out = capsys.readouterr().out
    assert "report:" in out


def test_the_report_excerpt_is_real(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every non-blank line of the README's summary.md excerpt appears in a real summary.md."""
    assert EXCERPT is not None
    monkeypatch.chdir(ROOT)  # the excerpt names the candidate relative to the repository
    code = main(
        ["verify", "--candidate", "tests/meta/transposed_dW.py:backward", "--profile", "quick",
         "--seed", "0", "--report-dir", str(tmp_path)]
    )  # fmt: skip
    capsys.readouterr()
    assert code == 1
    real = (tmp_path / "latest" / "summary.md").read_text(encoding="utf-8").splitlines()
    missing = [
        line for line in EXCERPT.group(1).splitlines()
        if line.strip() and not line.startswith("```") and line not in real
    ]  # fmt: skip
    assert not missing, missing
