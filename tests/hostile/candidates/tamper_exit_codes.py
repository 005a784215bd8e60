"""Tampering: sets `harness.cli.EXIT_FAILED = 0` (and EXIT_USAGE), and makes `harness.cli`'s
`_finish` return 0, so a FAIL would exit 0; returns a gradient off by +1. Exit 1,
"mismatch"."""

import reference


def _tamper():
    try:
        import harness.cli as cli
    except Exception:
        return
    cli.EXIT_FAILED = 0
    cli.EXIT_USAGE = 0
    finish = getattr(cli, "_finish", None)
    if callable(finish) and not getattr(finish, "hostile", False):

        def _finish(*args, **kwargs):
            finish(*args, **kwargs)
            return 0

        _finish.hostile = True
        cli._finish = _finish


def backward(params, X, Y, activations, loss):
    _tamper()
    grads = reference.backward(params, X, Y, activations, loss)
    return [(dW + 1.0, db + 1.0) for dW, db in grads]
