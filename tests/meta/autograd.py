"""A tiny scalar autograd engine, micrograd-style, and backprops that differentiate through it.

A `Value` holds ``data``, ``grad`` and a ``_backward`` that sits next to the forward op it belongs
to (karpathy/micrograd `micrograd/engine.py`). `mlp_loss` builds J for a whole batch out of
Values, one scalar product per weight and sample; ``J.backward()`` fills every ``grad``. It is
slow (every scalar is a Python object): the corpus declares these plug-ins for small nets only.

`Value` is correct; `tests.meta.correct` differentiates with it. `OverwritingValue` has one bug,
marked ``# BUG:``: the famous "= instead of +=" of a scalar engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["OverwritingValue", "Value", "grad_assigned_not_accumulated", "gradients_by_autograd"]

Array = NDArray[np.float64]
Params = Sequence[tuple[Array, Array]]
Grads = list[tuple[Array, Array]]


class Value:
    """A scalar and its gradient; ops build the graph, `backward` walks it in reverse."""

    __slots__ = ("_backward", "_prev", "data", "grad")

    def __init__(self, data: float, _children: tuple[Value, ...] = ()):
        self.data = float(data)
        self.grad = 0.0
        self._backward: Callable[[], None] = lambda: None
        self._prev = _children

    def _lift(self, other: Value | float) -> Value:
        return other if isinstance(other, Value) else type(self)(other)

    def __add__(self, other: Value | float) -> Value:
        other = self._lift(other)
        out = type(self)(self.data + other.data, (self, other))

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Value | float) -> Value:
        other = self._lift(other)
        out = type(self)(self.data * other.data, (self, other))

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, k: float) -> Value:
        out = type(self)(self.data**k, (self,))

        def _backward() -> None:
            self.grad += k * self.data ** (k - 1) * out.grad

        out._backward = _backward
        return out

    def _unary(self, data: float, local: float) -> Value:
        """An elementwise op with derivative ``local`` at this point."""
        out = type(self)(data, (self,))

        def _backward() -> None:
            self.grad += local * out.grad

        out._backward = _backward
        return out

    def log(self) -> Value:
        return self._unary(math.log(self.data), 1.0 / self.data)

    def sigmoid(self) -> Value:
        x = self.data
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        return self._unary(s, s * (1.0 - s))

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return self._unary(t, 1.0 - t * t)

    def relu(self) -> Value:
        return self._unary(max(self.data, 0.0), 1.0 if self.data > 0 else 0.0)

    def leaky_relu(self) -> Value:
        x = self.data
        return self._unary(x if x > 0 else 0.01 * x, 1.0 if x > 0 else 0.01)

    def identity(self) -> Value:
        return self

    def softplus(self) -> Value:
        x = self.data
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        return self._unary(max(x, 0.0) + math.log1p(math.exp(-abs(x))), s)

    def __neg__(self) -> Value:
        return self * -1.0

    def __sub__(self, other: Value | float) -> Value:
        return self + (-self._lift(other))

    def __radd__(self, other: float) -> Value:
        return self + other

    def __rmul__(self, other: float) -> Value:
        return self * other

    def __rsub__(self, other: float) -> Value:
        return (-self) + other

    def backward(self) -> None:
        order: list[Value] = []
        seen: set[int] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:  # iterative topological sort: deep graphs, no recursion limit
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()


class OverwritingValue(Value):
    """`Value` whose product assigns its gradients instead of accumulating them."""

    __slots__ = ()

    def __mul__(self, other: Value | float) -> Value:
        other = self._lift(other)
        out = type(self)(self.data * other.data, (self, other))

        def _backward() -> None:
            self.grad = other.data * out.grad  # BUG: += ; a Value used twice loses a term
            other.grad = self.data * out.grad

        out._backward = _backward
        return out


def gradients_by_autograd(
    params: Params,
    X: Array,
    Y: Array,
    activations: Sequence[str],
    loss: str,
    value: type[Value] = Value,
) -> Grads:
    """J of the whole batch as one graph of ``value`` scalars, then ``J.backward()``."""
    weights = [[[value(w) for w in row] for row in W] for W, _ in params]
    biases = [[value(b_j) for b_j in b] for _, b in params]
    m = X.shape[1]
    total: Value = value(0.0)
    for i in range(m):
        a: list[Value] | list[float] = [float(x) for x in X[:, i]]
        for W, b, name in zip(weights, biases, activations):
            z = [sum((w_jk * a_k for w_jk, a_k in zip(row, a)), b_j) for row, b_j in zip(W, b)]
            a = [getattr(z_j, name)() for z_j in z]
        for a_j, y in zip(a, Y[:, i]):
            y = float(y)
            if loss == "mse":
                total = total + (a_j - y) ** 2
            else:
                total = total - (y * a_j.log() + (1.0 - y) * (1.0 - a_j).log())
    J = total * (1.0 / m)
    J.backward()
    return [
        (np.array([[w.grad for w in row] for row in W]), np.array([b_j.grad for b_j in b]))
        for W, b in zip(weights, biases)
    ]


def grad_assigned_not_accumulated(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """The engine's product assigns ``grad =`` where it must accumulate ``grad +=``.

    A weight enters one product per sample, so every dW keeps one sample's term (m > 1). A hidden
    activation enters one product per unit of the next layer, so its gradient keeps one unit's
    term: every db below a layer with more than one unit is off. With bce the output a enters
    log(a) and 1 - a (a product by -1), so every db is off too.
    """
    return gradients_by_autograd(params, X, Y, activations, loss, value=OverwritingValue)
