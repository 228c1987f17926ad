"""ASH, the NCP side: the UART framing layer of Silicon Labs' EZSP (UG101).

This is a codec and link engine of our own, written from UG101 and checked against the golden
frames in the reference notes. It deliberately does not import or subclass ``bellows.ash``: bellows
is the host under test, and a misunderstanding of ASH shared by both ends would pass every test.

Layers, bottom up:

* bytes: :func:`crc_ccitt`, :func:`randomise` (the LFSR), :func:`stuff` / :func:`unstuff`;
* frames: one class per frame type with ``from_bytes`` / ``to_bytes`` over the *unstuffed*
  control + data + CRC, and :func:`parse_frame` to pick the class from the control byte;
* :class:`FrameSplitter`: turns a byte stream into unstuffed frames, honouring FLAG, CANCEL,
  SUBSTITUTE and dropping XON/XOFF, the way a UART receiver must;
* :class:`AshNcp`: the NCP's link state machine -- RST/RSTACK, ACK/NAK, the reject condition,
  a transmit window with retransmission, ERROR frames.
"""

from __future__ import annotations

import asyncio
import binascii
import enum
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import ClassVar, Self

LOGGER = logging.getLogger(__name__)

# --- bytes -------------------------------------------------------------------------------------


class Reserved(enum.IntEnum):
    """Bytes with a meaning on the line (UG101 §4.2); inside a frame they are escaped."""

    FLAG = 0x7E  # end of frame
    ESCAPE = 0x7D  # next byte is XORed with 0x20
    XON = 0x11  # software flow control: resume
    XOFF = 0x13  # software flow control: pause
    SUBSTITUTE = 0x18  # the UART saw a framing error: the frame so far is spoiled
    CANCEL = 0x1A  # discard everything since the last FLAG


RESERVED_BYTES = frozenset(int(b) for b in Reserved)
ESCAPE_XOR = 0x20

#: ASH protocol version carried by RSTACK and ERROR frames (UG101 §3.3, §3.4).
ASH_VERSION = 2

#: CRC-CCITT initial value (UG101 §2.3: polynomial 0x1021, init 0xFFFF, sent high byte first).
CRC_INIT = 0xFFFF

#: LFSR for DATA-field randomisation (UG101 §4.3).
LFSR_SEED = 0x42
LFSR_TAP = 0xB8

#: Longest DATA field bellows accepts (it precomputes 256 bytes of the LFSR sequence); the
#: current Silicon Labs limit, EZSP_MAX_FRAME_LENGTH, is 202.
MAX_DATA_FIELD = 256

#: Longest unstuffed frame: control + data + CRC.
MAX_FRAME = 1 + MAX_DATA_FIELD + 2


