"""The General Signing wrapper around a GBCS alert: encode, decode field by field, sign, verify.

Layout (gbcs-parser ``parseGeneralSigning``; RTDS 4.5.0 CCS08 and CS09 vectors), offsets from
the message start::

    0   DF                general-signing tag
    1   09                transaction id length (CRA flag + counter)
    2   CRA flag          1 command, 2 response, 3 alert
    3   counter           originator counter, 8 bytes big-endian
    11  08 + 8 bytes      originator system title (the sender's entity id, e.g. its EUI-64)
    20  08 + 8 bytes      recipient system title
    29  00 | 0C + 12      date-time: absent, or a 12-byte DLMS date-time
        len + bytes       other information: the message code (2 bytes), then any supplementary ids
        len + bytes       content: the DER payload
        len + 64 bytes    signature: ECDSA P-256 / SHA-256 as r||s over bytes 1 .. end of content

Lengths after the date-time use the DER length form (:mod:`harness.gbcs.der`). There is no MAC
wrapper: these alerts are signed, not encrypted.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from harness.gbcs.codes import MESSAGE_CODES, CraFlag, named
from harness.gbcs.der import encode_length, read_length, take
from harness.gbcs.errors import GbcsError
from harness.gbcs.payloads import PAYLOAD_TYPES, AlertPayload
from harness.gbcs.spans import FieldSpan
from harness.ota.errors import OtaError
from harness.ota.signing import sign, verify_bytes
from harness.secret import Secret

GENERAL_SIGNING_TAG = 0xDF
TRANSACTION_ID_SIZE = 9  # CRA flag + 8-byte counter
SYSTEM_TITLE_SIZE = 8
DATE_TIME_SIZE = 12
SIGNATURE_SIZE = 64
MESSAGE_CODE_SIZE = 2
_COUNTER_MAX = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class SigningHeader:
    """Who sent the message to whom, and its place in the sender's sequence.

    ``date_time`` is the raw 12-byte DLMS date-time, or None when absent (as in both RTDS alert
    vectors). ``supplementary`` is other information after the message code (supplementary remote
    party ids); the firmware alerts carry none.
    """

    cra_flag: CraFlag
    originator_counter: int
    originator: bytes
    recipient: bytes
    date_time: bytes | None = None
    supplementary: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.originator_counter <= _COUNTER_MAX:
            raise GbcsError("originator counter", f"{self.originator_counter} does not fit in 8 bytes")
        for name, title in (("originator", self.originator), ("recipient", self.recipient)):
            if len(title) != SYSTEM_TITLE_SIZE:
                raise GbcsError(f"{name} system title", f"must be {SYSTEM_TITLE_SIZE} bytes, got {len(title)}")
        if self.date_time is not None and len(self.date_time) != DATE_TIME_SIZE:
            raise GbcsError("date-time", f"must be {DATE_TIME_SIZE} bytes, got {len(self.date_time)}")


@dataclass(frozen=True, slots=True)
class GbcsMessage:
    """A signed GBCS alert: header, payload (CCS08 or CS09) and the 64-byte signature."""

    header: SigningHeader
    payload: AlertPayload
    signature: bytes

    @property
    def message_code(self) -> int:
        return self.payload.MESSAGE_CODE

    def signed_bytes(self) -> bytes:
        """What the signature covers: everything from the transaction id length to the end of the content."""
        return _signed_part(self.header, self.payload)[1:]

    def encode(self) -> bytes:
        if len(self.signature) != SIGNATURE_SIZE:
            raise GbcsError("signature", f"must be {SIGNATURE_SIZE} bytes, got {len(self.signature)}")
        return _signed_part(self.header, self.payload) + encode_length(SIGNATURE_SIZE) + self.signature

    def verify(self, public_key: bytes | ec.EllipticCurvePublicKey) -> bool:
        """Whether the signature verifies with the originator's public key (PEM or a key object)."""
        return verify_bytes(self.signed_bytes(), self.signature, public_key)


def _signed_part(header: SigningHeader, payload: AlertPayload) -> bytes:
    other = payload.MESSAGE_CODE.to_bytes(MESSAGE_CODE_SIZE, "big") + header.supplementary
    content = payload.encode()
    date_time = b"\x00" if header.date_time is None else bytes([DATE_TIME_SIZE]) + header.date_time
    return b"".join((
        bytes([GENERAL_SIGNING_TAG, TRANSACTION_ID_SIZE, int(header.cra_flag)]),
        header.originator_counter.to_bytes(8, "big"),
        bytes([SYSTEM_TITLE_SIZE]), header.originator,
        bytes([SYSTEM_TITLE_SIZE]), header.recipient,
        date_time,
        encode_length(len(other)), other,
        encode_length(len(content)), content,
    ))


