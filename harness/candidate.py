"""The plug-in boundary: name a candidate, run it where it cannot hurt the harness, and turn
whatever it does into records.

A candidate is a callable following the plug-in contract
``backward(params, X, Y, activations, loss) -> [(dW1, db1), ...]``, given as a Python object or
named ``PATH.py:FUNC`` / ``module:FUNC``. `as_candidate` makes it a `Candidate`:

- ``isolation="process"`` (the default everywhere): a `harness.isolation.ProcessCandidate`. The
  harness never imports or calls candidate code; a worker process does, and is killed at the
  deadline or replaced after a crash.
- ``isolation="inline"``: the call runs on a thread of the harness's own process (an abandoned
  thread on a timeout). **Unsafe** — the candidate can change the harness's modules and memory,
  crash or hang it — and meant only for stepping through a candidate in a debugger.

Either way the candidate receives copies of the problem's arrays, and its output is read once
where it ran (`harness.plain`). `call_candidate` calls it (twice, and once more in a new worker
when asked) and records ``raises``, ``timeout``, ``crashed``,
``memory``, ``mutates_inputs``, ``nondeterministic`` and ``unsupported``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np

from harness.compare import TensorRecord
from harness.errors import CandidateError, HarnessError
from harness.isolation import DEFAULT_MEMORY_LIMIT, Died, LoadError, Outcome, process_candidate
from harness.plain import Plain, Unusable
from harness.replay import Replay
from harness.spec import Problem
from harness.worker import LoadFailed, Pickled, Raised, Returned, Source, Target
from harness.worker import call as worker_call
from harness.worker import load as worker_load
from harness.worker import loaded as worker_loaded

__all__ = [
    "ISOLATIONS",
    "NONDETERMINISM",
    "Backward",
    "CallResult",
    "Candidate",
    "CandidateError",
    "as_candidate",
    "call_candidate",
    "load_candidate",
]

Backward = Callable[..., Any]
#: Where a candidate runs: a worker process (default), or the harness's own process (unsafe).
ISOLATIONS: Final = ("process", "inline")
#: Two calls on the same inputs may differ by this much, relative to the tensor's largest
#: entry, before it counts as nondeterminism (a reordered reduction on another thread count).
NONDETERMINISM: Final = 1e-10


class Candidate(Protocol):
    """A loaded candidate: its name, what it declares, and a way to call it."""

    name: str
    support: Any  # a harness.Support, or the typed error its ``supports`` raised
    keywords: bool  # it takes half=, reduction=, l2= (supports["keywords"] is True)
    replay: Replay  # how a reproduce line rebuilds it (`harness.replay`)
    isolation: str

    def call(self, arguments: tuple[Any, ...], timeout: float) -> Outcome: ...

    def call_fresh(self, arguments: tuple[Any, ...], timeout: float) -> Outcome | None: ...


class _Process:
    """`Candidate` over a `harness.isolation.ProcessCandidate`."""

    isolation = "process"

    def __init__(self, source: Source, memory_limit: int | None) -> None:
        self._process = process_candidate(source, memory_limit)
        loaded = self._process.loaded
        self.name, self.support, self.keywords = loaded.name, loaded.support, loaded.keywords
        self.replay = loaded.replay

    def call(self, arguments: tuple[Any, ...], timeout: float) -> Outcome:
        return self._process.call(arguments, timeout)

    def call_fresh(self, arguments: tuple[Any, ...], timeout: float) -> Outcome | None:
        return self._process.call_fresh(arguments, timeout)


class _Inline:
    """`Candidate` called on a thread of this process (unsafe: see the module docstring)."""

    isolation = "inline"

    def __init__(self, source: Source, backward: Backward | None = None) -> None:
        self._key = f"inline-{id(self)}"
        self._source = source
        if backward is not None:  # a Python object: nothing to import
            worker_loaded[self._key] = backward
        loaded = worker_load(self._key, source)
        if isinstance(loaded, LoadFailed):
            raise CandidateError(loaded.text)
        self.name, self.support, self.keywords = loaded.name, loaded.support, loaded.keywords
        self.replay = loaded.replay

    def call(self, arguments: tuple[Any, ...], timeout: float) -> Outcome:
        box: list[Outcome] = []

        def target() -> None:
            box.append(worker_call(self._key, self._source, *arguments))

        thread = threading.Thread(target=target, name="gradcheck-candidate", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive() or not box:
            return Died("timeout", f"did not return within {timeout:g} s; abandoned (inline)")
        return box[0]

    def call_fresh(self, arguments: tuple[Any, ...], timeout: float) -> Outcome | None:
        return None  # one process: there is no fresh one


def _pickled(backward: Backward, by_value: tuple[str, ...] = ()) -> Pickled:
    import cloudpickle

    modules = [sys.modules[name] for name in by_value if name in sys.modules]
    for module in modules:
        cloudpickle.register_pickle_by_value(module)
    try:
        return Pickled(cloudpickle.dumps(backward))
    except Exception as error:
        raise CandidateError(
            f"could not ship {backward!r:.80} to a worker process: pickling it raised "
            f"{type(error).__name__}: {error}; isolation='inline' runs it in this process "
            f"(unsafe: see harness.candidate)"
        ) from None
    finally:
        for module in modules:
            cloudpickle.unregister_pickle_by_value(module)


def _missing_module(error: LoadError) -> str | None:
    """The module a worker could not import while unpickling (pickled by reference)."""
    text = str(error)
    marker = "No module named '"
    if "unpickling" not in text or marker not in text:
        return None
    return text.split(marker, 1)[1].split("'", 1)[0]


def _process(backward: Backward, memory_limit: int | None) -> Candidate:
    """Ship a Python callable to a worker; a function of a module the worker cannot import by
    name (a test file, a module loaded from a path) is sent by value instead."""
    by_value: tuple[str, ...] = ()
    for _ in range(4):
        try:
            return _Process(_pickled(backward, by_value), memory_limit)
        except LoadError as error:
            missing = _missing_module(error)
            root = (missing or "").split(".")[0]
            if missing is None or root in by_value:
                raise CandidateError(
                    f"could not load {backward!r:.80} in a worker: {error}"
                ) from None
            by_value += tuple(n for n in sys.modules if n == root or n.startswith(f"{root}."))
            by_value = tuple(dict.fromkeys((*by_value, root)))  # once each: unregistered once
    raise CandidateError(f"could not load {backward!r:.80} in a worker")


def _check_isolation(isolation: str) -> str:
    if not isinstance(isolation, str) or isolation not in ISOLATIONS:
        raise HarnessError(
            f"isolation must be 'process' (a worker process, the default) or 'inline' (this "
            f"process: unsafe, for a debugger), got {isolation!r}"
        )
    return isolation


def as_candidate(
    backward: Backward | Candidate | str,
    isolation: str = "process",
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
) -> Candidate:
    """``backward`` as a loaded `Candidate` (one already loaded is returned as it is; a string
    is a target, ``PATH.py:FUNC`` or ``module:FUNC``, loaded by `load_candidate`)."""
    if isinstance(backward, (_Process, _Inline)):
        return backward
    if isinstance(backward, str):
        return load_candidate(backward, isolation=isolation, memory_limit=memory_limit)
    if not callable(backward):
        raise HarnessError(f"backward must be callable, got {type(backward).__name__}")
    if _check_isolation(isolation) == "inline":
        return _Inline(Pickled(b""), backward)
    return _process(backward, memory_limit)


def load_candidate(
    target: str,
    *,
    isolation: str = "process",
    adapter: Callable[[Backward], Backward] | None = None,
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
) -> Candidate:
    """The candidate named ``PATH.py:FUNC`` or ``module:FUNC`` (FUNC may be ``Class.method``,
    the class built with no arguments, ``obj.method``, or ``make()``, what a factory returns),
    loaded in a worker (or inline), wrapped by ``adapter`` there; `CandidateError` "could not
    load ..." with the cause."""
    from pathlib import Path

    if ":" not in target:
        raise CandidateError(
            f"candidate {target!r} must be PATH.py:FUNC or module:FUNC, "
            f"e.g. my_mlp.py:backward or reference:backward"
        )
    location, _, name = target.rpartition(":")
    if not location or not all(part.removesuffix("()").isidentifier() for part in name.split(".")):
        raise CandidateError(
            f"candidate {target!r}: {name!r} is not a function name (FUNC, Class.method, "
            f"obj.method or make(), a factory called with no arguments)"
        )
    if location.endswith(".py"):
        path = Path(location).resolve()
        if not path.is_file():
            raise CandidateError(f"candidate file {location!r} does not exist")
        location = str(path)
    source = Target(f"{location}:{name}", adapter)
    try:
        if _check_isolation(isolation) == "inline":
            return _Inline(source)
        return _Process(source, memory_limit)
    except (LoadError, CandidateError) as error:
        raise CandidateError(f"could not load {target}: {error}") from None


