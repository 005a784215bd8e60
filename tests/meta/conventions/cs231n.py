"""A softmax classifier with ReLU hidden layers and L2 regularization, written the cs231n way.

Inside, samples are rows (``X_r`` is (N, D)), a layer's weights are (fan_in, fan_out) and live in
a dict ``model = {"W1": ..., "b1": ...}``; the loss is the mean cross-entropy over the batch plus
``0.5 * reg * Σ W²`` (biases not regularized), so::

    scores = h @ W + b;  probs = softmax(scores, axis=1)
    dscores = probs - onehot;  dscores /= N
    dW = h.T @ dscores + reg * W;  db = dscores.sum(axis=0);  dh = dscores @ W.T;  dh[h <= 0] = 0

In the harness's terms that is ``NetworkSpec(sizes, ("relu", ..., "relu", "softmax"),
Loss("cross_entropy"), l2=REG)``: ``REG`` is this module's own constant, the test declares it.
The columns of Y are the one-hot labels. Every function implements that one convention and
refuses any other (`NotImplementedError`), as a classifier written for one job does.

`softmax_classifier` is right; each of the others has one bug, marked ``# BUG:``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "REG",
    "ce_missing_1_over_m",
    "l2_gradient_missing",
    "l2_half_kept",
    "softmax_classifier",
    "softmax_jacobian_diagonal",
]

Array = NDArray[np.float64]
Params = Sequence[tuple[Array, Array]]
Grads = list[tuple[Array, Array]]

#: The regularization strength: loss += 0.5 * REG * Σ_l Σ W_l².
REG = 1e-3


def _model(params: Params, activations: Sequence[str], loss: str) -> dict[str, Array]:
    if loss != "cross_entropy" or list(activations[:-1]) != ["relu"] * (len(activations) - 1):
        raise NotImplementedError(f"a ReLU softmax classifier, not {activations} with {loss}")
    if activations[-1] != "softmax":
        raise NotImplementedError("the scores go through a softmax")
    model = {}
    for i, (W, b) in enumerate(params, start=1):
        model[f"W{i}"] = W.T  # (fan_in, fan_out)
        model[f"b{i}"] = b
    return model


def _forward(model: dict[str, Array], X_r: Array, L: int) -> tuple[list[Array], Array]:
    """The hidden layers' outputs [X_r, h1, ...] and the class probabilities."""
    hidden = [X_r]
    for i in range(1, L):
        hidden.append(np.maximum(0, hidden[-1] @ model[f"W{i}"] + model[f"b{i}"]))
    scores = hidden[-1] @ model[f"W{L}"] + model[f"b{L}"]
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp_scores = np.exp(shifted)
    probs = exp_scores / exp_scores.sum(axis=1, keepdims=True)
    return hidden, probs


def _to_contract(grads: dict[str, Array], L: int) -> Grads:
    return [(grads[f"W{i}"].T.copy(), grads[f"b{i}"].copy()) for i in range(1, L + 1)]


def softmax_classifier(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """Correct: mean cross-entropy of the softmax scores plus 0.5·reg·ΣW², reg = REG."""
    model = _model(params, activations, loss)
    L = len(params)
    X_r, onehot = X.T, Y.T
    N = X_r.shape[0]
    hidden, probs = _forward(model, X_r, L)
    dscores = probs - onehot
    dscores /= N
    grads = {}
    dout = dscores
    for i in range(L, 0, -1):
        grads[f"W{i}"] = hidden[i - 1].T @ dout + REG * model[f"W{i}"]
        grads[f"b{i}"] = np.sum(dout, axis=0)
        if i > 1:
            dh = dout @ model[f"W{i}"].T
            dh[hidden[i - 1] <= 0] = 0
            dout = dh
    return _to_contract(grads, L)


def softmax_jacobian_diagonal(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """Through the softmax by its diagonal: dscores = dprobs · p(1 - p), as if it were a sigmoid.

    softmax couples the scores of a sample: ∂p_k/∂s_j = p_k(δ_kj - p_j). Every tensor of every
    layer is off (the output layer's holds the bug; the ones below inherit it).
    """
    model = _model(params, activations, loss)
    L = len(params)
    X_r, onehot = X.T, Y.T
    N = X_r.shape[0]
    hidden, probs = _forward(model, X_r, L)
    dprobs = -onehot / probs / N  # d(mean -log p_y)/dp
    dscores = dprobs * probs * (1 - probs)  # BUG: the Jacobian is diag(p) - p pᵀ, not diag(p(1-p))
    grads = {}
    dout = dscores
    for i in range(L, 0, -1):
        grads[f"W{i}"] = hidden[i - 1].T @ dout + REG * model[f"W{i}"]
        grads[f"b{i}"] = np.sum(dout, axis=0)
        if i > 1:
            dh = dout @ model[f"W{i}"].T
            dh[hidden[i - 1] <= 0] = 0
            dout = dh
    return _to_contract(grads, L)


def ce_missing_1_over_m(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """dscores = probs - onehot without the /N of the batch mean.

    The loss term of every gradient is N times too large; the reg·W term is right.
    """
    model = _model(params, activations, loss)
    L = len(params)
    X_r, onehot = X.T, Y.T
    hidden, probs = _forward(model, X_r, L)
    dscores = probs - onehot  # BUG: the loss is a mean over the batch: dscores /= N
    grads = {}
    dout = dscores
    for i in range(L, 0, -1):
        grads[f"W{i}"] = hidden[i - 1].T @ dout + REG * model[f"W{i}"]
        grads[f"b{i}"] = np.sum(dout, axis=0)
        if i > 1:
            dh = dout @ model[f"W{i}"].T
            dh[hidden[i - 1] <= 0] = 0
            dout = dh
    return _to_contract(grads, L)


def l2_gradient_missing(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """The regularization is in the loss but not in the gradient: dW without + reg·W.

    Every dW is off by -reg·W; the biases are right.
    """
    model = _model(params, activations, loss)
    L = len(params)
    X_r, onehot = X.T, Y.T
    N = X_r.shape[0]
    hidden, probs = _forward(model, X_r, L)
    dscores = probs - onehot
    dscores /= N
    grads = {}
    dout = dscores
    for i in range(L, 0, -1):
        grads[f"W{i}"] = hidden[i - 1].T @ dout  # BUG: + REG * model[f"W{i}"] missing
        grads[f"b{i}"] = np.sum(dout, axis=0)
        if i > 1:
            dh = dout @ model[f"W{i}"].T
            dh[hidden[i - 1] <= 0] = 0
            dout = dh
    return _to_contract(grads, L)


def l2_half_kept(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """The gradient of 0.5·reg·ΣW² written as 0.5·reg·W: the ½ kept.

    Every dW is off by -½·reg·W; the biases are right.
    """
    model = _model(params, activations, loss)
    L = len(params)
    X_r, onehot = X.T, Y.T
    N = X_r.shape[0]
    hidden, probs = _forward(model, X_r, L)
    dscores = probs - onehot
    dscores /= N
    grads = {}
    dout = dscores
    for i in range(L, 0, -1):
        grads[f"W{i}"] = hidden[i - 1].T @ dout + 0.5 * REG * model[f"W{i}"]  # BUG: reg * W
        grads[f"b{i}"] = np.sum(dout, axis=0)
        if i > 1:
            dh = dout @ model[f"W{i}"].T
            dh[hidden[i - 1] <= 0] = 0
            dout = dh
    return _to_contract(grads, L)
