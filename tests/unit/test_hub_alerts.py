"""Alert derivation, the expectations file and the sequence check with its readable difference."""

from __future__ import annotations

import asyncio
import textwrap

import pytest

from harness.evidence import AlertRecord, Outcome, TransferOutcome, TransferRecord
from harness.hub.alerts import AlertLog, derive_ccs08, derive_cs09
from harness.hub.expectations import DEFAULT_EXPECTATIONS, ExpectationsError, load_expectations
from harness.hub.images import Refusal
from harness.hub.sequence_check import SequenceContext, check_sequence

EUI = "00:0D:6F:00:0B:12:34:51"
OTHER = "00:0D:6F:00:0B:12:34:52"
OLD, NEW = 0x101, 0x102
T0 = 1_800_000_000.0


def ccs08(outcome, refusal=None, t=T0 + 10, eui=EUI):
    return derive_ccs08(outcome=outcome, refusal=refusal, reason="", device_eui64=eui, image_version=NEW, t=t)


def cs09(running, t=T0 + 20):
    return derive_cs09(device="ppmid1", device_eui64=EUI, expected_version=NEW, running_version=running,
                       observed_how="Query Next Image after activation", t=t)


CTX = SequenceContext(device="ppmid1", device_eui64=EUI, image_version=NEW, previous_version=OLD, started=T0)


@pytest.fixture(scope="module")
def expectations():
    return load_expectations()


@pytest.mark.parametrize(
    ("outcome", "refusal", "code", "response"),
    [
        (TransferOutcome.TRANSFERRED, None, 0x8F8A, 0),
        (TransferOutcome.REFUSED, Refusal.HARDWARE_MISMATCH, 0x8F89, 2),
        (TransferOutcome.REFUSED, Refusal.SIGNATURE_FAILED, 0x8F89, 1),
        (TransferOutcome.FAILED, None, 0x8F89, 3),
        (TransferOutcome.STALLED, None, 0x8F89, 3),
    ],
)
def test_ccs08_follows_from_the_transfer_outcome(outcome, refusal, code, response):
    alert = ccs08(outcome, refusal)
    assert (alert.code, alert.response_code, alert.entity_eui64, alert.firmware_version) == (code, response, EUI, NEW)
    assert alert.raised_by == "CH" and alert.observed_how.startswith("derived by the CH")


@pytest.mark.parametrize("outcome", [TransferOutcome.IN_PROGRESS, TransferOutcome.ABORTED])
def test_no_ccs08_while_running_or_when_the_ch_stopped_it(outcome):
    assert ccs08(outcome) is None


def test_cs09_says_failure_when_the_device_still_runs_the_old_version():
    assert cs09(NEW).activation_result == 0
    failed = cs09(OLD)
    assert (failed.activation_result, failed.firmware_version) == (1, OLD)
    assert failed.observed_how == "Query Next Image after activation"


def test_shipped_file_has_the_five_sequences_with_provenance(expectations):
    names = {s.name for s in expectations}
    assert {"ppmid-good-image", "hardware-mismatch", "transfer-failure", "image-discarded", "activation-failure"} <= names
    for seq in expectations:
        assert "CHTS v1.5 text not available" in seq.confidence


def test_conformant_sequence_passes(expectations):
    result = check_sequence(expectations["ppmid-good-image"], [ccs08(TransferOutcome.TRANSFERRED), cs09(NEW)], CTX)
    assert result.outcome is Outcome.PASS, result.report()
    assert result.record().outcome is Outcome.PASS


def test_missing_activation_names_the_missing_alert(expectations):
    result = check_sequence(expectations["ppmid-good-image"], [ccs08(TransferOutcome.TRANSFERRED)], CTX)
    assert result.outcome is Outcome.FAIL
    assert result.differences == ("alert #2: expected 0x8F8B CS09 PPMID firmware activation alert, activateImage 0 (success), version 0x00000102; not observed",)
    assert "MISSING" in result.table()


def test_wrong_response_code_is_named_with_both_values(expectations):
    result = check_sequence(expectations["hardware-mismatch"], [ccs08(TransferOutcome.FAILED)], CTX)
    assert result.outcome is Outcome.FAIL
    assert any("response code expected 2 (Hardware Version Mismatch), observed 3 (File Transfer Failure)" in d
               for d in result.differences), result.report()


def test_wrong_alert_and_forbidden_alert(expectations):
    result = check_sequence(
        expectations["ppmid-good-image"], [ccs08(TransferOutcome.FAILED), cs09(NEW)], CTX
    )
    text = result.report()
    assert "alert #1: expected 0x8F8A CCS08 Firmware transfer alert SUCCESS, observed 0x8F89 CCS08 Firmware transfer alert FAIL" in text
    assert "forbidden alert observed: 0x8F89" in text


