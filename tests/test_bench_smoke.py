"""The benchmark's machinery runs and writes well-formed files (arch A, our figures only).

Nothing is timed or compared with a speed here: the figures only have to be there and finite.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_writes_bench_md_and_bench_json(tmp_path: Path) -> None:
    options = ["--archs", "A", "--skip-competitors", "--repeat", "1", "--quick"]
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench", *options, "--out", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = (p for p in tmp_path.iterdir() if p.is_dir() and not p.is_symlink())
    assert (tmp_path / "latest").resolve() == run_dir.resolve()
    assert sorted(p.name for p in run_dir.iterdir()) == ["bench.json", "bench.md"]

    data = json.loads((run_dir / "bench.json").read_text(encoding="utf-8"))
    assert data["run_id"] == run_dir.name
    assert data["problem_matches_issue"] is True
    assert data["settings"]["archs"] == ["A"]
    assert math.isfinite(data["machine"]["gemm"]["flops_per_s"]) and data["total_s"] > 0
    arch = data["archs"]["A"]
    assert (arch["sizes"], arch["m"], arch["params"]) == ([2, 3, 1], 4, 13)
    assert arch["fd_flops"] == 0  # two layers: every layer's change is at most a rank-1 update
    assert arch["competitors"] == {}
    for key in ("closed_form", "symbolic_cold", "symbolic_warm", "fd_numpy", "fd_cold_numpy"):
        figure = arch["ours"][key]
        assert (
            len(figure["samples"]) == 1 and math.isfinite(figure["median"]) and figure["median"] > 0
        )
    for key in ("closed_form", "symbolic_warm", "fd_numpy"):
        assert arch["ours"][key]["error"] < 1e-12
    assert arch["ours"]["verdict"]["passed"] is True
    assert set(data["growth"]) == set(arch["ours"])  # one arch: no exponent can be fitted
    assert all(k is None for k in data["growth"].values())

    md = (run_dir / "bench.md").read_text(encoding="utf-8")
    boundary = data["isolation"]
    (row,) = boundary["per_call"]
    assert row["arch"] == "A" and row["calls"] == 30
    assert all(math.isfinite(row[k]) and row[k] > 0 for k in ("process_s", "inline_s"))
    assert boundary["throughput"]["process_per_s"] > 0 and boundary["throughput"]["ratio"] > 0
    headings = ("## Our sources", "## Side by side", "## Errors", "## FLOP floor", "## Growth",
                "## The worker process")  # fmt: skip
    for heading in headings:
        assert heading in md
    assert run_dir.name in md and md in proc.stdout
