"""The NCP's EZSP layer: golden handshakes on the wire, and v13/v14 layouts from one handler set.

Frames are quoted from shared/reference/ezsp-golden-frames.md (§2.4 transcripts, §2.5 callback
layouts, §2.6 start-up commands, §2.7 invalidCommand).
"""

from __future__ import annotations

import asyncio

import bellows.types as t
import pytest

from harness.emulator.ash import AckFrame, DataFrame, FrameSplitter, encode_frame, parse_frame
from harness.emulator.coordinator import EmulatedNcp
from harness.emulator.ezsp.codec import decode_params, encode_result
from harness.emulator.ezsp.framing import Framing, decode_header, encode_header
from harness.emulator.ezsp.handlers import HANDLERS, STUB_COMMANDS, handler_table
from harness.emulator.ezsp.status import Status
from harness.emulator.ezsp.versions import profile_for
from harness.emulator.ncp import NcpIdentity, Nvram
from harness.emulator.testing import FakeAir


def h(text: str) -> bytes:
    return bytes.fromhex(text)


NCP_EUI64 = h("000d6f00ffee0001")
HOST_RST = bytes([0x1A] * 32) + h("C0 38 BC 7E")


class Host:
    """Plays bellows' side of the line, frame by frame, against an EmulatedNcp."""

    def __init__(self, version: int, *, stack_version: str = "7.4.1.0") -> None:
        self.wire: list[bytes] = []
        self._splitter = FrameSplitter()
        self._wrote = asyncio.Event()
        self.ncp = EmulatedNcp(
            ezsp_version=version,
            nvram=Nvram(eui64=NCP_EUI64),
            write=self._write,
            identity=NcpIdentity(stack_version=stack_version),
        )
        self.tx_seq = 0
        self.rx_seq = 0

    def _write(self, data: bytes) -> None:
        self.wire.append(data)
        self._wrote.set()

    async def next_output(self, timeout: float = 1.0) -> None:
        """Wait for the NCP to write something unprompted (a callback after air delivery)."""
        self.wire.clear()
        self._wrote.clear()
        async with asyncio.timeout(timeout):
            await self._wrote.wait()

    def send_wire(self, data: bytes) -> list[bytes]:
        self.wire.clear()
        self.ncp.link.data_received(data)
        return list(self.wire)

    def received_data(self) -> list[DataFrame]:
        frames = [parse_frame(b) for chunk in self.wire for b in self._splitter.feed(chunk)]
        return [f for f in frames if isinstance(f, DataFrame)]

    def command(self, ezsp: bytes) -> list[bytes]:
        """Send one EZSP frame as the next DATA frame and ACK what comes back; returns NCP EZSP frames."""
        frame = DataFrame(frm_num=self.tx_seq, re_tx=False, ack_num=self.rx_seq, payload=ezsp)
        self.tx_seq = (self.tx_seq + 1) % 8
        self.send_wire(encode_frame(frame))
        replies = self.received_data()
        for reply in replies:
            self.rx_seq = (reply.frm_num + 1) % 8
        if replies:
            self.ncp.link.data_received(encode_frame(AckFrame(ack_num=self.rx_seq)))
        return [r.payload for r in replies]


async def test_v13_handshake_on_the_wire_matches_the_golden_transcript() -> None:
    host = Host(13)
    assert host.send_wire(HOST_RST) == [h("1A C1 02 0B 0A 52 7E")]
    wire = host.send_wire(h("00 42 21 A8 50 ED 2C 7E"))  # version(4), legacy
    assert wire == [h("81 60 59 7E"), h("01 42 A1 A8 59 28 05 C6 A8 77 7E")]
    host.send_wire(h("81 60 59 7E"))
    wire = host.send_wire(h("7D 31 42 21 A9 54 2A 7D 38 DC 7A 7E"))  # version(13), extended
    assert wire == [h("82 50 3A 7E"), h("12 42 A1 A9 54 2A 7D 38 B0 49 E0 0F AC 7E")]


async def test_v14_handshake_on_the_wire_matches_the_golden_transcript() -> None:
    host = Host(14, stack_version="8.0.0.0")
    host.send_wire(HOST_RST)
    wire = host.send_wire(h("00 42 21 A8 50 ED 2C 7E"))
    assert wire[-1] == h("01 42 A1 A8 5A 28 15 32 9F 43 7E")
    host.send_wire(h("81 60 59 7E"))
    wire = host.send_wire(h("7D 31 42 21 A9 54 2A 1B EC 19 7E"))
    assert wire[-1] == h("12 42 A1 A9 54 2A 1B B0 59 14 38 98 7E")


async def negotiated(version: int) -> Host:
    host = Host(version)
    host.send_wire(HOST_RST)
    host.command(h("00 00 00 04"))
    host.command(bytes((0, 0, 1, 0, 0, version)))
    return host


