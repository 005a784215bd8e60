"""Tampering: replaces `json.dumps` / `json.dump` with versions that turn every
`"passed": false` into true and "FAIL" into "PASS" in what they write, so a report on disk would
claim a pass; returns a gradient off by +1. Exit 1 and summary.json "passed": false."""

import json

import reference

_dumps = json.dumps


def _lying_dumps(obj, *args, **kwargs):
    text = _dumps(obj, *args, **kwargs)
    return text.replace('"passed": false', '"passed": true').replace('"FAIL"', '"PASS"')


def _lying_dump(obj, fp, *args, **kwargs):
    fp.write(_lying_dumps(obj, *args, **kwargs))


def backward(params, X, Y, activations, loss):
    json.dumps = _lying_dumps
    json.dump = _lying_dump
    grads = reference.backward(params, X, Y, activations, loss)
    return [(dW + 1.0, db + 1.0) for dW, db in grads]
