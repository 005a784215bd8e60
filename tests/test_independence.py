"""Independence is the product (DESIGN.md): checked on the import graph, read with `ast`.

- A gradient source (a module under harness/sources/) imports only the standard library, numpy,
  sympy, mpmath and the harness's forward definition and boundary (`harness.network`,
  `harness.spec`, `harness.errors`): never `reference`, never another source, never anything
  that could carry somebody else's derivatives.
- `reference/`, the backprop under verification, imports nothing from `harness`.

Every import counts: ``import x``, ``from x import y`` (``y`` may be a submodule), relative
imports resolved against the module's package, imports inside functions, and
``importlib.import_module`` / ``__import__`` with a literal name. A source may be a package
(harness/sources/symbolic/...); its own modules may import each other. harness/sources/__init__.py
is no source: it may name the sources, but it too must not import `reference`.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES_PACKAGE = "harness.sources"
SOURCE_ALLOWED = (
    "numpy",
    "sympy",
    "mpmath",
    "numba",  # compiles finite_diff's own loops; carries no derivatives
    "harness.threads",  # sets the BLAS thread count
    "harness.network",
    "harness.spec",
    "harness.errors",
)
DYNAMIC_IMPORTS = frozenset({"import_module", "__import__"})
#: Sources of one kind that share code on purpose: the directional finite difference takes the
#: finite-difference source's per-thread work buffers (no derivatives); its identities are its own.
SAME_KIND = {"harness.sources.directional": ("harness.sources.finite_diff",)}


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _module_of(path: str) -> tuple[str, str]:
    """(module, package) for a .py path relative to the repository root."""
    parts = list(Path(path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def _resolve(name: str | None, level: int, package: str) -> str | None:
    """The absolute name of ``from <level dots><name> import ...`` in ``package``."""
    if level == 0:
        return name
    parts = package.split(".") if package else []
    if level - 1 > len(parts) - 1:
        return None  # beyond the top-level package
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _imports(tree: ast.AST, package: str) -> Iterator[tuple[int, list[str]]]:
    """Per import, (line, names): the statement is what it imports if any one name is.

    ``from base import y`` imports ``base`` and, if ``y`` is a submodule, ``base.y``; both are
    listed. An unresolvable relative import is listed as ``"<beyond top level>"``.
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, [alias.name]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module, node.level, package)
            if base is None:
                yield node.lineno, ["<beyond top level>"]
                continue
            for alias in node.names:
                yield node.lineno, [base] if alias.name == "*" else [base, f"{base}.{alias.name}"]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if (
                called in DYNAMIC_IMPORTS
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                dots = len(first.value) - len(first.value.lstrip("."))
                name = _resolve(first.value[dots:] or None, dots, package)
                yield node.lineno, [name or "<beyond top level>"]


def _source_rule(module: str, names: list[str]) -> str | None:
    """Why a source module may not import ``names``, or None if it may."""
    own = ".".join(module.split(".")[:3])  # harness.sources.<source>, or the package itself
    kin = SAME_KIND.get(own, ())
    names = [name for name in names if not any(_within(name, k) for k in kin)] or [own]
    for name in names:
        if _within(name, "reference"):
            return f"imports {name}: a source must not use the reference it verifies"
        if _within(name, SOURCES_PACKAGE) and name != SOURCES_PACKAGE and not _within(name, own):
            return f"imports {name}: a source must not use another source's code"
    allowed = any(
        name.split(".")[0] in sys.stdlib_module_names
        or any(_within(name, ok) for ok in (*SOURCE_ALLOWED, own))
        for name in names
    )
    if not allowed:
        return (
            f"imports {names[-1]}: a source may import only the standard library, "
            f"{', '.join(SOURCE_ALLOWED)}"
        )
    return None


def _reference_rule(module: str, names: list[str]) -> str | None:
    for name in names:
        if _within(name, "harness"):
            return f"imports {name}: the reference under verification must not use the harness"
    return None


def import_violations(text: str, path: str) -> list[str]:
    """Every import in ``text`` (the file at ``path``, relative to the root) that breaks
    independence, as ``"path:line: why"``."""
    module, package = _module_of(path)
    if _within(module, SOURCES_PACKAGE):
        rule = _source_rule
    elif _within(module, "reference"):
        rule = _reference_rule
    else:
        return []
    tree = ast.parse(text, filename=path)
    found = []
    for line, names in _imports(tree, package):
        why = rule(module, names)
        if why is not None:
            found.append(f"{path}:{line}: {why}")
    return found


def _checked_files() -> list[str]:
    files = sorted((ROOT / "harness" / "sources").rglob("*.py"))
    files += sorted((ROOT / "reference").rglob("*.py"))
    return [path.relative_to(ROOT).as_posix() for path in files]


def test_the_checked_files_include_a_source_and_the_reference() -> None:
    files = _checked_files()
    assert "harness/sources/closed_form.py" in files, files
    assert "reference/backprop.py" in files, files


@pytest.mark.parametrize("path", _checked_files())
def test_module_imports_keep_sources_independent(path: str) -> None:
    violations = import_violations((ROOT / path).read_text(encoding="utf-8"), path)
    assert not violations, "\n".join(violations)


SYMBOLIC = "harness/sources/symbolic.py"
CLOSED_FORM = "harness/sources/closed_form.py"
BACKPROP = "reference/backprop.py"


@pytest.mark.parametrize(
    ("path", "text", "fragment"),
    [
        pytest.param(SYMBOLIC, "import reference\n", "imports reference", id="import-reference"),
        pytest.param(
            SYMBOLIC,
            "from reference.backprop import backward\n",
            "imports reference.backprop",
            id="from-reference",
        ),
        pytest.param(
            SYMBOLIC,
            "import numpy\nfrom .closed_form import g_prime\n",
            ":2: imports harness.sources.closed_form",
            id="relative-from-source-module",
        ),
        pytest.param(
            CLOSED_FORM,
            "from . import symbolic\n",
            "imports harness.sources.symbolic",
            id="relative-import-of-source",
        ),
        pytest.param(
            CLOSED_FORM,
            "from harness.sources import finite_diff\n",
            "imports harness.sources.finite_diff",
            id="absolute-from-sources",
        ),
        pytest.param(
            SYMBOLIC,
            "def f():\n    import harness.sources.finite_diff as fd\n    return fd\n",
            ":2: imports harness.sources.finite_diff",
            id="import-inside-function",
        ),
        pytest.param(
            SYMBOLIC,
            "import importlib\nimportlib.import_module('reference')\n",
            ":2: imports reference",
            id="importlib-reference",
        ),
        pytest.param(
            SYMBOLIC,
            "from .. import compare\n",
            "imports harness.compare: a source may import only",
            id="harness-module-not-allowed",
        ),
        pytest.param(
            SYMBOLIC, "import torch\n", "imports torch: a source may import only", id="torch"
        ),
        pytest.param(
            "harness/sources/symbolic/expression.py",
            "from ..closed_form import g_prime\n",
            "imports harness.sources.closed_form",
            id="source-package-imports-other-source",
        ),
        pytest.param(
            "harness/sources/__init__.py",
            "from reference import backward\n",
            "imports reference",
            id="sources-package-reference",
        ),
        pytest.param(
            BACKPROP, "from harness.network import forward\n", "imports harness", id="ref-harness"
        ),
        pytest.param(
            "reference/__init__.py",
            "def f():\n    import harness\n",
            ":2: imports harness: the reference",
            id="ref-harness-in-function",
        ),
    ],
)
def test_checker_flags_a_dependency(path: str, text: str, fragment: str) -> None:
    violations = import_violations(text, path)
    assert len(violations) == 1, violations
    assert violations[0].startswith(path + ":"), violations
    assert fragment in violations[0], violations


@pytest.mark.parametrize(
    ("path", "text"),
    [
        pytest.param(
            SYMBOLIC,
            "from __future__ import annotations\n"
            "import math, functools\n"
            "import numpy as np\n"
            "from numpy.typing import NDArray\n"
            "import sympy\n"
            "from sympy import IndexedBase\n"
            "import mpmath\n",
            id="stdlib-numpy-sympy-mpmath",
        ),
        pytest.param(
            SYMBOLIC,
            "from harness.network import forward\n"
            "from ..spec import Problem\n"
            "from harness import errors\n"
            "from harness.errors import SourceLimitError\n",
            id="network-spec-errors",
        ),
        pytest.param(
            "harness/sources/symbolic/evaluate.py",
            "from . import expression\nfrom harness.sources.symbolic.expression import loss\n",
            id="own-source-package",
        ),
        pytest.param(
            "harness/sources/__init__.py",
            "from . import closed_form, symbolic, finite_diff\n",
            id="sources-package-lists-its-sources",
        ),
        pytest.param(
            "reference/__init__.py",
            "from reference.backprop import backward\nfrom . import backprop\nimport numpy\n",
            id="reference-itself",
        ),
    ],
)
def test_checker_allows_independent_imports(path: str, text: str) -> None:
    assert import_violations(text, path) == []