def build(
    header: SigningHeader, payload: AlertPayload, private_key: bytes | Secret | ec.EllipticCurvePrivateKey
) -> GbcsMessage:
    """The message signed with the originator's key (deterministic ECDSA, so rebuilding gives the same bytes)."""
    unsigned = GbcsMessage(header, payload, bytes(SIGNATURE_SIZE))
    try:
        signature = sign(unsigned.signed_bytes(), private_key)
    except OtaError as exc:
        raise GbcsError("signing key", exc.problem) from None
    return GbcsMessage(header, payload, signature)


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded message and where each of its fields lies, for a field-by-field view."""

    message: GbcsMessage
    fields: tuple[FieldSpan, ...] = ()


class _Reader:
    """Walks the wrapper left to right, recording each field's span."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0
        self.spans: list[FieldSpan] = []

    def take(self, size: int, name: str, meaning: str | None = None) -> bytes:
        raw = take(self.data, self.offset, size, name)
        self.spans.append(FieldSpan(name, self.offset, raw, meaning if meaning is not None else raw.hex().upper()))
        self.offset += size
        return raw

    def fixed(self, value: int, name: str, meaning: str) -> None:
        at = self.offset
        (got,) = self.take(1, name, meaning)
        if got != value:
            raise GbcsError(name, f"expected 0x{value:02X}, got 0x{got:02X}", offset=at)

    def length(self, name: str) -> int:
        at = self.offset
        value, self.offset = read_length(self.data, at, name)
        self.spans.append(FieldSpan(name, at, self.data[at:self.offset], str(value)))
        return value


def decode(data: bytes) -> Decoded:
    """A GBCS firmware alert from its bytes; :class:`GbcsError` (field and offset) for anything else.

    The signature is not checked here (that needs the originator's key): see :meth:`GbcsMessage.verify`.
    """
    data = bytes(data)
    r = _Reader(data)
    r.fixed(GENERAL_SIGNING_TAG, "general-signing tag", "General Signing")
    r.fixed(TRANSACTION_ID_SIZE, "transaction id length", "9 (CRA flag + originator counter)")
    at = r.offset
    (cra,) = r.take(1, "CRA flag", "")
    try:
        cra_flag = CraFlag(cra)
    except ValueError:
        raise GbcsError("CRA flag", f"0x{cra:02X} is not 1 (command), 2 (response) or 3 (alert)", offset=at) from None
    r.spans[-1] = FieldSpan("CRA flag", at, bytes([cra]), f"{cra} {cra_flag.name.lower()}")
    counter = int.from_bytes(data[r.offset:r.offset + 8], "big")
    r.take(8, "originator counter", str(counter))
    r.fixed(SYSTEM_TITLE_SIZE, "originator system title length", "8")
    originator = r.take(SYSTEM_TITLE_SIZE, "originator system title")
    r.fixed(SYSTEM_TITLE_SIZE, "recipient system title length", "8")
    recipient = r.take(SYSTEM_TITLE_SIZE, "recipient system title")
    date_time = _date_time(r)
    other_size = r.length("other information length")
    at = r.offset
    if other_size < MESSAGE_CODE_SIZE:
        raise GbcsError("other information", f"{other_size} bytes cannot hold a message code", offset=at)
    code = int.from_bytes(take(data, at, MESSAGE_CODE_SIZE, "message code"), "big")
    r.take(MESSAGE_CODE_SIZE, "message code", named(code, MESSAGE_CODES))
    supplementary = r.take(other_size - MESSAGE_CODE_SIZE, "supplementary ids") if other_size > 2 else b""
    payload_type = PAYLOAD_TYPES.get(code)
    if payload_type is None:
        known = ", ".join(f"0x{c:04X}" for c in PAYLOAD_TYPES)
        raise GbcsError("message code", f"0x{code:04X} is not a message this codec decodes ({known})", offset=at)
    content_size = r.length("content length")
    at = r.offset
    content = take(data, at, content_size, "content")
    payload, payload_spans = payload_type.decode(content, base=at)
    r.spans.extend(payload_spans)
    r.offset += content_size
    signature_size = r.length("signature length")
    if signature_size != SIGNATURE_SIZE:
        raise GbcsError("signature length", f"expected {SIGNATURE_SIZE}, got {signature_size}", offset=r.offset - 1)
    signature = r.take(SIGNATURE_SIZE, "signature", "ECDSA P-256 r||s")
    if r.offset != len(data):
        raise GbcsError("end of message", f"{len(data) - r.offset} bytes after the signature", offset=r.offset)
    header = SigningHeader(cra_flag, counter, originator, recipient, date_time, supplementary)
    return Decoded(GbcsMessage(header, payload, signature), tuple(r.spans))


def _date_time(r: _Reader) -> bytes | None:
    at = r.offset
    (size,) = r.take(1, "date-time length", "")
    if size == 0:
        r.spans[-1] = FieldSpan("date-time length", at, b"\x00", "0 (absent)")
        return None
    if size != DATE_TIME_SIZE:
        raise GbcsError("date-time length", f"expected 0 (absent) or {DATE_TIME_SIZE}, got {size}", offset=at)
    r.spans[-1] = FieldSpan("date-time length", at, bytes([size]), str(size))
    return r.take(DATE_TIME_SIZE, "date-time")
