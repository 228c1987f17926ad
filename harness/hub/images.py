"""Images the CH can offer, and the decision whether to offer one to a querying device.

The CH decides from the OTA header alone (manufacturer, image type, file version, hardware range)
plus the supplier-signature verdict; the body is only ever read block by block. Parsing the file
is ``harness.ota``'s job: this module keeps the few header facts the decision needs, so the
decision can be tested without files.

Outcomes map onto CCS08 (GBCS use case, SECMP0007): a hardware-range mismatch is response code 2;
an image the CH will not offer (signature fails, not for this device, superseded) is response 1.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.evidence import ImageRecord


class SignatureStatus(enum.StrEnum):
    """Supplier-signature verdict of an image (``harness.ota.signing.verify``)."""

    VALID = "VALID"
    INVALID = "INVALID"
    ABSENT = "ABSENT"
    NOT_CHECKED = "NOT_CHECKED"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageFacts:
    """The OTA header fields the CH decides on (ZCL OTA file header, little-endian on the wire)."""

    manufacturer_code: int
    image_type: int
    file_version: int
    total_image_size: int
    min_hardware_version: int | None = None
    max_hardware_version: int | None = None
    stack_version: int = 0x0002
    header_string: str = ""

    def hardware_in_range(self, hardware_version: int) -> bool:
        """True when the header carries no range, or ``hardware_version`` lies inside it."""
        if self.min_hardware_version is None or self.max_hardware_version is None:
            return True
        return self.min_hardware_version <= hardware_version <= self.max_hardware_version

    def as_dict(self) -> dict[str, Any]:
        return {
            "manufacturer_code": self.manufacturer_code,
            "image_type": self.image_type,
            "file_version": self.file_version,
            "total_image_size": self.total_image_size,
            "min_hardware_version": self.min_hardware_version,
            "max_hardware_version": self.max_hardware_version,
            "stack_version": self.stack_version,
            "header_string": self.header_string,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferedImage:
    """An image as the OTA server serves it: header facts, identity, and a block reader."""

    name: str
    facts: ImageFacts
    size: int
    sha256: str
    signature: SignatureStatus
    read: Callable[[int, int], bytes] = field(repr=False, compare=False)
    path: Path | None = None

    def __post_init__(self) -> None:
        if self.facts.total_image_size != self.size:
            raise ValueError(
                f"image {self.name}: header total_image_size {self.facts.total_image_size} "
                f"disagrees with the file size {self.size}"
            )

    @property
    def version(self) -> int:
        return self.facts.file_version

    @classmethod
    def from_bytes(
        cls,
        name: str,
        facts: ImageFacts,
        data: bytes,
        *,
        signature: SignatureStatus = SignatureStatus.NOT_CHECKED,
    ) -> OfferedImage:
        """An image held in memory (tests, and images built on the fly)."""
        blob = bytes(data)
        return cls(
            name=name,
            facts=facts,
            size=len(blob),
            sha256=hashlib.sha256(blob).hexdigest(),
            signature=signature,
            read=lambda offset, size: blob[offset : offset + size],
        )

    @classmethod
    def from_file(
        cls, name: str, path: Path, *, verification_key: Path | None = None
    ) -> OfferedImage:
        """Open an OTA file with ``harness.ota`` (memory-mapped: blocks are read on demand).

        With ``verification_key`` the supplier signature is verified now, so the verdict is known
        before the image is offered; without one the status is NOT_CHECKED. Malformed files raise
        ``harness.ota.OtaError`` naming the file, field and byte offset.
        """
        from harness import ota  # the codec layer; imported here so pure logic does not need it

        image_file = ota.ImageFile.open(path)
        header = image_file.header
        facts = ImageFacts(
            manufacturer_code=header.manufacturer_code,
            image_type=header.image_type,
            file_version=header.file_version,
            total_image_size=header.total_image_size,
            min_hardware_version=header.min_hardware_version,
            max_hardware_version=header.max_hardware_version,
            stack_version=header.stack_version,
            header_string=header.header_text,
        )
        signature = SignatureStatus.NOT_CHECKED
        if verification_key is not None:
            verdict = ota.verify(image_file, Path(verification_key).read_bytes())
            signature = SignatureStatus[verdict.name]
        return cls(
            name=name,
            facts=facts,
            size=image_file.size,
            sha256=image_file.sha256,
            signature=signature,
            read=image_file.read,
            path=Path(path),
        )

    def record(self) -> ImageRecord:
        """This image as an evidence attachment."""
        return ImageRecord(
            name=self.name,
            path=str(self.path) if self.path else "",
            header=self.facts.as_dict(),
            sha256=self.sha256,
            size=self.size,
            signature=self.signature.value,
        )


class Refusal(enum.StrEnum):
    """Why the CH will not offer an image to a device; each maps to a CCS08 response code."""

    HARDWARE_MISMATCH = "hardware version outside the image header's range"
    SIGNATURE_FAILED = "supplier signature does not verify"
    NOT_APPLICABLE = "image is not for this device (manufacturer or image type differs)"
    NOT_NEWER = "image is not newer than the device's firmware"

    @property
    def ccs08_response_code(self) -> int:
        """CCS08 responseCode (GBCS via gbcs-parser): 1 Image Discarded, 2 Hardware Version Mismatch."""
        return 2 if self is Refusal.HARDWARE_MISMATCH else 1


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryFacts:
    """What a Query Next Image Request says about the device."""

    manufacturer_code: int
    image_type: int
    current_file_version: int
    hardware_version: int | None = None


@dataclass(frozen=True, slots=True)
class Selection:
    """The CH's decision on a query: the image to offer, or the refusal and its explanation."""

    image: OfferedImage | None
    refusal: Refusal | None = None
    detail: str = ""

    @property
    def offered(self) -> bool:
        return self.image is not None


