"""Loading: there is no `backward` here (only `forward`). Exit 2, "could not load"."""


def forward(params, X, activations):
    return X
