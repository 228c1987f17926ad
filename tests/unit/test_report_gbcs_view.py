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
    assert "GBCS messages (from the CH as it would send them, from devices as received)" in html
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


def _received_cs09(*, signature_ok: bool, previous: int | None = None):
    from harness.emulator.devices.cs09 import AlertOriginator, build_cs09
    from harness.emulator.devices.signing import default_authority
    from harness.hub.cs09_receipt import Cs09Inbox

    eui64 = bytes.fromhex("000D6F000B123451")
    credentials = default_authority().credentials(eui64)
    draft = dataclasses.replace(AlertOriginator(lambda: 1_800_000_000.0).draft(offered=0x102, running=0x102,
                                                                                previous=0x101),
                                signature_valid=signature_ok)
    inbox = Cs09Inbox("ppmid1", eui64, credentials.public_key_pem, highest_counter=previous)
    return inbox.receive(build_cs09(draft, originator=eui64, key=credentials.private_key), t=1_800_000_001.0)


def test_a_received_cs09_shows_the_verdict_given_when_it_arrived():
    receipt = _received_cs09(signature_ok=True)
    html = alerts_table([], [receipt.alert])
    assert "received from ppmid1 over the GBCS tunnel; signature VALID" in html
    assert field_rows(html)["message code"][3] == "0x012B CS09 PPMID Firmware Activation Alert"


def test_a_cs09_that_failed_verification_is_marked_rejected_with_the_rule_and_opened():
    receipt = _received_cs09(signature_ok=False)
    html = alerts_table([], [receipt.alert])
    assert "REJECTED when received from ppmid1: signature does not verify with the device&#x27;s signing" in html
    assert 'class="hh-gbcs hh-gbcs-rejected" open="open"' in html