def test_order_is_checked(expectations):
    result = check_sequence(
        expectations["ppmid-good-image"], [cs09(NEW, t=T0 + 5), ccs08(TransferOutcome.TRANSFERRED, t=T0 + 10)], CTX
    )
    assert result.outcome is Outcome.FAIL
    assert "order: expected 0x8F8A -> 0x8F8B, observed 0x8F8B -> 0x8F8A" in result.differences


def test_time_window_and_version_payload(expectations):
    late = ccs08(TransferOutcome.TRANSFERRED, t=T0 + 4000)
    result = check_sequence(expectations["ppmid-good-image"], [late, cs09(OLD, t=T0 + 4001)], CTX)
    text = "\n".join(result.differences)
    assert "arrived 4000.0 s after the previous step; the window is 3600 s" in text
    assert "firmware version expected 0x00000102 (image), observed 0x00000101" in text


def test_alerts_about_other_devices_are_ignored_and_nothing_is_not_observed(expectations):
    result = check_sequence(expectations["transfer-failure"], [ccs08(TransferOutcome.FAILED, eui=OTHER)], CTX)
    assert result.outcome is Outcome.NOT_OBSERVED


def test_a_block_sent_despite_a_hardware_mismatch_is_a_difference(expectations):
    transfer = TransferRecord(
        transfer_id="x", device="ppmid1", device_eui64=EUI, image_name="i", image_sha256="", image_size=100,
        image_version=NEW, started=T0, bytes_sent=40,
    )
    result = check_sequence(
        expectations["hardware-mismatch"], [ccs08(TransferOutcome.REFUSED, Refusal.HARDWARE_MISMATCH)], CTX,
        transfers=[transfer],
    )
    assert result.differences == ("no block should reach ppmid1, but 40 bytes of image data were sent",)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("[[sequence]]\nname='a'\ndescription='d'\nroles=['PPMID']\nconfidence='c'\n[[sequence.alert]]\ncode=1\n", "sequence[0].source: missing"),
        ("[[sequence]]\nname='a'\ndescription='d'\nroles=['PPMID']\nsource='s'\nconfidence='c'\n[[sequence.alert]]\ncode='0x8F8A'\n", "sequence[0].alert[0].code: expected an integer"),
        ("[[sequence]]\nname='a'\ndescription='d'\nroles=['METER']\nsource='s'\nconfidence='c'\n", "sequence[0].roles[0]"),
        ("[[sequence]]\nname='a'\ndescription='d'\nroles=['PPMID']\nsource='s'\nconfidence='c'\n[[sequence.alert]]\ncode=1\nrespnse_code=0\n", "sequence[0].alert[0].respnse_code: unknown key"),
    ],
)
def test_bad_expectations_name_file_and_field(tmp_path, body, where):
    path = tmp_path / "bad.toml"
    path.write_text("schema = 1\n" + textwrap.dedent(body))
    with pytest.raises(ExpectationsError) as info:
        load_expectations(path)
    assert "bad.toml" in str(info.value) and where in str(info.value)


def test_default_file_path_exists():
    assert DEFAULT_EXPECTATIONS.is_file()


async def test_alert_log_wait_registered_before_the_alert_arrives():
    log = AlertLog()
    waiting = log.wait_for(lambda a: a.code == 0x8F8B)
    log.add(ccs08(TransferOutcome.TRANSFERRED))
    assert not waiting.done()
    log.add(cs09(NEW))
    got = await asyncio.wait_for(waiting, 1)
    assert got.code == 0x8F8B
    assert [a.code for a in log.for_entity(EUI)] == [0x8F8A, 0x8F8B]
    assert isinstance(got, AlertRecord)


def test_wait_for_data_check_reads_the_timeline():
    from harness.evidence import TransferEvent, TransferEventKind
    from harness.hub.transfer_checks import check_wait_for_data_honoured

    def record(back_after: float) -> TransferRecord:
        events = (
            TransferEvent(t=T0, kind=TransferEventKind.WAIT_FOR_DATA, offset=400, wait_s=2.0),
            TransferEvent(t=T0 + back_after, kind=TransferEventKind.BLOCK_REQUEST, offset=400, size=40),
        )
        return TransferRecord(transfer_id="x", device="ppmid1", device_eui64=EUI, image_name="i", image_sha256="",
                              image_size=1000, image_version=NEW, started=T0, events=events)

    assert check_wait_for_data_honoured(record(2.0)).outcome is Outcome.PASS
    early = check_wait_for_data_honoured(record(0.5))
    assert early.outcome is Outcome.FAIL and "told to wait 2 s at offset 400, came back after 0.50 s" in early.detail
    nothing = check_wait_for_data_honoured(replace_events(record(1), ()))
    assert nothing.outcome is Outcome.NOT_OBSERVED


def replace_events(record, events):
    from dataclasses import replace

    return replace(record, events=events)
