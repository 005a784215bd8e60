"""Fuzzing the boundary: the CLI and the public API get junk, and only typed errors may escape.

Property: from the public API (`NetworkSpec`, `Problem`, `Problem.random`, `check`, `audit`) only
`harness.errors.HarnessError` subclasses escape; from ``harness.cli.main`` only a return code or
``SystemExit`` of 0, 1 or 2, with no "Traceback" on stderr. Anything else is a bug, reported with
the minimal (shrunk) input that raises it.

Skipped unless ``GRADCHECK_FUZZ=1``; runs for ``GRADCHECK_FUZZ_SECONDS`` (default 120) in batches
of Hypothesis examples, round-robin over the targets, until the budget is spent::

    GRADCHECK_FUZZ=1 GRADCHECK_FUZZ_SECONDS=120 pytest tests/fuzz -s

Every distinct bug (exception type and innermost frame) is shrunk once and then tolerated, so a
single run can find several. Inputs are kept cheap: campaigns run at most 3 examples, widths and
batches stay small, reports go to a temporary directory.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference
from harness import NetworkSpec, Problem, audit, check
from harness.cli import main
from harness.errors import HarnessError
from harness.network import ACTIVATIONS, LOSSES
from harness.strategies import ALL_ACTIVATIONS, LOSS_CONVENTIONS, network_specs

FUZZ = os.environ.get("GRADCHECK_FUZZ") == "1"
BUDGET = float(os.environ.get("GRADCHECK_FUZZ_SECONDS", "120"))
BATCH = 40  # examples per Hypothesis run; the budget is checked between and inside runs

pytestmark = pytest.mark.skipif(not FUZZ, reason="fuzzing: set GRADCHECK_FUZZ=1 (nox -s fuzz)")

# --- junk ---------------------------------------------------------------------------------------

FLOATS = st.floats(allow_nan=True, allow_infinity=True)
ODD_NUMBERS = st.sampled_from(
    [0, -1, 1, 2, 10**30, -(10**30), 0.5, -0.0, float("nan"), float("inf"), -float("inf"),
     1e-300, 1e308, np.int64(2), np.float32(1.5), np.float64("nan"), True, False, 1j]
)  # fmt: skip
TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "::", ":", "\x00", "é", "∞", "1e999", "nan", "-1", "0x10",
                     "tanh", "sigmoid", "bce", "mse", "x" * 5000]),
)  # fmt: skip


def _arrays() -> st.SearchStrategy[Any]:
    base = hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
        elements=st.floats(allow_nan=True, allow_infinity=True, width=64),
    )
    casts = st.sampled_from(
        [np.float64, np.float64, np.float64, np.float32, np.int64, np.complex128, object, bool]
    )

    def cast(pair: tuple[Any, Any]) -> Any:
        array, dtype = pair
        with np.errstate(all="ignore"), contextlib.suppress(Exception):
            return array.astype(dtype)
        return array

    return st.tuples(base, casts).map(cast)


ARRAYS = _arrays()
JUNK: st.SearchStrategy[Any] = st.one_of(
    st.none(), ODD_NUMBERS, FLOATS, st.integers(), TEXT, st.binary(max_size=4), ARRAYS,
    st.lists(st.integers(-2, 5), max_size=4).map(tuple),
    st.lists(st.one_of(st.none(), ODD_NUMBERS, TEXT), max_size=3),
    st.dictionaries(TEXT, st.none(), max_size=2), st.just(object()), st.just(len),
)  # fmt: skip

#: Valid specs of every convention (softmax only on the output, each loss with its output).
SPECS = network_specs(
    max_depth=3, max_width=4, activations=ALL_ACTIVATIONS, losses=LOSS_CONVENTIONS, l2s=(0.0, 1e-3)
)


class Call:
    """A deferred call whose repr is the call itself, so a shrunk failure reads as code."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any):
        self.fn, self.args, self.kwargs = fn, args, kwargs

    def __call__(self) -> Any:
        return self.fn(*self.args, **self.kwargs)

    def __repr__(self) -> str:
        parts = [_short(a) for a in self.args] + [
            f"{k}={_short(v)}" for k, v in self.kwargs.items()
        ]
        return f"{getattr(self.fn, '__qualname__', self.fn)}({', '.join(parts)})"


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"np.array({value.tolist()!r}, dtype={value.dtype})"[:300]
    text = repr(value)
    return text if len(text) <= 300 else text[:300] + "..."


