"""The hostile-candidate suite of issue 14: broken or hostile plug-ins, one per table row.

Every row runs ``python -m harness.cli audit candidates/<name>.py:backward`` in a subprocess of
its own session (so that whatever it leaves behind can be found and killed) with stdout and
stderr going to files (a grandchild holding a pipe cannot hang the test), under a hard time
limit, and asserts, all at once so that a failing row lists everything wrong with it:

- the exit status (0 passed, 1 findings, 2 could not load / nothing was checked);
- for exit 1, the finding: a status of ``summary.json``'s ``cases[0].records`` among the row's
  kinds (and a substring of its detail where the row names one);
- an honest report on disk for exit 0 and 1 (``summary.json`` exists, ``passed`` false for every
  wrong candidate, true and ``judged`` >= 1 for the controls); for exit 2 the message
  ("could not load", "nothing was checked") and no report claiming a pass;
- no "Traceback" in stdout or stderr;
- a run that ended within the row's budget (a hang detector: 90 s, campaigns 120 s);
- no process left behind: nothing in the run's session, and no process the candidate recorded
  (``$HOSTILE_PID_DIR``) still alive a few seconds after the CLI exited;
- for candidates that tamper with files: nothing outside tmp_path changed (this directory).

A few rows go through the Python API instead (`api_driver.py`, in a subprocess too, so a
candidate that escapes cannot take pytest with it): ``harness.check`` and ``harness.audit`` on
a function loaded from its file with importlib; the caller's arrays and the caller's modules
must be unchanged and the verdict not a pass. The table and the counts per class are in
README.md; ``python tests/hostile/probe.py NAME`` runs a candidate outside the harness.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
CANDIDATES = HERE / "candidates"
ONE_PROBLEM = (
    "--sizes", "2,3,1", "--activations", "tanh,sigmoid", "--loss", "mse", "--problem-seed", "1",
)  # fmt: skip
FAST_PROBLEM = (
    "--sizes", "8,8,1", "--activations", "tanh,sigmoid", "--loss", "mse", "--problem-seed", "1",
)  # fmt: skip
#: Every subprocess is killed (its whole session) after this many seconds.
HARD_LIMIT = 180.0
#: A hang detector, not a speed claim: a run that ends is judged by what it did; one that takes
#: this long has hung. (Issue 14's "under 30 s each" was measured, not asserted: on a loaded CI
#: machine a correct 5-example campaign took 32 s.)
BUDGET = 90.0
#: After the CLI exits, how long its workers and the candidate's children may take to go.
GRACE = 10.0

CRASH = frozenset({"crashed"})
WRONG = frozenset({"mismatch"})
SIGNALLED = frozenset({"crashed", "raises", "mismatch"})
LYING = frozenset({"mismatch", "dtype", "count", "shape", "nondeterministic"})


@dataclass(frozen=True)
class Row:
    """One hostile candidate and the verdict the harness must give it."""

    name: str
    group: str
    exit: int
    kinds: frozenset[str] = frozenset()  # exit 1: cases[0].records must show one of these
    problem: tuple[str, ...] | None = ONE_PROBLEM  # None: a campaign of --examples N
    examples: int = 5
    extra: tuple[str, ...] = ()
    budget: float = BUDGET
    detail: str | None = None  # a record of one of `kinds` has this in its detail
    message: str | None = None  # exit 2: stdout + stderr contain this
    touches_files: bool = False
    relative_report_dir: bool = False
    reproduce_has: str | None = None  # cases[0].reproduce contains this


def _load(name: str) -> Row:
    return Row(name, "loading", 2, message="could not load")


def _campaign(name: str, exit: int, kinds: frozenset[str], examples: int = 5) -> Row:
    return Row(name, "campaign", exit, kinds, problem=None, examples=examples, budget=120.0)


ROWS = [
    # --- tampering with the judging process: inside a worker it changes nothing -------------
    Row("tamper_campaign_compare", "tampering", 1, WRONG, problem=None),
    Row("tamper_compare_module", "tampering", 1, WRONG),
    Row("tamper_tolerance", "tampering", 1, WRONG),
    Row("tamper_sources", "tampering", 1, WRONG),
    Row("tamper_numpy_abs", "tampering", 1, WRONG),
    Row("tamper_frames_rewrite_y", "tampering", 1, frozenset({"mismatch", "mutates_inputs"})),
    Row("tamper_atexit_summary", "tampering", 1, WRONG, touches_files=True),
    Row("tamper_exit_codes", "tampering", 1, WRONG),
    Row("tamper_case_passed", "tampering", 1, WRONG),
    Row("tamper_json_dumps", "tampering", 1, WRONG, touches_files=True),
    Row("tamper_mutates_inputs", "tampering", 1, frozenset({"mutates_inputs"})),
    # --- outputs that change (or lie) after return: judged by what was read at return ------
    Row("out_own_buffers", "outputs", 1, frozenset({"nondeterministic", "mismatch"}), problem=None),
    Row("out_pair_lies", "outputs", 1, LYING),
    Row("out_thread_fixes_later", "outputs", 1, frozenset({"mismatch", "nondeterministic"})),
    Row("out_lazy_generator", "outputs", 1, frozenset({"mismatch", "count", "dtype"})),
    Row("out_lazy_first_read_wrong", "outputs", 1, LYING),
    # --- process-level: deaths, signals, hangs and hogs become findings -----------------------
    Row("proc_os_exit_0", "process", 1, CRASH, problem=None),
    Row("proc_os_exit_3", "process", 1, CRASH),
    Row("proc_segfault", "process", 1, CRASH, problem=None, detail="SIGSEGV"),
    Row("proc_sigterm", "process", 1, SIGNALLED),
    Row("proc_sigint", "process", 1, SIGNALLED),
    Row("proc_sigalrm", "process", 1, SIGNALLED),
    Row("proc_stack_overflow", "process", 1, CRASH),
    Row("proc_numpy_ones_huge", "process", 1, frozenset({"memory"})),
    Row("proc_bytearray_50gib", "process", 1, frozenset({"memory"})),
    Row("proc_address_space_hog", "process", 1, frozenset({"memory", "crashed", "mismatch"})),
    Row("proc_regex_backtrack", "process", 1, frozenset({"timeout"})),
    Row("proc_gil_c_sleep", "process", 1, frozenset({"timeout"}), problem=None),
    Row("proc_close_stdout_stderr", "process", 0),
    Row("proc_non_daemon_thread", "process", 0),
    Row("proc_fork_sleeper", "process", 0),
    # --- loading: never exit 0, never the candidate's own status, never a traceback -----------
    _load("load_syntax_error"),
    _load("load_raises_at_import"),
    _load("load_sys_exit_0"),
    _load("load_os_exit_7"),
    _load("load_keyboard_interrupt"),
    _load("load_base_exception"),
    _load("load_segfault_at_import"),
    _load("load_not_callable"),
    _load("load_missing_func"),
    # --- campaign bookkeeping: nothing judged is never a pass; flakiness is a finding --------
    # NotImplementedError inside the declared support (here the default one) is a refusal of a
    # case it claims: a "raises" finding (exit 1). Outside a declared support it is "unsupported"
    # and a campaign of nothing but those is "nothing was checked" (the next row).
    Row(
        "camp_notimpl_everything",
        "campaign",
        1,
        frozenset({"raises"}),
        problem=None,
        detail="NotImplementedError",
    ),
    Row("camp_support_excludes_all", "campaign", 2, problem=None, message="nothing was checked"),
    _campaign("camp_one_time_raise", 1, frozenset({"raises", "nondeterministic"})),
    _campaign("camp_slow_first_call", 1, frozenset({"timeout", "nondeterministic"})),
    _campaign("camp_slow_then_tamper", 1, frozenset({"timeout", "mismatch", "nondeterministic"})),
    _campaign("camp_race_30pct", 1, frozenset({"nondeterministic", "mismatch"}), examples=20),
    # --- fast mode: its direction is not public ------------------------------------------------
    Row(
        "fast_cancels_seed0",
        "fast mode",
        1,
        WRONG,
        problem=FAST_PROBLEM,
        extra=("--fast",),
        reproduce_has="--fast-seed",
    ),
    # --- controls: correct (or plainly wrong) code with odd habits -----------------------------
    Row("baseline_wrong", "controls", 1, WRONG),
    Row("control_own_math", "controls", 0, problem=None),
    Row("control_thread_join", "controls", 0),
    Row("control_prints_a_lot", "controls", 0),
    Row("control_global_state", "controls", 0),
    Row("control_chdir", "controls", 0, relative_report_dir=True),
]


# --------------------------------------------------------------------------------------------
# running a command in its own session and finding what it left behind


@dataclass
class Outcome:
    rc: int | None  # None: killed at the hard limit
    stdout: str
    stderr: str
    seconds: float
    leftovers: list[str]

    def tail(self) -> str:
        return (
            f"rc={self.rc} after {self.seconds:.1f} s\n--- stdout (tail) ---\n"
            f"{self.stdout[-2500:]}\n--- stderr (tail) ---\n{self.stderr[-2500:]}"
        )


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, session id, start time in ticks) of a live process, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[3]), int(fields[19])


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return "?"


def _suspects(session: int, started: int, pid_dir: Path) -> set[int]:
    """Live processes of the run's session, and live processes the candidate recorded that
    started after the run did (a recorded pid cannot have been reused by then)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[1] == session and stat[0] not in ("Z", "X"):
                found.add(int(entry.name))
    for mark in pid_dir.iterdir() if pid_dir.is_dir() else ():
        pid = int(mark.name)
        stat = _stat(pid)
        if stat is not None and stat[0] not in ("Z", "X") and stat[2] >= started:
            found.add(pid)
    found.discard(os.getpid())
    return found


