"""The OTA codec: round trips, errors that name field and offset, GBCS layout, and
cross-checks both ways against zigpy's independent parser."""

from __future__ import annotations

import hashlib

import pytest
import zigpy.types as zt
from hypothesis import given, settings
from hypothesis import strategies as st
from zigpy.ota import image as zimage

from harness.ota import (
    FieldControl,
    GbcsUpgradeImage,
    Layout,
    OtaError,
    OtaHeader,
    OtaImage,
    SubElement,
    Tag,
    decode_image,
    encode_image,
    hardware_in_range,
    make_header,
)
from harness.ota.elements import decode_elements, encode_elements
from harness.ota.gbcs import decode_gbcs
from harness.ota.header import (
    GBCS_HEADER_LENGTH,
    MAX_HEADER_LENGTH,
    MIN_HEADER_LENGTH,
    decode_header,
    encode_header,
)
from harness.wire import Field, Record

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)


@st.composite
def headers(draw, body_size: int | None = None) -> OtaHeader:
    fc = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7])) | draw(st.sampled_from([0, 0, 0x0100, 0x8000]))
    hw = sorted(draw(st.lists(u16, min_size=2, max_size=2)))
    return make_header(
        manufacturer_code=draw(u16),
        image_type=draw(u16),
        file_version=draw(u32),
        stack_version=draw(u16),
        header_string=draw(st.binary(max_size=32)),
        security_credential_version=draw(u8) if fc & 1 else None,
        destination=draw(st.binary(min_size=8, max_size=8)) if fc & 2 else None,
        hardware_range=(hw[0], hw[1]) if fc & 4 else None,
        extra_field_control=fc,
        body_size=draw(st.integers(0, 0xFFFFFFFF - MAX_HEADER_LENGTH)) if body_size is None else body_size,
    )


elements = st.builds(SubElement, u16, st.binary(max_size=300))
gbcs_bodies = st.one_of(
    st.builds(GbcsUpgradeImage, st.binary(max_size=300)),
    st.builds(GbcsUpgradeImage, st.binary(max_size=300), st.binary(min_size=64, max_size=64), u8),
)


@st.composite
def tagged_images(draw) -> OtaImage:
    body = tuple(draw(st.lists(elements, max_size=4)))
    header = draw(headers(body_size=sum(e.wire_size for e in body)))
    return OtaImage(header, body)


@st.composite
def gbcs_images(draw) -> OtaImage:
    body = draw(gbcs_bodies)
    hw = sorted(draw(st.lists(u16, min_size=2, max_size=2)))
    return OtaImage.build(
        body,
        manufacturer_code=draw(u16),
        image_type=draw(u16),
        file_version=draw(u32),
        header_string=draw(st.binary(max_size=32)),
        hardware_range=(hw[0], hw[1]),
    )


# -- round trips -------------------------------------------------------------------------------


@given(headers())
def test_header_round_trip(h):
    assert decode_header(encode_header(h)) == (h, h.header_length)
    assert len(encode_header(h)) == h.header_length


@given(tagged_images())
def test_tagged_image_round_trip(image):
    data = encode_image(image)
    assert decode_image(data, layout=Layout.TAGGED) == (image, b"")
    assert len(data) == image.header.total_image_size


@given(gbcs_images())
def test_gbcs_image_round_trip(image):
    data = encode_image(image)
    assert decode_image(data, layout=Layout.GBCS, signed=image.gbcs.signed) == (image, b"")
    assert image.header.header_length == GBCS_HEADER_LENGTH == 60


@given(st.one_of(tagged_images(), gbcs_images()), st.binary(max_size=20))
def test_decode_returns_the_bytes_after_the_image(image, rest):
    layout = image.layout
    signed = image.gbcs.signed if image.gbcs else None
    assert decode_image(encode_image(image) + rest, layout=layout, signed=signed) == (image, rest)


@given(st.lists(elements, max_size=5))
def test_elements_round_trip(items):
    data = encode_elements(items)
    assert decode_elements(data, 0, len(data)) == tuple(items)


@given(gbcs_bodies)
def test_gbcs_upgrade_image_round_trip(body):
    data = body.to_bytes()
    assert decode_gbcs(data, 0, len(data), signed=body.signed) == body


