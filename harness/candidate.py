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
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from harness.compare import TensorRecord
from harness.errors import HarnessError
from harness.network import Array
from harness.spec import Problem

__all__ = ["Backward", "CallResult", "CandidateError", "call_candidate", "load_candidate"]

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


#: Two calls on the same inputs may differ by this much, relative to the tensor's largest
#: entry, before it counts as nondeterminism (a reordered reduction on another thread count).
NONDETERMINISM: Final = 1e-10


@dataclass(frozen=True)
class CallResult:
    """What calling the candidate gave: its output (None if unusable) and whole-call findings."""

    output: Any
    records: tuple[TensorRecord, ...]


def _copies(problem: Problem) -> tuple[list[tuple[Array, Array]], Array, Array]:
    params = [(np.array(W), np.array(b)) for W, b in problem.params]  # writable copies
    return params, np.array(problem.X), np.array(problem.Y)


def takes_convention_keywords(backward: Any) -> bool:
    """Whether ``backward`` declares ``supports["keywords"] = True``: it takes ``half=``,
    ``reduction=`` and ``l2=`` after the contract's five arguments (`harness.support`)."""
    declared = getattr(backward, "supports", None)
    return isinstance(declared, Mapping) and declared.get("keywords") is True


def contract_arguments(
    backward: Any, problem: Problem, params: Any, X: Any, Y: Any
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The positional and keyword arguments of one call under the plug-in contract: names are
    plain ``str``; the convention's keywords only for a function that declares them."""
    spec = problem.spec
    args = (params, X, Y, [str(a) for a in spec.activations], str(spec.loss.name))
    if not takes_convention_keywords(backward):
        return args, {}
    return args, {"half": spec.loss.half, "reduction": spec.loss.reduction, "l2": spec.l2}


def _run_with_timeout(
    backward: Backward,
    arguments: tuple[tuple[Any, ...], dict[str, Any]],
    timeout: float,
) -> tuple[str, Any]:
    """("ok", output) | ("raised", exception) | ("timeout", None). A hung call is abandoned."""
    box: dict[str, Any] = {}
    args, kwargs = arguments

    def target() -> None:
        try:
            box["output"] = backward(*args, **kwargs)
        except BaseException as error:  # even SystemExit: a candidate's failure is a finding
            box["error"] = error

    thread = threading.Thread(target=target, name="gradcheck-candidate", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return "timeout", None
    if "error" in box:
        return "raised", box["error"]
    return "ok", box.get("output")


def _raised(error: BaseException, problem: Problem) -> TensorRecord:
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    try:
        text = str(error).strip()
    except Exception:  # an exception whose __str__ itself fails
        text = f"<unprintable {type(error).__name__}>"
    message = text.splitlines()[0] if text else ""
    return TensorRecord(
        None, None, "raises",
        f"candidate raised {type(error).__name__}: {message}{where} on {problem!r}",
    )  # fmt: skip


def _mutations(
    problem: Problem, params: list[tuple[Array, Array]], X: Array, Y: Array
) -> TensorRecord | None:
    changed = []
    for l, ((W, b), (W0, b0)) in enumerate(zip(params, problem.params), start=1):
        for name, new, old in ((f"W{l}", W, W0), (f"b{l}", b, b0)):
            if new.shape != old.shape or not np.array_equal(new, old, equal_nan=True):
                changed.append(name)
    for name, new, old in (("X", X, problem.X), ("Y", Y, problem.Y)):
        if new.shape != old.shape or not np.array_equal(new, old, equal_nan=True):
            changed.append(name)
    if not changed:
        return None
    return TensorRecord(
        None, None, "mutates_inputs",
        f"candidate modified its inputs in place: {', '.join(changed)} (the harness passed "
        f"copies; your arrays are intact)",
    )  # fmt: skip


def _differs(first: Any, second: Any) -> str | None:
    """Where two outputs differ beyond float64 noise, or None."""
    try:
        pairs = list(zip(first, second, strict=True))
        for l, (p1, p2) in enumerate(pairs, start=1):
            for name, t1, t2 in zip("Wb", p1, p2, strict=True):
                a1, a2 = np.asarray(t1, dtype=np.float64), np.asarray(t2, dtype=np.float64)
                if a1.shape != a2.shape:
                    return f"layer {l} d{name} has shape {a1.shape} then {a2.shape}"
                with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: nonfinite
                    scale = max(float(np.max(np.abs(a1), initial=0.0)), np.finfo(float).tiny)
                    gap = float(np.max(np.abs(a1 - a2), initial=0.0))
                if not gap <= NONDETERMINISM * scale and not np.array_equal(a1, a2, equal_nan=True):
                    return f"layer {l} d{name} differs by {gap:.1e} (relative {gap / scale:.1e})"
    except (TypeError, ValueError):
        return None  # not comparable: the comparison stage reports the malformed output
    return None


def call_candidate(
    backward: Backward,
    problem: Problem,
    *,
    timeout: float = 30.0,
    repeat: bool = True,
    unsupported_ok: bool = True,
) -> CallResult:
    """Call ``backward`` on copies of ``problem`` (twice when ``repeat``), within ``timeout``.

    Findings: ``raises`` (with the problem that triggered it), ``timeout``, ``mutates_inputs``,
    ``nondeterministic``; a `NotImplementedError` is ``unsupported`` (not a failure) when
    ``unsupported_ok``, i.e. the problem lies outside what the candidate declared it supports.
    """
    records: list[TensorRecord] = []
    outputs = []
    for _ in range(2 if repeat else 1):
        params, X, Y = _copies(problem)
        status, value = _run_with_timeout(
            backward, contract_arguments(backward, problem, params, X, Y), timeout
        )
        if status == "timeout":
            detail = f"candidate did not return within {timeout:g} s on {problem!r}; abandoned"
            return CallResult(None, (TensorRecord(None, None, "timeout", detail),))
        if status == "raised":
            if isinstance(value, NotImplementedError) and unsupported_ok:
                detail = f"candidate does not implement this case: {value}"
                return CallResult(None, (TensorRecord(None, None, "unsupported", detail),))
            return CallResult(None, (_raised(value, problem),))
        mutation = _mutations(problem, params, X, Y)
        if mutation is not None and not records:
            records.append(mutation)
        outputs.append(value)
    if len(outputs) == 2:
        where = _differs(outputs[0], outputs[1])
        if where is not None:
            detail = f"two calls on the same inputs disagree: {where}"
            records.append(TensorRecord(None, None, "nondeterministic", detail))
    return CallResult(outputs[0], tuple(records))
