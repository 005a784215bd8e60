"""Crash-safe reports: SIGKILL a report-writing process at random moments, 100 times, and never
find a truncated or invalid file under a final name; and concurrent runs writing into the same
``reports/`` never clobber each other.

Speed: importing the harness costs about a second, so the kill test does not start a fresh
interpreter per trial. One long-lived *zygote* subprocess imports everything and unpickles the
`Run` once; per trial it forks a writer that calls `write_report` in a loop into the shared root,
and the test SIGKILLs that writer after a seeded random delay of 0 to `SPREAD` write times (the
zygote measures one write first), so the kills land in every phase: rendering, between mkdir and
the first rename, mid-file, between renames, and between the last rename and the swap of
``latest``. After each kill every run directory under the root is checked.

Completeness criteria (the Run is deterministic, so the strongest is byte equality with a
rendering made in this process; the structural checks below are what make that rendering valid):

- summary.json parses as JSON (no NaN/Infinity constants) with every top-level key;
- summary.md starts with its headline (``# FAIL: …``), ends with exactly one newline (report.py
  rstrips and appends one), and its last line is the last line of the last section report.py
  writes: the bullet of the last sampled passing case (ending with its reproduce line in
  backticks) when there are passing cases, else the last row of the last case's status table;
- report.html starts with ``<!DOCTYPE html>`` and ends with ``</body></html>\\n``.

Final files must also be regular files with mode 0644 (mkstemp makes 0600; report.py chmods the
temporary before the rename). Temporaries may be left behind by a kill, but only under their
temporary names (``.summary.json.XXXX.tmp`` in a run directory, ``.latest.PID.HEX.tmp`` in the
root). ``latest`` is absent or a relative symlink to a complete run directory.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import re
import select
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest
from numpy.typing import NDArray

import reference
from harness.case import CaseResult
from harness.compare import compare, evaluate_sources
from harness.headline import headline
from harness.report import Run, summary_json, summary_markdown, write_report
from harness.report_html import render_html
from harness.spec import NetworkSpec, Problem
from harness.taylor import taylor_check

REPO = Path(__file__).resolve().parents[1]
FILES = ("summary.json", "summary.md", "report.html")
JSON_KEYS = {
    "schema_version", "versions", "candidate", "seed", "profile", "examples", "judged", "passed",
    "verdict", "headline", "robustness", "origin", "precision", "strict", "warned", "warnings",
    "command", "cases", "coverage", "interrupted",
}  # fmt: skip
RUN_DIR = re.compile(r"\d{8}T\d{6}\.\d{3}Z-[0-9a-f]+")
FILE_TMP = re.compile(r"\.(summary\.json|summary\.md|report\.html)\.[A-Za-z0-9_]+\.tmp")
LATEST_TMP = re.compile(r"\.latest\.\d+\.[0-9a-f]{8}\.tmp")
TRIALS = 100
#: Kills go on past TRIALS until LANDED of them caught a write mid-way (how many do within 100
#: depends on the machine's load: fork, pipes and the scheduler), at most MAX_TRIALS.
LANDED, MAX_TRIALS = 10, 1000
SPREAD = 3.0  # kill after uniform(0, SPREAD) write times
SEED = 20240507
# No BLAS thread pools in the zygote: it forks.
QUIET_ENV = {
    **os.environ,
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0",
}

PIPES: dict[str, Any] = {
    "stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True, "cwd": REPO,
    "env": QUIET_ENV,
}  # fmt: skip

Array = NDArray[np.float64]
Grads = list[tuple[Array, Array]]


def _case(spec: NetworkSpec, seed: int, bug: Callable[[Grads], None] | None) -> CaseResult:
    problem = Problem.random(spec, 4, seed=seed)
    grads = [
        (dW.copy(), db.copy())
        for dW, db in reference.backward(
            problem.params, problem.X, problem.Y, problem.spec.activations, problem.spec.loss
        )
    ]
    if bug is not None:
        bug(grads)
    records = compare(problem, grads, evaluate_sources(problem))
    return CaseResult(problem, records, taylor_check(problem, grads), "tests/meta/x.py:backward")


def _transpose_layer_2_dW(grads: Grads) -> None:
    dW, db = grads[1]
    grads[1] = (dW.T.reshape(dW.shape).copy(), db)


def _perturb_layer_1_dW_entry(grads: Grads) -> None:
    grads[0][0][2, 1] += 1e-6


@pytest.fixture(scope="module")
def run() -> Run:
    spec = NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "mse")
    cases = (
        _case(spec, 1, _transpose_layer_2_dW),
        _case(spec, 2, _perturb_layer_1_dW_entry),
        _case(spec, 3, None),
    )
    command = "gradcheck-harness verify --candidate tests/meta/x.py:backward --seed 7"
    return Run("tests/meta/x.py:backward", 7, "default", 200, cases, False, command)


@pytest.fixture(scope="module")
def pickled(run: Run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("run") / "run.pickle"
    path.write_bytes(pickle.dumps(run))
    return path


# --- what a complete file is ---------------------------------------------------------------------


def _expected(run: Run) -> dict[str, bytes]:
    """The three files of ``run``, rendered here, each checked against the criteria above."""
    texts = {
        "summary.json": summary_json(run),
        "summary.md": summary_markdown(run),
        "report.html": render_html(run),
    }
    for name, text in texts.items():
        _check_complete(name, text.encode("utf-8"), run)
    return {name: text.encode("utf-8") for name, text in texts.items()}


def _check_complete(name: str, data: bytes, run: Run) -> None:
    text = data.decode("utf-8")  # a cut inside a multi-byte character fails here
    if name == "summary.json":

        def no_constants(constant: str) -> None:
            raise AssertionError(f"non-JSON constant {constant}")

        summary = json.loads(text, parse_constant=no_constants)
        assert isinstance(summary, dict) and set(summary) == JSON_KEYS, sorted(summary)
        assert len(summary["cases"]) == len(run.cases) and summary["seed"] == run.seed
    elif name == "summary.md":
        assert text.startswith(f"# {headline(run)}\n")
        assert text.endswith("\n") and not text.endswith("\n\n")
        last = text.splitlines()[-1]
        if any(case.passed for case in run.cases):
            assert "\n## Sampled passing cases\n" in text
            final = [case for case in run.cases if case.passed][-1]
            assert last.startswith("- ") and last.endswith(f"; `{final.reproduce}`"), last
        else:
            assert last.startswith("| ") and last.endswith(" |"), last
    else:
        assert text.startswith("<!DOCTYPE html>\n<html")
        assert text.endswith("</body></html>\n")


@dataclass
class RootState:
    """What one look at a report root found."""

    complete: set[str] = field(default_factory=set)
    incomplete: set[str] = field(default_factory=set)  # some final files missing
    temporaries: set[str] = field(default_factory=set)  # paths relative to the root
    latest: str | None = None


def _check_root(
    root: Path,
    expected_for: Callable[[str], dict[str, bytes]],
    run_for: Callable[[str], Run],
    seen: dict[Path, tuple[int, int, int]],
) -> RootState:
    """Check every run directory under ``root``; raise AssertionError on anything not allowed.

    ``seen`` caches (inode, size, mtime) of final files already found complete, so that an
    unchanged file is not read again (a changed one is: that is a clobber, and fails).
    """
    state = RootState()
    for entry in sorted(root.iterdir()):
        if entry.name == "latest":
            continue
        if LATEST_TMP.fullmatch(entry.name):
            assert entry.is_symlink(), entry
            state.temporaries.add(entry.name)
            continue
        assert RUN_DIR.fullmatch(entry.name), f"unexpected entry in the report root: {entry}"
        assert entry.is_dir() and not entry.is_symlink(), entry
        present = set()
        for item in entry.iterdir():
            if FILE_TMP.fullmatch(item.name):
                state.temporaries.add(f"{entry.name}/{item.name}")
                continue
            assert item.name in FILES, f"unexpected file {item}"
            info = item.lstat()
            assert stat.S_ISREG(info.st_mode), f"{item} is not a regular file"
            assert stat.S_IMODE(info.st_mode) == 0o644, f"{item}: mode {info.st_mode:o}"
            present.add(item.name)
            key = (info.st_ino, info.st_size, info.st_mtime_ns)
            if seen.get(item) == key:
                continue
            data = item.read_bytes()
            try:
                _check_complete(item.name, data, run_for(entry.name))
            except (AssertionError, ValueError) as error:
                raise AssertionError(
                    f"{item} ({len(data)} bytes) is not complete: {error}"
                ) from None
            assert data == expected_for(entry.name)[item.name], f"{item} differs from the run"
            seen[item] = key
        (state.complete if present == set(FILES) else state.incomplete).add(entry.name)
    latest = root / "latest"
    if os.path.lexists(latest):
        assert latest.is_symlink(), "latest is not a symlink"
        target = os.readlink(latest)
        assert "/" not in target, f"latest -> {target} is not a sibling name"
        assert target in state.complete, f"latest -> {target}, not a complete run directory"
        state.latest = target
    return state


# --- the kill test -------------------------------------------------------------------------------

ZYGOTE = r"""
import os, pickle, signal, sys, time
from harness.report import write_report

