"""The NCP's ASH codec and link engine against the golden frames of the reference notes.

Byte strings are quoted from shared/reference/ezsp-golden-frames.md (section numbers in the
test names' docstrings). They were cross-checked there against bellows and an independent
implementation; here they pin our own codec.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.emulator.ash import (
    PSEUDO_RANDOM_SEQUENCE,
    AckFrame,
    AshNcp,
    AshParseError,
    AshTimings,
    DataFrame,
    ErrorFrame,
    FrameSplitter,
    LinkState,
    NakFrame,
    NcpResetCode,
    RstAckFrame,
    RstFrame,
    crc_ccitt,
    encode_frame,
    parse_frame,
    randomise,
    stuff,
    unstuff,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def wire_body(wire: str) -> bytes:
    """Unstuffed frame from golden wire bytes (FLAG removed)."""
    raw = h(wire)
    assert raw.endswith(b"\x7e")
    return unstuff(raw[:-1])


# --- bytes (§1.1-§1.3) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "crc"),
    [
        (b"123456789", 0x29B1),
        (b"", 0xFFFF),
        (h("C0"), 0x38BC),
        (h("C1020B"), 0x0A52),
        (h("80"), 0x7078),
        (h("81"), 0x6059),
        (h("2500000002"), 0x1AAD),
        (h("25 42 21 A8 56"), 0xA609),
        (h("00 42 21 A8 50"), 0xED2C),
    ],
)
def test_crc_matches_the_reference_values(data: bytes, crc: int) -> None:
    assert crc_ccitt(data) == crc


def test_lfsr_sequence_matches_the_first_32_reference_bytes() -> None:
    assert PSEUDO_RANDOM_SEQUENCE[:32] == h(
        "42 21 A8 54 2A 15 B2 59 94 4A 25 AA 55 92 49 9C 4E 27 AB ED CE 67 8B FD C6 63 89 FC 7E 3F A7 EB"
    )


def test_lfsr_sequence_has_period_255() -> None:
    assert PSEUDO_RANDOM_SEQUENCE[255] == PSEUDO_RANDOM_SEQUENCE[0]
    assert PSEUDO_RANDOM_SEQUENCE[:255].count(PSEUDO_RANDOM_SEQUENCE[0]) == 1


@pytest.mark.parametrize("byte", [0x7E, 0x7D, 0x11, 0x13, 0x18, 0x1A])
def test_every_reserved_byte_is_escaped(byte: int) -> None:
    assert stuff(bytes((byte,))) == bytes((0x7D, byte ^ 0x20))
    assert unstuff(bytes((0x7D, byte ^ 0x20))) == bytes((byte,))


def test_escape_of_an_unreserved_byte_is_rejected() -> None:
    with pytest.raises(AshParseError, match="does not unescape"):
        unstuff(h("7D 41"))


@pytest.mark.parametrize(
    "wire",
    [
        "7D 31 42 21 A9 54 2A 7D 38 DC 7A 7E",  # control byte 0x11 stuffed
        "7D 3A 43 A1 FA 54 0A 15 C9 89 7E",  # control byte 0x1A stuffed
        "A0 54 7D 3A 7E",  # CRC byte stuffed
        "8B C1 7D 33 7E",
        "C1 02 01 AB 7D 38 7E",
    ],
)
def test_stuffed_golden_frames_round_trip(wire: str) -> None:
    frame = parse_frame(wire_body(wire))
    assert encode_frame(frame) == h(wire)


# --- frames (§1.5-§1.8) ---------------------------------------------------------------------------


RESET_CODES = [
    (0x00, "C1 02 00 BB 39 7E", "C2 02 00 E2 69 7E"),
    (0x01, "C1 02 01 AB 7D 38 7E", "C2 02 01 F2 48 7E"),
    (0x02, "C1 02 02 9B 7B 7E", "C2 02 02 C2 2B 7E"),
    (0x03, "C1 02 03 8B 5A 7E", "C2 02 03 D2 0A 7E"),
    (0x06, "C1 02 06 DB FF 7E", "C2 02 06 82 AF 7E"),
    (0x09, "C1 02 09 2A 10 7E", "C2 02 09 73 40 7E"),
    (0x0B, "C1 02 0B 0A 52 7E", "C2 02 0B 53 02 7E"),
    (0x51, "C1 02 51 F1 ED 7E", "C2 02 51 A8 BD 7E"),
    (0x80, "C1 02 80 2A B1 7E", "C2 02 80 73 E1 7E"),
]


@pytest.mark.parametrize(("code", "rstack", "error"), RESET_CODES)
def test_rstack_and_error_frames_for_every_reset_code(code: int, rstack: str, error: str) -> None:
    assert encode_frame(RstAckFrame(code=code)) == h(rstack)
    assert encode_frame(ErrorFrame(code=code)) == h(error)
    assert parse_frame(wire_body(rstack)) == RstAckFrame(code=code, version=2)
    assert parse_frame(wire_body(error)) == ErrorFrame(code=code, version=2)


def test_rst_frame() -> None:
    assert encode_frame(RstFrame()) == h("C0 38 BC 7E")
    assert parse_frame(h("C0 38 BC")) == RstFrame()


ACK_NAK_TABLE = [
    (0, "80 70 78 7E", "88 F1 70 7E", "A0 54 7D 3A 7E", "A8 D5 12 7E"),
    (1, "81 60 59 7E", "89 E1 51 7E", "A1 44 3B 7E", "A9 C5 33 7E"),
    (2, "82 50 3A 7E", "8A D1 32 7E", "A2 74 58 7E", "AA F5 50 7E"),
    (3, "83 40 1B 7E", "8B C1 7D 33 7E", "A3 64 79 7E", "AB E5 71 7E"),
    (4, "84 30 FC 7E", "8C B1 F4 7E", "A4 14 9E 7E", "AC 95 96 7E"),
    (5, "85 20 DD 7E", "8D A1 D5 7E", "A5 04 BF 7E", "AD 85 B7 7E"),
    (6, "86 10 BE 7E", "8E 91 B6 7E", "A6 34 DC 7E", "AE B5 D4 7E"),
    (7, "87 00 9F 7E", "8F 81 97 7E", "A7 24 FD 7E", "AF A5 F5 7E"),
]


@pytest.mark.parametrize(("ack_num", "ack", "ack_nrdy", "nak", "nak_nrdy"), ACK_NAK_TABLE)
def test_ack_and_nak_table(ack_num: int, ack: str, ack_nrdy: str, nak: str, nak_nrdy: str) -> None:
    assert encode_frame(AckFrame(ack_num=ack_num)) == h(ack)
    assert encode_frame(AckFrame(ack_num=ack_num, not_ready=True)) == h(ack_nrdy)
    assert encode_frame(NakFrame(ack_num=ack_num)) == h(nak)
    assert encode_frame(NakFrame(ack_num=ack_num, not_ready=True)) == h(nak_nrdy)
    assert parse_frame(wire_body(nak_nrdy)) == NakFrame(ack_num=ack_num, not_ready=True)


@pytest.mark.parametrize(
    ("wire", "frm_num", "re_tx", "ack_num", "ezsp"),
    [
        ("25 42 21 A8 56 A6 09 7E", 2, False, 5, "00 00 00 02"),  # UG101 version command
        ("53 42 A1 A8 56 28 04 82 03 2A 7E", 5, False, 3, "00 80 00 02 02 11 30"),  # corrected
        ("00 42 21 A8 50 ED 2C 7E", 0, False, 0, "00 00 00 04"),  # bellows' first DATA
        ("01 42 A1 A8 59 28 05 C6 A8 77 7E", 0, False, 1, "00 80 00 0D 02 10 74"),
        ("7D 31 42 21 A9 54 2A 7D 38 DC 7A 7E", 1, False, 1, "00 00 01 00 00 0D"),
        ("12 42 A1 A9 54 2A 7D 38 B0 49 E0 0F AC 7E", 1, False, 2, "00 80 01 00 00 0D 02 10 74"),
        ("12 42 A1 A9 54 2A 1B B0 59 14 38 98 7E", 1, False, 2, "00 80 01 00 00 0E 02 00 80"),
        ("2E 41 21 A8 50 B1 EC 7E", 2, True, 6, "03 00 00 04"),  # reTx set
    ],
)
def test_data_frames_encode_and_decode(wire: str, frm_num: int, re_tx: bool, ack_num: int, ezsp: str) -> None:
    frame = DataFrame(frm_num=frm_num, re_tx=re_tx, ack_num=ack_num, payload=h(ezsp))
    assert encode_frame(frame) == h(wire)
    assert parse_frame(wire_body(wire)) == frame


def test_unrandomised_ug101_frame_has_a_valid_crc() -> None:
    body = wire_body("25 00 00 00 02 1A AD 7E")
    assert crc_ccitt(body[:-2]).to_bytes(2, "big") == body[-2:]


@pytest.mark.parametrize(
    ("wire", "expected", "received"),
    [
        ("53 42 A1 A8 56 28 04 82 96 23 7E", 0x032A, 0x9623),  # UG101, published but wrong
        ("C2 01 52 FA BD 7E", 0xCD8D, 0xFABD),  # UG101 ERROR, published but wrong
        ("B6 58 90 41 24 AB 55 93 49 9C DD 93 62 3C D2 98 74 F5 DE 50 83 F9 7B 1E 66 EF C9 AF 41 7E", 0x8263, 0xAF41),
    ],
)
def test_bad_crc_error_carries_bytes_and_both_crcs(wire: str, expected: int, received: int) -> None:
    with pytest.raises(AshParseError) as caught:
        parse_frame(wire_body(wire))
    assert caught.value.expected_crc == expected
    assert caught.value.received_crc == received
    assert caught.value.data == wire_body(wire)
    assert f"{expected:04X}" in str(caught.value)


def test_randomise_is_its_own_inverse() -> None:
    data = bytes(range(200))
    assert randomise(randomise(data)) == data


@given(
    st.builds(
        DataFrame,
        frm_num=st.integers(0, 7),
        re_tx=st.booleans(),
        ack_num=st.integers(0, 7),
        payload=st.binary(min_size=1, max_size=256),
    )
    | st.builds(AckFrame, ack_num=st.integers(0, 7), not_ready=st.booleans())
    | st.builds(NakFrame, ack_num=st.integers(0, 7), not_ready=st.booleans())
    | st.builds(RstAckFrame, code=st.integers(0, 255))
    | st.builds(ErrorFrame, code=st.integers(0, 255))
)
def test_every_frame_round_trips_through_the_wire(frame) -> None:
    wire = encode_frame(frame)
    assert wire.count(0x7E) == 1 and wire.endswith(b"\x7e")
    (body,) = FrameSplitter().feed(wire)
    assert parse_frame(body) == frame


# --- byte stream -> frames (§3.2, §3.3) ---------------------------------------------------------

HERDSMAN_ROUTE_RECORD = h(
    "22 5B B1 A9 0D 2A C1 D8 19 53 4A 14 AA E9 87 49 FC FA 26 7D 5E C5 AA C8 7E"
)
HERDSMAN_INCOMING = h(
    "32 5B B1 A9 7D 31 2A 15 B6 58 8D 4A 06 AB 55 93 49 9C 45 7B 7D 38 39 A4 98 74 F1 D7 26 88 FC 6B 2F F6 E9 C5 DE 6B 8F FB D8 F9 7E"
)


def test_frame_split_across_two_reads() -> None:
    splitter = FrameSplitter()
    assert splitter.feed(HERDSMAN_ROUTE_RECORD[:12]) == []
    (body,) = splitter.feed(HERDSMAN_ROUTE_RECORD[12:])
    frame = parse_frame(body)
    assert isinstance(frame, DataFrame) and (frame.frm_num, frame.ack_num) == (2, 2)
    assert frame.payload == h("19 90 01 59 00 D4 6A 40 C7 00 31 00 BC 15 00 60 B4 01 D5 28")


def test_two_frames_in_one_read() -> None:
    bodies = FrameSplitter().feed(HERDSMAN_ROUTE_RECORD + HERDSMAN_INCOMING)
    frames = [parse_frame(b) for b in bodies]
    assert [(f.frm_num, f.ack_num) for f in frames] == [(2, 2), (3, 2)]


def test_one_byte_at_a_time_with_leading_noise_and_cancel() -> None:
    splitter = FrameSplitter()
    out = []
    for byte in h("DD F9 FF 1A C1 02 0B 0A 52 7E"):
        out += splitter.feed(bytes((byte,)))
    assert [parse_frame(b) for b in out] == [RstAckFrame(code=0x0B)]


def test_substitute_spoils_the_frame_and_the_next_one_parses() -> None:
    out = FrameSplitter().feed(h("C0 38 BC 7E C0 18 38 BC 7E C1 02 0B 0A 52 7E"))
    assert [parse_frame(b) for b in out] == [RstFrame(), RstAckFrame(code=0x0B)]


def test_xon_xoff_inside_a_frame_are_dropped() -> None:
    (body,) = FrameSplitter().feed(h("C0 11 38 BC 13 7E"))
    assert parse_frame(body) == RstFrame()


def test_a_bad_escape_is_reported_not_raised() -> None:
    (item,) = FrameSplitter().feed(h("C0 7D 41 7E"))
    assert isinstance(item, AshParseError)


# --- the link engine -------------------------------------------------------------------------------

FAST = AshTimings(t_rx_ack_init=0.05, t_rx_ack_min=0.02, t_rx_ack_max=0.2, ack_timeouts=4, tx_window=3)


class Line:
    """Captures the NCP's output frame by frame and lets a test await the next one."""

    def __init__(self) -> None:
        self.frames: list = []
        self.delivered: list[bytes] = []
        self.resets = 0
        self._splitter = FrameSplitter()
        self._changed = asyncio.Event()

    def write(self, data: bytes) -> None:
        for body in self._splitter.feed(data):
            self.frames.append(parse_frame(body))
        self._changed.set()

    async def wait_for(self, predicate, timeout: float = 2.0):
        async with asyncio.timeout(timeout):
            while True:
                for frame in self.frames:
                    if predicate(frame):
                        return frame
                self._changed.clear()
                await self._changed.wait()

    def make_ncp(self, timings: AshTimings = FAST) -> AshNcp:
        def on_reset() -> None:
            self.resets += 1

        return AshNcp(write=self.write, on_data=self.delivered.append, on_reset=on_reset, timings=timings)


