"""Hand-built evidence for a demonstration report: one good upgrade, one refused image, one tenancy test.

The report has to be developed, tested in a browser and judged by eye before (and independently
of) the conformance suite that will produce real evidence. These records follow the evidence
contract exactly (the alert-sequence detail is in the hub's fixed-width table layout) and are
deterministic -- fixed times, fixed digests -- so a screenshot of the demo report changes only
when the rendering does.

Nothing here is a measurement: every value is invented for the demonstration, which is why the
run section says ``rig = "demo"``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from harness.evidence import (
    AlertRecord,
    AttributeRead,
    CheckRecord,
    EvidenceLog,
    ImageRecord,
    Outcome,
    StageRecord,
    TenancyRead,
    TestEvidence,
    TransferEvent,
    TransferEventKind,
    TransferOutcome,
    TransferRecord,
)
from harness.gbcs import CraFlag, FirmwareTransferAlert, SigningHeader, build, version_bytes
from harness.gbcs.codes import RTDS_ACCESS_CONTROL_BROKER
from harness.ota.samples import ch_key_pair

#: 2026-11-22 00:00:00 UTC: the start of the demo run.
T0 = 1_795_305_600.0
PPMID_EUI64 = "00:0D:6F:00:0B:12:34:51"
#: The demo CH's own EUI-64 (its radio's), originator of the CCS08 messages it signs.
CH_EUI64 = bytes.fromhex("000D6F0000C0FFEE")
IHD_EUI64 = "00:0D:6F:00:0B:12:34:52"
PPMID_IMAGE = "ppmid-next"
PPMID_SHA256 = "3f1c0c1b8e6a0d49b7a1e5c2d8f04a6b9e2d7c1a5f3b8e0d4c6a2f9b1e7d3c5a"
IHD_IMAGE = "ihd-wrong-hw"
IHD_SHA256 = "5e8d1f0c7b2a9e4d3c6b8a1f0e9d7c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d"
K = TransferEventKind


def demo_run_info() -> dict:
    """The ``run`` section of the demo: facts as plugin.py would record them for a real session."""
    return {
        "rig": "demo",
        "rig_file": "rigs/demo.toml",
        "radio": "emulated EZSP radio (pty)",
        "ezsp_version": 13,
        "ncp_firmware": "7.4.4.0 build 0",
        "harness_version": "0.1.0",
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "date": "2026-11-22 00:00:00 UTC",
        "operator": "bench-operator",
        "devices": [
            {"name": "ppmid1", "role": "PPMID", "eui64": PPMID_EUI64, "profile": "ppmid-generic"},
            {"name": "ihd1", "role": "IHD", "eui64": IHD_EUI64, "profile": "ihd-generic"},
            {"name": "ihd2", "role": "IHD", "eui64": "00:0D:6F:00:0B:12:34:53", "profile": "ihd-generic"},
        ],
    }


def ccs08_message(*, code: int, entity: str, version: int, response: int, t: float, counter: int) -> str:
    """A CCS08 as the CH would send it, signed with the TEST-ONLY CH key, in hex (as the hub records it)."""
    payload = FirmwareTransferAlert(code, datetime.fromtimestamp(int(t), UTC), bytes.fromhex(entity.replace(":", "")),
                                    version_bytes(version), response)
    header = SigningHeader(CraFlag.ALERT, counter, CH_EUI64, RTDS_ACCESS_CONTROL_BROKER)
    return build(header, payload, ch_key_pair()[0]).encode().hex().upper()


def upgrade_transfer(*, start: float = T0 + 2.0, size: int = 4_000, block: int = 40) -> TransferRecord:
    """A complete PPMID upgrade: steady blocks, one WAIT_FOR_DATA, one retry, one radio gap."""
    events = [TransferEvent(t=start, kind=K.NOTIFY, detail="Image Notify, jitter 100"),
              TransferEvent(t=start + 0.4, kind=K.QUERY, detail="current version 0x00000101"),
              TransferEvent(t=start + 0.45, kind=K.QUERY_RESPONSE, status="SUCCESS")]
    t = start + 0.5
    offset = 0
    while offset < size:
        n = min(block, size - offset)
        if offset == 1_200:
            events.append(TransferEvent(t=t, kind=K.WAIT_FOR_DATA, offset=offset, status="WAIT_FOR_DATA", wait_s=3.0,
                                        detail="window at offset 1200"))
            t += 3.0
        if offset == 2_400:
            events.append(TransferEvent(t=t + 1.5, kind=K.GAP, offset=offset, wait_s=1.5,
                                        detail="radio link lost (NCP reset) for 1.50 s; resumed"))
            t += 1.5
        if offset == 3_000:
            events.append(TransferEvent(t=t, kind=K.RETRY, offset=offset - block,
                                        detail=f"asked again for offset {offset - block} (already sent up to {offset})"))
        events.append(TransferEvent(t=t, kind=K.BLOCK_REQUEST, offset=offset, size=block))
        events.append(TransferEvent(t=t + 0.02, kind=K.BLOCK_RESPONSE, offset=offset, size=n, status="SUCCESS"))
        offset += n
        t += 0.11
    events.append(TransferEvent(t=t + 0.3, kind=K.UPGRADE_END, offset=size, status="SUCCESS"))
    events.append(TransferEvent(t=t + 0.32, kind=K.UPGRADE_END_RESPONSE, status="SUCCESS", detail="activation: upgrade now"))
    return TransferRecord(
        transfer_id="ppmid1-1", device="ppmid1", device_eui64=PPMID_EUI64, image_name=PPMID_IMAGE,
        image_sha256=PPMID_SHA256, image_size=size, image_version=0x00000102, started=start, ended=t + 0.32,
        outcome=TransferOutcome.TRANSFERRED, reason="Upgrade End Request SUCCESS", bytes_sent=size + block,
        block_size_cap=block, retries=1, gaps=1, events=tuple(events),
    )


def sequence_detail(name: str, device: str, eui64: str, outcome: str, rows: list[tuple[str, str, str]],
                    differences: list[str]) -> str:
    """An alert-sequence comparison in the hub's text layout (header, provenance, table, differences)."""
    width_e = max([len("expected"), *(len(r[0]) for r in rows)])
    width_o = max([len("observed"), *(len(r[1]) for r in rows)])
    lines = [f"alert sequence {name!r} for {device} ({eui64}): {outcome}",
             "  expected alerts for this case",
             "  source: SECMP0007 use-case definition; confidence: derived",
             f"  #  {'expected':<{width_e}}  {'observed':<{width_o}}  verdict"]
    lines += [f"  {i:<2} {e:<{width_e}}  {o:<{width_o}}  {v}" for i, (e, o, v) in enumerate(rows, 1)]
    if differences:
        lines.append("differences:")
        lines += [f"  - {d}" for d in differences]
    return "\n".join(lines)


