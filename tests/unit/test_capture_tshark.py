"""The independent check: Wireshark's dissectors (tshark) decode the emulated air.

A conformance-style run on the emulated rig -- the hub admits the PPMID with its install code,
the PPMID runs CBKE, reads the tenancy data and takes a firmware image -- is captured per step
(one pcapng per "test", as the plugin does per test), with the keys file beside the captures.
tshark then decodes every capture with those keys, and the test asks of its verdict:

* no malformed frame and no expert error, in any capture;
* every OTA, Time and Device Management frame decodes as that cluster and is APS-secured; every
  Key Establishment frame decodes as Key Establishment without APS security (cluster-specific
  commands by the cluster's own dissector, profile-wide ones by the ZCL dissector);
* the OTA file offsets and sizes tshark reads equal those of the evidence's transfer record.

Nothing here reuses the harness's own decoders: the frames are judged by Wireshark alone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import harness.hub
from harness.capture.keys_file import KEYS_FILE_NAME
from harness.emulator.server import EmulatedRadio
from harness.evidence import TransferOutcome, TransferRecord, to_json_obj
from harness.hub.settings import HubSettings
from harness.rig import load_rig
from tests.fixtures.emulatedhub import PPMID, RIG_FILE
from tests.fixtures.tsharkcheck import (
    DEVICE_MANAGEMENT,
    KEY_ESTABLISHMENT,
    OTA,
    cluster_violations,
    frame_count,
    needs_tshark,
    ota_blocks,
    problems,
    recorded_blocks,
)

pytestmark = needs_tshark


@pytest.fixture(scope="module")
def conformance_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TransferRecord]:
    """Captures of a join + CBKE + tenancy reads, and of an OTA transfer; the transfer's evidence record."""
    directory = tmp_path_factory.mktemp("captures")
    rig = load_rig(RIG_FILE)

    async def run() -> TransferRecord:
        with EmulatedRadio(rig) as radio:
            radio.start_capture(directory, "tests/conformance/test_rig_ready.py::test_devices_join")
            settings = HubSettings(join_timeout_s=15, interview_timeout_s=15)
            async with await harness.hub.start(rig, port=radio.port, settings=settings) as hub:
                await hub.join(PPMID)
                radio.start_capture(directory, "tests/conformance/test_ota_upgrade.py::test_transfer")
                transfer = await hub.upgrade(PPMID, "ppmid-next")
                assert await transfer.wait() is TransferOutcome.TRANSFERRED
                record: TransferRecord = transfer.record()
            radio.stop_capture()
        return record

    return directory, asyncio.run(run())


def captures(directory: Path) -> list[Path]:
    found = sorted(directory.glob("*.pcapng"))
    assert len(found) == 2 and (directory / KEYS_FILE_NAME).exists()
    return found


def test_every_frame_of_every_capture_decodes_without_error(conformance_run) -> None:
    directory, _ = conformance_run
    keys = directory / KEYS_FILE_NAME
    for capture in captures(directory):
        assert frame_count(capture, keys) > 20, capture.name
        found = problems(capture, keys)
        assert found == [], f"{capture.name}: {found[:5]}"


def test_smart_energy_clusters_decode_as_themselves_with_the_security_the_rules_require(conformance_run) -> None:
    directory, _ = conformance_run
    keys = directory / KEYS_FILE_NAME
    seen: dict[int, int] = {}
    violations = [v for capture in captures(directory) for v in cluster_violations(capture, keys, seen)]
    assert violations == []
    assert seen.get(OTA, 0) > 10 and seen.get(KEY_ESTABLISHMENT, 0) >= 6 and seen.get(DEVICE_MANAGEMENT, 0) >= 1


def test_ota_offsets_and_sizes_on_the_air_equal_the_transfer_record(conformance_run) -> None:
    directory, record = conformance_run
    keys = directory / KEYS_FILE_NAME
    transfer = [c for c in captures(directory) if "test_transfer" in c.name][0]
    on_air, recorded = ota_blocks(transfer, keys), recorded_blocks([to_json_obj(record)])
    assert on_air.requests and on_air.responses
    assert on_air.requests == recorded.requests
    assert on_air.responses == recorded.responses
    assert sum(size for blocks in on_air.responses.values() for _, size in blocks) == record.bytes_sent == record.image_size