run = pickle.loads(open(sys.argv[1], "rb").read())
times = []
for _ in range(15):
    start = time.perf_counter()
    write_report(run, sys.argv[2])
    times.append(time.perf_counter() - start)
times.sort()
print("ready", times[len(times) // 2], flush=True)
for line in sys.stdin:
    command, _, argument = line.strip().partition(" ")
    if command == "go":
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                for _ in range(100_000):
                    write_report(run, argument)
            except BaseException:
                code = 3
            os._exit(code)
        print("pid", pid, flush=True)
    elif command == "reap":
        print("status", os.waitpid(int(argument), 0)[1], flush=True)
"""


def _readline(stream: IO[str], timeout: float = 30.0) -> list[str]:
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, "the zygote did not answer"
    line = stream.readline()
    assert line, "the zygote died"
    return line.split()


def test_sigkill_at_random_moments_never_leaves_a_partial_file_under_a_final_name(
    run: Run, pickled: Path, tmp_path: Path
) -> None:
    expected = _expected(run)
    script = tmp_path / "zygote.py"
    script.write_text(ZYGOTE, encoding="utf-8")
    root = tmp_path / "reports"
    started = time.perf_counter()
    zygote = subprocess.Popen(
        [sys.executable, str(script), str(pickled), str(tmp_path / "calibration")],
        **PIPES,
    )
    assert zygote.stdin is not None and zygote.stdout is not None
    rng = random.Random(SEED)
    seen: dict[Path, tuple[int, int, int]] = {}
    mid_write = {"incomplete dir": 0, "temporary left": 0, "latest lagging": 0}
    landed = 0
    writer = 0  # the pid of a forked writer not yet killed, if any
    try:
        word, per_write = _readline(zygote.stdout, timeout=120)
        assert word == "ready"
        write_time = float(per_write)
        before = RootState()
        trial = 0
        while trial < TRIALS or (landed < LANDED and trial < MAX_TRIALS):
            trial += 1
            delay = rng.uniform(0.0, SPREAD * write_time)
            zygote.stdin.write(f"go {root}\n")
            zygote.stdin.flush()
            word, pid = _readline(zygote.stdout)
            assert word == "pid"
            writer = int(pid)
            time.sleep(delay)
            os.kill(writer, signal.SIGKILL)
            writer = 0
            zygote.stdin.write(f"reap {pid}\n")
            zygote.stdin.flush()
            word, status = _readline(zygote.stdout)
            assert os.WIFSIGNALED(int(status)) and os.WTERMSIG(int(status)) == signal.SIGKILL, (
                f"trial {trial}: the writer ended on its own (status {status}), not by the kill"
            )
            if not root.exists():
                continue  # killed before the first mkdir
            state = _check_root(root, lambda _: expected, lambda _: run, seen)
            new_incomplete = state.incomplete - before.incomplete
            new_temporaries = state.temporaries - before.temporaries
            newest = max(state.complete, default=None)
            lagging = newest is not None and state.latest != newest
            mid_write["incomplete dir"] += bool(new_incomplete)
            mid_write["temporary left"] += bool(new_temporaries)
            mid_write["latest lagging"] += lagging and newest not in before.complete
            landed += bool(new_incomplete or new_temporaries) or (
                lagging and newest not in before.complete
            )
            before = state
    finally:
        if writer:
            os.kill(writer, signal.SIGKILL)
        zygote.stdin.close()
        zygote.wait(timeout=30)
    # A clean write into the battered root still works and moves latest.
    fresh = write_report(run, root)
    state = _check_root(root, lambda _: expected, lambda _: run, seen)
    assert state.latest == fresh.name
    elapsed = time.perf_counter() - started
    print(
        f"\n{trial} kills in {elapsed:.2f}s (one write: {write_time * 1e3:.2f} ms, delays up to "
        f"{SPREAD * write_time * 1e3:.1f} ms); {landed} landed mid-write {mid_write}; "
        f"{len(state.complete)} complete and {len(state.incomplete)} incomplete run dirs, "
        f"{len(state.temporaries)} temporaries left"
    )
    # The delays are spread over whole writes; if so few of up to MAX_TRIALS kills caught a write
    # between its mkdir and its swap of latest, the test is not testing what it says.
    assert landed >= LANDED, f"only {landed} of {trial} kills landed mid-write"


# --- concurrent writers --------------------------------------------------------------------------

WRITER = r"""
import dataclasses, pickle, secrets, sys
from datetime import datetime, timezone
import harness.report as report

run = pickle.loads(open(sys.argv[1], "rb").read())
writer, count, root, clash = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"
names = 0
if clash:
    # Force name clashes: one frozen timestamp and 256 possible suffixes, so os.mkdir's
    # exclusivity (and the retry on FileExistsError) is all that keeps the runs apart.
    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2024, 1, 1, tzinfo=timezone.utc)

    class FewNames:
        @staticmethod
        def token_hex(n):
            global names
            if n == 3:
                names += 1
                return secrets.token_hex(1)
            return secrets.token_hex(n)

    report.datetime = Frozen
    report.secrets = FewNames
print("ready", flush=True)
sys.stdin.readline()
for i in range(count):
    run_dir = report.write_report(dataclasses.replace(run, seed=writer * 1000 + i), root)
    print("wrote", run_dir.name, writer * 1000 + i, flush=True)
print("names", names, flush=True)
"""

WRITERS = 4
WRITES = 50


@pytest.mark.parametrize("clash", [False, True], ids=["real-names", "forced-name-clashes"])
def test_concurrent_runs_into_one_root_never_clobber_each_other(
    run: Run, pickled: Path, tmp_path: Path, clash: bool
) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    root = tmp_path / "reports"
    started = time.perf_counter()
    flag = "1" if clash else "0"
    writers = []
    for w in range(WRITERS):
        arguments = [str(script), str(pickled), str(w), str(WRITES), str(root), flag]
        writers.append(
            subprocess.Popen(
                [sys.executable, *arguments],
                **PIPES,
            )
        )
    outputs: list[str] = []
    try:
        for writer in writers:
            assert writer.stdout is not None
            assert _readline(writer.stdout, timeout=120) == ["ready"]
        # Nothing but "ready" is buffered: a writer prints nothing more until it reads "go", so
        # communicate() below (which reads the raw pipe) loses no line.
        for writer in writers:  # all imported: release them together
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
        for writer in writers:
            out, _ = writer.communicate(timeout=120)
            assert writer.returncode == 0
            outputs.append(out)
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
    seed_of: dict[str, int] = {}
    names = 0
    for out in outputs:
        for line in out.splitlines():
            word, *rest = line.split()
            if word == "wrote":
                assert rest[0] not in seed_of, f"two writes returned the same dir {rest[0]}"
                seed_of[rest[0]] = int(rest[1])
            elif word == "names":
                names += int(rest[0])
    assert len(seed_of) == WRITERS * WRITES

    rendered: dict[int, dict[str, bytes]] = {}

    def expected_for(name: str) -> dict[str, bytes]:
        seed = seed_of[name]
        if seed not in rendered:
            rendered[seed] = _expected(replace(run, seed=seed))
        return rendered[seed]

    state = _check_root(root, expected_for, lambda name: replace(run, seed=seed_of[name]), {})
    assert state.complete == set(seed_of), "the run dirs on disk are not the ones written"
    assert not state.incomplete and not state.temporaries
    assert state.latest in seed_of
    elapsed = time.perf_counter() - started
    retries = names - WRITERS * WRITES
    print(
        f"\n{WRITERS} writers x {WRITES} writes in {elapsed:.2f}s: {len(state.complete)} distinct "
        f"complete run dirs" + (f", {retries} name clashes retried" if clash else "")
    )
    if clash:
        assert retries > 0, "no name clash happened: the test forced nothing"
