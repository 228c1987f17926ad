"""Evidence records: redaction at creation, JSON round trip, atomic per-test rewrite."""

from __future__ import annotations

import json

import pytest

from harness import evidence
from harness.evidence import (
    AlertRecord,
    CheckRecord,
    EvidenceLog,
    Outcome,
    StageRecord,
    TestEvidence,
    TransferEvent,
    TransferEventKind,
    TransferOutcome,
    TransferRecord,
    redact,
    register_secret,
)
from harness.secret import REDACTED, Secret

INSTALL_CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")


@pytest.fixture(autouse=True)
def _fresh_registry():
    evidence.clear_registered_secrets()
    yield
    evidence.clear_registered_secrets()


def _transfer(**overrides) -> TransferRecord:
    fields = dict(
        transfer_id="ppmid1#1",
        device="ppmid1",
        device_eui64="00:0D:6F:00:0B:12:34:51",
        image_name="ppmid-next",
        image_sha256="ab" * 32,
        image_size=1000,
        image_version=0x102,
        started=100.0,
    )
    fields.update(overrides)
    return TransferRecord(**fields)


@pytest.mark.parametrize(
    "spelling",
    [
        INSTALL_CODE.hex(),
        INSTALL_CODE.hex().upper(),
        ":".join(f"{b:02x}" for b in INSTALL_CODE),
        " ".join(f"{b:02X}" for b in INSTALL_CODE),
    ],
)
def test_redact_scrubs_a_registered_secret_in_any_hex_spelling(spelling):
    register_secret(Secret(INSTALL_CODE))
    assert redact(f"join with {spelling} now") == f"join with {REDACTED} now"


def test_a_secret_in_free_text_is_scrubbed_when_the_record_is_created():
    register_secret(Secret(INSTALL_CODE))
    check = CheckRecord(
        name="join",
        rule="device admitted",
        observed=f"key {INSTALL_CODE.hex()} refused",
        outcome=Outcome.FAIL,
        source="rig",
        confidence="H",
    )
    assert INSTALL_CODE.hex() not in check.observed
    assert REDACTED in check.observed


def test_a_secret_object_never_reaches_a_record():
    stage = StageRecord(device="ppmid1", stage="failed", t=1.0, detail=Secret(b"k" * 16))  # type: ignore[arg-type]
    assert isinstance(stage.detail, str)
    assert stage.detail.startswith(REDACTED)
    assert "kkkk" not in json.dumps(evidence.to_json_obj(stage))


def test_short_values_are_not_treated_as_secrets():
    register_secret(b"\x00\x01")
    assert redact("offset 0001") == "offset 0001"


def test_newer_transfer_snapshot_replaces_the_older_one():
    ev = TestEvidence(nodeid="t::a")
    ev.add(_transfer())
    ev.add(_transfer(outcome=TransferOutcome.TRANSFERRED, bytes_sent=1000))
    (only,) = ev.of(TransferRecord)
    assert only.outcome is TransferOutcome.TRANSFERRED


def test_adding_something_that_is_not_a_record_names_the_test():
    ev = TestEvidence(nodeid="t::a")
    with pytest.raises(TypeError, match="t::a"):
        ev.add("not a record")  # type: ignore[arg-type]


def test_evidence_file_round_trips_and_is_rewritten_after_each_test(tmp_path):
    path = tmp_path / "reports" / "evidence.json"
    log = EvidenceLog(path, run_info={"rig": "emulated"})
    first = log.begin("t::one")
    first.add(
        _transfer(
            events=(
                TransferEvent(t=100.5, kind=TransferEventKind.BLOCK_REQUEST, offset=0, size=40),
                TransferEvent(t=100.6, kind=TransferEventKind.BLOCK_RESPONSE, offset=0, size=40, status="SUCCESS"),
            )
        ),
        AlertRecord(
            code=0x8F8A,
            name="Firmware transfer alert SUCCESS",
            use_case="CCS08",
            raised_by="CH",
            entity_eui64="00:0D:6F:00:0B:12:34:51",
            firmware_version=0x102,
            time=101.0,
            observed_how="Upgrade End Request SUCCESS",
            response_code=0,
        ),
    )
    log.finish("t::one", "passed")
    on_disk = json.loads(path.read_text())
    assert [t["nodeid"] for t in on_disk["tests"]] == ["t::one"]
    assert on_disk["tests"][0]["alerts"][0]["code"] == 0x8F8A

    log.begin("t::two").add(StageRecord(device="ppmid1", stage="notified", t=2.0))
    log.finish("t::two", "failed")
    reread = EvidenceLog.load(path)
    assert list(reread.tests) == ["t::one", "t::two"]
    assert reread.tests["t::one"].records == log.tests["t::one"].records
    assert reread.tests["t::two"].outcome == "failed"
    assert not list(path.parent.glob(".*.tmp")), "temporary files must not be left behind"


def test_loading_a_file_with_another_schema_names_file_and_field(tmp_path):
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"schema": "other/9", "tests": []}))
    with pytest.raises(ValueError, match=r"e\.json: schema"):
        EvidenceLog.load(path)


def test_a_secret_inside_a_tuple_is_scrubbed_and_records_already_scrubbed_are_kept_as_they_are():
    from harness.evidence.redaction import scrub

    register_secret(Secret(INSTALL_CODE))
    cleaned = scrub(("no secret here", f"key {INSTALL_CODE.hex()}"))
    assert cleaned == ("no secret here", f"key {REDACTED}")
    events = (TransferEvent(t=1.0, kind=TransferEventKind.BLOCK_REQUEST, detail=f"{INSTALL_CODE.hex()}"),)
    assert events[0].detail == REDACTED, "a record is scrubbed when it is made"
    assert scrub(events) is events, "a transfer's events are not copied again for every snapshot"
    assert _transfer(events=events).events is events


def test_the_evidence_file_is_the_whole_log_as_indented_json(tmp_path, monkeypatch):
    """Written piece by piece from each test's cached entry, the file is still exactly the log's JSON."""
    monkeypatch.setattr("harness.evidence.log.time.time", lambda: 1234.5)
    path = tmp_path / "evidence.json"
    log = EvidenceLog(path, run_info={"rig": "emulated", "operator": "Zoë"})
    log.write()
    assert path.read_text(encoding="utf-8") == json.dumps(log.to_json_obj(), indent=2) + "\n"
    log.begin("t::one").add(_transfer(events=(TransferEvent(t=1.0, kind=TransferEventKind.QUERY),)))
    log.finish("t::one", "passed")
    log.begin("t::two").add(StageRecord(device="ppmid1", stage="notified", t=2.0, detail="écran"))
    log.write()
    assert path.read_text(encoding="utf-8") == json.dumps(log.to_json_obj(), indent=2) + "\n"