def test_a_bad_field_declaration_fails_when_declared():
    with pytest.raises(TypeError, match="optional field before flags field"):
        Record("bad", (Field("opt", 1, when_flag=1), Field("flags", 1)), flags_field="flags")
    with pytest.raises(TypeError, match="no flags field declared"):
        Record("bad", (Field("opt", 1, when_flag=1),))
    with pytest.raises(TypeError, match="duplicate"):
        Record("bad", (Field("a", 1), Field("a", 2)))


def test_unknown_tags_are_kept_and_written_back():
    body = (SubElement(Tag.UPGRADE_IMAGE, b"fw"), SubElement(0xF000, b"vendor"), SubElement(0x0003, b"i" * 16))
    image = OtaImage.build(body, manufacturer_code=1, image_type=2, file_version=3)
    again = OtaImage.from_bytes(image.to_bytes())
    assert [(e.tag, e.data) for e in again.elements] == [(0, b"fw"), (0xF000, b"vendor"), (3, b"i" * 16)]
    assert again.elements[1].name == "unknown_0xf000"
    assert again.to_bytes() == image.to_bytes()


# -- header fields on the wire -------------------------------------------------------------------


def test_header_with_all_optional_fields_is_69_bytes_in_spec_order():
    h = make_header(
        manufacturer_code=0x121D,
        image_type=0x0084,
        file_version=0xACDCACDC,
        header_string="abc",
        security_credential_version=0x03,
        destination=bytes.fromhex("000D6F000B123451"),
        hardware_range=(0x1111, 0x1211),
        body_size=10,
    )
    raw = encode_header(h)
    assert (MIN_HEADER_LENGTH, MAX_HEADER_LENGTH) == (56, 69)
    assert raw[:4] == bytes.fromhex("1EF1EE0B")
    assert raw[4:10] == bytes.fromhex("0001" "4500" "0700")  # version 0x0100, length 69, fc 7
    assert raw[10:14] == bytes.fromhex("1D128400")
    assert raw[14:18] == bytes.fromhex("DCACDCAC")
    assert raw[18:20] == bytes.fromhex("0200")
    assert raw[20:52] == b"abc".ljust(32, b"\0")
    assert raw[52:56] == (69 + 10).to_bytes(4, "little")
    assert raw[56] == 0x03
    assert raw[57:65] == bytes.fromhex("5134120B006F0D00")  # EUI-64 reversed on the wire
    assert raw[65:69] == bytes.fromhex("11111112")


def test_hardware_in_range_is_inclusive_and_open_without_a_range():
    h = make_header(manufacturer_code=1, image_type=1, file_version=1, body_size=0, hardware_range=(0x1111, 0x1211))
    assert [hardware_in_range(h, v) for v in (0x1110, 0x1111, 0x1200, 0x1211, 0x1212)] == [
        False, True, True, True, False,
    ]
    assert hardware_in_range(make_header(manufacturer_code=1, image_type=1, file_version=1, body_size=0), 0xFFFF)


# -- errors name the field and the byte offset ----------------------------------------------------


def _valid_gbcs_bytes() -> bytes:
    return OtaImage.build(
        GbcsUpgradeImage(b"M" * 100, bytes(range(64))),
        manufacturer_code=0x121D,
        image_type=0x0084,
        file_version=0x102,
        hardware_range=(0x1111, 0x1211),
    ).to_bytes()


