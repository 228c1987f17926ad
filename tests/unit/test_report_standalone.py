"""`harness report render`: the report page made from an evidence file alone.

A reviewer sent only the JSON, or a run killed before pytest-html wrote its page, must still get
the sign-off header and every test's evidence; an unreadable file must be named, never a traceback.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.cli import main
from harness.evidence import CheckRecord, EvidenceLog, Outcome
from harness.report.samples import demo_evidence_log
from harness.report.standalone import render_page


def sections_by_nodeid(page: str) -> dict[str, str]:
    """Each test's section of the page, by node id (as the page shows it, escaped)."""
    parts = page.split('<section class="hh-section hh-test">')[1:]
    return {re.search(r"<code>(.*?)</code>", part).group(1): part for part in parts}


def test_the_page_has_the_sign_off_header_and_every_tests_evidence(tmp_path: Path) -> None:
    log = demo_evidence_log(tmp_path / "evidence.json")
    page = render_page(EvidenceLog.load(log.path), source="evidence.json")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "Rendered from evidence.json" in page
    for heading in ("Run", "Verdicts: device × image", "Devices under test", "Firmware images", "Tests (3)"):
        assert f"<h3>{heading}</h3>" in page
    sections = sections_by_nodeid(page)
    assert list(sections) == list(log.tests), "every test, in run order"
    upgrade = sections["tests/conformance/test_ota.py::test_ppmid_upgrade[ppmid1]"]
    assert "hh-verdict hh-pass" in upgrade and "<svg" in upgrade and "Alert sequence" in upgrade
    assert "GBCS messages (from the CH as it would send them, from devices as received)" in upgrade
    assert "signature VALID with the TEST-ONLY CH key" in upgrade and "payload.entity id" in upgrade


def test_an_unfinished_test_shows_incomplete_never_pass(tmp_path: Path) -> None:
    log = EvidenceLog(tmp_path / "evidence.json", run_info={"rig": "emulated"})
    log.begin("t.py::test_done").add(CheckRecord(name="c", rule="r", observed="o", outcome=Outcome.PASS,
                                                 source="s", confidence="c", device="ppmid1"))
    log.finish("t.py::test_done", "passed")
    log.begin("t.py::test_<killed>")  # the process died here
    page = render_page(EvidenceLog.load(log.path), source="evidence.json")
    sections = sections_by_nodeid(page)
    assert "PASS" in sections["t.py::test_done"]
    killed = sections["t.py::test_&lt;killed&gt;"]  # a node id is text, escaped like any record
    assert "INCOMPLETE" in killed and "never finished" in killed and "no records" in killed
    assert "PASS" not in killed


def test_the_command_writes_next_to_the_evidence_by_default(tmp_path: Path, capsys) -> None:
    demo_evidence_log(tmp_path / "run" / "evidence.json")
    assert main(["report", "render", str(tmp_path / "run" / "evidence.json")]) == 0
    written = tmp_path / "run" / "evidence.html"
    assert capsys.readouterr().out.strip() == f"report written: {written}"
    assert "Overall verdict" in written.read_text(encoding="utf-8")
    out = tmp_path / "elsewhere" / "uit.html"
    assert main(["report", "render", str(tmp_path / "run" / "evidence.json"), "-o", str(out)]) == 0
    assert out.is_file()


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (None, "No such file"),
        ("{not json", "not a readable evidence file"),
        ("[1, 2]", "the top level is a list"),
        (json.dumps({"schema": "other"}), "schema: expected"),
        (json.dumps({"schema": "han-harness-evidence/1", "tests": [{"nodeid": "a"}, {"started": 1}]}), "tests[1]"),
        (json.dumps({"schema": "han-harness-evidence/1", "run": [1]}), "run: expected an object"),
    ],
)
def test_an_unreadable_evidence_file_is_named_in_one_line(tmp_path: Path, capsys, content, named) -> None:
    path = tmp_path / "evidence.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert main(["report", "render", str(path)]) == 2
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and str(path) in out and named in out, out
    assert not (tmp_path / "evidence.html").exists()
