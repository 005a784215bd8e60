"""The bias gradient is assigned, not accumulated, in the loop over samples.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/bias_assigned_per_sample.py:backward``
"""

from .loops import bias_assigned_per_sample as backward

__all__ = ["backward"]
