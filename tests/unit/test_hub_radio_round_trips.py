"""EZSP round trips per OTA block, counted at the emulated NCP through the real bellows.

bellows 1.2.1 asks the NCP for a device's extended-timeout flag (``getExtendedTimeout``) before
every ``sendUnicast``: one more stop-and-wait round trip per block. The hub's application asks
once per device and address (``harness.hub.radio.HubEzsp``). These tests count what the NCP
receives during a transfer, and check that everything that may change the NCP's entry for a
device -- a rejoin, a leave, an address change, an NCP reset -- makes the hub ask again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import bellows.ezsp
import pytest
import zigpy.types as t
from zigpy.zcl import foundation

from harness.emulator.frame_log import HOST_TO_NCP
from harness.emulator.server import EmulatedRadio
from harness.evidence import TransferEventKind, TransferOutcome
from harness.hub import CommsHub
from harness.hub.radio import HubApplication, send_zcl
from harness.hub.settings import HubSettings
from harness.rig import load_rig
from tests.fixtures.emulatedhub import PPMID, RIG_FILE, joined_hub

SETTINGS = HubSettings(join_timeout_s=10, interview_timeout_s=10)
#: Any command the host sends a device will do; this one is answered and changes nothing.
READ_BASIC = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes].schema(attribute_ids=[0x0004])


@pytest.fixture(scope="module")
def rig():
    return load_rig(RIG_FILE)


def commands_to_ncp(radio: EmulatedRadio, since: int) -> Counter[str]:
    """EZSP commands the NCP received from the host after frame-log record ``since`` (no retransmissions)."""
    records = radio.call(lambda: list(radio.frame_log.records)[since:])
    return Counter(r.ezsp for r in records if r.direction == HOST_TO_NCP and r.ezsp and not r.re_tx)


def frame_mark(radio: EmulatedRadio) -> int:
    return int(radio.call(lambda: len(radio.frame_log.records)))


async def transfer_counts(radio: EmulatedRadio, hub: CommsHub) -> tuple[Counter[str], int]:
    """One whole transfer of ``ppmid-next``: the commands the NCP received, and the blocks sent."""
    mark = frame_mark(radio)
    transfer = await hub.upgrade(PPMID, "ppmid-next")
    assert await transfer.wait() is TransferOutcome.TRANSFERRED
    blocks = sum(1 for e in transfer.record().events if e.kind is TransferEventKind.BLOCK_RESPONSE)
    assert blocks > 50
    return commands_to_ncp(radio, mark), blocks


async def send_one(hub: CommsHub) -> None:
    """One unicast from the CH to the PPMID (a Basic read it answers)."""
    device = hub.device(PPMID)
    dst_ep = min(ep for ep in device.endpoints if ep != 0)
    await send_zcl(device, cluster=0x0000, src_ep=hub.settings.se_endpoint, dst_ep=dst_ep, command_id=0x00,
                   payload=READ_BASIC, general=True, direction=foundation.Direction.Client_to_Server)


async def queries_before_next_send(radio: EmulatedRadio, hub: CommsHub) -> int:
    mark = frame_mark(radio)
    await send_one(hub)
    return commands_to_ncp(radio, mark)["getExtendedTimeout"]


async def test_an_ota_block_costs_one_ezsp_command_and_no_extended_timeout_query(rig):
    async with joined_hub(rig, settings=SETTINGS, join_deadline_s=20) as (radio, hub):
        counts, blocks = await transfer_counts(radio, hub)
    assert counts["getExtendedTimeout"] == 0, f"the NCP was asked {counts['getExtendedTimeout']} times in {blocks} blocks"
    assert counts["sendUnicast"] >= blocks
    # Per block the NCP hears one command: the block's sendUnicast. The rest (Image Notify, the
    # Query Next Image and Upgrade End responses) is a handful per transfer.
    assert sum(counts.values()) <= blocks + 10, counts


async def test_bellows_as_shipped_asks_before_every_block(rig, monkeypatch):
    """The count above can fail: with bellows' own EZSP class each block costs two commands."""
    monkeypatch.setattr(HubApplication, "ezsp_class", bellows.ezsp.EZSP)
    async with joined_hub(rig, settings=SETTINGS, join_deadline_s=20) as (radio, hub):
        counts, blocks = await transfer_counts(radio, hub)
    assert counts["getExtendedTimeout"] >= blocks


class _Listener:
    """zigpy application listener: futures for the next device_left and connection_lost."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.left: asyncio.Future[Any] = loop.create_future()
        self.lost: asyncio.Future[Any] = loop.create_future()

    def device_left(self, device: Any) -> None:
        if not self.left.done():
            self.left.set_result(device)

    def connection_lost(self, exc: Exception) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


async def test_a_rejoin_makes_the_hub_ask_the_ncp_again(rig):
    async with joined_hub(rig, settings=SETTINGS, join_deadline_s=20) as (radio, hub):
        device = hub.device(PPMID)
        await send_one(hub)
        assert hub.app.knows_extended_timeout(device.ieee)
        # What bellows does with the NCP's trustCenterJoinHandler for a secure rejoin.
        hub.app.handle_join(device.nwk, device.ieee, t.NWK(0x0000))
        assert not hub.app.knows_extended_timeout(device.ieee)
        assert await queries_before_next_send(radio, hub) == 1
        assert await queries_before_next_send(radio, hub) == 0


async def test_an_address_change_makes_the_hub_ask_the_ncp_again(rig):
    async with joined_hub(rig, settings=SETTINGS, join_deadline_s=20) as (radio, hub):
        device = hub.device(PPMID)
        await send_one(hub)
        old = device.nwk
        # A Device_annce with a new address reaches the application as a join with the new NWK.
        hub.app.handle_join(t.NWK(old ^ 0x0101), device.ieee, t.NWK(0x0000))
        assert not hub.app.knows_extended_timeout(device.ieee)
        hub.app.handle_join(old, device.ieee, t.NWK(0x0000))  # and back, so the device is reachable
        assert await queries_before_next_send(radio, hub) == 1


async def test_a_leave_makes_the_hub_forget_the_device(rig):
    async with joined_hub(rig, settings=SETTINGS, join_deadline_s=20) as (radio, hub):
        device = hub.device(PPMID)
        await send_one(hub)
        listener = _Listener()
        hub.app.add_listener(listener)
        await device.zdo.leave(remove_children=False, rejoin=False)
        assert await asyncio.wait_for(listener.left, 10) is device
        assert not hub.app.knows_extended_timeout(device.ieee)


async def test_an_ncp_reset_makes_the_hub_ask_the_ncp_again(rig):
    async with joined_hub(rig, settings=SETTINGS, join_deadline_s=20) as (radio, hub):
        device = hub.device(PPMID)
        await send_one(hub)
        assert hub.app.knows_extended_timeout(device.ieee)
        listener = _Listener()
        hub.app.add_listener(listener)
        before = hub.app.ezsp
        mark = frame_mark(radio)
        radio.reset_ncp()
        await asyncio.wait_for(listener.lost, 10)
        await hub.wait_link_up(20)
        assert hub.reconnects == 1
        # A new connection, so an empty memory; the memory itself is not looked at here, because
        # by now the hub may have answered the device's own traffic after the reconnect (and the
        # device may have rejoined, which asks again once more).
        assert hub.app.ezsp is not before
        await send_one(hub)
        assert commands_to_ncp(radio, mark)["getExtendedTimeout"] >= 1
