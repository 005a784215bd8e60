"""Verdicts right both ways (issue 12): legitimate backprops written other ways pass.

Exact-formula variants (`tests/variants`: a per-sample loop, einsum everywhere, reversed sums,
1/m early or at the end, g' from A) compute the true gradient with other roundings: they pass
with no warning at weight scales 0.5 to 4. Precision-choice variants (softplus as
log(1 + exp(z)), tanh through exp, bce through a clipped dJ/dA, g' at a jittered point) pass
too, may warn, and fail under ``strict=True`` exactly where they warn. float32 code is judged
as float32 only when declared, and an error of 1e-3 is wrong in any format.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from optional import need
from variants import VARIANTS

from harness import NetworkSpec, Problem, audit, check

HERE = Path(__file__).parent / "variants"
SCALES = (0.5, 1.0, 2.0, 4.0)
ARCHITECTURES = ((4, 8, 8, 2), (16, 32, 32, 32, 8), (3, 5, 2))
BATCH = 8
EXAMPLES = 10  # per audit: the fixed architectures carry most of the weight
#: The activations a precision-choice variant's nets are built from: the one its choice is
#: about (its other activations are exact and covered by the exact variants).
FOCUS = {
    "softplus_log_exp": ("softplus",),
    "tanh_through_exp": ("tanh",),
    "bce_clipped_dj_da": ("relu", "softplus", "tanh"),
}
EXACT = [name for name, kind in VARIANTS.items() if kind == "exact"]
PRECISION = [name for name, kind in VARIANTS.items() if kind == "precision"]


def _target(name: str) -> str:
    return f"{HERE / name}.py:backward"


def _supports(name: str) -> dict[str, tuple[str, ...]]:
    module = __import__(f"variants.{name}", fromlist=["supports"])
    supports: dict[str, tuple[str, ...]] = module.supports
    assert module.backward.supports is supports  # what the harness reads
    return supports


def _problems(name: str) -> Iterator[Problem]:
    """Every fixed architecture at every weight scale; the loss (alternating through those the
    variant supports), the seed (0, 1, 2) and the layers' activations (cycled through its own)
    change along the grid, so each architecture meets each loss and several seeds."""
    supports = _supports(name)
    names = FOCUS.get(name, supports["activations"])
    losses = supports["losses"]
    for (a, sizes), (s, scale) in itertools.product(enumerate(ARCHITECTURES), enumerate(SCALES)):
        seed, loss = (a + 2 * s) % 3, losses[(a + s) % len(losses)]
        activations = [names[(seed + l) % len(names)] for l in range(len(sizes) - 1)]
        if loss == "bce":
            activations[-1] = "sigmoid"
        spec = NetworkSpec(sizes, tuple(activations), loss)
        yield Problem.random(spec, BATCH, seed, weight_scale=scale)


@pytest.mark.parametrize("name", EXACT)
def test_an_exact_formula_variant_passes_without_warnings(name: str) -> None:
    for problem in _problems(name):
        report = check(_target(name), problem)
        assert report.passed and not report.warnings, str(report)
    campaign = audit(_target(name), examples=EXAMPLES, weight_scales=SCALES)
    assert campaign.passed and campaign.judged == EXAMPLES, str(campaign)
    assert campaign.warned == 0, str(campaign)


@pytest.mark.parametrize("name", PRECISION)
def test_a_precision_choice_passes_and_fails_under_strict_exactly_where_it_warns(
    name: str,
) -> None:
    for problem in _problems(name):
        report = check(_target(name), problem)
        assert report.passed, str(report)
        strict = check(_target(name), problem, strict=True)
        assert strict.passed == (not report.warnings), f"{report}\n--- strict:\n{strict}"
        if not strict.passed:
            assert {f.kind for f in strict.findings} == {"imprecise"}, str(strict)
    campaign = audit(_target(name), examples=EXAMPLES, weight_scales=SCALES)
    assert campaign.passed and campaign.judged == EXAMPLES, str(campaign)
    strict_campaign = audit(_target(name), examples=EXAMPLES, weight_scales=SCALES, strict=True)
    assert strict_campaign.passed == (campaign.warned == 0), str(strict_campaign)


@pytest.mark.parametrize(
    ("name", "spec", "seed", "scale"),
    [
        ("jittered_g_prime", NetworkSpec((4, 8, 8, 2), ("tanh", "sigmoid", "tanh"), "mse"), 0, 1),
        (
            "softplus_log_exp",
            NetworkSpec((16, 32, 32, 32, 8), ("softplus",) * 4, "mse"),
            1,
            4,
        ),
        (
            "bce_clipped_dj_da",
            NetworkSpec((4, 8, 8, 2), ("relu", "relu", "sigmoid"), "bce"),
            0,
            4,
        ),
    ],
)
def test_the_precision_choices_do_warn(
    name: str, spec: NetworkSpec, seed: int, scale: float
) -> None:
    """Teeth: these precision choices deviate beyond the rounding model here (a g' 1e-12 away,
    softplus's 1 + e^z rounding for z ≪ 0, an output clipped at 1e-12), so they warn, and
    strict fails them."""
    problem = Problem.random(spec, BATCH, seed, weight_scale=scale)
    report = check(_target(name), problem)
    assert report.passed and report.warnings, str(report)
    assert all(r.status == "imprecise" for r in report.warnings)
    assert not check(_target(name), problem, strict=True).passed


def test_softplus_through_log_of_one_plus_exp_is_imprecise_not_wrong_on_a_lone_tiny_unit() -> None:
    """softplus(-23) as log(1 + e^-23) is off by 6e-8 relative (1 + 1.03e-10 rounds); layer 2's
    dW = δ·a^(1) carries that error in every entry, so neither τ|e| (1e-8) nor α·max|e| covers
    it: the band's third part does (`Tiers.formulas`, the rounding model of a backprop whose
    activations are accurate to u·(|a| + 1) absolute). Found by
    ``audit(softplus_log_exp, examples=400, seed=2, weight_scales=(0.5, 1, 2, 4))`` (minimal
    case: sizes (1, 1, 2, 10), batch 1, seed 3, weight scale 4)."""
    spec = NetworkSpec((1, 1, 1), ("softplus", "tanh"), "mse")
    one, zero = np.array([[1.0]]), np.array([0.0])
    problem = Problem(spec, [(one, zero), (one, zero)], np.array([[-23.0]]), np.array([[0.5]]))
    report = check(_target("softplus_log_exp"), problem)
    assert report.passed, str(report)
    assert [r.status for r in report.warnings] == ["imprecise"]
    assert not check(_target("softplus_log_exp"), problem, strict=True).passed


# --- float32 ---------------------------------------------------------------------------------

FLOAT32_PROBLEMS = [
    Problem.random(NetworkSpec(sizes, activations, loss), BATCH, seed, weight_scale=scale)
    for (sizes, activations, loss), seed, scale in [
        (((4, 8, 8, 2), ("tanh", "relu", "sigmoid"), "mse"), 0, 1.0),
        (((3, 5, 2), ("softplus", "sigmoid"), "bce"), 1, 4.0),
        (((16, 32, 32, 32, 8), ("tanh", "softplus", "relu", "tanh"), "mse"), 2, 2.0),
    ]
]


@pytest.mark.parametrize("problem", FLOAT32_PROBLEMS, ids=lambda p: "-".join(p.spec.activations))
def test_float32_code_passes_as_float32_and_fails_as_float64(problem: Problem) -> None:
    target = _target("float32_backprop")
    report = check(target, problem, precision="float32")
    assert report.passed and not report.warnings, str(report)
    as_float64 = check(target, problem)
    assert not as_float64.passed
    assert "precision='float32'" in str(as_float64)  # the hint names the fix


@pytest.mark.parametrize("problem", FLOAT32_PROBLEMS, ids=lambda p: "-".join(p.spec.activations))
def test_float32_code_off_by_1e_3_in_one_tensor_fails_even_as_float32(problem: Problem) -> None:
    report = check(_target("float32_one_tensor_off"), problem, precision="float32")
    assert not report.passed
    assert [(f.layer, f.param) for f in report.findings] == [(1, "W")], str(report)


def test_the_tiers_float32_backprop_is_float32_code_too() -> None:
    target = f"{Path(__file__).parent / 'tiers' / 'float32_backprop.py'}:backward"
    problem = Problem.random(
        NetworkSpec((4, 8, 8, 2), ("tanh", "sigmoid", "sigmoid"), "mse"), BATCH, 3, 2.0
    )
    assert check(target, problem, precision="float32").passed
    assert not check(target, problem).passed


def test_from_torch_in_float32_passes_as_float32_and_fails_as_float64() -> None:
    torch = need("torch")
    from harness.adapters import AdapterError, from_torch

    backward = from_torch(dtype=torch.float32)
    for problem in FLOAT32_PROBLEMS[:2]:
        report = check(backward, problem, precision="float32")
        assert report.passed and not report.warnings, str(report)
        as_float64 = check(backward, problem)
        assert not as_float64.passed
        assert "dtype float32" in str(as_float64)
        assert "from_torch(dtype=torch.float32)" in str(as_float64)  # the reproduce line
    campaign = audit(backward, examples=4, precision="float32", weight_scales=SCALES)
    assert campaign.passed, str(campaign)
    with pytest.raises(AdapterError, match=r"torch\.float64 .* or torch\.float32"):
        from_torch(dtype=torch.float16)
