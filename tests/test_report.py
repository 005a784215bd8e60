"""The report: three files per run in a fresh directory, written atomically, deterministic, and
readable — summary.json names the broken tensors, summary.md shows only the worst entries, and
report.html renders in a real browser with one heatmap section per (case, layer, tensor).

Cases are built without a campaign: `reference.backward` with one deliberate bug, compared
against the sources. The Chromium test skips when no browser is installed, except under CI=true,
where it fails (.ci/run installs Chromium, so a skip there would hide a broken page).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import harness.report
import reference
from harness.case import CaseResult
from harness.compare import TensorRecord, compare, evaluate_sources
from harness.report import SCHEMA_VERSION, Run, write_report
from harness.report_html import MAX_CELLS, downsample, ratio_color, render_html, section_id
from harness.spec import NetworkSpec, Problem
from harness.taylor import taylor_check

Array = NDArray[np.float64]
Grads = list[tuple[Array, Array]]
FILES = ("summary.json", "summary.md", "report.html")
CANDIDATE = "tests/meta/x.py:backward"
COMMAND = "gradcheck-harness audit tests/meta/x.py:backward --seed 7"


def _case(spec: NetworkSpec, batch: int, seed: int, bug: Callable[[Grads], None]) -> CaseResult:
    problem = Problem.random(spec, batch, seed=seed)
    grads = [
        (dW.copy(), db.copy())
        for dW, db in reference.backward(
            problem.params, problem.X, problem.Y, problem.spec.activations, problem.spec.loss
        )
    ]
    bug(grads)
    records = compare(problem, grads, evaluate_sources(problem))
    return CaseResult(problem, records, taylor_check(problem, grads), CANDIDATE)


def _transpose_layer_2_dW(grads: Grads) -> None:
    dW, db = grads[1]
    grads[1] = (dW.T.reshape(dW.shape).copy(), db)


def _perturb_layer_1_dW_entry(grads: Grads) -> None:
    grads[0][0][2, 1] += 1e-6


def _shift_all_of_layer_1_dW(grads: Grads) -> None:
    grads[0][0][...] += 1.0


def _no_bug(grads: Grads) -> None:
    pass


@pytest.fixture(scope="module")
def run() -> Run:
    spec = NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "mse")
    cases = (
        _case(spec, 5, 1, _transpose_layer_2_dW),
        _case(spec, 5, 2, _perturb_layer_1_dW_entry),
        _case(NetworkSpec((8, 32, 2), ("tanh", "sigmoid"), "mse"), 4, 3, _shift_all_of_layer_1_dW),
        _case(spec, 5, 4, _no_bug),
    )
    return Run(CANDIDATE, 7, "default", 200, cases, False, COMMAND)


def _read(run_dir: Path) -> dict[str, bytes]:
    return {name: (run_dir / name).read_bytes() for name in FILES}


def _blamed(case: dict[str, Any]) -> set[tuple[int, str]]:
    return {(r["layer"], r["param"]) for r in case["records"] if r["status"] != "ok"}


# --- the directory and the files ----------------------------------------------------------------


def test_each_write_makes_a_new_directory_with_three_files_and_moves_latest(
    run: Run, tmp_path: Path
) -> None:
    first = write_report(run, tmp_path)
    assert first.parent == tmp_path
    assert sorted(p.name for p in first.iterdir()) == sorted(FILES)
    assert (tmp_path / "latest").is_symlink()
    assert (tmp_path / "latest").resolve() == first.resolve()

    second = write_report(run, tmp_path)
    assert second != first
    assert (tmp_path / "latest").resolve() == second.resolve()
    assert _read(first) == _read(second), "the same Run must give byte-identical files"
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_the_report_root_is_created_when_missing(run: Run, tmp_path: Path) -> None:
    run_dir = write_report(run, tmp_path / "deep" / "reports")
    assert (run_dir / "summary.json").is_file()


def test_a_killed_html_write_leaves_no_partial_file_and_earlier_files_complete(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference_dir = write_report(run, tmp_path / "reference")
    real_open = open

    class FullDisk:
        """A file that writes half of its text, then fails like a full disk."""

        def __init__(self, f: Any) -> None:
            self.f = f

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

        def write(self, text: str) -> int:
            self.f.write(text[: len(text) // 2])
            self.f.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

    def failing_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        f = real_open(path, *args, **kwargs)
        return FullDisk(f) if "report.html" in Path(path).name else f

    monkeypatch.setattr(harness.report, "open", failing_open, raising=False)
    with pytest.raises(OSError, match="No space left"):
        write_report(run, tmp_path / "killed")
    (run_dir,) = [p for p in (tmp_path / "killed").iterdir() if not p.name.startswith(".")]
    assert sorted(p.name for p in run_dir.iterdir()) == ["summary.json", "summary.md"]
    for name in ("summary.json", "summary.md"):
        assert (run_dir / name).read_bytes() == (reference_dir / name).read_bytes()
    assert not (tmp_path / "killed" / "latest").exists(), "latest moves only after all files"


# --- summary.json -------------------------------------------------------------------------------


def test_summary_json_has_schema_versions_and_blames_exactly_the_broken_tensors(
    run: Run, tmp_path: Path
) -> None:
    summary = json.loads((write_report(run, tmp_path) / "summary.json").read_text("utf-8"))
    assert summary["schema_version"] == SCHEMA_VERSION
    assert set(summary["versions"]) >= {"python", "numpy", "sympy", "hypothesis"}
    assert all(isinstance(v, str) for v in summary["versions"].values())
    assert (summary["candidate"], summary["seed"], summary["examples"]) == (CANDIDATE, 7, 200)
    assert (summary["profile"], summary["passed"], summary["command"]) == (
        "default",
        False,
        COMMAND,
    )
    blamed = [_blamed(case) for case in summary["cases"]]
    assert blamed == [{(2, "W")}, {(1, "W")}, {(1, "W")}, set()]
    single = next(r for r in summary["cases"][1]["records"] if r["status"] == "mismatch")
    assert single["mismatched"] == 1
    assert single["worst"][0]["index"] == [2, 1]
    assert summary["cases"][0]["taylor"]["verdict"] == "order-1"
    assert summary["cases"][0]["reproduce"] == run.cases[0].reproduce
    assert all("ratio" not in r for case in summary["cases"] for r in case["records"])


def test_summary_json_writes_non_finite_floats_as_strings(tmp_path: Path) -> None:
    problem = Problem.random(NetworkSpec((2, 1), ("tanh",), "mse"), 3, seed=0)
    records = (
        TensorRecord(1, "W", "mismatch", "layer 1 dW: odd", (1, 2), 2, 2, 0, np.inf, np.nan),
        TensorRecord(1, "b", "ok", "layer 1 db: fine", (1,), 1, ratio=np.zeros(1)),
    )
    case = CaseResult(problem, records, None, None)
    text = harness.report.summary_json(Run("c", 0, "single", 1, (case,), False, "cmd"))

    def no_constants(name: str) -> None:
        raise AssertionError(f"non-JSON constant {name} in summary.json")

    record = json.loads(text, parse_constant=no_constants)["cases"][0]["records"][0]
    assert (record["max_abs_error"], record["max_rel_error"]) == ("inf", "nan")


# --- summary.md ---------------------------------------------------------------------------------


def test_summary_md_shows_counts_worst_entries_and_reproduce_lines_but_no_matrices(
    run: Run, tmp_path: Path
) -> None:
    text = (write_report(run, tmp_path) / "summary.md").read_text("utf-8")
    transposed = next(r for r in run.cases[0].records if r.status == "mismatch")
    assert f"Mismatched elements: {transposed.mismatched} / {transposed.total}" in text
    top = "[" + ", ".join(map(str, transposed.worst[0].index)) + "]"
    assert f"| {top} |" in text
    assert transposed.detail in text
    assert "Mismatched elements: 1 / 12" in text and "| [2, 1] |" in text
    assert "Mismatched elements: 256 / 256" in text
    assert COMMAND in text and all(case.reproduce in text for case in run.cases)
    assert repr(run.cases[0].problem) in text
    assert text.index("Minimal failing case") < text.index("Failing case 2")
    assert text.index("Failing case 3") < text.index("Passing case 1")
    # pytest.approx's rule: the worst few entries, never the whole 32×8 matrix.
    assert sum(line.startswith("| [") for line in text.splitlines()) <= 3 * 5
    assert len(text.splitlines()) < 180  # with the coverage table (about 15 lines)


# --- report.html --------------------------------------------------------------------------------


class _Sections(HTMLParser):
    """The ids of elements with class layer-section, and every external reference."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if "layer-section" in (values.get("class") or "").split():
            self.ids.append(values.get("id") or "")
        for name in ("src", "href"):
            link = values.get(name) or ""
            if link and not link.startswith("#"):
                self.external.append(link)
        if tag == "link" or (tag == "script" and "src" in values):
            self.external.append(tag)