def crc_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE over ``data`` (poly 0x1021, init 0xFFFF, no reflection, no final XOR)."""
    return binascii.crc_hqx(data, CRC_INIT)


def _lfsr_sequence(length: int) -> bytes:
    out = bytearray()
    value = LFSR_SEED
    for _ in range(length):
        out.append(value)
        value = (value >> 1) ^ LFSR_TAP if value & 1 else value >> 1
    return bytes(out)


#: The pseudo-random sequence XORed over every DATA field; restarts for each frame.
PSEUDO_RANDOM_SEQUENCE = _lfsr_sequence(MAX_DATA_FIELD)


def randomise(data: bytes) -> bytes:
    """XOR ``data`` with the LFSR sequence. Its own inverse, so it also derandomises."""
    if len(data) > MAX_DATA_FIELD:
        raise AshParseError(
            f"DATA field of {len(data)} bytes exceeds {MAX_DATA_FIELD}", data=data
        )
    length = len(data)  # XOR as whole numbers: one operation per frame, not one per byte
    mixed = int.from_bytes(data, "big") ^ int.from_bytes(PSEUDO_RANDOM_SEQUENCE[:length], "big")
    return mixed.to_bytes(length, "big")


def stuff(data: bytes) -> bytes:
    """Escape every reserved byte as ``7D, byte ^ 0x20`` (UG101 §4.2)."""
    out = bytearray()
    for byte in data:
        if byte in RESERVED_BYTES:
            out += bytes((Reserved.ESCAPE, byte ^ ESCAPE_XOR))
        else:
            out.append(byte)
    return bytes(out)


def unstuff(data: bytes) -> bytes:
    """Undo :func:`stuff`. An escape must be followed by an escaped reserved byte."""
    out = bytearray()
    escaped = False
    for byte in data:
        if escaped:
            original = byte ^ ESCAPE_XOR
            if original not in RESERVED_BYTES:
                raise AshParseError(
                    f"escape followed by 0x{byte:02X}, which does not unescape to a reserved byte",
                    data=data,
                )
            out.append(original)
            escaped = False
        elif byte == Reserved.ESCAPE:
            escaped = True
        else:
            out.append(byte)
    if escaped:
        raise AshParseError("frame ends in the middle of an escape", data=data)
    return bytes(out)


# --- frames ------------------------------------------------------------------------------------


class AshParseError(ValueError):
    """A frame that cannot be decoded. Carries the bytes, and for CRC errors both CRCs."""

    def __init__(
        self,
        message: str,
        *,
        data: bytes,
        expected_crc: int | None = None,
        received_crc: int | None = None,
    ) -> None:
        detail = f"{message}: {data.hex(' ')}"
        if expected_crc is not None and received_crc is not None:
            detail += f" (expected CRC {expected_crc:04X}, received {received_crc:04X})"
        super().__init__(detail)
        self.data = data
        self.expected_crc = expected_crc
        self.received_crc = received_crc


def _with_crc(body: bytes) -> bytes:
    return body + crc_ccitt(body).to_bytes(2, "big")


def _check_crc(data: bytes) -> bytes:
    """Return control + data field of an unstuffed frame after checking its CRC."""
    if len(data) < 3:
        raise AshParseError(f"frame of {len(data)} bytes is too short", data=data)
    body, received = data[:-2], int.from_bytes(data[-2:], "big")
    expected = crc_ccitt(body)
    if expected != received:
        raise AshParseError(
            "bad CRC", data=data, expected_crc=expected, received_crc=received
        )
    return body


@dataclass(frozen=True, slots=True)
class DataFrame:
    """DATA ``0 fff r aaa``: frame number, retransmission flag, ack number, randomised EZSP frame."""

    MASK: ClassVar[int] = 0x80
    MASK_VALUE: ClassVar[int] = 0x00

    frm_num: int
    re_tx: bool
    ack_num: int
    payload: bytes  # the EZSP frame, NOT randomised

    def to_bytes(self) -> bytes:
        control = (self.frm_num & 7) << 4 | int(self.re_tx) << 3 | (self.ack_num & 7)
        return _with_crc(bytes((control,)) + randomise(self.payload))

    @classmethod
    def from_bytes(cls, data: bytes) -> DataFrame:
        body = _check_crc(data)
        if len(body) < 2:
            raise AshParseError("DATA frame without a data field", data=data)
        control = body[0]
        return cls(
            frm_num=(control >> 4) & 7,
            re_tx=bool(control & 0x08),
            ack_num=control & 7,
            payload=randomise(body[1:]),
        )


@dataclass(frozen=True, slots=True)
class _AckNakFrame:
    ack_num: int
    not_ready: bool = False

    CONTROL_BASE: ClassVar[int] = 0

    def to_bytes(self) -> bytes:
        control = self.CONTROL_BASE | int(self.not_ready) << 3 | (self.ack_num & 7)
        return _with_crc(bytes((control,)))

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        body = _check_crc(data)
        if len(body) != 1:
            raise AshParseError(f"{cls.__name__} with a data field", data=data)
        return cls(ack_num=body[0] & 7, not_ready=bool(body[0] & 0x08))


@dataclass(frozen=True, slots=True)
class AckFrame(_AckNakFrame):
    """ACK ``100 r n aaa``: everything before ``ack_num`` arrived."""

    MASK: ClassVar[int] = 0xE0
    MASK_VALUE: ClassVar[int] = 0x80
    CONTROL_BASE: ClassVar[int] = 0x80


@dataclass(frozen=True, slots=True)
class NakFrame(_AckNakFrame):
    """NAK ``101 r n aaa``: a bad or out-of-sequence DATA frame; resend from ``ack_num``."""

    MASK: ClassVar[int] = 0xE0
    MASK_VALUE: ClassVar[int] = 0xA0
    CONTROL_BASE: ClassVar[int] = 0xA0


@dataclass(frozen=True, slots=True)
class RstFrame:
    """RST ``C0``: the host asks the NCP to reset the link."""

    MASK: ClassVar[int] = 0xFF
    MASK_VALUE: ClassVar[int] = 0xC0

    def to_bytes(self) -> bytes:
        return _with_crc(bytes((self.MASK_VALUE,)))

    @classmethod
    def from_bytes(cls, data: bytes) -> RstFrame:
        body = _check_crc(data)
        if len(body) != 1:
            raise AshParseError("RST with a data field", data=data)
        return cls()


class NcpResetCode(enum.IntEnum):
    """Reset and error codes of RSTACK/ERROR frames (UG101 "FAILED State" table)."""

    RESET_UNKNOWN_REASON = 0x00
    RESET_EXTERNAL = 0x01
    RESET_POWER_ON = 0x02
    RESET_WATCHDOG = 0x03
    RESET_ASSERT = 0x06
    RESET_BOOTLOADER = 0x09
    RESET_SOFTWARE = 0x0B
    ERROR_EXCEEDED_MAXIMUM_ACK_TIMEOUT_COUNT = 0x51
    ERROR_CHIP_SPECIFIC = 0x80


@dataclass(frozen=True, slots=True)
class _CodeFrame:
    code: int
    version: int = ASH_VERSION

    CONTROL: ClassVar[int] = 0

    def to_bytes(self) -> bytes:
        return _with_crc(bytes((self.CONTROL, self.version, self.code)))

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        body = _check_crc(data)
        if len(body) != 3:
            raise AshParseError(f"{cls.__name__} must carry version and code", data=data)
        return cls(version=body[1], code=body[2])


@dataclass(frozen=True, slots=True)
class RstAckFrame(_CodeFrame):
    """RSTACK ``C1``: the NCP has reset; carries the ASH version (2) and why it reset."""

    MASK: ClassVar[int] = 0xFF
    MASK_VALUE: ClassVar[int] = 0xC1
    CONTROL: ClassVar[int] = 0xC1


@dataclass(frozen=True, slots=True)
class ErrorFrame(_CodeFrame):
    """ERROR ``C2``: the NCP entered the FAILED state; only an RST gets it out."""

    MASK: ClassVar[int] = 0xFF
    MASK_VALUE: ClassVar[int] = 0xC2
    CONTROL: ClassVar[int] = 0xC2


AshFrame = DataFrame | AckFrame | NakFrame | RstFrame | RstAckFrame | ErrorFrame

_FRAME_CLASSES: tuple[type[AshFrame], ...] = (
    DataFrame,
    AckFrame,
    NakFrame,
    RstFrame,
    RstAckFrame,
    ErrorFrame,
)


def parse_frame(data: bytes) -> AshFrame:
    """Decode one unstuffed frame (control + data + CRC, no FLAG)."""
    if not data:
        raise AshParseError("empty frame", data=data)
    for cls in _FRAME_CLASSES:
        if data[0] & cls.MASK == cls.MASK_VALUE:
            return cls.from_bytes(data)
    raise AshParseError(f"unknown control byte 0x{data[0]:02X}", data=data)


def encode_frame(frame: AshFrame) -> bytes:
    """Wire bytes of ``frame``: stuffed control + data + CRC, then FLAG."""
    return stuff(frame.to_bytes()) + bytes((Reserved.FLAG,))


def frame_type_name(frame: AshFrame) -> str:
    """The short name used in logs: DATA, ACK, NAK, RST, RSTACK, ERROR."""
    return {
        DataFrame: "DATA",
        AckFrame: "ACK",
        NakFrame: "NAK",
        RstFrame: "RST",
        RstAckFrame: "RSTACK",
        ErrorFrame: "ERROR",
    }[type(frame)]


# --- byte stream -> frames ----------------------------------------------------------------------


@dataclass(slots=True)
class FrameSplitter:
    """Turns received bytes into unstuffed frames, as an NCP's UART receiver does.

    ``feed`` returns a list in arrival order of ``bytes`` (an unstuffed frame) or
    :class:`AshParseError` (a frame that could not even be unstuffed, or overran the buffer).
    Frames split across reads and several frames in one read are both handled; state lives
    between calls.
    """

    _buffer: bytearray = field(default_factory=bytearray)
    _discarding: bool = False  # after SUBSTITUTE or an overrun: drop bytes until the next FLAG

    def feed(self, data: bytes) -> list[bytes | AshParseError]:
        out: list[bytes | AshParseError] = []
        position = 0
        for control in _LINE_CONTROL.finditer(data):  # ordinary bytes in between are taken a run at a time
            self._take(data[position:control.start()], out)
            position = control.end()
            byte = data[control.start()]
            if byte in (Reserved.XON, Reserved.XOFF):
                continue  # flow control is not implemented: ignore wherever they appear
            if byte == Reserved.CANCEL:
                self._buffer.clear()
                self._discarding = False
                continue
            if byte == Reserved.SUBSTITUTE:
                self._buffer.clear()
                self._discarding = True
                continue
            # FLAG: the end of a frame
            if self._discarding:
                self._discarding = False
            elif self._buffer:
                raw = bytes(self._buffer)
                try:
                    out.append(unstuff(raw))
                except AshParseError as exc:
                    out.append(exc)
            self._buffer.clear()
        self._take(data[position:], out)
        return out

    def _take(self, run: bytes, out: list[bytes | AshParseError]) -> None:
        """Bytes with no line-control meaning: buffered, unless discarding; past twice the
        longest frame the frame is given up and the rest discarded until the next FLAG."""
        if self._discarding or not run:
            return
        room = 2 * MAX_FRAME + 1 - len(self._buffer)  # the byte that makes the buffer too long
        if len(run) < room:
            self._buffer += run
            return
        self._buffer += run[:room]
        out.append(AshParseError("frame overran the receive buffer", data=bytes(self._buffer[:16])))
        self._buffer.clear()
        self._discarding = True


#: The bytes :class:`FrameSplitter` acts on (ESCAPE is part of a frame until it is unstuffed).
_LINE_CONTROL = re.compile(b"[%s]" % re.escape(bytes(
    (Reserved.FLAG, Reserved.XON, Reserved.XOFF, Reserved.SUBSTITUTE, Reserved.CANCEL))))


# --- the link state machine ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AshTimings:
    """ASH timing constants (UG101 §5 and its "ASH timing" table), scalable for tests."""

    #: Initial, minimum and maximum time to wait for an ACK before retransmitting (T_RX_ACK_*).
    t_rx_ack_init: float = 1.6
    t_rx_ack_min: float = 0.4
    t_rx_ack_max: float = 3.2
    #: Consecutive ACK timeouts after which the NCP gives up and sends ERROR (ACK_TIMEOUTS).
    ack_timeouts: int = 4
    #: Maximum unacknowledged DATA frames the NCP has in flight (TX_K; UG101 allows up to 7).
    tx_window: int = 3

    def scaled(self, factor: float) -> AshTimings:
        """The same constants with every duration multiplied by ``factor``."""
        return replace(
            self,
            t_rx_ack_init=self.t_rx_ack_init * factor,
            t_rx_ack_min=self.t_rx_ack_min * factor,
            t_rx_ack_max=self.t_rx_ack_max * factor,
        )


class LinkState(enum.Enum):
    """Where the NCP's link is. Only CONNECTED exchanges DATA."""

    AWAITING_RESET = "awaiting-reset"  # powered up; waiting for the host's RST
    CONNECTED = "connected"
    FAILED = "failed"  # sent ERROR; waiting for RST


