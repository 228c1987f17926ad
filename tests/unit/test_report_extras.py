"""A test's evidence as pytest-html extras, and the summary header, from hand-built records."""

from __future__ import annotations

import re

from harness.evidence import TestEvidence, TransferRecord
from harness.report import samples
from harness.report.extras import to_extras
from harness.report.summary import summary_html


def section_titles(extras: list[dict]) -> list[str]:
    return [re.search(r"<h3>(.*?)</h3>", e["content"]).group(1) for e in extras]


def test_every_section_with_records_becomes_one_html_extra_in_a_fixed_order() -> None:
    extras = to_extras(samples.upgrade_test())
    assert all(e["format_type"] == "html" for e in extras)
    assert section_titles(extras) == [
        "OTA timeline",
        "Alert sequence: expected versus observed",
        "Attributes: expected versus read",
        "Firmware image",
        "Firmware distribution stages",
    ]
    timeline = extras[0]["content"]
    assert timeline.count("<svg") == 1 and "<polyline" in timeline


def test_sections_without_records_are_left_out() -> None:
    extras = to_extras(samples.tenancy_test())
    assert section_titles(extras) == ["Attributes: expected versus read", "Tenancy attributes read by the device",
                                      "Checks"]
    assert to_extras(TestEvidence(nodeid="t")) == []
    assert to_extras(None) == []


def test_the_html_is_self_contained() -> None:
    log = samples.demo_evidence_log()
    html = summary_html(log.run_info, log.tests.values()) + "".join(
        e["content"] for ev in log.tests.values() for e in to_extras(ev))
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:|//)""", html)
    assert "<script" not in html.lower()
    assert "@import" not in html and "url(" not in html


def test_summary_has_the_sign_off_sections_and_the_overall_verdict() -> None:
    log = samples.demo_evidence_log()
    html = summary_html(log.run_info, log.tests.values())
    for heading in ("Run", "Verdicts: device × image", "Devices under test", "Firmware images"):
        assert f"<h3>{heading}</h3>" in html
    assert re.search(r"Overall verdict.*?hh-verdict hh-fail", html)  # one failed test fails the run
    assert html.startswith("<style>")


def test_a_transfer_that_sent_no_data_gets_its_table_but_no_empty_chart() -> None:
    # The refused sample: the CH sent no block, so a chart would only draw empty axes.
    ev = samples.refused_test()
    assert all(t.bytes_sent == 0 for t in ev.of(TransferRecord))
    timeline = to_extras(ev)[0]["content"]
    assert "<h3>OTA timeline</h3>" in timeline and "<svg" not in timeline
    assert "No image data was sent" in timeline and "ihd1" in timeline
