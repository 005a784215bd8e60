"""What a plug-in declares it supports, validated once: the harness tests it only there.

A candidate carries ``backward.supports = {...}`` (or the caller passes ``supports=``), like
scikit-learn's estimator tags. Keys, all optional:

- ``"activations"``: names (``"leaky_relu(0.2)"`` for a slope); default the six of the seeds
  (sigmoid, tanh, relu, leaky_relu, identity, softplus). A loss's own output activation (sigmoid
  for bce, softmax for cross_entropy) is implied by declaring the loss.
- ``"losses"``: names (the seeds' convention: no ½, mean over samples) or `harness.Loss` objects
  (``Loss("mse", half=True, reduction="sum")``); default mse and bce.
- ``"l2"``: a value or a list of the L2 weight decays it implements (default 0).
- ``"sizes"``: fixed architectures ``[(n0, ..., nL), ...]``; ``"depths"``: allowed depths L.
- ``"specs"``: exact `NetworkSpec` objects (a fixed-architecture function, e.g. `from_flat`).
- ``"keywords": True``: the function takes ``half=, reduction=, l2=`` keywords after the
  contract's five arguments and so implements every convention it is told (the reference does);
  its default losses are then every convention and its default l2 values 0 and 1e-3.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from harness.errors import HarnessError
from harness.network import parse_activation
from harness.spec import Loss, NetworkSpec, _suggest_activation, _validate_sizes, as_loss
from harness.strategies import LOSS_CONVENTIONS, SEED_ACTIVATIONS, SEED_LOSSES, network_specs

__all__ = ["KEYS", "Support", "declared_support", "parse_support"]

KEYS: Final = ("activations", "losses", "l2", "sizes", "depths", "specs", "keywords")
#: The output activation a loss fixes.
_OUTPUT_OF: Final = {"bce": "sigmoid", "cross_entropy": "softmax"}


@dataclass(frozen=True)
class Support:
    """A validated declaration (see the module docstring)."""

    activations: tuple[str, ...]
    losses: tuple[Loss, ...]
    l2: tuple[float, ...]
    sizes: tuple[tuple[int, ...], ...] | None = None
    depths: tuple[int, ...] | None = None
    specs: tuple[NetworkSpec, ...] | None = None
    keywords: bool = False

    def excludes(self, spec: NetworkSpec) -> str | None:
        """Why ``spec`` lies outside this support, or None if it lies inside."""
        if self.specs is not None:
            return None if spec in self.specs else f"the declared specs do not include {spec!r}"
        if self.sizes is not None and spec.sizes not in self.sizes:
            return f"sizes {spec.sizes} are not among the declared sizes {list(self.sizes)}"
        if self.depths is not None and spec.depth not in self.depths:
            return f"depth {spec.depth} is not among the declared depths {list(self.depths)}"
        if spec.loss not in self.losses:
            declared = ", ".join(map(repr, self.losses))
            return f"loss {spec.loss!r} is not among the declared losses ({declared})"
        implied = _OUTPUT_OF.get(spec.loss.name)
        *hidden, output = spec.activations
        outside = [a for a in hidden if a not in self.activations]
        if output not in self.activations and output != implied:
            outside.append(output)
        if outside:
            return f"activation(s) {', '.join(outside)} not among the declared activations"
        if spec.l2 not in self.l2:
            return f"l2={spec.l2!r} is not among the declared l2 values {list(self.l2)}"
        return None

    def covers(self, spec: NetworkSpec) -> bool:
        return self.excludes(spec) is None

    def specs_strategy(self, max_depth: int, max_width: int) -> SearchStrategy[NetworkSpec]:
        """Hypothesis draws of the architectures inside this support."""
        if self.specs is not None:
            return st.sampled_from(self.specs)
        return network_specs(
            max_depth=max_depth,
            max_width=max_width,
            activations=self.activations,
            losses=self.losses,
            l2s=self.l2,
            sizes=self.sizes,
            depths=self.depths,
        )


def declared_support(backward: Any) -> Support:
    """The support ``backward`` declares as its ``supports`` attribute (defaults if none)."""
    return parse_support(getattr(backward, "supports", None))


def parse_support(
    declared: Mapping[str, Any] | None,
    who: str = "supports",
    error: type[HarnessError] = HarnessError,
) -> Support:
    """Validate a declaration; raise ``error`` naming the bad key or value and the fix."""
    if declared is None:
        declared = {}
    if not isinstance(declared, Mapping):
        raise error(
            f"{who} must be a mapping like {{'activations': [...], 'losses': [...]}}, "
            f"got {declared!r}"
        )
    unknown = set(declared) - set(KEYS)
    if unknown:
        raise error(f"{who} has unknown keys {sorted(unknown)}; known: {', '.join(KEYS)}")
    keywords = declared.get("keywords", False)
    if not isinstance(keywords, bool):
        raise error(f"{who}['keywords'] must be True or False, got {keywords!r}")
    activations = _activations(declared.get("activations", SEED_ACTIVATIONS), who, error)
    losses = _losses(
        declared.get("losses", LOSS_CONVENTIONS if keywords else SEED_LOSSES), who, error
    )
    l2 = _l2(declared.get("l2", (0.0, 1e-3) if keywords else (0.0,)), who, error)
    specs = declared.get("specs")
    if specs is not None and (
        not isinstance(specs, Sequence) or not all(isinstance(s, NetworkSpec) for s in specs)
    ):
        raise error(f"{who}['specs'] must be a list of NetworkSpec, got {specs!r}")
    return Support(
        activations=activations,
        losses=losses,
        l2=l2,
        sizes=_sizes(declared.get("sizes"), who, error),
        depths=_depths(declared.get("depths"), who, error),
        specs=None if specs is None else tuple(specs),
        keywords=keywords,
    )


def _sequence(value: Any, key: str, who: str, error: type[HarnessError]) -> Sequence[Any]:
    if isinstance(value, (str, bytes, Loss)) or not isinstance(value, Sequence) or not value:
        raise error(
            f"{who}[{key!r}] must be a non-empty list, got {value!r}; write [{value!r}] for one"
        )
    return value


def _activations(value: Any, who: str, error: type[HarnessError]) -> tuple[str, ...]:
    out = []
    for name in _sequence(value, "activations", who, error):
        parsed = parse_activation(name) if isinstance(name, str) else None
        if parsed is None:
            raise error(f"{who}: unknown activation {name!r}; {_suggest_activation(str(name))}")
        out.append(parsed)
    return tuple(dict.fromkeys(out))


def _losses(value: Any, who: str, error: type[HarnessError]) -> tuple[Loss, ...]:
    out = []
    for loss in _sequence(value, "losses", who, error):
        try:
            out.append(as_loss(loss))
        except HarnessError as exc:
            raise error(f"{who}: {exc}") from None
    return tuple(dict.fromkeys(out))


def _l2(value: Any, who: str, error: type[HarnessError]) -> tuple[float, ...]:
    values = [value] if isinstance(value, numbers.Real) else _sequence(value, "l2", who, error)
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 <= float(v) < 1e300:
            raise error(f"{who}['l2']: every value must be a finite number >= 0, got {v!r}")
        out.append(float(v))
    return tuple(dict.fromkeys(out))


def _sizes(value: Any, who: str, error: type[HarnessError]) -> tuple[tuple[int, ...], ...] | None:
    if value is None:
        return None
    out = []
    for sizes in _sequence(value, "sizes", who, error):
        try:
            out.append(_validate_sizes(sizes))
        except HarnessError as exc:
            raise error(
                f"{who}['sizes'] must be a list of architectures like [(4, 8, 2)], "
                f"got {sizes!r}: {exc}"
            ) from None
    return tuple(dict.fromkeys(out))


def _depths(value: Any, who: str, error: type[HarnessError]) -> tuple[int, ...] | None:
    if value is None:
        return None
    out = []
    for depth in _sequence(value, "depths", who, error):
        if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 1:
            raise error(f"{who}['depths'] must be positive ints (layers L), got {depth!r}")
        out.append(int(depth))
    return tuple(sorted(set(out)))
