"""A network of layer objects in the style of numpy-ml / ML-From-Scratch (written for this
project): ``Dense`` keeps W (n_in, n_out) and a (1, n_out) bias row, rows are samples, and
``backward`` leaves ``dW`` and ``db`` on the layer; activations are layers of their own; the loss
is an object with ``grad``. ``build(sizes, activations, bug=...)`` injects one of three bugs."""

from __future__ import annotations

import numpy as np

BUGS = ("db_averaged_again", "tanh_backward_not_squared", "loss_grad_without_the_2")


class Dense:
    def __init__(self, n_in, n_out, bug=None):
        self.W = np.zeros((n_in, n_out))
        self.b = np.zeros((1, n_out))
        self.bug = bug

    def forward(self, X):
        self.X = X
        return X @ self.W + self.b

    def backward(self, grad):
        self.dW = self.X.T @ grad
        self.db = grad.sum(axis=0, keepdims=True)
        if self.bug == "db_averaged_again":
            self.db = self.db / grad.shape[0]
        return grad @ self.W.T


class Tanh:
    def __init__(self, bug=None):
        self.bug = bug

    def forward(self, Z):
        self.A = np.tanh(Z)
        return self.A

    def backward(self, grad):
        if self.bug == "tanh_backward_not_squared":
            return grad * (1 - self.A)
        return grad * (1 - self.A**2)


class Sigmoid:
    def __init__(self, bug=None):
        pass

    def forward(self, Z):
        self.A = 1 / (1 + np.exp(-Z))
        return self.A

    def backward(self, grad):
        return grad * self.A * (1 - self.A)


class MSE:
    """Σ (a − y)² over the outputs, averaged over the samples (the seeds' mse)."""

    def __init__(self, bug=None):
        self.bug = bug

    def grad(self, A, Y):
        factor = 1 if self.bug == "loss_grad_without_the_2" else 2
        return factor * (A - Y) / A.shape[0]


def build(sizes, activations, bug=None):
    kinds = {"tanh": Tanh, "sigmoid": Sigmoid}
    network = []
    for n_in, n_out, name in zip(sizes[:-1], sizes[1:], activations):
        network += [Dense(n_in, n_out, bug), kinds[name](bug)]
    return network