def check_offerable(
    image: OfferedImage, *, require_signature: bool, serve_unverified: bool = False
) -> Selection:
    """Whether the CH may hold this image at all (before any device asks for it).

    A profile that requires a supplier signature makes the CH discard an image whose signature
    is INVALID or ABSENT (CCS08 response 1) -- unless a test deliberately serves it anyway to see
    the device reject it.
    """
    if require_signature and image.signature is not SignatureStatus.VALID and not serve_unverified:
        return Selection(
            None,
            Refusal.SIGNATURE_FAILED,
            f"image {image.name}: supplier signature {image.signature.value}",
        )
    return Selection(image)


def select_image(
    query: QueryFacts,
    image: OfferedImage,
    *,
    allow_downgrade: bool = False,
    allow_same_version: bool = False,
    known_hardware_version: int | None = None,
    offer_unchecked: bool = False,
) -> Selection:
    """Decide whether ``image`` answers ``query`` (ZCL OTA Query Next Image semantics).

    Order matters and follows what the CH can know: the image must be for this manufacturer and
    image type (0xFFFF in the image header is the ZCL wildcard); the version must be newer unless
    the test asked for a reinstall or a downgrade; and the hardware version -- from the query,
    else from what the CH read from the device -- must lie inside the header's range. A device
    that reports no hardware version against an image with a range is not refused (nothing to
    compare), but the detail says the range went unchecked. ``offer_unchecked`` (a test that wants
    the device's own verdict) skips the manufacturer, image type and hardware checks.
    """
    facts = image.facts
    foreign = facts.manufacturer_code not in (0xFFFF, query.manufacturer_code) or facts.image_type not in (
        0xFFFF,
        query.image_type,
    )
    if foreign and offer_unchecked:
        return Selection(image, None, f"image {image.name} is for manufacturer 0x{facts.manufacturer_code:04X} type "
                                      f"0x{facts.image_type:04X}: offered past the CH's own checks (test)")
    if foreign:
        return Selection(
            None,
            Refusal.NOT_APPLICABLE,
            f"image {image.name} is for manufacturer 0x{facts.manufacturer_code:04X} type "
            f"0x{facts.image_type:04X}; device asked for 0x{query.manufacturer_code:04X} "
            f"type 0x{query.image_type:04X}",
        )
    current, offered = query.current_file_version, facts.file_version
    if offered < current and not allow_downgrade:
        return Selection(
            None,
            Refusal.NOT_NEWER,
            f"image {image.name} version 0x{offered:08X} is older than the device's 0x{current:08X} "
            "(downgrade not requested)",
        )
    if offered == current and not allow_same_version:
        return Selection(
            None,
            Refusal.NOT_NEWER,
            f"device already runs version 0x{current:08X}",
        )
    hardware = query.hardware_version if query.hardware_version is not None else known_hardware_version
    if hardware is None:
        detail = (
            "hardware version not reported; range not checked"
            if facts.min_hardware_version is not None
            else ""
        )
        return Selection(image, None, detail)
    if not facts.hardware_in_range(hardware) and not offer_unchecked:
        return Selection(
            None,
            Refusal.HARDWARE_MISMATCH,
            f"device hardware 0x{hardware:04X} is outside image {image.name}'s range "
            f"0x{facts.min_hardware_version:04X}-0x{facts.max_hardware_version:04X}",
        )
    return Selection(image)


def facts_from_mapping(values: Mapping[str, Any]) -> ImageFacts:
    """ImageFacts from a plain mapping (evidence JSON, test tables)."""
    return ImageFacts(**{k: values[k] for k in ImageFacts.__dataclass_fields__ if k in values})
