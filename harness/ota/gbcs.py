"""The GBCS Upgrade Image: what follows the 60-byte header in a GB firmware image.

GBCS §11.2.2-11.2.4 (as implemented in the public-domain ``gbcs.py`` and matched by the
RTDS SR 11.1 sample; domain-notes §3.5, source S9/S6):

    OTA Upgrade Image = 60-byte OTA header (field control 0x0004) || Upgrade Image
    Upgrade Image     = Manufacturer Image || force_replace (1 byte) || 0x40 || signature (64 bytes)

There are no sub-element tags. The signature is the supplier's (Authorising Remote Party's)
ECDSA P-256 / SHA-256 signature over the Manufacturer Image, as raw r||s. The Manufacturer
Image Hash, SHA-256 of the Manufacturer Image, is what CS06 and the Firmware Distribution
Receipt Alert carry. An *unsigned* Upgrade Image is just the Manufacturer Image (the RTDS
SR 11.4 PPMID sample has this shape), so both shapes are valid.

Telling the two apart from bytes alone relies on the octet 65 bytes before the end being
0x40 (the signature length). An unsigned image whose manufacturer image happens to have 0x40
there reads as signed (its "signature" then fails verification); pass ``signed=`` explicitly
when the shape is known.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from harness.ota.errors import OtaError
from harness.wire import Buffer, Field, Kind, Record, Values

#: Supplier signature: ECDSA P-256 raw r||s, 32 + 32 bytes (GBCS §11.2.3; domain-notes §6.4).
SIGNATURE_SIZE = 64
#: The octet before the signature: its length, 0x40 (GBCS §11.2.3; domain-notes §3.5).
SIGNATURE_LENGTH_OCTET = 0x40

TRAILER = Record(
    "gbcs",
    (
        Field("force_replace", 1, spec="GBCS §11.2.3: 1 byte 'only used by the CH' (0x00 in the RTDS samples)"),
        Field("signature_length", 1, const=SIGNATURE_LENGTH_OCTET, spec="GBCS §11.2.3"),
        Field("signature", SIGNATURE_SIZE, Kind.BYTES, spec="GBCS §11.2.3: supplier ECDSA P-256/SHA-256, r||s"),
    ),
    error=OtaError,
)
TRAILER_SIZE = TRAILER.size()


@dataclass(frozen=True, slots=True)
class GbcsUpgradeImage:
    """A GBCS Upgrade Image; ``signature is None`` for an unsigned one."""

    manufacturer_image: bytes
    signature: bytes | None = None
    force_replace: int = 0

    def __post_init__(self) -> None:
        if self.signature is None:
            if self.force_replace:
                raise OtaError("gbcs.force_replace", "only a signed Upgrade Image carries this byte")
            return
        for name in ("force_replace", "signature"):
            problem = TRAILER.field(name).check(getattr(self, name))
            if problem:
                raise OtaError(f"gbcs.{name}", problem)

    @property
    def signed(self) -> bool:
        return self.signature is not None

    @property
    def manufacturer_image_hash(self) -> bytes:
        """SHA-256 of the Manufacturer Image (GBCS §11.2.4), 32 bytes."""
        return hashlib.sha256(self.manufacturer_image).digest()

    @property
    def size(self) -> int:
        return len(self.manufacturer_image) + (TRAILER_SIZE if self.signed else 0)

    def to_bytes(self) -> bytes:
        if self.signature is None:
            return self.manufacturer_image
        trailer = TRAILER.encode({"force_replace": self.force_replace, "signature": self.signature})
        return self.manufacturer_image + trailer


@dataclass(frozen=True, slots=True)
class GbcsSpans:
    """Where the parts of a GBCS Upgrade Image sit in a buffer (no copies, for large files)."""

    manufacturer_offset: int
    manufacturer_length: int
    trailer_offset: int | None  # None: unsigned

    @property
    def signed(self) -> bool:
        return self.trailer_offset is not None


def looks_signed(data: Buffer, start: int, end: int) -> bool:
    """Whether ``data[start:end]`` ends in a signature trailer (see the module docstring)."""
    return end - start >= TRAILER_SIZE and data[end - SIGNATURE_SIZE - 1] == SIGNATURE_LENGTH_OCTET


def locate(data: Buffer, start: int, end: int, *, signed: bool | None = None) -> tuple[GbcsSpans, Values | None]:
    """Split ``data[start:end]`` into manufacturer image and trailer; decodes the trailer.

    ``signed=None`` detects the shape; ``True`` insists on a trailer (an error naming the
    field and offset if it is not there); ``False`` takes everything as the manufacturer image.
    """
    if signed is None:
        signed = looks_signed(data, start, end)
    if not signed:
        return GbcsSpans(start, end - start, None), None
    trailer_offset = end - TRAILER_SIZE
    if trailer_offset < start:
        raise OtaError(
            "gbcs.signature",
            f"a signed Upgrade Image needs at least {TRAILER_SIZE} bytes, this one has {end - start}",
            offset=start,
        )
    values, _ = TRAILER.decode(data, trailer_offset, limit=end)
    return GbcsSpans(start, trailer_offset - start, trailer_offset), values


def decode_gbcs(data: Buffer, start: int, end: int, *, signed: bool | None = None) -> GbcsUpgradeImage:
    spans, trailer = locate(data, start, end, signed=signed)
    manufacturer_image = bytes(data[spans.manufacturer_offset : spans.manufacturer_offset + spans.manufacturer_length])
    if trailer is None:
        return GbcsUpgradeImage(manufacturer_image)
    return GbcsUpgradeImage(manufacturer_image, trailer.octets("signature"), trailer.uint("force_replace"))
