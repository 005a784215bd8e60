"""Backprops with their caches and gradients kept in dicts keyed ``"Z1"``, ``"A0"``, ``"dW2"``.

The style of many course notebooks: ``parameters = {"W1": ..., "b1": ...}`` with biases as
(n_l, 1) columns, a forward pass that fills ``cache["Z{l}"]`` and ``cache["A{l}"]``
(``cache["A0"] = X``), and a backward pass that fills ``grads["dA{l}"]``, ``grads["dW{l}"]``,
``grads["db{l}"]``. Here dJ_dA carries no 1/m: the 1/m is applied where dW and db are formed,
``dW = (1/m) dZ A_prev^T``, ``db = (1/m) Σ_samples dZ``. The plug-in turns the contract's (n_l,)
biases into columns on the way in and back on the way out.

The toolbox (`parameters_from`, `forward_propagation`, `backward_propagation`) is correct;
`tests.meta.correct` uses it without a bug. Each function below has one, marked ``# BUG:``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "backward_propagation",
    "dW_not_averaged",
    "dW_uses_own_activation",
    "db_left_as_column",
    "dropout_left_on",
    "forward_propagation",
    "parameters_from",
]

Array = NDArray[np.float64]
Params = Sequence[tuple[Array, Array]]
Grads = list[tuple[Array, Array]]


def sigmoid(Z: Array) -> Array:
    e = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_backward(dA: Array, Z: Array) -> Array:
    s = sigmoid(Z)
    return dA * s * (1 - s)


def tanh_backward(dA: Array, Z: Array) -> Array:
    return dA * (1 - np.tanh(Z) ** 2)


def relu_backward(dA: Array, Z: Array) -> Array:
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


def leaky_relu_backward(dA: Array, Z: Array) -> Array:
    return np.where(Z > 0, dA, 0.01 * dA)


def identity_backward(dA: Array, Z: Array) -> Array:
    return dA


def softplus_backward(dA: Array, Z: Array) -> Array:
    return dA * sigmoid(Z)


FORWARD: dict[str, Callable[[Array], Array]] = {
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "relu": lambda Z: np.maximum(0, Z),
    "leaky_relu": lambda Z: np.where(Z > 0, Z, 0.01 * Z),
    "identity": lambda Z: Z,
    "softplus": lambda Z: np.logaddexp(0, Z),
}

BACKWARD: dict[str, Callable[[Array, Array], Array]] = {
    "sigmoid": sigmoid_backward,
    "tanh": tanh_backward,
    "relu": relu_backward,
    "leaky_relu": leaky_relu_backward,
    "identity": identity_backward,
    "softplus": softplus_backward,
}


def parameters_from(params: Params) -> dict[str, Array]:
    """The contract's [(W1, b1), ...] as {"W1": W1, "b1": b1 as a column, ...}."""
    parameters = {}
    for l, (W, b) in enumerate(params, start=1):
        parameters[f"W{l}"] = W
        parameters[f"b{l}"] = b.reshape(-1, 1)
    return parameters


def forward_propagation(
    X: Array, parameters: dict[str, Array], activations: Sequence[str]
) -> dict[str, Array]:
    cache = {"A0": X}
    for l, name in enumerate(activations, start=1):
        cache[f"Z{l}"] = parameters[f"W{l}"] @ cache[f"A{l - 1}"] + parameters[f"b{l}"]
        cache[f"A{l}"] = FORWARD[name](cache[f"Z{l}"])
    return cache


def output_dA(AL: Array, Y: Array, loss: str) -> Array:
    """dC/dA^(L) per sample, without the 1/m (applied at dW and db)."""
    if loss == "mse":
        return 2 * (AL - Y)
    return -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))


def backward_propagation(
    parameters: dict[str, Array],
    cache: dict[str, Array],
    Y: Array,
    activations: Sequence[str],
    loss: str,
) -> dict[str, Array]:
    L = len(activations)
    m = Y.shape[1]
    grads = {f"dA{L}": output_dA(cache[f"A{L}"], Y, loss)}
    for l in reversed(range(1, L + 1)):
        dZ = BACKWARD[activations[l - 1]](grads[f"dA{l}"], cache[f"Z{l}"])
        grads[f"dW{l}"] = (1 / m) * dZ @ cache[f"A{l - 1}"].T
        grads[f"db{l}"] = (1 / m) * np.sum(dZ, axis=1, keepdims=True)
        grads[f"dA{l - 1}"] = parameters[f"W{l}"].T @ dZ
    return grads