# --- misbehaving candidates ---------------------------------------------------------------------


class _BrokenStrError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str() of this exception fails")


def _raising(error: BaseException) -> Callable[..., Any]:
    def backward(*args: Any) -> Any:
        raise error

    backward.__qualname__ = f"candidate_raising_{error!r}"
    return backward


def _returning(how: tuple[str, Callable[[Any], Any]], junk: Any) -> Callable[..., Any]:
    def backward(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
        return how[1](reference.backward(params, X, Y, activations, loss))

    backward.__qualname__ = f"candidate_returning[{how[0]}, junk={_short(junk)}]"
    return backward


def _mangle(junk: Any) -> st.SearchStrategy[tuple[str, Callable[[Any], Any]]]:
    return st.sampled_from(
        [
            ("g", lambda g: g),
            ("junk", lambda g: junk),
            ("g[:-1]", lambda g: g[:-1]),
            ("[*g, g[0]]", lambda g: [*g, g[0]]),
            ("[(dW.T, db) for dW, db in g]", lambda g: [(dW.T, db) for dW, db in g]),
            (
                "[(dW.tolist(), db.tolist()) for dW, db in g]",
                lambda g: [(dW.tolist(), db.tolist()) for dW, db in g],
            ),
            (
                "[(dW.astype(np.float32), db) for dW, db in g]",
                lambda g: [(dW.astype(np.float32), db) for dW, db in g],
            ),
            (
                "[(dW, db.astype(object)) for dW, db in g]",
                lambda g: [(dW, db.astype(object)) for dW, db in g],
            ),
            ("[(dW, junk) for dW, db in g]", lambda g: [(dW, junk) for dW, db in g]),
            ("[(junk, junk) for _ in g]", lambda g: [(junk, junk) for _ in g]),
            ("[junk for _ in g]", lambda g: [junk for _ in g]),
            ("[(dW * np.nan, db) for dW, db in g]", lambda g: [(dW * np.nan, db) for dW, db in g]),
            ("[(dW, db, db) for dW, db in g]", lambda g: [(dW, db, db) for dW, db in g]),
            (
                "[(dW.astype(np.complex128), db) for dW, db in g]",
                lambda g: [(dW.astype(np.complex128), db) for dW, db in g],
            ),
            (
                "[(np.ma.masked_array(dW, mask=True), db) for dW, db in g]",
                lambda g: [(np.ma.masked_array(dW, mask=True), db) for dW, db in g],
            ),
            (
                "[(np.matrix(dW), db) for dW, db in g]",
                lambda g: [(np.matrix(dW), db) for dW, db in g],
            ),
            ("tuple((dW, db) for dW, db in g)", lambda g: tuple((dW, db) for dW, db in g)),
            ("iter(g)", lambda g: iter(g)),
            ("{i: p for i, p in enumerate(g)}", lambda g: {i: p for i, p in enumerate(g)}),
            ('"ab" * len(g)', lambda g: "ab" * len(g)),
            ("[(dW, db[:, None]) for dW, db in g]", lambda g: [(dW, db[:, None]) for dW, db in g]),
        ]
    )


@st.composite
def candidates(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["reference", "mangled", "raises", "junk"]))
    if kind == "reference":
        return reference.backward
    if kind == "mangled":
        junk = draw(JUNK)
        return _returning(draw(_mangle(junk)), junk)
    if kind == "raises":
        error = draw(
            st.sampled_from(
                [ValueError("bad"), _BrokenStrError(), SystemExit(3), KeyboardInterrupt(),
                 NotImplementedError("no"), RecursionError(), MemoryError(), Exception(""),
                 HarnessError("from the candidate")]
            )
        )  # fmt: skip
        return _raising(error)
    return draw(JUNK)