def run(argv: list[str], cwd: Path, pid_dir: Path, hard: float = HARD_LIMIT) -> Outcome:
    pid_dir.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.update(
        HOSTILE_PID_DIR=str(pid_dir), PYTHONDONTWRITEBYTECODE="1", COLUMNS="160", NO_COLOR="1"
    )
    out_path, err_path = cwd / ".stdout.txt", cwd / ".stderr.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.monotonic()
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            start_new_session=True,
        )  # fmt: skip
        stat = _stat(proc.pid)
        started = stat[2] if stat else 0
        try:
            rc: int | None = proc.wait(timeout=hard)
        except subprocess.TimeoutExpired:
            rc = None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        seconds = time.monotonic() - start
    deadline = time.monotonic() + GRACE
    left = _suspects(proc.pid, started, pid_dir)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = _suspects(proc.pid, started, pid_dir)
    leftovers = []
    for pid in sorted(left):
        leftovers.append(f"{pid}: {_cmdline(pid)}")
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return Outcome(
        rc,
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
        seconds,
        leftovers,
    )


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def _summary(report_dir: Path) -> dict | None:
    path = report_dir / "latest" / "summary.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def _common(row_budget: float, outcome: Outcome) -> list[str]:
    problems = []
    if outcome.rc is None:
        problems.append(f"did not end within the hard limit of {HARD_LIMIT:g} s (killed)")
    elif outcome.seconds > row_budget:
        problems.append(f"took {outcome.seconds:.1f} s, over its budget of {row_budget:g} s")
    for stream, text in (("stdout", outcome.stdout), ("stderr", outcome.stderr)):
        if "Traceback" in text:
            problems.append(f"a traceback on {stream}")
    if outcome.leftovers:
        problems.append(
            f"left processes behind {GRACE:g} s after exiting (killed now): {outcome.leftovers}"
        )
    return problems


