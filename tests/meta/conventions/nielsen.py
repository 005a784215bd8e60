"""A sigmoid network with the quadratic cost, written the way Nielsen's *Neural Networks and Deep
Learning* (network.py) writes it: one training example at a time, column vectors, lists
``nabla_b`` / ``nabla_w`` summed over the mini-batch.

The cost of one example is ``C_x = ½‖a - y‖²``, so ``cost_derivative = a - y`` and::

    delta = (a - y) * sigmoid_prime(z_L)
    nabla_b[-1] = delta;  nabla_w[-1] = delta @ a_prev.T
    delta = (W_next.T @ delta) * sigmoid_prime(z)        # for the layers below

`half_mse_sum` returns Σ_x ∇C_x, the gradient of ``Σ_x ½‖a - y‖²``: in the harness's terms
``Loss("mse", half=True, reduction="sum")``. `half_mse_mean` divides by ``len(mini_batch)``
(the ``eta / len(mini_batch)`` of ``update_mini_batch``), ``Loss("mse", half=True)``. Both are
right for their own convention; a test that declares another one (plain mse) must see the factor
and name the ½.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["half_mse_mean", "half_mse_sum"]

Array = NDArray[np.float64]
Params = Sequence[tuple[Array, Array]]
Grads = list[tuple[Array, Array]]


def sigmoid(z: Array) -> Array:
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def sigmoid_prime(z: Array) -> Array:
    """Derivative of the sigmoid function."""
    return sigmoid(z) * (1 - sigmoid(z))


def cost_derivative(output_activations: Array, y: Array) -> Array:
    """∂C_x/∂a for C_x = ½‖a - y‖²."""
    return output_activations - y


def backprop(
    biases: list[Array], weights: list[Array], x: Array, y: Array
) -> tuple[list[Array], list[Array]]:
    """(nabla_b, nabla_w): the gradient of C_x for one example, layer by layer."""
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(w.shape) for w in weights]
    # feedforward
    activation = x
    activations = [x]  # list to store all the activations, layer by layer
    zs = []  # list to store all the z vectors, layer by layer
    for b, w in zip(biases, weights):
        z = np.dot(w, activation) + b
        zs.append(z)
        activation = sigmoid(z)
        activations.append(activation)
    # backward pass
    delta = cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])
    nabla_b[-1] = delta
    nabla_w[-1] = np.dot(delta, activations[-2].transpose())
    num_layers = len(weights) + 1
    for l in range(2, num_layers):
        z = zs[-l]
        sp = sigmoid_prime(z)
        delta = np.dot(weights[-l + 1].transpose(), delta) * sp
        nabla_b[-l] = delta
        nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
    return nabla_b, nabla_w


def _summed(params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str) -> Grads:
    if loss != "mse" or any(name != "sigmoid" for name in activations):
        raise NotImplementedError("sigmoid layers and the quadratic cost only")
    biases = [b.reshape(-1, 1) for _, b in params]
    weights = [w for w, _ in params]
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(w.shape) for w in weights]
    mini_batch = [(x.reshape(-1, 1), y.reshape(-1, 1)) for x, y in zip(X.T, Y.T)]
    for x, y in mini_batch:
        delta_nabla_b, delta_nabla_w = backprop(biases, weights, x, y)
        nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
        nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
    return [(nw, nb.ravel()) for nw, nb in zip(nabla_w, nabla_b)]


def half_mse_sum(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """Correct for Σ_x ½‖a - y‖²: Loss("mse", half=True, reduction="sum")."""
    return _summed(params, X, Y, activations, loss)


def half_mse_mean(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """Correct for (1/n) Σ_x ½‖a - y‖²: Loss("mse", half=True)."""
    n = X.shape[1]
    return [(nw / n, nb / n) for nw, nb in _summed(params, X, Y, activations, loss)]
