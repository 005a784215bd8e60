"""A torch model, audited through `harness.adapters.from_torch`: does its forward pass, and so
torch.autograd's gradient of it, compute the network and loss of DESIGN.md?

``MLP`` is ordinary torch code: ``nn.Linear`` layers in a ``ModuleList`` and the activations
applied in ``forward``. `from_torch` builds one per architecture the harness draws (``make_mlp``),
copies each problem's weights into its ``nn.Linear`` layers (torch's weight is (out, in), the
harness's W), calls ``.backward()`` on the mse loss and hands the ``.grad`` to the harness.

Needs torch (on Linux, the CPU build: ``pip install torch --index-url
https://download.pytorch.org/whl/cpu``); without it this script says so and exits 0.

    python examples/torch_model.py                        # a short audit, exit 0 when it passes
    gradcheck-harness audit 'examples/torch_model.py:make()'
"""

from __future__ import annotations

import itertools
import sys


def make_mlp(sizes, activations):
    """The model for one architecture: ``sizes`` (n0, ..., nL), one activation name per layer."""
    import torch
    from torch import nn

    functions = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(
                nn.Linear(n_in, n_out) for n_in, n_out in itertools.pairwise(sizes)
            )
            self.activations = [functions[name] for name in activations]

        def forward(self, x):
            for layer, g in zip(self.layers, self.activations):
                x = g(layer(x))
            return x

    return MLP()


def make():
    """The adapted backward (torch is imported only here, so the file loads without it)."""
    from harness.adapters import from_torch

    supports = {"activations": ["tanh", "sigmoid", "relu"], "losses": ["mse"]}
    return from_torch(make_mlp, supports=supports)


if __name__ == "__main__":
    from harness import audit
    from harness.adapters import MissingDependencyError

    try:
        backward = make()
    except MissingDependencyError as error:
        print(f"skipped: {error}")
        sys.exit(0)
    report = audit(backward, examples=40, seed=0)
    print(report)
    sys.exit(0 if report.passed else 1)
