"""The shared field-list codec: one declaration, either byte order, errors from the record's owner."""

from __future__ import annotations

import pytest

from harness.crypto.ecqv import Cs2Certificate, parse_certificate
from harness.crypto.errors import CertificateError
from harness.ota.errors import OtaError
from harness.ota.header import HEADER
from harness.wire import Field, Kind, Record, WireError

H = bytes.fromhex
#: A published CS2 certificate (SEC 4 / SE test vectors, CERT2-B): issuer 1112131415161718,
#: subject AAAAAAAAAAAAAAAA.
CERT2_B = H(
    "00F01DCD3E83AD44B50D08111213141516171800594BFDE0FFFFFFFFAAAAAAAAAAAAAAAA080200E8D52E0F4B95234457875F9D44853F"
    "31DC6C7FA5C25086EE9CC2631FEB1030807CD0BF"
)

FIELDS = (Field("magic", 2, const=0xBEEF), Field("value", 4), Field("address", 8, Kind.EUI64))
EUI = H("000D6F0000B13F52")  # display order


@pytest.mark.parametrize(
    ("byte_order", "wire"),
    [
        ("little", "EFBE" "78563412" "523FB100006F0D00"),
        ("big", "BEEF" "12345678" "000D6F0000B13F52"),
    ],
)
def test_one_declaration_in_either_byte_order(byte_order, wire) -> None:
    record = Record("r", FIELDS, byte_order=byte_order)
    assert record.encode({"value": 0x12345678, "address": EUI}) == H(wire)
    values, end = record.decode(H(wire))
    assert (values.uint("value"), values.octets("address"), end) == (0x12345678, EUI, 14)
    assert record.read(H(wire), "value") == 0x12345678  # one field, the rest not decoded


def test_errors_name_field_and_offset_in_the_owners_exception() -> None:
    plain = Record("r", FIELDS, byte_order="big")
    with pytest.raises(WireError, match=r"^r\.magic at byte 0: expected 0xbeef, got 0x0000$"):
        plain.decode(bytes(14))
    with pytest.raises(WireError, match=r"^r\.address at byte 6: data ends inside this 8-byte field"):
        plain.decode(H("BEEF12345678AAAA"))
    # The OTA header keeps its OtaError with field path and absolute offset.
    with pytest.raises(OtaError, match=r"^header\.magic at byte 3: expected 0x0beef11e"):
        HEADER.decode(b"pad" + bytes(60), 3)


def test_certificate_fields_are_read_through_the_certificates_declaration() -> None:
    cert = parse_certificate(CERT2_B)
    assert isinstance(cert, Cs2Certificate)
    assert cert.issuer == H("1112131415161718") and cert.subject == H("AAAAAAAAAAAAAAAA")
    assert cert.to_bytes() == CERT2_B
    # The issuer can be read before the certificate is judged: here its point format byte is bad.
    damaged = bytearray(CERT2_B)
    damaged[Cs2Certificate.LAYOUT.offset_of("reconstruction_point")] = 0x04
    with pytest.raises(CertificateError, match=r"'reconstruction_point' \(offset 37\): format byte 0x04"):
        parse_certificate(bytes(damaged))
    assert Cs2Certificate.read_field(bytes(damaged), "issuer") == H("1112131415161718")
    with pytest.raises(CertificateError, match="CS2 certificate is 73 bytes, expected 74"):
        Cs2Certificate.read_field(CERT2_B[:-1], "issuer")
