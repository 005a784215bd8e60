"""The README's Python examples run as written, and its report excerpt is what the tool writes."""

from __future__ import annotations

import re
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
    assert len(RUNNABLE) >= 2


@pytest.mark.parametrize("block", RUNNABLE, ids=[f"block{i}" for i in range(len(RUNNABLE))])
def test_readme_example_runs(block: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(block, "README.md", "exec"), {"__name__": "readme_example"})
    assert capsys.readouterr().out.strip(), "each example prints what it shows"


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
