"""The Zigbee OTA file header (ZCL 07-5123 §11.4.2), declared as one field list.

``HEADER`` drives both :func:`encode_header` and :func:`decode_header`. The three optional
fields are keyed by field-control bits, exactly as the spec keys them, so adding a field is
one line. Sizes and the magic number are checked on decode, and each error names the field
and its byte offset.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields

from harness.ota.errors import OtaError
from harness.wire import Buffer, Field, Kind, Record

#: OTA Upgrade File Identifier, ZCL §11.4.2 (bytes 1E F1 EE 0B on the wire).
MAGIC = 0x0BEEF11E
#: OTA Header Version, ZCL §11.4.2: the only version the spec defines.
HEADER_VERSION = 0x0100
#: Zigbee Stack Version 0x0002 = Zigbee PRO, ZCL §11.4.2 Zigbee Stack Version; GBCS images use it (domain-notes §3.5).
STACK_VERSION_PRO = 0x0002
#: OTA Header String length, ZCL §11.4.2.
HEADER_STRING_SIZE = 32


class FieldControl(enum.IntFlag):
    """OTA Header Field Control bits, ZCL §11.4.2. Other bits are reserved."""

    SECURITY_CREDENTIAL_VERSION = 0x0001  # Security Credential Version present
    DEVICE_SPECIFIC_FILE = 0x0002  # Upgrade File Destination (EUI-64) present
    HARDWARE_VERSIONS = 0x0004  # Minimum and Maximum Hardware Version present


HEADER = Record(
    "header",
    (
        Field("magic", 4, const=MAGIC, spec="ZCL §11.4.2 OTA Upgrade File Identifier"),
        Field("header_version", 2, spec="ZCL §11.4.2 OTA Header Version"),
        Field("header_length", 2, spec="ZCL §11.4.2 OTA Header Length: whole header incl. optional fields"),
        Field("field_control", 2, spec="ZCL §11.4.2 OTA Header Field Control"),
        Field("manufacturer_code", 2, spec="ZCL §11.4.2 Manufacturer Code"),
        Field("image_type", 2, spec="ZCL §11.4.2 Image Type"),
        Field("file_version", 4, spec="ZCL §11.4.2 File Version"),
        Field("stack_version", 2, spec="ZCL §11.4.2 Zigbee Stack Version"),
        Field("header_string", HEADER_STRING_SIZE, Kind.BYTES, spec="ZCL §11.4.2 OTA Header String"),
        Field("total_image_size", 4, spec="ZCL §11.4.2 Total Image Size: whole file incl. header"),
        Field(
            "security_credential_version",
            1,
            when_flag=FieldControl.SECURITY_CREDENTIAL_VERSION,
            spec="ZCL §11.4.2 Security Credential Version",
        ),
        Field(
            "destination",
            8,
            Kind.EUI64,
            when_flag=FieldControl.DEVICE_SPECIFIC_FILE,
            spec="ZCL §11.4.2 Upgrade File Destination",
        ),
        Field(
            "min_hardware_version",
            2,
            when_flag=FieldControl.HARDWARE_VERSIONS,
            spec="ZCL §11.4.2 Minimum Hardware Version",
        ),
        Field(
            "max_hardware_version",
            2,
            when_flag=FieldControl.HARDWARE_VERSIONS,
            spec="ZCL §11.4.2 Maximum Hardware Version",
        ),
    ),
    flags_field="field_control",
    error=OtaError,
)

#: The header's codes and versions -> their width in hex digits (two per byte on the wire).
#: ``harness image inspect`` and the report both print these fixed-width hex, so a reviewer
#: compares the same text a device label or an image manifest shows; sizes and lengths are not codes.
HEX_DIGITS: dict[str, int] = {
    f.name: 2 * f.size for f in HEADER.fields
    if f.kind is Kind.UINT and f.name not in ("header_length", "total_image_size")
}

#: Header length with no optional field (56) and with all of them (69), ZCL §11.4.2.
MIN_HEADER_LENGTH = HEADER.size(0)
MAX_HEADER_LENGTH = HEADER.size(HEADER.known_flags)
#: The GBCS header: hardware versions only, 60 bytes (GBCS §11.2.4; domain-notes §3.5).
GBCS_FIELD_CONTROL = FieldControl.HARDWARE_VERSIONS
GBCS_HEADER_LENGTH = HEADER.size(GBCS_FIELD_CONTROL)


def header_length_for(field_control: int) -> int:
    """The header length the spec implies for this field control."""
    return HEADER.size(field_control)


@dataclass(frozen=True, slots=True, kw_only=True)
class OtaHeader:
    """A decoded OTA header; field names follow the contract (and ZCL §11.4.2).

    The value is checked when it is built, so an ``OtaHeader`` always encodes to a header
    that :func:`decode_header` accepts: optional fields are ``None`` exactly when their
    field-control bit is clear, and ``header_length`` is the length that field control
    implies. ``destination`` is an EUI-64 in display order (as printed and as rig files
    write it); it is reversed on the wire. Use :func:`make_header` to have the lengths and
    field control computed for you.
    """

    header_version: int = HEADER_VERSION
    header_length: int
    field_control: int
    manufacturer_code: int
    image_type: int
    file_version: int
    stack_version: int = STACK_VERSION_PRO
    header_string: bytes = bytes(HEADER_STRING_SIZE)
    total_image_size: int
    security_credential_version: int | None = None
    destination: bytes | None = None
    min_hardware_version: int | None = None
    max_hardware_version: int | None = None

    def __post_init__(self) -> None:
        problem = _check_header(self)
        if problem:
            raise OtaError(f"header.{problem[0]}", problem[1])

    @property
    def header_text(self) -> str:
        """The header string up to its first NUL, for display (undecodable bytes escaped)."""
        return self.header_string.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")

    @property
    def has_hardware_range(self) -> bool:
        return bool(self.field_control & FieldControl.HARDWARE_VERSIONS)

    @property
    def is_gbcs_shaped(self) -> bool:
        """True for the GBCS header shape: field control exactly 0x0004, 60 bytes."""
        return self.field_control == GBCS_FIELD_CONTROL

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _check_header(h: OtaHeader) -> tuple[str, str] | None:
    """The first (field, problem) that makes ``h`` unencodable or inconsistent, or ``None``."""
    for f in HEADER.fields:
        if f.const is not None:
            continue
        value = getattr(h, f.name)
        # field_control precedes the optional fields, so it has been checked to be an int here.
        present = not f.when_flag or bool(h.field_control & f.when_flag)
        if not present:
            if value is not None:
                return f.name, f"set, but field_control {h.field_control:#06x} does not have bit {f.when_flag:#06x}"
            continue
        if value is None:
            return f.name, f"missing, but field_control {h.field_control:#06x} has bit {f.when_flag:#06x}"
        problem = f.check(value)
        if problem:
            return f.name, problem
    if h.header_version != HEADER_VERSION:
        return "header_version", f"expected {HEADER_VERSION:#06x} (ZCL §11.4.2), got {h.header_version:#06x}"
    expected = header_length_for(h.field_control)
    if h.header_length != expected:
        return "header_length", (
            f"field_control {h.field_control:#06x} implies a {expected}-byte header, "
            f"header_length says {h.header_length}"
        )
    if h.total_image_size < h.header_length:
        return "total_image_size", (
            f"{h.total_image_size} is smaller than the header itself ({h.header_length} bytes)"
        )
    return None


def encode_header(header: OtaHeader) -> bytes:
    return HEADER.encode(header.as_dict())


def decode_header(data: Buffer, offset: int = 0) -> tuple[OtaHeader, int]:
    """Decode the header at ``data[offset:]``; returns it and the offset just past it.

    Errors carry absolute offsets (``offset`` is taken as the header's position in the file).
    """
    values, end = HEADER.decode(data, offset)
    try:
        return OtaHeader(**values.as_kwargs()), end
    except OtaError as exc:  # a semantic check failed: say where the field sits in the file
        name = exc.field.removeprefix("header.")
        where = offset + HEADER.offset_of(name, values.uint("field_control"))
        raise OtaError(exc.field, exc.problem, offset=where) from None


def make_header(
    *,
    manufacturer_code: int,
    image_type: int,
    file_version: int,
    body_size: int,
    stack_version: int = STACK_VERSION_PRO,
    header_string: bytes | str = b"",
    security_credential_version: int | None = None,
    destination: bytes | None = None,
    hardware_range: tuple[int, int] | None = None,
    extra_field_control: int = 0,
) -> OtaHeader:
    """A header for a body of ``body_size`` bytes, with field control and sizes computed.

    ``header_string`` is padded with NULs to 32 bytes (a longer one is an error);
    ``extra_field_control`` sets reserved bits (to build deliberately odd images).
    """
    if isinstance(header_string, str):
        header_string = header_string.encode("utf-8")
    if len(header_string) > HEADER_STRING_SIZE:
        raise OtaError("header.header_string", f"{len(header_string)} bytes, at most {HEADER_STRING_SIZE} fit")
    fc = extra_field_control & ~HEADER.known_flags
    if security_credential_version is not None:
        fc |= FieldControl.SECURITY_CREDENTIAL_VERSION
    if destination is not None:
        fc |= FieldControl.DEVICE_SPECIFIC_FILE
    if hardware_range is not None:
        fc |= FieldControl.HARDWARE_VERSIONS
    length = header_length_for(fc)
    return OtaHeader(
        header_length=length,
        field_control=int(fc),
        manufacturer_code=manufacturer_code,
        image_type=image_type,
        file_version=file_version,
        stack_version=stack_version,
        header_string=header_string.ljust(HEADER_STRING_SIZE, b"\0"),
        total_image_size=length + body_size,
        security_credential_version=security_credential_version,
        destination=destination,
        min_hardware_version=hardware_range[0] if hardware_range else None,
        max_hardware_version=hardware_range[1] if hardware_range else None,
    )


def hardware_in_range(header: OtaHeader, hardware_version: int) -> bool:
    """Whether a device with ``hardware_version`` may take an image with this header.

    The bounds are inclusive (ZCL §11.4.2 Minimum/Maximum Hardware Version: "minimum/maximum hardware version ... the
    image is compatible with"). A header without the range restricts nothing, so it is in
    range for any hardware. GB: a mismatch is CCS08 response 2, Hardware Version Mismatch.
    """
    if not header.has_hardware_range:
        return True
    assert header.min_hardware_version is not None and header.max_hardware_version is not None
    return header.min_hardware_version <= hardware_version <= header.max_hardware_version
