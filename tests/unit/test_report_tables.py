"""Report tables from hand-built records: what a reviewer reads, escaped, with differences highlighted."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from harness.evidence import AlertRecord, AttributeRead, CheckRecord, ImageRecord, Outcome
from harness.report import samples
from harness.report.facts import DeviceFacts
from harness.report.markup import Html, join, table, tag, text
from harness.report.tables import (
    alerts_table,
    attributes_table,
    checks_table,
    devices_table,
    image_table,
    parse_sequence_detail,
    run_table,
    verdict_table,
)
from harness.report.verdicts import verdict_matrix

EUI = "00:0D:6F:00:0B:12:34:51"


def rows_of(fragment: str) -> list[ET.Element]:
    """The body rows of the first table in ``fragment`` (the markup must be well-formed to parse)."""
    root = ET.fromstring(f"<div>{fragment}</div>".replace("&nbsp;", " "))
    return root.findall(".//tbody/tr")


def cell_texts(row: ET.Element) -> list[str]:
    return ["".join(td.itertext()).strip() for td in row.findall("td")]


def sequence_check(outcome: Outcome, rows, differences) -> CheckRecord:
    return CheckRecord(name="alert sequence hardware-mismatch", rule="0x8F89 response 2", observed="...",
                       outcome=outcome, source="SECMP0007", confidence="derived", device="ihd1",
                       detail=samples.sequence_detail("hardware-mismatch", "ihd1", EUI, outcome.value, rows, differences))


# --------------------------------------------------------------------------------- markup


def test_plain_strings_are_escaped_and_html_passes_through() -> None:
    assert text("<b>&") == "&lt;b&gt;&amp;"
    assert join(["<i>", Html("<b>x</b>")]) == "&lt;i&gt;<b>x</b>"
    assert tag("td", "a<b", title='say "hi"') == '<td title="say &quot;hi&quot;">a&lt;b</td>'
    assert text(None) == "—"


def test_an_empty_table_says_so_instead_of_drawing_an_empty_grid() -> None:
    assert "nothing recorded" in table(["a"], [])
    assert "<table" not in table(["a"], [], empty="no alert observed")


# ------------------------------------------------------------------------------- alerts


def test_the_hub_sequence_table_is_parsed_by_its_header_columns() -> None:
    detail = samples.sequence_detail("x", "ppmid1", EUI, "FAIL", [
        ("0x8F8A CCS08 SUCCESS, resp 0", "0x8F8A CCS08 SUCCESS, resp 0", "ok"),
        ("0x8F8B CS09 activation, success", "-", "MISSING"),
        ("-", "0x8F89 CCS08 FAIL, resp 3", "UNEXPECTED"),
    ], ["alert #2: expected 0x8F8B; not observed", "unexpected alert: 0x8F89"])
    rows, differences = parse_sequence_detail(detail)
    assert [(r.expected, r.observed, r.verdict) for r in rows] == [
        ("0x8F8A CCS08 SUCCESS, resp 0", "0x8F8A CCS08 SUCCESS, resp 0", "ok"),
        ("0x8F8B CS09 activation, success", "-", "MISSING"),
        ("-", "0x8F89 CCS08 FAIL, resp 3", "UNEXPECTED"),
    ]
    assert [r.differs for r in rows] == [False, True, True]
    assert differences == ["alert #2: expected 0x8F8B; not observed", "unexpected alert: 0x8F89"]


def test_a_detail_without_a_table_is_not_guessed_at() -> None:
    assert parse_sequence_detail("device did not answer") is None


def test_alert_table_highlights_the_rows_that_differ_and_lists_the_differences() -> None:
    check = sequence_check(Outcome.FAIL, [("0x8F89 CCS08 FAIL, resp 2", "0x8F89 CCS08 FAIL, resp 3", "DIFFERS"),
                                          ("0x8F8B CS09", "0x8F8B CS09", "ok")],
                           ["alert #1 (0x8F89): response code expected 2, observed 3"])
    alert = AlertRecord(code=0x8F89, name="Firmware transfer alert FAIL", use_case="CCS08", raised_by="CH",
                        entity_eui64=EUI, firmware_version=0x102, time=1_700_000_000.5, observed_how="derived",
                        response_code=3)
    html = alerts_table([check], [alert])
    sequence_rows = rows_of(html)[:2]
    assert sequence_rows[0].get("class") == "hh-diff" and sequence_rows[1].get("class") is None
    assert "response code expected 2, observed 3" in html
    observed = rows_of(html)[2]
    assert cell_texts(observed) == ["22:13:20.500", "0x8F89", "CCS08 Firmware transfer alert FAIL", "CH", EUI,
                                    "0x00000102", "response 3 (File Transfer Failure)", "derived"]


def test_no_alert_at_all_is_stated() -> None:
    assert "no alert observed" in alerts_table([], [])


# ---------------------------------------------------------------------------- attributes


def test_attribute_rows_show_rule_value_in_hex_and_highlight_failures() -> None:
    reads = [
        AttributeRead(device="ihd1", endpoint=1, cluster=0x0019, attribute=0x0002, name="CurrentFileVersion",
                      expected="equals 0x00000102", value=0x00000101, status="SUCCESS", outcome=Outcome.FAIL, t=1.0,
                      source="ZCL", confidence="spec"),
        AttributeRead(device="ihd1", endpoint=1, cluster=0x0708, attribute=0x0100, name="ProviderID",
                      expected="present", value=None, status="UNSUPPORTED_ATTRIBUTE", outcome=Outcome.NOT_OBSERVED,
                      t=2.0),
    ]
    rows = rows_of(attributes_table(reads))
    assert cell_texts(rows[0])[:8] == ["ihd1", "1", "0x0019", "0x0002 CurrentFileVersion", "equals 0x00000102",
                                       "0x0101 (257)", "SUCCESS", "FAIL"]
    assert cell_texts(rows[1])[5:8] == ["—", "UNSUPPORTED_ATTRIBUTE", "NOT OBSERVED"]
    assert [r.get("class") for r in rows] == ["hh-diff", "hh-diff"]


# -------------------------------------------------------------------------------- images


def test_image_table_shows_header_fields_in_hex_sha256_and_signature() -> None:
    image = ImageRecord(name="ppmid-next", path="firmware_images/ppmid-next.ota", sha256="ab" * 32, size=4_000,
                        signature="INVALID",
                        header={"manufacturer_code": 0x121D, "file_version": 0x102, "header_string": "PPMID <next>",
                                "total_image_size": 4_000})
    html = image_table([image])
    rows = {row.find("th").text: "".join(row.find("td").itertext()) for row in rows_of(html)}
    assert rows["SHA-256"] == "ab" * 32
    assert rows["Supplier signature"] == "INVALID"
    assert rows["manufacturer code"] == "0x121D"
    assert rows["file version"] == "0x00000102"
    assert rows["header string"] == "PPMID <next>"  # shown as text, escaped in the markup
    assert "hh-fail" in html and "PPMID &lt;next&gt;" in html


# --------------------------------------------------------------------- devices, run, verdicts


def test_devices_table_marks_a_firmware_change() -> None:
    html = devices_table([DeviceFacts(name="ppmid1", role="PPMID", eui64=EUI, manufacturer="Example", model="M",
                                      profile="ppmid-generic", firmware_before=0x101, firmware_after=0x102),
                          DeviceFacts(name="ihd2")])
    first, second = rows_of(html)
    assert cell_texts(first) == ["ppmid1", "PPMID", EUI, "Example", "M", "0x00000101", "0x00000102", "ppmid-generic"]
    assert "hh-changed" in ET.tostring(first, encoding="unicode")
    assert cell_texts(second) == ["ihd2", "—", "—", "—", "—", "—", "—", "—"]


def test_run_table_lists_every_header_fact_and_says_unknown_for_missing_ones() -> None:
    html = run_table({"rig": "bench1", "ezsp_version": 13, "ncp_firmware": "7.4.4.0", "site": "lab 2"})
    facts = {row.find("th").text: "".join(row.find("td").itertext()) for row in rows_of(html)}
    assert list(facts)[:9] == ["Rig", "Rig file", "Radio", "EZSP version", "NCP firmware", "Harness version",
                               "Git commit", "Date (UTC)", "Operator"]
    assert facts["Rig"] == "bench1" and facts["EZSP version"] == "13" and facts["Git commit"] == "unknown"
    assert facts["Site"] == "lab 2"  # facts the hub adds later still reach the header


def test_verdict_table_has_a_row_per_device_and_a_total_row() -> None:
    log = samples.demo_evidence_log()
    html = verdict_table(verdict_matrix(log.tests.values(), ["ppmid1", "ihd1", "ihd2"]))
    rows = rows_of(html)
    assert [cell_texts(r)[0] for r in rows] == ["ppmid1", "ihd1", "ihd2", "Image verdict"]
    assert re.sub(r"\d+ \w+", "", cell_texts(rows[0])[-1]).strip() == "PASS"
    assert cell_texts(rows[1])[-1].startswith("FAIL")
    assert cell_texts(rows[2])[-1] == "NOT TESTED"
    assert rows[-1].get("class") == "hh-total"


def test_other_checks_show_rule_observation_and_provenance() -> None:
    check = CheckRecord(name="tenancy read", rule="within 60 s", observed="after 75 s", outcome=Outcome.FAIL,
                        source="SECMP0056", confidence="derived", device="ihd1")
    (row,) = rows_of(checks_table([check, sequence_check(Outcome.PASS, [], [])]))  # sequences render elsewhere
    assert cell_texts(row) == ["tenancy read", "ihd1", "within 60 s", "after 75 s", "FAIL", "SECMP0056 (derived)"]
