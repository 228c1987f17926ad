"""The harness's verdict on each CS09 a device sends over its GBCS tunnel, and on what is no CS09 at all."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.emulator.devices.cs09 import AlertOriginator, Cs09Draft, build_cs09
from harness.emulator.devices.signing import default_authority
from harness.evidence import Outcome
from harness.hub.cs09_receipt import Cs09Inbox, load_signing_certificate
from harness.hub.gbcs_messages import ChAlertSigner
from harness.hub.tunnel_data import inbox_for
from harness.rig import load_rig
from harness.tomlread import ConfigError

PPMID = bytes.fromhex("000D6F000B123451")
OTHER = bytes.fromhex("000D6F000B123452")
NOW = 1_800_000_000.0


def draft(**changes: object) -> Cs09Draft:
    conformant = AlertOriginator(lambda: NOW).draft(offered=0x102, running=0x102, previous=0x101)
    return dataclasses.replace(conformant, **changes)


def signed(d: Cs09Draft, *, originator: bytes = PPMID) -> bytes:
    credentials = default_authority().credentials(PPMID)  # always the PPMID's own key
    return build_cs09(d, originator=originator, key=credentials.private_key)


@pytest.fixture
def inbox() -> Cs09Inbox:
    return Cs09Inbox("ppmid1", PPMID, default_authority().credentials(PPMID).public_key_pem)


def test_a_good_cs09_is_accepted_as_the_devices_alert(inbox: Cs09Inbox) -> None:
    receipt = inbox.receive(signed(draft()), t=NOW)
    assert receipt.valid and receipt.alert is not None
    assert (receipt.alert.code, receipt.alert.firmware_version, receipt.alert.activation_result) == (0x8F8B, 0x102, 0)
    assert receipt.alert.raised_by == "ppmid1" and receipt.alert.entity_eui64 == "00:0D:6F:00:0B:12:34:51"
    assert receipt.alert.rejected == "" and receipt.evidence().outcome is Outcome.PASS


def test_a_replayed_counter_is_rejected(inbox: Cs09Inbox) -> None:
    first = draft()
    assert inbox.receive(signed(first), t=NOW).valid
    again = inbox.receive(signed(draft(originator_counter=first.originator_counter)), t=NOW + 1)
    assert again.alert is not None and "does not increase" in again.alert.rejected and "a replay" in again.alert.rejected
    assert inbox.receive(signed(draft(originator_counter=first.originator_counter + 1)), t=NOW + 2).valid


def test_a_bad_signature_and_a_foreign_originator_are_each_named(inbox: Cs09Inbox) -> None:
    receipt = inbox.receive(signed(draft(signature_valid=False), originator=OTHER), t=NOW)
    assert receipt.alert is not None
    assert "signature does not verify" in receipt.alert.rejected
    assert "originator 000D6F000B123452 is not the device's EUI-64 000D6F000B123451" in receipt.alert.rejected
    assert receipt.evidence().outcome is Outcome.FAIL


def test_a_truncated_message_is_kept_with_a_one_line_error(inbox: Cs09Inbox) -> None:
    data = signed(draft())[:40]
    receipt = inbox.receive(data, t=NOW)
    assert receipt.alert is None and len(receipt.problems) == 1
    assert "at byte" in receipt.problems[0] and "\n" not in receipt.problems[0]
    record = receipt.evidence()
    assert record.outcome is Outcome.FAIL and data.hex().upper() in record.detail


def test_another_message_code_is_no_cs09(inbox: Cs09Inbox) -> None:
    from harness.evidence import AlertRecord

    ccs08 = ChAlertSigner.test_only().attach(
        AlertRecord(code=0x8F8A, name="x", use_case="CCS08", raised_by="CH", entity_eui64="00:0D:6F:00:0B:12:34:51",
                    firmware_version=0x102, time=NOW, observed_how="", response_code=0),
        ch_eui64="00:0D:6F:00:00:00:00:01")
    receipt = inbox.receive(bytes.fromhex(ccs08.gbcs_message), t=NOW)
    assert receipt.alert is None and receipt.problems == ("message code 0x0128 is not CS09 (0x012B)",)
    unknown = bytearray(signed(draft()))
    at = unknown.index(bytes.fromhex("012B"))
    unknown[at:at + 2] = bytes.fromhex("0999")
    receipt = inbox.receive(bytes(unknown), t=NOW)
    assert receipt.alert is None and "message code at byte" in receipt.problems[0]


def test_a_certificate_that_does_not_parse_is_one_line_and_every_cs09_then_fails(tmp_path: Path) -> None:
    bad = tmp_path / "ppmid1.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    inbox, problem = inbox_for("ppmid1", PPMID, bad)
    assert problem.startswith(f"{bad}: not an X.509 certificate") and "\n" not in problem
    receipt = inbox.receive(signed(draft()), t=NOW)
    assert receipt.alert is not None and receipt.alert.rejected.startswith(f"signature not verified: {bad}")
    _inbox, missing = inbox_for("ppmid1", PPMID, None)
    assert missing == "the rig names no signing_certificate for this device"


def test_the_exported_emulator_certificates_are_the_ones_the_devices_sign_with() -> None:
    rig = load_rig(Path(__file__).resolve().parents[2] / "rigs" / "emulated.toml")
    (ppmid,) = [d for d in rig.devices if d.role == "PPMID"]
    assert ppmid.signing_certificate is not None
    assert load_signing_certificate(ppmid.signing_certificate) == default_authority().credentials(
        ppmid.eui64).public_key_pem


def test_a_rig_that_names_a_private_key_as_signing_certificate_is_refused(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    text = (repo / "rigs" / "emulated.toml").read_text()
    key = repo / "firmware_images" / "keys" / "TEST-ONLY-supplier-private.pem"
    text = text.replace('signing_certificate = "../firmware_images/keys/emulator-signing/TEST-ONLY-000D6F000B123451.pem"',
                        f'signing_certificate = "{key}"')
    text = text.replace('"../', f'"{repo}/')
    rig_file = tmp_path / "emulated.toml"
    rig_file.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_rig(rig_file)
    assert "signing_certificate" in str(caught.value) and "holds a private key" in str(caught.value)
    assert "\n" not in str(caught.value)