def upgrade_test() -> TestEvidence:
    """The good upgrade of ppmid1: every check passes."""
    ev = TestEvidence(nodeid="tests/conformance/test_ota.py::test_ppmid_upgrade[ppmid1]", started=T0, outcome="passed",
                      finished=T0 + 60)
    transfer = upgrade_transfer()
    end = transfer.ended or T0
    ev.add(
        ImageRecord(name=PPMID_IMAGE, path="firmware_images/ppmid-next.ota", sha256=PPMID_SHA256, size=4_000,
                    signature="VALID",
                    header={"header_version": 0x0100, "header_length": 60, "field_control": 0x0004,
                            "manufacturer_code": 0x121D, "image_type": 0x0084, "file_version": 0x00000102,
                            "stack_version": 0x0002, "header_string": "PPMID next (demo)", "total_image_size": 4_000,
                            "min_hardware_version": 0x1111, "max_hardware_version": 0x1211}),
        AttributeRead(device="ppmid1", endpoint=1, cluster=0x0000, attribute=0x0004, name="ManufacturerName",
                      expected="present", value="Example Meters Ltd", status="SUCCESS", outcome=Outcome.PASS, t=T0 + 1,
                      source="ZCL Basic cluster", confidence="spec"),
        AttributeRead(device="ppmid1", endpoint=1, cluster=0x0000, attribute=0x0005, name="ModelIdentifier",
                      expected="present", value="PPMID-GEN", status="SUCCESS", outcome=Outcome.PASS, t=T0 + 1.1,
                      source="ZCL Basic cluster", confidence="spec"),
        AttributeRead(device="ppmid1", endpoint=1, cluster=0x0019, attribute=0x0002, name="CurrentFileVersion",
                      expected="equals 0x00000101", value=0x00000101, status="SUCCESS", outcome=Outcome.PASS,
                      t=T0 + 1.2, source="ZCL OTA cluster", confidence="spec"),
        transfer,
        StageRecord(device="ppmid1", stage="notified", t=transfer.started),
        StageRecord(device="ppmid1", stage="transferring", t=transfer.started + 0.5, detail="0% 0 B/s"),
        StageRecord(device="ppmid1", stage="transferred", t=end - 0.3, detail="100% 356 B/s 8.9 blocks/s"),
        StageRecord(device="ppmid1", stage="activated", t=end + 5, detail="running 0x00000102"),
        AlertRecord(code=0x8F8A, name="Firmware transfer alert SUCCESS", use_case="CCS08", raised_by="CH",
                    entity_eui64=PPMID_EUI64, firmware_version=0x00000102, time=end, response_code=0,
                    observed_how="derived by the CH: Upgrade End Request SUCCESS after the whole image was served",
                    gbcs_message=ccs08_message(code=0x8F8A, entity=PPMID_EUI64, version=0x00000102, response=0, t=end,
                                               counter=int(end * 1000))),
        AlertRecord(code=0x8F8B, name="PPMID firmware activation alert", use_case="CS09", raised_by="ppmid1",
                    entity_eui64=PPMID_EUI64, firmware_version=0x00000102, time=end + 5, activation_result=0,
                    observed_how="Query Next Image carrying the new version"),
        AttributeRead(device="ppmid1", endpoint=1, cluster=0x0019, attribute=0x0002, name="CurrentFileVersion",
                      expected="equals 0x00000102", value=0x00000102, status="SUCCESS", outcome=Outcome.PASS,
                      t=end + 6, source="ZCL OTA cluster", confidence="spec"),
        CheckRecord(name="alert sequence ppmid-good-image", rule="0x8F8A response 0 then 0x8F8B success",
                    observed="0x8F8A CCS08 SUCCESS, resp 0; 0x8F8B CS09 activation, success", outcome=Outcome.PASS,
                    source="SECMP0007 use-case definition", confidence="derived; CHTS v1.5 text not available",
                    device="ppmid1",
                    detail=sequence_detail("ppmid-good-image", "ppmid1", PPMID_EUI64, "PASS", [
                        ("0x8F8A CCS08 SUCCESS, resp 0, v0x00000102", "0x8F8A CCS08 SUCCESS, resp 0, v0x00000102", "ok"),
                        ("0x8F8B CS09 activation, success, v0x00000102", "0x8F8B CS09 activation, success, v0x00000102",
                         "ok"),
                    ], [])),
    )
    return ev


