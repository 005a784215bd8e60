"""Verdict tiers, precision and robustness as a user meets them on the command line, in reports
and in pytest (issue 12): imprecise entries warn and pass unless --strict, float32 code is judged
as float32, and a failure seen only at large weight scales is reported as robustness."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from output import first_result_line

from harness import NetworkSpec, Problem, audit, check
from harness.campaign import scales_up_to
from harness.cli import main
from harness.errors import HarnessError
from harness.pytest_plugin import (
    GradientMismatch,
    GradientPrecisionWarning,
    assert_backprop_correct,
)

HERE = Path(__file__).parent / "tiers"
ONE = ["--sizes", "3,4,2", "--activations", "tanh,sigmoid", "--loss", "mse", "--batch", "5",
       "--problem-seed", "2"]  # fmt: skip


def _summary(root: Path) -> dict[str, object]:
    data = json.loads((root / "latest" / "summary.json").read_text())
    assert isinstance(data, dict)
    return data


def test_imprecise_entries_pass_with_warnings_everywhere_and_fail_under_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = f"{HERE / 'imprecise.py'}:backward"
    assert main(["audit", target, *ONE, "--report-dir", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert first_result_line(out).startswith("PASS with warnings") and "entries imprecise" in out
    summary = _summary(tmp_path / "a")
    assert summary["passed"] is True and summary["warned"] == 1 and summary["warnings"]
    md = (tmp_path / "a" / "latest" / "summary.md").read_text()
    assert "PASS with warnings" in md and "## Warnings — imprecise entries" in md
    html = (tmp_path / "a" / "latest" / "report.html").read_text()
    assert '<div class="warnings">' in html and "WARNINGS" in html

    assert main(["audit", target, *ONE, "--strict", "--report-dir", str(tmp_path / "b")]) == 1
    out = capsys.readouterr().out
    assert "imprecise (strict)" in out and "--strict" in out  # the reproduce line keeps it
    assert _summary(tmp_path / "b")["strict"] is True

    # A band wider than the error: no longer even imprecise? No: still beyond the rounding
    # model, so imprecise; a band of 0 makes the same entries wrong.
    assert main(["audit", target, *ONE, "--tau", "0", "--alpha", "0",
                 "--report-dir", str(tmp_path / "c")]) == 1  # fmt: skip
    assert "entries wrong" in capsys.readouterr().out


def test_a_campaign_counts_the_examples_with_warnings() -> None:
    report = audit(f"{HERE / 'imprecise.py'}:backward", examples=6, seed=1)
    assert report.passed and report.warned == 6 and report.warnings
    assert all(r.status == "imprecise" and r.passed for r in report.warnings)
    assert "passed with warnings" in str(report)
    strict = audit(f"{HERE / 'imprecise.py'}:backward", examples=6, seed=1, strict=True)
    assert not strict.passed and strict.findings[0].kind == "imprecise"


def test_float32_code_is_judged_as_float32_only_when_declared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = f"{HERE / 'float32_backprop.py'}:backward"
    assert main(["audit", target, *ONE, "--report-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "float32" in out and "--precision float32" in out  # the hint names the flag
    assert main(["audit", target, *ONE, "--precision", "float32", "--report-dir",
                 str(tmp_path)]) == 0  # fmt: skip
    assert _summary(tmp_path)["precision"] == "float32"
    report = audit(target, examples=8, precision="float32")
    assert report.passed, str(report)
    assert report.cases[0].problem.X.dtype.name == "float64"  # kept as float64 ...
    X = report.cases[0].problem.X
    assert (X.astype("float32").astype("float64") == X).all()  # ... rounded to float32


def test_an_unknown_precision_or_band_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = f"{HERE / 'imprecise.py'}:backward"
    with pytest.raises(SystemExit) as exit_info:
        main(["audit", target, "--precision", "float16"])
    assert exit_info.value.code == 2
    assert main(["audit", target, *ONE, "--tau", "2"]) == 2
    assert "--tau must be a number in [0, 1)" in capsys.readouterr().err
    problem = Problem.random(NetworkSpec((2, 1), ("tanh",), "mse"), 2, seed=0)
    with pytest.raises(HarnessError, match="precision must be one of 'float64', 'float32'"):
        check(f"{HERE / 'imprecise.py'}:backward", problem, precision="half")


def test_a_failure_seen_only_at_large_weight_scales_is_robustness(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = f"{HERE / 'clipped_bce.py'}:backward"
    family = ["--sizes", "3,8,1", "--activations", "tanh,sigmoid", "--loss", "bce"]
    code = main(["audit", target, *family, "--examples", "30", "--report-dir", str(tmp_path)])
    assert code == 1
    out = capsys.readouterr().out
    assert first_result_line(out).startswith(
        "FAIL (robustness): the formulas agree at weight scale ≤ 1"
    )
    summary = _summary(tmp_path)
    assert str(summary["robustness"]).startswith("robustness: the formulas agree")
    minimal = summary["cases"][0]  # type: ignore[index]
    assert minimal["weight_scale"] > 1  # type: ignore[index]
    md = (tmp_path / "latest" / "summary.md").read_text()
    assert md.startswith("# FAIL (robustness): the formulas agree at weight scale ≤ 1")
    # Restricted to the formulas' scales, the same code passes.
    assert main(["audit", target, *family, "--examples", "30", "--max-weight-scale", "1",
                 "--report-dir", str(tmp_path)]) == 0  # fmt: skip
    assert "--max-weight-scale 1" in _summary(tmp_path)["command"]  # type: ignore[operator]


def test_a_formula_bug_is_found_in_the_formulas_phase() -> None:
    target = str(Path(__file__).parent / "meta" / "g_prime_of_A.py") + ":backward"
    report = audit(target, examples=30)
    assert not report.passed and report.robustness is None
    assert report.cases[0].problem.weight_scale <= 1


def test_weight_scales_are_validated() -> None:
    assert scales_up_to(1.0) == (1.0, 0.1, 0.5)
    with pytest.raises(HarnessError, match="leaves no weight scale"):
        scales_up_to(0.01)
    with pytest.raises(HarnessError, match="weight_scales must"):
        audit(f"{HERE / 'imprecise.py'}:backward", examples=2, weight_scales=())


def test_the_pytest_helper_warns_on_imprecise_entries_and_fails_when_strict(
    tmp_path: Path,
) -> None:
    problem = Problem.random(NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "mse"), 5, seed=2)
    target = f"{HERE / 'imprecise.py'}:backward"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert_backprop_correct(target, problem=problem)
    assert any(issubclass(w.category, GradientPrecisionWarning) for w in caught)
    with pytest.raises(GradientMismatch, match="imprecise"):
        assert_backprop_correct(target, problem=problem, strict=True, report_dir=tmp_path)