HOST_RST = bytes([0x1A] * 32) + h("C0 38 BC 7E")


async def connected(line: Line, timings: AshTimings = FAST) -> AshNcp:
    ncp = line.make_ncp(timings)
    ncp.data_received(HOST_RST)
    line.frames.clear()
    return ncp


async def test_rst_gets_the_golden_rstack_with_a_cancel_first() -> None:
    line = Line()
    written: list[bytes] = []
    ncp = AshNcp(write=written.append, on_data=line.delivered.append, on_reset=lambda: None)
    ncp.data_received(HOST_RST)
    assert written == [h("1A C1 02 0B 0A 52 7E")]
    assert ncp.state is LinkState.CONNECTED


async def test_data_before_rst_is_ignored() -> None:
    line = Line()
    ncp = line.make_ncp()
    ncp.data_received(h("00 42 21 A8 50 ED 2C 7E"))
    assert line.delivered == [] and line.frames == []


async def test_in_sequence_data_is_acked_and_delivered_once() -> None:
    line = Line()
    ncp = await connected(line)
    ncp.data_received(h("00 42 21 A8 50 ED 2C 7E"))  # host DATA(0,0) version(4)
    assert line.delivered == [h("00 00 00 04")]
    assert line.frames == [AckFrame(ack_num=1)]
    assert encode_frame(line.frames[0]) == h("81 60 59 7E")


