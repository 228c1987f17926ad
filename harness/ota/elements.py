"""OTA sub-elements: ``tag u16 | length u32 | data``.

ZCL 07-5123 §11.4, "Sub-element Format" and "Tag Identifiers".

Tagged images carry their firmware and signatures as a sequence of sub-elements. Unknown
tags are kept as plain integers and written back unchanged, because a lab must be able to
inspect and re-serve a manufacturer's file without the harness understanding every element.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

from harness.ota.errors import OtaError
from harness.wire import Buffer, Field, Record


class Tag(enum.IntEnum):
    """Sub-element tag identifiers, ZCL §11.4 "Tag Identifiers" (sizes in domain-notes §3.4)."""

    UPGRADE_IMAGE = 0x0000
    ECDSA_SIGNATURE_CS1 = 0x0001  # Crypto Suite 1, 50 bytes: signer IEEE + 42-byte signature
    ECDSA_SIGNING_CERTIFICATE_CS1 = 0x0002  # Crypto Suite 1, 48 bytes
    IMAGE_INTEGRITY_CODE = 0x0003
    PICTURE_DATA = 0x0004
    ECDSA_SIGNATURE_CS2 = 0x0005  # Crypto Suite 2
    ECDSA_SIGNING_CERTIFICATE_CS2 = 0x0006  # Crypto Suite 2, 74 bytes

    @classmethod
    def name_of(cls, tag: int) -> str:
        """A readable name for any tag, known or not (``unknown_0xf000``)."""
        try:
            return cls(tag).name
        except ValueError:
            return f"unknown_{tag:#06x}"


ELEMENT_HEADER = Record(
    "element",
    (
        Field("tag", 2, spec="ZCL §11.4 Sub-element Format: Tag ID"),
        Field("length", 4, spec="ZCL §11.4 Sub-element Format: Length Field, octets of data that follow"),
    ),
    error=OtaError,
)
ELEMENT_HEADER_SIZE = ELEMENT_HEADER.size()


@dataclass(frozen=True, slots=True)
class SubElement:
    """One sub-element; ``tag`` is an int so that unknown tags survive a round trip."""

    tag: int
    data: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.tag <= 0xFFFF:
            raise OtaError("element.tag", f"{self.tag:#x} does not fit in 2 bytes")
        if len(self.data) > 0xFFFFFFFF:
            raise OtaError("element.length", f"{len(self.data)} bytes do not fit a 4-byte length")

    @property
    def name(self) -> str:
        return Tag.name_of(self.tag)

    @property
    def wire_size(self) -> int:
        return ELEMENT_HEADER_SIZE + len(self.data)


@dataclass(frozen=True, slots=True)
class ElementSpan:
    """Where a sub-element's data sits in a buffer, without copying it (for large files)."""

    index: int
    tag: int
    offset: int  # of the data, absolute in the file
    length: int

    @property
    def name(self) -> str:
        return Tag.name_of(self.tag)


def scan_elements(data: Buffer, start: int, end: int) -> Iterator[ElementSpan]:
    """Walk the sub-element headers in ``data[start:end]`` (offsets absolute in the file).

    ``data`` is anything sliceable (bytes, memoryview, mmap); only the 6-byte element
    headers are read, so a 16 MB image is scanned without copying its payload. Raises
    :class:`OtaError` for an element header cut short or a length running past ``end``.
    """
    pos, index = start, 0
    while pos < end:
        values, data_start = ELEMENT_HEADER.decode(data, pos, limit=end, path=f"elements[{index}]")
        length = values.uint("length")
        if data_start + length > end:
            raise OtaError(
                f"elements[{index}].length",
                f"{length} bytes of data would end at byte {data_start + length}, "
                f"but the image ends at byte {end} (total_image_size)",
                offset=pos + ELEMENT_HEADER.offset_of("length"),
            )
        yield ElementSpan(index=index, tag=values.uint("tag"), offset=data_start, length=length)
        pos, index = data_start + length, index + 1


def decode_elements(data: Buffer, start: int, end: int) -> tuple[SubElement, ...]:
    """All sub-elements in ``data[start:end]``, their data copied out."""
    return tuple(
        SubElement(span.tag, bytes(data[span.offset : span.offset + span.length]))
        for span in scan_elements(data, start, end)
    )


def encode_elements(elements: tuple[SubElement, ...] | list[SubElement]) -> bytes:
    out = bytearray()
    for element in elements:
        out += ELEMENT_HEADER.encode({"tag": element.tag, "length": len(element.data)})
        out += element.data
    return bytes(out)
