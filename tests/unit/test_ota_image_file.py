"""ImageFile: a checked, memory-mapped file served by offset."""

from __future__ import annotations

import hashlib

import pytest

from harness.ota import ImageFile, Layout, OtaError, OtaImage, SignatureStatus, SubElement, verify
from harness.ota.samples import build_samples

FILES = build_samples()
PUBLIC_PEM = FILES["keys/TEST-ONLY-supplier-public.pem"]


@pytest.fixture
def next_file(tmp_path):
    path = tmp_path / "ppmid-next.ota"
    path.write_bytes(FILES["ppmid-next.ota"])
    return path


def test_reads_by_offset_match_the_file_in_40_byte_blocks(next_file):
    data = next_file.read_bytes()
    with ImageFile.open(next_file) as f:
        blocks = [f.read(offset, 40) for offset in range(0, f.size, 40)]
        assert f.read(f.size, 40) == b""
        assert f.read(f.size - 3, 40) == data[-3:]
    assert b"".join(blocks) == data
    assert all(len(b) == 40 for b in blocks[:-1])


def test_exposes_header_hashes_and_gbcs_parts(next_file):
    data = next_file.read_bytes()
    image = OtaImage.from_bytes(data)
    with ImageFile.open(next_file) as f:
        assert f.path == next_file
        assert f.header == image.header
        assert (f.size, f.layout) == (len(data), Layout.GBCS)
        assert f.sha256 == hashlib.sha256(data).hexdigest() == image.sha256
        assert f.manufacturer_image == image.manufacturer_image
        assert f.manufacturer_image_hash == image.manufacturer_image_hash
        assert f.manufacturer_image_span == (60, len(image.manufacturer_image))
        assert f.signature == image.signature
        assert f.load() == image
        assert verify(f, PUBLIC_PEM) is SignatureStatus.VALID


def test_bad_signature_file_verifies_invalid(tmp_path):
    path = tmp_path / "bad.ota"
    path.write_bytes(FILES["ppmid-bad-signature.ota"])
    with ImageFile.open(path) as f:
        assert verify(f, PUBLIC_PEM) is SignatureStatus.INVALID


def test_tagged_files_list_their_elements_without_loading_them(tmp_path):
    image = OtaImage.build((SubElement(0, b"a" * 100), SubElement(0xF000, b"b" * 5)),
                           manufacturer_code=1, image_type=2, file_version=3)
    path = tmp_path / "tagged.ota"
    path.write_bytes(image.to_bytes())
    with ImageFile.open(path) as f:
        assert f.layout is Layout.TAGGED
        assert [(s.tag, s.offset, s.length) for s in f.element_spans] == [(0, 62, 100), (0xF000, 168, 5)]
        assert f.manufacturer_image is None and f.signature is None
        assert verify(f, PUBLIC_PEM) is SignatureStatus.ABSENT
        assert f.load() == image


@pytest.mark.parametrize(
    ("content", "field", "offset"),
    [
        (FILES["ppmid-truncated.ota"], "header.total_image_size", 52),
        (FILES["ppmid-next.ota"] + b"\0", "header.total_image_size", 52),
        (FILES["ppmid-next.ota"][:40], "header.header_string", 20),
        (b"", "header.magic", 0),
        (b"not an ota file at all, just text" * 3, "header.magic", 0),
    ],
    ids=["truncated", "trailing", "short-header", "empty", "text"],
)
def test_malformed_files_raise_ota_error_naming_the_file(tmp_path, content, field, offset):
    path = tmp_path / "bad.ota"
    path.write_bytes(content)
    with pytest.raises(OtaError) as info:
        ImageFile.open(path)
    assert (info.value.field, info.value.offset) == (field, offset)
    assert str(info.value).startswith(f"{path}: {field} at byte {offset}: ")


def test_reading_outside_the_image_is_a_value_error(next_file):
    with ImageFile.open(next_file) as f:
        with pytest.raises(ValueError, match="outside"):
            f.read(f.size + 1, 40)
        with pytest.raises(ValueError, match="outside"):
            f.read(-1, 40)