async def test_retransmitted_duplicate_is_reacked_not_redelivered() -> None:
    line = Line()
    ncp = await connected(line)
    ncp.data_received(h("00 42 21 A8 50 ED 2C 7E"))
    duplicate = DataFrame(frm_num=0, re_tx=True, ack_num=0, payload=h("00 00 00 04"))
    ncp.data_received(encode_frame(duplicate))
    assert line.delivered == [h("00 00 00 04")]
    assert line.frames == [AckFrame(ack_num=1), AckFrame(ack_num=1)]


async def test_bad_crc_is_naked_once_per_reject_condition() -> None:
    line = Line()
    ncp = await connected(line)
    bad = h("00 42 21 A8 50 ED 2D 7E")  # CRC off by one
    ncp.data_received(bad + bad)
    assert line.frames == [NakFrame(ack_num=0)]
    ncp.data_received(h("00 42 21 A8 50 ED 2C 7E"))  # the good frame clears the condition
    ncp.data_received(bad)
    assert line.frames == [NakFrame(ack_num=0), AckFrame(ack_num=1), NakFrame(ack_num=1)]
    assert ncp.counters.rx_bad_frames == 3


async def test_out_of_sequence_data_is_naked() -> None:
    line = Line()
    ncp = await connected(line)
    ncp.data_received(encode_frame(DataFrame(frm_num=3, re_tx=False, ack_num=0, payload=b"\x00\x00\x00")))
    assert line.frames == [NakFrame(ack_num=0)]
    assert line.delivered == []


