"""The REAL conformance report, as a reviewer sees it: rendered in headless Chromium.

pytest-html builds the results table in the browser, so the file alone proves little; here the
report of a real conformance run (tests/fixtures/conformance_run.py) is loaded with every test's
details open, and the DOM after the scripts ran must show the header, the devices, each key
test's evidence, and no script error.
"""

from __future__ import annotations

import os
import re

import pytest

from harness.report import browser
from tests.fixtures.conformance_run import ConformanceRun, planted_run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> ConformanceRun:
    if browser.find_chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed; .ci/run installs it under CI")
        pytest.skip("Chromium is not installed (apt-get install -y chromium; .ci/run does it under CI)")
    return planted_run(tmp_path_factory)


def test_the_conformance_report_renders_with_every_section_visible_and_no_script_error(run: ConformanceRun) -> None:
    assert run.html.is_file(), f"the conformance run wrote no report:\n{run.output[-3000:]}"
    page = browser.render(run.html)
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
