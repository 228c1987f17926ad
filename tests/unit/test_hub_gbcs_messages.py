"""The CH's CCS08 alerts, kept in the evidence as the signed GBCS messages a CH would send."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from harness.evidence import TransferOutcome, to_json_obj
from harness.gbcs import CraFlag, FirmwareTransferAlert, decode
from harness.gbcs.codes import RTDS_ACCESS_CONTROL_BROKER
from harness.hub.alerts import AlertLog, derive_ccs08, derive_cs09
from harness.hub.gbcs_messages import ChAlertSigner
from harness.hub.images import Refusal
from harness.ota.samples import CH_PUBLIC_KEY_FILE, supplier_key_pair

KEYS = Path(__file__).resolve().parents[2] / "firmware_images" / "keys"
CH = "00:0D:6F:00:00:00:00:01"
PPMID = "00:0D:6F:00:0B:12:34:51"
T = 1_800_000_123.75


def ccs08(outcome=TransferOutcome.TRANSFERRED, refusal=None, t=T):
    return derive_ccs08(outcome=outcome, refusal=refusal, reason="", device_eui64=PPMID, image_version=0x102, t=t)


def test_a_ccs08_carries_the_signed_message_with_the_alerts_own_fields():
    alert = ChAlertSigner.test_only().attach(ccs08(TransferOutcome.REFUSED, Refusal.HARDWARE_MISMATCH), ch_eui64=CH)
    message = decode(bytes.fromhex(alert.gbcs_message)).message
    assert message.header.cra_flag is CraFlag.ALERT and message.message_code == 0x0128
    assert message.header.originator == bytes.fromhex("000D6F0000000001")
    assert message.header.recipient == RTDS_ACCESS_CONTROL_BROKER
    assert message.payload == FirmwareTransferAlert(
        alert_code=0x8F89, execution_time=datetime.fromtimestamp(int(T), UTC),
        entity_id=bytes.fromhex("000D6F000B123451"), firmware_version=bytes.fromhex("00000102"), response_code=2,
    )


def test_it_verifies_with_the_published_test_only_ch_key_and_no_other():
    alert = ChAlertSigner.test_only().attach(ccs08(), ch_eui64=CH)
    message = decode(bytes.fromhex(alert.gbcs_message)).message
    assert message.verify((KEYS / CH_PUBLIC_KEY_FILE).read_bytes())
    assert not message.verify(supplier_key_pair()[1])


def test_the_originator_counter_only_goes_up_even_for_alerts_in_the_same_millisecond():
    signer = ChAlertSigner.test_only()
    counters = [
        decode(bytes.fromhex(signer.attach(ccs08(t=t), ch_eui64=CH).gbcs_message)).message.header.originator_counter
        for t in (T, T, T - 5)
    ]
    assert counters[0] == int(T * 1000) and counters == sorted(set(counters))


def test_without_the_chs_eui64_the_alert_is_kept_and_says_why_there_is_no_message():
    alert = ChAlertSigner.test_only().attach(ccs08(), ch_eui64=None)
    assert alert.gbcs_message == "" and alert.code == 0x8F8A
    assert "no GBCS message built: the CH's own EUI-64 is not known" in alert.detail


def test_only_the_chs_ccs08_is_signed_as_the_ch():
    cs09 = derive_cs09(device="ppmid1", device_eui64=PPMID, expected_version=0x102, running_version=0x102,
                       observed_how="re-announced", t=T)
    assert ChAlertSigner.test_only().attach(cs09, ch_eui64=CH) is cs09


def test_the_private_key_never_reaches_the_evidence_or_a_repr():
    log = AlertLog()
    alert = log.ch_signer.attach(ccs08(), ch_eui64=CH)
    shown = json.dumps(to_json_obj(alert)) + repr(alert) + repr(vars(log.ch_signer))
    assert "PRIVATE KEY" not in shown and "«redacted»" in shown