async def test_ncp_data_carries_frame_and_ack_numbers_and_window_limits_it() -> None:
    line = Line()
    ncp = await connected(line)
    ncp.data_received(h("00 42 21 A8 50 ED 2C 7E"))
    line.frames.clear()
    for n in range(5):
        ncp.send(bytes((n, 0x80, 0x00)))
    sent = [f for f in line.frames if isinstance(f, DataFrame)]
    assert [(f.frm_num, f.ack_num, f.re_tx) for f in sent] == [(0, 1, False), (1, 1, False), (2, 1, False)]
    ncp.data_received(encode_frame(AckFrame(ack_num=2)))  # frames 0 and 1 arrived
    sent = [f for f in line.frames if isinstance(f, DataFrame)]
    assert [f.frm_num for f in sent] == [0, 1, 2, 3, 4]


async def test_missing_ack_leads_to_retransmission_with_retx_bit() -> None:
    line = Line()
    ncp = await connected(line)
    ncp.send(h("00 80 00 0D 02 10 74"))
    retransmitted = await line.wait_for(lambda f: isinstance(f, DataFrame) and f.re_tx)
    assert (retransmitted.frm_num, retransmitted.payload) == (0, h("00 80 00 0D 02 10 74"))
    ncp.data_received(encode_frame(AckFrame(ack_num=1)))
    assert ncp.counters.retransmissions >= 1


