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
import shutil
import subprocess
from pathlib import Path

import pytest

import harness.hub
from harness.capture.keys_file import KEYS_FILE_NAME, tshark_key_options
from harness.emulator.server import EmulatedRadio
from harness.evidence import TransferEventKind, TransferOutcome, TransferRecord
from harness.hub.settings import HubSettings
from harness.rig import load_rig
from tests.fixtures.emulatedhub import PPMID, RIG_FILE

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(
    TSHARK is None, reason="tshark not installed: `apt-get install tshark` (Debian) runs the capture check"
)

OTA, TIME, DEVICE_MANAGEMENT, KEY_ESTABLISHMENT = 0x0019, 0x000A, 0x0708, 0x0800
DISSECTOR = {
    OTA: "zbee_zcl_general.ota",
    TIME: "zbee_zcl_general.time",
    DEVICE_MANAGEMENT: "zbee_zcl_se.dm",
    KEY_ESTABLISHMENT: "zbee_zcl_se.ke",
}
IMAGE_BLOCK_REQUEST, IMAGE_BLOCK_RESPONSE = 0x03, 0x05


def tshark(capture: Path, keys: Path, *args: str) -> list[list[str]]:
    """tshark's field output for ``capture`` decoded with ``keys``: one list of fields per frame."""
    assert TSHARK is not None
    command = [TSHARK, "-n", "-r", str(capture), *tshark_key_options(keys), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"tshark failed on {capture.name}: {result.stderr.strip()[-500:]}"
    return [line.split("\t") for line in result.stdout.splitlines() if line]


def fields(capture: Path, keys: Path, display_filter: str, *names: str) -> list[list[str]]:
    return tshark(capture, keys, "-Y", display_filter, "-T", "fields", "-E", "occurrence=f", *(
        arg for name in names for arg in ("-e", name)
    ))


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
        assert len(tshark(capture, keys, "-T", "fields", "-e", "frame.number")) > 20, capture.name
        problems = tshark(capture, keys, "-Y", "_ws.malformed || _ws.expert.severity == error")
        assert problems == [], f"{capture.name}: {problems[:5]}"


def test_smart_energy_clusters_decode_as_themselves_with_the_security_the_rules_require(conformance_run) -> None:
    directory, _ = conformance_run
    keys = directory / KEYS_FILE_NAME
    seen: dict[int, int] = {}
    for capture in captures(directory):
        rows = fields(
            capture, keys, "zbee_aps.type == 0 && (" + " || ".join(f"zbee_aps.cluster == 0x{c:04x}" for c in DISSECTOR) + ")",
            "frame.number", "zbee_aps.cluster", "zbee_aps.security", "frame.protocols", "zbee_zcl.type",
        )
        for number, cluster_text, security, protocols, zcl_type in rows:
            cluster = int(cluster_text, 16)
            seen[cluster] = seen.get(cluster, 0) + 1
            where = f"{capture.name} frame {number}"
            # A cluster-specific command goes to the cluster's own dissector; a profile-wide one
            # (Read Attributes...) is decoded by the ZCL dissector with the cluster's attribute names.
            expected = DISSECTOR[cluster] if zcl_type.strip() in ("1", "0x01") else "zbee_zcl"
            assert expected in protocols.split(":"), f"{where}: decoded as {protocols}"
            assert security == ("0" if cluster == KEY_ESTABLISHMENT else "1"), f"{where}: APS security {security}"
    assert seen.get(OTA, 0) > 10 and seen.get(KEY_ESTABLISHMENT, 0) >= 6 and seen.get(DEVICE_MANAGEMENT, 0) >= 1


def test_ota_offsets_and_sizes_on_the_air_equal_the_transfer_record(conformance_run) -> None:
    directory, record = conformance_run
    keys = directory / KEYS_FILE_NAME
    transfer = [c for c in captures(directory) if "test_transfer" in c.name][0]
    rows = fields(
        transfer, keys, "zbee_zcl && zbee_aps.cluster == 0x0019 && zbee_zcl.type == 1",
        "zbee_zcl_general.ota.cmd.srv_rx.id", "zbee_zcl_general.ota.cmd.srv_tx.id", "zbee_zcl_general.ota.status",
        "zbee_zcl_general.ota.file.offset", "zbee_zcl_general.ota.max_data_size", "zbee_zcl_general.ota.data_size",
    )
    requests = [
        (int(offset), int(size)) for to_server, _, _, offset, size, _ in rows
        if to_server and int(to_server, 0) == IMAGE_BLOCK_REQUEST
    ]
    responses = [
        (int(offset), int(size)) for _, to_client, status, offset, _, size in rows
        if to_client and int(to_client, 0) == IMAGE_BLOCK_RESPONSE and int(status or "0", 0) == 0
    ]
    assert requests and responses
    recorded_requests = [(e.offset, e.size) for e in record.events if e.kind is TransferEventKind.BLOCK_REQUEST]
    recorded_responses = [(e.offset, e.size) for e in record.events if e.kind is TransferEventKind.BLOCK_RESPONSE]
    assert requests == recorded_requests
    assert responses == recorded_responses
    assert sum(size for _, size in responses) == record.bytes_sent == record.image_size
