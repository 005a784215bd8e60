"""Outputs that lie: a Sequence whose first read of each layer yields a pair off by +1 and
every later read the true pair. A harness that reads the output more than once (a validation
pass, a nondeterminism pass, then the comparison) judges the true values. Read once: exit 1
("mismatch", or "nondeterministic", or the type refused as "count"/"dtype")."""

from collections.abc import Sequence

import reference


class Lazy(Sequence):
    def __init__(self, right, wrong):
        self.right, self.wrong, self.reads = right, wrong, [0] * len(right)

    def __len__(self):
        return len(self.right)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        self.reads[index] += 1
        return self.wrong[index] if self.reads[index] == 1 else self.right[index]


def backward(params, X, Y, activations, loss):
    grads = reference.backward(params, X, Y, activations, loss)
    return Lazy(grads, [(dW + 1.0, db + 1.0) for dW, db in grads])
