"""`float32_backprop` with one tensor (layer 1 dW) multiplied by (1 + 1e-3): a relative error of
1e-3 is no float32 rounding (u = 6e-8) and no precision choice (τ = 1e-8): wrong even under
``precision="float32"``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .float32_backprop import backward as _correct
from .float32_backprop import supports


def backward(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    grads = _correct(params, X, Y, activations, loss)
    dW, db = grads[0]
    grads[0] = (dW * np.float32(1 + 1e-3), db)
    return grads


backward.supports = supports  # the harness reads the function's attribute
