"""Length octets and tag-length-value headers, as both GBCS framing and DER spell them.

The General Signing wrapper writes its variable lengths (other information, content,
signature) in the same form as DER: one byte below 0x80, else 0x81/0x82/0x83 and that many
big-endian bytes. Decoding here is strict -- the shortest form only, no indefinite length -- so a
message that decodes re-encodes to the same bytes, and a byte-for-byte comparison with a
published vector means something.

The values inside the DER payload are decoded by pyasn1 (:mod:`harness.gbcs.payloads`); this
module only finds where each element starts and ends, which pyasn1 does not report, so an error
can name the byte offset.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.gbcs.errors import GbcsError

#: Longest length form accepted: 0x83 + 3 bytes (16 MiB), more than any GBCS message needs.
_MAX_LENGTH_BYTES = 3


def encode_length(length: int) -> bytes:
    """The shortest length octets for ``length``."""
    if length < 0:
        raise GbcsError("length", f"cannot encode a negative length {length}")
    if length < 0x80:
        return bytes([length])
    size = (length.bit_length() + 7) // 8
    if size > _MAX_LENGTH_BYTES:
        raise GbcsError("length", f"{length} bytes is longer than a GBCS message may be")
    return bytes([0x80 | size]) + length.to_bytes(size, "big")


def read_length(data: bytes, offset: int, field: str) -> tuple[int, int]:
    """``(length, offset after the length octets)`` for length octets at ``offset``."""
    if offset >= len(data):
        raise GbcsError(field, "message ends before the length", offset=offset)
    first = data[offset]
    if first < 0x80:
        return first, offset + 1
    size = first & 0x7F
    if size == 0:
        raise GbcsError(field, "indefinite length (0x80) is not allowed", offset=offset)
    if size > _MAX_LENGTH_BYTES:
        raise GbcsError(field, f"length of {size} length bytes (0x{first:02X}) is too long", offset=offset)
    end = offset + 1 + size
    if end > len(data):
        raise GbcsError(field, f"message ends inside the {size}-byte length", offset=offset)
    length = int.from_bytes(data[offset + 1:end], "big")
    if length < 0x80 or length < 1 << (8 * (size - 1)):
        raise GbcsError(field, f"length {length} not in its shortest form (0x{first:02X})", offset=offset)
    return length, end


def take(data: bytes, offset: int, size: int, field: str) -> bytes:
    """``size`` bytes at ``offset``, or an error saying how many were missing."""
    if offset + size > len(data):
        left = max(len(data) - offset, 0)
        raise GbcsError(field, f"needs {size} bytes, {left} left", offset=offset)
    return data[offset:offset + size]


@dataclass(frozen=True, slots=True)
class Element:
    """One DER element found in a byte string: where it starts, its tag and its whole encoding."""

    offset: int  # from the start of the byte string searched
    tag: int  # the identifier octet (single-byte tags only: all GBCS alert fields are universal)
    encoding: bytes  # identifier, length and contents octets
    header_size: int  # identifier and length octets: the contents start here

    @property
    def end(self) -> int:
        return self.offset + len(self.encoding)


def read_element(data: bytes, offset: int, field: str) -> Element:
    """The DER element at ``offset`` of ``data``."""
    if offset >= len(data):
        raise GbcsError(field, "missing (no bytes left)", offset=offset)
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise GbcsError(field, f"multi-byte tag 0x{tag:02X} is not used by any GBCS alert field", offset=offset)
    length, start = read_length(data, offset + 1, field)
    take(data, start, length, field)
    return Element(offset, tag, data[offset:start + length], start - offset)
