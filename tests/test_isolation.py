"""The plug-in boundary through the Python API (issue 14): what crosses it, and what a candidate
can do on the other side. The hostile suite (tests/hostile) drives the same boundary through the
command line with ~60 broken or hostile candidates; these are the quick, in-process checks."""

from __future__ import annotations

import ctypes
import os
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import harness.campaign
import reference
from harness import (
    CandidateError,
    HarnessError,
    NetworkSpec,
    NothingCheckedError,
    Problem,
    audit,
    check,
)
from harness.isolation import parse_memory
from harness.plain import Foreign, Unusable, read_output
from harness.report import ReportDirError, check_report_dir

SPEC = NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "mse")
PROBLEM = Problem.random(SPEC, 5, seed=1)


def _statuses(report: Any) -> set[str]:
    return {r.status for r in report.case.records}


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state in ("Z", "X")


def _wait_gone(pids: list[int], seconds: float = 20.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not all(map(_pid_gone, pids)):
        time.sleep(0.05)
    return [pid for pid in pids if not _pid_gone(pid)]


# --- harness.plain: the output is read once, into copies ------------------------------------


class LyingPair(Sequence[Any]):
    """Iterates the right arrays; indexing and len say something else."""

    def __init__(self, dW: np.ndarray, db: np.ndarray) -> None:
        self.items = (dW, db)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __getitem__(self, i: Any) -> Any:
        return np.zeros(3)

    def __len__(self) -> int:
        return 7


def test_read_output_iterates_each_container_once_and_copies_its_arrays() -> None:
    dW, db = np.ones((2, 3)), np.arange(2.0)
    plain = read_output([LyingPair(dW, db)], depth=1)
    assert not isinstance(plain, Unusable)
    ((got_W, got_b),) = plain
    dW[:] = 5.0  # the candidate overwrites its buffers after returning
    assert isinstance(got_W, np.ndarray) and np.array_equal(got_W, np.ones((2, 3)))
    assert isinstance(got_b, np.ndarray) and np.array_equal(got_b, np.arange(2.0))
    assert got_b.dtype == np.float64 and got_W.flags.c_contiguous


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.ma.masked_array(np.ones((2, 2))), Foreign("MaskedArray")),
        (np.array([None, 1.0]), Foreign("ndarray of dtype object")),
        ([1.0, 2.0], Foreign("list")),
    ],
)
def test_what_is_not_a_plain_numeric_array_crosses_as_its_type_name(
    value: Any, expected: Foreign
) -> None:
    plain = read_output([(value, np.zeros(1))], depth=1)
    assert not isinstance(plain, Unusable)
    assert plain[0][0] == expected


class Exploding(Sequence[Any]):
    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("no")

    def __getitem__(self, i: Any) -> Any:
        raise IndexError(i)

    def __len__(self) -> int:
        return 1


@pytest.mark.parametrize(
    ("output", "fragment"),
    [
        ((p for p in [(np.zeros(1), np.zeros(1))]), "returned generator, expected a list of 1"),
        (Exploding(), "output could not be read: RuntimeError: no"),
        ([(np.zeros(1), np.zeros(1), np.zeros(1))], "layer 1: expected a pair (dW1, db1), got 3"),
        ([], "returned 0 layer(s) of gradients, expected 1"),
    ],
)
def test_an_output_that_is_not_a_list_of_pairs_is_unusable_with_the_reason(
    output: Any, fragment: str
) -> None:
    plain = read_output(output, depth=1)
    assert isinstance(plain, Unusable) and fragment in plain.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("8G", 8 * 2**30), ("512M", 512 * 2**20), ("8GiB", 8 * 2**30), ("none", None),
     ("1.5G", int(1.5 * 2**30)), (str(2**30), 2**30)],
)  # fmt: skip
def test_parse_memory(text: str, expected: int | None) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["lots", "", "0", "100K", "-1G"])
def test_parse_memory_refuses_what_is_not_a_size_of_at_least_1m(text: str) -> None:
    with pytest.raises(ValueError, match="is not a memory size of at least 1M"):
        parse_memory(text)


# --- what a candidate does in its worker stays there -----------------------------------------


