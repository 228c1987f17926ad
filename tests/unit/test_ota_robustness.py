"""Malformed input never escapes as anything but OtaError: mutations and truncations of
valid images, and random bytes. A quick subset runs every time; ``-m long`` runs the
long version."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.ota import GbcsUpgradeImage, ImageFile, OtaError, OtaImage, SubElement, decode_image
from harness.ota.samples import SAMPLES, build_samples

_FILES = build_samples()
SEEDS = [_FILES[s.name] for s in SAMPLES if s.fault != "truncated"] + [
    OtaImage.build(
        (SubElement(0, b"firmware" * 8), SubElement(0xF000, b"x"), SubElement(5, bytes(80))),
        manufacturer_code=0x1234, image_type=0x42, file_version=7,
        security_credential_version=3, destination=bytes(8), hardware_range=(1, 2),
    ).to_bytes(),
    OtaImage.build(GbcsUpgradeImage(b"unsigned" * 10), manufacturer_code=0x121D, image_type=0x84,
                   file_version=0xACDCACDC, hardware_range=(0x1111, 0x1211)).to_bytes(),
]


@st.composite
def mangled(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "header"]))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if action == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif action == "set":
            data[pos] = draw(st.integers(0, 255))
        elif action == "truncate":
            del data[pos:]
        elif action == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        else:  # hit the header and size fields, where the interesting checks are
            pos = draw(st.integers(0, min(len(data), 69) - 1))
            data[pos] = draw(st.integers(0, 255))
    return bytes(data)


inputs = st.one_of(mangled(), st.binary(max_size=200), st.binary(min_size=56, max_size=80).map(
    lambda b: bytes.fromhex("1EF1EE0B0001") + b))


def _only_ota_errors(data: bytes, tmp_path) -> None:
    """Every entry point either succeeds consistently or raises OtaError."""
    try:
        image = OtaImage.from_bytes(data)
    except OtaError as exc:
        assert exc.field and exc.offset is not None, exc
        assert 0 <= exc.offset <= max(len(data), 1) + 69
    else:
        assert image.to_bytes() == data  # whatever decodes, re-encodes byte for byte
    try:
        decode_image(data)
    except OtaError:
        pass
    path = tmp_path / "fuzz.ota"
    path.write_bytes(data)
    try:
        with ImageFile.open(path) as f:
            assert f.load().to_bytes() == data
    except OtaError as exc:
        assert str(path) in str(exc)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(inputs)
def test_malformed_input_raises_only_ota_error(tmp_path, data):
    _only_ota_errors(data, tmp_path)


@pytest.fixture
def long_run_selected(request) -> None:
    """Run the long test only when ``-m`` selects it, even where ``long`` is not deselected
    by configuration (e.g. a run with plugins disabled)."""
    markexpr = request.config.getoption("markexpr", "") or ""
    if "long" not in markexpr or "not long" in markexpr:
        pytest.skip("long run: select it with -m long")


@pytest.mark.long
@settings(max_examples=20_000, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(data=inputs)
def test_malformed_input_raises_only_ota_error_long(long_run_selected, tmp_path, data):
    _only_ota_errors(data, tmp_path)


@pytest.mark.parametrize("sample", [s for s in SAMPLES], ids=lambda s: s.name)
def test_every_truncation_of_every_sample_is_an_ota_error(sample):
    data = _FILES[sample.name]
    for cut in range(0, len(data), 7):
        with pytest.raises(OtaError):
            OtaImage.from_bytes(data[:cut])
