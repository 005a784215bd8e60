"""What crosses the plug-in boundary: a candidate's output read once into plain arrays.

A candidate may return anything: a list of pairs, a generator, its own workspace buffers that it
overwrites on the next call, a container whose ``__getitem__`` and ``__iter__`` disagree, torch
tensors. `read_output` turns it, *where the candidate runs* (inside its worker process and within
its timeout, or inline), into a value that nothing the candidate keeps can change:

- a list of ``(dW, db)`` tuples whose entries are fresh ``numpy.ndarray`` copies (any numeric
  dtype, kept as it is so the comparison can report a float32), or `Foreign` for a value that is
  not a plain ndarray (a tensor, a list, an ndarray subclass, an object array);
- or `Unusable`, saying why the output is not a list of pairs at all.

Each container is iterated exactly once; ``len``, ``pair[0]`` and unpacking are never consulted,
so a lying container is judged by what it yielded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Foreign", "Plain", "PlainPairs", "Unusable", "describe", "read_output"]


@dataclass(frozen=True)
class Foreign:
    """A returned tensor that is not a plain numeric ``numpy.ndarray``: only its type crosses."""

    type_name: str


#: What an output that is a dict is told (`harness.usage` recognises it).
DICT_HINT = (
    "a dict of gradients goes through harness.adapters.from_dict (a dict of parameters and "
    "loss(X, y) -> (loss, grads))"
)


@dataclass(frozen=True)
class Unusable:
    """An output that is not a list of (dW, db) pairs: why (completes "candidate ...")."""

    text: str


PlainPairs = list[tuple[np.ndarray | Foreign, np.ndarray | Foreign]]
Plain = PlainPairs | Unusable


def describe(error: BaseException) -> str:
    """``TypeName: first line of the message``, even for an exception whose ``__str__`` fails."""
    try:
        text = str(error).strip()
    except Exception:
        text = "<unprintable>"
    first = text.splitlines()[0] if text else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def _plain_value(value: Any) -> np.ndarray | Foreign:
    if isinstance(value, Foreign):
        return value
    if type(value) is not np.ndarray:  # subclasses (np.matrix, masked arrays) index differently
        return Foreign(type(value).__name__)
    if value.dtype.kind not in "biufc":  # object, string, structured: nothing to compare
        return Foreign(f"ndarray of dtype {value.dtype}")
    return np.array(value, copy=True, order="C")


def _is_container(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (np.ndarray, str, bytes))


def read_output(output: Any, depth: int) -> Plain:
    """``output`` as plain copies (see the module docstring); a container that raises while
    it is read is `Unusable` with what it raised."""
    if isinstance(output, Unusable):
        return output
    if not _is_container(output):
        kind = type(output).__name__
        hint = ""
        if isinstance(output, Mapping):
            hint = f": {DICT_HINT}"
        return Unusable(f"returned {kind}, expected a list of {depth} (dW, db) pairs{hint}")
    try:
        layers = list(output)
        pairs: PlainPairs = []
        for l, pair in enumerate(layers, start=1):
            if not _is_container(pair):
                return Unusable(f"layer {l}: expected a pair (dW{l}, db{l}), got "
                                f"{type(pair).__name__}")  # fmt: skip
            items = list(pair)
            if len(items) != 2:
                return Unusable(f"layer {l}: expected a pair (dW{l}, db{l}), got "
                                f"{len(items)} item(s)")  # fmt: skip
            pairs.append((_plain_value(items[0]), _plain_value(items[1])))
    except Exception as error:  # a container whose iteration itself fails
        return Unusable(f"output could not be read: {describe(error)}")
    if len(pairs) != depth:
        return Unusable(f"returned {len(pairs)} layer(s) of gradients, expected {depth}")
    return pairs
