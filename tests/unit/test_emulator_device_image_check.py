"""The device's own image check: zigpy parses the header, cryptography checks the signature."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from zigpy.ota.image import ElementTagId, FieldControl, HeaderString, OTAImage, OTAImageHeader, SubElement

from harness.emulator.devices.image_check import (
    DeviceIdentity,
    Layout,
    Offer,
    ProblemKind,
    check_image,
    split_gbcs_upgrade_image,
)

MFR, TYPE, VERSION, HW = 0x121D, 0x0084, 0x00000102, 0x1111


def header(payload_len: int, *, manufacturer=MFR, hw=(0x1111, 0x1211), length_delta=0) -> OTAImageHeader:
    return OTAImageHeader(
        upgrade_file_id=OTAImageHeader.MAGIC_VALUE,
        header_version=0x0100,
        header_length=60,
        field_control=FieldControl.HARDWARE_VERSIONS_PRESENT,
        manufacturer_id=manufacturer,
        image_type=TYPE,
        file_version=VERSION,
        stack_version=2,
        header_string=HeaderString("x"),
        image_size=60 + payload_len + length_delta,
        minimum_hardware_version=hw[0],
        maximum_hardware_version=hw[1],
    )


def offer_for(data: bytes, **overrides: int) -> Offer:
    values = dict(manufacturer_code=MFR, image_type=TYPE, file_version=VERSION, image_size=len(data)) | overrides
    return Offer(**values)


def me(pem: bytes | None = None, *, require: bool = False, hw: int = HW) -> DeviceIdentity:
    return DeviceIdentity(MFR, TYPE, hw, bytes(8), supplier_key_pem=pem, require_signature=require)


@pytest.fixture(scope="module")
def keys():
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, pem


def signed(private, body: bytes = b"firmware" * 20) -> bytes:
    r, s = decode_dss_signature(private.sign(body, ec.ECDSA(hashes.SHA256())))
    upgrade = body + b"\x00\x40" + r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return header(len(upgrade)).serialize() + upgrade


def tagged(**hdr) -> bytes:
    element = SubElement(tag_id=ElementTagId.UPGRADE_IMAGE, data=b"\x01\x02" * 50)
    return OTAImage(header=header(len(element.serialize()), **hdr), subelements=[element]).serialize()


def test_tagged_image_is_valid() -> None:
    data = tagged()
    verdict = check_image(data, offer_for(data), me())
    assert verdict.ok and verdict.layout is Layout.TAGGED


def test_gbcs_signature_verifies_and_a_flipped_bit_does_not(keys) -> None:
    private, pem = keys
    data = signed(private)
    assert check_image(data, offer_for(data), me(pem, require=True)).layout is Layout.GBCS_SIGNED
    assert check_image(data, offer_for(data), me(pem, require=True)).ok
    corrupted = data[:70] + bytes([data[70] ^ 1]) + data[71:]
    verdict = check_image(corrupted, offer_for(corrupted), me(pem, require=True))
    assert not verdict.ok and not verdict.only_foreign and "signature" in verdict.describe()


def test_signature_by_another_key_is_refused(keys) -> None:
    private, _pem = keys
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    other_pem = other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    data = signed(private)
    assert not check_image(data, offer_for(data), me(other_pem)).ok


def test_split_gbcs_upgrade_image() -> None:
    payload = b"M" * 10 + b"\x01\x40" + b"S" * 64
    assert split_gbcs_upgrade_image(payload) == (b"M" * 10, 1, b"S" * 64)
    assert split_gbcs_upgrade_image(b"M" * 80) is None


def test_unsigned_gbcs_image_is_refused_only_when_a_signature_is_required(keys) -> None:
    _private, pem = keys
    body = b"plain manufacturer image"
    data = header(len(body)).serialize() + body
    assert check_image(data, offer_for(data), me(pem)).layout is Layout.GBCS_UNSIGNED
    assert check_image(data, offer_for(data), me(pem)).ok
    assert not check_image(data, offer_for(data), me(pem, require=True)).ok


def test_truncated_image_and_offer_mismatch_are_integrity_problems() -> None:
    data = tagged()
    truncated = data[:-5]
    verdict = check_image(truncated, offer_for(truncated), me())
    assert not verdict.ok and all(p.kind is ProblemKind.INTEGRITY for p in verdict.problems)
    verdict = check_image(data, offer_for(data, file_version=VERSION + 1), me())
    assert "file version" in verdict.describe()
    verdict = check_image(b"\x00" * 80, offer_for(b"\x00" * 80), me())
    assert verdict.layout is Layout.UNKNOWN and "header" in verdict.describe()


@pytest.mark.parametrize(("hdr", "device_hw", "word"), [(dict(manufacturer=0x1234), HW, "manufacturer"), ({}, 0x2000, "hardware")])
def test_foreign_images_are_foreign_problems(hdr: dict, device_hw: int, word: str) -> None:
    data = tagged(**hdr)
    offer = offer_for(data, manufacturer_code=hdr.get("manufacturer", MFR))
    verdict = check_image(data, offer, me(hw=device_hw))
    assert verdict.only_foreign and word in verdict.describe()


def test_project_sample_images_if_present() -> None:
    """The ota owner's reference images, judged by the device's independent check."""
    from pathlib import Path

    images = Path(__file__).resolve().parents[2] / "firmware_images"
    pem = (images / "keys" / "TEST-ONLY-supplier-public.pem")
    if not pem.exists() or not (images / "ppmid-next.ota").exists():
        pytest.skip("firmware_images/ not built")
    key = pem.read_bytes()
    ppmid = DeviceIdentity(0x121D, 0x0084, 0x1111, bytes(8), supplier_key_pem=key, require_signature=False)
    good = (images / "ppmid-next.ota").read_bytes()
    header_obj, _ = OTAImageHeader.deserialize(good)
    offer = Offer(header_obj.manufacturer_id, header_obj.image_type, header_obj.file_version, len(good))
    assert check_image(good, offer, ppmid).ok
    bad = (images / "ppmid-bad-signature.ota").read_bytes()
    bad_header, _ = OTAImageHeader.deserialize(bad)
    verdict = check_image(bad, Offer(bad_header.manufacturer_id, bad_header.image_type, bad_header.file_version, len(bad)), ppmid)
    assert not verdict.ok and "signature" in verdict.describe()
