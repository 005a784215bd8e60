"""Outputs that lie: every layer's pair is a tuple subclass whose indexing (`pair[0]`) gives the
true gradient but whose unpacking (`dW, db = pair`, what `for dW, db in grads: W -= lr * dW`
applies) gives a gradient off by +1. A harness that judges `pair[0]` passes it. Exit 1 (a
"mismatch" read by unpacking, or the lying type refused as "dtype"/"count"/"shape")."""

import reference


class Pair(tuple):
    def __new__(cls, indexed, unpacked):
        pair = super().__new__(cls, indexed)
        pair.unpacked = tuple(unpacked)
        return pair

    def __iter__(self):
        return iter(self.unpacked)


def backward(params, X, Y, activations, loss):
    grads = reference.backward(params, X, Y, activations, loss)
    return [Pair((dW, db), (dW + 1.0, db + 1.0)) for dW, db in grads]
