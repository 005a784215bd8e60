"""Backprops built from layer objects, each with its own ``forward`` and ``backward``.

The design of most from-scratch tutorials: a `Dense` layer caches its input and, given dJ_dZ,
stores ``dW = dJ_dZ A_prev^T`` and ``db = Σ_samples dJ_dZ`` and returns ``W^T dJ_dZ``; an
activation layer caches Z and returns ``dJ_dA ⊙ g'(Z)``; a loss object turns (A, Y) into
dJ/dA^(L) (with the 1/m). A `Sequential` runs them forward, then backward in reverse.

The classes here are correct; `tests.meta.correct` uses them as they are. Each plug-in below
swaps in one subclass (or adds one step) with one bug, marked ``# BUG:``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ACTIVATION_LAYERS",
    "LOSSES",
    "Dense",
    "Sequential",
    "relu_prime_is_z",
    "returns_update_step",
    "step_mutates_params",
    "update_before_propagate",
]

Array = NDArray[np.float64]
Params = Sequence[tuple[Array, Array]]
Grads = list[tuple[Array, Array]]

LEARNING_RATE = 0.1


class Dense:
    """Z = W A_prev + b. Keeps W and b as given (no copy), like most tutorials."""

    def __init__(self, W: Array, b: Array):
        self.W, self.b = W, b

    def forward(self, A_prev: Array) -> Array:
        self.A_prev = A_prev
        return self.W @ A_prev + self.b[:, None]

    def backward(self, dJ_dZ: Array) -> Array:
        self.dW = dJ_dZ @ self.A_prev.T
        self.db = dJ_dZ.sum(axis=1)
        return self.W.T @ dJ_dZ


class Activation:
    def forward(self, Z: Array) -> Array:
        self.Z = Z
        return self.g(Z)

    def backward(self, dJ_dA: Array) -> Array:
        return dJ_dA * self.g_prime(self.Z)

    def g(self, Z: Array) -> Array:
        raise NotImplementedError

    def g_prime(self, Z: Array) -> Array:
        raise NotImplementedError


class Sigmoid(Activation):
    def g(self, Z: Array) -> Array:
        return np.asarray(np.exp(-np.logaddexp(0.0, -Z)))

    def g_prime(self, Z: Array) -> Array:
        s = self.g(Z)
        return s * (1.0 - s)


class Tanh(Activation):
    def g(self, Z: Array) -> Array:
        return np.tanh(Z)

    def g_prime(self, Z: Array) -> Array:
        return 1.0 - np.tanh(Z) ** 2


class ReLU(Activation):
    def g(self, Z: Array) -> Array:
        return np.maximum(Z, 0.0)

    def g_prime(self, Z: Array) -> Array:
        return (Z > 0).astype(np.float64)


class LeakyReLU(Activation):
    slope = 0.01

    def g(self, Z: Array) -> Array:
        return np.where(Z > 0, Z, self.slope * Z)

    def g_prime(self, Z: Array) -> Array:
        return np.where(Z > 0, 1.0, self.slope)


class Identity(Activation):
    def g(self, Z: Array) -> Array:
        return Z

    def g_prime(self, Z: Array) -> Array:
        return np.ones_like(Z)


class Softplus(Activation):
    def g(self, Z: Array) -> Array:
        return np.logaddexp(0.0, Z)

    def g_prime(self, Z: Array) -> Array:
        return np.asarray(np.exp(-np.logaddexp(0.0, -Z)))


ACTIVATION_LAYERS: dict[str, type[Activation]] = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "identity": Identity,
    "softplus": Softplus,
}


class MSE:
    def backward(self, A: Array, Y: Array) -> Array:
        return 2.0 * (A - Y) / Y.shape[1]


class BCE:
    def backward(self, A: Array, Y: Array) -> Array:
        return -(Y / A - (1.0 - Y) / (1.0 - A)) / Y.shape[1]


LOSSES: dict[str, type[MSE] | type[BCE]] = {"mse": MSE, "bce": BCE}


class Sequential:
    """Dense, activation, Dense, activation, ...; ``dense`` are the Dense layers in order."""

    def __init__(
        self,
        params: Params,
        activations: Sequence[str],
        dense: type[Dense] = Dense,
        activation_layers: dict[str, type[Activation]] = ACTIVATION_LAYERS,
    ):
        self.dense = [dense(W, b) for W, b in params]
        self.layers: list[Dense | Activation] = []
        for layer, name in zip(self.dense, activations):
            self.layers += [layer, activation_layers[name]()]

    def forward(self, X: Array) -> Array:
        A = X
        for layer in self.layers:
            A = layer.forward(A)
        return A

    def backward(self, dJ_dA: Array) -> None:
        for layer in reversed(self.layers):
            dJ_dA = layer.backward(dJ_dA)

    def gradients(self) -> Grads:
        return [(layer.dW, layer.db) for layer in self.dense]


class ReLUPrimeIsZ(ReLU):
    def g_prime(self, Z: Array) -> Array:
        return np.where(Z > 0, Z, 0.0)  # BUG: relu'(z) is 1 for z > 0, not z


def relu_prime_is_z(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """ReLU.backward multiplies by z where z > 0 (the activation itself) instead of by 1.

    Lives in the topmost relu layer (where some z > 0) and every layer below it.
    """
    net = Sequential(
        params, activations, activation_layers={**ACTIVATION_LAYERS, "relu": ReLUPrimeIsZ}
    )
    net.backward(LOSSES[loss]().backward(net.forward(X), Y))
    return net.gradients()


class SGDDense(Dense):
    """A Dense layer that holds its own optimizer step."""

    def backward(self, dJ_dZ: Array) -> Array:
        dJ_dA_prev = super().backward(dJ_dZ)
        # BUG: stores the update -lr·∇ where the gradient ∇ belongs
        self.dW, self.db = -LEARNING_RATE * self.dW, -LEARNING_RATE * self.db
        return dJ_dA_prev


def returns_update_step(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """Returns the SGD update -lr·dJ/dθ (lr = 0.1) instead of the gradient dJ/dθ.

    Every tensor of every layer is the gradient scaled by -0.1.
    """
    net = Sequential(params, activations, dense=SGDDense)
    net.backward(LOSSES[loss]().backward(net.forward(X), Y))
    return net.gradients()


class EagerDense(Dense):
    """A Dense layer that steps as soon as it knows its gradient."""

    def backward(self, dJ_dZ: Array) -> Array:
        self.dW = dJ_dZ @ self.A_prev.T
        self.db = dJ_dZ.sum(axis=1)
        self.W = self.W - LEARNING_RATE * self.dW
        return self.W.T @ dJ_dZ  # BUG: propagates through the updated W, not the W of the forward


def update_before_propagate(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """Each layer updates its W before sending dJ_dA back through it.

    The top layer is right; every layer below it is differentiated through a W that has
    already moved by -0.1·dW (a new array: the caller's W is untouched).
    """
    net = Sequential(params, activations, dense=EagerDense)
    net.backward(LOSSES[loss]().backward(net.forward(X), Y))
    return net.gradients()


def step_mutates_params(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """A training step fused into backward: after the gradients, W -= lr·dW in place.

    The returned gradients are right, but Dense keeps the caller's arrays, so the caller's
    parameters have moved: the whole call mutates its inputs.
    """
    net = Sequential(params, activations)
    net.backward(LOSSES[loss]().backward(net.forward(X), Y))
    for layer in net.dense:
        layer.W -= LEARNING_RATE * layer.dW  # BUG: in place on the caller's W (and b below)
        layer.b -= LEARNING_RATE * layer.db
    return net.gradients()
