"""Process-level: allocates a 50 GiB bytearray (refused by the kernel or by the worker's
address-space limit: MemoryError). Exit 1, "memory"."""


def backward(params, X, Y, activations, loss):
    hog = bytearray(50 * 2**30)
    return [hog]
