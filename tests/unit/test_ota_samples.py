"""firmware_images/: the committed samples are what build-samples makes, and each one is
what its name says."""

from __future__ import annotations

from pathlib import Path

import pytest
from zigpy.ota.image import OTAImageHeader

from harness.ota import Layout, OtaError, OtaImage, SignatureStatus, hardware_in_range, verify
from harness.ota.samples import SAMPLES, build_samples

IMAGES_DIR = Path(__file__).resolve().parents[2] / "firmware_images"
FILES = build_samples()
PUBLIC_PEM = FILES["keys/TEST-ONLY-supplier-public.pem"]
REQUIRED = [
    "ihd-current.ota", "ihd-next.ota", "ppmid-current.ota", "ppmid-next.ota", "ppmid-previous.ota",
    "ppmid-other-manufacturer.ota", "ppmid-other-image-type.ota", "ppmid-hw-out-of-range.ota", "ppmid-bad-signature.ota",
    "ppmid-truncated.ota",
]


def _load(name: str) -> OtaImage:
    return OtaImage.from_bytes(FILES[name])


def test_rebuilding_gives_byte_identical_files():
    assert build_samples() == FILES


@pytest.mark.parametrize("name", sorted(FILES))
def test_committed_file_matches_a_fresh_build(name):
    assert (IMAGES_DIR / name).read_bytes() == FILES[name], "run: harness image build-samples"


def test_the_rig_files_names_all_exist():
    assert sorted(s.name for s in SAMPLES) == sorted(REQUIRED)


@pytest.mark.parametrize(
    ("name", "mfr", "image_type", "version", "hw"),
    [
        ("ppmid-current.ota", 0x121D, 0x0084, 0x101, (0x1111, 0x1211)),
        ("ppmid-next.ota", 0x121D, 0x0084, 0x102, (0x1111, 0x1211)),
        ("ppmid-previous.ota", 0x121D, 0x0084, 0x100, (0x1111, 0x1211)),
        ("ihd-current.ota", 0x1234, 0x0042, 0x101, (0x0001, 0x00FF)),
        ("ihd-next.ota", 0x1234, 0x0042, 0x102, (0x0001, 0x00FF)),
    ],
)
def test_good_samples_are_signed_gbcs_images_with_the_profile_identity(name, mfr, image_type, version, hw):
    image = _load(name)
    h = image.header
    assert (h.manufacturer_code, h.image_type, h.file_version) == (mfr, image_type, version)
    assert (h.min_hardware_version, h.max_hardware_version) == hw
    assert (image.layout, h.header_length, h.field_control) == (Layout.GBCS, 60, 0x0004)
    assert verify(image, PUBLIC_PEM) is SignatureStatus.VALID
    assert 2048 <= image.size <= 6 * 1024 + 200


def test_fault_samples_have_exactly_their_fault():
    next_ = _load("ppmid-next.ota").header
    other = _load("ppmid-other-manufacturer.ota")
    assert other.header.manufacturer_code != next_.manufacturer_code
    assert (other.header.image_type, other.header.file_version) == (next_.image_type, next_.file_version)
    assert verify(other, PUBLIC_PEM) is SignatureStatus.VALID

    out = _load("ppmid-hw-out-of-range.ota")
    assert not any(hardware_in_range(out.header, hw) for hw in (0x1111, 0x1200, 0x1211))
    assert hardware_in_range(next_, 0x1111)
    assert verify(out, PUBLIC_PEM) is SignatureStatus.VALID

    bad = _load("ppmid-bad-signature.ota")
    assert bad.header == next_ and bad.signature is not None
    assert verify(bad, PUBLIC_PEM) is SignatureStatus.INVALID

    truncated = FILES["ppmid-truncated.ota"]
    header, _ = OTAImageHeader.deserialize(truncated)  # the header itself is intact
    assert len(truncated) < header.image_size == next_.total_image_size
    with pytest.raises(OtaError, match="total_image_size"):
        OtaImage.from_bytes(truncated)


def test_readme_describes_every_sample_and_marks_the_key_test_only():
    readme = (IMAGES_DIR / "README.md").read_text()
    for name in REQUIRED:
        assert name in readme
    assert "TEST-ONLY" in readme and "harness image build-samples" in readme
    assert (IMAGES_DIR / "keys" / "TEST-ONLY-supplier-private.pem").exists()
