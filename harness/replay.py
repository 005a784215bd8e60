"""How a report names a candidate handed over as a Python object, so its reproduce line replays.

A candidate named on the command line (``audit file.py:f --layout rows``) replays as that command.
One handed to `harness.check` / `harness.audit` as a Python object is described where it lives, in
its worker (`harness.worker.load`), by `describe`:

- a function defined at the top level of a ``.py`` file (not ``__main__``: running a script
  again would run all of it), plain or adapted by an adapter the CLI has — `from_rows`
  (``--layout rows``), `from_columns` (``--bias``), `from_flat` (``--layout flat``) — replays as
  the CLI line
  ``gradcheck-harness audit path/to/file.py:f --layout rows ...``;
- anything else — a closure made by a factory, a lambda, a bound method, a function of a notebook or
  of ``__main__``, the other adapters — replays as the exact Python call, e.g.
  ``check(from_dict(two_layer_net.loss, activations=('relu', 'softmax')), Problem.random(...))``:
  the adapter and every option that is not its default, the user's functions by their own names
  (a bound method as ``snake_case_of_its_class.method``), values by ``repr``.

Adapters say how they were made with a `Recipe` in their ``recipe`` attribute. This module imports
nothing of the harness: it runs in the worker, next to the candidate.
"""

from __future__ import annotations

import inspect
import os
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PythonCall", "Recipe", "Replay", "describe", "python_call"]


@dataclass(frozen=True)
class Recipe:
    """How an adapted backward was made: ``adapter(*arguments, **options)``, with only the options
    that differ from the adapter's defaults; ``cli`` the audit options that make the same adapter
    on the command line (None: the CLI has no such adapter)."""

    adapter: str
    arguments: tuple[Any, ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    cli: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Replay:
    """``cli``: the words after ``gradcheck-harness audit`` (target and adapter options), or None
    when no command line can rebuild the candidate; ``python``: the candidate as a Python
    expression (for a `PythonCall`)."""

    cli: tuple[str, ...] | None
    python: str


@dataclass(frozen=True)
class PythonCall:
    """A reproduce line that is a Python call: ``check(<expression>, <problem><options>)``;
    ``options`` is ``", timeout=60.0"``-style text for the non-default arguments."""

    expression: str
    options: str = ""


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower() or "obj"


def _name(function: Any) -> str:
    """A callable as a Python name: ``f``, ``Class.method``, ``obj.method`` for a bound method."""
    owner = getattr(function, "__self__", None)
    name = getattr(function, "__name__", None)
    if owner is not None and isinstance(name, str) and not inspect.ismodule(owner):
        holder = owner.__name__ if isinstance(owner, type) else _snake(type(owner).__name__)
        return f"{holder}.{name}"
    qualname = getattr(function, "__qualname__", None)
    if isinstance(qualname, str) and "<" not in qualname:
        return qualname
    return name if isinstance(name, str) else type(function).__name__


def _value(value: Any) -> str:
    if callable(value) and not isinstance(value, type):
        return _name(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, tuple) and not hasattr(value, "_fields"):  # not a namedtuple
        return "(" + ", ".join(_value(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_value(v)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, (str, int, float, bool)):
        return repr(value)
    text = repr(value)
    simple = len(text) < 200 and not text.startswith("<") and "\n" not in text
    return text if simple else f"<{type(value).__name__}>"


def _expression(backward: Any) -> str:
    recipe = getattr(backward, "recipe", None)
    if not isinstance(recipe, Recipe):
        return _name(backward)
    words = [_value(a) for a in recipe.arguments]
    words += [f"{key}={_value(v)}" for key, v in recipe.options.items()]
    return f"{recipe.adapter}({', '.join(words)})"


def _file_target(function: Any) -> str | None:
    """``path/to/file.py:qualname`` for a function defined at the top level of a file (relative
    to the current directory when it is inside it), else None."""
    if not inspect.isfunction(function) or "<" in function.__qualname__:
        return None
    if function.__module__ == "__main__" or "." in function.__qualname__:
        return None
    filename = function.__globals__.get("__file__")
    if (
        not isinstance(filename, str)
        or not filename.endswith(".py")
        or not Path(filename).is_file()
    ):
        return None
    path = Path(filename).resolve()
    try:
        shown = os.path.relpath(path)
    except ValueError:  # another drive
        shown = str(path)
    return f"{path if shown.startswith('..') else shown}:{function.__qualname__}"


def describe(backward: Callable[..., Any]) -> Replay:
    """How ``backward`` replays: a CLI target where one rebuilds it, and always a Python
    expression."""
    recipe = getattr(backward, "recipe", None)
    python = _expression(backward)
    if isinstance(recipe, Recipe):
        inner = recipe.arguments[0] if recipe.arguments else None
        target = _file_target(inner) if recipe.cli is not None else None
        return Replay(None if target is None else (target, *recipe.cli), python)  # type: ignore[misc]
    target = _file_target(backward)
    return Replay(None if target is None else (target,), python)


def python_call(call: PythonCall, problem: Any, extra: str = "") -> str:
    """``check(<candidate>, <problem>, ...)``: a problem made by ``Problem.random`` by its repr,
    one built by hand as ``problem`` (its arrays cannot be written on one line)."""
    made = repr(problem) if getattr(problem, "seed", None) is not None else "problem"
    return f"check({call.expression}, {made}{call.options}{extra})"


def cli_front(replay: Replay) -> str | None:
    """The ``audit ...`` front of a reproduce line, when a command line rebuilds the candidate."""
    return None if replay.cli is None else shlex.join(["audit", *replay.cli])
