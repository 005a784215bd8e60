"""Sum the per-worker counts of a soak run (one JSON file per pytest-xdist worker).

    python tests/soak/summarize.py [RUN_DIR ...]

With no argument: the newest run under ``$GRADCHECK_SOAK_OUT`` (default ``reports/soak``).
Several RUN_DIRs (e.g. one per machine, copied together) are summed into one campaign.
Exit 0 when there is no false alarm and no harness fault, 1 otherwise, 2 when nothing was found.
The pytest controller (tests/soak/conftest.py) runs the same code at the end of a soak session.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

WORKER_GLOB = "worker-*.json"


def _add(total: dict[str, int], part: dict[str, int]) -> None:
    for key, value in part.items():
        total[key] = total.get(key, 0) + int(value)


def summarize(run_dirs: list[Path]) -> dict[str, Any]:
    """One summary of every worker file in ``run_dirs``."""
    files = sorted(f for run in run_dirs for f in run.glob(WORKER_GLOB))
    summary: dict[str, Any] = {
        "runs": [str(r) for r in run_dirs],
        "workers": len(files),
        "shards": 0,
        "examples": 0,
        "false_alarms": 0,
        "harness_faults": 0,
        "undecidable_entries": 0,
        "undecidable_examples": 0,
        "entries_checked": 0,
        "worker_seconds": 0.0,
        "wall_seconds": 0.0,
        "seeds": [],
        "failures": [],
        "histograms": {},
    }
    histograms: dict[str, Counter[str]] = {}
    for f in files:
        data = json.loads(f.read_text())
        summary["seeds"] = sorted({*summary["seeds"], data["campaign_seed"]})
        summary["wall_seconds"] = max(summary["wall_seconds"], float(data["wall_seconds"]))
        for shard in data["shards"].values():
            summary["shards"] += 1
            for key in (
                "examples",
                "false_alarms",
                "harness_faults",
                "undecidable_entries",
                "undecidable_examples",
                "entries_checked",
            ):
                summary[key] += int(shard[key])
            summary["worker_seconds"] += float(shard["seconds"])
            summary["failures"].extend(shard["failures"])
        for name, counts in data["histograms"].items():
            histograms.setdefault(name, Counter()).update(counts)
    summary["histograms"] = {
        name: dict(sorted(c.items(), key=lambda kv: _sort_key(kv[0])))
        for name, c in histograms.items()
    }
    summary["passed"] = summary["false_alarms"] == 0 and summary["harness_faults"] == 0
    return summary


def _sort_key(key: str) -> tuple[int, float, str]:
    try:
        return (0, float(key), "")
    except ValueError:
        return (1, 0.0, key)


def render(summary: dict[str, Any]) -> str:
    """The lines a person reads at the end of a soak."""
    rate = summary["examples"] / summary["wall_seconds"] if summary["wall_seconds"] else 0.0
    verdict = "PASS" if summary["passed"] else "FAIL"
    if summary.get("pytest_exitstatus"):
        verdict += f" (pytest exit status {summary['pytest_exitstatus']})"
    lines = [
        f"gradcheck soak of reference.backward: {verdict}",
        f"  examples            {summary['examples']} ({summary['shards']} shards, "
        f"{summary['workers']} worker(s), seed(s) {', '.join(map(str, summary['seeds']))})",
        f"  false alarms        {summary['false_alarms']}",
        f"  harness faults      {summary['harness_faults']}",
        f"  undecidable entries {summary['undecidable_entries']} "
        f"(in {summary['undecidable_examples']} examples; ReLU-type kinks, never a mismatch)",
        f"  entries checked     {summary['entries_checked']}",
        f"  time                {summary['wall_seconds']:.0f} s wall, "
        f"{summary['worker_seconds']:.0f} s in checks, {rate:.1f} examples/s",
    ]
    for name, counts in summary["histograms"].items():
        lines.append(f"  {name:<19} " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    for failure in summary["failures"][:10]:
        lines.append(f"  FAILED {failure['kind']}: {failure['detail']}")
        lines.append(f"    reproduce: {failure['reproduce']}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv:
        runs = [Path(a) for a in argv]
    else:
        out = Path(os.environ.get("GRADCHECK_SOAK_OUT", "reports/soak"))
        candidates = sorted((d for d in out.glob("*") if d.is_dir()), key=lambda d: d.name)
        runs = candidates[-1:]
    if not runs or not any(any(r.glob(WORKER_GLOB)) for r in runs):
        print(f"no soak results ({WORKER_GLOB}) in {[str(r) for r in runs] or 'reports/soak'}")
        return 2
    summary = summarize(runs)
    print(render(summary))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
