"""The candidate's side of the plug-in boundary: what runs where the candidate runs.

In a worker process (`harness.isolation`) these functions are the only harness code called: the
worker loads the candidate (`load`), then calls it once per task (`call`) and sends back plain
records — a `Loaded`, a `Returned` holding `harness.plain` copies, or a `Raised`. Nothing of the
candidate's own objects crosses back. With ``isolation="inline"`` the same functions run in the
harness's own process. This module imports only numpy at its top, so a worker starts quickly;
`harness.support` is imported only to parse a declared ``supports``.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import resource
import signal
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, FunctionType
from typing import Any

import numpy as np

from harness.plain import Plain, describe, read_output
from harness.replay import Replay
from harness.replay import describe as describe_replay

__all__ = [
    "Loaded",
    "Pickled",
    "Raised",
    "Returned",
    "Target",
    "call",
    "limit_memory",
    "load",
    "resolve",
]

Backward = Callable[..., Any]


@dataclass(frozen=True)
class Target:
    """A candidate named ``PATH.py:FUNC`` or ``module:FUNC``, imported only inside the worker;
    ``adapter`` (picklable: a `functools.partial` of a `harness.adapters` function) wraps it."""

    name: str
    adapter: Callable[[Backward], Backward] | None = None


@dataclass(frozen=True)
class Pickled:
    """A callable handed over from Python (a closure, a lambda, a notebook cell), cloudpickled."""

    data: bytes


Source = Target | Pickled


@dataclass(frozen=True)
class Loaded:
    """A loaded candidate: who it is and what it declares (``support`` a `harness.Support`,
    or the typed error its ``supports`` attribute raised)."""

    pid: int
    name: str
    support: Any
    keywords: bool
    replay: Replay  # how a reproduce line rebuilds it (`harness.replay`)


@dataclass(frozen=True)
class LoadFailed:
    """Why the candidate could not be loaded (completes "could not load <name>: ...")."""

    text: str


@dataclass(frozen=True)
class Returned:
    """The candidate returned: its output read once (`harness.plain`), and the inputs it
    modified in place."""

    output: Plain
    mutated: tuple[str, ...]


@dataclass(frozen=True)
class Raised:
    """The candidate raised (any BaseException: SystemExit and KeyboardInterrupt included)."""

    text: str  # "TypeName: first line of the message"
    where: str  # "file.py:12", or ""
    not_implemented: bool
    memory: bool


# --- loading -------------------------------------------------------------------------------------


class _LoadError(Exception):
    pass


def _module_name_for(path: Path) -> tuple[Path, str]:
    """(directory to put on sys.path, dotted module name) for a .py file, as pytest imports a
    test file: inside a package, the package root goes on sys.path, so relative imports work."""
    parts = [path.stem]
    directory = path.parent
    while (directory / "__init__.py").is_file():
        parts.insert(0, directory.name)
        directory = directory.parent
    return directory, ".".join(parts)


def import_target(target: str) -> Backward:
    """The function named by ``PATH.py:FUNC`` or ``module:FUNC`` (imports candidate code);
    FUNC may be ``Class.method`` (the class built with no arguments), ``obj.method`` (an object
    the module builds at import) or ``make()`` (what a factory returns when called with no
    arguments; any part of the dotted name may end in ``()``)."""
    location, _, name = target.rpartition(":")
    if location.endswith(".py"):
        path = Path(location).resolve()
        root, module_name = _module_name_for(path)
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        existing = sys.modules.get(module_name)
        if existing is not None and Path(getattr(existing, "__file__", "") or "").resolve() != path:
            del sys.modules[module_name]
    else:
        module_name = location
    try:
        module = importlib.import_module(module_name)
    except BaseException as error:  # SystemExit and KeyboardInterrupt at import too
        if isinstance(error, ModuleNotFoundError) and error.name == module_name:
            raise _LoadError(
                f"there is no module {module_name!r} on the path (the current directory and "
                f"PYTHONPATH); name the file instead: path/to/{module_name.replace('.', '/')}.py:"
                f"{name}"
            ) from None
        frames = [
            frame
            for frame in traceback.extract_tb(error.__traceback__)
            if not frame.filename.startswith("<frozen ")
        ]
        at = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
        raise _LoadError(f"importing it raised {describe(error)}{at}") from None
    first, *attributes = name.split(".")
    function = getattr(module, first.removesuffix("()"), None)
    if function is None:
        public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise _LoadError(f"it has no function {first.removesuffix('()')!r}; callables there: "
                         f"{', '.join(public) or 'none'}")  # fmt: skip
    reached = first.removesuffix("()")
    if first.endswith("()"):
        function = _made(function, reached)
        reached = first
    for attribute in attributes:
        function = _attribute(function, reached, attribute.removesuffix("()"))
        reached = f"{reached}.{attribute.removesuffix('()')}"
        if attribute.endswith("()"):
            function = _made(function, reached)
            reached = f"{reached}()"
    if not callable(function):
        raise _LoadError(f"{name} is a {type(function).__name__}, not a function")
    return function  # type: ignore[no-any-return]


def _made(factory: Any, reached: str) -> Any:
    """What ``factory()`` returns, for a ``make()`` target (a factory called with no arguments)."""
    if not callable(factory):
        raise _LoadError(f"{reached} is a {type(factory).__name__}: it cannot be called as "
                         f"{reached}()")  # fmt: skip
    try:
        return factory()
    except BaseException as error:
        raise _LoadError(
            f"calling {reached}() raised {describe(error)}; for a factory that needs arguments, "
            f"build the function at import (backward = {reached}(...)) and name backward"
        ) from None


def _attribute(owner: Any, reached: str, attribute: str) -> Any:
    """``owner.attribute`` for a ``Class.method`` or ``obj.method`` target: a class is built with
    no arguments first unless the attribute is a static or class method."""
    if isinstance(owner, type) and not isinstance(
        inspect.getattr_static(owner, attribute, None), (staticmethod, classmethod)
    ):
        try:
            owner = owner()
        except BaseException as error:
            raise _LoadError(
                f"building {reached}() to call its {attribute} raised {describe(error)}; for a "
                f"class that needs arguments, build one at import (model = {reached}(...)) and "
                f"name model.{attribute}"
            ) from None
    try:
        return getattr(owner, attribute)
    except AttributeError:
        public = sorted(n for n in dir(owner) if not n.startswith("_"))
        raise _LoadError(f"{reached} has no attribute {attribute!r}; it has: "
                         f"{', '.join(public) or 'nothing public'}") from None  # fmt: skip
    except BaseException as error:  # a property that raises
        raise _LoadError(f"reading {reached}.{attribute} raised {describe(error)}") from None


def resolve(source: Source) -> Backward:
    """The callable a source names (imports or unpickles candidate code)."""
    if isinstance(source, Pickled):
        import cloudpickle

        try:
            function = cloudpickle.loads(source.data)
        except BaseException as error:
            raise _LoadError(f"unpickling it in the worker raised {describe(error)}") from None
        if not callable(function):
            raise _LoadError(f"it unpickled to a {type(function).__name__}, not a callable")
        _restore_filenames(function, set())
        return function  # type: ignore[no-any-return]
    function = import_target(source.name)
    return function if source.adapter is None else source.adapter(function)


_DYNAMIC = "<dynamic-code>"  # cloudpickle's co_filename for functions it ships by value


def _with_filename(code: CodeType, filename: str) -> CodeType:
    consts = tuple(
        _with_filename(c, filename) if isinstance(c, CodeType) else c for c in code.co_consts
    )
    return code.replace(co_filename=filename, co_consts=consts)


def _restore_filenames(value: Any, seen: set[int]) -> None:
    """Give the functions cloudpickle shipped by value their file back (it drops co_filename),
    so that a raise or a crash names ``file.py:LINE``: the function, the functions and closures
    it refers to, and the functions of its module's globals."""
    if id(value) in seen:
        return
    seen.add(id(value))
    function = getattr(value, "__func__", value)  # a bound method
    if isinstance(function, FunctionType):
        filename = function.__globals__.get("__file__")
        if function.__code__.co_filename == _DYNAMIC and isinstance(filename, str):
            function.__code__ = _with_filename(function.__code__, filename)
            for other in list(function.__globals__.values()):
                _restore_filenames(other, seen)
        for cell in function.__closure__ or ():
            with contextlib.suppress(ValueError):  # an empty cell
                _restore_filenames(cell.cell_contents, seen)
    elif not isinstance(value, type):
        wrapped = getattr(value, "__wrapped__", None)
        if wrapped is not None:
            _restore_filenames(wrapped, seen)