def test_tampering_mutation_and_pid_stay_in_the_worker(tmp_path: Path) -> None:
    problem = Problem.random(SPEC, 5, seed=1)
    before = [np.array(a) for a in (problem.X, problem.Y, *(t for p in problem.params for t in p))]
    compare = harness.campaign.compare
    pid_file = tmp_path / "pid"

    def tampering(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
        import harness.campaign as campaign

        Path(pid_file).write_text(str(os.getpid()))
        campaign.compare = lambda *a, **k: None  # in the worker, if at all
        grads = reference.backward(params, X, Y, activations, loss)
        X[:] = 0.0  # the candidate's own copy
        return [(dW + 1.0, db) for dW, db in grads]

    report = check(tampering, problem)
    assert not report.passed
    assert {"mismatch", "mutates_inputs"} <= _statuses(report)
    assert harness.campaign.compare is compare
    assert int(pid_file.read_text()) != os.getpid()
    after = [problem.X, problem.Y, *(t for p in problem.params for t in p)]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    # inline, the same candidate runs in this process (unsafe, for a debugger)
    inline = check(reference.backward, problem, isolation="inline")
    assert inline.passed


def test_inline_isolation_calls_the_candidate_in_this_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"

    def records_its_pid(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
        Path(pid_file).write_text(str(os.getpid()))
        return reference.backward(params, X, Y, activations, loss)

    assert check(records_its_pid, PROBLEM, isolation="inline").passed
    assert int(pid_file.read_text()) == os.getpid()
    assert check(records_its_pid, PROBLEM).passed
    assert int(pid_file.read_text()) != os.getpid()
    with pytest.raises(HarnessError, match="isolation must be 'process'"):
        check(records_its_pid, PROBLEM, isolation="thread")


def test_a_crash_is_a_finding_and_the_next_call_gets_a_new_worker(tmp_path: Path) -> None:
    marker = tmp_path / "crashed-once"

    def segfaults_once(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
        if not Path(marker).exists():
            Path(marker).touch()
            ctypes.string_at(0)  # SIGSEGV
        return reference.backward(params, X, Y, activations, loss)

    crashed = check(segfaults_once, PROBLEM)
    assert not crashed.passed and _statuses(crashed) == {"crashed"}
    # where it crashed, from the worker's faulthandler dump: the candidate's own frame
    assert "killed by SIGSEGV (at test_isolation.py:" in crashed.case.records[0].detail
    assert ", in segfaults_once)" in crashed.case.records[0].detail
    assert check(segfaults_once, PROBLEM).passed  # a new worker, same candidate


def test_a_timeout_kills_the_worker_and_what_it_started(tmp_path: Path) -> None:
    def hangs_with_a_child(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
        import subprocess

        child = subprocess.Popen(["sleep", "120"])
        Path(tmp_path, "pids").write_text(f"{os.getpid()} {child.pid}")
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])  # only SIGKILL ends it
        time.sleep(120)
        return reference.backward(params, X, Y, activations, loss)

    report = check(hangs_with_a_child, PROBLEM, timeout=1.0)
    assert _statuses(report) == {"timeout"}
    assert "did not return within 1 s; its worker was killed" in report.case.records[0].detail
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert _wait_gone(pids) == []


def test_an_address_space_hog_is_a_memory_finding() -> None:
    def hog(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
        np.ones(2**32)  # 32 GiB
        return reference.backward(params, X, Y, activations, loss)

    report = check(hog, PROBLEM, memory_limit=2**31)
    assert _statuses(report) == {"memory"}
    assert "MemoryError" in report.case.records[0].detail


def test_system_exit_and_keyboard_interrupt_are_raises_findings() -> None:
    def exits(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
        raise SystemExit(0)

    def interrupts(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
        raise KeyboardInterrupt

    for backward, name in ((exits, "SystemExit"), (interrupts, "KeyboardInterrupt")):
        report = check(backward, PROBLEM)
        assert _statuses(report) == {"raises"}
        assert name in report.case.records[0].detail
        assert "(at test_isolation.py:" in report.case.records[0].detail  # not <dynamic-code>


# --- campaigns: nothing judged is never a pass; flakiness is a finding ------------------------


def test_a_campaign_that_judged_nothing_raises_and_says_why() -> None:
    def bce_only(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
        if loss != "bce":
            raise NotImplementedError(f"bce only, not {loss}")
        return reference.backward(params, X, Y, activations, loss)

    spec = NetworkSpec((3, 2), ("tanh",), "mse")
    with pytest.raises(NothingCheckedError, match="nothing was checked") as raised:
        audit(bce_only, spec=spec, supports={"losses": ["bce"]}, examples=5)
    assert "bce only, not mse" in str(raised.value)


def test_a_one_time_raise_is_a_finding_with_a_report_not_a_flaky_error(tmp_path: Path) -> None:
    marker = tmp_path / "raised-once"

    def raises_once(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
        if not Path(marker).exists():
            Path(marker).touch()
            raise RuntimeError("cold cache")
        return reference.backward(params, X, Y, activations, loss)

    report = audit(raises_once, examples=10, seed=3)
    assert not report.passed and report.minimal is not None
    statuses = {r.status for r in report.minimal.records}
    assert statuses & {"raises", "nondeterministic"}, statuses
    assert 1 <= report.judged <= report.examples


def test_first_call_wrong_per_worker_is_found(tmp_path: Path) -> None:
    def wrong_on_its_first_call(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
        import builtins

        first = not hasattr(builtins, "_gradcheck_test_called")
        builtins._gradcheck_test_called = True  # type: ignore[attr-defined]
        grads = reference.backward(params, X, Y, activations, loss)
        return [(dW * 0.0, db) for dW, db in grads] if first else grads

    report = audit(wrong_on_its_first_call, examples=5, seed=1)
    assert not report.passed and report.minimal is not None
    assert "nondeterministic" in {r.status for r in report.minimal.records}


# --- fast mode's seed, reproduce lines, the report directory ---------------------------------


def test_fast_mode_seed_comes_from_the_os_and_replays() -> None:
    seeds = {check(reference.backward, PROBLEM, mode="fast").fast.seed for _ in range(3)}  # type: ignore[union-attr]
    assert len(seeds) == 3  # 32 random bits each: equal with probability ~1e-9
    fixed = check(reference.backward, PROBLEM, mode="fast", fast_seed=5)
    assert fixed.fast is not None and fixed.fast.seed == 5


def test_check_report_dir_names_each_problem_before_a_campaign(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(ReportDirError, match="is a file, not a directory"):
        check_report_dir(a_file / "reports")
    (tmp_path / "r" / "latest").mkdir(parents=True)
    with pytest.raises(ReportDirError, match="is a real directory"):
        check_report_dir(tmp_path / "r")
    (tmp_path / "broken").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ReportDirError, match="broken symlink"):
        check_report_dir(tmp_path / "broken")
    check_report_dir(tmp_path / "new" / "reports")  # not there yet: created when written


def test_an_unloadable_callable_is_a_candidate_error() -> None:
    import threading

    lock = threading.Lock()

    def holds_a_lock(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
        with lock:
            return reference.backward(params, X, Y, activations, loss)

    with pytest.raises(CandidateError, match=r"could not ship .* isolation='inline'"):
        check(holds_a_lock, PROBLEM)
    assert check(holds_a_lock, PROBLEM, isolation="inline").passed
