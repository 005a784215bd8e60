"""The README's Python examples run as written, and its report excerpt is what the tool writes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from optional import have

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
        frameworks = [name for name in ("torch", "jax") if f"from_{name}(" in block]
        if not all(have(name) for name in frameworks):  # under CI=true: a failure instead
            continue  # the torch and jax block: nox -s adapters runs it
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
    out, err = capsys.readouterr()
    if int(expected) == 2:  # bad usage: the fix on stderr, no report
        assert err.startswith("gradcheck-harness: error: ") and not any(tmp_path.iterdir())
    else:
        assert "report:" in out


REAL_CODE = README.split("\n## Audit real code\n")[1].split("\n## ")[0]
STYLES = re.split(r"^### ", REAL_CODE, flags=re.MULTILINE)[1:]
GLUE = "# --- glue ---\n"


def _glue(section: str) -> list[str]:
    """The non-blank lines after the glue marker of the section's Python example."""
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", section, re.DOTALL) if GLUE in b]
    return [line for line in block.split(GLUE)[1].splitlines() if line.strip()]


@pytest.mark.parametrize(
    "style",
    ["Rows as samples", "One sample at a time", "A dict of parameters", "Layer objects",
     "Factory-made functions"],
)  # fmt: skip
def test_each_style_in_audit_real_code_needs_at_most_10_lines_of_glue(style: str) -> None:
    (section,) = [s for s in STYLES if s.startswith(style)]
    glue = _glue(section)
    assert 1 <= len(glue) <= 10, glue
    assert any("audit(" in line for line in glue)  # the glue ends in the audit it enables


def test_torch_and_jax_stay_one_line_each() -> None:
    (section,) = [s for s in STYLES if s.startswith("torch and jax")]
    (block,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    for adapter in ("from_torch(", "from_jax("):
        uses = [line for line in block.splitlines() if adapter in line]
        assert len(uses) == 1 and "audit(" in uses[0], uses