def name_of(backward: Backward) -> str:
    """``module:qualname`` of the user's function (an adapter names the function it wraps)."""
    backward = getattr(backward, "__wrapped__", backward)
    module = getattr(backward, "__module__", None) or "?"
    name = getattr(backward, "__qualname__", None) or type(backward).__name__
    return f"{module}:{name}"


def declaration(backward: Backward) -> tuple[Any, bool]:
    """(the parsed ``supports`` or the typed error it raised, whether it takes the convention
    keywords ``half=``, ``reduction=``, ``l2=``)."""
    declared = getattr(backward, "supports", None)
    keywords = isinstance(declared, Mapping) and declared.get("keywords") is True
    from harness.errors import HarnessError
    from harness.support import parse_support

    try:
        return parse_support(declared), keywords
    except HarnessError as error:
        return error, keywords


#: Candidates loaded in this process, by key.
loaded: dict[str, Backward] = {}


def load(key: str, source: Source) -> Loaded | LoadFailed:
    """Load the candidate into this process (once per key) and say what it declares."""
    try:
        backward = loaded[key] if key in loaded else resolve(source)
        name = name_of(backward)
        support, keywords = declaration(backward)
        mismatch = _contract_mismatch(backward, keywords)
        if mismatch is not None:
            raise _LoadError(mismatch)
    except _LoadError as error:
        return LoadFailed(str(error))
    except BaseException as error:  # a hostile attribute or __getattr__
        return LoadFailed(f"reading it raised {describe(error)}")
    try:
        replay = describe_replay(backward)
    except BaseException:  # a hostile attribute: the reproduce line names it by its name
        replay = Replay(None, name.rpartition(":")[2] or "backward")
    loaded[key] = backward
    return Loaded(os.getpid(), name, support, keywords, replay)