# --------------------------------------------------------------------------------------------
# the CLI rows


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_hostile_candidate(row: Row, tmp_path: Path) -> None:
    path = CANDIDATES / f"{row.name}.py"
    assert path.is_file(), path
    report_dir = tmp_path / "reports"
    argv = [
        sys.executable, "-m", "harness.cli", "audit", f"{path}:backward",
        "--examples", str(row.examples), "--timeout", "3",
        "--report-dir", "reports" if row.relative_report_dir else str(report_dir),
        *(row.problem or ()), *row.extra,
    ]  # fmt: skip
    before = _tree(HERE) if row.touches_files else None
    outcome = run(argv, tmp_path, tmp_path / "pids")
    problems = _common(row.budget, outcome)
    if outcome.rc != row.exit:
        problems.append(f"exit status {outcome.rc}, expected {row.exit}")
    summary = _summary(report_dir)
    both = outcome.stdout + outcome.stderr
    if row.exit in (0, 1):
        if summary is None:
            problems.append(f"no report: {report_dir}/latest/summary.json does not exist")
        elif row.exit == 0:
            if summary.get("passed") is not True:
                problems.append(f"a correct candidate's report says passed={summary.get('passed')}")
            judged = summary.get("judged")
            if not isinstance(judged, int) or judged < 1:
                problems.append(f"summary.json 'judged' is {judged!r}, expected an int >= 1")
        else:
            problems += _finding_problems(row, summary)
    else:
        if row.message and row.message not in both:
            problems.append(f"{row.message!r} is not in the output")
        if summary is not None and summary.get("passed") is not False:
            problems.append(f"exit {row.exit} but a report says passed={summary.get('passed')}")
    if before is not None and _tree(HERE) != before:
        problems.append(f"files outside tmp_path changed under {HERE}")
    assert not problems, "\n".join(problems) + "\n" + outcome.tail()


def _finding_problems(row: Row, summary: dict) -> list[str]:
    problems = []
    if summary.get("passed") is not False:
        problems.append(f"a wrong candidate's report says passed={summary.get('passed')!r}")
    cases = summary.get("cases") or []
    records = cases[0].get("records", []) if cases else []
    statuses = {r.get("status") for r in records}
    matching = [r for r in records if r.get("status") in row.kinds]
    if not matching:
        problems.append(
            f"cases[0] statuses are {sorted(map(str, statuses))}, expected one of "
            f"{sorted(row.kinds)}"
        )
    elif row.detail and not any(row.detail in str(r.get("detail")) for r in matching):
        problems.append(f"no {sorted(row.kinds)} record mentions {row.detail!r}: {matching}")
    if row.reproduce_has:
        reproduce = str(cases[0].get("reproduce")) if cases else ""
        if row.reproduce_has not in reproduce:
            problems.append(f"the reproduce line {reproduce!r} lacks {row.reproduce_has!r}")
    return problems


