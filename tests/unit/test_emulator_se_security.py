"""Emulated devices follow the Smart Energy security and registration rules of a real SE node.

The independent model is reference/real-device-behaviour.md (Silicon Labs' application framework):
§1 APS security on the listed clusters, §3 the registration time read, §4 MinimumBlockPeriod units.
These tests talk to a device over the virtual air with a fake coordinator, so each rule is seen
exactly as a CH would see it on the air.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
import zigpy.types as t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

from harness.emulator.air import BROADCAST_RX_ON_WHEN_IDLE, SE_PROFILE, AirFrame, needs_aps_security
from harness.emulator.devices.settings import DEVICE_IDS
from harness.emulator.devices.time_client import time_source_problem
from tests.fixtures.emulator_device_fakes import CH_EP, FAST, GPF_EP, Air, read_request

pytestmark = pytest.mark.spec("Silicon Labs util/util.c emberAfProcessMessage (reference/real-device-behaviour.md §1)")

IMAGE_NOTIFY = foundation.ZCLHeader.cluster(0x40, 0x00, direction=foundation.Direction.Server_to_Client).serialize() + \
    Ota.ImageNotifyCommand(payload_type=0, query_jitter=100).serialize()


@pytest.fixture
async def air():
    air = Air()
    yield air
    await air.han.close()


def _default_responses(air: Air, cluster: int) -> list[tuple[AirFrame, foundation.Status]]:
    found = []
    for frame in air.coordinator.frames:
        if frame.cluster_id != cluster:
            continue
        hdr, body = foundation.ZCLHeader.deserialize(frame.payload)
        if hdr.frame_control.is_general and hdr.command_id == foundation.GeneralCommand.Default_Response:
            args, _ = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Default_Response].schema.deserialize(body)
            found.append((frame, foundation.Status(args.status)))
    return found


async def test_an_unencrypted_unicast_on_a_listed_cluster_gets_failure_and_is_not_acted_on(air: Air) -> None:
    device = await air.joined()
    await air.han.unicast(AirFrame(0, device.nwk, SE_PROFILE, 0x0019, CH_EP, 1, IMAGE_NOTIFY))
    await air.coordinator.wait_frames(lambda f: f.cluster_id == 0x0019, timeout=2)
    [(frame, status)] = _default_responses(air, 0x0019)
    assert status is foundation.Status.FAILURE
    assert not frame.aps_encrypted, "the Default Response FAILURE itself goes without APS encryption"
    assert not device.events.named("image_notify") and not device.events.named("query_sent")


async def test_the_same_frame_encrypted_is_acted_on_and_answered_encrypted(air: Air) -> None:
    device = await air.joined()
    await air.han.unicast(AirFrame(0, device.nwk, SE_PROFILE, 0x0019, CH_EP, 1, IMAGE_NOTIFY, aps_encrypted=True))
    queries = await air.coordinator.wait_frames(lambda f: f.cluster_id == 0x0019, timeout=2)
    assert queries and all(f.aps_encrypted for f in queries), "its own OTA traffic is APS-encrypted"


async def test_unencrypted_broadcasts_are_dropped_silently_except_image_notify(air: Air) -> None:
    device = await air.joined()
    hdr = foundation.ZCLHeader.general(3, foundation.GeneralCommand.Report_Attributes,
                                       direction=foundation.Direction.Server_to_Client)
    report = hdr.serialize() + b"\x00\x02\x21\x01\x00"
    await air.han.broadcast(AirFrame(0, BROADCAST_RX_ON_WHEN_IDLE, SE_PROFILE, 0x0708, GPF_EP, 0xFF, report,
                                     broadcast=True))
    await air.han.broadcast(AirFrame(0, BROADCAST_RX_ON_WHEN_IDLE, SE_PROFILE, 0x0019, CH_EP, 0xFF, IMAGE_NOTIFY,
                                     broadcast=True))
    await device.wait_for("image_notify", timeout=2)
    refused = device.events.named("unsecured_frame_refused")
    assert [(e.details["cluster"], e.details["broadcast"]) for e in refused] == [(0x0708, True)]
    assert not _default_responses(air, 0x0708), "no answer to a broadcast"


async def test_key_establishment_and_zdo_need_no_aps_encryption() -> None:
    assert not needs_aps_security(SE_PROFILE, 0x0800)
    assert not needs_aps_security(0x0000, 0x0006)
    assert needs_aps_security(0xFFFF, 0x0025), "the wildcard profile is covered too"


async def test_a_device_that_sends_unencrypted_does_so_on_every_listed_cluster(air: Air) -> None:
    device = await air.joined(behaviour="sends_se_unencrypted")
    await air.han.unicast(AirFrame(0, device.nwk, SE_PROFILE, 0x0019, CH_EP, 1, IMAGE_NOTIFY, aps_encrypted=True))
    await air.coordinator.wait_frames(lambda f: f.cluster_id == 0x0019, timeout=2)
    sent = [f for f in air.coordinator.frames if needs_aps_security(f.profile_id, f.cluster_id)]
    assert sent and not any(f.aps_encrypted for f in sent)


async def test_a_device_that_acts_on_unencrypted_ota_commands_queries(air: Air) -> None:
    device = await air.joined(behaviour="acts_on_unencrypted_ota")
    await air.han.unicast(AirFrame(0, device.nwk, SE_PROFILE, 0x0019, CH_EP, 1, IMAGE_NOTIFY))
    await device.wait_for("query_sent", timeout=2)
    assert device.events.named("unsecured_frame_accepted")


# -- registration: the time read --------------------------------------------------------------------

def _time_records(time_value: int, status: int) -> list[foundation.ReadAttributeRecord]:
    def record(attrid: int, type_id: int, value: int) -> foundation.ReadAttributeRecord:
        wire = t.uint8_t if type_id == 0x18 else t.uint32_t
        return foundation.ReadAttributeRecord(attrid=attrid, status=foundation.Status.SUCCESS,
                                              value=foundation.TypeValue(type=type_id, value=wire(value)))
    return [record(0x0000, 0xE2, time_value), record(0x0001, 0x18, status), record(0x0008, 0xE2, 1),
            record(0x0009, 0xE2, min(time_value + 60, 0xFFFFFFFF))]


@pytest.mark.parametrize(("status", "problem"), [
    (0x01, None), (0x02, None), (0x03, None), (0x00, "neither Master nor Synchronized"),
])
def test_a_time_source_counts_only_with_master_or_synchronized(status: int, problem: str | None) -> None:
    found = time_source_problem(_time_records(800_000_000, status))
    assert (found is None) if problem is None else (problem in (found or ""))


def test_time_0xffffffff_is_not_a_time() -> None:
    assert "not set" in (time_source_problem(_time_records(0xFFFFFFFF, 0x03)) or "")


async def test_after_registration_the_device_reads_time_encrypted_and_takes_it(air: Air) -> None:
    air.coordinator.endpoints[CH_EP] = replace(air.coordinator.endpoints[CH_EP],
                                               input_clusters=(0x0019, 0x0800, 0x000A))

    def serve_time(frame: AirFrame) -> None:
        if frame.cluster_id != 0x000A:
            return
        hdr, _ = foundation.ZCLHeader.deserialize(frame.payload)
        rsp_hdr = foundation.ZCLHeader.general(hdr.tsn, foundation.GeneralCommand.Read_Attributes_rsp,
                                               direction=foundation.Direction.Server_to_Client)
        body = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp].schema(
            status_records=_time_records(800_000_000, 0x02))
        reply = AirFrame(0, frame.src_nwk, SE_PROFILE, 0x000A, CH_EP, frame.src_ep,
                         rsp_hdr.serialize() + body.serialize(), aps_encrypted=True)
        asyncio.get_running_loop().create_task(air.han.unicast(reply))

    air.coordinator.listeners.append(serve_time)
    device = await air.joined()
    taken = await device.wait_for("time_set", timeout=2)
    assert taken.details == {"utc": 800_000_000, "status": 0x02}
    reads = await air.coordinator.wait_frames(lambda f: f.cluster_id == 0x000A, timeout=2)
    assert reads and all(f.aps_encrypted for f in reads)
    assert reads[0].payload[3:] == read_request([0x0000, 0x0001, 0x0008, 0x0009])[3:]


async def test_a_device_that_ignores_the_time_server_never_reads_it(air: Air) -> None:
    air.coordinator.endpoints[CH_EP] = replace(air.coordinator.endpoints[CH_EP],
                                               input_clusters=(0x0019, 0x0800, 0x000A))
    device = await air.joined(behaviour="ignores_time_server")
    await device.wait_for("tenancy_read_sent", timeout=2)
    assert not [f for f in air.coordinator.frames if f.cluster_id == 0x000A]


# -- identity and OTA pacing ----------------------------------------------------------------------

def test_device_ids_are_the_smart_energy_ones() -> None:
    assert DEVICE_IDS == {"IHD": 0x0502, "PPMID": 0x0506, "HCALCS": 0x0504}


async def test_minimum_block_period_is_read_in_the_devices_own_unit(air: Air) -> None:
    fast = replace(FAST, time_scale=0.01)
    in_ms = air.device(min_block_period_ms=100, min_block_period_unit="ms", timings=fast)
    in_s = air.device(min_block_period_ms=100, min_block_period_unit="s", timings=fast)
    for device, expected_s in ((in_ms, 0.1 * 0.01), (in_s, 100 * 0.01)):
        device.ota._last_block_request = device.clock()
        began = device.clock()
        await device.ota._respect_minimum_block_period()
        waited = device.clock() - began
        assert waited >= expected_s * 0.9
    with pytest.raises(ValueError, match="min_block_period_unit"):
        replace(in_ms.settings, min_block_period_unit="us")


# -- trust-centre keep-alive --------------------------------------------------------------------------

def _serve_keep_alive(air: Air, *, base_min: int = 1, jitter_s: int = 0) -> None:
    air.coordinator.endpoints[CH_EP] = replace(air.coordinator.endpoints[CH_EP],
                                               input_clusters=(0x0019, 0x0800, 0x0025))

    def serve(frame: AirFrame) -> None:
        if frame.cluster_id != 0x0025:
            return
        hdr, _ = foundation.ZCLHeader.deserialize(frame.payload)
        records = [foundation.ReadAttributeRecord(attrid=0, status=foundation.Status.SUCCESS,
                                                  value=foundation.TypeValue(type=0x20, value=t.uint8_t(base_min))),
                   foundation.ReadAttributeRecord(attrid=1, status=foundation.Status.SUCCESS,
                                                  value=foundation.TypeValue(type=0x21, value=t.uint16_t(jitter_s)))]
        rsp_hdr = foundation.ZCLHeader.general(hdr.tsn, foundation.GeneralCommand.Read_Attributes_rsp,
                                               direction=foundation.Direction.Server_to_Client)
        body = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp].schema(status_records=records)
        reply = AirFrame(0, frame.src_nwk, SE_PROFILE, 0x0025, CH_EP, frame.src_ep,
                         rsp_hdr.serialize() + body.serialize(), aps_encrypted=True)
        asyncio.get_running_loop().create_task(air.han.unicast(reply))

    air.coordinator.listeners.append(serve)


async def test_keep_alive_reads_base_and_jitter_encrypted(air: Air) -> None:
    _serve_keep_alive(air, base_min=2, jitter_s=30)
    device = await air.joined(timings=replace(FAST, keep_alive_first_s=0.01, time_scale=0.001))
    ok = await device.wait_for("keep_alive_ok", timeout=2)
    assert ok.details == {"base_min": 2, "jitter_s": 30}
    reads = await air.coordinator.wait_frames(lambda f: f.cluster_id == 0x0025, timeout=2)
    assert all(f.aps_encrypted for f in reads)


async def test_three_keep_alive_failures_make_the_device_rejoin_through_the_trust_centre(air: Air) -> None:
    # No Keep-Alive server on the CH: each check fails; the third sends the device to its trust centre.
    device = await air.joined(timings=replace(FAST, keep_alive_first_s=0.01, time_scale=0.001))
    await device.wait_for("keep_alive_tc_rejoin", timeout=3)
    assert [e.details["failures"] for e in device.events.named("keep_alive_failed")][:3] == [1, 2, 3]
    await device.wait_for("rejoined", timeout=2)
    assert air.coordinator.joins[-1][2] is True, "the trust centre saw a rejoin"
    assert device.joined
