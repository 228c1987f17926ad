"""The zigpy seam: SE frames reach ZCL, and attribute verdicts tell missing from wrong."""

from __future__ import annotations

import zigpy.datastructures
import zigpy.types as t
from zigpy.zcl import foundation

from harness.evidence import Outcome
from harness.hub.device_reads import Wanted, _judge
from harness.hub.radio import SE_PROFILE, SmartEnergyDevice


def test_smart_energy_frames_are_parsed_as_zcl():
    """zigpy 2.4.0 drops non-HA/ZLL profiles; the hub's device class must hand SE frames to ZCL.

    If a zigpy upgrade changes ``_parse_packet_header``, this fails instead of every OTA test
    timing out.
    """
    device = SmartEnergyDevice.__new__(SmartEnergyDevice)  # no application needed for the parse
    hdr = foundation.ZCLHeader.cluster(tsn=9, command_id=0x01)
    packet = t.ZigbeePacket(
        src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=0x1234),
        src_ep=1,
        dst=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=0x0000),
        dst_ep=10,
        tsn=1,
        profile_id=SE_PROFILE,
        cluster_id=0x0019,
        data=t.SerializableBytes(hdr.serialize() + b"\x00"),
    )
    parsed, key = device._parse_packet_header(packet)
    assert parsed.tsn == 9 and parsed.command_id == 0x01
    assert (key.endpoint_id, key.cluster_id, key.tsn) == (1, 0x0019, 9)


def _upgrade_end(aps_counter: int) -> t.ZigbeePacket:
    """The same Upgrade End Request (ZCL TSN 7) as a device sends it, with the APS counter given."""
    hdr = foundation.ZCLHeader.cluster(tsn=7, command_id=0x06)
    return t.ZigbeePacket(
        src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=0x1234), src_ep=1,
        dst=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=0x0000), dst_ep=1,
        tsn=aps_counter, profile_id=SE_PROFILE, cluster_id=0x0019,
        data=t.SerializableBytes(hdr.serialize() + bytes.fromhex("00 5e10 0200 01000000 02010000")),
    )


async def test_a_repeated_frame_is_a_duplicate_only_with_the_same_aps_counter():
    """zigpy 2.4.0 leaves the APS counter out of its duplicate filter, so an Upgrade End whose ZCL TSN
    has wrapped round to an earlier one's would be dropped; the hub's device keeps the counter in."""
    device = SmartEnergyDevice.__new__(SmartEnergyDevice)
    device._packet_debouncer = zigpy.datastructures.Debouncer()
    assert not device._should_filter_packet(_upgrade_end(40))
    assert device._should_filter_packet(_upgrade_end(40)), "an APS retransmission must still be filtered"
    assert not device._should_filter_packet(_upgrade_end(41)), "a new frame with equal bytes was dropped"


def test_attribute_verdicts_tell_missing_from_wrong():
    wanted = [
        Wanted(0x0019, 0x0007, "ManufacturerID", "value == 0x121D", lambda v: (v == 0x121D, "value == 0x121D")),
        Wanted(0x0019, 0x0008, "ImageTypeID", "value == 0x0084", lambda v: (v == 0x0084, "value == 0x0084")),
        Wanted(0x0019, 0x000A, "ImageStamp", "present", lambda v: (v is not None, "present")),
        Wanted(0x0019, 0x0003, "CurrentZigBeeStackVersion"),
    ]
    reads = _judge(
        "ppmid1", None, 0x0019, wanted,
        success={0x0007: 0x121D, 0x0008: 0x0099, 0x0003: 2},
        failure={0x000A: foundation.Status.UNSUPPORTED_ATTRIBUTE},
        problem="", t=1.0,
    )
    outcomes = {r.name: (r.outcome, r.status) for r in reads}
    assert outcomes == {
        "ManufacturerID": (Outcome.PASS, "SUCCESS"),
        "ImageTypeID": (Outcome.FAIL, "SUCCESS"),
        "ImageStamp": (Outcome.NOT_OBSERVED, "UNSUPPORTED_ATTRIBUTE"),
        "CurrentZigBeeStackVersion": (Outcome.PASS, "SUCCESS"),
    }
