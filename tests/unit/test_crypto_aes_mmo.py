"""AES-MMO, HMAC-AES-MMO and install-code link keys against the published known answers.

Vectors: Zigbee 05-3474 Annex C.5 (hash) and C.6 (HMAC), the CRC-16/X-25 catalogue check and
the install-code examples of zigpy, zsmartsystems and ZBOSS, as collected in the security
test-vector notes §1-§2. IC-6's key and IC-7 are computed values (regression only).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.crypto.aes_mmo import (
    AesMmo,
    add_install_code_crc,
    aes_mmo_hash,
    check_install_code,
    crc16_x25,
    hmac_aes_mmo,
    install_code_link_key,
    verify_hmac_aes_mmo,
)
from harness.crypto.errors import InstallCodeError
from harness.secret import Secret

H = bytes.fromhex


def _sequence(length: int) -> bytes:
    """The long-message input of C.5.3-C.5.6: byte i is i mod 256."""
    return bytes(i % 256 for i in range(length))


@pytest.mark.parametrize(
    ("message", "digest"),
    [
        pytest.param(H("C0"), "AE3A102A28D43EE0D4A09E22788B206C", id="C.5.1-one-byte"),
        pytest.param(H("C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF"), "A7977E88BC0B61E8210827109A228F2D", id="C.5.2-one-block"),
        pytest.param(_sequence(8191), "24EC2FE75BBFFCB34789BC0610E7F165", id="C.5.3-8191-last-short-form"),
        pytest.param(_sequence(8192), "DC6B0687F09F8607131C170B3BD31591", id="C.5.4-8192-first-long-form"),
        pytest.param(_sequence(8201), "72C9B15E178AA843E4A16C58E33643A3", id="C.5.5-8201"),
        pytest.param(_sequence(8202), "BC9828D59B2AA323DAF20BE5F2E66511", id="C.5.6-8202"),
    ],
)
def test_aes_mmo_hash_matches_annex_c5(message: bytes, digest: str) -> None:
    assert aes_mmo_hash(message) == H(digest)


@pytest.mark.parametrize(
    ("key", "message", "mac"),
    [
        pytest.param("404142434445464748494A4B4C4D4E4F", "C0", "4512807BF94CB3400F0E2C25FB76E999", id="C.6.1"),
        pytest.param(
            "404142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F",
            "C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF",
            "A3B0079984BF1557F74A0D6387E0A11A",
            id="C.6.2-long-key-hashed-first",
        ),
    ],
)
def test_hmac_aes_mmo_matches_annex_c6(key: str, message: str, mac: str) -> None:
    assert hmac_aes_mmo(H(key), H(message)) == H(mac)
    assert verify_hmac_aes_mmo(H(key), H(message), H(mac))
    assert not verify_hmac_aes_mmo(H(key), H(message) + b"\x00", H(mac))


def test_message_longer_than_the_padding_allows_is_refused() -> None:
    hasher = AesMmo()
    hasher._length = 1 << 29  # 2**32 bits; the padding has no form for it (§B.6)
    with pytest.raises(ValueError, match="too long"):
        hasher.digest()


@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=100), cut=st.integers(min_value=0, max_value=100))
def test_incremental_hash_equals_one_shot(data: bytes, cut: int) -> None:
    hasher = AesMmo(data[:cut])
    hasher.update(data[cut:])
    assert hasher.digest() == aes_mmo_hash(data)
    assert hasher.digest() == aes_mmo_hash(data)  # digest() leaves the hasher usable


def test_crc16_x25_catalogue_check_value() -> None:
    assert crc16_x25(H("313233343536373839")) == 0x906E  # ASCII "123456789"
    assert crc16_x25(b"123456789").to_bytes(2, "little") == H("6E90")


INSTALL_CODES = [
    # (name, install code without CRC, CRC as appended (low byte first), link key)
    ("IC-1-16-byte", "83FED3407A939723A5C639B26916D505", "C3B5", "66B6900981E1EE3CA4206B6B861C02BB"),
    ("IC-2-8-byte", "1122334455667788", "4AF7", "41618FC0C83B0E14A589954B16E31466"),
    ("IC-3-8-byte", "83FED3407A939738", "C552", "A833A77434F3BFBD7A7AB97942149287"),
    ("IC-4-12-byte", "7A939723A5C639B269161802", "819B", "F93903721685FD329D26849B90F2959A"),
    ("IC-5-16-byte", "83FED3407A939723A5C639B269161802", "AEBB", "333C23686079468EB27BA24BD9C7E564"),
    ("IC-6-8-byte-computed-key", "966B9F3EF98AE605", "9708", "CA48267EF8A76B6B4091044190B4FAF1"),
    ("IC-7-6-byte-computed", "83FED3407A93", "2B70", "CD4FA064773F46941EC986C09963D1A8"),
]


@pytest.mark.parametrize(("code", "crc", "link_key"), [v[1:] for v in INSTALL_CODES], ids=[v[0] for v in INSTALL_CODES])
def test_install_code_gives_published_link_key(code: str, crc: str, link_key: str) -> None:
    labelled = H(code + crc)
    assert add_install_code_crc(H(code)) == labelled
    key = install_code_link_key(labelled)
    assert isinstance(key, Secret)
    assert key.reveal() == H(link_key)
    # The rig hands install codes over as Secrets; the result must not depend on the wrapping.
    assert install_code_link_key(Secret(labelled, origin="env:IC")).reveal() == H(link_key)


def test_install_code_with_bad_crc_is_refused_without_showing_the_code() -> None:
    bad = H("1122334455667788FFFF")  # IC-N1: the correct CRC is 4AF7
    with pytest.raises(InstallCodeError, match="CRC") as caught:
        install_code_link_key(Secret(bad))
    message = str(caught.value)
    for secret_part in ("1122334455667788", "FFFF", "ffff", "4AF7", "4af7"):
        assert secret_part not in message


@pytest.mark.parametrize("length", [0, 1, 7, 9, 16, 19, 20])
def test_install_code_of_impossible_length_is_refused(length: int) -> None:
    with pytest.raises(InstallCodeError, match=f"{length} bytes"):
        check_install_code(bytes(length))


def test_install_code_as_text_is_refused() -> None:
    with pytest.raises(InstallCodeError, match="bytes, not text"):
        check_install_code(Secret("83FED3407A939723A5C639B26916D505C3B5"))


def test_link_key_repr_keeps_the_key_hidden() -> None:
    key = install_code_link_key(H("83FED3407A939723A5C639B26916D505C3B5"))
    assert "66B69009" not in repr(key).upper()
    assert "66B69009" not in f"{key}".upper()
