"""A per-sample backprop in the style of Nielsen's network.py (written for this project): a
Network object keeps ``weights`` (n_l, n_{l-1}) and column ``biases`` (n_l, 1); ``backprop(x, y)``
takes one sample's columns and returns ``(nabla_b, nabla_w)`` of the quadratic cost ½‖a − y‖²
with sigmoid in every layer. ``Network(sizes, bug=...)`` injects one of three bugs."""

from __future__ import annotations

import numpy as np

BUGS = ("sigmoid_prime_is_sigmoid", "output_delta_without_sigma_prime", "cost_derivative_flipped")


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Network:
    def __init__(self, sizes=(2, 3, 1), bug=None):
        rng = np.random.default_rng(0)
        self.sizes = list(sizes)
        self.biases = [rng.standard_normal((y, 1)) for y in sizes[1:]]
        self.weights = [rng.standard_normal((y, x)) for x, y in zip(sizes[:-1], sizes[1:])]
        self.bug = bug

    def sigmoid_prime(self, z):
        if self.bug == "sigmoid_prime_is_sigmoid":
            return sigmoid(z)
        return sigmoid(z) * (1 - sigmoid(z))

    def cost_derivative(self, output_activations, y):
        if self.bug == "cost_derivative_flipped":
            return y - output_activations
        return output_activations - y

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = self.cost_derivative(activations[-1], y)
        if self.bug != "output_delta_without_sigma_prime":
            delta = delta * self.sigmoid_prime(zs[-1])
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, len(self.sizes)):
            z = zs[-l]
            sp = self.sigmoid_prime(z)
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sp
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return (nabla_b, nabla_w)
