"""EZSP frame headers: legacy (the first ``version`` after each reset) and extended (v8+).

| format   | host -> NCP                           | NCP -> host                               |
|----------|---------------------------------------|-------------------------------------------|
| legacy   | seq, FC, frameId(u8)                  | seq, FC (0x80 response / 0x90 callback), frameId |
| extended | seq, FC low, FC high (0x01), frameId(u16 LE) | seq, 0x80 or 0x90, 0x01, frameId(u16 LE) |

(golden frames §2.1, §2.2). A legacy command must get a legacy reply: bellows' v4 parser
would read an extended reply's FC high byte as the frame id.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

#: Frame-control low byte: direction bit (response/callback) and async-callback bit (§2.2).
FC_RESPONSE = 0x80
FC_ASYNC_CALLBACK = 0x10
#: Frame-control high byte of the extended format: frame format version 1.
FC_HIGH_EXTENDED = 0x01
FC_HIGH_FORMAT_MASK = 0x03


class Framing(enum.Enum):
    LEGACY = "legacy"
    EXTENDED = "extended"


class EzspFrameError(ValueError):
    """An EZSP frame too short or malformed to carry a header."""


@dataclass(frozen=True, slots=True)
class EzspHeader:
    sequence: int
    frame_id: int
    framing: Framing
    frame_control: int = 0


def sniff_framing(data: bytes) -> Framing:
    """Guess the header format of a host frame from its third byte (the reference host's test).

    Only used where the negotiated state does not decide it (the frame log); the dispatcher
    trusts its own negotiation state.
    """
    if len(data) >= 5 and data[2] & ~FC_HIGH_FORMAT_MASK & 0xFF == 0 and (
        data[2] & FC_HIGH_FORMAT_MASK
    ) == FC_HIGH_EXTENDED:
        return Framing.EXTENDED
    return Framing.LEGACY


def decode_header(data: bytes, framing: Framing) -> tuple[EzspHeader, bytes]:
    """Split a host frame into its header and parameters."""
    if framing is Framing.LEGACY:
        if len(data) < 3:
            raise EzspFrameError(f"legacy EZSP frame of {len(data)} bytes: {data.hex(' ')}")
        return EzspHeader(data[0], data[2], framing, data[1]), data[3:]
    if len(data) < 5:
        raise EzspFrameError(f"extended EZSP frame of {len(data)} bytes: {data.hex(' ')}")
    if data[2] & FC_HIGH_FORMAT_MASK != FC_HIGH_EXTENDED:
        raise EzspFrameError(f"frame control high byte 0x{data[2]:02X} is not the extended format")
    frame_id = int.from_bytes(data[3:5], "little")
    return EzspHeader(data[0], frame_id, framing, data[1] | data[2] << 8), data[5:]


def encode_header(sequence: int, frame_id: int, framing: Framing, *, callback: bool) -> bytes:
    """Header of an NCP frame: a response, or an asynchronous callback."""
    fc_low = FC_RESPONSE | (FC_ASYNC_CALLBACK if callback else 0)
    if framing is Framing.LEGACY:
        return bytes((sequence & 0xFF, fc_low, frame_id & 0xFF))
    return bytes((sequence & 0xFF, fc_low, FC_HIGH_EXTENDED)) + frame_id.to_bytes(2, "little")
