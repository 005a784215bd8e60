"""A correct backprop whose dW carry a relative error of 3e-9: far beyond float64 rounding, inside
the precision band (τ = 1e-8): *imprecise*, a warning; ``--strict`` fails it."""

from __future__ import annotations

from typing import Any

import reference


def backward(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    grads = reference.backward(params, X, Y, activations, loss)
    return [(dW * (1 + 3e-9), db) for dW, db in grads]