def _expected_ids(run: Run) -> list[str]:
    return [section_id(k, r) for k, case in enumerate(run.cases) for r in case.records]


def test_report_html_is_self_contained_with_a_section_per_tensor(run: Run) -> None:
    page = render_html(run)
    parser = _Sections()
    parser.feed(page)
    assert parser.ids == _expected_ids(run)
    assert "case0-layer2-W" in parser.ids
    assert parser.external == []
    assert "@import" not in page and "url(" not in page
    assert page.count("<svg") >= len(parser.ids)


def test_report_html_escapes_text() -> None:
    problem = Problem.random(NetworkSpec((2, 1), ("tanh",), "mse"), 3, seed=0)
    record = TensorRecord(None, None, "count", "candidate returned <script>alert(1)</script>")
    run = Run(
        "<b>evil</b>", 0, "single", 1, (CaseResult(problem, (record,), None, None),), False, "x"
    )
    page = render_html(run)
    assert "<script>" not in page and "<b>evil</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;evil" in page
    assert 'id="case0-call"' in page


def test_large_tensors_are_max_pooled_so_a_single_wrong_entry_still_shows() -> None:
    ratio = np.full((128, 128), 1e-3)
    ratio[77, 5] = 1e9
    pooled, block = downsample(ratio)
    assert pooled.shape == (MAX_CELLS, MAX_CELLS) and block == (2, 2)
    assert pooled[38, 2] == 1e9 and np.sum(pooled > 1) == 1
    odd, block = downsample(np.arange(130.0 * 3).reshape(130, 3))
    assert odd.shape == (44, 3) and block == (3, 1) and odd[-1, -1] == 130 * 3 - 1

    problem = Problem.random(NetworkSpec((128, 128), ("tanh",), "mse"), 1, seed=0)
    detail = "layer 1 dW: 1/16384 entries wrong"
    record = TensorRecord(1, "W", "mismatch", detail, (128, 128), 128**2, 1, ratio=ratio)
    case = CaseResult(problem, (record,), None, None)
    page = render_html(Run("c", 0, "single", 1, (case,), False, "x"))
    section = page[page.index('id="case0-layer1-W"') :]
    assert section.count("<rect") == MAX_CELLS * MAX_CELLS
    assert "shown as 64×64 cells, each the max of a 2×2 block" in section
    assert section.count(f'fill="{ratio_color(1e9)}"') == 1