class LinkEvent(enum.Enum):
    RST_RECEIVED = "rst-received"  # the host reset the link
    REBOOTED = "rebooted"  # the NCP reset itself (watchdog, assert): unsolicited RSTACK
    GAVE_UP = "gave-up"  # ACK timeouts exhausted, or an error the NCP cannot recover from


#: Allowed transitions (UG101 §5: only RST leaves FAILED; an NCP can reboot in any state).
LINK_TRANSITIONS: dict[tuple[LinkState, LinkEvent], LinkState] = {
    **{(state, LinkEvent.RST_RECEIVED): LinkState.CONNECTED for state in LinkState},
    **{(state, LinkEvent.REBOOTED): LinkState.CONNECTED for state in LinkState},
    (LinkState.CONNECTED, LinkEvent.GAVE_UP): LinkState.FAILED,
    (LinkState.AWAITING_RESET, LinkEvent.GAVE_UP): LinkState.FAILED,
}


class LinkStateError(RuntimeError):
    """An event the link state machine does not allow in its current state."""


@dataclass(slots=True)
class _Outgoing:
    frm_num: int
    payload: bytes
    sent_at: float = 0.0
    retransmitted: bool = False


@dataclass(slots=True)
class LinkCounters:
    """What the link saw; tests and reports read these."""

    rx_data: int = 0
    rx_duplicates: int = 0
    rx_out_of_sequence: int = 0
    rx_bad_frames: int = 0
    naks_sent: int = 0
    naks_received: int = 0
    retransmissions: int = 0
    resets: int = 0


