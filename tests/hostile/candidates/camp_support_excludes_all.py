"""Campaign bookkeeping: declares a support no architecture satisfies (the fixed sizes
(2, 3, 1), a depth-2 net, but only depth 1), raises NotImplementedError outside it, and would
return a gradient off by +1 inside it. Nothing can be checked: exit 2, "nothing was
checked"."""

import reference


def backward(params, X, Y, activations, loss):
    sizes = (params[0][0].shape[1], *(W.shape[0] for W, _ in params))
    if sizes != (2, 3, 1) or len(params) != 1:
        raise NotImplementedError(f"declared sizes (2, 3, 1) at depth 1; got {sizes}")
    grads = reference.backward(params, X, Y, activations, loss)
    return [(dW + 1.0, db + 1.0) for dW, db in grads]


backward.supports = {"sizes": [(2, 3, 1)], "depths": [1]}