async def test_nak_triggers_immediate_retransmission_of_the_window() -> None:
    line = Line()
    ncp = await connected(line, AshTimings(t_rx_ack_init=5, t_rx_ack_min=5, t_rx_ack_max=5))
    ncp.send(b"\x01\x80\x00")
    ncp.send(b"\x02\x80\x00")
    ncp.data_received(encode_frame(NakFrame(ack_num=0)))
    resent = [f for f in line.frames if isinstance(f, DataFrame) and f.re_tx]
    assert [f.frm_num for f in resent] == [0, 1]


async def test_host_silence_ends_in_an_error_frame() -> None:
    line = Line()
    ncp = await connected(line)
    ncp.send(b"\x01\x80\x00")
    error = await line.wait_for(lambda f: isinstance(f, ErrorFrame))
    assert error.code == NcpResetCode.ERROR_EXCEEDED_MAXIMUM_ACK_TIMEOUT_COUNT
    assert ncp.state is LinkState.FAILED
    ncp.data_received(HOST_RST)  # only RST gets it out
    assert ncp.state is LinkState.CONNECTED


async def test_unsolicited_reset_sends_rstack_with_the_code() -> None:
    line = Line()
    ncp = await connected(line)
    ncp.unsolicited_reset(NcpResetCode.RESET_WATCHDOG)
    assert line.frames == [RstAckFrame(code=0x03)]
    assert line.resets == 2


def test_timings_scale_durations_only() -> None:
    scaled = AshTimings().scaled(0.5)
    assert (scaled.t_rx_ack_init, scaled.t_rx_ack_min, scaled.t_rx_ack_max) == (0.8, 0.2, 1.6)
    assert scaled.ack_timeouts == AshTimings().ack_timeouts


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_crash_the_link(noise: bytes) -> None:
    loop = asyncio.new_event_loop()
    try:
        written: list[bytes] = []

        async def feed() -> None:
            ncp = AshNcp(write=written.append, on_data=lambda payload: None)
            ncp.data_received(HOST_RST)
            ncp.data_received(noise)
            ncp.close()

        loop.run_until_complete(feed())
    finally:
        loop.close()
    assert written[0] == h("1A C1 02 0B 0A 52 7E")


async def test_a_window_refilled_by_acks_leaves_no_stray_ack_timer(monkeypatch) -> None:
    """Every ACK that refills the window re-arms the one retransmit timer; none is orphaned.

    An orphaned timer fires later as a spurious ACK timeout; under load a burst of them made the
    NCP send ERROR and drop the link (bench/README.md, "Many devices").
    """
    line = Line()
    ncp = await connected(line)
    loop = asyncio.get_running_loop()
    armed: list[asyncio.TimerHandle] = []
    original_call_later = loop.call_later

    def recording_call_later(delay, callback, *args, **kwargs):
        handle = original_call_later(delay, callback, *args, **kwargs)
        armed.append(handle)
        return handle

    monkeypatch.setattr(loop, "call_later", recording_call_later)
    for n in range(12):
        ncp.send(bytes((n, 0x80, 0x00)))
    acked = 0
    while acked < 12:
        sent = [f for f in line.frames if isinstance(f, DataFrame)]
        acked = len(sent)
        ncp.data_received(encode_frame(AckFrame(ack_num=acked % 8)))
    assert ncp.counters.retransmissions == 0
    assert armed, "the NCP armed no retransmit timer at all"
    assert all(handle.cancelled() for handle in armed), "an ACK timer outlived the frames it guarded"