def test_colours_separate_fine_from_wrong_on_a_log_scale() -> None:
    fine = [ratio_color(r) for r in (0.0, 1e-12, 1e-4, 1.0)]
    wrong = [ratio_color(r) for r in (1.01, 1e4, 1e12, np.inf)]
    assert all(int(c[5:7], 16) > int(c[1:3], 16) for c in fine), "fine is blue"
    assert all(int(c[1:3], 16) > int(c[5:7], 16) for c in wrong), "wrong is orange to red"
    assert len(set(fine[1:])) == 3 and len(set(wrong[:3])) == 3
    assert ratio_color(float("nan")) not in fine + wrong


# --- a real browser -----------------------------------------------------------------------------


def _chromium() -> str:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    )
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is not installed, but CI=true: .ci/run must install it")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return found


def _browse(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
    ]
    done = subprocess.run(
        [chromium, *flags, *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _png(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the (still filtered) scanlines of an 8-bit RGB or RGBA PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, width, height, channels, idat = 8, 0, 0, 0, b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8
            channels = {2: 3, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    scanlines = zlib.decompress(idat)
    assert len(scanlines) == height * (1 + width * channels)
    return width, height, scanlines


def test_report_html_renders_in_headless_chromium(run: Run, tmp_path: Path) -> None:
    chromium = _chromium()
    page = (write_report(run, tmp_path / "reports") / "report.html").resolve()
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>", encoding="utf-8")

    shots = {}
    for name, target in (("shot", page), ("blank", blank)):
        shots[name] = tmp_path / f"{name}.png"
        _browse(
            chromium, tmp_path / f"profile-{name}", f"--screenshot={shots[name]}",
            "--window-size=1280,2000", target.as_uri(),
        )  # fmt: skip
    width, height, scanlines = _png(shots["shot"])
    assert (width, height) == (1280, 2000)
    assert len(set(scanlines)) > 64, "the screenshot is a flat colour"
    assert shots["shot"].stat().st_size > 5 * shots["blank"].stat().st_size

    dom = _browse(chromium, tmp_path / "profile-dom", "--dump-dom", page.as_uri()).stdout
    parser = _Sections()
    parser.feed(dom)
    assert sorted(parser.ids) == sorted(_expected_ids(run))


def test_every_status_has_a_badge_colour_and_a_whole_call_finding_no_entry_counts() -> None:
    """A badge is white text: a status without a background rule is invisible in report.html."""
    import re

    from harness.compare import PASSING, STATUSES
    from harness.report_html import _CSS

    rules = {
        name: body
        for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", _CSS)
        for name in re.findall(r"\.([\w-]+)", selectors)
    }
    for status in STATUSES:
        assert "background" in rules.get(status, ""), f"no badge colour for {status!r}"
    red = rules["FAIL"]
    failing = [s for s in STATUSES if s not in PASSING and s not in ("source-disagreement",
                                                                     "imprecise")]  # fmt: skip
    assert all(rules[s] == red for s in failing), "every failure kind is red like FAIL"
    assert rules["imprecise"] != red, "an imprecise tensor is a warning (orange), not a failure"
    problem = Problem.random(NetworkSpec((2, 1), ("tanh",), "mse"), 3, seed=0)
    crashed = TensorRecord(None, None, "crashed", "candidate crashed: killed by SIGSEGV")
    case = CaseResult(problem, (crashed,), None, "x.py:backward")
    html = harness.report.render_html(
        Run("x.py:backward", 0, "single", 1, (case,), False, "gradcheck-harness audit x.py:f")
    )
    assert '<span class="badge crashed">crashed</span></td><td>—</td><td>—</td>' in html


class _Lead(HTMLParser):
    """The text of the first h1, and the row headings of table#coverage."""

    def __init__(self) -> None:
        super().__init__()
        self.h1: str | None = None
        self.coverage: list[str] = []
        self._in: str | None = None
        self._table = False
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h1" and self.h1 is None:
            self._in, self._text = "h1", ""
        elif tag == "table" and dict(attrs).get("id") == "coverage":
            self._table = True
        elif tag == "th" and self._table:
            self._in, self._text = "th", ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1" and self._in == "h1":
            self.h1, self._in = self._text, None
        elif tag == "th" and self._in == "th":
            self.coverage.append(self._text)
            self._in = None
        elif tag == "table":
            self._table = False

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text += data


def test_chromium_shows_the_diagnosis_first_and_a_pass_shows_its_coverage(tmp_path: Path) -> None:
    """Issue 15's acceptance: the first heading of a failing report.html carries the diagnosis;
    a passing one shows the coverage table (rendered by Chromium, read back from its DOM)."""
    from harness import audit, check

    chromium = _chromium()
    meta = Path(__file__).parent / "meta"
    spec = NetworkSpec((3, 5, 4, 2), ("tanh", "tanh", "sigmoid"), "mse")
    failing = check(
        f"{meta / 'tanh_prime_not_squared'}.py:backward", Problem.random(spec, 6, seed=1)
    )
    diagnosis = failing.findings[0].diagnosis
    assert diagnosis is not None and diagnosis.startswith("tanh' written as 1 - tanh(z)")
    failed = write_report(failing.run, tmp_path / "fail")
    passing = audit(reference.backward, examples=6, seed=0, report_dir=tmp_path / "pass")
    assert passing.passed and passing.report_path is not None

    leads = {}
    for name, run_dir in (("fail", failed), ("pass", passing.report_path)):
        page = (run_dir / "report.html").resolve()
        dom = _browse(chromium, tmp_path / f"profile-{name}", "--dump-dom", page.as_uri()).stdout
        leads[name] = _Lead()
        leads[name].feed(dom)
    fail, ok = leads["fail"], leads["pass"]
    assert fail.h1 is not None and fail.h1.startswith("FAIL: ") and diagnosis in fail.h1
    assert ok.h1 is not None and ok.h1.startswith("PASS: ")
    shown = {"examples judged", "activations (per layer)", "losses", "depths (layers)",
             "widths (every n_l)", "gradient entries compared", "duration"}  # fmt: skip
    assert shown <= set(ok.coverage)
    assert any(heading.startswith("closest call") for heading in ok.coverage)


def test_wrong_entries_are_coloured_by_relative_error_so_a_row_pattern_shows() -> None:
    """|Δ|/bound is ~1e9 for every wrong entry of a real bug (solid red); |Δ|/|expected|
    tells a row off by 1e-3 from a row off by 100 %, and the tooltip keeps both ratios."""
    from harness.report_html import rel_color

    ratio = np.full((4, 3), 0.1)
    ratio[1:3] = 1e9
    rel = np.full((4, 3), 1e-16)
    rel[1], rel[2] = 1e-3, 1.0
    problem = Problem.random(NetworkSpec((3, 4), ("tanh",), "mse"), 2, seed=0)
    record = TensorRecord(1, "W", "mismatch", "layer 1 dW: 6/12 entries wrong", (4, 3), 12, 6,
                          ratio=ratio, rel=rel)  # fmt: skip
    page = render_html(Run("c", 0, "single", 1, (CaseResult(problem, (record,), None, None),),
                           False, "x"))  # fmt: skip
    section = page[page.index('id="case0-layer1-W"') :]
    fills = re.findall(r'<rect [^>]*fill="(#[0-9a-f]{6})"', section)[:12]
    blue = [ratio_color(0.1)] * 3
    assert fills == blue + [rel_color(1e-3)] * 3 + [rel_color(1.0)] * 3 + blue
    assert len({ratio_color(0.1), rel_color(1e-3), rel_color(1.0)}) == 3
    assert "|Δ|/bound = 1e+09, |Δ|/|expected| = 0.001" in section