_CONTRACT = "backward(params, X, Y, activations, loss) -> [(dW1, db1), ...]"
#: What a function of n positional parameters most likely is, and the adapter that fits it.
_LOOKS_LIKE = {
    2: "looks like a per-sample backprop(x, y) — use harness.adapters.from_per_sample — or a "
    "loss(X, y) -> (loss, grads) method of a model with a params dict — use --layout dict / "
    "from_dict",
    3: "looks like grad(theta, X, Y) on one flat parameter vector — use --layout flat / "
    "harness.adapters.from_flat",
}


def _contract_mismatch(backward: Backward, keywords: bool) -> str | None:
    """Why ``backward`` cannot be called as the contract calls it, with the adapter that fits,
    or None (also when its signature cannot be read: it is then judged by calling it)."""
    try:
        signature = inspect.signature(
            backward, follow_wrapped=False
        )  # an adapter, not its user code
    except (TypeError, ValueError):
        return None
    extra = {"half": False, "reduction": "mean", "l2": 0.0} if keywords else {}
    try:
        signature.bind(*range(5), **extra)
        return None
    except TypeError as error:
        why = str(error)
    positional = [
        p.name
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    shown = f"{name_of(backward).split(':')[-1]}({', '.join(positional)})"
    required = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if not required and len(positional) < 5:
        bare = shown.split("(")[0]
        try:
            where = Path(inspect.getsourcefile(backward) or "my_mlp.py").name
        except TypeError:
            where = "my_mlp.py"
        return (
            f"{shown} cannot be called as {_CONTRACT}: it takes no required arguments, so it "
            f"looks like a factory — if {bare}() returns the backward function, name it with "
            f"(): '{where}:{bare}()' (quoted in a shell), or pass {bare}() to check/audit"
        )
    if len(positional) in _LOOKS_LIKE:
        return (
            f"{shown} takes {len(positional)} positional arguments where the contract passes 5, "
            f"{_CONTRACT}: it {_LOOKS_LIKE[len(positional)]}"
        )
    return f"{shown} cannot be called as {_CONTRACT}: {why}"


# --- calling -------------------------------------------------------------------------------------


def _mutated(
    names: tuple[str, ...], given: tuple[np.ndarray, ...], kept: tuple[np.ndarray, ...]
) -> tuple[str, ...]:
    return tuple(
        name
        for name, new, old in zip(names, given, kept, strict=True)
        if new.shape != old.shape or not np.array_equal(new, old, equal_nan=True)
    )


def call(
    key: str,
    source: Source,
    params: list[tuple[np.ndarray, np.ndarray]],
    X: np.ndarray,
    Y: np.ndarray,
    activations: list[str],
    loss: str,
    keywords: dict[str, Any],
) -> Returned | Raised:
    """Call the candidate once on these arrays (its own copies) and read what it returned.

    The names arrive as plain, interned ``str``: code that compares them with ``is`` (a bug
    CPython warns about, but one that works on interned literals) behaves in the worker as it
    does anywhere else."""
    activations = [sys.intern(str(name)) for name in activations]
    loss = sys.intern(str(loss))
    backward = loaded.get(key)
    if backward is None:  # a replaced worker: load again (inside this call's deadline)
        again = load(key, source)
        if isinstance(again, LoadFailed):
            return Raised(f"could not load it again: {again.text}", "", False, False)
        backward = loaded[key]
    names = (*tuple(n for l in range(1, len(params) + 1) for n in (f"W{l}", f"b{l}")), "X", "Y")
    given = (*(a for pair in params for a in pair), X, Y)
    kept = tuple(np.array(a) for a in given)
    try:
        output = backward(params, X, Y, activations, loss, **keywords)
        plain = read_output(output, len(params))
    except BaseException as error:  # even SystemExit and KeyboardInterrupt: a finding
        frames = traceback.extract_tb(error.__traceback__)
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        memory = isinstance(error, MemoryError)
        return Raised(describe(error), where, isinstance(error, NotImplementedError), memory)
    return Returned(plain, _mutated(names, given, kept))


_crash_log: list[Any] = []  # the open file faulthandler writes to (kept open while we live)


def record_crashes(path: str) -> None:
    """Worker initializer: a fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGABRT, SIGILL) dumps the
    Python stack to ``path`` for the parent to name the crash site (`harness.isolation`), not to
    the terminal."""
    import faulthandler

    log = open(path, "w")  # noqa: SIM115 - must stay open until the process dies
    _crash_log.append(log)
    faulthandler.enable(file=log)


def limit_memory(limit: int | None) -> None:
    """Worker initializer: cap the address space at ``limit`` bytes (None: no cap), and leave
    Ctrl-C to the harness (it stops the worker itself)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if limit is not None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
