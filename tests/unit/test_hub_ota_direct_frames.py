"""The OTA server reads block requests itself only when zigpy would have done nothing else with them.

Through the real bellows and the emulated PPMID: a whole transfer in which the hub reads every
Image Block Request with its own field lists (zigpy's ZCL parser never sees one), and the same
transfer with a zigpy request listener of someone else's on Image Block Requests, which must then
see every one of them, as zigpy promises it -- the hub hands those frames to zigpy.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from zigpy.zcl.clusters.general import Ota

from harness.evidence import TransferEventKind, TransferOutcome
from harness.hub import CommsHub
from harness.hub.radio import OTA_CLUSTER, SmartEnergyDevice
from harness.hub.settings import HubSettings
from harness.rig import load_rig
from tests.fixtures.emulatedhub import PPMID, RIG_FILE, joined_hub

SETTINGS = HubSettings(join_timeout_s=10, interview_timeout_s=10)


@pytest.fixture(scope="module")
def rig():
    return load_rig(RIG_FILE)


@pytest.fixture
def zigpy_parsed(monkeypatch) -> Counter[int]:
    """OTA cluster commands zigpy parsed from the PPMID, by command id."""
    parsed: Counter[int] = Counter()
    original = SmartEnergyDevice._parse_packet_header

    def counting(self: SmartEnergyDevice, packet: Any) -> Any:
        hdr, key = original(self, packet)
        if packet.cluster_id == OTA_CLUSTER and hdr is not None:
            parsed[hdr.command_id] += 1
        return hdr, key

    monkeypatch.setattr(SmartEnergyDevice, "_parse_packet_header", counting)
    return parsed


async def whole_transfer(hub: CommsHub) -> tuple[int, list[int]]:
    """Transfer ``ppmid-next``; the blocks sent and the offsets the device asked for."""
    transfer = await hub.upgrade(PPMID, "ppmid-next")
    assert await transfer.wait() is TransferOutcome.TRANSFERRED
    events = transfer.record().events
    blocks = sum(1 for e in events if e.kind is TransferEventKind.BLOCK_RESPONSE)
    asked = [e.offset for e in events if e.kind is TransferEventKind.BLOCK_REQUEST]
    assert blocks > 50
    return blocks, asked


async def test_the_hub_reads_every_block_request_itself(rig, zigpy_parsed):
    async with joined_hub(rig, settings=SETTINGS, join_deadline_s=20) as (_radio, hub):
        blocks, asked = await whole_transfer(hub)
    image_block = Ota.ServerCommandDefs.image_block.id
    assert zigpy_parsed[image_block] == 0, f"zigpy parsed {zigpy_parsed[image_block]} of {len(asked)} block requests"
    assert len(asked) >= blocks
    # Query Next Image and Upgrade End still go through zigpy.
    assert zigpy_parsed[Ota.ServerCommandDefs.query_next_image.id] >= 1
    assert zigpy_parsed[Ota.ServerCommandDefs.upgrade_end.id] >= 1


async def test_a_listener_of_someone_elses_gets_every_block_request_through_zigpy(rig, zigpy_parsed):
    seen: list[int] = []
    async with joined_hub(rig, settings=SETTINGS, join_deadline_s=20) as (_radio, hub):
        cancel = hub.app.register_callback_listener(
            src=hub.device(PPMID), filters=[Ota.ServerCommandDefs.image_block.schema()],
            callback=lambda hdr, cmd: seen.append(int(cmd.file_offset)),
        )
        try:
            blocks, asked = await whole_transfer(hub)
        finally:
            cancel()
    assert seen == asked, "the listener missed block requests the OTA server answered"
    assert zigpy_parsed[Ota.ServerCommandDefs.image_block.id] == len(asked)
