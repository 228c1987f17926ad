"""A minimal pcapng writer for IEEE 802.15.4 captures (one interface, Enhanced Packet Blocks).

pcapng (draft-ietf-opsawg-pcapng): a Section Header Block, one Interface Description Block
with the link type and a microsecond timestamp resolution (the default), then one Enhanced
Packet Block per frame. Link type 195 is IEEE 802.15.4 with the 2-byte FCS at the end of each
frame, which Wireshark decodes as ``wpan``. Every block is flushed as it is written, so a
capture survives a killed run up to its last frame.
"""

from __future__ import annotations

import binascii
import re
import struct
from pathlib import Path
from typing import BinaryIO

#: LINKTYPE_IEEE802_15_4_WITHFCS.
LINKTYPE_IEEE802_15_4_WITHFCS = 195

_SHB, _IDB, _EPB = 0x0A0D0D0A, 0x00000001, 0x00000006
_BYTE_ORDER_MAGIC = 0x1A2B3C4D
_SNAPLEN = 0  # no limit
_OPT_COMMENT, _OPT_END = 1, 0


def capture_file_stem(test_id: str) -> str:
    """A file name for a test id: ``tests/x.py::test_y[13]`` -> ``tests-x.py-test_y-13``."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", test_id).strip("-.")
    return stem[:150] or "capture"


#: Each byte with its bits in reverse order (the FCS is CRC-CCITT with reflected bits).
_REVERSED_BITS = bytes(int(f"{value:08b}"[::-1], 2) for value in range(256))


def ieee802154_fcs(frame: bytes) -> bytes:
    """The 802.15.4 FCS: CRC-16/KERMIT (CCITT polynomial reflected, initial 0), little-endian.

    KERMIT is the unreflected CRC-CCITT (``binascii.crc_hqx``, in C) over bit-reversed bytes, its
    result bit-reversed: the emulated air computes one per frame, which bit by bit in Python costs more
    than the frame.
    """
    crc = binascii.crc_hqx(bytes(frame).translate(_REVERSED_BITS), 0)
    return bytes((_REVERSED_BITS[crc >> 8], _REVERSED_BITS[crc & 0xFF]))


def _pad(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def _block(block_type: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def _comment(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<HH", _OPT_COMMENT, len(raw)) + _pad(raw) + struct.pack("<HH", _OPT_END, 0)


def read_frame_times(path: Path) -> list[float]:
    """The capture time (seconds since the epoch) of every frame in a file this module wrote, in order.

    Reads only what :class:`PcapngWriter` writes (one little-endian section, microsecond
    timestamps); a truncated last block (a run killed mid-write) ends the list.
    """
    data = path.read_bytes()
    times: list[float] = []
    position = 0
    while position + 12 <= len(data):
        block_type, length = struct.unpack_from("<II", data, position)
        if length < 12 or position + length > len(data):
            break
        if block_type == _EPB:
            high, low = struct.unpack_from("<II", data, position + 12)
            times.append(((high << 32) | low) / 1_000_000)
        position += length
    return times


class PcapngWriter:
    """Writes frames to ``path`` (created, or replaced) with their capture time in seconds since the epoch."""

    def __init__(self, path: Path, *, linktype: int = LINKTYPE_IEEE802_15_4_WITHFCS, comment: str = "") -> None:
        self.path = path
        self.frames = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO | None = path.open("wb")
        section = struct.pack("<IHHq", _BYTE_ORDER_MAGIC, 1, 0, -1) + (_comment(comment) if comment else b"")
        interface = struct.pack("<HHI", linktype, 0, _SNAPLEN)
        self._write(_block(_SHB, section) + _block(_IDB, interface))

    def write(self, timestamp_s: float, frame: bytes, *, comment: str = "") -> int:
        """Append one frame; returns its frame number (1-based, as Wireshark numbers them)."""
        micros = round(timestamp_s * 1_000_000)
        body = struct.pack("<IIIII", 0, micros >> 32, micros & 0xFFFFFFFF, len(frame), len(frame))
        body += _pad(frame) + (_comment(comment) if comment else b"")
        self._write(_block(_EPB, body))
        self.frames += 1
        return self.frames

    def _write(self, data: bytes) -> None:
        if self._file is None:
            raise ValueError(f"{self.path}: capture already closed")
        self._file.write(data)
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> PcapngWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
