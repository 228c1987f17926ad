"""A whole OTA file in memory: header plus either sub-elements or a GBCS Upgrade Image.

``decode_image(data) -> (image, rest)`` and ``encode_image(image)`` are the symmetric pair;
:meth:`OtaImage.from_bytes` is the strict entry point (no trailing bytes). For files too big
to hold comfortably, use :class:`harness.ota.image_file.ImageFile`, which shares the layout
detection below.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from typing import Any

from harness.ota import gbcs as _gbcs
from harness.ota.elements import SubElement, Tag, decode_elements, encode_elements, scan_elements
from harness.ota.errors import OtaError
from harness.ota.gbcs import GbcsUpgradeImage
from harness.ota.header import HEADER, OtaHeader, decode_header, encode_header, make_header
from harness.wire import Buffer


class Layout(enum.Enum):
    """What follows the header."""

    TAGGED = "tagged"  # ZCL §11.4 sub-elements (what zigpy and most Zigbee vendors write)
    GBCS = "gbcs"  # GBCS §11.2.4: an Upgrade Image with no tags (see harness.ota.gbcs)


def detect_layout(header: OtaHeader, data: Buffer, start: int, end: int) -> Layout:
    """Decide how to read the body ``data[start:end]`` of an image with this header.

    Only a GBCS-shaped header (field control exactly 0x0004) can introduce a GBCS body, and
    even then a body that is a well-formed chain of sub-elements is read as tagged (zigpy
    writes such images). Any other header means tagged, and a malformed chain is an error.
    A real manufacturer image that happens to parse as an exact sub-element chain would be
    misread; give ``layout=`` explicitly when the shape is known.
    """
    if not header.is_gbcs_shaped:
        return Layout.TAGGED
    try:
        for _ in scan_elements(data, start, end):
            pass
    except OtaError:
        return Layout.GBCS
    return Layout.TAGGED


def body_bounds(header: OtaHeader, data: Buffer, offset: int) -> int:
    """Where the image ends, checking the file holds ``total_image_size`` bytes."""
    end = offset + header.total_image_size
    if end > len(data):
        raise OtaError(
            "header.total_image_size",
            f"header says the image is {header.total_image_size} bytes, "
            f"only {len(data) - offset} are present (truncated file?)",
            offset=offset + HEADER.offset_of("total_image_size"),
        )
    return end


@dataclass(frozen=True, slots=True)
class OtaImage:
    """A decoded OTA image.

    ``body`` is a tuple of :class:`SubElement` (tagged layout) or a
    :class:`GbcsUpgradeImage` (GBCS layout). The header's ``total_image_size`` must match
    the body, so an ``OtaImage`` always encodes to exactly what it says it is; build one
    with :meth:`build` to have the header sizes computed.
    """

    header: OtaHeader
    body: tuple[SubElement, ...] | GbcsUpgradeImage

    def __post_init__(self) -> None:
        if isinstance(self.body, list):
            object.__setattr__(self, "body", tuple(self.body))
        body_size = self._body_size()
        if self.header.total_image_size != self.header.header_length + body_size:
            raise OtaError(
                "header.total_image_size",
                f"says {self.header.total_image_size}, but header ({self.header.header_length}) "
                f"+ body ({body_size}) = {self.header.header_length + body_size} bytes",
            )

    def _body_size(self) -> int:
        if isinstance(self.body, GbcsUpgradeImage):
            return self.body.size
        return sum(e.wire_size for e in self.body)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        body: tuple[SubElement, ...] | list[SubElement] | GbcsUpgradeImage,
        **header_fields: Any,
    ) -> OtaImage:
        """An image around ``body``; ``header_fields`` are those of :func:`make_header`
        except ``body_size``, which is computed."""
        body = tuple(body) if isinstance(body, list) else body
        size = body.size if isinstance(body, GbcsUpgradeImage) else sum(e.wire_size for e in body)
        return cls(make_header(body_size=size, **header_fields), body)

    @classmethod
    def from_bytes(
        cls, data: bytes, *, layout: Layout | None = None, signed: bool | None = None
    ) -> OtaImage:
        """Decode a whole file; bytes after ``total_image_size`` are an error."""
        image, rest = decode_image(data, layout=layout, signed=signed)
        if rest:
            raise OtaError(
                "header.total_image_size",
                f"image ends at byte {image.header.total_image_size}, "
                f"but {len(rest)} more byte(s) follow",
                offset=HEADER.offset_of("total_image_size"),
            )
        return image

    def to_bytes(self) -> bytes:
        return encode_image(self)

    # -- what callers ask of an image ---------------------------------------------------

    @property
    def layout(self) -> Layout:
        return Layout.GBCS if isinstance(self.body, GbcsUpgradeImage) else Layout.TAGGED

    @property
    def elements(self) -> tuple[SubElement, ...]:
        """The sub-elements (empty for a GBCS image)."""
        return () if isinstance(self.body, GbcsUpgradeImage) else self.body

    @property
    def gbcs(self) -> GbcsUpgradeImage | None:
        return self.body if isinstance(self.body, GbcsUpgradeImage) else None

    @property
    def size(self) -> int:
        return self.header.total_image_size

    @property
    def sha256(self) -> str:
        """SHA-256 of the whole file, hex (what evidence records and reports show)."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @property
    def manufacturer_image(self) -> bytes | None:
        """GBCS: the Manufacturer Image. Tagged: ``None`` (see :attr:`upgrade_image`)."""
        return self.gbcs.manufacturer_image if self.gbcs else None

    @property
    def signature(self) -> bytes | None:
        """GBCS: the 64-byte supplier signature, or ``None`` if unsigned or tagged."""
        return self.gbcs.signature if self.gbcs else None

    @property
    def manufacturer_image_hash(self) -> bytes | None:
        """GBCS: SHA-256 of the Manufacturer Image (32 bytes, as CS06 carries it)."""
        return self.gbcs.manufacturer_image_hash if self.gbcs else None

    @property
    def upgrade_image(self) -> bytes | None:
        """The firmware as a device receives it: GBCS Upgrade Image, or tag 0x0000's data."""
        if self.gbcs:
            return self.gbcs.to_bytes()
        for element in self.elements:
            if element.tag == Tag.UPGRADE_IMAGE:
                return element.data
        return None


def encode_image(image: OtaImage) -> bytes:
    body = image.body.to_bytes() if isinstance(image.body, GbcsUpgradeImage) else encode_elements(image.body)
    return encode_header(image.header) + body


def decode_image(
    data: bytes, offset: int = 0, *, layout: Layout | None = None, signed: bool | None = None
) -> tuple[OtaImage, bytes]:
    """Decode the image at ``data[offset:]``; returns it and the bytes after it.

    ``layout=None`` detects the layout (:func:`detect_layout`); ``signed`` applies to GBCS
    bodies (see :func:`harness.ota.gbcs.locate`). Every problem is an :class:`OtaError`
    naming the field and its absolute byte offset.
    """
    header, start = decode_header(data, offset)
    end = body_bounds(header, data, offset)
    if layout is None:
        layout = detect_layout(header, data, start, end)
    body: tuple[SubElement, ...] | GbcsUpgradeImage
    if layout is Layout.GBCS:
        body = _gbcs.decode_gbcs(data, start, end, signed=signed)
    else:
        body = decode_elements(data, start, end)
    return OtaImage(header, body), bytes(data[end:])
