"""A two-layer classifier in cs231n's style (written for this project): parameters in a dict
``params`` with W stored (n_in, n_out), rows as samples, integer class labels, an
affine-relu-affine-softmax network, cross-entropy averaged over the batch plus
``0.5 * reg * Σ W²``. ``TwoLayerNet(bug=...)`` injects one of three bugs."""

from __future__ import annotations

import numpy as np

BUGS = ("l2_gradient_missing", "scores_gradient_not_averaged", "relu_backward_missing")


class TwoLayerNet:
    def __init__(self, input_size=3, hidden_size=4, num_classes=2, reg=0.1, bug=None):
        rng = np.random.default_rng(0)
        self.params = {
            "W1": 1e-1 * rng.standard_normal((input_size, hidden_size)),
            "b1": np.zeros(hidden_size),
            "W2": 1e-1 * rng.standard_normal((hidden_size, num_classes)),
            "b2": np.zeros(num_classes),
        }
        self.reg = reg
        self.bug = bug

    def loss(self, X, y):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        N = X.shape[0]
        hidden = np.maximum(0, X @ W1 + b1)
        scores = hidden @ W2 + b2
        shifted = scores - scores.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(N), y]).mean()
        loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))

        dscores = probs.copy()
        dscores[np.arange(N), y] -= 1
        if self.bug != "scores_gradient_not_averaged":
            dscores /= N
        grads = {"W2": hidden.T @ dscores, "b2": dscores.sum(axis=0)}
        dhidden = dscores @ W2.T
        if self.bug != "relu_backward_missing":
            dhidden[hidden <= 0] = 0
        grads["W1"] = X.T @ dhidden
        grads["b1"] = dhidden.sum(axis=0)
        if self.bug != "l2_gradient_missing":
            grads["W2"] += self.reg * W2
            grads["W1"] += self.reg * W1
        return loss, grads
