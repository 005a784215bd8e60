"""Tampering: patches the verdict types themselves, `harness.case.CaseResult.passed` and the
check report's `passed` (harness.auditing / harness.audit), to always be True; returns a
gradient off by +1. Exit 1, "mismatch"."""

import importlib

import reference


def _tamper():
    always = property(lambda self: True)
    for module_name, class_name in (
        ("harness.case", "CaseResult"),
        ("harness.auditing", "CheckReport"),
        ("harness.auditing", "AuditReport"),
        ("harness.audit", "CheckReport"),
    ):
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
            cls.passed = always
        except Exception:
            pass


def backward(params, X, Y, activations, loss):
    _tamper()
    grads = reference.backward(params, X, Y, activations, loss)
    return [(dW + 1.0, db + 1.0) for dW, db in grads]
