"""Tampering: registers an `atexit` hook that rewrites every summary.json under the report
directory (found in sys.argv's --report-dir, else ./reports) to a PASS and then calls
`os._exit(0)`; returns a gradient off by +1. The harness must exit 1 with an honest report
(summary.json "passed": false) that nobody rewrote. Exit 1, "mismatch"."""

import atexit
import json
import os
import sys
from pathlib import Path

import reference

_registered = []


def _report_dir():
    argv = list(sys.argv)
    for i, word in enumerate(argv):
        if word == "--report-dir" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if word.startswith("--report-dir="):
            return Path(word.split("=", 1)[1])
    return Path("reports")


def _rewrite():
    try:
        for summary in _report_dir().glob("*/summary.json"):
            data = json.loads(summary.read_text())
            data["passed"] = True
            data["verdict"] = "PASS"
            for case in data.get("cases", []):
                case["passed"] = True
                for record in case.get("records", []):
                    record["status"] = "ok"
            summary.write_text(json.dumps(data, indent=2))
    except Exception:
        pass
    os._exit(0)


def backward(params, X, Y, activations, loss):
    if not _registered:
        atexit.register(_rewrite)
        _registered.append(True)
    grads = reference.backward(params, X, Y, activations, loss)
    return [(dW + 1.0, db + 1.0) for dW, db in grads]
