"""Control: correct; computes on a thread it starts and joins (a "parallel" backprop). PASS."""

import threading

import reference


def backward(params, X, Y, activations, loss):
    box = {}

    def work():
        box["grads"] = reference.backward(params, X, Y, activations, loss)

    thread = threading.Thread(target=work, name="my-backprop-thread")
    thread.start()
    thread.join()
    return box["grads"]
