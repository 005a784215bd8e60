"""Backprops in the conventions of issue 11, written the way other people write them, and what the
harness must say about each on one fixed problem.

- `cs231n`: a ReLU softmax classifier with cross-entropy and L2 (``0.5·reg·ΣW²``), rows as
  samples, dict parameters: ``NetworkSpec(..., ("relu", ..., "softmax"), Loss("cross_entropy"),
  l2=REG)``.
- `nielsen`: sigmoid layers with ½·‖a - y‖², one example at a time, summed
  (``Loss("mse", half=True, reduction="sum")``) or divided by the batch (``half=True``).
- `torch_style`: ``nn.Linear`` layout with gelu, silu, elu and leaky_relu(α) and ``F.mse_loss``
  (``Loss("mse", reduction="elementwise_mean")``).

Each implementation computes the gradient of *its own* convention, whatever loss name it is
handed (it refuses other architectures); a `Case` pairs it with the spec a user would declare. A
correct implementation under its own convention must pass; the same implementation under a
convention it does not compute (a ½·MSE gradient declared as plain mse) is wrong by a factor the
diagnosis names with the declaration to make. Nothing in the implementations comes from
`harness` or `reference`.

A `Case` declares, on ``Problem.random(spec, batch=BATCH, seed=SEED)``:

- ``affected``: exactly the (layer, "W" | "b") whose gradient is wrong (empty: correct);
- ``pattern``: the `harness.diagnose` pattern each tensor of ``named`` (default: ``affected``)
  must get, ``says``: a piece of text every one of those diagnoses must contain, and ``factor``
  (where given) their ``Diagnosis.factor``: the scale, or the weight decay λ the code used.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from harness.spec import Loss, NetworkSpec

from . import cs231n, nielsen, torch_style

__all__ = ["BATCH", "CASES", "SEED", "Case"]

Array = NDArray[np.float64]
Backward = Callable[[Sequence[tuple[Array, Array]], Array, Array, Sequence[str], str], object]
Blame = frozenset[tuple[int, str]]

#: m = 5, n_L = 3 below: 2, m, n_L and m·n_L differ, so no two named factors coincide.
BATCH = 5
SEED = 3


@dataclass(frozen=True)
class Case:
    """One implementation under one declared convention, and the verdict it is owed."""

    name: str
    backward: Backward
    spec: NetworkSpec
    affected: Blame = frozenset()
    pattern: str | None = None
    says: str | None = None
    named: Blame | None = None
    factor: float | None = None  # the Diagnosis.factor of the named tensors

    @property
    def correct(self) -> bool:
        return not self.affected

    @property
    def description(self) -> str:
        return inspect.cleandoc(self.backward.__doc__ or "")

    def must_name(self) -> Blame:
        return frozenset() if self.pattern is None else (self.named or self.affected)


def _layers_up_to(top: int, params: str = "Wb") -> Blame:
    return frozenset((l, t) for l in range(1, top + 1) for t in params)


CE = Loss("cross_entropy")
ELEMENTWISE = Loss("mse", reduction="elementwise_mean")

CS231N = NetworkSpec((4, 6, 3), ("relu", "softmax"), CE, l2=cs231n.REG)
CS231N_DEEP = NetworkSpec((4, 6, 5, 3), ("relu", "relu", "softmax"), CE, l2=cs231n.REG)
NIELSEN_SUM = NetworkSpec((3, 5, 4, 3), ("sigmoid",) * 3, Loss("mse", half=True, reduction="sum"))
NIELSEN_MEAN = NetworkSpec((3, 5, 4, 3), ("sigmoid",) * 3, Loss("mse", half=True))
GELU_ON_TOP = NetworkSpec((3, 5, 4, 3), ("silu", "gelu", "identity"), ELEMENTWISE)
SILU_ON_TOP = NetworkSpec((3, 5, 4, 3), ("gelu", "silu", "identity"), ELEMENTWISE)
LEAKY = NetworkSpec((4, 5, 5, 3), ("leaky_relu(0.2)", "leaky_relu(0.2)", "identity"), ELEMENTWISE)
ELU = NetworkSpec((3, 4, 4, 3), ("tanh", "elu", "sigmoid"), ELEMENTWISE)


def _with_loss(spec: NetworkSpec, loss: Loss) -> NetworkSpec:
    return NetworkSpec(spec.sizes, spec.activations, loss, l2=spec.l2)


_EVERY_2 = _layers_up_to(2)
_EVERY_3 = _layers_up_to(3)

_CASES = [
    # --- correct, each under its own convention ---
    Case("softmax_classifier", cs231n.softmax_classifier, CS231N),
    Case("softmax_classifier_deep", cs231n.softmax_classifier, CS231N_DEEP),
    Case("half_mse_sum", nielsen.half_mse_sum, NIELSEN_SUM),
    Case("half_mse_mean", nielsen.half_mse_mean, NIELSEN_MEAN),
    Case("elementwise_mse_gelu", torch_style.elementwise_mse, GELU_ON_TOP),
    Case("elementwise_mse_silu", torch_style.elementwise_mse, SILU_ON_TOP),
    Case("elementwise_mse_leaky", torch_style.elementwise_mse, LEAKY),
    Case("elementwise_mse_elu", torch_style.elementwise_mse, ELU),
    # --- wrong code ---
    Case(
        "softmax_jacobian_diagonal",
        cs231n.softmax_jacobian_diagonal,
        CS231N,
        _EVERY_2,
        "wrong-activation-derivative",
        "softmax' written as the diagonal a(1 - a) of its Jacobian at layer",
    ),
    Case(
        "ce_missing_1_over_m",
        cs231n.ce_missing_1_over_m,
        CS231N_DEEP,
        _EVERY_3,
        "scaled",
        "scaled by m = 5",
        factor=5.0,
    ),
    Case(
        "l2_gradient_missing",
        cs231n.l2_gradient_missing,
        CS231N_DEEP,
        _layers_up_to(3, "W"),
        "l2-missing",
        "the L2 term l2·W is missing (l2 = 0.001)",
        factor=0.0,
    ),
    Case(
        "l2_half_kept",
        cs231n.l2_half_kept,
        CS231N_DEEP,
        _layers_up_to(3, "W"),
        "l2-halved",
        "½·l2·W",
        factor=0.5 * cs231n.REG,
    ),
    Case(
        "gelu_prime_missing_pdf_term",
        torch_style.gelu_prime_missing_pdf_term,
        GELU_ON_TOP,
        _EVERY_2,
        "wrong-activation-derivative",
        "gelu' written as Φ(z), missing z·φ(z) at layer 2",
    ),
    Case(
        "silu_prime_as_sigmoid",
        torch_style.silu_prime_as_sigmoid,
        SILU_ON_TOP,
        _EVERY_2,
        "wrong-activation-derivative",
        "silu' written as σ(z), missing z·σ(z)(1 - σ(z)) at layer 2",
    ),
    Case(
        "leaky_default_slope_in_derivative",
        torch_style.leaky_default_slope_in_derivative,
        LEAKY,
        _EVERY_2,
        "wrong-activation-derivative",
        "leaky_relu(0.2)' written as slope 0.01 for z <= 0 (the forward pass uses 0.2) at layer",
    ),
    Case(
        "elu_prime_negative_side",
        torch_style.elu_prime_negative_side,
        ELU,
        _EVERY_2,
        "wrong-activation-derivative",
        "elu' written as e^z - 1 for z <= 0 (elu itself, missing + 1) at layer 2",
    ),
    # --- right code, another convention declared ---
    Case(
        "half_mse_mean_declared_mse",
        nielsen.half_mse_mean,
        _with_loss(NIELSEN_MEAN, Loss("mse")),
        _EVERY_3,
        "scaled",
        "scaled by 1/2: a ½·MSE convention? declare Loss('mse', half=True)",
        factor=0.5,
    ),
    Case(
        "half_mse_sum_declared_mse_sum",
        nielsen.half_mse_sum,
        _with_loss(NIELSEN_SUM, Loss("mse", reduction="sum")),
        _EVERY_3,
        "scaled",
        "scaled by 1/2: a ½·MSE convention? declare Loss('mse', half=True, reduction='sum')",
        factor=0.5,
    ),
    Case(
        "elementwise_mse_declared_mean",
        torch_style.elementwise_mse,
        _with_loss(GELU_ON_TOP, Loss("mse")),
        _EVERY_3,
        "scaled",
        "scaled by 1/n_L = 0.333333: a mean over every output entry (torch's default)? "
        "declare Loss('mse', reduction='elementwise_mean')",
        factor=1 / 3,
    ),
    Case(
        "elementwise_mse_declared_half",
        torch_style.elementwise_mse,
        _with_loss(LEAKY, Loss("mse", half=True, reduction="elementwise_mean")),
        _EVERY_3,
        "scaled",
        "scaled by 2: mse without the ½? declare Loss('mse', reduction='elementwise_mean')",
        factor=2.0,
    ),
    Case(
        "mean_ce_declared_elementwise_mean",
        cs231n.softmax_classifier,
        _with_loss(CS231N, Loss("cross_entropy", reduction="elementwise_mean")),
        _EVERY_2,
        "scaled",
        "a mean over samples? declare Loss('cross_entropy')",
        factor=3.0,
    ),
]

CASES: dict[str, Case] = {case.name: case for case in _CASES}
assert len(CASES) == len(_CASES), "case names must differ"
