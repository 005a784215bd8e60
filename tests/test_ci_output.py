"""What CI reads (harness/ci_output.py): --junit-xml, GitHub annotations, --json, the plain
progress line in a log, tables that do not wrap."""

from __future__ import annotations

import argparse
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from output import first_result_line

from harness.ci_output import PlainProgress, escape_data, escape_property
from harness.cli import LOG_WIDTH, _console, main

META = Path(__file__).resolve().parent / "meta"
WRONG = f"{META / 'transposed_dW.py'}:backward"


def test_a_wrong_backprop_gives_a_junit_failure_annotations_and_the_json_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    junit = tmp_path / "out" / "j.xml"
    code = main(["audit", WRONG, "--examples", "20", "--report-dir", str(tmp_path),
                 "--junit-xml", str(junit), "--json"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 1, err
    # --json: stdout is summary.json's text, and only that; the human output went to stderr
    summary = json.loads((tmp_path / "latest" / "summary.json").read_text(encoding="utf-8"))
    assert json.loads(out) == summary and summary["interrupted"] is False
    assert first_result_line(err) == summary["headline"]  # stdout held the JSON alone
    # JUnit: the minimal failing case first, its failure carrying the headline and reproduce
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite" and int(suite.get("failures", "0")) >= 1
    cases = suite.findall("testcase")
    assert len(cases) == int(suite.get("tests", "-1")) == len(summary["cases"])
    failure = cases[0].find("failure")
    assert failure is not None and "looks transposed" in failure.get("message", "")
    assert failure.text is not None and "reproduce: gradcheck-harness audit" in failure.text
    assert not list(junit.parent.glob(".j.xml.*"))  # the temporary file was renamed
    # annotations: one ::error per failing tensor of the minimal case, one line each
    errors = [line for line in err.splitlines() if line.startswith("::error ")]
    assert errors and all("title=gradcheck-harness%3A gradient wrong%3A layer" in e for e in errors)
    assert all("%0Areproduce%3A" not in e and "%0Areproduce: " in e for e in errors)
    assert "file=" in errors[0] and "transposed_dW.py" in errors[0]


def test_a_passing_run_has_no_junit_failure_and_no_annotation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    junit = tmp_path / "j.xml"
    code = main(["audit", "reference:backward", "--examples", "5", "--report-dir",
                 str(tmp_path), "--junit-xml", str(junit)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    suite = ET.parse(junit).getroot()
    assert suite.findall("testcase") and not suite.findall(".//failure")
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    assert "::error" not in out and "::warning" not in out


def test_workflow_command_escaping() -> None:
    assert escape_data("50% off\r\nnext") == "50%25 off%0D%0Anext"
    assert escape_property("layer 1 dW: a, b") == "layer 1 dW%3A a%2C b"


def test_a_log_gets_a_plain_progress_line_every_few_seconds() -> None:
    stream = io.StringIO()
    progress = PlainProgress("verify", stream, every=0.0)
    progress("checking", 120, 4000)
    progress("shrinking", 121, 4000)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("verify: 120/4000 examples, 0 failing, ") and lines[0].endswith(" s")
    assert lines[1].startswith("verify: 121/4000 examples, 1 failing, shrinking it")
    quiet = io.StringIO()
    slow = PlainProgress("audit", quiet)  # default: a line per 5 s, none at once
    slow("checking", 1, 10)
    assert quiet.getvalue() == ""


def test_a_log_is_wide_enough_that_tables_do_not_wrap() -> None:
    for json_flag in (False, True):
        console = _console(argparse.Namespace(json=json_flag))  # under pytest: not a terminal
        assert not console.is_terminal and console.width == LOG_WIDTH
