"""Install codes and secret references: checked at load time, described but never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.keys import check_install_code, crc16_x25, read_secret, resolve_reference, secret_hex

# (install code with CRC) from the project's security reference, section 1.2: IC-1 .. IC-7.
INSTALL_CODES = [
    "83FED3407A939723A5C639B26916D505C3B5",
    "11223344556677884AF7",
    "83FED3407A939738C552",
    "7A939723A5C639B269161802819B",
    "83FED3407A939723A5C639B269161802AEBB",
    "966B9F3EF98AE6059708",
    "83FED3407A932B70",
]


def test_crc16_x25_catalogue_check_value() -> None:
    assert crc16_x25(b"123456789") == 0x906E


@pytest.mark.parametrize("code", INSTALL_CODES)
def test_published_install_codes_pass(code: str) -> None:
    check_install_code(bytes.fromhex(code))


def test_bad_crc_is_rejected_without_showing_the_code() -> None:
    with pytest.raises(ValueError) as caught:
        check_install_code(bytes.fromhex("1122334455667788FFFF"))  # IC-N1: correct CRC is 4AF7
    assert "CRC is wrong" in str(caught.value)
    assert "1122" not in str(caught.value) and "ffff" not in str(caught.value).lower()


@pytest.mark.parametrize("length", [0, 7, 9, 16, 19])
def test_wrong_lengths_are_rejected(length: int) -> None:
    with pytest.raises(ValueError, match=f"install code has {length} bytes; expected 8, 10, 14 or 18"):
        check_install_code(bytes(length))


def test_hex_with_separators() -> None:
    assert secret_hex("83:FE d3-40", what="x") == bytes.fromhex("83FED340")
    with pytest.raises(ValueError, match="odd number of hex digits \\(3\\)"):
        secret_hex("83F", what="x")


def test_references(tmp_path: Path) -> None:
    (tmp_path / "key.hex").write_text("  00112233  \n")
    assert resolve_reference("file:key.hex", base_dir=tmp_path) == ("00112233", "file:key.hex")
    assert resolve_reference("env:K", base_dir=tmp_path, environ={"K": "AA"}) == ("AA", "env:K")
    assert resolve_reference("AABB", base_dir=tmp_path) == ("AABB", "inline")
    with pytest.raises(ValueError, match="'env:' must be followed by"):
        resolve_reference("env:", base_dir=tmp_path, environ={})


def test_read_secret_names_its_origin_in_errors_and_repr(tmp_path: Path) -> None:
    secret = read_secret("env:K", base_dir=tmp_path, length=2, environ={"K": "AABB"})
    assert secret.reveal() == b"\xaa\xbb" and "env:K" in repr(secret) and "aabb" not in repr(secret).lower()
    with pytest.raises(ValueError, match=r"^the value \(from env:K\) has 2 bytes; expected 16$"):
        read_secret("env:K", base_dir=tmp_path, length=16, environ={"K": "AABB"})
