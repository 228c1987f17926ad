"""Emulated HAN devices on the virtual air, driven by a fake coordinator and a tiny OTA server.

The fakes here stand in for the NCP (the contract's Coordinator) and for the hub's OTA server, so
each test shows one thing a real device does -- or one named defect -- as a user of the harness
would notice it: frames on the air, attribute values, and the image that arrived.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from dataclasses import replace

import pytest
import zigpy.types as t
import zigpy.zdo.types as zdo_t
from zigpy.zcl import foundation

from harness.emulator.air import SE_PROFILE, WELL_KNOWN_LINK_KEY, ZDO_PROFILE, AirFrame
from harness.emulator.devices import BEHAVIOURS, LinkState
from tests.fixtures.emulator_device_fakes import (  # noqa: F401 -- air is a fixture
    CH_EP,
    FAST,
    GPF_EP,
    HW,
    IMAGE_TYPE,
    MFR,
    NEW,
    OLD,
    OTHER_INSTALL_CODE,
    Air,
    Gpf,
    Ota,
    OtaServer,
    Status,
    UpgradeStatus,
    _zdo,
    gbcs_signed_image,
    ota_attr,
    read_request,
    read_response,
    supplier_keys,
    tagged_image,
)


# ------------------------------------------------------------------------------------------------
# Joining
# ------------------------------------------------------------------------------------------------
async def test_device_with_the_right_install_code_key_joins_and_announces(air: Air) -> None:
    device = await air.joined()
    (annce,) = await air.coordinator.wait_frames(lambda f: f.profile_id == ZDO_PROFILE and f.cluster_id == 0x0013)
    assert annce.broadcast and annce.src_nwk == device.nwk
    _tsn, (nwk, ieee, _capability) = _zdo(zdo_t.ZDOCmd.Device_annce, annce.payload)
    assert nwk == device.nwk and ieee == t.EUI64.convert("00:0D:6F:00:0B:12:34:51")
    assert air.coordinator.joins == [(device.nwk, device.eui64, False, "allowed")]
    assert device.link is LinkState.JOINED


async def test_after_joining_the_device_finds_the_chs_services_by_match_descriptor(air: Air) -> None:
    device = await air.joined()
    (read, *_) = await air.coordinator.wait_frames(lambda f: f.cluster_id == 0x0708, timeout=2)
    assert read.dst_ep == GPF_EP, "the tenancy read goes where the coordinator said the GPF is"
    found = {e.details["cluster"]: e.details["endpoint"] for e in device.events.named("service_found")}
    assert found == {0x0019: CH_EP, 0x0708: GPF_EP}, "OTA and the GPF; no Key Establishment without CBKE"
    asked = [f for f in air.coordinator.frames if f.profile_id == ZDO_PROFILE and f.cluster_id == 0x0006]
    assert all((f.dst_nwk, f.dst_ep) == (0x0000, 0) for f in asked)
    clusters = [int.from_bytes(f.payload[6:8], "little") for f in asked]
    assert sorted(c for c in clusters if c != 0x000A) == [0x0019, 0x0708], "each service asked once (Time: registration's own)"


async def test_a_ch_that_declares_no_ota_server_is_never_asked_for_an_image(air: Air) -> None:
    air.coordinator.endpoints[CH_EP] = replace(air.coordinator.endpoints[CH_EP], input_clusters=(0x0800,))
    device = air.device(timings=replace(FAST, query_interval_s=0.02))  # it would query on its own
    air.give_key(device)
    air.han.permit_joining(60)
    missing = await device.wait_for("service_not_found", timeout=2)
    assert missing.details["cluster"] == 0x0019
    await device.wait_for("send_skipped", where=lambda e: e.details["cluster"] == 0x0019, timeout=2)
    assert not air.coordinator.zcl(cluster=0x0019), "no Query Next Image to an endpoint it never found"
    assert device.services.endpoint(0x0708) == GPF_EP


async def test_device_with_a_wrong_key_is_admitted_by_the_tc_but_never_announces(air: Air) -> None:
    device = air.device()
    air.give_key(device, OTHER_INSTALL_CODE)  # the label on the box is wrong
    air.han.permit_joining(60)
    await device.wait_for("join_key_mismatch", timeout=1)
    await device.wait_for("join_key_mismatch", since=device.events.mark(), timeout=1)  # and keeps trying
    assert device.link is LinkState.OUTSIDE
    assert all(decision == "allowed" and not rejoin for _, _, rejoin, decision in air.coordinator.joins)
    assert not [f for f in air.coordinator.frames if f.cluster_id == 0x0013]
    assert not await air.han.unicast(AirFrame(0, device.nwk or 0x1234, ZDO_PROFILE, 0x0002, 0, 0, b"\x01\x00\x00"))


async def test_device_with_no_key_under_the_install_code_policy_is_denied(air: Air) -> None:
    device = air.device()
    air.han.permit_joining(60)
    await device.wait_for("join_denied", timeout=1)
    assert air.coordinator.joins[0][3] == "denied"
    assert device.link is LinkState.OUTSIDE


async def test_the_right_key_set_later_lets_a_waiting_device_in(air: Air) -> None:
    device = air.device()
    air.han.permit_joining(60)
    await device.wait_for("join_denied", timeout=1)
    air.give_key(device)
    await device.wait_for("joined", timeout=1)


async def test_gb_device_refuses_the_well_known_key(air: Air) -> None:
    air.coordinator.policy = False
    gb = air.device()
    lenient = air.device(accepts_well_known_key=True)
    air.coordinator.keys[gb.eui64] = air.coordinator.keys[lenient.eui64] = WELL_KNOWN_LINK_KEY
    air.han.permit_joining(60)
    await lenient.wait_for("joined", timeout=1)
    await gb.wait_for("join_key_mismatch", timeout=1)
    assert not gb.joined


async def test_no_join_attempt_while_permit_joining_is_closed(air: Air) -> None:
    device = air.device()
    air.give_key(device)
    air.han.permit_joining(60)  # the device starts its join loop ...
    air.han.permit_joining(0)  # ... which must find the window closed before its first attempt
    assert device._join_task is not None
    await asyncio.wait_for(device._join_task, 1)
    assert not device.joined
    assert air.coordinator.joins == []


# ------------------------------------------------------------------------------------------------
# Interview (ZDO) and attributes (ZCL)
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("role", "role_cluster"), [("IHD", 0x0702), ("PPMID", 0x0705)])
async def test_interview_answers(air: Air, role: str, role_cluster: int) -> None:
    device = await air.joined(role)
    nwk = t.NWK(device.nwk)
    rsp = await air.request(device, 0x0002, b"\x01" + nwk.serialize(), profile=ZDO_PROFILE, src_ep=0, dst_ep=0)
    _tsn, (status, _, node) = _zdo(zdo_t.ZDOCmd.Node_Desc_rsp, rsp.payload)
    assert status == zdo_t.Status.SUCCESS and node.manufacturer_code == MFR and node.is_router and node.is_mains_powered

    rsp = await air.request(device, 0x0005, b"\x02" + nwk.serialize(), profile=ZDO_PROFILE, src_ep=0, dst_ep=0)
    assert _zdo(zdo_t.ZDOCmd.Active_EP_rsp, rsp.payload)[1][2] == [1]

    rsp = await air.request(device, 0x0004, b"\x03" + nwk.serialize() + b"\x01", profile=ZDO_PROFILE, src_ep=0, dst_ep=0)
    _tsn, (status, _, desc) = _zdo(zdo_t.ZDOCmd.Simple_Desc_rsp, rsp.payload)
    assert desc.profile == 0x0109 and desc.endpoint == 1
    assert set(desc.input_clusters) == {0x0000, 0x0003, 0x0800, 0x0704}
    assert set(desc.output_clusters) == {0x0019, 0x000A, 0x0708, role_cluster}

    rsp = await air.request(device, 0x0004, b"\x04" + nwk.serialize() + b"\x07", profile=ZDO_PROFILE, src_ep=0, dst_ep=0)
    assert _zdo(zdo_t.ZDOCmd.Simple_Desc_rsp, rsp.payload)[1][0] == zdo_t.Status.NOT_ACTIVE

    rsp = await air.request(device, 0x0001, b"\x05" + nwk.serialize() + b"\x00\x00", profile=ZDO_PROFILE, src_ep=0, dst_ep=0)
    assert _zdo(zdo_t.ZDOCmd.IEEE_addr_rsp, rsp.payload)[1][1] == t.EUI64(device.eui64[::-1])

    rsp = await air.request(device, 0x0031, b"\x06\x00", profile=ZDO_PROFILE, src_ep=0, dst_ep=0)  # Mgmt_Lqi
    assert rsp.payload[1] == zdo_t.Status.NOT_SUPPORTED


async def test_basic_identity_and_unknown_attributes(air: Air) -> None:
    device = await air.joined()
    rsp = await air.request(device, 0x0000, read_request([0x0004, 0x0005, 0x0007, 0x4000, 0x0042]))
    hdr, records = read_response(rsp)
    assert hdr.direction == foundation.Direction.Server_to_Client and hdr.tsn == 9
    assert records[0x0004].value.value == "Example Meters Ltd"
    assert records[0x0005].value.value == "PPMID-GEN"
    assert records[0x0007].value.value == 0x01
    assert records[0x4000].value.value == "00000101"
    assert records[0x0042].status == Status.UNSUPPORTED_ATTRIBUTE


async def test_ota_client_attributes_are_read_on_the_client_side(air: Air) -> None:
    device = await air.joined()
    request = read_request(list(range(0x000D)), direction=foundation.Direction.Server_to_Client)
    _hdr, records = read_response(await air.request(device, 0x0019, request))
    assert all(records[a].status == Status.SUCCESS for a in range(0x000D))
    assert records[0x0002].value.value == OLD
    assert records[0x0006].value.value == UpgradeStatus.Normal
    assert (records[0x0007].value.value, records[0x0008].value.value) == (MFR, IMAGE_TYPE)


async def test_default_responses_for_what_the_device_does_not_do(air: Air) -> None:
    device = await air.joined()
    # A server-side read of a cluster the device only has as a client -> UNSUPPORTED_CLUSTER.
    rsp = await air.request(device, 0x0019, read_request([0x0002]))
    hdr, body = foundation.ZCLHeader.deserialize(rsp.payload)
    assert hdr.command_id == foundation.GeneralCommand.Default_Response
    assert body == bytes([0x00, Status.UNSUPPORTED_CLUSTER])
    # A write to a read-only Basic attribute -> READ_ONLY.
    hdr = foundation.ZCLHeader.general(3, foundation.GeneralCommand.Write_Attributes)
    write = foundation.Attribute(attrid=0x0004, value=foundation.TypeValue(0x42, t.CharacterString("x")))
    rsp = await air.request(device, 0x0000, hdr.serialize() + t.List[foundation.Attribute]([write]).serialize())
    assert rsp.payload[3:] == bytes([Status.READ_ONLY, 0x04, 0x00])
    # A Key Establishment command (CBKE is not emulated) -> UNSUP_CLUSTER_COMMAND.
    hdr = foundation.ZCLHeader.cluster(4, 0x00)
    rsp = await air.request(device, 0x0800, hdr.serialize() + b"\x00" * 4)
    assert rsp.payload[-2:] == bytes([0x00, Status.UNSUP_CLUSTER_COMMAND])


# ------------------------------------------------------------------------------------------------
# OTA
# ------------------------------------------------------------------------------------------------
async def test_full_upgrade_arrives_byte_identical_and_activates(air: Air) -> None:
    device = await air.joined()
    image = tagged_image(700)
    server = OtaServer(air.han, image, block_cap=40)
    mark = device.events.mark()
    server.notify(device)
    await device.wait_for("activated", since=mark, timeout=3)
    await device.wait_for("rejoined", since=mark, timeout=1)

    received = device.received_images[-1]
    assert received.data == image and received.sha256 == hashlib.sha256(image).hexdigest()
    assert received.verdict.layout.value == "tagged"
    query = server.named("query_next_image")[0]
    assert (query.manufacturer_code, query.image_type, query.current_file_version, query.hardware_version) == (MFR, IMAGE_TYPE, OLD, HW)
    # max data size: the device's 64, or what is left of the image for the last requests
    assert all(b.maximum_data_size == min(64, len(image) - b.file_offset) for b in server.named("image_block"))
    assert [int(b.file_offset) for b in server.named("image_block")] == list(range(0, len(image), 40))
    assert server.named("upgrade_end")[0].status == Status.SUCCESS
    assert device.current_file_version == NEW == ota_attr(device, 0x0002)
    assert device.read_attribute(0x0000, 0x4000, server=True) == "00000102"
    assert ota_attr(device, 0x0006) == UpgradeStatus.Normal and ota_attr(device, 0x0001) == 0
    assert air.coordinator.joins[-1] == (device.nwk, device.eui64, True, "allowed")
    await air.coordinator.wait_frames(lambda f: f.cluster_id == 0x0013, 2)  # join + rejoin announcements
    # OTA requests go to the endpoint the Image Notify came from
    assert {frame.dst_ep for *_, frame in server.requests} == {CH_EP}


async def test_device_max_data_size_is_what_it_asks_for(air: Air) -> None:
    device = await air.joined(max_data_size=30)
    image = tagged_image(200)
    server = OtaServer(air.han, image, block_cap=50)
    server.notify(device)
    await device.wait_for("activated", timeout=3)
    *blocks, last = server.named("image_block")
    assert {int(b.maximum_data_size) for b in blocks} == {30} and last.maximum_data_size <= 30
    assert device.received_images[-1].data == image


async def test_gbcs_supplier_signed_image_verifies_and_a_tampered_one_is_refused(air: Air) -> None:
    private, pem = supplier_keys()
    device = await air.joined(supplier_public_key=pem, require_supplier_signature=True)
    server = OtaServer(air.han, gbcs_signed_image(private, tamper=True))
    server.notify(device)
    await device.wait_for("image_invalid", timeout=3)
    assert (await server.received("upgrade_end"))[-1].status == Status.INVALID_IMAGE
    assert "signature" in device.received_images[-1].verdict.describe()
    assert device.current_file_version == OLD and ota_attr(device, 0x0006) == UpgradeStatus.Normal

    good = gbcs_signed_image(private)
    server.image = good
    mark = device.events.mark()
    server.notify(device)
    await device.wait_for("activated", since=mark, timeout=3)
    assert device.received_images[-1].data == good
    assert device.received_images[-1].verdict.layout.value == "gbcs-signed"


async def test_image_without_signature_is_refused_when_the_device_requires_one(air: Air) -> None:
    _private, pem = supplier_keys()
    device = await air.joined(supplier_public_key=pem, require_supplier_signature=True)
    server = OtaServer(air.han, tagged_image(100))
    server.notify(device)
    await device.wait_for("image_invalid", timeout=3)
    assert (await server.received("upgrade_end"))[-1].status == Status.INVALID_IMAGE


async def test_offer_size_that_disagrees_with_the_image_is_invalid(air: Air) -> None:
    device = await air.joined()
    image = tagged_image(100)
    server = OtaServer(air.han, image, offer=dict(manufacturer_code=MFR, image_type=IMAGE_TYPE, file_version=NEW, image_size=len(image) - 10))
    server.notify(device)
    await device.wait_for("image_invalid", timeout=3)
    assert (await server.received("upgrade_end"))[-1].status == Status.INVALID_IMAGE


async def test_minimum_block_period_spaces_block_requests(air: Air) -> None:
    device = await air.joined(min_block_period_ms=400, timings=FAST)  # 400 ms x time_scale 0.05 = 20 ms
    server = OtaServer(air.han, tagged_image(200))
    server.notify(device)
    await device.wait_for("download_complete", timeout=3)
    times = [event.time for event in device.events.named("block_requested")]  # as sent, before air jitter
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) >= 4 and min(gaps) >= 0.0195
    assert all(int(b.minimum_block_period) == 400 for b in server.named("image_block"))


async def test_wait_for_data_is_honoured(air: Air) -> None:
    device = await air.joined()
    server = OtaServer(air.han, tagged_image(120), wait_for_data=1, wait_s=2, wait_block_period_ms=200)
    server.notify(device)
    await device.wait_for("activated", timeout=3)
    times = [when for when, name, *_ in server.requests if name == "image_block"]
    assert times[1] - times[0] >= 2 * FAST.time_scale * 0.95  # waited until the server's request time
    assert ota_attr(device, 0x0009) == 200  # MinimumBlockPeriod adopted from the response
    assert int(server.named("image_block")[1].minimum_block_period) == 200
    wfd = device.events.named("wait_for_data")[0].details
    assert wfd["delay_s"] == 2 and wfd["honoured"]


async def test_ignores_wait_for_data_hammers_the_server(air: Air) -> None:
    device = await air.joined(behaviour="ignores_wait_for_data")
    server = OtaServer(air.han, tagged_image(120), wait_for_data=5, wait_s=2)
    server.notify(device)
    await device.wait_for("download_complete", timeout=3)
    times = [event.time for event in device.events.named("block_requested")]
    # Five WAIT_FOR_DATA answers asked for 5 x 2 s (x time_scale = 0.5 s) of patience in total.
    assert times[5] - times[0] < 0.5 * 5 * 2 * FAST.time_scale
    assert not any(event.details["honoured"] for event in device.events.named("wait_for_data"))
    assert ota_attr(device, 0x0009) == 0  # nor did it adopt the server's MinimumBlockPeriod


async def test_page_requests_with_a_lost_block_are_re_requested(air: Air) -> None:
    device = await air.joined(uses_page_requests=True, page_size=128, max_data_size=40, response_spacing_ms=20)
    image = tagged_image(500)
    server = OtaServer(air.han, image, drop_page_offsets={80})
    server.notify(device)
    await device.wait_for("activated", timeout=3)
    assert device.received_images[-1].data == image
    pages = server.named("image_page")
    assert [int(p.file_offset) for p in pages[:2]] == [0, 80]  # the gap is asked for again
    assert {(int(p.page_size), int(p.response_spacing), int(p.maximum_data_size)) for p in pages} == {(128, 20, 40)}
    assert not server.named("image_block")


async def test_reboot_mid_transfer_resumes_from_file_offset(air: Air) -> None:
    device = await air.joined()
    image = tagged_image(1000)
    server = OtaServer(air.han, image, block_cap=40)
    server.notify(device)
    await device.wait_for("block_received", where=lambda e: e.details["file_offset"] >= 400, timeout=3)
    device.reboot()
    await device.wait_for("rebooting", timeout=1)
    held = ota_attr(device, 0x0001)
    assert held >= 400
    mark = device.events.mark()
    await device.wait_for("rejoined", since=mark, timeout=1)
    resumed = await device.wait_for("download_started", since=mark, timeout=1)
    assert resumed.details["resume_from"] == held
    await device.wait_for("activated", since=mark, timeout=3)
    offsets = [int(b.file_offset) for b in server.named("image_block")]
    assert offsets.count(0) == 1  # never started again from the beginning
    assert device.received_images[-1].data == image


async def test_device_gives_up_when_the_server_stops_answering(air: Air) -> None:
    device = await air.joined()
    server = OtaServer(air.han, tagged_image(400), silent_from_offset=120)
    server.notify(device)
    gave_up = await device.wait_for("transfer_gave_up", timeout=3)
    assert gave_up.details["file_offset"] == 120
    retries = [b for b in server.named("image_block") if int(b.file_offset) == 120]
    assert len(retries) == FAST.request_retries + 1
    assert ota_attr(device, 0x0006) == UpgradeStatus.Normal


async def test_a_late_duplicate_block_is_ignored_without_asking_again(air: Air) -> None:
    # Reference §4: a block for another offset is silently ignored and the request's own timeout
    # handles it. A late answer to an earlier request is no reason to ask again at once: that would
    # meet every duplicate on a slow link with another request, and every request with another answer.
    device = await air.joined()
    image = tagged_image(400)
    server = OtaServer(air.han, image, block_cap=40, duplicate_block_at=120)
    mark = device.events.mark()
    server.notify(device)
    await device.wait_for("activated", since=mark, timeout=3)
    assert device.received_images[-1].data == image
    ignored = device.events.named("block_ignored")
    assert [e.details["offset"] for e in ignored] == [120], ignored
    assert [int(b.file_offset) for b in server.named("image_block")] == list(range(0, len(image), 40))


async def test_block_response_abort_stops_the_download(air: Air) -> None:
    device = await air.joined()
    server = OtaServer(air.han, tagged_image(400), abort_at_offset=80)
    server.notify(device)
    # The abort takes the client back to Normal; only a downloading client asks for blocks.
    await device.wait_for("ota_state", where=lambda e: e.details["input"] == "server_abort", timeout=3)
    assert max(int(b.file_offset) for b in server.named("image_block")) == 80
    assert not server.named("upgrade_end")
    assert ota_attr(device, 0x0006) == UpgradeStatus.Normal and ota_attr(device, 0x0001) == 0


async def test_offer_for_another_manufacturer_is_ignored(air: Air) -> None:
    device = await air.joined()
    server = OtaServer(air.han, tagged_image(100, manufacturer=0x1234))
    server.notify(device)
    await device.wait_for("offer_ignored", timeout=2)
    # Ignoring the offer ends the query session: the client is idle, so it asks for nothing more.
    await device.wait_for("ota_state", where=lambda e: e.details["input"] == "no_image", timeout=2)
    assert not server.named("image_block")


async def test_upgrade_end_response_wait_then_image_notify_activates(air: Air) -> None:
    device = await air.joined()
    server = OtaServer(air.han, tagged_image(100), upgrade_time="wait")
    server.notify(device)
    await device.wait_for("waiting_to_upgrade", timeout=3)
    assert ota_attr(device, 0x0006) == UpgradeStatus.Waiting_to_upgrade
    assert ota_attr(device, 0x0004) == NEW  # DownloadedFileVersion
    assert device.current_file_version == OLD
    server.upgrade_time = "now"
    mark = device.events.mark()
    server.notify(device)
    await device.wait_for("activated", since=mark, timeout=2)
    assert [e.status for e in server.named("upgrade_end")] == [Status.SUCCESS, Status.SUCCESS]
    assert device.current_file_version == NEW


async def test_upgrade_at_a_time_counts_down_in_server_time(air: Air) -> None:
    device = await air.joined()
    server = OtaServer(air.han, tagged_image(100), upgrade_time=("at", 4))
    server.notify(device)
    countdown = await device.wait_for("countdown", timeout=3)
    assert ota_attr(device, 0x0006) == UpgradeStatus.Count_down
    activated = await device.wait_for("activated", timeout=2)
    assert activated.time - countdown.time >= 4 * FAST.time_scale * 0.95


async def test_unsolicited_upgrade_end_response_ends_the_wait(air: Air) -> None:
    device = await air.joined()
    server = OtaServer(air.han, tagged_image(100), upgrade_time="wait")
    server.notify(device)
    await device.wait_for("waiting_to_upgrade", timeout=3)
    server.send_upgrade_end_response(device, upgrade_time=0)
    await device.wait_for("activated", timeout=2)


async def test_require_more_image_then_the_next_image_is_fetched(air: Air) -> None:
    device = await air.joined(requires_more_images=1)
    server = OtaServer(air.han, tagged_image(100))
    server.notify(device)
    await device.wait_for("upgrade_end_sent", where=lambda e: e.details["status"] == "REQUIRE_MORE_IMAGE", timeout=3)
    assert ota_attr(device, 0x0006) == UpgradeStatus.Wait_for_more
    server.notify(device)
    await device.wait_for("activated", timeout=3)
    assert [e.status for e in server.named("upgrade_end")] == [Status.REQUIRE_MORE_IMAGE, Status.SUCCESS]


async def test_image_notify_for_another_manufacturer_is_ignored(air: Air) -> None:
    device = await air.joined()
    hdr = foundation.ZCLHeader.cluster(0x40, 0x00, direction=foundation.Direction.Server_to_Client)
    notify = Ota.ImageNotifyCommand(payload_type=1, query_jitter=100, manufacturer_code=0x1234)
    await air.han.unicast(AirFrame(0, device.nwk, SE_PROFILE, 0x0019, CH_EP, 1, hdr.serialize() + notify.serialize(),
                                   aps_encrypted=True))
    await device.wait_for("image_notify", timeout=1)
    # The notify is handled as it is recorded: a query would have started its session by now.
    assert not device.ota._session_running
    assert not device.events.named("query_sent")


# ------------------------------------------------------------------------------------------------
# Behaviours (defects), each with what a hub would observe
# ------------------------------------------------------------------------------------------------
def test_behaviour_registry_names_and_descriptions() -> None:
    assert list(BEHAVIOURS) == [
        "conformant",
        "never_queries_image",
        "aborts_mid_transfer",
        "rejects_good_image",
        "accepts_foreign_image",
        "ignores_wait_for_data",
        "honours_first_wait_only",
        "skips_hardware_check",
        "activates_early",
        "activates_on_wait",
        "activation_fails",
        "reports_old_version",
        "reports_unknown_version",
        "never_reads_tenancy",
        "leaves_han",
        "cbke_suite1_only",
        "cbke_foreign_issuer",
        "cbke_bad_confirm_key",
        "cbke_never_finishes",
        "cbke_skips_suite_read",
        "sends_se_unencrypted",
        "acts_on_unencrypted_ota",
        "ignores_time_server",
        "sends_no_cs09",
        "cs09_wrong_version",
        "cs09_bad_signature",
        "cs09_replays_counter",
        "cs09_before_activation",
        "skips_keep_alive",
    ]
    for name, cls in BEHAVIOURS.items():
        assert cls.name == name and cls.description and "\n" not in cls.description


async def test_unknown_behaviour_is_refused_with_the_known_names(air: Air) -> None:
    device = air.device()
    with pytest.raises(KeyError, match="never_queries_image"):
        device.set_behaviour("sometimes_works")


async def test_never_queries_image(air: Air) -> None:
    device = await air.joined(behaviour="never_queries_image")
    server = OtaServer(air.han, tagged_image(100))
    server.notify(device)
    await device.wait_for("query_suppressed", timeout=1)
    assert not server.requests


async def test_aborts_mid_transfer(air: Air) -> None:
    device = await air.joined(behaviour="aborts_mid_transfer")
    image = tagged_image(400)
    server = OtaServer(air.han, image)
    server.notify(device)
    await device.wait_for("upgrade_end_sent", timeout=3)
    end = await server.received("upgrade_end")
    assert [e.status for e in end] == [Status.ABORT]
    last = max(int(b.file_offset) for b in server.named("image_block"))
    assert len(image) * 0.4 <= last <= len(image) * 0.6
    assert end and device.current_file_version == OLD


async def test_rejects_good_image(air: Air) -> None:
    device = await air.joined(behaviour="rejects_good_image")
    server = OtaServer(air.han, tagged_image(100))
    server.notify(device)
    await device.wait_for("image_invalid", timeout=3)
    assert (await server.received("upgrade_end"))[-1].status == Status.INVALID_IMAGE
    assert device.received_images[-1].verdict.ok  # it was a good image


@pytest.mark.parametrize(
    "header",
    [dict(manufacturer=0x1234), dict(hw=(0x2000, 0x2100))],
    ids=["other-manufacturer", "hardware-out-of-range"],
)
async def test_accepts_foreign_image_installs_what_a_conformant_device_refuses(air: Air, header: dict) -> None:
    image = tagged_image(100, **header)
    good = await air.joined()
    bad = await air.joined(behaviour="accepts_foreign_image")
    server = OtaServer(air.han, image)
    server.notify(good)
    server.notify(bad)
    await bad.wait_for("activated", timeout=3)
    assert bad.current_file_version == NEW
    if "hw" in header:  # the conformant one downloads, checks and refuses
        await good.wait_for("image_invalid", timeout=3)
        assert "hardware" in good.received_images[-1].verdict.describe()
    else:  # the conformant one does not even take the offer
        await good.wait_for("offer_ignored", timeout=3)
    assert good.current_file_version == OLD


async def test_activation_fails(air: Air) -> None:
    device = await air.joined(behaviour="activation_fails")
    server = OtaServer(air.han, tagged_image(100))
    server.notify(device)
    await device.wait_for("activation_failed", timeout=3)
    await device.wait_for("rejoined", timeout=1)
    assert (await server.received("upgrade_end"))[-1].status == Status.SUCCESS
    assert device.current_file_version == OLD
    assert device.read_attribute(0x0000, 0x4000, server=True) == "00000101"


async def test_reports_old_version(air: Air) -> None:
    device = await air.joined(behaviour="reports_old_version")
    server = OtaServer(air.han, tagged_image(100))
    server.notify(device)
    await device.wait_for("activated", timeout=3)
    assert device.read_attribute(0x0000, 0x4000, server=True) == "00000102"
    assert device.current_file_version == OLD
    assert device.running_version == NEW


async def test_leaves_han_part_way_through_a_transfer(air: Air) -> None:
    device = await air.joined(behaviour="leaves_han")
    image = tagged_image(400)
    server = OtaServer(air.han, image)
    server.notify(device)
    await device.wait_for("left_han", timeout=3)
    await device.wait_for("link_state", where=lambda e: e.details.get("new") == "gone", timeout=3)
    last = max(int(b.file_offset) for b in server.named("image_block"))
    assert last < len(image) and not server.named("upgrade_end")
    assert not await air.han.unicast(AirFrame(0, device.nwk, ZDO_PROFILE, 0x0002, 0, 0, b"\x01" + t.NWK(device.nwk).serialize()))
    assert air.coordinator.left == []  # it says nothing: it is simply gone


async def test_leaves_han_with_no_transfer_stops_answering_at_once(air: Air) -> None:
    device = await air.joined()
    device.set_behaviour("leaves_han")
    assert device.link is LinkState.GONE
    assert not await air.han.unicast(AirFrame(0, device.nwk, SE_PROFILE, 0x0000, 1, 1, read_request([4])))


async def test_set_behaviour_from_another_thread_takes_effect_on_the_loop(air: Air) -> None:
    device = await air.joined()
    mark = device.events.mark()
    await asyncio.get_running_loop().run_in_executor(None, device.set_behaviour, "never_queries_image")
    changed = await device.wait_for("behaviour_changed", since=mark, timeout=1)
    assert changed.details == {"old": "conformant", "new": "never_queries_image"}
    assert device.behaviour.name == "never_queries_image"


async def test_behaviour_switched_mid_transfer_applies_to_the_rest(air: Air) -> None:
    device = await air.joined()
    server = OtaServer(air.han, tagged_image(400))
    server.notify(device)
    await device.wait_for("block_received", timeout=2)
    device.set_behaviour("rejects_good_image")
    await device.wait_for("image_invalid", timeout=3)


# ------------------------------------------------------------------------------------------------
# Tenancy (SECMP0056)
# ------------------------------------------------------------------------------------------------
async def test_tenancy_is_read_from_the_gpf_after_join_and_rejoin(air: Air) -> None:
    gpf = Gpf(air.han)
    device = await air.joined(tenancy_attributes=(0x0200, 0x0201, 0x0100))
    read = await device.wait_for("tenancy_read", timeout=1)
    frame, ids = gpf.reads[0]
    assert (frame.dst_ep, frame.profile_id, ids) == (GPF_EP, SE_PROFILE, [0x0200, 0x0201, 0x0100])
    assert read.details["values"] == {0x0200: 700_000_000, 0x0201: 1}
    assert read.details["unsupported"] == [0x0100]
    mark = device.events.mark()
    device.reboot()
    again = await device.wait_for("tenancy_read", since=mark, timeout=1)
    assert again.details["reason"] == "rejoined"


async def test_tenancy_is_re_read_on_a_device_management_report_or_write(air: Air) -> None:
    gpf = Gpf(air.han)
    device = await air.joined()
    await device.wait_for("tenancy_read", timeout=1)
    hdr = foundation.ZCLHeader.general(7, foundation.GeneralCommand.Report_Attributes, direction=foundation.Direction.Server_to_Client)
    report = t.List[foundation.Attribute]([foundation.Attribute(0x0200, foundation.TypeValue(0xE2, t.UTCTime(1)))])
    mark = device.events.mark()
    await air.han.unicast(AirFrame(0, device.nwk, SE_PROFILE, 0x0708, GPF_EP, 1, hdr.serialize() + report.serialize(),
                                   aps_encrypted=True))
    assert (await device.wait_for("tenancy_read", since=mark, timeout=1)).details["reason"] == "device management report"
    hdr = foundation.ZCLHeader.general(8, foundation.GeneralCommand.Write_Attributes, direction=foundation.Direction.Server_to_Client)
    write = t.List[foundation.Attribute]([foundation.Attribute(0x06C0, foundation.TypeValue(0x10, t.Bool(True)))])
    mark = device.events.mark()
    rsp = await air.request(device, 0x0708, hdr.serialize() + write.serialize(), src_ep=GPF_EP)
    assert rsp.payload[-1] == Status.SUCCESS
    assert (await device.wait_for("tenancy_read", since=mark, timeout=1)).details["reason"] == "device management write"
    assert len(gpf.reads) == 3


async def test_tenancy_poll_period(air: Air) -> None:
    Gpf(air.han)
    device = await air.joined(timings=replace(FAST, tenancy_poll_s=0.03))
    await device.wait_for("tenancy_read", where=lambda e: e.details["reason"] == "periodic poll", timeout=1)


async def test_never_reads_tenancy(air: Air) -> None:
    gpf = Gpf(air.han)
    device = await air.joined(behaviour="never_reads_tenancy")
    await device.wait_for("tenancy_read_suppressed", timeout=1)
    # The device records this instead of starting a read (the two branches exclude each other).
    assert device.events.find("tenancy_read_sent") is None
    assert gpf.reads == []


# ------------------------------------------------------------------------------------------------
# Leaving
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rejoin", [False, True])
async def test_mgmt_leave(air: Air, rejoin: bool) -> None:
    device = await air.joined()
    air.han.permit_joining(0)  # a device told to leave for good may only come back through a new window
    nwk = device.nwk
    payload = b"\x11" + t.EUI64(device.eui64[::-1]).serialize() + bytes([0x80 if rejoin else 0x00])
    mark = device.events.mark()
    rsp = await air.request(device, 0x0034, payload, profile=ZDO_PROFILE, src_ep=0, dst_ep=0)
    assert rsp.payload == b"\x11\x00"
    await device.wait_for("left", since=mark, timeout=1)
    assert air.coordinator.left == [(nwk, device.eui64)]
    if rejoin:
        await device.wait_for("rejoined", since=mark, timeout=1)
        assert device.nwk == nwk and air.coordinator.joins[-1] == (nwk, device.eui64, True, "allowed")
    else:
        assert device.link is LinkState.OUTSIDE
        air.han.permit_joining(60)
        await device.wait_for("joined", since=mark, timeout=1)


async def test_periodic_query_next_image(air: Air) -> None:
    server = OtaServer(air.han, tagged_image(100), offer=None)
    server.image = tagged_image(100, version=OLD)  # nothing newer: the server offers what it runs
    device = await air.joined(timings=replace(FAST, query_interval_s=0.03))
    queries = await device.wait_for("query_sent", where=lambda e: e.details["reason"] == "periodic query", timeout=1)
    assert queries.details["current_file_version"] == OLD


async def test_waiting_for_an_event_that_never_comes_names_what_happened(air: Air) -> None:
    device = await air.joined()
    with pytest.raises(TimeoutError, match=r"ppmid\d+: no 'activated' event within 0.05 s; recorded since mark: .*joined"):
        await device.wait_for("activated", timeout=0.05)



async def test_page_request_answered_with_wait_for_data_is_repeated_after_the_wait(air: Air) -> None:
    device = await air.joined(uses_page_requests=True, page_size=128, max_data_size=40)
    image = tagged_image(300)
    server = OtaServer(air.han, image, wait_for_data=3, wait_s=1)
    server.notify(device)
    await device.wait_for("activated", timeout=3)
    assert device.received_images[-1].data == image
    assert len(device.events.named("wait_for_data")) == 3 and not device.events.named("transfer_gave_up")
    assert len(server.named("image_page")) >= 4


async def test_restore_firmware_returns_a_device_to_its_baseline(air: Air) -> None:
    device = await air.joined()
    server = OtaServer(air.han, tagged_image(100))
    server.notify(device)
    await device.wait_for("activated", timeout=3)
    assert device.current_file_version == NEW
    await device.restore_firmware()
    assert device.current_file_version == OLD == device.running_version
    assert device.read_attribute(0x0000, 0x4000, server=True) == "00000101"
    assert ota_attr(device, 0x0006) == UpgradeStatus.Normal and ota_attr(device, 0x0001) == 0

    device.set_behaviour("leaves_han")  # idle: it is gone at once
    device.set_behaviour("conformant")
    await device.restore_firmware()  # brings it back on the air
    assert device.joined