# --- API targets --------------------------------------------------------------------------------


@st.composite
def spec_calls(draw: st.DrawFn) -> Call:
    sizes = draw(st.one_of(JUNK, st.lists(st.one_of(st.integers(-1, 4), JUNK), max_size=4)))
    acts = draw(
        st.one_of(JUNK, st.lists(st.one_of(st.sampled_from(ACTIVATIONS), JUNK), max_size=4))
    )
    loss = draw(st.one_of(st.sampled_from(LOSSES), JUNK))
    return Call(NetworkSpec, sizes, acts, loss)


@st.composite
def problem_calls(draw: st.DrawFn) -> Call:
    spec = draw(st.one_of(SPECS, SPECS, JUNK))
    if isinstance(spec, NetworkSpec):
        good = Problem.random(spec, draw(st.integers(1, 3)), draw(st.integers(0, 9)))
        params: Any = [[W, b] for W, b in good.params]
        X, Y = good.X, good.Y
        for _ in range(draw(st.integers(0, 2))):  # break one or two things
            slot = draw(st.sampled_from(["W", "b", "X", "Y", "params", "pair"]))
            value = draw(st.one_of(ARRAYS, JUNK))
            if slot in ("W", "b") and isinstance(params, list) and params:
                layer = draw(st.integers(0, len(params) - 1))
                if isinstance(params[layer], list):  # an earlier break may have replaced the pair
                    params[layer]["Wb".index(slot)] = value
            elif slot == "X":
                X = value
            elif slot == "Y":
                Y = value
            elif slot == "params":
                params = value
            elif isinstance(params, list) and params:
                params[0] = value
    else:
        params, X, Y = draw(JUNK), draw(JUNK), draw(JUNK)
    backward = draw(candidates())
    timeout = draw(st.one_of(st.just(2.0), ODD_NUMBERS))

    return Call(problem_then_check, spec, params, X, Y, backward, timeout=timeout)


def problem_then_check(spec: Any, params: Any, X: Any, Y: Any, backward: Any, timeout: Any) -> Any:
    return check(backward, Problem(spec, params, X, Y), timeout=timeout)


@st.composite
def random_calls(draw: st.DrawFn) -> Call:
    spec = draw(st.one_of(SPECS, JUNK))
    batch = draw(st.one_of(st.integers(-1, 4), ODD_NUMBERS, JUNK))
    seed = draw(st.one_of(st.integers(-1, 2**70), ODD_NUMBERS, JUNK))
    scale = draw(st.one_of(ODD_NUMBERS, FLOATS, JUNK))
    margin = draw(st.one_of(ODD_NUMBERS, FLOATS, JUNK))
    if isinstance(batch, int) and batch > 8:
        batch = 8
    return Call(Problem.random, spec, batch, seed, scale, kink_margin=margin)


@st.composite
def check_calls(draw: st.DrawFn) -> Call:
    backward = draw(candidates())
    problem = draw(st.one_of(SPECS.map(lambda s: Problem.random(s, 2, 0)), JUNK))
    timeout = draw(st.one_of(st.just(2.0), ODD_NUMBERS, JUNK))
    name = draw(st.one_of(st.none(), TEXT, JUNK))
    return Call(check, backward, problem, timeout=timeout, name=name)


@st.composite
def audit_calls(draw: st.DrawFn) -> Call:
    backward = draw(candidates())
    spec = draw(st.one_of(st.none(), SPECS, JUNK))
    examples = draw(st.one_of(st.integers(-1, 2), ODD_NUMBERS.filter(lambda x: x != 10**30)))
    if isinstance(examples, (int, np.integer)) and examples > 3:
        examples = 2
    seed = draw(st.one_of(st.integers(-5, 2**70), JUNK))
    supports = draw(
        st.one_of(
            st.none(),
            JUNK,
            st.dictionaries(
                st.sampled_from(["activations", "losses", "specs", "colour"]),
                st.one_of(st.lists(st.sampled_from([*ACTIVATIONS, *LOSSES, "sigmod"])), JUNK),
                max_size=3,
            ),
        )
    )
    timeout = draw(st.one_of(st.just(2.0), ODD_NUMBERS, JUNK))
    report_dir = draw(st.sampled_from([None, "TMP"]))
    name = draw(st.one_of(st.none(), TEXT))

    where = None if report_dir is None else _TMP[0] / "audit"
    return Call(audit, backward, spec=spec, examples=examples, seed=seed, supports=supports,
                timeout=timeout, report_dir=where, name=name)  # fmt: skip