def refused_test() -> TestEvidence:
    """An image for the wrong hardware offered to ihd1: the CH reports the wrong response code."""
    ev = TestEvidence(nodeid="tests/conformance/test_ota.py::test_hardware_mismatch[ihd1]", started=T0 + 70,
                      outcome="failed", finished=T0 + 75)
    start = T0 + 71
    ev.add(
        ImageRecord(name=IHD_IMAGE, path="firmware_images/ihd-wrong-hw.ota", sha256=IHD_SHA256, size=2_048,
                    signature="ABSENT",
                    header={"header_version": 0x0100, "field_control": 0x0004, "manufacturer_code": 0x1234,
                            "image_type": 0x0042, "file_version": 0x00000102, "header_string": "IHD <wrong hw> & co",
                            "total_image_size": 2_048, "min_hardware_version": 0x0100,
                            "max_hardware_version": 0x01FF}),
        TransferRecord(transfer_id="ihd1-1", device="ihd1", device_eui64=IHD_EUI64, image_name=IHD_IMAGE,
                       image_sha256=IHD_SHA256, image_size=2_048, image_version=0x00000102, started=start,
                       ended=start + 1.0, outcome=TransferOutcome.REFUSED, reason="hardware version 0x0042 outside "
                       "0x0100-0x01FF", events=(
                           TransferEvent(t=start, kind=K.NOTIFY),
                           TransferEvent(t=start + 0.5, kind=K.QUERY, detail="hardware 0x0042"),
                           TransferEvent(t=start + 0.52, kind=K.QUERY_RESPONSE, status="NO_IMAGE_AVAILABLE"),
                           TransferEvent(t=start + 1.0, kind=K.ABORT, detail="refused: hardware version mismatch"))),
        AlertRecord(code=0x8F89, name="Firmware transfer alert FAIL", use_case="CCS08", raised_by="CH",
                    entity_eui64=IHD_EUI64, firmware_version=0x00000102, time=start + 1.0, response_code=3,
                    observed_how="derived by the CH: device ended the transfer with an error"),
        CheckRecord(name="alert sequence hardware-mismatch", rule="0x8F89 response 2; no block sent",
                    observed="0x8F89 CCS08 FAIL, resp 3", outcome=Outcome.FAIL, source="SECMP0007 use-case definition",
                    confidence="derived; CHTS v1.5 text not available", device="ihd1",
                    detail=sequence_detail("hardware-mismatch", "ihd1", IHD_EUI64, "FAIL", [
                        ("0x8F89 CCS08 FAIL, resp 2", "0x8F89 CCS08 FAIL, resp 3, v0x00000102", "DIFFERS"),
                    ], ["alert #1 (0x8F89): response code expected 2 (Hardware Version Mismatch), observed 3 "
                        "(File Transfer Failure)"])),
        StageRecord(device="ihd1", stage="failed", t=start + 1.0, detail="refused: hardware version mismatch"),
    )
    return ev


