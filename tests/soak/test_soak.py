"""False-alarm soak: the correct reference backprop, checked on thousands of random problems,
must give zero mismatches and zero harness faults. Entries at ReLU-type kinks are undecidable,
counted, never a failure.

Skipped unless GRADCHECK_SOAK=1 (it is not part of `nox -s tests`). Run it with

    GRADCHECK_SOAK=1 GRADCHECK_SOAK_EXAMPLES=500 pytest -n 2 tests/soak

(pytest-xdist; ``-n auto`` uses every core). The examples are split over ``shard`` items, each a
Hypothesis run under its own seed; every worker reads and writes one shared example database, so
a failure found by one shard is replayed first by every later shard, on every worker and machine
sharing the directory, and by the next campaign. See tests/soak/conftest.py for the environment.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

import reference
from harness import Loss, NetworkSpec, Problem
from harness.campaign import check_case
from harness.strategies import ALL_ACTIVATIONS, LOSS_CONVENTIONS, network_specs, problems

if os.environ.get("GRADCHECK_SOAK") != "1":
    pytest.skip(
        "false-alarm soak: GRADCHECK_SOAK=1 pytest -n 2 tests/soak", allow_module_level=True
    )

#: (min_depth, max_depth, min_width, max_width, min_batch, max_batch) and how many of 20 draws.
#: Most examples are moderate; the large ones cost up to ~4 s each (finite differences).
TIERS = (
    ((1, 3, 1, 8, 1, 8), 10),
    ((1, 4, 1, 16, 1, 16), 6),
    ((1, 6, 1, 32, 1, 32), 3),
    ((4, 6, 16, 64, 16, 64), 1),
)
WEIGHT_SCALES = (1.0, 0.1, 0.3, 3.0, 10.0)
PASSING = ("ok", "undecidable")


def total_examples() -> int:
    return int(os.environ.get("GRADCHECK_SOAK_EXAMPLES", "10000"))


def shard_count() -> int:
    given = os.environ.get("GRADCHECK_SOAK_SHARDS")
    if given:
        return max(1, int(given))
    return max(1, min(64, round(total_examples() / 200)))


def shard_examples(shard: int) -> int:
    """Shard ``shard``'s share; the shares add up to exactly the total."""
    total, shards = total_examples(), shard_count()
    return total // shards + (1 if shard < total % shards else 0)


def _tier_problems(bounds: tuple[int, ...]) -> st.SearchStrategy[Problem]:
    min_depth, max_depth, min_width, max_width, min_batch, max_batch = bounds
    specs = network_specs(
        min_depth=min_depth,
        max_depth=max_depth,
        min_width=min_width,
        max_width=max_width,
        activations=ALL_ACTIVATIONS,  # every activation and loss convention
        losses=LOSS_CONVENTIONS,
        l2s=(0.0, 1e-3, 0.1),
    )
    return problems(specs, min_batch=min_batch, max_batch=max_batch, weight_scales=WEIGHT_SCALES)


#: A tier is drawn first (shrinking toward the smallest), then a problem inside it.
SOAK_PROBLEMS = st.one_of(
    *(_tier_problems(bounds) for bounds, weight in TIERS for _ in range(weight))
)

#: The corners, checked explicitly by shard 0: the widest, deepest, largest batch, saturated.
CORNERS = (
    Problem.random(NetworkSpec((64,) * 7, ("sigmoid",) * 6, "bce"), 64, 0, weight_scale=10.0),
    Problem.random(
        NetworkSpec(
            (64,) * 7, ("relu", "leaky_relu", "softplus", "tanh", "identity", "sigmoid"), "mse"
        ),
        64,
        0,
        weight_scale=3.0,
    ),
    Problem.random(
        NetworkSpec((64, 1, 64, 1, 64, 1, 64), ("relu",) * 5 + ("tanh",), "mse"),
        64,
        0,
        weight_scale=10.0,
    ),
    Problem.random(NetworkSpec((1,) * 7, ("tanh",) * 5 + ("sigmoid",), "bce"), 1, 0, 0.1),
    Problem.random(
        NetworkSpec((64, 64, 64, 10), ("gelu", "silu", "softmax"), "cross_entropy", l2=1e-3),
        64,
        0,
        weight_scale=10.0,
    ),
    Problem.random(
        NetworkSpec(
            (32, 32, 32, 8),
            ("elu", "leaky_relu(0.2)", "softmax"),
            Loss("mse", half=True, reduction="elementwise_mean"),
        ),
        32,
        0,
        weight_scale=10.0,
    ),
)


def _width_bucket(width: int) -> str:
    return next(f"<={w}" for w in (8, 16, 32, 64, 2**62) if width <= w)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow in saturated sources: expected
@pytest.mark.parametrize("shard", range(shard_count()))
def test_reference_raises_no_false_alarm(shard: int, soak_state: Any) -> None:
    counts = soak_state.shard(shard)

    @settings(
        max_examples=shard_examples(shard),
        database=soak_state.database,
        deadline=None,
        derandomize=False,
        report_multiple_bugs=False,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    @given(problem=SOAK_PROBLEMS)
    def soak(problem: Problem) -> None:
        start = time.perf_counter()
        try:
            case = check_case(reference.backward, problem)
        except Exception as error:
            counts.harness_faults += 1
            counts.failures.append(
                {
                    "kind": "harness fault",
                    "detail": f"check_case raised {error!r}",
                    "reproduce": repr(problem),
                }
            )
            raise
        finally:
            counts.seconds += time.perf_counter() - start
        counts.examples += 1
        spec = problem.spec
        counts.entries_checked += sum(r.total for r in case.records)
        undecidable = sum(r.undecidable for r in case.records)
        counts.undecidable_entries += undecidable
        counts.undecidable_examples += undecidable > 0
        soak_state.count("depth", spec.depth)
        soak_state.count("max width", _width_bucket(max(spec.sizes)))
        soak_state.count("batch", _width_bucket(problem.batch))
        soak_state.count("loss", repr(spec.loss))
        soak_state.count("l2", spec.l2)
        soak_state.count("weight scale", problem.weight_scale)
        for name in spec.activations:
            soak_state.count("activation", name)
        bad = [r for r in case.records if r.status not in PASSING]
        if not bad:
            return
        fault = any(r.status == "source-disagreement" for r in bad)
        if fault:
            counts.harness_faults += 1
        else:
            counts.false_alarms += 1
        kind = "harness fault" if fault else "false alarm"
        detail = "; ".join(f"[{r.status}] {r.detail}" for r in bad)
        if len(counts.failures) < 20:
            counts.failures.append({"kind": kind, "detail": detail, "reproduce": case.reproduce})
        raise AssertionError(
            f"{kind} on the correct reference backprop: {detail}\n"
            f"problem: {problem!r}\nreproduce: {case.reproduce}"
        )

    if shard == 0:
        for corner in CORNERS:
            soak = example(problem=corner)(soak)
    hypothesis_seed(f"{soak_state.campaign_seed}:{shard}")(soak)()