def dW_not_averaged(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """dW without the 1/m (db has it): every weight gradient is m times too large.

    Every dW of every layer is off; every db is right.
    """
    parameters = parameters_from(params)
    cache = forward_propagation(X, parameters, activations)
    L, m = len(activations), Y.shape[1]
    grads = {f"dA{L}": output_dA(cache[f"A{L}"], Y, loss)}
    for l in reversed(range(1, L + 1)):
        dZ = BACKWARD[activations[l - 1]](grads[f"dA{l}"], cache[f"Z{l}"])
        grads[f"dW{l}"] = dZ @ cache[f"A{l - 1}"].T  # BUG: (1 / m) * dZ @ A_prev.T
        grads[f"db{l}"] = (1 / m) * np.sum(dZ, axis=1, keepdims=True)
        grads[f"dA{l - 1}"] = parameters[f"W{l}"].T @ dZ
    return [(grads[f"dW{l}"], grads[f"db{l}"].reshape(-1)) for l in range(1, L + 1)]


def dW_uses_own_activation(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """dW^(l) formed with the layer's own activation: ``cache[f"A{l}"]`` for ``cache[f"A{l-1}"]``.

    An off-by-one in a cache key. numpy only lets it through when every layer is square
    (declared to run only where all widths are equal); then every dW is off and every db right.
    """
    parameters = parameters_from(params)
    cache = forward_propagation(X, parameters, activations)
    L, m = len(activations), Y.shape[1]
    grads = {f"dA{L}": output_dA(cache[f"A{L}"], Y, loss)}
    for l in reversed(range(1, L + 1)):
        dZ = BACKWARD[activations[l - 1]](grads[f"dA{l}"], cache[f"Z{l}"])
        grads[f"dW{l}"] = (1 / m) * dZ @ cache[f"A{l}"].T  # BUG: the key is f"A{l - 1}"
        grads[f"db{l}"] = (1 / m) * np.sum(dZ, axis=1, keepdims=True)
        grads[f"dA{l - 1}"] = parameters[f"W{l}"].T @ dZ
    return [(grads[f"dW{l}"], grads[f"db{l}"].reshape(-1)) for l in range(1, L + 1)]


def db_left_as_column(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """The bias gradients are returned as the (n_l, 1) columns the dict code works with.

    The values are right, but every db has shape (n_l, 1) where the contract says (n_l,):
    a shape finding on every bias, never broadcast away.
    """
    parameters = parameters_from(params)
    cache = forward_propagation(X, parameters, activations)
    grads = backward_propagation(parameters, cache, Y, activations, loss)
    L = len(activations)
    return [(grads[f"dW{l}"], grads[f"db{l}"]) for l in range(1, L + 1)]  # BUG: db.reshape(-1)


_DROP_RATE = 0.2
_NOISE_STD = float(np.sqrt(_DROP_RATE / (1 - _DROP_RATE)))  # Gaussian dropout's σ for rate p
_rng = np.random.default_rng()  # not seeded: every call draws new noise


def dropout_left_on(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """Gaussian dropout (rate 0.2) on the hidden layers, left on while computing the gradient.

    Each hidden activation is multiplied by noise D ~ N(1, p/(1 - p)) (the continuous form of
    dropout; a Bernoulli mask of a tiny net repeats itself too often to be a reliable example).
    Each call draws new noise: two calls on the same inputs disagree (nondeterministic), and the
    first call's values are the gradient of a noisy network, so every tensor of every layer is
    off too. A one-layer net has no hidden layer (declared to run only at depth >= 2).
    """
    parameters = parameters_from(params)
    L, m = len(activations), Y.shape[1]
    cache = {"A0": X}
    for l, name in enumerate(activations, start=1):
        cache[f"Z{l}"] = parameters[f"W{l}"] @ cache[f"A{l - 1}"] + parameters[f"b{l}"]
        A = FORWARD[name](cache[f"Z{l}"])
        if l < L:
            # BUG: dropout belongs to training; a gradient check needs it off
            cache[f"D{l}"] = 1 + _NOISE_STD * _rng.standard_normal(A.shape)
            A = A * cache[f"D{l}"]
        cache[f"A{l}"] = A
    grads = {f"dA{L}": output_dA(cache[f"A{L}"], Y, loss)}
    for l in reversed(range(1, L + 1)):
        if l < L:
            grads[f"dA{l}"] = grads[f"dA{l}"] * cache[f"D{l}"]
        dZ = BACKWARD[activations[l - 1]](grads[f"dA{l}"], cache[f"Z{l}"])
        grads[f"dW{l}"] = (1 / m) * dZ @ cache[f"A{l - 1}"].T
        grads[f"db{l}"] = (1 / m) * np.sum(dZ, axis=1, keepdims=True)
        grads[f"dA{l - 1}"] = parameters[f"W{l}"].T @ dZ
    return [(grads[f"dW{l}"], grads[f"db{l}"].reshape(-1)) for l in range(1, L + 1)]
