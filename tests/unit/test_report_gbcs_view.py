"""The report shows a recorded GBCS message field by field, and what it cannot decode, as such."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET

from harness.evidence import TransferOutcome
from harness.hub.alerts import derive_ccs08
from harness.hub.gbcs_messages import ChAlertSigner
from harness.report.tables import alerts_table

PPMID = "00:0D:6F:00:0B:12:34:51"
SIGNED = ChAlertSigner.test_only().attach(
    derive_ccs08(outcome=TransferOutcome.TRANSFERRED, refusal=None, reason="", device_eui64=PPMID,
                 image_version=0x102, t=1_800_000_000.0),
    ch_eui64="00:0D:6F:00:00:00:00:01",
)


def field_rows(html: str) -> dict[str, list[str]]:
    """Field name -> [offset, bytes, field, meaning] for every row of the field table."""
    tables = re.findall(r'<table class="hh-table hh-gbcs-fields">.*?</table>', html, re.S)
    assert len(tables) == 1
    rows = ET.fromstring(tables[0]).iter("tr")
    cells = [["".join(td.itertext()) for td in row.iter("td")] for row in rows]
    return {c[2]: c for c in cells if c}


def test_the_alerts_section_decodes_the_ccs08_field_by_field_and_verifies_it():
    html = alerts_table([], [SIGNED])
    assert "GBCS messages (as the CH would send them)" in html
    assert "signature VALID with the TEST-ONLY CH key" in html
    rows = field_rows(html)
    assert rows["message code"][1:] == ["01 28", "message code", "0x0128 CCS08 Firmware Transfer Alert"]
    assert rows["payload.entity id"][0] == "58" and rows["payload.entity id"][3] == "000D6F000B123451"
    assert rows["payload.firmware version"][3] == "00000102"
    assert rows["payload.response code"][3] == "0x00 Success"
    assert rows["originator system title"][3] == "000D6F0000000001"


def test_a_message_changed_after_signing_is_shown_as_invalid():
    raw = bytearray.fromhex(SIGNED.gbcs_message)
    raw[-1] ^= 0x01
    html = alerts_table([], [dataclasses.replace(SIGNED, gbcs_message=raw.hex())])
    assert "signature INVALID with the TEST-ONLY CH key" in html


def test_a_message_that_does_not_decode_is_shown_with_its_error_and_its_bytes():
    html = alerts_table([], [dataclasses.replace(SIGNED, gbcs_message=SIGNED.gbcs_message[:100])])
    assert "the recorded GBCS message does not decode: GBCS message: content at byte 34: needs 43 bytes" in html
    assert SIGNED.gbcs_message[:100] in html


def test_alerts_without_a_message_add_nothing():
    assert "GBCS messages" not in alerts_table([], [dataclasses.replace(SIGNED, gbcs_message="")])