# --- one checked call ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CallResult:
    """What calling the candidate gave: its output (None if unusable) and whole-call findings."""

    output: Plain | None
    records: tuple[TensorRecord, ...]


def contract_arguments(
    candidate: Candidate, problem: Problem, dtype: type[np.floating[Any]] = np.float64
) -> tuple[Any, ...]:
    """The arguments of one call under the plug-in contract, as copies: params, X, Y (arrays of
    ``dtype``, the candidate's declared precision), the activation names and the loss name as
    plain ``str``, and the convention's keywords only for a candidate that declares them."""
    spec = problem.spec
    params = [(np.array(W, dtype=dtype), np.array(b, dtype=dtype)) for W, b in problem.params]
    keywords: dict[str, Any] = {}
    if candidate.keywords:
        keywords = {"half": spec.loss.half, "reduction": spec.loss.reduction, "l2": spec.l2}
    activations = [str(a) for a in spec.activations]
    return (
        params,
        np.array(problem.X, dtype=dtype),
        np.array(problem.Y, dtype=dtype),
        activations,
        str(spec.loss.name),
        keywords,
    )


def _failure(outcome: Died | Raised, problem: Problem, unsupported_ok: bool) -> TensorRecord:
    if isinstance(outcome, Died):
        status = outcome.kind
        detail = f"candidate {outcome.text} on {problem!r}"
        if status == "crashed":
            detail = f"candidate crashed: {outcome.text} on {problem!r}"
        return TensorRecord(None, None, status, detail)
    if outcome.not_implemented and unsupported_ok:
        return TensorRecord(None, None, "unsupported",
                            f"candidate does not implement this case: {outcome.text}")  # fmt: skip
    where = f" (at {outcome.where})" if outcome.where else ""
    status = "memory" if outcome.memory else "raises"
    return TensorRecord(None, None, status,
                        f"candidate raised {outcome.text}{where} on {problem!r}")  # fmt: skip


