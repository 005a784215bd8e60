"""Backprops written in the styles people use, audited through their adapters (issue 13): each
correct one passes, each injected bug is caught and pinned to the tensors it breaks."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

import pytest

import reference
from harness import NetworkSpec, Problem, UsageError, audit, check
from harness.adapters import (
    AdapterError,
    from_columns,
    from_dict,
    from_layers,
    from_per_sample,
    from_rows,
)
from harness.cli import main

STYLES = Path(__file__).resolve().parent / "styles"
sys.path.insert(0, str(STYLES))

import column_bias  # noqa: E402 - tests/styles is put on sys.path above
import cs231n  # noqa: E402
import factory  # noqa: E402
import layers  # noqa: E402
import nielsen  # noqa: E402

SIGMOID_NET = NetworkSpec((3, 4, 2), ("sigmoid", "sigmoid"), "mse")


def _wrong(report: object) -> set[tuple[int | None, str | None]]:
    return {(f.layer, f.param) for f in report.findings}  # type: ignore[attr-defined]


def test_nielsen_per_sample_backprop_passes_an_audit() -> None:
    net = nielsen.Network()
    report = audit(from_per_sample(net.backprop), examples=20, seed=0)
    assert report.passed and report.judged == report.examples == 20


def test_nielsen_summed_over_the_batch_is_the_sum_reduction() -> None:
    backward = from_per_sample(nielsen.Network().backprop, reduction="sum")
    assert audit(backward, examples=10, seed=1).passed
    # Judged against the seeds' mse (no ½, averaged) it is off by the factor 2/m it lacks.
    report = check(lambda *a: backward(*a), Problem.random(SIGMOID_NET, 5, seed=0))
    assert not report.passed


@pytest.mark.parametrize(
    ("bug", "tensors"),
    [
        # σ' used in every layer: every tensor is off
        ("sigmoid_prime_is_sigmoid", {(1, "W"), (1, "b"), (2, "W"), (2, "b")}),
        ("output_delta_without_sigma_prime", {(1, "W"), (1, "b"), (2, "W"), (2, "b")}),
        ("cost_derivative_flipped", {(1, "W"), (1, "b"), (2, "W"), (2, "b")}),
    ],
)
def test_nielsen_bugs_are_caught_through_the_adapter(
    bug: str, tensors: set[tuple[int, str]]
) -> None:
    backward = from_per_sample(nielsen.Network(bug=bug).backprop)
    spec = NetworkSpec((3, 4, 2), ("sigmoid", "sigmoid"), backward.supports["losses"][0])
    problem = Problem.random(spec, 5, seed=0)
    report = check(backward, problem)
    assert not report.passed
    assert _wrong(report) == tensors
    assert not audit(backward, examples=10, seed=0).passed


def test_from_per_sample_usage_errors_say_the_fix() -> None:
    with pytest.raises(AdapterError, match="pass set_params="):
        from_per_sample(lambda x, y: ([], []))
    with pytest.raises(AdapterError, match="returns must be 'b,w' or 'w,b'"):
        from_per_sample(nielsen.Network().backprop, returns="bw")
    with pytest.raises(AdapterError, match="reduction must be 'mean'"):
        from_per_sample(nielsen.Network().backprop, reduction="avg")


# --- column biases (n, 1), the contract's layout ---------------------------------------------

TANH_BCE = NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "bce")
SUPPORTS = column_bias.SUPPORTS


def test_column_biases_pass_through_from_columns() -> None:
    backward = from_columns(column_bias.backward, supports=SUPPORTS)
    assert check(backward, Problem.random(TANH_BCE, 5, seed=0)).passed
    report = audit(backward, examples=20, seed=0)
    assert report.passed and report.judged == 20
    # Without the adapter its (n,) biases do not broadcast the way it expects (n, 1) ones to.
    plain = check(column_bias.backward, Problem.random(TANH_BCE, 5, seed=0))
    assert [(f.layer, f.kind) for f in plain.findings] == [(None, "raises")]


@pytest.mark.parametrize(
    ("bug", "tensors"),
    [
        ("db_not_averaged", {(1, "b"), (2, "b")}),
        ("tanh_prime_not_squared", {(1, "W"), (1, "b")}),
        ("output_delta_uses_z", {(1, "W"), (1, "b"), (2, "W"), (2, "b")}),
    ],
)
def test_column_bias_bugs_are_caught_through_the_adapter(
    bug: str, tensors: set[tuple[int, str]]
) -> None:
    backward = from_columns(column_bias.BUGGY[bug], supports=SUPPORTS)
    report = check(backward, Problem.random(TANH_BCE, 5, seed=0))
    assert _wrong(report) == tensors


def test_the_cli_audits_column_biases_and_replays_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = f"{STYLES / 'column_bias.py'}:backward"
    reports = ["--report-dir", str(tmp_path / "r")]
    one = ["--sizes", "3,4,2", "--activations", "tanh,sigmoid", "--loss", "bce"]
    assert main(["audit", target, "--bias", "column", "--examples", "10", *reports]) == 0
    assert main(["audit", target, *one, "--problem-seed", "0", *reports]) == 1  # (n, 1) db
    summary = json.loads((tmp_path / "r" / "latest" / "summary.json").read_text())
    assert "--bias" not in summary["cases"][0]["reproduce"]
    assert main(["audit", target, "--bias", "row", *one, "--problem-seed", "0", *reports]) == 1
    summary = json.loads((tmp_path / "r" / "latest" / "summary.json").read_text())
    assert "--bias row" in summary["cases"][0]["reproduce"]
    assert main(["audit", target, "--bias", "column", "--layout", "flat", *one, *reports]) == 2
    assert "--bias applies to --layout columns or rows" in capsys.readouterr().err


def test_from_rows_takes_row_biases() -> None:
    def rows_with_row_bias(params_rows, X_rows, Y_rows, activations, loss):  # type: ignore[no-untyped-def]
        assert all(b.shape == (1, W.shape[1]) for W, b in params_rows)
        columns = reference.backward(
            [(W.T, b[0]) for W, b in params_rows], X_rows.T, Y_rows.T, activations, loss
        )
        return [(dW.T, db[None, :]) for dW, db in columns]

    backward = from_rows(rows_with_row_bias, bias="row")
    assert check(backward, Problem.random(TANH_BCE, 5, seed=0)).passed
    with pytest.raises(AdapterError, match="bias must be 'vector'"):
        from_rows(rows_with_row_bias, bias="columns")


# --- dict parameters and loss(X, y) -> (loss, grads): cs231n ---------------------------------

RELU_SOFTMAX = NetworkSpec((3, 4, 2), ("relu", "softmax"), "cross_entropy", l2=0.1)


def test_a_cs231n_classifier_passes_through_from_dict() -> None:
    model = cs231n.TwoLayerNet(reg=0.1)
    backward = from_dict(model.loss, activations=("relu", "softmax"), l2=model.reg)
    assert check(backward, Problem.random(RELU_SOFTMAX, 5, seed=0)).passed
    report = audit(backward, examples=20, seed=0)
    assert report.passed and report.judged == 20


@pytest.mark.parametrize(
    ("bug", "tensors"),
    [
        ("l2_gradient_missing", {(1, "W"), (2, "W")}),
        ("scores_gradient_not_averaged", {(1, "W"), (1, "b"), (2, "W"), (2, "b")}),
        ("relu_backward_missing", {(1, "W"), (1, "b")}),
    ],
)
def test_cs231n_bugs_are_caught_through_the_adapter(
    bug: str, tensors: set[tuple[int, str]]
) -> None:
    model = cs231n.TwoLayerNet(reg=0.1, bug=bug)
    backward = from_dict(model.loss, activations=("relu", "softmax"), l2=model.reg)
    report = check(backward, Problem.random(RELU_SOFTMAX, 8, seed=3, weight_scale=2.0))
    assert _wrong(report) == tensors


def test_the_cli_audits_a_dict_model_with_layout_dict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = f"{STYLES / 'cs231n.py'}:TwoLayerNet.loss"  # built with no arguments: reg=0.1
    dict_net = ["--layout", "dict", "--activations", "relu,softmax", "--examples", "15"]
    reports = ["--report-dir", str(tmp_path / "r")]
    assert main(["audit", target, *dict_net, "--l2", "0.1", *reports]) == 0
    # without --l2 its reg·W is a finding on each dW; the line replays through the adapter
    assert main(["audit", target, *dict_net, *reports]) == 1
    summary = json.loads((tmp_path / "r" / "latest" / "summary.json").read_text())
    minimal = summary["cases"][0]
    assert {(r["layer"], r["param"]) for r in minimal["records"] if r["status"] != "ok"} <= {
        (1, "W"),
        (2, "W"),
    }
    assert "--layout dict" in minimal["reproduce"]
    import shlex

    replay = [*shlex.split(minimal["reproduce"])[1:], "--report-dir", str(tmp_path / "again")]
    assert main(replay) == 1
    assert main(["audit", target, "--layout", "dict", *reports]) == 2
    assert "--layout dict needs --activations" in capsys.readouterr().err


def test_from_dict_usage_errors_say_the_fix() -> None:
    with pytest.raises(AdapterError, match=r"pass params=model\.params"):
        from_dict(lambda X, y: (0.0, {}), activations=("relu", "softmax"))
    with pytest.raises(AdapterError, match="layout must be 'rows' or 'columns'"):
        from_dict(cs231n.TwoLayerNet().loss, activations=("softmax",), layout="cols")
    with pytest.raises(AdapterError, match="keys must be two patterns"):
        from_dict(cs231n.TwoLayerNet().loss, activations=("softmax",), keys=("W", "b"))


# --- usage errors that say the fix (issue 13, point 4) -----------------------------------------

SIGNATURES = """
def loss(X, y):
    return 0.0, {}

