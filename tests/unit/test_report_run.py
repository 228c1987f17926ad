"""A whole pytest run through the report plugin: the HTML, the JUnit XML, the JSON, and the page in Chromium.

The demo project (``harness.report.samples``) records hand-built evidence from four tests, one
of them failing and printing a planted network key. It runs once per module, in a subprocess so
its registered secret and plugins stay out of this process.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.report import browser, samples
from harness.report.scan import find_secrets
from tests.fixtures.inner_runs import UNUSED_PLUGINS


@dataclass(frozen=True)
class DemoRun:
    directory: Path
    report: Path
    junit: Path
    evidence: Path
    output: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    directory = samples.write_demo_project(tmp_path_factory.mktemp("demo"))
    reports = directory / "reports"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *UNUSED_PLUGINS, "-p", "no:cacheprovider", "-q", f"--html={reports / 'report.html'}",
         "--self-contained-html", f"--junitxml={reports / 'junit.xml'}", "--operator", "Jane Tester"],
        cwd=directory, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # exactly the one planted failure
    return DemoRun(directory, reports / "report.html", reports / "junit.xml", reports / "evidence.json",
                   done.stdout + done.stderr)


def jsonblob(report: Path) -> dict:
    page = report.read_text(encoding="utf-8")
    start = page.index('data-jsonblob="') + len('data-jsonblob="')
    return json.loads(html.unescape(page[start:page.index('"', start)]))


def test_each_test_row_carries_its_evidence_as_extras(demo: DemoRun) -> None:
    tests = jsonblob(demo.report)["tests"]
    upgrade = tests["test_demo.py::test_ppmid_upgrade"][0]
    contents = [e["content"] for e in upgrade["extras"] if e["format_type"] == "html"]
    assert any("<svg" in c and "OTA timeline" in c for c in contents)
    assert any("Alert sequence: expected versus observed" in c for c in contents)
    assert tests["test_demo.py::test_without_evidence"][0]["extras"] == []
    assert '<td class="col-devices">ppmid1</td>' in upgrade["resultsTableRow"]


def test_header_shows_the_run_facts_and_the_verdict_matrix(demo: DemoRun) -> None:
    page = demo.report.read_text(encoding="utf-8")
    assert "<title id=\"head-title\">HAN device conformance report — rig demo</title>" in page
    for text in ("Verdicts: device × image", "Devices under test", "Firmware images", "Jane Tester", "7.4.4.0 build 0"):
        assert text in page
    assert "<th>Devices</th>" in page


def test_junit_testsuite_properties(demo: DemoRun) -> None:
    props = {p.get("name"): p.get("value") for p in ET.parse(demo.junit).getroot().iter("property")}
    assert props["rig"] == "demo" and props["ezsp_version"] == "13" and props["operator"] == "Jane Tester"
    assert props["radio"] == "emulated EZSP radio (pty)" and props["ncp_firmware"] == "7.4.4.0 build 0"
    assert props["harness_version"] != "" and props["commit"] != ""
    assert props["image.ppmid-next.sha256"] == samples.PPMID_SHA256


def test_json_evidence_carries_the_same_header_facts(demo: DemoRun) -> None:
    run = json.loads(demo.evidence.read_text(encoding="utf-8"))["run"]
    assert run["operator"] == "Jane Tester"
    assert {"harness_version", "commit", "date", "rig", "ezsp_version"} <= run.keys()


def test_the_planted_key_is_in_no_artefact_nor_the_terminal(demo: DemoRun) -> None:
    assert find_secrets([demo.directory / "reports"], [samples.DEMO_PLANTED_KEY]) == []
    assert "network key «redacted»" in demo.output  # the failing test's captured output, redacted
    assert samples.DEMO_PLANTED_KEY.hex(":") not in demo.output


@pytest.mark.skipif(browser.find_chromium() is None,
                    reason="Chromium is not installed (apt-get install -y chromium); CI installs it in .ci/run")
def test_the_report_renders_in_chromium_with_every_section_visible(demo: DemoRun) -> None:
    page = browser.render(demo.report)  # ?collapsed= : every test's details open
    assert page.script_errors == []
    dom = page.dom
    # pytest-html builds the results table in the browser from data-jsonblob: the file itself holds only the
    # empty row templates, so rows with an outcome class prove its script ran.
    assert "results-table-row failed" not in demo.report.read_text(encoding="utf-8")
    assert len(re.findall(r'<tbody class="results-table-row (?:passed|failed)"', dom)) == 4
    assert "extras-row hidden" not in dom
    assert 'id="hh-report"' in dom and "<svg" in dom
    for heading in ("Run", "Verdicts: device × image", "Devices under test", "OTA timeline",
                    "Alert sequence: expected versus observed", "Attributes: expected versus read", "Firmware image"):
        assert f"<h3>{heading}</h3>" in dom