# --------------------------------------------------------------------------------------------
# reproduce lines are shell-quoted and replay literally


def test_reproduce_line_runs_nothing_else(tmp_path: Path) -> None:
    evil = tmp_path / "evil $(touch PWNED1) `touch PWNED2`; touch PWNED3 'q"
    evil.mkdir()
    candidate = evil / "cand.py"
    shutil.copy(CANDIDATES / "baseline_wrong.py", candidate)
    argv = [
        sys.executable, "-m", "harness.cli", "audit", f"{candidate}:backward",
        "--examples", "5", "--timeout", "3", "--report-dir", str(tmp_path / "reports"),
        *ONE_PROBLEM,
    ]  # fmt: skip
    outcome = run(argv, tmp_path, tmp_path / "pids")
    problems = _common(BUDGET, outcome)
    if outcome.rc != 1:
        problems.append(f"exit status {outcome.rc}, expected 1")
    summary = _summary(tmp_path / "reports")
    cases = (summary or {}).get("cases") or [{}]
    line = cases[0].get("reproduce")
    if not line:
        problems.append("no reproduce line in summary.json cases[0]")
    else:
        replay_dir = tmp_path / "replay"
        replay_dir.mkdir()
        bin_dir = str(Path(sys.executable).parent)
        replay = run(
            ["bash", "-c", f'PATH="{bin_dir}:$PATH"; {line}'], replay_dir, tmp_path / "pids"
        )
        if replay.rc != 1:
            problems.append(f"the pasted reproduce line exited {replay.rc}, expected 1")
        problems += [f"replay: {p}" for p in _common(BUDGET, replay)]
    pwned = sorted(str(p) for p in tmp_path.rglob("PWNED*"))
    if pwned:
        problems.append(f"pasting the reproduce line ran a command: {pwned}")
    assert not problems, "\n".join(problems) + f"\nreproduce: {line!r}\n" + outcome.tail()


# --------------------------------------------------------------------------------------------
# the Python API: the caller's arrays and modules are untouched, the verdict is not a pass


@dataclass(frozen=True)
class ApiRow:
    name: str
    passes: bool
    kinds: frozenset[str] = frozenset()  # the check's statuses must include one of these


API_ROWS = [
    ApiRow("tamper_campaign_compare", False, WRONG),
    ApiRow("tamper_frames_rewrite_y", False, frozenset({"mismatch", "mutates_inputs"})),
    ApiRow("tamper_mutates_inputs", False, frozenset({"mutates_inputs"})),
    ApiRow("tamper_numpy_abs", False, WRONG),
    ApiRow("out_own_buffers", False, frozenset({"nondeterministic", "mismatch"})),
    ApiRow("proc_os_exit_0", False, CRASH),
    ApiRow("control_own_math", True),
]


@pytest.mark.parametrize("row", API_ROWS, ids=[f"api-{row.name}" for row in API_ROWS])
def test_python_api(row: ApiRow, tmp_path: Path) -> None:
    result_path = tmp_path / "result.json"
    argv = [
        sys.executable, str(HERE / "api_driver.py"), str(CANDIDATES / f"{row.name}.py"),
        str(result_path),
    ]  # fmt: skip
    outcome = run(argv, tmp_path, tmp_path / "pids")
    problems = _common(BUDGET + 15.0, outcome)  # a check and a 5-example audit
    if outcome.rc != 0:
        problems.append(f"the calling process exited {outcome.rc}, expected 0")
    result = json.loads(result_path.read_text()) if result_path.is_file() else None
    if result is None:
        problems.append("the calling process wrote no result (it died?)")
    else:
        if result.get("error"):
            problems.append(f"the API raised: {result['error']}")
        if result.get("changed_arrays"):
            problems.append(f"the caller's arrays changed: {result['changed_arrays']}")
        if result.get("writable_arrays"):
            problems.append(f"the caller's arrays became writable: {result['writable_arrays']}")
        if result.get("tampered"):
            problems.append(f"the caller's modules were changed: {result['tampered']}")
        for what in ("check", "audit"):
            if result.get(f"{what}_passed") is not row.passes:
                problems.append(
                    f"{what} passed={result.get(f'{what}_passed')!r}, expected {row.passes}"
                )
        statuses = set(result.get("check_statuses") or ())
        if row.kinds and not statuses & row.kinds:
            expected = sorted(row.kinds)
            problems.append(f"check statuses {sorted(statuses)}, expected one of {expected}")
    assert not problems, "\n".join(problems) + f"\nresult: {result}\n" + outcome.tail()
