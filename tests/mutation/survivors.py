"""Why each surviving mutant of `reference/backprop.py` survives `verify --profile quick`.

Keyed by the mutant's changed lines (``-old`` / ``+new``, as `run_mutation._key` prints them), so
the entries survive renumbering. Kinds:

- ``equivalent``: the mutant computes the same gradients on every input the harness can give it.
- ``equivalent at the kink``: differs only where Z == 0 exactly, where g is not differentiable
  and either one-sided value is a valid subgradient; `Problem.random` keeps ReLU-type
  pre-activations a margin away from 0, and a finite difference across a kink is "undecidable".
- ``gap``: a real behaviour change that `verify` cannot see (reported, not fixed here).
"""

from __future__ import annotations

_ALL = '-__all__ = ["backward", "forward"]\n+__all__ = '
_ALL_WHY = (
    "`__all__` only affects `from reference.backprop import *`; `reference/__init__.py` imports "
    "`backward, forward` by name and the CLI loads `reference:backward` by attribute. "
    "(No test asserts the public names; ruff/mypy do not either.)"
)
_ZIP = "-    for (W, b), name in zip(params, activations, strict=True):\n+    for (W, b), name in "
_ZIP_WHY = (
    "`strict=True` only matters when len(params) != len(activations); `NetworkSpec` rejects such "
    "an architecture before the candidate is called, so verify never passes one. A direct caller "
    "with mismatched lengths would get a silently truncated forward pass instead of an error: a "
    "gap of the oracle for unvalidated callers, not of the gradient."
)
_MSG_WHY = (
    "an error path verify never reaches: the harness validates activations and losses (and "
    "bce ⇒ sigmoid output) before calling the candidate, so these raises are dead code under the "
    "oracle, and the message text is asserted nowhere. A gap (error messages of reference/ "
    "untested), not a gradient bug: the mutant still raises ValueError, except `join(None)`, "
    "which raises TypeError instead."
)
_ACT = "-        raise ValueError(f\"unknown activation {name!r}; known: {', '.join(_ACTIVATIONS)}\") from None\n+        raise ValueError("
_BCE = "-            raise ValueError(\"loss 'bce' needs a sigmoid output layer\")\n+            raise ValueError("

REASONS: dict[str, tuple[str, str]] = {
    _ALL + "None": ("equivalent", _ALL_WHY),
    _ALL + '["XXbackwardXX", "forward"]': ("equivalent", _ALL_WHY),
    _ALL + '["BACKWARD", "forward"]': ("equivalent", _ALL_WHY),
    _ALL + '["backward", "XXforwardXX"]': ("equivalent", _ALL_WHY),
    _ALL + '["backward", "FORWARD"]': ("equivalent", _ALL_WHY),
    "-Array = NDArray[np.float64]\n+Array = None": (
        "equivalent",
        "`Array` appears only in annotations, which `from __future__ import annotations` never "
        "evaluates; mypy --strict (nox -s lint) would reject it, verify cannot.",
    ),
    "-    return np.where(Z >= 0, 1.0 / (1.0 + E), E / (1.0 + E))\n"
    "+    return np.where(Z > 0, 1.0 / (1.0 + E), E / (1.0 + E))": (
        "equivalent",
        "at Z == 0 both branches are 1 / (1 + 1) = 0.5 = 1 / (1 + 1) exactly (E = 1).",
    ),
    "-        lambda Z: np.where(Z > 0, Z, _LEAKY_SLOPE * Z),\n"
    "+        lambda Z: np.where(Z >= 0, Z, _LEAKY_SLOPE * Z),": (
        "equivalent",
        "at Z == 0 both branches are 0 (0 and 0.01·0).",
    ),
    '-    "relu": (lambda Z: np.maximum(Z, 0.0), lambda Z: (Z > 0).astype(np.float64)),\n'
    '+    "relu": (lambda Z: np.maximum(Z, 0.0), lambda Z: (Z >= 0).astype(np.float64)),': (
        "equivalent at the kink",
        "relu'(0) becomes 1 instead of 0; both are subgradients, and Z == 0 exactly is kept out of "
        "the drawn problems (kink margin), where the derivative does not exist anyway.",
    ),
    "-        lambda Z: np.where(Z > 0, 1.0, _LEAKY_SLOPE),\n"
    "+        lambda Z: np.where(Z >= 0, 1.0, _LEAKY_SLOPE),": (
        "equivalent at the kink",
        "leaky_relu'(0) becomes 1 instead of 0.01; both are subgradients, and Z == 0 exactly is "
        "kept out of the drawn problems (kink margin).",
    ),
    '-    "relu": (lambda Z: np.maximum(Z, 0.0), lambda Z: (Z > 0).astype(np.float64)),\n'
    '+    "relu": (lambda Z: np.maximum(Z, 0.0), lambda Z: (Z > 0).astype(None)),': (
        "equivalent",
        "numpy reads dtype None as the default float64, so `astype(None)` is `astype(np.float64)`.",
    ),
    "-        dJ_dW = dJ_dZ @ A_prev.T\n+        dJ_dW = (A_prev @ dJ_dZ.T).T": (
        "equivalent",
        "(A Dᵀ)ᵀ = D Aᵀ: the same product (an extra mutant that turned out equivalent).",
    ),
    _ZIP + "zip(params, activations, strict=None):": ("equivalent", _ZIP_WHY),
    _ZIP + "zip(params, activations, ):": ("equivalent", _ZIP_WHY),
    _ZIP + "zip(params, activations, strict=False):": ("equivalent", _ZIP_WHY),
    _ACT + "None) from None": ("gap", _MSG_WHY),
    _ACT + "f\"unknown activation {name!r}; known: {', '.join(None)}\") from None": (
        "gap",
        _MSG_WHY,
    ),
    _ACT + "f\"unknown activation {name!r}; known: {'XX, XX'.join(_ACTIVATIONS)}\") from None": (
        "gap",
        _MSG_WHY,
    ),
    _BCE + "None)": ("gap", _MSG_WHY),
    _BCE + "\"XXloss 'bce' needs a sigmoid output layerXX\")": ("gap", _MSG_WHY),
    _BCE + "\"LOSS 'BCE' NEEDS A SIGMOID OUTPUT LAYER\")": ("gap", _MSG_WHY),
    '-        raise ValueError(f"unknown loss {loss!r}; known: mse, bce")\n'
    "+        raise ValueError(None)": ("gap", _MSG_WHY),
    "-        return np.asarray((A_L * sum_Y - Y) / divisor, dtype=np.float64)\n"
    "+        return np.asarray((A_L - Y) / divisor, dtype=np.float64)": (
        "equivalent",
        "A·ΣY − Y equals A − Y whenever each column of Y sums to 1, and `Problem` refuses "
        "cross_entropy targets whose columns do not (to 1e-9): verify never passes one.",
    ),
    "-    return np.asarray(A * (dJ_dA - np.sum(A * dJ_dA, axis=0, keepdims=True)), "
    "dtype=np.float64)\n"
    "+    return np.asarray(A * (1.0 - A) * dJ_dA, dtype=np.float64)": (
        "gap",
        "softmax's Jacobian taken as its diagonal matters only for mse after a softmax output "
        "with n_L >= 2 (cross_entropy uses its simplified form): `verify --profile quick` with "
        "100 examples over every convention draws few such nets and missed it at seed 0. `check` "
        "on one such net catches and names it (tests/test_meta_conventions.py, the cs231n "
        "diagonal-Jacobian case; tests/test_diagnose.py).",
    ),
}
