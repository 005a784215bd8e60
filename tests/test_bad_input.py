"""Every class of bad input, in one table: each gets its typed error (or, for a misbehaving
plug-in, its `Finding` kind) and a message that names the problem — never a raw traceback.

Four surfaces:

- ``api``: a call into the public API (`NetworkSpec`, `Problem`, `Problem.random`, `check`,
  `audit`) must raise the listed `HarnessError` subclass, raised on purpose by harness code (the
  innermost frame is in ``harness/``, not deep inside numpy or SymPy), whose message holds every
  fragment and no "Traceback".
- ``plugin``: ``check(backward, PROBLEM, timeout=0.5)`` must *not* raise; the candidate's
  misbehaviour becomes a finding of the listed kind whose detail holds the fragments.
  Lists (or any non-ndarray) returned instead of arrays are **rejected**, not converted:
  `harness.compare._compare_tensor` requires a float64 ``numpy.ndarray`` of exactly the
  parameter's shape, so ``[[...], ...]`` is a ``dtype`` record — reported as a Finding of kind
  ``"shape"`` (`harness.auditing` maps both the ``shape`` and ``dtype`` statuses to ``"shape"``)
  with the detail "candidate returned list, expected a plain numpy.ndarray of dtype float64 ...".
  Likewise a float32 gradient is a ``"shape"`` finding naming the dtype.
- ``cli``: ``harness.cli.main(argv)`` must exit 2 (returned, or SystemExit(2) from argparse),
  with the fragments on stderr and no "Traceback" there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import reference
from harness import (
    ArrayDtypeError,
    ArrayShapeError,
    HarnessError,
    NetworkSpec,
    NonFiniteError,
    Problem,
    ProblemError,
    SpecError,
    TargetRangeError,
    UnknownActivationError,
    UnknownLossError,
    audit,
    check,
)
from harness.candidate import CandidateError
from harness.cli import main

HARNESS_DIR = Path(__file__).resolve().parent.parent / "harness"
SPEC = NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "bce")
PROBLEM = Problem.random(SPEC, 5, seed=2)
_rng = np.random.default_rng(7)
W1, b1 = _rng.standard_normal((4, 3)), _rng.standard_normal(4)
W2, b2 = _rng.standard_normal((2, 4)), _rng.standard_normal(2)
X = _rng.standard_normal((3, 5))
Y = _rng.integers(0, 2, (2, 5)).astype(np.float64)


def _problem(**changed: Any) -> Callable[[], object]:
    """A thunk building the valid bce problem above with some of W1, b1, W2, b2, X, Y replaced."""
    a = {"W1": W1, "b1": b1, "W2": W2, "b2": b2, "X": X, "Y": Y, **changed}
    params = a.get("params", [(a["W1"], a["b1"]), (a["W2"], a["b2"])])
    return lambda: Problem(a.get("spec", SPEC), params, a["X"], a["Y"])


def _with(array: Any, index: tuple[int, ...], value: float) -> Any:
    out = np.array(array, dtype=np.float64)
    out[index] = value
    return out


# --- misbehaving plug-ins -----------------------------------------------------------------------


def _grads(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    return reference.backward(params, X, Y, activations, loss)


def raises(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    return 1 / 0


def returns_none(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    return None


def wrong_count(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    return _grads(params, X, Y, activations, loss)[:1]


def wrong_shape(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    return [(dW, db[:, None]) for dW, db in _grads(params, X, Y, activations, loss)]


def transposed_shape(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    return [(dW.T, db) for dW, db in _grads(params, X, Y, activations, loss)]


def lists(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    return [(dW.tolist(), db.tolist()) for dW, db in _grads(params, X, Y, activations, loss)]


def float32(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    return [
        (dW.astype(np.float32), db.astype(np.float32))
        for dW, db in _grads(params, X, Y, activations, loss)
    ]


def nan(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    grads = _grads(params, X, Y, activations, loss)
    grads[0][1][2] = np.nan
    return grads


def mutates(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    grads = _grads(params, X, Y, activations, loss)
    X *= 2.0
    return grads


def hangs(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    time.sleep(2.0)  # abandoned by the harness after 0.5 s; the daemon thread ends on its own
    return _grads(params, X, Y, activations, loss)


# --- the table ----------------------------------------------------------------------------------


def api(make: Callable[[], object], error: type[HarnessError], *fragments: str, id: str) -> object:
    return pytest.param("api", make, error, fragments, id=f"api-{id}")


def plugin(
    backward: Callable[..., Any], kind: str, *fragments: str, id: str, marks: Any = ()
) -> object:
    return pytest.param("plugin", backward, kind, fragments, id=f"plugin-{id}", marks=marks)


def cli(argv: list[str], *fragments: str, id: str) -> object:
    return pytest.param("cli", argv, 2, fragments, id=f"cli-{id}")


JUNK: list[Any] = [(3, 2.5, 1), 3, np.array([]), "0"]  # values the types exclude, passed anyway
ONE = ["--sizes", "3,4,2", "--activations", "tanh,sigmoid", "--loss", "bce", "--problem-seed", "0"]

# fmt: off
CASES = [
    # spec: sizes, activations, loss
    api(lambda: NetworkSpec((3, 0, 1), ("tanh",) * 2), SpecError, "sizes[1] = 0", "positive int",
        id="size-zero"),
    api(lambda: NetworkSpec(JUNK[0], ("tanh",) * 2), SpecError, "sizes[1] = 2.5",
        id="size-float"),
    api(lambda: NetworkSpec((3,), ()), SpecError, "at least two entries", id="size-one-entry"),
    api(lambda: NetworkSpec(JUNK[1], ("tanh",)), SpecError, "sizes must be a sequence",
        id="sizes-int"),
    api(lambda: NetworkSpec((3, 2, 1), ("tanh", "sigmod")), UnknownActivationError,
        "layer 2", "'sigmod'", "did you mean 'sigmoid'", id="activation-unknown"),
    api(lambda: NetworkSpec((3, 2, 1), ("tanh",)), SpecError, "activations has 1 names",
        "2 layer(s)", id="activation-count"),
    api(lambda: NetworkSpec((3, 2, 1), "tanh"), SpecError, "single string 'tanh'",
        id="activation-string"),
    api(lambda: NetworkSpec((3, 1), ("sigmoid",), "binary_crossentropy"), UnknownLossError,
        "unknown loss 'binary_crossentropy'", "did you mean 'bce'", id="loss-unknown"),
    api(lambda: NetworkSpec((3, 1), ("sigmoid",), "nll"), UnknownLossError,
        "unknown loss 'nll'", "did you mean 'cross_entropy' with a softmax output",
        id="loss-nll"),
    api(lambda: NetworkSpec((3, 2), ("tanh",), "cross_entropy"), SpecError,
        "needs a softmax output layer", id="cross-entropy-without-softmax"),
    api(lambda: NetworkSpec((3, 2, 2), ("softmax", "tanh")), SpecError,
        "output layer (layer 2) only", id="softmax-hidden"),
    api(lambda: NetworkSpec((3, 1), ("sigmoid",), None), UnknownLossError,  # type: ignore[arg-type]
        "unknown loss None", id="loss-none"),
    api(lambda: NetworkSpec((3, 1), ("tanh",), "bce"), SpecError,
        "needs a sigmoid output layer", id="bce-without-sigmoid"),
    # arrays: shape
    api(_problem(W1=W1.T.copy()), ArrayShapeError, "W1 (layer 1 weights) has shape (3, 4)",
        "expected (4, 3)", id="W-transposed"),
    api(_problem(b2=b2[:, None]), ArrayShapeError, "b2", "(2, 1)", "expected (2,)",
        id="b-column"),
    api(_problem(X=X[0]), ArrayShapeError, "X (inputs", "expected (3, m)", id="X-1d"),
    api(_problem(Y=Y[:, :3]), ArrayShapeError, "Y (targets", "(2, 3)", "expected (2, 5)",
        id="Y-batch-mismatch"),
    api(_problem(X=np.zeros((3, 0))), ArrayShapeError, "at least one sample", id="X-empty"),
    api(_problem(params=[(W1, b1)]), ProblemError, "params has 1 layer(s)", "the spec has 2",
        id="params-count"),
    # arrays: dtype
    api(_problem(X=X.astype(np.int64)), ArrayDtypeError, "dtype int64", "expected float64",
        id="dtype-int"),
    api(_problem(W2=W2.astype(np.float32)), ArrayDtypeError, "W2", "dtype float32",
        id="dtype-float32"),
    api(_problem(Y=Y.astype(np.complex128)), ArrayDtypeError, "dtype complex128",
        id="dtype-complex"),
    api(_problem(b1=b1.astype(object)), ArrayDtypeError, "dtype object", id="dtype-object"),
    api(_problem(W1=W1.tolist()), ArrayDtypeError, "must be a numpy.ndarray", "got list",
        id="list-not-array"),
    # arrays: values
    api(_problem(X=_with(X, (1, 2), np.nan)), NonFiniteError, "X", "first at index (1, 2)",
        "nan", id="nan"),
    api(_problem(W2=_with(W2, (0, 3), -np.inf)), NonFiniteError, "W2", "-inf", id="inf"),
    api(_problem(Y=_with(Y, (1, 4), 1.5)), TargetRangeError, "targets in [0, 1]", "Y[1, 4] = 1.5",
        id="bce-target-above-1"),
    api(_problem(Y=_with(Y, (0, 0), -0.25)), TargetRangeError, "Y[0, 0] = -0.25",
        id="bce-target-below-0"),
    # Problem.random, check(), audit() arguments
    api(lambda: Problem.random(SPEC, 0, 0), ProblemError, "batch must be a positive int",
        id="random-batch-zero"),
    api(lambda: Problem.random(SPEC, 4, -1), ProblemError, "seed must be a non-negative int",
        id="random-seed-negative"),
    api(lambda: Problem.random(SPEC, 4, 0, float("inf")), ProblemError,
        "weight_scale must be a positive finite number", id="random-weight-scale-inf"),
    api(lambda: check(_grads, "problem"), HarnessError, "must be a harness.Problem",  # type: ignore[arg-type]
        id="check-not-a-problem"),
    api(lambda: check(_grads, PROBLEM, timeout=-1), HarnessError, "timeout must be a positive",
        id="check-timeout-negative"),
    api(lambda: audit(_grads, examples=0), HarnessError, "examples must be a positive int",
        id="audit-examples-zero"),
    # found by tests/fuzz: these escaped as OverflowError, ValueError, TypeError
    api(lambda: check(_grads, PROBLEM, timeout=1e308), HarnessError,
        "timeout must be a positive number of seconds (at most", id="check-timeout-huge"),
    api(lambda: check(_grads, PROBLEM, name=JUNK[2]), HarnessError, "name must be a str",
        id="check-name-not-str"),
    api(lambda: audit(_grads, examples=1, seed=JUNK[3]), HarnessError, "seed must be an int",
        id="audit-seed-not-int"),
    # plug-ins
    plugin(raises, "raises", "candidate raised ZeroDivisionError", "test_bad_input.py",
           id="raises"),
    plugin(returns_none, "count", "candidate returned NoneType", "expected a list of 2",
           id="returns-none"),
    plugin(wrong_count, "count", "returned 1 layer(s) of gradients, expected 2", id="wrong-count"),
    plugin(wrong_shape, "shape", "layer 1 db: candidate shape (4, 1), expected (4,)",
           id="wrong-shape-column-bias"),
    plugin(transposed_shape, "shape", "layer 1 dW: candidate shape (3, 4), expected (4, 3)",
           id="wrong-shape-transposed"),
    plugin(lists, "shape", "candidate returned list, expected a plain numpy.ndarray of dtype",
           id="lists-not-arrays"),
    plugin(float32, "shape", "candidate dtype float32, expected float64", id="float32"),
    plugin(nan, "nonfinite", "layer 1 db: 1/4 entries are not finite, first [2] = nan", id="nan"),
    plugin(mutates, "mutates_inputs", "modified its inputs in place: X", id="mutates-inputs"),
    plugin(hangs, "timeout", "did not return within 0.5 s", id="hangs-past-timeout"),
    # CLI
    cli(["audit", "no/such/file.py:backward"], "candidate file 'no/such/file.py' does not exist",
        id="missing-file"),
    cli(["audit", "reference"], "must be PATH.py:FUNC or module:FUNC", id="target-without-colon"),
    cli(["audit", "::"], "'' is not a function name", id="target-colons"),
    cli(["verify", "--candidate", "reference:1x"], "'1x' is not a function name",
        id="target-bad-function-name"),
    cli(["audit", "reference:backwards"], "has no function 'backwards'", "backward",
        id="function-not-found"),
    cli(["audit", "no_such_module_xyz:backward"], "could not load no_such_module_xyz:backward",
        "there is no module 'no_such_module_xyz'", "no_such_module_xyz.py:backward",
        id="module-not-found"),
    cli(["audit", "reference:backward", "--sizes", "4,x,1"], "--sizes",
        "not a comma-separated list of positive ints", id="sizes-junk"),
    cli(["verify", "--sizes", "4"], "sizes need at least two positive ints", id="sizes-one"),
    cli(["verify", "--sizes", "4,0,1"], "sizes need at least two positive ints", id="sizes-zero"),
    cli(["audit", "reference:backward", "--loss", "hinge"], "--loss", "invalid choice: 'hinge'",
        id="loss-unknown"),
    cli(["audit", "reference:backward", *ONE[:2], "--activations", "tanh,sigmod", *ONE[4:]],
        "layer 2: unknown activation 'sigmod'", "did you mean 'sigmoid'",
        id="activation-unknown"),
    cli(["audit", "reference:backward", "--sizes", "3,2", "--problem-seed", "0"],
        "needs all of --sizes, --activations and --loss", id="one-problem-incomplete"),
    cli(["audit", "reference:backward", "--examples", "0"], "--examples must be a positive int",
        id="examples-zero"),
    cli(["audit", "reference:backward", *ONE, "--timeout", "0"], "timeout must be a positive",
        id="timeout-zero"),
    cli(["audit", "reference:backward", *ONE, "--batch", "0"], "batch must be a positive int",
        id="batch-zero"),
    cli([], "the following arguments are required: command", id="no-subcommand"),
    cli(["prove"], "invalid choice: 'prove'", id="unknown-subcommand"),
]
# fmt: on


def _innermost_frame(error: BaseException) -> str:
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return "" if tb is None else tb.tb_frame.f_code.co_filename


@pytest.mark.parametrize(("surface", "subject", "expected", "fragments"), CASES)
def test_bad_input_gets_a_typed_error_that_names_it(
    surface: str,
    subject: Any,
    expected: Any,
    fragments: tuple[str, ...],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if surface == "api":
        with pytest.raises(HarnessError) as caught:
            subject()
        message = str(caught.value)
        assert type(caught.value) is expected, f"{type(caught.value).__name__}: {message}"
        # Raised on purpose by the harness, not escaping from inside numpy or SymPy.
        assert Path(_innermost_frame(caught.value)).parent == HARNESS_DIR
    elif surface == "plugin":
        report = check(subject, PROBLEM, timeout=0.5)  # a misbehaving plug-in never raises here
        assert not report.passed
        matching = [f for f in report.findings if f.kind == expected]
        assert matching, [f.headline for f in report.findings]
        message = "\n".join(f.detail for f in matching)
        assert "Traceback" not in str(report)
    else:
        command = subject[:1] in (["audit"], ["verify"])
        argv = [*subject, "--report-dir", str(tmp_path)] if command else subject
        code: Any
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
        captured = capsys.readouterr()
        message = captured.err
        assert code == expected, captured.out + captured.err
        assert "Traceback" not in captured.err + captured.out
        assert not list(tmp_path.iterdir()), "bad usage must not write a report"
    assert "Traceback" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_the_table_covers_at_least_twenty_classes() -> None:
    assert len(CASES) >= 20
    assert {p.values[0] for p in CASES} == {"api", "plugin", "cli"}  # type: ignore[attr-defined]


def test_candidate_errors_are_harness_errors() -> None:
    """The CLI's one-line error path relies on every load failure being a HarnessError."""
    assert issubclass(CandidateError, HarnessError)
