"""The GBCS codec: the published RTDS CCS08 and CS09 vectors byte for byte, signatures, bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.gbcs import (
    CraFlag,
    FirmwareActivationAlert,
    FirmwareTransferAlert,
    GbcsError,
    GbcsMessage,
    SigningHeader,
    build,
    decode,
)
from harness.ota.samples import ch_key_pair, supplier_key_pair

# SMART DCC gbcs-parser, test/rtds/RTDS-4.5.0/NA_CCS08/CCS08_NA_NA_ALERT_GBCS.HEX
RTDS_CCS08 = bytes.fromhex(
    "DF09030000000000000FA00800DB1234567890A20890B3D51F30000002000201282B30290203008F8A180F323031"
    "35303130313030303030305A040800DB1234567890A404040123ABCD0201004015427D68095A6ACDB453E4E0EB04"
    "FD6163964A54812A6D0E38CE3D635A00559AE8676D0BB03B7FC043E7FE2AA9F43157DF5BE8EE520BBA8281F7B763"
    "6EDE3360"
)
# SMART DCC gbcs-parser, test/rtds/RTDS-4.5.0/NA_CS09/CS09_NA_8F8B_ALERT_GBCS.HEX
RTDS_CS09 = bytes.fromhex(
    "DF090300000000000013880800DB1234567890A40890B3D51F300000020002012B21301F0203008F8B180F3230313530"
    "3130313030303030305A04041234ABCD02010040CE2ED7EC0470847F7AA0FA18DADE9B5D52CA789C3B51166A4080F347"
    "1F85EEC3D80083854CA8DA6E4620CD21C3B7819AE5C40766E5DFCE60CEDA29A7DAEF5A7A"
)
CHF = bytes.fromhex("00DB1234567890A2")
PPMID = bytes.fromhex("00DB1234567890A4")
ACB = bytes.fromhex("90B3D51F30000002")
NEW_YEAR_2015 = datetime(2015, 1, 1, tzinfo=UTC)


def test_rtds_ccs08_decodes_to_the_published_fields():
    message = decode(RTDS_CCS08).message
    assert message.header == SigningHeader(CraFlag.ALERT, 0x0FA0, CHF, ACB)
    assert message.message_code == 0x0128
    assert message.payload == FirmwareTransferAlert(
        alert_code=0x8F8A, execution_time=NEW_YEAR_2015, entity_id=PPMID,
        firmware_version=bytes.fromhex("0123ABCD"), response_code=0,
    )
    assert message.signature == RTDS_CCS08[-64:]


def test_rtds_ccs08_is_reproduced_byte_for_byte_from_its_fields():
    header = SigningHeader(CraFlag.ALERT, 0x0FA0, CHF, ACB)
    payload = FirmwareTransferAlert(0x8F8A, NEW_YEAR_2015, PPMID, bytes.fromhex("0123ABCD"), 0)
    assert GbcsMessage(header, payload, RTDS_CCS08[-64:]).encode() == RTDS_CCS08


def test_rtds_cs09_decodes_to_the_published_fields():
    message = decode(RTDS_CS09).message
    assert message.header == SigningHeader(CraFlag.ALERT, 0x1388, PPMID, ACB)
    assert message.message_code == 0x012B
    assert message.payload == FirmwareActivationAlert(
        alert_code=0x8F8B, execution_time=NEW_YEAR_2015, firmware_version=bytes.fromhex("1234ABCD"),
        activation_result=0,
    )


def test_rtds_cs09_is_reproduced_byte_for_byte_from_its_fields():
    header = SigningHeader(CraFlag.ALERT, 0x1388, PPMID, ACB)
    payload = FirmwareActivationAlert(0x8F8B, NEW_YEAR_2015, bytes.fromhex("1234ABCD"), 0)
    assert GbcsMessage(header, payload, RTDS_CS09[-64:]).encode() == RTDS_CS09


def test_field_view_covers_every_byte_once_in_order():
    for vector in (RTDS_CCS08, RTDS_CS09):
        fields = decode(vector).fields
        assert b"".join(f.raw for f in fields) == vector
        assert [f.offset for f in fields] == sorted(f.offset for f in fields)
    names = {f.name: f for f in decode(RTDS_CCS08).fields}
    assert names["message code"].meaning == "0x0128 CCS08 Firmware Transfer Alert"
    assert names["payload.entity id"].offset == 58 and names["payload.entity id"].meaning == "00DB1234567890A4"
    assert names["payload.response code"].meaning == "0x00 Success"


def test_a_signed_ccs08_verifies_with_the_ch_key_and_not_with_another():
    private_pem, public_pem = ch_key_pair()
    payload = FirmwareTransferAlert(0x8F89, NEW_YEAR_2015, PPMID, bytes.fromhex("00000102"), 3)
    message = build(SigningHeader(CraFlag.ALERT, 7, CHF, ACB), payload, private_pem)
    received = decode(message.encode()).message
    assert received == message
    assert received.verify(public_pem)
    assert not received.verify(supplier_key_pair()[1])


def test_signing_is_deterministic():
    private_pem, _ = ch_key_pair()
    payload = FirmwareActivationAlert(0x8F8B, NEW_YEAR_2015, bytes.fromhex("00000102"), 0)
    header = SigningHeader(CraFlag.ALERT, 1, PPMID, ACB)
    assert build(header, payload, private_pem).encode() == build(header, payload, private_pem).encode()


@pytest.mark.parametrize("where", ["counter", "payload", "signature"])
def test_any_changed_byte_breaks_the_signature(where):
    private_pem, public_pem = ch_key_pair()
    payload = FirmwareTransferAlert(0x8F8A, NEW_YEAR_2015, PPMID, bytes.fromhex("00000102"), 0)
    data = bytearray(build(SigningHeader(CraFlag.ALERT, 9, CHF, ACB), payload, private_pem).encode())
    index = {"counter": 10, "payload": 73, "signature": len(data) - 1}[where]
    data[index] ^= 0x01
    assert not decode(bytes(data)).message.verify(public_pem)


@pytest.mark.parametrize(
    "mangle, field, offset",
    [
        (lambda b: b[:-10], "signature", 78),
        (lambda b: b[:20], "recipient system title length", 20),
        (lambda b: b"\xDD" + b[1:], "general-signing tag", 0),
        (lambda b: b[:2] + b"\x07" + b[3:], "CRA flag", 2),
        (lambda b: b[:31] + b"\x01\x27" + b[33:], "message code", 31),
        (lambda b: b[:29] + b"\x05" + b[30:], "date-time length", 29),
        (lambda b: b[:36] + b"\x04" + b[37:], "payload.alert code", 36),  # OCTET STRING where INTEGER belongs
        (lambda b: b[:43] + b"2015130" + b[50:], "payload.execution date-time", 41),  # month 13
        (lambda b: b + b"\x00", "end of message", 142),
        (lambda b: b[:77] + b"\x20" + b[78:], "signature length", 77),
    ],
    ids=["truncated", "cut-in-header", "tag", "cra", "unknown-code", "date-time", "wrong-type", "bad-time",
         "trailing", "short-signature"],
)
def test_bad_input_is_one_line_naming_field_and_offset(mangle, field, offset):
    with pytest.raises(GbcsError) as caught:
        decode(mangle(RTDS_CCS08))
    assert (caught.value.field, caught.value.offset) == (field, offset)
    assert "\n" not in str(caught.value) and f"{field} at byte {offset}" in str(caught.value)


def test_non_canonical_der_is_refused():
    # 0x8F8A with a redundant leading zero byte: BER would take it, DER does not.
    padded = RTDS_CCS08[:33] + b"\x2C\x30\x2A\x02\x04\x00\x00\x8F\x8A" + RTDS_CCS08[41:]
    with pytest.raises(GbcsError, match="payload.alert code at byte 36: INTEGER not in canonical DER form"):
        decode(padded)


def test_a_header_that_cannot_be_encoded_names_its_field():
    with pytest.raises(GbcsError, match="originator system title"):
        SigningHeader(CraFlag.ALERT, 1, b"\x00" * 7, ACB)
    with pytest.raises(GbcsError, match="originator counter"):
        SigningHeader(CraFlag.ALERT, 1 << 64, CHF, ACB)
    with pytest.raises(GbcsError, match="execution date-time"):
        FirmwareActivationAlert(0x8F8B, datetime(2015, 1, 1), b"\x00" * 4, 0).encode()


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_raises_only_the_codecs_error(data):
    try:
        decoded = decode(data)
    except GbcsError as exc:
        assert "\n" not in str(exc)
    else:
        assert decoded.message.encode() == data


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([RTDS_CCS08, RTDS_CS09]), st.data())
def test_an_edited_vector_decodes_canonically_or_fails_cleanly(vector, data):
    """Bytes changed, inserted or removed anywhere in a real message: the codec's own error, or exact bytes."""
    edited = bytearray(vector)
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(edited) - 1))
        edit = data.draw(st.sampled_from(["change", "insert", "delete"]))
        if edit == "change":
            edited[index] = data.draw(st.integers(0, 255))
        elif edit == "insert":
            edited.insert(index, data.draw(st.integers(0, 255)))
        else:
            del edited[index]
    try:
        decoded = decode(bytes(edited))
    except GbcsError as exc:
        assert "\n" not in str(exc) and exc.offset is not None
        return
    assert decoded.message.encode() == bytes(edited)


@pytest.mark.parametrize("vector", [RTDS_CCS08, RTDS_CS09], ids=["CCS08", "CS09"])
def test_every_truncation_of_a_vector_names_where_it_ends(vector):
    for length in range(len(vector)):
        with pytest.raises(GbcsError) as caught:
            decode(vector[:length])
        assert caught.value.offset is not None and caught.value.offset <= length
