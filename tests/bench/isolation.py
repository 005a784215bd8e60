"""What the worker process costs (issue 14): per call, and on a whole campaign.

- **Per call**: the median seconds of one call of ``reference.backward`` through the boundary,
  ``Candidate.call`` (arguments copied in, the output read into plain arrays, the result
  returned), in a worker process and inline (a thread of this process); the overhead is the
  difference. Calls alternate between the two so that both see the same machine.
- **Campaign throughput**: ``gradcheck-harness verify`` with the default profile's architecture
  distribution for ``examples`` examples, ``--isolation process`` against ``--isolation
  inline``, each run in a fresh subprocess (the worker's start-up and imports are included),
  alternating, median examples per second.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import reference
from harness.candidate import as_candidate, contract_arguments
from tests.bench.problems import ARCHS, problem_of

ROOT = Path(__file__).resolve().parents[2]
#: Goals of issue 14.
GOAL_PER_CALL_S = 2e-3
GOAL_THROUGHPUT = 0.8


def per_call(arch: str, calls: int) -> dict[str, Any]:
    """Median seconds per call through the boundary, process and inline (alternating)."""
    problem = problem_of(arch)
    boundary = {name: as_candidate(reference.backward, name) for name in ("process", "inline")}
    arguments = {
        name: contract_arguments(candidate, problem) for name, candidate in boundary.items()
    }
    times: dict[str, list[float]] = {name: [] for name in boundary}
    for name, candidate in boundary.items():  # warm-up: the worker's first call, BLAS
        for _ in range(3):
            candidate.call(arguments[name], 60.0)
    for i in range(calls):
        order = list(boundary) if i % 2 == 0 else list(reversed(boundary))
        for name in order:
            start = time.perf_counter()
            boundary[name].call(arguments[name], 60.0)
            times[name].append(time.perf_counter() - start)
    process, inline = (statistics.median(times[n]) for n in ("process", "inline"))
    return {
        "arch": arch,
        "sizes": list(ARCHS[arch][0]),
        "m": ARCHS[arch][1],
        "calls": calls,
        "process_s": process,
        "inline_s": inline,
        "overhead_s": process - inline,
    }


def _verify_seconds(isolation: str, examples: int) -> float:
    with tempfile.TemporaryDirectory() as reports:
        argv = [
            sys.executable, "-m", "harness.cli", "verify", "--profile", "default",
            "--examples", str(examples), "--seed", "0", "--isolation", isolation,
            "--report-dir", reports,
        ]  # fmt: skip
        start = time.perf_counter()
        proc = subprocess.run(
            argv,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=3600,
        )
        seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(
            f"verify --isolation {isolation} exited {proc.returncode}: {proc.stdout}"
        )
    return seconds


def throughput(examples: int, rounds: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Examples per second of ``verify --profile default --examples N``, process vs inline."""
    seconds: dict[str, list[float]] = {"process": [], "inline": []}
    for i in range(rounds):
        order = ["inline", "process"] if i % 2 == 0 else ["process", "inline"]
        for isolation in order:
            seconds[isolation].append(_verify_seconds(isolation, examples))
            log(f"  verify {examples} examples, {isolation}: {seconds[isolation][-1]:.1f} s")
    rate = {name: examples / statistics.median(values) for name, values in seconds.items()}
    return {
        "examples": examples,
        "rounds": rounds,
        "seconds": seconds,
        "process_per_s": rate["process"],
        "inline_per_s": rate["inline"],
        "ratio": rate["process"] / rate["inline"],
    }


def measure(
    archs: list[str], calls: int, examples: int, rounds: int, log: Callable[[str], None]
) -> dict[str, Any]:
    rows = []
    for arch in archs:
        log(f"isolation: per-call overhead on {arch} ({calls} calls each way) ...")
        rows.append(per_call(arch, calls))
    log(f"isolation: verify --profile default, {examples} examples, {rounds} rounds each way ...")
    return {"per_call": rows, "throughput": throughput(examples, rounds, log)}


def lines(section: dict[str, Any]) -> list[str]:
    """The bench.md section."""
    out = [
        "| arch | sizes, m | inline call | process call | overhead per call | goal |",
        "|---|---|---|---|---|---|",
    ]
    for row in section["per_call"]:
        goal = f"≤ {GOAL_PER_CALL_S * 1e3:g} ms" if row["arch"] == "A" else ""
        out.append(
            f"| {row['arch']} | {tuple(row['sizes'])}, {row['m']} | {row['inline_s'] * 1e3:.3f} ms "
            f"| {row['process_s'] * 1e3:.3f} ms | {row['overhead_s'] * 1e3:.3f} ms | {goal} |"
        )
    t = section["throughput"]
    out += [
        "",
        f"`verify --profile default --examples {t['examples']}` (the reference, a fresh process "
        f"each run, median of {t['rounds']}): {t['inline_per_s']:.1f} examples/s inline, "
        f"{t['process_per_s']:.1f} examples/s in a worker process: **{t['ratio']:.0%}** of inline "
        f"(goal ≥ {GOAL_THROUGHPUT:.0%}).",
        "",
        "Per call: `Candidate.call` of `reference.backward` (copies in, output read into plain "
        "arrays in the worker, pickled back), median over alternating calls after a warm-up. "
        "Throughput includes the worker's start-up and its imports.",
    ]
    return out
