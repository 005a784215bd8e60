"""Mutant backprops: the correct chain with one bug, each a hypothesis about how a candidate
got its values (a missing or misused g', a neighbouring layer's W, Z or A).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from harness.diagnose.chain import Chain
from harness.diagnose.derivatives import COUPLED, G_PRIME, g_prime, mistyped
from harness.network import Array

__all__ = ["Mutant", "mutants"]


@dataclass(frozen=True)
class Mutant:
    """What replaces g'_k, W_(k+1) in dJ_dA_k = W_(k+1)^T dJ_dZ_(k+1), A_(k-1) in dW_k."""

    pattern: str
    text: str  # may hold {layers} and {names}: the mutated layers the tensor depends on
    function: str | None = None
    every_layer: bool = False  # the "written once in the loop" variant
    g_prime: dict[int, Array] = field(default_factory=dict)
    sum_W: dict[int, Array] = field(default_factory=dict)  # noqa: N815
    A_prev: dict[int, Array] = field(default_factory=dict)

    def relevant(self, l: int, param: str) -> list[int]:
        layers = {k for k in (*self.g_prime, *self.sum_W) if k >= l}
        return sorted(layers | ({l} if param == "W" and l in self.A_prev else set()))


def _substitutions(
    c: Chain, pattern: str, replace: Callable[[int], Array | None], text: str, function: str | None
) -> list[Mutant]:
    """g'_k replaced by ``replace(k)`` at each layer alone, then at all of them at once."""
    new = {}
    for k in c.Z:
        value = replace(k)
        if value is not None and not (k in c.g_prime and np.array_equal(value, c.g_prime[k])):
            new[k] = value
    out = [
        Mutant(pattern, text, function or c.names[k - 1], g_prime={k: value})
        for k, value in new.items()
    ]
    if len(new) > 1:
        out.append(Mutant(pattern, text, function, every_layer=True, g_prime=new))
    return out


def g_prime_mutants(c: Chain) -> list[Mutant]:
    def ones(k: int) -> Array:
        return np.ones_like(c.Z[k])

    def at_A(k: int) -> Array | None:
        name = c.names[k - 1]
        return None if name in COUPLED else g_prime(name)(c.A[k])

    out = _substitutions(
        c, "missing-activation-derivative", ones, "missing g' of {layers} ({names})", None
    )
    text = "g'(a) used where g'(z) belongs at {layers} ({names})"
    out += _substitutions(c, "derivative-at-activation", at_A, text, None)
    for own in dict.fromkeys(c.names):
        for formula, typo in mistyped(own).items():

            def replace_typo(
                k: int, own: str = own, typo: Callable[[Array], Array] = typo
            ) -> Array | None:
                return typo(c.Z[k]) if c.names[k - 1] == own else None

            text = f"{own}' written as {formula} at {{layers}}"
            out += _substitutions(c, "wrong-activation-derivative", replace_typo, text, formula)
        if own in COUPLED:
            continue  # another activation's elementwise g' is no mistake one makes for a Jacobian
        for other in G_PRIME:
            if other in (own, "identity"):
                continue

            def replace(k: int, own: str = own, other: str = other) -> Array | None:
                return G_PRIME[other](c.Z[k]) if c.names[k - 1] == own else None

            text = f"derivative matches {other}' instead of {own}' at {{layers}}"
            out += _substitutions(c, "wrong-activation-derivative", replace, text, other)
    return out


def shift_mutants(c: Chain) -> list[Mutant]:
    out: list[Mutant] = []
    L = len(c.names)
    for offset, label in ((0, "W(l)"), (2, "W(l+2)")):  # W_(k+offset) where W_(k+1) belongs
        sums = {
            k: c.W[k + offset]
            for k in range(1, L)
            if k + offset in c.W and c.W[k + offset].shape == c.W[k + 1].shape
        }
        for k, M in sums.items():
            text = f"backward sum into layer {k} uses W{k + offset} instead of W{k + 1}"
            out.append(Mutant("layer-shifted", text, sum_W={k: M}))
        if len(sums) > 1:
            text = f"backward sums into {{layers}} use {label} instead of W(l+1)"
            out.append(Mutant("layer-shifted", text, every_layer=True, sum_W=sums))
    for d, where in ((-1, "below"), (1, "above")):
        at_Z, whole = {}, {}  # g'_k at Z_(k+d); g'_(k+d)(Z_(k+d))
        for k in c.g_prime:
            j = k + d
            if j not in c.Z or c.Z[j].shape != c.Z[k].shape:
                continue
            at_Z[k] = g_prime(c.names[k - 1])(c.Z[j])
            text = f"g' of layer {k} evaluated at Z{j} instead of Z{k}"
            out.append(Mutant("layer-shifted", text, c.names[k - 1], g_prime={k: at_Z[k]}))
            if c.names[j - 1] != c.names[k - 1] and j in c.g_prime:
                whole[k] = c.g_prime[j]
                text = f"layer {j}'s g'(Z{j}) used in place of layer {k}'s"
                out.append(Mutant("layer-shifted", text, c.names[j - 1], g_prime={k: whole[k]}))
        for new, text in (
            (at_Z, f"g' of {{layers}} evaluated at the Z of the layer {where}"),
            (whole, f"{{layers}} use the g'(Z) of the layer {where}"),
        ):
            if len(new) > 1:
                out.append(Mutant("layer-shifted", text, every_layer=True, g_prime=new))
    for k in range(1, L + 1):
        for j in (k - 2, k):
            if j in c.A and c.A[j].shape == c.A[k - 1].shape:
                names = ["X" if i == 0 else f"A{i}" for i in (j, k - 1)]
                text = f"dW{k} uses {names[0]} instead of {names[1]}"
                out.append(Mutant("layer-shifted", text, A_prev={k: c.A[j]}))
    return out


def mutants(c: Chain) -> list[Mutant]:
    """Every mutant of ``c``, in the order they are tried."""
    return g_prime_mutants(c) + shift_mutants(c)