#: Called for each frame on the line: direction ("rx"/"tx"), the frame or the parse error.
FrameObserver = Callable[[str, "AshFrame | AshParseError"], None]


class AshNcp:
    """The NCP end of an ASH link.

    ``write(wire_bytes)`` puts bytes on the line; ``on_data(ezsp_frame)`` receives each
    in-sequence DATA payload exactly once; ``on_reset()`` is told when the host reset the link
    (the EZSP layer then forgets its negotiated version, as a real NCP does). Must be used from
    one asyncio loop.
    """

    def __init__(
        self,
        *,
        write: Callable[[bytes], None],
        on_data: Callable[[bytes], None],
        on_reset: Callable[[], None] = lambda: None,
        timings: AshTimings = AshTimings(),
        observer: FrameObserver | None = None,
        reset_code: NcpResetCode = NcpResetCode.RESET_SOFTWARE,
    ) -> None:
        self._write = write
        self._on_data = on_data
        self._on_reset = on_reset
        self._observer = observer
        self.timings = timings
        self.reset_code = reset_code
        self.counters = LinkCounters()
        self._splitter = FrameSplitter()
        self._timer: asyncio.TimerHandle | None = None  # retransmission timer for the oldest unacked frame
        self.state = LinkState.AWAITING_RESET
        self._reset_sequence_state()

    # -- state ---------------------------------------------------------------------------------

    def _reset_sequence_state(self) -> None:
        self._tx_seq = 0  # frame number of the next new DATA frame
        self._rx_seq = 0  # frame number we expect next from the host (our ackNum)
        self._in_reject_condition = False
        self._unacked: list[_Outgoing] = []  # sent, not yet acknowledged, oldest first
        self._queue: list[bytes] = []  # waiting for room in the window
        self._t_rx_ack = self.timings.t_rx_ack_init
        self._timeouts_in_a_row = 0
        self._cancel_timer()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None

    @property
    def connected(self) -> bool:
        return self.state is LinkState.CONNECTED

    def _transition(self, event: LinkEvent) -> None:
        try:
            self.state = LINK_TRANSITIONS[(self.state, event)]
        except KeyError:
            raise LinkStateError(f"ASH link: {event.value} is not allowed in state {self.state.value}") from None

    # -- receive path --------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Bytes from the host. Never raises on bad input: bad frames are counted and NAKed."""
        for item in self._splitter.feed(data):
            if isinstance(item, AshParseError):
                self._bad_frame(item)
                continue
            try:
                frame = parse_frame(item)
            except AshParseError as exc:
                self._bad_frame(exc)
                continue
            self._observe("rx", frame)
            self.frame_received(frame)

    def frame_received(self, frame: AshFrame) -> None:
        if isinstance(frame, RstFrame):
            self._rst_received()
            return
        if self.state is not LinkState.CONNECTED:
            LOGGER.debug("ignoring %s in state %s", frame_type_name(frame), self.state.value)
            return
        if isinstance(frame, DataFrame):
            self._data_received(frame)
        elif isinstance(frame, AckFrame):
            self._handle_ack_num(frame.ack_num)
        elif isinstance(frame, NakFrame):
            self.counters.naks_received += 1
            self._handle_ack_num(frame.ack_num)
            self._retransmit_unacked()
        else:  # RSTACK or ERROR from the host: not meaningful towards an NCP
            LOGGER.debug("ignoring %s from the host", frame_type_name(frame))

    def _bad_frame(self, error: AshParseError) -> None:
        self.counters.rx_bad_frames += 1
        self._observe("rx", error)
        LOGGER.debug("bad frame from host: %s", error)
        if self.state is LinkState.CONNECTED:
            self._reject()

    def _rst_received(self) -> None:
        self.counters.resets += 1
        self._reset_sequence_state()
        self._transition(LinkEvent.RST_RECEIVED)
        self._on_reset()
        self._send_frame(RstAckFrame(code=self.reset_code), prefix=bytes((Reserved.CANCEL,)))

    def _data_received(self, frame: DataFrame) -> None:
        self._handle_ack_num(frame.ack_num)
        if frame.frm_num == self._rx_seq:
            self._rx_seq = (self._rx_seq + 1) % 8
            self._in_reject_condition = False
            self.counters.rx_data += 1
            self._send_frame(AckFrame(ack_num=self._rx_seq))
            self._on_data(frame.payload)
        elif frame.re_tx:
            # A retransmission of a frame we already have (our ACK was lost): ACK it again,
            # do not deliver it twice.
            self.counters.rx_duplicates += 1
            self._send_frame(AckFrame(ack_num=self._rx_seq))
        else:
            self.counters.rx_out_of_sequence += 1
            self._reject()

    def _reject(self) -> None:
        """Enter the reject condition: NAK once, then stay quiet until a good frame arrives."""
        if self._in_reject_condition:
            return
        self._in_reject_condition = True
        self.counters.naks_sent += 1
        self._send_frame(NakFrame(ack_num=self._rx_seq))

    def _handle_ack_num(self, ack_num: int) -> None:
        """Drop every unacked frame before ``ack_num`` (modulo 8); adapt the ACK timeout."""
        acked = 0
        for index, pending in enumerate(self._unacked):
            if pending.frm_num == ack_num:
                acked = index
                break
        else:
            # ack_num is past every frame we have in flight: all of them are acknowledged --
            # provided it is the frame number we would send next.
            acked = len(self._unacked) if ack_num == self._tx_seq else 0
        if not acked:
            return
        now = asyncio.get_running_loop().time()
        newest = self._unacked[acked - 1]
        if not newest.retransmitted:
            rtt = now - newest.sent_at
            self._t_rx_ack = self._clamp(7 / 8 * self._t_rx_ack + rtt / 2)
        del self._unacked[:acked]
        self._timeouts_in_a_row = 0
        self._cancel_timer()
        self._fill_window()
        if self._unacked:
            self._arm_timer()

    # -- transmit path -------------------------------------------------------------------------

    def send(self, ezsp_frame: bytes) -> None:
        """Queue an EZSP frame for the host. Dropped if the link is not connected."""
        if self.state is not LinkState.CONNECTED:
            LOGGER.debug("link %s: dropping outgoing EZSP frame", self.state.value)
            return
        self._queue.append(ezsp_frame)
        self._fill_window()

    def _fill_window(self) -> None:
        while self._queue and len(self._unacked) < self.timings.tx_window:
            pending = _Outgoing(frm_num=self._tx_seq, payload=self._queue.pop(0))
            self._tx_seq = (self._tx_seq + 1) % 8
            self._unacked.append(pending)
            self._transmit(pending, re_tx=False)
            if self._timer is None:
                self._arm_timer()

    def _transmit(self, pending: _Outgoing, *, re_tx: bool) -> None:
        pending.sent_at = asyncio.get_running_loop().time()
        pending.retransmitted = pending.retransmitted or re_tx
        self._send_frame(
            DataFrame(
                frm_num=pending.frm_num, re_tx=re_tx, ack_num=self._rx_seq, payload=pending.payload
            )
        )

    def _retransmit_unacked(self) -> None:
        for pending in self._unacked:
            self.counters.retransmissions += 1
            self._transmit(pending, re_tx=True)
        if self._unacked:
            self._cancel_timer()
            self._arm_timer()

    def _arm_timer(self) -> None:
        # One timer at a time: an ACK that refills the window arms it in _fill_window and again
        # in _handle_ack_num; the orphaned handle used to fire later as a spurious ACK timeout,
        # and a burst of them under load sent ERROR (bench/README.md, "Many devices").
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(self._t_rx_ack, self._ack_timeout)

    def _ack_timeout(self) -> None:
        self._timer = None
        if not self._unacked or self.state is not LinkState.CONNECTED:
            return
        self._timeouts_in_a_row += 1
        if self._timeouts_in_a_row >= self.timings.ack_timeouts:
            self.enter_failed_state(NcpResetCode.ERROR_EXCEEDED_MAXIMUM_ACK_TIMEOUT_COUNT)
            return
        self._t_rx_ack = self._clamp(2 * self._t_rx_ack)
        self._retransmit_unacked()

    def _clamp(self, value: float) -> float:
        return max(self.timings.t_rx_ack_min, min(value, self.timings.t_rx_ack_max))

    def _send_frame(self, frame: AshFrame, *, prefix: bytes = b"") -> None:
        self._observe("tx", frame)
        self._write(prefix + encode_frame(frame))

    def _observe(self, direction: str, item: AshFrame | AshParseError) -> None:
        if self._observer is not None:
            try:
                self._observer(direction, item)
            except Exception:  # a broken observer must not take the link down
                LOGGER.exception("frame observer failed")

    # -- faults a real NCP can show ------------------------------------------------------------

    def enter_failed_state(self, code: NcpResetCode | int) -> None:
        """Send ERROR(code) and wait for the host's RST, as an NCP does after ACK timeouts."""
        self._transition(LinkEvent.GAVE_UP)
        self._reset_sequence_state()
        self._send_frame(ErrorFrame(code=int(code)))

    def unsolicited_reset(self, code: NcpResetCode | int = NcpResetCode.RESET_WATCHDOG) -> None:
        """The NCP rebooted on its own (watchdog, assert): RSTACK without an RST.

        bellows treats this as a failure and reconnects, which is the behaviour under test.
        """
        self.counters.resets += 1
        self._reset_sequence_state()
        self._transition(LinkEvent.REBOOTED)
        self._on_reset()
        self._send_frame(RstAckFrame(code=int(code)), prefix=bytes((Reserved.CANCEL,)))

    def close(self) -> None:
        """Stop timers (the transport is going away)."""
        self._cancel_timer()
