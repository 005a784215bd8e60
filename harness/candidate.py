"""Load a candidate backprop by name, and call it without letting it hurt the harness.

A candidate is named ``PATH.py:FUNC`` (a file, imported the way pytest imports a test file: if
it sits in a package, the package root goes on sys.path and the module keeps its dotted name, so
its relative imports work) or ``module:FUNC`` (an importable module). It follows the plug-in
contract ``backward(params, X, Y, activations, loss) -> [(dW1, db1), ...]`` and receives copies,
so it can neither see nor change the problem's arrays.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.compare import TensorRecord
from harness.errors import HarnessError
from harness.spec import Problem

__all__ = ["Backward", "CandidateError", "call_candidate", "load_candidate"]

Backward = Callable[..., Any]


class CandidateError(HarnessError, ValueError):
    """A candidate name that cannot be loaded as a callable."""


def _module_name_for(path: Path) -> tuple[Path, str]:
    """(directory to put on sys.path, dotted module name) for a .py file."""
    parts = [path.stem]
    directory = path.parent
    while (directory / "__init__.py").is_file():
        parts.insert(0, directory.name)
        directory = directory.parent
    return directory, ".".join(parts)


def load_candidate(target: str) -> Backward:
    """The function named by ``PATH.py:FUNC`` or ``module:FUNC``."""
    if ":" not in target:
        raise CandidateError(
            f"candidate {target!r} must be PATH.py:FUNC or module:FUNC, "
            f"e.g. my_mlp.py:backward or reference:backward"
        )
    location, _, name = target.rpartition(":")
    if not location or not name.isidentifier():
        raise CandidateError(f"candidate {target!r}: {name!r} is not a function name")
    if location.endswith(".py"):
        path = Path(location).resolve()
        if not path.is_file():
            raise CandidateError(f"candidate file {location!r} does not exist")
        root, module_name = _module_name_for(path)
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        loaded = sys.modules.get(module_name)
        if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() != path:
            del sys.modules[module_name]
    else:
        module_name = location
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        where = location if location.endswith(".py") else f"module {location!r}"
        last = traceback.extract_tb(error.__traceback__)[-1]
        raise CandidateError(
            f"importing {where} failed: {type(error).__name__}: {error} "
            f"(at {last.filename}:{last.lineno})"
        ) from None
    function = getattr(module, name, None)
    if function is None:
        public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise CandidateError(
            f"{location} has no function {name!r}; callables there: {', '.join(public) or 'none'}"
        )
    if not callable(function):
        raise CandidateError(f"{target} is a {type(function).__name__}, not a function")
    return function  # type: ignore[no-any-return]


def call_candidate(backward: Backward, problem: Problem) -> tuple[Any, TensorRecord | None]:
    """(output, None), or (None, a whole-call record) when the candidate raised."""
    params = [(W.copy(), b.copy()) for W, b in problem.params]
    spec = problem.spec
    try:
        output = backward(
            params, problem.X.copy(), problem.Y.copy(), list(spec.activations), spec.loss
        )
    except Exception as error:  # a candidate's failure is a finding, never a crash
        last = traceback.extract_tb(error.__traceback__)[-1]
        detail = (
            f"candidate raised {type(error).__name__}: {error} "
            f"(at {Path(last.filename).name}:{last.lineno})"
        )
        return None, TensorRecord(None, None, "raises", detail)
    return output, None
