"""The conformance suite as a lab runs it: the report, the evidence and the JUnit XML it leaves, and no secret in any of them.

One run (tests/fixtures/conformance_run.py) of ``pytest tests/conformance`` on the emulated rig with
planted secrets, with DEBUG logging live on the terminal and captured into every report.

The report is also shown as a reviewer sees it, rendered in headless Chromium: pytest-html builds
the results table in the browser, so the file alone proves little. The report is loaded with every
test's details open, and the DOM after the scripts ran must show the header, the devices, each key
test's evidence, and no script error. (That check lives here, beside the run's other checks, so
that under pytest-xdist the worker that makes this run for them renders its report too, rather
than a second worker making a second run.)
"""

from __future__ import annotations

import html
import json
import os
import re
import xml.etree.ElementTree as ET

import pytest

from harness.report import browser
from harness.report.scan import find_secrets
from tests.fixtures.conformance_run import ConformanceRun, planted_run, planted_secrets

#: Conformance tests whose evidence the report must carry (one parametrisation each is enough).
KEY_TESTS = ("test_good_image_is_transferred_activated_and_read_back[ppmid1-ppmid-next]",
             "test_image_for_other_hardware_is_never_transferred[ppmid1-ppmid-hw-out-of-range]",
             "test_wait_for_data_is_honoured[ihd1-ihd-next]",
             "test_device_reads_tenancy_again_after_a_change_of_tenancy[ppmid1]")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> ConformanceRun:
    return planted_run(tmp_path_factory)


@pytest.fixture
def chromium() -> str:
    """The browser that renders the report; its absence skips (fails under CI, which installs it)."""
    found = browser.find_chromium()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed; .ci/run installs it under CI")
        pytest.skip("Chromium is not installed (apt-get install -y chromium; .ci/run does it under CI)")
    return found


def jsonblob(report) -> dict:
    page = report.read_text(encoding="utf-8")
    start = page.index('data-jsonblob="') + len('data-jsonblob="')
    return json.loads(html.unescape(page[start:page.index('"', start)]))


def test_the_suite_passes_on_the_emulated_rig_and_writes_every_artefact(run: ConformanceRun) -> None:
    assert run.returncode == 0, f"conformance run failed (exit {run.returncode}) in {run.seconds:.1f} s:\n{run.output[-5000:]}"
    missing = [str(p) for p in (run.html, run.junit, run.evidence) if not p.is_file()]
    assert not missing, f"artefacts not written: {missing}"
    print(f"conformance suite on the emulated rig: {run.seconds:.1f} s")


def test_the_evidence_json_holds_every_test_and_its_records(run: ConformanceRun) -> None:
    data = json.loads(run.evidence.read_text(encoding="utf-8"))
    assert data["schema"] == "han-harness-evidence/1"
    assert data["run"]["rig"] == "planted" and data["run"]["operator"] == "CI conformance run"
    assert {"ezsp_version", "ncp_firmware", "harness_version", "commit", "date", "devices"} <= data["run"].keys()
    tests = {t["nodeid"].split("::", 1)[1]: t for t in data["tests"]}
    for name in KEY_TESTS:
        assert name in tests, f"{name} missing from the evidence JSON (has {sorted(tests)[:5]}...)"
        assert tests[name]["outcome"] == "passed"
    upgrade = tests[KEY_TESTS[0]]
    assert [a["code"] for a in upgrade["alerts"]] == [0x8F8A, 0x8F8B]
    assert upgrade["transfers"] and upgrade["transfers"][-1]["outcome"] == "transferred"
    assert any(c["name"] == "alert sequence ppmid-good-image" and c["outcome"] == "PASS" for c in upgrade["checks"])
    assert any(c["name"] == "activation" and c["outcome"] == "PASS" for c in upgrade["checks"])
    assert "SECMP0007" in upgrade["spec"]
    assert tests[KEY_TESTS[1]]["transfers"][-1]["bytes_sent"] == 0
    assert any(e["kind"] == "wait_for_data" for e in tests[KEY_TESTS[2]]["transfers"][-1]["events"])
    assert tests[KEY_TESTS[3]]["tenancy_reads"], "the CoT test recorded no tenancy read"


def test_the_html_report_carries_the_header_devices_and_per_test_evidence(run: ConformanceRun) -> None:
    page = run.html.read_text(encoding="utf-8")
    for text in ("HAN device conformance report", "Verdicts: device × image", "Requirements: spec item × device",
                 "Devices under test", "Firmware images",
                 "CI conformance run", "PPMID-GEN", "IHD-GEN"):
        assert text in page, f"{text!r} not in the HTML report"
    rows = jsonblob(run.html)["tests"]
    upgrade = next(v[0] for k, v in rows.items() if k.endswith(KEY_TESTS[0]))
    contents = " ".join(e["content"] for e in upgrade["extras"] if e["format_type"] == "html")
    for section in ("OTA timeline", "Alert sequence: expected versus observed", "Firmware image", "Checks"):
        assert section in contents, f"{section!r} not in the good-image test's evidence"


def test_the_junit_xml_carries_the_run_facts(run: ConformanceRun) -> None:
    root = ET.parse(run.junit).getroot()
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props.get("rig") == "planted" and props.get("operator") == "CI conformance run", props
    assert props.get("image.ppmid-next.sha256"), "image SHA-256 not recorded as a testsuite property"
    assert props.get("requirement.SECMP0007", "").startswith("PASS: "), "requirement verdicts not recorded"
    good = next(case for case in root.iter("testcase") if case.get("name") == KEY_TESTS[0])
    assert ("spec", "SECMP0007") in {(p.get("name"), p.get("value")) for p in good.iter("property")}
    names = {case.get("name") for case in root.iter("testcase")}
    assert set(KEY_TESTS) <= names


def test_no_planted_secret_in_any_artefact_or_the_captured_logs(run: ConformanceRun) -> None:
    assert "DEBUG" in run.output, "the run logged nothing at DEBUG: the leak check would prove little"
    findings = find_secrets(run.artefacts, planted_secrets())
    assert findings == [], "secrets found:\n" + "\n".join(map(str, findings))


def test_the_conformance_report_renders_with_every_section_visible_and_no_script_error(run: ConformanceRun,
                                                                                        chromium: str) -> None:
    assert run.html.is_file(), f"the conformance run wrote no report:\n{run.output[-3000:]}"
    page = browser.render(run.html, chromium=chromium)
    assert page.script_errors == [], f"script errors in the report: {page.script_errors}"
    dom = page.dom
    rows = re.findall(r'<tbody class="results-table-row (passed|failed|skipped|error)', dom)
    assert rows and "failed" not in rows, f"results table rows after scripts ran: {rows or 'none (the script did not run)'}"
    assert "extras-row hidden" not in dom, "some test's details stayed collapsed"
    for heading in ("Run", "Verdicts: device × image", "Devices under test", "Firmware images", "OTA timeline",
                    "Alert sequence: expected versus observed", "Attributes: expected versus read", "Checks",
                    "Tenancy attributes read by the device"):
        assert f"<h3>{heading}</h3>" in dom, f"section {heading!r} is not in the rendered report"
    for test in ("test_good_image_is_transferred_activated_and_read_back", "test_wait_for_data_is_honoured",
                 "test_device_rejects_a_bad_image_with_invalid_image"):
        assert test in dom, f"{test} is not in the rendered results table"
    assert "<svg" in dom and "planted" in dom