# --- CLI target ---------------------------------------------------------------------------------

NAMES = st.sampled_from([*ACTIVATIONS, *LOSSES, "sigmod", "", " ", "relu ", "TANH"])
SIZES = st.one_of(
    st.lists(st.integers(-1, 5).map(str), max_size=5).map(",".join),
    st.lists(st.one_of(st.integers(-1, 5).map(str), TEXT), max_size=3).map(",".join),
    TEXT,
)
TARGETS = st.one_of(
    st.sampled_from(
        [
            "reference:backward",
            "reference:forward",
            "reference:nope",
            "x.py:f",
            "::",
            "",
            ":",
            "reference",
            "reference:",
            ":backward",
            "tests/meta/transposed_dW.py:backward",
            "tests/meta/transposed_dW.py:nope",
            "tests/meta:backward",
            "tests/meta/:backward",
            "harness.errors:HarnessError",
            "harness.network:ACTIVATIONS",
            "numpy:pi",
            "json:loads",
            "math:sqrt",
            "no_such_module:f",
            "harness.cli:main",
            "reference.py:f",
            ".:f",
            "/:f",
            "..:f",
            "-h",
            "--examples",
            "x" * 3000 + ":f",
            "é:f",
            "a.b.c:d",
        ]
    ),
    st.builds(lambda m, f: f"{m}:{f}", TEXT, TEXT),
    TEXT,
)
OPTION_VALUES: dict[str, st.SearchStrategy[str]] = {
    "--candidate": TARGETS,
    "--profile": st.one_of(st.sampled_from(["quick", "default", "thorough", "fast"]), TEXT),
    "--seed": st.one_of(st.integers(-(2**70), 2**70).map(str), TEXT),
    "--sizes": SIZES,
    "--activations": st.one_of(st.lists(NAMES, max_size=4).map(",".join), TEXT),
    "--loss": st.one_of(NAMES, TEXT),
    "--batch": st.one_of(st.integers(-2, 6).map(str), TEXT),
    "--problem-seed": st.one_of(st.integers(-3, 2**40).map(str), TEXT),
    "--weight-scale": st.one_of(FLOATS.map(repr), st.sampled_from(["nan", "inf", "-0", "1e308"])),
    "--kink-margin": st.one_of(FLOATS.map(repr), st.sampled_from(["nan", "inf", "1e308", "0"])),
    "--layout": st.one_of(st.sampled_from(["columns", "rows", "flat"]), TEXT),
    "--timeout": st.one_of(
        st.floats(1e-4, 5).map(repr), st.sampled_from(["0", "-1", "nan", "inf"]), TEXT
    ),
    "--nope": TEXT,
}
EXAMPLES = st.sampled_from(["0", "1", "2", "3", "-1", "x", "", "1.5"])


@st.composite
def cli_argvs(draw: st.DrawFn) -> list[str]:
    argv: list[str] = []
    command = draw(st.sampled_from(["verify", "audit", "audit", "verify", "prove", "", "-h"]))
    if command:
        argv.append(command)
    if (command == "audit" and draw(st.booleans())) or draw(st.integers(0, 9)) == 0:
        argv.append(draw(TARGETS))
    for option in draw(st.lists(st.sampled_from(sorted(OPTION_VALUES)), max_size=6)):
        argv.append(option)
        if draw(st.integers(0, 9)):  # sometimes an option without its value
            argv.append(draw(OPTION_VALUES[option]))
    if draw(st.integers(0, 4)) == 0:
        argv.insert(draw(st.integers(0, len(argv))), draw(TEXT))  # a stray token anywhere
    # Cheap by construction: argparse keeps the last occurrence of an option.
    return [*argv, "--examples", draw(EXAMPLES), "--report-dir", str(_TMP[0] / "cli")]


