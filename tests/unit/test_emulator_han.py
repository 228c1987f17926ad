"""The virtual air: delivery, latency, loss with APS retries, broadcasts, and the device table."""

from __future__ import annotations

import asyncio
import random

import pytest
import zigpy.types as t

from harness.emulator.air import BROADCAST_RX_ON_WHEN_IDLE, SE_PROFILE, ZDO_PROFILE, AirFrame
from harness.emulator.han import VirtualHan
from tests.fixtures.emulator_device_fakes import (
    FAST,
    Air,
    FakeCoordinator,
    OtaServer,
    read_request,
    read_response,
    tagged_image,
)


def node_desc_req(nwk: int) -> AirFrame:
    return AirFrame(0, nwk, ZDO_PROFILE, 0x0002, 0, 0, b"\x01" + t.NWK(nwk).serialize())


async def test_unicast_to_nobody_fails_after_the_aps_retries() -> None:
    han = VirtualHan(FakeCoordinator(), latency_s=0.005, rng=random.Random(1), loop=asyncio.get_running_loop())
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert not await han.unicast(node_desc_req(0x4242))
    assert loop.time() - start >= 4 * 0.005  # first attempt + 3 APS retries


async def test_latency_applies_to_each_hop() -> None:
    air = Air(latency_s=0.02)
    device = await air.joined()
    loop = asyncio.get_running_loop()
    start = loop.time()
    await air.request(device, 0x0000, read_request([0x0004]))
    assert loop.time() - start >= 2 * 0.02
    await air.han.close()


async def test_lossy_air_still_delivers_an_image_byte_identical() -> None:
    air = Air(loss=0.3)  # each attempt lost with p = 0.3; APS retries hide most of it
    device = await air.joined()
    image = tagged_image(600)
    server = OtaServer(air.han, image)
    server.notify(device)
    await device.wait_for("activated", timeout=10)
    assert device.received_images[-1].data == image
    await air.han.close()


async def test_loss_beyond_the_retries_is_a_delivery_failure() -> None:
    air = Air(loss=0.9, aps_retries=0, seed=7)
    device = air.device()
    air.give_key(device)
    air.han.permit_joining(60)  # the join itself is not a data frame; the loss hits what follows
    await device.wait_for("joined", timeout=5)
    results = [await air.han.unicast(node_desc_req(device.nwk)) for _ in range(50)]
    assert 0 < sum(results) < 20
    await air.han.close()


async def test_same_seed_same_losses() -> None:
    async def run() -> list[bool]:
        air = Air(loss=0.5, aps_retries=0, seed=3)
        device = await air.joined()
        outcome = [await air.han.unicast(node_desc_req(device.nwk)) for _ in range(30)]
        await air.han.close()
        return outcome

    first = await run()
    assert first == await run() and not all(first)


async def test_broadcast_reaches_joined_devices_only(air: Air) -> None:  # noqa: F811
    joined = await air.joined()
    outside = air.device()
    frame = AirFrame(0, BROADCAST_RX_ON_WHEN_IDLE, SE_PROFILE, 0x0019, 0x0A, 0xFF, b"\x19\x01\x00\x00\x64", broadcast=True)
    await air.han.broadcast(frame)
    assert joined.events.find("image_notify") is not None
    assert outside.events.find("image_notify") is None


async def test_replies_come_from_the_device_endpoint_to_the_requesting_endpoint(air: Air) -> None:  # noqa: F811
    device = await air.joined()
    reply = await air.request(device, 0x0000, read_request([0x0005]), src_ep=0x0A)
    assert (reply.src_ep, reply.dst_ep, reply.dst_nwk, reply.profile_id) == (1, 0x0A, 0x0000, SE_PROFILE)
    assert read_response(reply)[1][0x0005].value.value == "PPMID-GEN"


async def test_device_table(air: Air) -> None:  # noqa: F811
    first = air.device()
    assert air.han.device(first.name) is first and air.han.devices == (first,)
    with pytest.raises(KeyError, match=first.name):
        air.han.device("nobody")
    with pytest.raises(ValueError, match="already on the air"):
        air.han.add(first)


async def test_nwk_addresses_are_unique_and_kept_across_a_reboot(air: Air) -> None:  # noqa: F811
    a = await air.joined()
    b = await air.joined()
    assert a.nwk != b.nwk
    nwk = a.nwk
    mark = a.events.mark()
    a.reboot()
    await a.wait_for("rejoined", since=mark, timeout=1)
    assert a.nwk == nwk


async def test_a_device_added_while_permit_is_open_joins(air: Air) -> None:  # noqa: F811
    air.han.permit_joining(60)
    device = air.device()
    air.give_key(device)
    await device.wait_for("joined", timeout=1)


def test_fast_timings_are_scaled_copies() -> None:
    slower = FAST.scaled(10)
    assert slower.reboot_s == pytest.approx(FAST.reboot_s * 10) and slower.time_scale == FAST.time_scale
