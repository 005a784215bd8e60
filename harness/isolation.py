"""The harness's side of the plug-in boundary: a worker process per candidate, killed at will.

`ProcessCandidate` keeps one worker process (a loky executor of one process) for a candidate:
the worker loads it, reads what it declares, and calls it once per task; the harness waits at
most the timeout for each call. loky, because it notices *every* death of a worker (an
``os._exit(0)`` included: pebble's pool waits for the task's timeout there), ships closures,
lambdas and functions of modules loaded from a file path with cloudpickle, and starts workers
with fork+exec, so a worker never inherits the harness's threads or locks.

- A call that outlives its deadline: the worker's whole process group gets SIGTERM, then
  SIGKILL after `GRACE` seconds, whatever it holds (the GIL in C code, a non-daemon thread, a
  child it forked), and the next call starts a new worker.
- A worker that dies (a segfault, ``os._exit``, a signal it sent itself, the OOM killer) is a
  `Died` outcome with its exit status or signal name, and is replaced likewise.
- Each worker's address space is capped (`DEFAULT_MEMORY_LIMIT`, ``memory_limit=``): a
  candidate that allocates past it gets a MemoryError inside its worker, not the machine's
  memory.
- `call_fresh` calls the candidate in a new worker that has called nothing before, so a verdict
  that depends on what the worker ran earlier is seen (a campaign re-judges its minimal failing
  case there: the reproduce line, run in a new process, must give the same verdict).

What a worker sends back is a `harness.worker` record of plain values. Security note: the
boundary protects the verdict from a candidate's accidents and from tampering with the
harness's modules or memory; it is not a sandbox. The worker runs with the user's rights (it can
write files) and speaks pickle to the harness, so code written to attack the harness's own
process or machine is out of scope — audit such code in a container.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import signal
import sysconfig
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import Future, wait
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

from harness import worker
from harness.worker import Loaded, LoadFailed, Raised, Returned, Source

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "GRACE",
    "LOAD_TIMEOUT",
    "Died",
    "LoadError",
    "ProcessCandidate",
    "Worker",
    "close_all",
    "parse_memory",
    "process_candidate",
]

#: Address space a worker may map, in bytes (``--memory-limit``). 8 GiB: jax maps ~2 GiB and
#: torch ~0.7 GiB of address space on import; a float64 net of 10^8 parameters fits twice.
DEFAULT_MEMORY_LIMIT: Final = 8 * 2**30
#: Seconds between SIGTERM and SIGKILL when a worker is stopped.
GRACE: Final = 0.5
#: Seconds a worker may take to start and load the candidate (importing torch takes seconds).
LOAD_TIMEOUT: Final = 120.0
#: Workers kept alive for candidates seen earlier in this process (check() called in a loop).
KEPT: Final = 4
#: BLAS and OpenMP pools of the worker: one thread (the harness judges on the other cores).
_WORKER_ENV: Final = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


_UNITS: Final = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_memory(text: str) -> int | None:
    """A memory limit in bytes from ``8G``, ``512M``, ``8GiB``, ``1073741824`` or ``none``
    (None: no limit); `ValueError` names what was wrong."""
    if text.strip().lower() == "none":
        return None
    number, unit = text.strip().upper().rstrip("B").rstrip("I"), ""
    if number and number[-1] in _UNITS:
        number, unit = number[:-1], number[-1]
    try:
        value = int(float(number) * _UNITS[unit])
    except ValueError:
        value = 0
    if value < 2**20:
        raise ValueError(f"{text!r} is not a memory size of at least 1M, e.g. 4G, 512M or none")
    return value


class LoadError(Exception):
    """The candidate could not be loaded in a worker (its message completes "could not load")."""


@dataclass(frozen=True)
class Died:
    """The call ended without a result: ``kind`` "timeout" or "crashed", ``text`` why."""

    kind: str
    text: str


Outcome = Returned | Raised | Died


def _death_text(exitcode: int | None, crash_log: str = "") -> str:
    if exitcode is None:
        return "the worker process ended with an unknown status"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        site = crash_site(crash_log)
        return f"killed by {name}" + (f" (at {site})" if site else "")
    return f"the worker process exited with status {exitcode}"


_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+) in (?P<name>\S+)')
_LIBRARIES = tuple(
    str(Path(p)) for p in {sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib")}
)


def crash_site(dump: str) -> str:
    """``file.py:LINE, in FUNC`` of the candidate's code in a faulthandler dump of the crashed
    thread (most recent call first): its deepest frame outside the standard library and
    site-packages, else the frame that `harness.worker.call` called; "" if none is found."""
    frames = []
    crashing = dump.partition("(most recent call first):")[2].split("\n\n", 1)[0]
    for line in crashing.splitlines():  # the crashing thread is listed first
        match = _FRAME.match(line)
        if match is None:
            continue
        path = match["path"]
        if path.endswith(str(Path("harness", "worker.py"))):
            break
        frames.append(match)
    if not frames:
        return ""
    own = [f for f in frames if not f["path"].startswith(_LIBRARIES)]
    frame = own[0] if own else frames[-1]
    return f"{Path(frame['path']).name}:{frame['line']}, in {frame['name']}"


class Worker:
    """One worker process serving one candidate: started, loaded, called, stopped."""

    def __init__(self, key: str, source: Source, memory_limit: int | None) -> None:
        from loky import ProcessPoolExecutor

        _stop_workers_before_loky_at_exit()
        self.key = key
        self.source = source
        self.loaded: Loaded | None = None
        handle, self._crash_log = tempfile.mkstemp(prefix="gradcheck-worker-", suffix=".crash")
        os.close(handle)
        with _sigint_ignored():  # the processes loky starts here are born deaf to Ctrl-C
            self._executor = ProcessPoolExecutor(
                max_workers=1,
                initializer=_start_worker,
                initargs=(memory_limit, self._crash_log),
                env=dict(_WORKER_ENV),
            )
            self._loading: Future[Any] = self._executor.submit(worker.load, key, source)
        self._process: Any = None
        self._closed = False
        _started.add(self)  # close_all stops it even if whoever started it was interrupted

    def load(self) -> Loaded:
        """Wait for the worker to load the candidate; `LoadError` if it cannot."""
        if self.loaded is not None:
            return self.loaded
        deadline = time.monotonic() + LOAD_TIMEOUT
        with _SigintDeferred() as ctrl_c:  # a worker half started is stopped, then Ctrl-C
            while not self._loading.done() and not ctrl_c.hit and time.monotonic() < deadline:
                wait([self._loading], timeout=0.05)
            if ctrl_c.hit:
                self.close()
        if ctrl_c.hit:
            raise KeyboardInterrupt
        outcome = self._result(self._loading, max(deadline - time.monotonic(), 0.0))
        if isinstance(outcome, Died):
            self.close()
            what = "did not load" if outcome.kind == "timeout" else "died while loading"
            detail = f"within {LOAD_TIMEOUT:g} s" if outcome.kind == "timeout" else outcome.text
            raise LoadError(f"the worker {what} it ({detail})")
        if isinstance(outcome, LoadFailed):
            self.close()
            raise LoadError(outcome.text)
        self.loaded = cast(Loaded, outcome)
        # loky keeps no public handle on its worker; its exit status names a crash.
        self._process = next(iter(getattr(self._executor, "_processes", {}).values()), None)
        return self.loaded

    def call(self, arguments: tuple[Any, ...], timeout: float) -> Outcome:
        """One call of the candidate; the worker is stopped if it times out or dies."""
        if self._closed:
            return Died("crashed", "the worker process was stopped before this call")
        future = self._executor.submit(worker.call, self.key, self.source, *arguments)
        outcome = self._result(future, timeout)
        if isinstance(outcome, Returned | Raised | Died):
            return outcome
        return Died("crashed", f"the worker sent back a {type(outcome).__name__}")

    def _result(self, future: Future[Any], timeout: float) -> Any:
        try:
            return future.result(timeout)
        except FutureTimeout:
            self.close()
            return Died("timeout", f"did not return within {timeout:g} s; its worker was killed")
        except Exception as error:  # loky's TerminatedWorkerError, a broken executor
            exitcode = self._exitcode()
            dump = self._read_crash_log()
            self.close()
            if exitcode is None:
                return Died("crashed", f"the worker process failed: {type(error).__name__}")
            return Died("crashed", _death_text(exitcode, dump))

    def _read_crash_log(self) -> str:
        try:
            with open(self._crash_log, encoding="utf-8", errors="replace") as log:
                return log.read(1 << 16)
        except OSError:
            return ""

    def _exitcode(self) -> int | None:
        if self._process is None:
            return None
        self._process.join(GRACE)
        return self._process.exitcode  # type: ignore[no-any-return]

    @property
    def alive(self) -> bool:
        return not self._closed

    def close(self) -> None:
        """Stop the worker and everything it started: SIGTERM, then SIGKILL, to its group."""
        if self._closed:
            return
        self._closed = True
        _started.discard(self)
        pid = self.loaded.pid if self.loaded is not None else None
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + GRACE
            while time.monotonic() < deadline and _group_alive(pid):
                time.sleep(0.01)
        self._executor.shutdown(wait=True, kill_workers=True)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.unlink(self._crash_log)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while worker processes are started: an ignored signal stays ignored
    through fork and exec (a blocked mask does not survive loky's spawn), so a Ctrl-C sent to
    the whole process group (a terminal's, GNU timeout's) during a worker's interpreter
    start-up cannot print a traceback there; the initializer then ignores it for good
    (`harness.worker.limit_memory`: the harness stops its workers itself). The price: a
    Ctrl-C in the few milliseconds of a spawn is not seen; press it again. Outside the main
    thread (no handler can be set there) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _SigintDeferred:
    """While a worker starts and loads: a Ctrl-C is noted (``hit``), not raised, so it cannot
    cut loky's start-up handshake in two (a worker left waiting for a parent that is gone, a
    traceback from it); `Worker.load` then stops the worker and raises it. Main thread only."""

    def __init__(self) -> None:
        self.hit = False
        self._previous: Any = None

    def _note(self, signum: int, frame: Any) -> None:
        self.hit = True

    def __enter__(self) -> _SigintDeferred:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _start_worker(memory_limit: int | None, crash_log: str) -> None:
    """Initializer of each worker: its own process group (so a stop reaches what it forks),
    Ctrl-C left to the harness, the address-space cap, fatal-signal stacks to ``crash_log``."""
    os.setpgrp()
    worker.record_crashes(crash_log)
    worker.limit_memory(memory_limit)


class ProcessCandidate:
    """A candidate that runs only in worker processes (see the module docstring)."""

    def __init__(self, source: Source, memory_limit: int | None = DEFAULT_MEMORY_LIMIT) -> None:
        self.source = source
        self.memory_limit = memory_limit
        self.key = _key(source, memory_limit)
        self._worker = Worker(self.key, source, memory_limit)
        self._lock = threading.Lock()
        self.loaded = self._worker.load()

    @property
    def name(self) -> str:
        return self.loaded.name

    def call(self, arguments: tuple[Any, ...], timeout: float) -> Outcome:
        with self._lock:
            if not self._worker.alive:  # replaced after a crash or a timeout
                self._worker = Worker(self.key, self.source, self.memory_limit)
                try:
                    self._worker.load()
                except LoadError as error:
                    return Died("crashed", f"a new worker could not load it: {error}")
            return self._worker.call(arguments, timeout)

    def call_fresh(self, arguments: tuple[Any, ...], timeout: float) -> Outcome:
        """Call in a new worker that has called nothing before (then stopped)."""
        fresh = Worker(self.key, self.source, self.memory_limit)
        try:
            fresh.load()
            return fresh.call(arguments, timeout)
        except LoadError as error:
            return Died("crashed", f"a fresh worker could not load it: {error}")
        finally:
            fresh.close()

    def close(self) -> None:
        with self._lock:
            self._worker.close()


def _key(source: Source, memory_limit: int | None) -> str:
    """The same source and limit give the same key (and share a kept worker)."""
    if isinstance(source, worker.Pickled):
        text = source.data
    else:
        text = repr((source.name, source.adapter)).encode()
    return hashlib.sha256(text + repr(memory_limit).encode()).hexdigest()[:16]


_kept: OrderedDict[str, ProcessCandidate] = OrderedDict()
#: Every worker started and not yet stopped (a Ctrl-C may leave one nobody holds).
_started: set[Worker] = set()


def process_candidate(source: Source, memory_limit: int | None) -> ProcessCandidate:
    """The live `ProcessCandidate` of ``source`` (kept for the `KEPT` most recent candidates,
    so calling `harness.check` in a loop starts one worker, not one per call)."""
    key = _key(source, memory_limit)
    kept = _kept.get(key)
    if kept is not None:
        _kept.move_to_end(key)
        return kept
    candidate = ProcessCandidate(source, memory_limit)
    _kept[key] = candidate
    while len(_kept) > KEPT:
        _, old = _kept.popitem(last=False)
        old.close()
    return candidate


@atexit.register
def close_all() -> None:
    """Stop every kept worker: before a report is written (so that nothing the candidate left
    running, an atexit hook or a SIGTERM handler, outlives it), and at exit."""
    while _kept:
        _, candidate = _kept.popitem()
        candidate.close()
    for orphan in list(_started):
        orphan.close()


_registered: list[bool] = []


def _stop_workers_before_loky_at_exit() -> None:
    """At interpreter exit loky's own hook (run by `threading` before `atexit`) waits for its
    workers to end by themselves, which a worker with a non-daemon thread never does: stop
    ours first, with the same private hook loky uses (its callbacks run last-registered first,
    and loky registered its hook when it was imported)."""
    if _registered:
        return
    _registered.append(True)
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        register(close_all)