@pytest.mark.parametrize(
    ("version", "reply"),
    [(13, "01 80 01 58 00 31"), (14, "01 80 01 58 00 31 00 00 00")],
)
async def test_unknown_command_gets_invalid_command_and_is_recorded(version: int, reply: str) -> None:
    host = await negotiated(version)
    # frame id 0x0FFF is in no table
    assert host.command(h("01 00 01 FF 0F")) == [h(reply)]
    (unknown,) = host.ncp.unknown_commands
    assert unknown.frame_id == 0x0FFF and unknown.name is None


async def test_known_but_unhandled_command_is_refused_by_name() -> None:
    host = await negotiated(13)
    frame_id = profile_for(13).frame_id("getRouteTableEntry")
    assert "getRouteTableEntry" not in HANDLERS and "getRouteTableEntry" not in STUB_COMMANDS
    (reply,) = host.command(bytes((5, 0, 1)) + frame_id.to_bytes(2, "little") + b"\x00")
    assert reply[3:5] == profile_for(13).frame_id("invalidCommand").to_bytes(2, "little")
    assert [u.name for u in host.ncp.unknown_commands] == ["getRouteTableEntry"]


@pytest.mark.parametrize(
    ("version", "not_joined"),
    [(13, "07 80 01 17 00 93"), (14, "07 80 01 17 00 17 00 00 00")],
)
async def test_network_init_on_a_blank_ncp_says_not_joined(version: int, not_joined: str) -> None:
    host = await negotiated(version)
    assert host.command(h("07 00 01 17 00 03 00")) == [h(not_joined)]
    assert host.command(h("07 00 01 18 00")) == [h("07 80 01 18 00 00")]  # NO_NETWORK


async def test_callbacks_follow_the_response_with_an_answered_sequence_number() -> None:
    host = await negotiated(14)
    host.ncp.nvram.network = _formed_network()
    replies = host.command(h("09 00 01 17 00 03 00"))  # networkInit on a formed network
    assert replies == [h("09 80 01 17 00 00 00 00 00"), h("09 90 01 19 00 15 00 00 00")]


@pytest.mark.parametrize(
    ("version", "ezsp"),
    [
        (13, "05 90 01 19 00 90"),
        (14, "05 90 01 19 00 15 00 00 00"),
    ],
)
def test_stack_status_network_up_layout(version: int, ezsp: str) -> None:
    profile = profile_for(version)
    header = encode_header(5, profile.frame_id("stackStatusHandler"), Framing.EXTENDED, callback=True)
    assert header + encode_result(profile, "stackStatusHandler", {"status": Status.NETWORK_UP}) == h(ezsp)


APS = t.EmberApsFrame(
    profileId=0x0104, clusterId=0x0006, sourceEndpoint=1, destinationEndpoint=1,
    options=t.EmberApsOption.APS_OPTION_ENABLE_ROUTE_DISCOVERY, groupId=0, sequence=0x70,
)


@pytest.mark.parametrize(
    ("version", "ezsp"),
    [
        (13, "05 90 01 45 00 00 04 01 06 00 01 01 00 01 00 00 70 FF D8 DE C9 FF FF 05 18 04 0B 00 00"),
        (
            14,
            "05 90 01 45 00 00 04 01 06 00 01 01 00 01 00 00 70 DE C9 04 03 02 01 00 4B 12 00 "
            "FF FF FF D8 00 00 00 00 05 18 04 0B 00 00",
        ),
    ],
)
def test_incoming_message_handler_layout_per_version(version: int, ezsp: str) -> None:
    """One set of canonical values; the schema decides order and presence (v14 reorders)."""
    profile = profile_for(version)
    values = dict(
        message_type=t.EmberIncomingMessageType.INCOMING_UNICAST,
        aps_frame=APS,
        nwk=0xC9DE,
        eui64=t.EUI64.convert("00:12:4b:00:01:02:03:04"),
        binding_index=0xFF,
        address_index=0xFF,
        lqi=0xFF,
        rssi=-40,
        timestamp=0,
        message=h("18 04 0B 00 00"),
    )
    header = encode_header(5, 0x45, Framing.EXTENDED, callback=True)
    assert header + encode_result(profile, "incomingMessageHandler", values) == h(ezsp)


@pytest.mark.parametrize(
    ("version", "ezsp"),
    [
        (13, "05 90 01 3F 00 00 DE C9 04 01 06 00 01 01 00 01 00 00 70 03 66 00"),
        (14, "05 90 01 3F 00 02 0C 00 00 00 DE C9 04 01 06 00 01 01 00 01 00 00 70 03 00 00"),
    ],
)
def test_message_sent_handler_delivery_failed_layout_per_version(version: int, ezsp: str) -> None:
    profile = profile_for(version)
    values = dict(
        status=Status.DELIVERY_FAILED,
        message_type=t.EmberOutgoingMessageType.OUTGOING_DIRECT,
        nwk=0xC9DE,
        aps_frame=APS,
        message_tag=3,
        message=b"",
    )
    header = encode_header(5, 0x3F, Framing.EXTENDED, callback=True)
    assert header + encode_result(profile, "messageSentHandler", values) == h(ezsp)


