"""The engine's product assigns ``grad =`` where it must accumulate ``grad +=``.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/grad_assigned_not_accumulated.py:backward``
"""

from .autograd import grad_assigned_not_accumulated as backward

__all__ = ["backward"]
