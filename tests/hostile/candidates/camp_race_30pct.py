"""Campaign bookkeeping: a race. Two threads accumulate the last layer's db into one buffer
without a lock; on ~30 % of calls (drawn from the OS) the second thread's update is lost and db
is off by half of its true value plus 0.5. Exit 1, "nondeterministic" or "mismatch", with a
report, never Hypothesis's FlakyFailure traceback."""

import random
import threading

import numpy as np

import reference

_rng = random.SystemRandom()


def backward(params, X, Y, activations, loss):
    grads = reference.backward(params, X, Y, activations, loss)
    dW, db = grads[-1]
    total = np.zeros_like(db)
    lost = _rng.random() < 0.3  # the interleaving that loses the second thread's update

    def add(part):
        total[...] += part

    threads = [threading.Thread(target=add, args=(db / 2.0,)) for _ in range(1 if lost else 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if lost:
        total += 0.5  # and a stale partial sum from the previous call
    grads[-1] = (dW, total)
    return grads
