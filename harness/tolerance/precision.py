"""The floating-point formats a candidate may compute in, as a table (as jax keys tolerances by
dtype): each row is the data the rounding model needs about one format.

- ``u``, the unit roundoff: every +, -, ×, / returns x(1 + δ) with |δ| <= u (round to nearest).
- ``c_fn``: a library function (exp, tanh, log1p, erfc, ...) is trusted to ``c_fn · u`` relative
  to its value. glibc's double functions are within 1 ulp (2u); numpy's float32 SIMD loops
  within 4 ulp (8u).
- below the format's smallest normal number values have no relative accuracy: the bound's floor
  (`harness.tolerance.candidate_bound`).
- whether the candidate's result is a rounding of its own to this format (every format but
  float64, in which the harness compares): then half an ulp of the result in this format is
  added (`Precision.rounds_result`).

A format with u = 2^-11 (float16) or 2^-8 (bfloat16, no numpy dtype) fits the same row, but the
first-order model needs λ√n·u small (n the longest sum): for float16 a second-order term would be
needed first. Mixed precision (fp16/bf16 storage with fp32 sums, TF32 matmul inputs) would need a
second u for the sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from harness.errors import HarnessError

__all__ = ["PRECISIONS", "Precision", "precision_of"]


@dataclass(frozen=True)
class Precision:
    """The floating-point format a candidate computes in: its dtype, unit roundoff u, and the
    relative accuracy of its library functions in units of u (``c_fn``)."""

    name: str
    dtype: type[np.floating[Any]]
    u: float
    c_fn: float = 4.0

    @property
    def rounds_result(self) -> bool:
        """Whether the candidate's result is rounded to this format before the harness (which
        compares in float64) sees it."""
        return self.dtype is not np.float64

    def half_ulp(self, values: Any) -> Any:
        """Half a unit in the last place of each value in this format (subnormals included)."""
        magnitude = np.abs(np.asarray(values, dtype=np.float64)).astype(self.dtype)
        return np.spacing(magnitude).astype(np.float64) / 2.0


#: The formats a candidate may declare (``precision=`` / ``--precision``).
PRECISIONS: Final = {
    "float64": Precision("float64", np.float64, 2.0**-53, c_fn=4.0),
    "float32": Precision("float32", np.float32, 2.0**-24, c_fn=8.0),
}


def precision_of(precision: str | Precision) -> Precision:
    """The `Precision` named ``precision``; a clear error naming the choices otherwise."""
    if isinstance(precision, Precision):
        return precision
    if isinstance(precision, str) and precision in PRECISIONS:
        return PRECISIONS[precision]
    raise HarnessError(
        f"precision must be one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}"
    )