def _differs(first: Plain, second: Plain) -> str | None:
    """Where two outputs differ beyond float64 noise, or None."""
    if isinstance(first, Unusable) or isinstance(second, Unusable):
        if first == second:
            return None
        texts = [o.text if isinstance(o, Unusable) else "a list of pairs" for o in (first, second)]
        return f"it returned {texts[0]}, then {texts[1]}"
    if len(first) != len(second):
        return f"{len(first)} then {len(second)} layers"
    for l, (p1, p2) in enumerate(zip(first, second), start=1):
        for name, a1, a2 in zip("Wb", p1, p2):
            if not (isinstance(a1, np.ndarray) and isinstance(a2, np.ndarray)):
                if a1 != a2:
                    return f"layer {l} d{name} is {a1!r} then {a2!r}"
                continue
            if a1.shape != a2.shape:
                return f"layer {l} d{name} has shape {a1.shape} then {a2.shape}"
            with np.errstate(all="ignore"):  # inf - inf: nonfinite
                b1, b2 = a1.astype(np.complex128), a2.astype(np.complex128)
                scale = max(float(np.max(np.abs(b1), initial=0.0)), np.finfo(float).tiny)
                gap = float(np.max(np.abs(b1 - b2), initial=0.0))
            if not gap <= NONDETERMINISM * scale and not np.array_equal(a1, a2, equal_nan=True):
                return f"layer {l} d{name} differs by {gap:.1e} (relative {gap / scale:.1e})"
    return None


def call_candidate(
    candidate: Candidate,
    problem: Problem,
    *,
    timeout: float = 30.0,
    repeat: bool = True,
    unsupported_ok: bool = True,
    fresh: bool = False,
    dtype: type[np.floating[Any]] = np.float64,
) -> CallResult:
    """Call ``candidate`` on copies of ``problem`` as ``dtype`` arrays (twice when ``repeat``;
    once more in a new worker when ``fresh``), each call within ``timeout``.

    Findings: ``raises``, ``memory``, ``timeout``, ``crashed`` (with the problem that triggered
    it), ``mutates_inputs``, ``nondeterministic``; a `NotImplementedError` is ``unsupported``
    (not a failure) when ``unsupported_ok``, i.e. the problem lies outside what the candidate
    declared it supports.
    """
    records: list[TensorRecord] = []
    outputs: list[Plain] = []
    for _ in range(2 if repeat else 1):
        outcome = candidate.call(contract_arguments(candidate, problem, dtype), timeout)
        if not isinstance(outcome, Returned):
            record = _failure(outcome, problem, unsupported_ok)
            if outputs:  # the first call returned: the two calls disagree
                text = f"the first call returned, the second did not: {record.detail}"
                records.append(TensorRecord(None, None, "nondeterministic", text))
                break
            return CallResult(None, (record,))
        if outcome.mutated and not records:
            records.append(TensorRecord(
                None, None, "mutates_inputs",
                f"candidate modified its inputs in place: {', '.join(outcome.mutated)} (the "
                f"harness passed copies; your arrays are intact)",
            ))  # fmt: skip
        outputs.append(outcome.output)
    if len(outputs) == 2:
        where = _differs(outputs[0], outputs[1])
        if where is not None:
            detail = f"two calls on the same inputs disagree: {where}"
            records.append(TensorRecord(None, None, "nondeterministic", detail))
    if fresh:
        again = candidate.call_fresh(contract_arguments(candidate, problem, dtype), timeout)
        if again is not None:
            records.extend(_fresh_record(outputs[0], again, problem, unsupported_ok))
    return CallResult(outputs[0], tuple(records))


def _fresh_record(
    first: Plain, fresh: Outcome, problem: Problem, unsupported_ok: bool
) -> list[TensorRecord]:
    if isinstance(fresh, Returned):
        where = _differs(first, fresh.output)
        if where is None:
            return []
        text = f"a new worker and the campaign's worker disagree on the same inputs: {where}"
    else:
        failure = _failure(fresh, problem, unsupported_ok)
        text = f"in a fresh worker the call did not return: {failure.detail}"
    return [TensorRecord(None, None, "nondeterministic", text)]