def cli_calls(argv: list[str]) -> Call:
    return Call(run_cli, argv)


def run_cli(argv: list[str]) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: Any = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    stderr = err.getvalue()
    if code not in (0, 1, 2) or "Traceback" in stderr:
        raise CliMisbehavedError(f"exit {code!r}; stderr: {stderr[-2000:]}")
    if code == 2 and "error" not in stderr:
        raise CliMisbehavedError(f"exit 2 without an error message; stderr: {stderr[-2000:]}")


class CliMisbehavedError(AssertionError):
    """The CLI exited with another code, or printed a traceback."""


_TMP: list[Path] = [Path(".")]


# --- the driver ---------------------------------------------------------------------------------


def _signature(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    inner = next(
        (f for f in reversed(frames) if "/harness/" in f.filename or "/reference/" in f.filename),
        frames[-1] if frames else None,
    )
    where = "?" if inner is None else f"{Path(inner.filename).name}:{inner.lineno}"
    if isinstance(error, CliMisbehavedError):
        return f"CliMisbehavedError: {str(error)[:60]}"
    return f"{type(error).__name__} at {where}"


#: Bugs found by this fuzzer whose fix lies outside the boundary modules (spec, cli, audit):
#: "<exception type> at <file>" -> what it is. Still counted and printed, but they do not fail
#: the run; delete an entry once its fix lands so a regression fails again.
KNOWN_BUGS: dict[str, str] = {}  # none at the moment: every bug the fuzzer found is fixed


def _known(signature: str) -> bool:
    return signature.rsplit(":", 1)[0] in KNOWN_BUGS


TARGETS_UNDER_TEST: dict[str, st.SearchStrategy[Call]] = {
    "cli": cli_argvs().map(cli_calls),
    "NetworkSpec": spec_calls(),
    "Problem+check": problem_calls(),
    "Problem.random": random_calls(),
    "check": check_calls(),
    "audit": audit_calls(),
}


def test_only_typed_errors_escape(tmp_path: Path) -> None:
    _TMP[0] = tmp_path
    deadline = time.monotonic() + BUDGET
    calls: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    bugs: dict[str, str] = {}  # signature -> minimal input and traceback

    def run_batch(target: str, strategy: st.SearchStrategy[Callable[[], Any]]) -> None:
        @settings(
            max_examples=BATCH,
            deadline=None,
            database=None,
            derandomize=False,
            report_multiple_bugs=False,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.generate, Phase.shrink],
            verbosity=Verbosity.normal,
        )
        @given(strategy)
        def batch(call: Callable[[], Any]) -> None:
            if time.monotonic() > deadline + 30:  # shrinking may run a little over budget
                return
            calls[target] += 1
            try:
                call()
                outcomes["returned"] += 1
            except HarnessError:
                outcomes["HarnessError"] += 1
            except BaseException as error:
                if _signature(error) in bugs or _known(_signature(error)):
                    outcomes["known bug"] += 1
                    return
                raise

        try:
            batch()
        except BaseException as error:
            signature = _signature(error)
            notes = "\n".join(getattr(error, "__notes__", []))
            trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            bugs[signature] = f"[{target}] {signature}\n{notes}\n{trace[-3000:]}"

    with np.errstate(all="ignore"):
        while time.monotonic() < deadline:
            for target, strategy in TARGETS_UNDER_TEST.items():
                if time.monotonic() >= deadline:
                    break
                run_batch(target, strategy)

    total = sum(calls.values())
    print(f"\nfuzz: {total} examples in {BUDGET:g} s budget (shrink steps included): "
          f"{dict(calls)}; outcomes {dict(outcomes)}; {len(bugs)} bug(s)")  # fmt: skip
    print(f"known bugs (tolerated): {sorted(KNOWN_BUGS)}")
    for text in bugs.values():
        print("\n" + "=" * 100 + "\n" + text)
    assert not bugs, "unhandled exceptions escaped:\n" + "\n".join(bugs)
