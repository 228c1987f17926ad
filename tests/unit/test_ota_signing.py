"""Supplier signatures: ECDSA P-256/SHA-256, raw r||s, deterministic."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from harness.ota import GbcsUpgradeImage, OtaError, OtaImage, SignatureStatus, SubElement, sign, verify
from harness.ota.samples import supplier_key_pair
from harness.ota.signing import load_private_key, sign_manufacturer_image, verify_bytes
from harness.secret import Secret

PRIVATE_PEM, PUBLIC_PEM = supplier_key_pair()


def _other_key_pair(curve: ec.EllipticCurve | None = None) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(curve or ec.SECP256R1())
    return (
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()),
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    )


def _image(body: GbcsUpgradeImage) -> OtaImage:
    return OtaImage.build(body, manufacturer_code=0x121D, image_type=0x84, file_version=0x102,
                          hardware_range=(0x1111, 0x1211))


def test_signature_is_raw_r_s_and_verifies_with_the_standard_library():
    signature = sign(b"manufacturer image", PRIVATE_PEM)
    assert len(signature) == 64
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    public = serialization.load_pem_public_key(PUBLIC_PEM)
    public.verify(utils.encode_dss_signature(r, s), b"manufacturer image", ec.ECDSA(hashes.SHA256()))


def test_signing_is_deterministic_so_rebuilt_images_are_identical():
    assert sign(b"abc", PRIVATE_PEM) == sign(b"abc", PRIVATE_PEM)
    assert sign(b"abc", PRIVATE_PEM) != sign(b"abd", PRIVATE_PEM)


def test_verify_reports_valid_invalid_and_absent():
    signed = _image(sign_manufacturer_image(b"firmware" * 50, Secret(PRIVATE_PEM)))
    assert verify(signed, PUBLIC_PEM) is SignatureStatus.VALID
    tampered = _image(GbcsUpgradeImage(b"firmware" * 49 + b"FIRMWARE", signed.signature))
    assert verify(tampered, PUBLIC_PEM) is SignatureStatus.INVALID
    assert verify(signed, _other_key_pair()[1]) is SignatureStatus.INVALID
    assert verify(_image(GbcsUpgradeImage(b"unsigned")), PUBLIC_PEM) is SignatureStatus.ABSENT
    tagged = OtaImage.build((SubElement(0, b"fw"),), manufacturer_code=1, image_type=1, file_version=1)
    assert verify(tagged, PUBLIC_PEM) is SignatureStatus.ABSENT


def test_a_garbage_signature_is_invalid_not_an_exception():
    assert verify(_image(GbcsUpgradeImage(b"x", b"\xff" * 64)), PUBLIC_PEM) is SignatureStatus.INVALID
    assert verify(_image(GbcsUpgradeImage(b"x", bytes(64))), PUBLIC_PEM) is SignatureStatus.INVALID
    assert verify_bytes(b"x", b"short", PUBLIC_PEM) is False


def test_keys_on_other_curves_and_non_keys_are_rejected_without_echoing_them():
    p384_private, p384_public = _other_key_pair(ec.SECP384R1())
    with pytest.raises(OtaError, match="P-256.*secp384r1"):
        sign(b"x", p384_private)
    with pytest.raises(OtaError, match="P-256.*secp384r1"):
        verify(_image(GbcsUpgradeImage(b"x", bytes(64))), p384_public)
    secret_looking = b"-----BEGIN PRIVATE KEY-----\nTOPSECRETMATERIAL\n-----END PRIVATE KEY-----\n"
    with pytest.raises(OtaError) as info:
        load_private_key(Secret(secret_looking))
    assert "TOPSECRET" not in str(info.value)
    assert info.value.field == "signing.private_key"


def test_deterministic_signing_is_available_in_the_installed_cryptography():
    # RFC 6979 arrived in cryptography 42; the sample images depend on it.
    key = load_private_key(PRIVATE_PEM)
    a = key.sign(b"m", ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    assert a == key.sign(b"m", ec.ECDSA(hashes.SHA256(), deterministic_signing=True))


def test_signing_a_digest_equals_signing_the_data():
    import hashlib

    from harness.ota.signing import sign_digest

    data = b"large image chunk" * 1000
    assert sign_digest(hashlib.sha256(data).digest(), PRIVATE_PEM) == sign(data, PRIVATE_PEM)
