"""The soak's plumbing: one shared Hypothesis database, per-worker counts, the closing summary.

Environment (all optional except GRADCHECK_SOAK=1, without which the soak is skipped):

- ``GRADCHECK_SOAK_EXAMPLES``  total examples over all shards (default 10000)
- ``GRADCHECK_SOAK_SHARDS``    how many shards (pytest items) share them (default: ~200 each)
- ``GRADCHECK_SOAK_SEED``      campaign seed; shard k runs Hypothesis under seed (campaign, k).
                               Default: a fresh one per run, printed and kept in the JSON.
- ``GRADCHECK_SOAK_DB``        the shared, writable example database directory
                               (default ``<rootdir>/.hypothesis/soak-db``)
- ``GRADCHECK_SOAK_DB_READONLY`` more database directories, os.pathsep-separated, replayed but
                               never written (e.g. another machine's synced database)
- ``GRADCHECK_SOAK_OUT``       where the counts go (default ``<rootdir>/reports/soak``); each run
                               writes ``<out>/<run-id>/worker-<id>.json`` and ``summary.json``
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    MultiplexedDatabase,
    ReadOnlyDatabase,
)

_KEY = "gradcheck_soak"
_summarize_path = Path(__file__).with_name("summarize.py")
_spec = importlib.util.spec_from_file_location("gradcheck_soak_summarize", _summarize_path)
assert _spec is not None and _spec.loader is not None
summarize = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(summarize)


def soak_enabled() -> bool:
    return os.environ.get("GRADCHECK_SOAK") == "1"


def soak_database(rootpath: Path) -> ExampleDatabase:
    """The writable shared directory, plus any read-only ones (other machines' copies)."""
    path = os.environ.get("GRADCHECK_SOAK_DB") or str(rootpath / ".hypothesis" / "soak-db")
    shared: ExampleDatabase = DirectoryBasedExampleDatabase(path)
    extra = [p for p in os.environ.get("GRADCHECK_SOAK_DB_READONLY", "").split(os.pathsep) if p]
    if not extra:
        return shared
    return MultiplexedDatabase(
        shared, *(ReadOnlyDatabase(DirectoryBasedExampleDatabase(p)) for p in extra)
    )


@dataclass
class ShardCounts:
    examples: int = 0
    false_alarms: int = 0  # checks (shrink attempts included) with a failing non-fault record
    harness_faults: int = 0  # source disagreements, or check_case itself raising
    undecidable_entries: int = 0
    undecidable_examples: int = 0
    entries_checked: int = 0
    seconds: float = 0.0
    failures: list[dict[str, str]] = field(default_factory=list)


@dataclass
class SoakState:
    """What this process (one xdist worker, or the only process) has seen."""

    run_id: str
    campaign_seed: int
    out: Path
    database: ExampleDatabase
    worker: str
    started: float = field(default_factory=time.time)
    shards: dict[int, ShardCounts] = field(default_factory=dict)
    histograms: dict[str, Counter[str]] = field(default_factory=dict)

    def shard(self, shard: int) -> ShardCounts:
        return self.shards.setdefault(shard, ShardCounts())

    def count(self, name: str, value: object) -> None:
        self.histograms.setdefault(name, Counter())[str(value)] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "campaign_seed": self.campaign_seed,
            "worker": self.worker,
            "wall_seconds": time.time() - self.started,
            "shards": {str(k): vars(v) for k, v in sorted(self.shards.items())},
            "histograms": {k: dict(v) for k, v in self.histograms.items()},
        }


_STATE = pytest.StashKey[SoakState]()
_SUMMARY = pytest.StashKey[str]()


def _new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def pytest_configure(config: pytest.Config) -> None:
    if not soak_enabled():
        return
    given = getattr(config, "workerinput", {}).get(_KEY)
    if given is None:  # the controller, or a run without xdist
        seed = os.environ.get("GRADCHECK_SOAK_SEED")
        given = {
            "run_id": _new_run_id(),
            "campaign_seed": int(seed) if seed else secrets.randbelow(2**31),
        }
    out = Path(os.environ.get("GRADCHECK_SOAK_OUT") or config.rootpath / "reports" / "soak")
    worker = getattr(config, "workerinput", {}).get("workerid", "main")
    config.stash[_STATE] = SoakState(
        run_id=given["run_id"],
        campaign_seed=int(given["campaign_seed"]),
        out=out,
        database=soak_database(config.rootpath),
        worker=worker,
    )


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: every worker gets the same run id and campaign seed."""
    state = node.config.stash.get(_STATE, None)
    if state is not None:
        node.workerinput[_KEY] = {"run_id": state.run_id, "campaign_seed": state.campaign_seed}


@pytest.fixture(scope="session")
def soak_state(request: pytest.FixtureRequest) -> SoakState:
    return request.config.stash[_STATE]


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is None:
        return
    run_dir = state.out / state.run_id
    if state.shards:
        run_dir.mkdir(parents=True, exist_ok=True)
        target = run_dir / f"worker-{state.worker}.json"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(state.as_dict(), indent=1))
        tmp.replace(target)
    if hasattr(session.config, "workerinput") or not run_dir.is_dir():
        return  # a worker: the controller sums up once every worker has written its file
    summary = summarize.summarize([run_dir])
    summary["wall_seconds"] = time.time() - state.started
    summary["pytest_exitstatus"] = int(session.exitstatus)
    summary["passed"] = bool(summary["passed"] and session.exitstatus == 0)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    session.config.stash[_SUMMARY] = summarize.render(summary) + f"\n  counts in {run_dir}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    text = config.stash.get(_SUMMARY, None)
    if text is not None:
        terminalreporter.section("gradcheck soak")
        terminalreporter.write_line(text)