def test_v14_send_unicast_request_decodes_to_canonical_names() -> None:
    """herdsman SEND_UNICAST_ASH_RAW's EZSP frame (seq 0x27), v14."""
    ezsp = h("27 00 01 34 00 00 DE C9 04 01 06 00 01 01 40 11 00 00 9A 03 00 03 01 04 00")
    header, params = decode_header(ezsp, Framing.EXTENDED)
    assert header.frame_id == 0x34
    request = decode_params(profile_for(14), "sendUnicast", params)
    assert (request["nwk"], request["message_tag"], request["message"]) == (0xC9DE, 3, h("01 04 00"))


def test_v13_send_unicast_request_decodes_to_the_same_canonical_names() -> None:
    profile = profile_for(13)
    params = h("00 DE C9 04 01 06 00 01 01 40 11 00 00 9A 03 03 01 04 00")
    request = decode_params(profile, "sendUnicast", params)
    assert (request["nwk"], request["message_tag"], request["message"]) == (0xC9DE, 3, h("01 04 00"))


@pytest.mark.parametrize("version", [13, 14])
def test_every_handler_and_stub_names_a_command_of_the_version(version: int) -> None:
    table = handler_table(profile_for(version))
    assert set(table) <= set(profile_for(version).commands)
    # the start-up essentials are semantic, not stubs
    for name in ("version", "networkInit", "formNetwork", "getNetworkParameters", "sendUnicast", "getValue"):
        assert name == "version" or table[name] is HANDLERS[name]


def _formed_network():
    from harness.emulator.ncp import NetworkSettings

    return NetworkSettings(
        channel=15, pan_id=0x1A62, extended_pan_id=h("0011223344556677"), tx_power=8,
        nwk_update_id=0, nwk_manager_id=0, channel_mask=1 << 15, security_bitmask=0x1B0C,
        network_key_sequence=0, network_key=bytes(16), tc_link_key=bytes(16),
    )


async def test_send_unicast_reports_delivery_failure_from_the_air() -> None:
    host = await negotiated(14)
    air = FakeAir(delivers=False)
    host.ncp.attach_air(air)
    host.ncp.nvram.network = _formed_network()
    host.command(h("03 00 01 17 00 03 00"))  # networkInit: network up
    replies = host.command(h("27 00 01 34 00 00 DE C9 04 01 06 00 01 01 40 11 00 00 9A 03 00 03 01 04 00"))
    assert replies == [h("27 80 01 34 00 00 00 00 00 9A")]
    await host.next_output()
    (sent,) = [f.payload for f in host.received_data()]
    assert sent[3:5] == h("3F 00") and sent[5:9] == h("02 0C 00 00")  # messageSentHandler, DELIVERY_FAILED
    assert air.unicasts[0].dst_nwk == 0xC9DE and air.unicasts[0].payload == h("01 04 00")


async def test_a_withheld_message_sent_handler_never_reaches_the_host() -> None:
    """The "missing messageSentHandler" defect: the fault hook drops it, nothing else changes."""
    import random

    from harness.emulator.faults import DropCallbacks

    host = await negotiated(13)
    host.ncp.attach_air(FakeAir(delivers=True))
    host.ncp.nvram.network = _formed_network()
    host.command(h("03 00 01 17 00 03 00"))
    withheld = asyncio.Event()
    host.ncp.dispatcher.callback_filter = DropCallbacks(
        frozenset({"messageSentHandler"}), 1.0, random.Random(1), report=lambda name: withheld.set()
    )
    replies = host.command(h("27 00 01 34 00 00 DE C9 04 01 06 00 01 01 40 11 00 00 9A 03 03 01 04 00"))
    assert replies == [h("27 80 01 34 00 00 9A")]  # the command itself is still answered
    host.wire.clear()
    await asyncio.wait_for(withheld.wait(), 1)
    assert host.wire == []


@pytest.mark.parametrize("version", [13, 14])
async def test_arbitrary_ezsp_frames_get_exactly_one_answer_and_never_crash(version: int) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from harness.emulator.ezsp.dispatcher import EzspDispatcher

    sent: list[bytes] = []
    ncp = EmulatedNcp(ezsp_version=version, nvram=Nvram(eui64=NCP_EUI64), write=lambda b: None)
    dispatcher = EzspDispatcher(ncp.profile, handler_table(ncp.profile), ncp=ncp, send=sent.append)
    dispatcher.frame_received(bytes((0, 0, 0, 4)))  # negotiate: legacy version
    known_ids = sorted(ncp.profile.by_id)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        sequence=st.integers(0, 255),
        frame_id=st.sampled_from(known_ids) | st.integers(0, 0xFFFF),
        params=st.binary(max_size=40),
    )
    def check(sequence: int, frame_id: int, params: bytes) -> None:
        sent.clear()
        dispatcher.frame_received(bytes((sequence, 0x00, 0x01)) + frame_id.to_bytes(2, "little") + params)
        responses = [frame for frame in sent if frame[1] & 0x10 == 0]
        assert len(responses) == 1 and responses[0][0] == sequence

    check()
    assert dispatcher.handler_errors == []