def _patch(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


@pytest.mark.parametrize(
    ("mutate", "field", "offset", "words"),
    [
        (lambda d: _patch(d, 0, b"\0\0\0\0"), "header.magic", 0, "expected 0x0beef11e"),
        (lambda d: _patch(d, 4, b"\x00\x02"), "header.header_version", 4, "0x0200"),
        (lambda d: _patch(d, 6, b"\x38\x00"), "header.header_length", 6, "implies a 60-byte header"),
        (lambda d: _patch(d, 52, (10).to_bytes(4, "little")), "header.total_image_size", 52, "smaller"),
        (lambda d: _patch(d, 52, (10_000).to_bytes(4, "little")), "header.total_image_size", 52, "truncated"),
        (lambda d: d + b"extra", "header.total_image_size", 52, "5 more byte(s)"),
        (lambda d: d[:30], "header.header_string", 20, "data ends inside"),
        (lambda d: d[:56], "header.min_hardware_version", 56, "data ends before"),
        (lambda d: b"", "header.magic", 0, "data ends before"),
    ],
)
def test_malformed_files_name_the_field_and_offset(mutate, field, offset, words):
    with pytest.raises(OtaError) as info:
        OtaImage.from_bytes(mutate(_valid_gbcs_bytes()))
    assert (info.value.field, info.value.offset) == (field, offset)
    assert words in str(info.value)
    assert str(info.value).startswith(f"{field} at byte {offset}: ")


def test_an_element_running_past_the_image_names_its_length_field():
    image = OtaImage.build((SubElement(0, b"a" * 10), SubElement(6, b"b" * 4)), manufacturer_code=1,
                           image_type=1, file_version=1)
    data = bytearray(image.to_bytes())
    second = 56 + 6 + 10
    data[second + 2 : second + 6] = (5).to_bytes(4, "little")  # one more than the 4 bytes left
    with pytest.raises(OtaError) as info:
        OtaImage.from_bytes(bytes(data))
    assert (info.value.field, info.value.offset) == ("elements[1].length", second + 2)


def test_a_signed_gbcs_body_must_carry_the_0x40_length_octet():
    data = bytearray(_valid_gbcs_bytes())
    data[-65] = 0x41
    with pytest.raises(OtaError) as info:
        OtaImage.from_bytes(bytes(data), layout=Layout.GBCS, signed=True)
    assert (info.value.field, info.value.offset) == ("gbcs.signature_length", len(data) - 65)
    # Without the hint the trailer is not there, so the whole body is the manufacturer image.
    assert OtaImage.from_bytes(bytes(data)).gbcs.signed is False


def test_inconsistent_headers_cannot_be_built():
    with pytest.raises(OtaError, match="header.min_hardware_version: set, but field_control"):
        OtaHeader(header_length=56, field_control=0, manufacturer_code=1, image_type=1, file_version=1,
                  total_image_size=56, min_hardware_version=1, max_hardware_version=2)
    with pytest.raises(OtaError, match="header.header_length: field_control 0x0004 implies a 60-byte header"):
        OtaHeader(header_length=56, field_control=4, manufacturer_code=1, image_type=1, file_version=1,
                  total_image_size=56, min_hardware_version=1, max_hardware_version=2)
    with pytest.raises(OtaError, match="header.total_image_size: says 100"):
        OtaImage(make_header(manufacturer_code=1, image_type=1, file_version=1, body_size=44), ())
    with pytest.raises(OtaError, match="header.header_string: 33 bytes"):
        make_header(manufacturer_code=1, image_type=1, file_version=1, body_size=0, header_string=b"x" * 33)


# -- GBCS layout ---------------------------------------------------------------------------------


def test_gbcs_layout_is_header_then_image_then_force_replace_0x40_signature():
    signature = bytes(range(64))
    image = OtaImage.build(
        GbcsUpgradeImage(b"MANUFACTURER", signature, force_replace=1),
        manufacturer_code=0x121D, image_type=0x0084, file_version=0x102, hardware_range=(0x1111, 0x1211),
    )
    data = image.to_bytes()
    assert int.from_bytes(data[8:10], "little") == FieldControl.HARDWARE_VERSIONS == 0x0004
    assert data[60:] == b"MANUFACTURER" + b"\x01\x40" + signature
    decoded = OtaImage.from_bytes(data)
    assert decoded.layout is Layout.GBCS
    assert decoded.manufacturer_image == b"MANUFACTURER"
    assert decoded.signature == signature
    assert decoded.manufacturer_image_hash == hashlib.sha256(b"MANUFACTURER").digest()
    assert decoded.upgrade_image == data[60:]


def test_the_unsigned_reference_ppmid_shape_is_valid():
    # Shape of the RTDS SR 11.4 PPMID sample: 60-byte header, image, no supplier signature.
    mfr_image = b"PPMID reference firmware " * 20
    image = OtaImage.build(
        GbcsUpgradeImage(mfr_image), manufacturer_code=0x121D, image_type=0x0084,
        file_version=0xACDCACDC, hardware_range=(0x1111, 0x1211),
    )
    decoded = OtaImage.from_bytes(image.to_bytes())
    assert decoded.layout is Layout.GBCS
    assert decoded.signature is None
    assert decoded.manufacturer_image == mfr_image
    assert decoded.size == 60 + len(mfr_image)


def test_a_gbcs_shaped_header_over_sub_elements_reads_as_tagged():
    image = OtaImage.build((SubElement(0, b"fw"),), manufacturer_code=1, image_type=1, file_version=1,
                           hardware_range=(1, 2))
    assert OtaImage.from_bytes(image.to_bytes()).layout is Layout.TAGGED


# -- cross-checks with zigpy, both ways -------------------------------------------------------------


def _zigpy_header_fields(zh: zimage.OTAImageHeader) -> dict:
    return {
        "header_version": zh.header_version,
        "header_length": zh.header_length,
        "field_control": int(zh.field_control),
        "manufacturer_code": zh.manufacturer_id,
        "image_type": zh.image_type,
        "file_version": zh.file_version,
        "stack_version": zh.stack_version,
        "header_string": bytes(zh.header_string),
        "total_image_size": zh.image_size,
        "security_credential_version": zh.security_credential_version,
        "destination": bytes(zh.upgrade_file_destination)[::-1] if zh.upgrade_file_destination is not None else None,
        "min_hardware_version": zh.minimum_hardware_version,
        "max_hardware_version": zh.maximum_hardware_version,
    }


def _known_bits_only(h: OtaHeader) -> bool:
    return not h.field_control & ~0x7


@settings(max_examples=60)
@given(tagged_images())
def test_zigpy_reads_what_we_write(image):
    if not _known_bits_only(image.header):
        return  # zigpy's FieldControl is a bitmap of the three known bits only
    parsed, rest = zimage.OTAImage.deserialize(image.to_bytes())
    assert rest == b""
    assert _zigpy_header_fields(parsed.header) == image.header.as_dict()
    assert [(int(e.tag_id), bytes(e.data)) for e in parsed.subelements] == [(e.tag, e.data) for e in image.elements]


@settings(max_examples=60)
@given(
    st.fixed_dictionaries(
        {"fc": st.integers(0, 7), "mfr": u16, "type": u16, "ver": u32, "stack": u16,
         "string": st.binary(min_size=32, max_size=32), "cred": u8, "dest": st.binary(min_size=8, max_size=8),
         "hw": st.tuples(u16, u16)}
    ),
    st.lists(st.tuples(st.sampled_from(list(zimage.ElementTagId)), st.binary(max_size=100)), max_size=3),
)
def test_we_read_what_zigpy_writes(f, subs):
    fc = f["fc"]
    zsubs = [zimage.SubElement(tag_id=tag, data=zimage.LVBytes32(data)) for tag, data in subs]
    header_length = 56 + (1 if fc & 1 else 0) + (8 if fc & 2 else 0) + (4 if fc & 4 else 0)
    zh = zimage.OTAImageHeader(
        upgrade_file_id=zimage.OTAImageHeader.MAGIC_VALUE,
        header_version=0x0100,
        header_length=header_length,
        field_control=zimage.FieldControl(fc),
        manufacturer_id=f["mfr"],
        image_type=f["type"],
        file_version=f["ver"],
        stack_version=f["stack"],
        header_string=zimage.HeaderString(f["string"]),
        image_size=header_length + sum(6 + len(d) for _, d in subs),
        security_credential_version=f["cred"] if fc & 1 else None,
        upgrade_file_destination=zt.EUI64(f["dest"]) if fc & 2 else None,
        minimum_hardware_version=f["hw"][0] if fc & 4 else None,
        maximum_hardware_version=f["hw"][1] if fc & 4 else None,
    )
    data = zimage.OTAImage(header=zh, subelements=zsubs).serialize()
    ours = OtaImage.from_bytes(data, layout=Layout.TAGGED)
    assert ours.header.as_dict() == _zigpy_header_fields(zh)
    assert [(e.tag, e.data) for e in ours.elements] == [(int(t), d) for t, d in subs]
    assert ours.to_bytes() == data


@settings(max_examples=40)
@given(gbcs_images())
def test_zigpy_reads_our_gbcs_header(image):
    parsed, rest = zimage.OTAImageHeader.deserialize(image.to_bytes())
    assert _zigpy_header_fields(parsed) == image.header.as_dict()
    assert rest == image.gbcs.to_bytes()
