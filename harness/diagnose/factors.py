"""Named factors, and the loss conventions a factor turns the declared one into.

A tensor that is the truth times a named factor — 1/m, m, 2, 1/2, n_L, 1/n_L, their negatives,
then the ratios between the declared `Loss` and each other convention of its loss — is "scaled
by" it. Where the factor is such a ratio the text says which declaration the candidate's values
belong to ("scaled by 1/2: a ½·MSE convention? declare Loss('mse', half=True)"). A sum over
samples is proposed only when it is the declared reduction: against a mean, m is the classic
missing 1/m, not a convention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from harness.network import REDUCTIONS
from harness.spec import Loss, Problem

__all__ = ["Factor", "fmt_factor", "named_factors"]

#: A divisor's symbols: ``Loss.divisor`` is the product of these (sum: none).
_DIVISOR_SYMBOLS: Final = {"mean": ("m",), "sum": (), "elementwise_mean": ("m", "n_L")}
_REDUCTION_WORDS: Final = {
    "mean": "a mean over samples",
    "sum": "a sum over samples",
    "elementwise_mean": "a mean over every output entry (torch's default)",
}


@dataclass(frozen=True)
class Factor:
    """A factor the truth may have been scaled by, its names ("1/m", "n_L/2"; several when
    they coincide on a problem) and, when it turns the declared Loss into another, the hint."""

    value: float
    names: list[str]
    hint: str  # "" or ": a ½·MSE convention? declare Loss('mse', half=True)"

    def text(self) -> str:
        names = self.names
        shown = f" = {self.value:g}" if all(any(c.isalpha() for c in n) for n in names) else ""
        return "scaled by " + " = ".join(names) + shown


def _symbols(loss: Loss) -> list[str]:
    return [*(["2"] if loss.half else []), *_DIVISOR_SYMBOLS[loss.reduction]]


def _ratio_name(own: list[str], alt: list[str]) -> str:
    """own / alt as a name: 'm', '1/2', '1/(m·n_L)', '2/n_L'."""
    up = [s for s in own if s not in alt]
    down = [s for s in alt if s not in own]
    top = "·".join(up) or "1"
    if not down:
        return top
    bottom = "·".join(down)
    return f"{top}/({bottom})" if len(down) > 1 else f"{top}/{bottom}"


def _conventions(loss: Loss, m: int, n_L: int) -> dict[float, tuple[str, list[Loss]]]:
    """factor -> (its name, the other conventions whose gradient is the declared one's times
    it). A sum over samples is proposed only when it is the declared reduction's own."""
    own = loss.divisor(m, n_L)
    halves = (False, True) if loss.name == "mse" else (False,)
    out: dict[float, tuple[str, list[Loss]]] = {}
    for half in halves:
        for reduction in REDUCTIONS:
            if reduction == "sum" and loss.reduction != "sum":
                continue
            alt = Loss(loss.name, half=half, reduction=reduction)
            if alt == loss:
                continue
            value = own / alt.divisor(m, n_L)
            name = _ratio_name(_symbols(loss), _symbols(alt))
            out.setdefault(value, (name, []))[1].append(alt)
    return out


def _hint(own: Loss, alternatives: list[Loss]) -> str:
    said = []
    for alt in alternatives:
        parts = []
        if alt.half != own.half:
            parts.append("a ½·MSE convention" if alt.half else "mse without the ½")
        if alt.reduction != own.reduction:
            parts.append(_REDUCTION_WORDS[alt.reduction])
        said.append(f"{' and '.join(parts)}? declare {alt!r}")
    return ": " + " or ".join(said)


def named_factors(problem: Problem) -> list[Factor]:
    """In order of precedence; ±1 is left to sign-flipped (or is no bug)."""
    m, n_L = problem.batch, problem.spec.sizes[-1]
    named = [("1/m", 1 / m), ("m", m), ("2", 2.0), ("1/2", 0.5), ("n_L", n_L), ("1/n_L", 1 / n_L)]
    conventions = _conventions(problem.spec.loss, m, n_L)
    named += [(name, value) for value, (name, _) in conventions.items()]
    groups: dict[float, list[str]] = {}
    for name, value in [*named, *((f"-{name}", -value) for name, value in named[:6])]:
        if abs(value) != 1.0 and name not in groups.get(float(value), []):
            groups.setdefault(float(value), []).append(name)
    return [
        Factor(value, names, _hint(problem.spec.loss, conventions[value][1]))
        if value in conventions
        else Factor(value, names, "")
        for value, names in groups.items()
    ]


def fmt_factor(f: float) -> str:
    """Enough digits to show how far f is from ±1."""
    shown = f"{f:.4g}"
    return shown if abs(float(shown) - f) <= 0.01 * min(abs(f - 1), abs(f + 1)) else repr(f)