def grad(theta, X, Y):
    return theta

def backprop(x, y):
    return [], []

def returns_a_dict(params, X, Y, activations, loss):
    return {"W1": params[0][0], "b1": params[0][1]}
"""


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        ("loss", ["loss(X, y) takes 2 positional arguments where the contract passes 5",
                  "from_dict", "from_per_sample"]),
        ("backprop", ["backprop(x, y) takes 2 positional arguments", "from_per_sample"]),
        ("grad", ["grad(theta, X, Y) takes 3 positional arguments", "--layout flat"]),
    ],
)  # fmt: skip
def test_a_wrong_signature_is_exit_2_naming_the_adapter_that_fits(
    name: str, fragments: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "signatures.py"
    path.write_text(SIGNATURES)
    reports = tmp_path / "reports"
    assert main(["audit", f"{path}:{name}", "--examples", "3", "--report-dir", str(reports)]) == 2
    err = capsys.readouterr().err
    assert f"could not load {path}:{name}" in err and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    assert not reports.exists()  # no report folder for a usage error


def test_a_returned_dict_names_from_dict(tmp_path: Path) -> None:
    path = tmp_path / "signatures.py"
    path.write_text(SIGNATURES)
    report = check(f"{path}:returns_a_dict", Problem.random(TANH_BCE, 3, seed=0))
    (finding,) = report.findings
    assert "returned dict" in finding.detail and "from_dict" in finding.detail


# --- layer objects with forward/backward and dW/db attributes -----------------------------------

TANH_MSE = NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "mse")
LAYER_SUPPORT = {"activations": ["tanh", "sigmoid"], "losses": ["mse"]}


def _layered(bug: str | None = None) -> Any:
    return from_layers(
        functools.partial(layers.build, bug=bug),
        layers.MSE(bug).grad,
        supports=LAYER_SUPPORT,
    )


def test_layer_objects_pass_through_from_layers() -> None:
    assert check(_layered(), Problem.random(TANH_MSE, 5, seed=0)).passed
    report = audit(_layered(), examples=20, seed=0)
    assert report.passed and report.judged == 20


@pytest.mark.parametrize(
    ("bug", "tensors"),
    [
        ("db_averaged_again", {(1, "b"), (2, "b")}),
        ("tanh_backward_not_squared", {(1, "W"), (1, "b")}),
        ("loss_grad_without_the_2", {(1, "W"), (1, "b"), (2, "W"), (2, "b")}),
    ],
)
def test_layer_object_bugs_are_caught_through_the_adapter(
    bug: str, tensors: set[tuple[int, str]]
) -> None:
    report = check(_layered(bug), Problem.random(TANH_MSE, 5, seed=0))
    assert _wrong(report) == tensors


def test_from_layers_says_when_the_layers_do_not_fit_the_network() -> None:
    one_dense = from_layers(
        lambda sizes, activations: [layers.Dense(sizes[0], sizes[-1])],
        layers.MSE().grad,
        supports=LAYER_SUPPORT,
    )
    report = check(one_dense, Problem.random(TANH_MSE, 5, seed=0))
    (finding,) = report.findings
    assert "built 1 layer(s) with a 'W' attribute for a network of 2" in finding.detail


# --- factory-made functions: make(...) returning a closure ---------------------------------------


def test_a_factory_made_backprop_passes_from_python_and_from_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for loss in ("mse", "bce"):
        report = audit(factory.make(loss), examples=20, seed=0)
        assert report.passed and report.judged == 20, loss
    target = f"{STYLES / 'factory.py'}:make()"  # the factory, called in the worker
    assert main(["audit", target, "--examples", "10", "--report-dir", str(tmp_path)]) == 0
    capsys.readouterr()


@pytest.mark.parametrize(
    ("bug", "spec", "tensors"),
    [
        # σ' taken at A: only the hidden sigmoid layer's delta (the output is tanh)
        ("sigmoid_prime_of_a", ("sigmoid", "tanh"), {(1, "W"), (1, "b")}),
        ("mse_without_the_2", ("tanh", "tanh"), {(1, "W"), (1, "b"), (2, "W"), (2, "b")}),
        ("output_delta_without_g_prime", ("tanh", "sigmoid"),
         {(1, "W"), (1, "b"), (2, "W"), (2, "b")}),
    ],
)  # fmt: skip
def test_factory_bugs_are_caught_and_localized(
    bug: str, spec: tuple[str, str], tensors: set[tuple[int, str]]
) -> None:
    backward = factory.make(bug=bug)
    report = check(backward, Problem.random(NetworkSpec((3, 4, 2), spec, "mse"), 5, seed=0))
    assert _wrong(report) == tensors
    # a closure: its reproduce line is the Python call, naming the function it made
    assert report.case.reproduce.startswith("check(backward, Problem.random(")


def test_factory_bugs_in_a_campaign() -> None:
    assert not audit(factory.make(bug="sigmoid_prime_of_a"), examples=30, seed=0).passed
    assert not audit(factory.make(bug="output_delta_without_g_prime"), examples=30, seed=0).passed
    # the missing 2 is exactly the ½·MSE gradient: a campaign names that convention instead
    with pytest.raises(UsageError, match=r"Loss\('mse', half=True\)"):
        audit(factory.make(bug="mse_without_the_2"), examples=30, seed=0)


def test_an_object_built_at_import_by_the_factory_is_a_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = f"{STYLES / 'factory.py'}:buggy"
    assert main(["audit", target, "--examples", "20", "--report-dir", str(tmp_path)]) == 1
    summary = json.loads((tmp_path / "latest" / "summary.json").read_text())
    assert summary["cases"][0]["reproduce"].startswith(f"gradcheck-harness audit {target} ")
    capsys.readouterr()
