"""reference/'s own input errors: paths the verification campaign never reaches (the harness
validates every problem before calling a candidate), so they are tested here directly. This also
kills the mutation session's 'gap' survivors (tests/mutation/survivors.py)."""

from __future__ import annotations

import numpy as np
import pytest

import reference

W = np.ones((1, 2))
b = np.zeros(1)
X = np.ones((2, 3))
Y = np.zeros((1, 3))


@pytest.mark.parametrize(
    ("activations", "loss", "message"),
    [
        (("sigmod",), "mse", "unknown activation 'sigmod'; known: sigmoid, tanh, relu, leaky_relu, "
                             "identity, softplus, elu, silu, gelu, softmax, leaky_relu(α) for a "
                             "slope α > 0"),
        (("tanh",), "bce", "loss 'bce' needs a sigmoid output layer"),
        (("sigmoid",), "hinge", "unknown loss 'hinge'; known: mse, bce, cross_entropy"),
    ],
    ids=["unknown-activation", "bce-without-sigmoid", "unknown-loss"],
)  # fmt: skip
def test_reference_names_its_bad_input(activations: tuple[str], loss: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        reference.backward([(W, b)], X, Y, activations, loss)
    assert type(raised.value) is ValueError
    assert str(raised.value) == message


def test_reference_forward_refuses_an_unknown_activation() -> None:
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        reference.forward([(W, b)], X, ["swish"])
