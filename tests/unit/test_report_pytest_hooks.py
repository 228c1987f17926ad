"""The report plugin's hooks on stand-in reports: redaction of what is not evidence, the Devices column, run facts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness import evidence
from harness.evidence import EvidenceLog, register_secret
from harness.report import samples
from harness.report.pytest_hooks import ReportPlugin

KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")


@pytest.fixture(autouse=True)
def _fresh_registry():
    evidence.clear_registered_secrets()
    yield
    evidence.clear_registered_secrets()


@pytest.fixture
def plugin() -> ReportPlugin:
    return ReportPlugin(samples.demo_evidence_log())


def test_captured_output_failure_text_and_extras_are_redacted(plugin: ReportPlugin) -> None:
    register_secret(KEY)
    report = SimpleNamespace(
        sections=[("Captured stdout call", f"key {KEY.hex(':')}")],
        longrepr=f"AssertionError: joined with {KEY.hex().upper()}",
        extras=[{"format_type": "html", "content": f"<p>{KEY.hex()}</p>"},
                {"format_type": "text", "content": KEY.hex(" ")},
                {"format_type": "json", "content": {"n": 1}}],
    )
    plugin.pytest_runtest_logreport(report)
    shown = repr((report.sections, report.longrepr, report.extras)).lower()
    assert KEY.hex() not in shown and KEY.hex(":") not in shown and KEY.hex(" ") not in shown
    assert report.sections == [("Captured stdout call", "key «redacted»")]
    assert report.extras[2]["content"] == {"n": 1}


def test_a_traceback_without_secrets_keeps_its_structure(plugin: ReportPlugin) -> None:
    structured = object()  # stands in for pytest's ExceptionChainRepr
    report = SimpleNamespace(sections=[], longrepr=structured, extras=[])
    plugin.pytest_runtest_logreport(report)
    assert report.longrepr is structured


def test_devices_column_is_added_to_the_header_and_every_row(plugin: ReportPlugin) -> None:
    header = ["<th>Result</th>", "<th>Test</th>", "<th>Duration</th>", "<th>Links</th>"]
    plugin.pytest_html_results_table_header(header)
    assert header[2] == "<th>Devices</th>"
    row = ["<td>r</td>", "<td>t</td>", "<td>d</td>", "<td>l</td>"]
    nodeid = samples.upgrade_test().nodeid
    plugin.pytest_html_results_table_row(SimpleNamespace(nodeid=nodeid), row)
    assert row[2] == '<td class="col-devices">ppmid1</td>' and len(row) == len(header)
    other = ["<td>r</td>", "<td>t</td>", "<td>d</td>", "<td>l</td>"]
    plugin.pytest_html_results_table_row(SimpleNamespace(nodeid="no/evidence.py::t"), other)
    assert other[2] == '<td class="col-devices"></td>'


def test_log_lines_shown_in_the_html_are_redacted(plugin: ReportPlugin) -> None:
    register_secret(KEY)
    lines = [f"E   AssertionError: {KEY.hex()}", "No log output captured."]
    plugin.pytest_html_results_table_html(SimpleNamespace(), lines)
    assert lines == ["E   AssertionError: «redacted»", "No log output captured."]


def test_run_facts_are_added_without_overwriting_the_log(tmp_path) -> None:
    log = EvidenceLog(tmp_path / "evidence.json", run_info={"rig": "bench1", "operator": "from the log"})
    plugin = ReportPlugin(log, {"rig": "ignored", "ezsp_version": 13})
    config = SimpleNamespace(getoption=lambda name, default=None: "Jane" if name == "harness_operator" else default)
    plugin.pytest_configure(config)
    assert log.run_info["rig"] == "bench1" and log.run_info["operator"] == "from the log"
    assert log.run_info["ezsp_version"] == 13
    assert {"harness_version", "commit", "date"} <= log.run_info.keys()
