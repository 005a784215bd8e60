"""Call ``harness.check`` and ``harness.audit`` on a candidate loaded from its file with
importlib, as a user's script would, and write what the caller saw as JSON.

    python tests/hostile/api_driver.py CANDIDATE.py RESULT.json

Run in a subprocess by test_hostile.py: a candidate that escapes the harness's isolation can
then only take this process down, never pytest. Recorded: the verdicts (``check_passed``,
``audit_passed``) and the statuses of their first case, which of the caller's problem arrays
changed or became writable (``changed_arrays``, ``writable_arrays``), and which of the caller's
module attributes a candidate likes to patch are no longer what they were (``tampered``).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

#: (module, attribute path) pairs a tampering candidate replaces.
WATCHED = (
    ("numpy", "abs"),
    ("json", "dumps"),
    ("json", "dump"),
    ("harness.campaign", "compare"),
    ("harness.compare", "compare"),
    ("harness.tolerance", "candidate_bound"),
    ("harness.sources.closed_form", "gradients"),
    ("harness.sources.symbolic", "gradients"),
    ("harness.sources.finite_diff", "estimate"),
    ("harness.case", "CaseResult.passed"),
    ("harness.auditing", "CheckReport.passed"),
    ("harness.auditing", "AuditReport.passed"),
    ("harness.cli", "EXIT_FAILED"),
)
_MISSING = object()


def _lookup(module_name: str, path: str) -> Any:
    """The object at ``module.path`` (a class attribute as stored: a property itself)."""
    try:
        value: Any = importlib.import_module(module_name)
    except Exception:
        return _MISSING
    for part in path.split("."):
        if isinstance(value, type):
            value = inspect.getattr_static(value, part, _MISSING)
        else:
            value = getattr(value, part, _MISSING)
        if value is _MISSING:
            return _MISSING
    return value


def _arrays(problem: Any) -> dict[str, np.ndarray]:
    arrays = {"X": problem.X, "Y": problem.Y}
    for l, (W, b) in enumerate(problem.params, start=1):
        arrays[f"W{l}"], arrays[f"b{l}"] = W, b
    return arrays


def _statuses(case: Any) -> list[str]:
    return [str(record.status) for record in getattr(case, "records", ())]


def main(candidate: str, out: str) -> None:
    import harness
    from harness import NetworkSpec, Problem

    result: dict[str, Any] = {}
    watched = {(m, p): _lookup(m, p) for m, p in WATCHED}
    spec = importlib.util.spec_from_file_location(f"hostile_{Path(candidate).stem}", candidate)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    backward = module.backward

    problem = Problem.random(NetworkSpec((2, 3, 1), ("tanh", "sigmoid"), "mse"), 4, 1)
    before = {name: np.array(a, copy=True) for name, a in _arrays(problem).items()}
    try:
        report = harness.check(backward, problem, timeout=3)
        result["check_passed"] = bool(report.passed)
        result["check_statuses"] = _statuses(report.case)
        campaign = harness.audit(backward, examples=5, timeout=3)
        result["audit_passed"] = bool(campaign.passed)
        result["audit_statuses"] = _statuses(campaign.minimal) if campaign.minimal else []
    except BaseException as error:  # what the caller would have seen
        result["error"] = f"{type(error).__name__}: {error}\n{traceback.format_exc()[-1500:]}"
    after = _arrays(problem)
    result["changed_arrays"] = [
        name for name, old in before.items() if not np.array_equal(old, after[name])
    ]
    result["writable_arrays"] = [name for name, a in after.items() if a.flags.writeable]
    result["tampered"] = [
        f"{m}.{p}" for (m, p), value in watched.items() if _lookup(m, p) is not value
    ]
    Path(out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
