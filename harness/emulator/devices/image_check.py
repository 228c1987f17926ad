"""How an emulated device decides whether a downloaded OTA image is fit to install.

Deliberately independent of the harness's own codec (harness.ota): the header is parsed with
zigpy's ``OTAImageHeader``, tag-based images with ``zigpy.ota.image.parse_ota_image``, and the
GBCS supplier signature is split and verified here with ``cryptography``. If the harness builds or
serves a broken image, this second opinion is what notices.

Problems come in two kinds: ``FOREIGN`` (the image is well-formed but meant for another
manufacturer, image type, device or hardware) and ``INTEGRITY`` (wrong size, header disagreeing
with the offer, bad or missing signature). The ``accepts_foreign_image`` defect overlooks only the
first kind.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from zigpy.ota.image import ElementTagId, OTAImage, OTAImageHeader, parse_ota_image

#: GBCS Upgrade Image trailer: 1 byte (CH-only flag) || 0x40 || 64-byte P-256 r||s (GBCS §11.2.3, domain-notes §3.5).
SIGNATURE_MARKER = 0x40
SIGNATURE_LENGTH = 64
GBCS_TRAILER_LENGTH = 2 + SIGNATURE_LENGTH
WILDCARD_16 = 0xFFFF


class ProblemKind(enum.Enum):
    FOREIGN = "foreign"
    INTEGRITY = "integrity"


class Layout(enum.Enum):
    TAGGED = "tagged"  # ZCL sub-elements (tag, length, data)
    GBCS_SIGNED = "gbcs-signed"  # manufacturer image || flag || 0x40 || signature
    GBCS_UNSIGNED = "gbcs-unsigned"  # header followed directly by the manufacturer image
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Offer:
    """What Query Next Image Response promised."""

    manufacturer_code: int
    image_type: int
    file_version: int
    image_size: int


@dataclass(frozen=True, slots=True)
class Problem:
    kind: ProblemKind
    text: str
    #: Which identity check found it ("manufacturer", "image type", "hardware", "destination"), or "".
    about: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    layout: Layout
    problems: tuple[Problem, ...] = field(default_factory=tuple)
    header: OTAImageHeader | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def only_foreign(self) -> bool:
        """True when every problem is of the FOREIGN kind (and there is at least one)."""
        return bool(self.problems) and all(p.kind is ProblemKind.FOREIGN for p in self.problems)

    def describe(self) -> str:
        return "; ".join(p.text for p in self.problems) or "valid"


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """What the device knows about itself when it judges an image."""

    manufacturer_code: int
    image_type: int
    hardware_version: int
    eui64: bytes  # display order
    supplier_key_pem: bytes | None = None
    require_signature: bool = False


def split_gbcs_upgrade_image(payload: bytes) -> tuple[bytes, int, bytes] | None:
    """(manufacturer image, flag byte, 64-byte signature) if ``payload`` ends with a GBCS signature trailer."""
    if len(payload) < GBCS_TRAILER_LENGTH + 1 or payload[-SIGNATURE_LENGTH - 1] != SIGNATURE_MARKER:
        return None
    return payload[:-GBCS_TRAILER_LENGTH], payload[-GBCS_TRAILER_LENGTH], payload[-SIGNATURE_LENGTH:]


def verify_p256_raw(public_key_pem: bytes, message: bytes, signature: bytes) -> bool:
    """ECDSA P-256 / SHA-256 over ``message`` with a raw 64-byte r||s signature (IEEE P1363 form)."""
    key = serialization.load_pem_public_key(public_key_pem)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("supplier verification key is not an EC P-256 public key")
    if len(signature) != SIGNATURE_LENGTH:
        return False
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _tagged(data: bytes) -> OTAImage | None:
    """The image as ZCL sub-elements, or None when its payload is not a clean run of known tags."""
    try:
        image, rest = parse_ota_image(data)
    except (ValueError, AssertionError, KeyError):
        return None
    if rest or not isinstance(image, OTAImage) or not image.subelements:
        return None
    if any(element.tag_id not in ElementTagId.__members__.values() for element in image.subelements):
        return None
    return image


def check_image(data: bytes, offer: Offer, device: DeviceIdentity) -> Verdict:
    """Every reason the device must refuse ``data``; an empty list means install it."""
    problems: list[Problem] = []

    def integrity(text: str) -> None:
        problems.append(Problem(ProblemKind.INTEGRITY, text))

    def foreign(about: str, text: str) -> None:
        problems.append(Problem(ProblemKind.FOREIGN, text, about))

    try:
        header, _rest = OTAImageHeader.deserialize(data)
    except (ValueError, KeyError) as exc:
        return Verdict(Layout.UNKNOWN, (Problem(ProblemKind.INTEGRITY, f"header does not parse: {exc}"),))

    if len(data) != offer.image_size:
        integrity(f"received {len(data)} bytes, the offer said {offer.image_size}")
    if header.image_size != len(data):
        integrity(f"header total_image_size {header.image_size} != {len(data)} bytes received")
    for label, in_header, offered in (
        ("manufacturer code", header.manufacturer_id, offer.manufacturer_code),
        ("image type", header.image_type, offer.image_type),
        ("file version", header.file_version, offer.file_version),
    ):
        if in_header != offered:
            integrity(f"header {label} 0x{in_header:X} differs from the offered 0x{offered:X}")
    if header.manufacturer_id not in (device.manufacturer_code, WILDCARD_16):
        foreign("manufacturer", f"image is for manufacturer 0x{header.manufacturer_id:04X}, device is 0x{device.manufacturer_code:04X}")
    if header.image_type not in (device.image_type, WILDCARD_16):
        foreign("image type", f"image type 0x{header.image_type:04X}, device expects 0x{device.image_type:04X}")
    if header.hardware_versions_present:
        low, high = int(header.minimum_hardware_version), int(header.maximum_hardware_version)
        if not low <= device.hardware_version <= high:
            foreign("hardware", f"hardware 0x{device.hardware_version:04X} outside the image's 0x{low:04X}-0x{high:04X}")
    if header.device_specific_file and bytes(header.upgrade_file_destination)[::-1] != device.eui64:
        foreign("destination", "device-specific image addressed to another EUI-64")

    payload = data[header.header_length :]
    layout = Layout.GBCS_UNSIGNED
    if _tagged(data) is not None:
        layout = Layout.TAGGED
    else:
        parts = split_gbcs_upgrade_image(payload)
        if parts is not None and device.supplier_key_pem is not None:
            layout = Layout.GBCS_SIGNED
            manufacturer_image, _flag, signature = parts
            if not verify_p256_raw(device.supplier_key_pem, manufacturer_image, signature):
                integrity("supplier signature does not verify with the device's supplier key")
    if device.require_signature and layout is not Layout.GBCS_SIGNED:
        integrity(f"no supplier signature (layout {layout.value}) but the device requires one")
    return Verdict(layout, tuple(problems), header)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
