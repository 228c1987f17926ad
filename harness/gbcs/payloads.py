"""The DER payloads of the two firmware alerts: CCS08 (the CH's) and CS09 (the PPMID's).

Each payload is a SEQUENCE declared once, as a field list that drives encode, decode and the
report's field-by-field view (gbcs-parser ``parseFirmwareTransferAlert`` and
``parseReadPPMIDHCALCSFirmwareVersionAlert``; RTDS 4.5.0 vectors):

* CCS08 ``SEQUENCE { alertCode INTEGER, executionDateTime GeneralizedTime, entityId OCTET STRING,
  firmwareVersion OCTET STRING, responseCode INTEGER }``
* CS09 ``SEQUENCE { alertCode INTEGER, executionDateTime GeneralizedTime, firmwareVersion OCTET
  STRING, activateImage INTEGER }``

pyasn1 encodes and decodes the values. Decoding is strict in one more way than pyasn1 alone: each
element must re-encode to exactly the bytes it came from (shortest integers, ``YYYYMMDDHHMMSSZ``
times), so a decoded payload is canonical DER and a published vector is reproduced byte for byte.
The codec checks structure only; whether an alert code or a version is the *right* one is for the
checks that use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from pyasn1.codec.der import decoder as der_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import namedtype, univ, useful

from harness.gbcs.codes import (
    ALERT_NAMES,
    CCS08_RESPONSES,
    CS09_RESULTS,
    MESSAGE_CODE_CCS08,
    MESSAGE_CODE_CS09,
    named,
)
from harness.gbcs.der import Element, read_element
from harness.gbcs.errors import GbcsError
from harness.gbcs.spans import FieldSpan

_SEQUENCE_TAG = 0x30
_DER_TIME = re.compile(r"\d{14}Z")


@dataclass(frozen=True, slots=True)
class _Kind:
    """An ASN.1 type as this codec uses it: its tag, its pyasn1 class and the Python value it maps to."""

    name: str
    tag: int
    asn1: Callable[..., Any]
    to_asn1: Callable[[Any], Any]
    from_asn1: Callable[[Any], Any]


def _time_to_asn1(value: datetime) -> useful.GeneralizedTime:
    if value.tzinfo is None:
        raise GbcsError("execution date-time", "must be timezone-aware (GBCS times are UTC)")
    return useful.GeneralizedTime(value.astimezone(UTC).strftime("%Y%m%d%H%M%SZ"))


def _time_from_asn1(value: useful.GeneralizedTime) -> datetime:
    if not _DER_TIME.fullmatch(str(value)):
        raise ValueError(f"{str(value)!r} is not YYYYMMDDHHMMSSZ")
    return datetime.strptime(str(value), "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)


INTEGER = _Kind("INTEGER", 0x02, univ.Integer, univ.Integer, int)
GENERALIZED_TIME = _Kind("GeneralizedTime", 0x18, useful.GeneralizedTime, _time_to_asn1, _time_from_asn1)
OCTET_STRING = _Kind("OCTET STRING", 0x04, univ.OctetString, univ.OctetString, bytes)


@dataclass(frozen=True, slots=True)
class PayloadField:
    attr: str  # the payload dataclass attribute
    label: str  # in errors and in the report
    kind: _Kind
    meaning: Callable[[Any], str]


def _hex(value: bytes) -> str:
    return value.hex().upper()


def _utc(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


_ALERT_CODE = PayloadField("alert_code", "alert code", INTEGER, lambda v: named(v, ALERT_NAMES))
_EXECUTION_TIME = PayloadField("execution_time", "execution date-time", GENERALIZED_TIME, _utc)
_FIRMWARE_VERSION = PayloadField("firmware_version", "firmware version", OCTET_STRING, _hex)


class AlertPayload:
    """What CCS08 and CS09 payloads share: a field list, a message code, encode and decode."""

    MESSAGE_CODE: ClassVar[int]
    USE_CASE: ClassVar[str]
    FIELDS: ClassVar[tuple[PayloadField, ...]]

    def encode(self) -> bytes:
        """The payload as DER."""
        sequence = univ.Sequence(componentType=namedtype.NamedTypes(
            *(namedtype.NamedType(f.attr, f.kind.asn1()) for f in self.FIELDS)
        ))
        for f in self.FIELDS:
            value = getattr(self, f.attr)
            try:
                sequence[f.attr] = f.kind.to_asn1(value)
            except (PyAsn1Error, TypeError, ValueError) as exc:
                raise GbcsError(f"payload.{f.label}", f"cannot encode {value!r} as {f.kind.name}: {exc}") from None
        return bytes(der_encoder.encode(sequence))

    @classmethod
    def decode(cls, data: bytes, base: int = 0) -> tuple[AlertPayload, tuple[FieldSpan, ...]]:
        """The payload in ``data`` (all of it), with one span per field; offsets count from ``base``."""
        outer = _element(data, 0, base, "payload")
        if outer.tag != _SEQUENCE_TAG:
            raise GbcsError("payload", f"expected a SEQUENCE (tag 0x30), found tag 0x{outer.tag:02X}", offset=base)
        if outer.end != len(data):
            raise GbcsError("payload", f"{len(data) - outer.end} bytes after the SEQUENCE", offset=base + outer.end)
        values: dict[str, Any] = {}
        spans = [FieldSpan("payload SEQUENCE header", base, outer.encoding[:outer.header_size],
                           f"{cls.USE_CASE} payload, {len(outer.encoding) - outer.header_size} bytes")]
        offset = outer.header_size
        for f in cls.FIELDS:
            element = _element(data, offset, base, f"payload.{f.label}")
            values[f.attr] = _value(element, f, base)
            spans.append(FieldSpan(f"payload.{f.label}", base + offset, element.encoding, f.meaning(values[f.attr])))
            offset = element.end
        if offset != outer.end:
            raise GbcsError("payload", f"unexpected element after {cls.FIELDS[-1].label}", offset=base + offset)
        return cls(**values), tuple(spans)


def _element(data: bytes, offset: int, base: int, field: str) -> Element:
    try:
        return read_element(data, offset, field)
    except GbcsError as exc:
        raise GbcsError(exc.field, exc.problem, offset=base + (exc.offset or 0)) from None


def _value(element: Element, f: PayloadField, base: int) -> Any:
    field = f"payload.{f.label}"
    if element.tag != f.kind.tag:
        raise GbcsError(field, f"expected {f.kind.name} (tag 0x{f.kind.tag:02X}), found tag 0x{element.tag:02X}",
                        offset=base + element.offset)
    try:
        decoded, rest = der_decoder.decode(element.encoding, asn1Spec=f.kind.asn1())
        value = f.kind.from_asn1(decoded)
    except (PyAsn1Error, ValueError, TypeError) as exc:
        raise GbcsError(field, f"not a valid {f.kind.name} ({_one_line(exc)})", offset=base + element.offset) from None
    if rest or bytes(der_encoder.encode(f.kind.to_asn1(value))) != element.encoding:
        raise GbcsError(field, f"{f.kind.name} not in canonical DER form", offset=base + element.offset)
    return value


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]


@dataclass(frozen=True, slots=True)
class FirmwareTransferAlert(AlertPayload):
    """CCS08: the CH's Firmware Transfer Alert about one device's transfer (alert 0x8F8A / 0x8F89)."""

    alert_code: int
    execution_time: datetime
    entity_id: bytes  # the target device's EUI-64
    firmware_version: bytes  # as the image names it; 4 bytes in the RTDS vector
    response_code: int  # 0 Success, 1 Image Discarded, 2 Hardware Version Mismatch, 3 File Transfer Failure

    MESSAGE_CODE: ClassVar[int] = MESSAGE_CODE_CCS08
    USE_CASE: ClassVar[str] = "CCS08"
    FIELDS: ClassVar[tuple[PayloadField, ...]] = (
        _ALERT_CODE,
        _EXECUTION_TIME,
        PayloadField("entity_id", "entity id", OCTET_STRING, _hex),
        _FIRMWARE_VERSION,
        PayloadField("response_code", "response code", INTEGER, lambda v: named(v, CCS08_RESPONSES, 2)),
    )


@dataclass(frozen=True, slots=True)
class FirmwareActivationAlert(AlertPayload):
    """CS09: the PPMID's own alert after it activated an image (alert 0x8F8B)."""

    alert_code: int
    execution_time: datetime
    firmware_version: bytes  # the version now running
    activation_result: int  # activateImage: 0 success, 1 failure

    MESSAGE_CODE: ClassVar[int] = MESSAGE_CODE_CS09
    USE_CASE: ClassVar[str] = "CS09"
    FIELDS: ClassVar[tuple[PayloadField, ...]] = (
        _ALERT_CODE,
        _EXECUTION_TIME,
        _FIRMWARE_VERSION,
        PayloadField("activation_result", "activate image result", INTEGER, lambda v: named(v, CS09_RESULTS, 2)),
    )


#: The payload type for each message code the codec decodes.
PAYLOAD_TYPES: dict[int, type[AlertPayload]] = {
    t.MESSAGE_CODE: t for t in (FirmwareTransferAlert, FirmwareActivationAlert)
}


def version_bytes(version: int) -> bytes:
    """A 32-bit OTA file version as the 4-byte firmware version octets the alerts carry."""
    return version.to_bytes(4, "big")
