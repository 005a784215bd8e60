"""Run one competitor in a child process that is killed when a run outlives the time box.

The child (`tests.bench.competitors`) reports after its imports and after each run (the warm-up
included); the box applies to each run (imports get `IMPORT_ALLOWANCE` on top, outside the box).
On a kill the runs that finished are kept; with none, the method is "> box" on that arch.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
IMPORT_ALLOWANCE = 120.0  # seconds for the child's imports (torch, jax) before the first run


def run_boxed(method: str, arch: str, box: float, runs: int, threads: int | None) -> dict[str, Any]:
    """``{"status": "ok" | "over-box" | "failed", "samples": [...], "median": s, "error": ...}``."""
    command = [sys.executable, "-m", "tests.bench.competitors", method, arch, "--runs", str(runs)]
    if threads:
        command += ["--threads", str(threads)]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the kill reaches any grandchild too
    )
    assert proc.stdout is not None
    result: dict[str, Any] = {"status": "failed", "samples": [], "box_s": box}
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + IMPORT_ALLOWANCE + box
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(timeout=remaining):
                result["status"] = "over-box"
                break
            line = proc.stdout.readline()
            if not line:  # the child exited
                break
            event = json.loads(line)
            kind = event.pop("event")
            if kind == "ready":
                result["import_s"] = event["import_s"]
            elif kind == "warmup":
                result["warmup_s"] = event["seconds"]
                result["outcome"] = event["outcome"]
            elif kind == "run":
                result["samples"].append(event["seconds"])
                result["outcome"] = event["outcome"]
            elif kind == "result":
                result.update(event, status="ok")
            deadline = time.monotonic() + box
    finally:
        selector.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
    if result["samples"] and result["status"] == "over-box":
        result["status"] = "partial"  # some runs finished before a later one outlived the box
    if result["status"] == "failed":
        result["stderr"] = stderr[-2000:]
    result["median"] = statistics.median(result["samples"]) if result["samples"] else None
    return result