def tenancy_test() -> TestEvidence:
    """ihd1 reads the tenancy attributes after a change of tenancy; one identity attribute is wrong."""
    ev = TestEvidence(nodeid="tests/conformance/test_tenancy.py::test_cot_read[ihd1]", started=T0 + 80,
                      outcome="passed", finished=T0 + 90)
    ev.add(
        TenancyRead(device="ihd1", cluster=0x0708, attributes=(0x0200, 0x0201), t=T0 + 83,
                    values={"0x0200": 1_795_305_000, "0x0201": 1}, trigger="CoT report"),
        AttributeRead(device="ihd1", endpoint=1, cluster=0x0000, attribute=0x0004, name="ManufacturerName",
                      expected="present", value="Example Displays <Ltd>", status="SUCCESS", outcome=Outcome.PASS,
                      t=T0 + 81, source="ZCL Basic cluster", confidence="spec"),
        AttributeRead(device="ihd1", endpoint=1, cluster=0x0019, attribute=0x0002, name="CurrentFileVersion",
                      expected="in range 0x00000100..0x000001FF", value=0x00000101, status="SUCCESS",
                      outcome=Outcome.PASS, t=T0 + 81.2, source="ZCL OTA cluster", confidence="spec"),
        AttributeRead(device="ihd1", endpoint=1, cluster=0x0708, attribute=0x0100, name="ProviderID",
                      expected="present", value=None, status="UNSUPPORTED_ATTRIBUTE", outcome=Outcome.FAIL,
                      t=T0 + 81.4, source="SECMP0056 (candidate list)", confidence="low: attribute list not confirmed"),
        CheckRecord(name="tenancy read after CoT", rule="reads 0x0200 and 0x0201 within 60 s",
                    observed="read after 3.0 s", outcome=Outcome.PASS, source="SECMP0056", confidence="derived",
                    device="ihd1"),
    )
    return ev


def demo_evidence_log(path: Path | str | None = None) -> EvidenceLog:
    """The whole demo run as an evidence log (written to ``path`` if one is given)."""
    log = EvidenceLog(path, run_info=demo_run_info())
    for ev in (upgrade_test(), refused_test(), tenancy_test()):
        log.tests[ev.nodeid] = ev
    if path is not None:
        log.write()
    return log


# ------------------------------------------------------------------------------ demo project
#
# A scratch pytest project whose tests record the demo evidence, run through the real plugin
# wiring (register_report + pytest-html + junitxml). It is how the report is exercised end to end
# before the conformance suite exists, and what bench/report_screenshot.py renders with --demo.

#: A network key planted in the demo run: printed by a failing test, so the report must redact it.
DEMO_PLANTED_KEY = bytes.fromhex("A1B2C3D4E5F60718293A4B5C6D7E8F90")

DEMO_CONFTEST = '''
import pytest

from harness.evidence import EvidenceLog, register_secret
from harness.report import samples
from harness.report.pytest_hooks import add_report_options, register_report

LOG = pytest.StashKey()
OUTCOME = pytest.StashKey()


def pytest_addoption(parser):
    add_report_options(parser.getgroup("harness"))


def pytest_configure(config):
    register_secret(samples.DEMO_PLANTED_KEY)
    run = samples.demo_run_info()
    for key in ("harness_version", "commit", "date", "operator"):  # the report establishes these itself
        run.pop(key)
    log = EvidenceLog(config.rootpath / "reports" / "evidence.json", run_info=run)
    config.stash[LOG] = log
    register_report(config, log)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.skipped:
        item.stash.setdefault(OUTCOME, "skipped")
    elif report.failed:
        item.stash.setdefault(OUTCOME, "failed" if report.when == "call" else "error")
    if report.when == "teardown":
        item.config.stash[LOG].finish(item.nodeid, item.stash.get(OUTCOME, "passed"))
    return report


@pytest.fixture
def evidence(request):
    return request.config.stash[LOG].begin(request.node.nodeid)


def record(evidence, sample):
    for records in sample.records.values():
        evidence.add(*records)
'''

DEMO_TESTS = '''
from conftest import record
from harness.report import samples


def test_ppmid_upgrade(evidence):
    record(evidence, samples.upgrade_test())


def test_hardware_mismatch(evidence):
    record(evidence, samples.refused_test())
    print("network key", samples.DEMO_PLANTED_KEY.hex(":"))
    assert False, "CCS08 response code: expected 2 (Hardware Version Mismatch), observed 3"


def test_cot_read(evidence):
    record(evidence, samples.tenancy_test())


def test_without_evidence():
    pass
'''


def write_demo_project(directory: Path | str) -> Path:
    """Write the demo project (conftest and tests) into ``directory``; returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "conftest.py").write_text(DEMO_CONFTEST, encoding="utf-8")
    (directory / "test_demo.py").write_text(DEMO_TESTS, encoding="utf-8")
    return directory
