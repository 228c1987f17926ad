"""GF(2^m) and Koblitz-curve arithmetic for sect163k1 / sect283k1 (security test-vector notes §3).

The Montgomery ladder is checked against the plain affine group law, which is simple enough
to check by eye against SEC 1 §2.2.2; both are checked against the SEC 2 domain parameters
(G on the curve, n*G = O) and the published compressed encodings.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.crypto.binary_curve import SECT163K1, SECT283K1, BinaryCurve, BinaryField, Point
from harness.crypto.errors import PointFormatError

H = bytes.fromhex
CURVES = [pytest.param(SECT163K1, id="sect163k1"), pytest.param(SECT283K1, id="sect283k1")]


def test_domain_parameters_are_those_of_sec2() -> None:
    assert SECT163K1.field.modulus == (1 << 163) | (1 << 7) | (1 << 6) | (1 << 3) | 1
    assert (SECT163K1.a, SECT163K1.b, SECT163K1.h) == (1, 1, 2)
    assert SECT163K1.n == 0x04000000000000000000020108A2E0CC0D99F8A5EF
    assert SECT283K1.field.modulus == (1 << 283) | (1 << 12) | (1 << 7) | (1 << 5) | 1
    assert (SECT283K1.a, SECT283K1.b, SECT283K1.h) == (0, 1, 4)
    assert SECT283K1.n == 0x01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFE9AE2ED07577265DFF7F94451E061E163C61
    assert SECT163K1.g == Point(0x02FE13C0537BBC11ACAA07D793DE4E6D5E5C94EEE8, 0x0289070FB05D38FF58321F2E800536D538CCDAA3D9)
    assert SECT283K1.g == Point(
        0x0503213F78CA44883F1A3B8162F188E553CD265F23C1567A16876913B0C2AC2458492836,
        0x01CCDA380F1C9E318D90F95D07E5426FE87E45C0E8184698E45962364E34116177DD2259,
    )
    assert (SECT163K1.scalar_length, SECT283K1.scalar_length) == (21, 36)
    assert (SECT163K1.compressed_length, SECT283K1.compressed_length) == (22, 37)


@pytest.mark.parametrize(
    ("curve", "g_comp"),
    [
        pytest.param(SECT163K1, "0302FE13C0537BBC11ACAA07D793DE4E6D5E5C94EEE8", id="sect163k1"),
        pytest.param(SECT283K1, "020503213F78CA44883F1A3B8162F188E553CD265F23C1567A16876913B0C2AC2458492836", id="sect283k1"),
    ],
)
def test_base_point_has_order_n_and_published_encoding(curve: BinaryCurve, g_comp: str) -> None:
    assert curve.is_on_curve(curve.g)
    assert curve.multiply(curve.n, curve.g) is None
    assert curve.multiply(curve.n - 1, curve.g) == curve.negate(curve.g)
    assert curve.encode_point(curve.g) == H(g_comp)
    assert curve.decode_point(H(g_comp)) == curve.g


def test_compressed_prefix_comes_from_y_over_x_not_from_y() -> None:
    # The CS1 test CA key: y is odd, yet the prefix is 02 because the low bit of y/x is 0 (SEC 1 §2.3.3).
    point = SECT163K1.decode_point(H("0200FDE8A7F3D1084224962A4E7C54E69AC3F04DA6B8"))
    assert point.x == 0x00FDE8A7F3D1084224962A4E7C54E69AC3F04DA6B8
    assert point.y == 0x05EB72EAAF6505BA6D195DAE5CAE6BE44CE9565B65
    assert point.y & 1 == 1
    assert SECT163K1.encode_point(point) == H("0200FDE8A7F3D1084224962A4E7C54E69AC3F04DA6B8")


@pytest.mark.parametrize("curve", CURVES)
def test_ladder_agrees_with_repeated_affine_addition(curve: BinaryCurve) -> None:
    total = None
    for k in range(1, 25):
        total = curve.add(total, curve.g)
        assert curve.multiply(k, curve.g) == total
    assert curve.multiply(0, curve.g) is None
    assert curve.multiply(-3, curve.g) == curve.negate(curve.multiply(3, curve.g))


@pytest.mark.parametrize("curve", CURVES)
def test_group_law_special_cases(curve: BinaryCurve) -> None:
    g = curve.g
    assert curve.add(None, g) == g and curve.add(g, None) == g
    assert curve.add(g, curve.negate(g)) is None
    assert curve.add(g, g) == curve.double(g)
    # (0, sqrt(b)) is the curve's point of order 2: its own negative.
    two_torsion = curve.point(0, 1)
    assert curve.double(two_torsion) is None
    assert curve.multiply(5, two_torsion) == two_torsion
    assert curve.multiply(6, two_torsion) is None
    assert not curve.in_subgroup(two_torsion)
    assert curve.in_subgroup(g)


def test_ladder_handles_points_of_small_order() -> None:
    # sect283k1 has cofactor 4: (1, 0) has order 4 (2*(1, 0) = (0, 1)). ECMQV multiplies by the
    # cofactor precisely to annihilate such components, so the ladder must get them right.
    order4 = SECT283K1.point(1, 0)
    assert SECT283K1.double(order4) == SECT283K1.point(0, 1)
    total = None
    for k in range(1, 10):
        total = SECT283K1.add(total, order4)
        assert SECT283K1.multiply(k, order4) == total
    assert SECT283K1.multiply(SECT283K1.h, SECT283K1.add(SECT283K1.g, order4)) == SECT283K1.multiply(4, SECT283K1.g)


@settings(max_examples=6, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("curve", CURVES)
def test_scalar_multiplication_is_linear(curve: BinaryCurve, data: st.DataObject) -> None:
    a = data.draw(st.integers(min_value=1, max_value=curve.n - 1))
    b = data.draw(st.integers(min_value=1, max_value=curve.n - 1))
    assert curve.add(curve.multiply(a, curve.g), curve.multiply(b, curve.g)) == curve.multiply(a + b, curve.g)


@settings(max_examples=8, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("curve", CURVES)
def test_compress_decompress_round_trip(curve: BinaryCurve, data: st.DataObject) -> None:
    point = curve.multiply(data.draw(st.integers(min_value=1, max_value=curve.n - 1)), curve.g)
    assert point is not None and curve.is_on_curve(point)
    compressed = curve.encode_point(point)
    assert len(compressed) == curve.compressed_length and compressed[0] in (2, 3)
    assert curve.decode_point(compressed) == point
    assert curve.decode_point(curve.encode_point(point, compressed=False)) == point
    # The other prefix selects the other root, which is -P.
    assert curve.decode_point(bytes([compressed[0] ^ 1]) + compressed[1:]) == curve.negate(point)


@pytest.mark.parametrize("curve", CURVES)
def test_field_inverse_square_root_and_half_trace(curve: BinaryCurve) -> None:
    field = curve.field
    a = curve.g.x
    assert field.mul(a, field.inv(a)) == 1
    assert field.sqr(field.sqrt(a)) == a
    beta = field.sqr(a) ^ a  # has a root, so trace 0
    z = field.half_trace(beta)
    assert field.sqr(z) ^ z == beta
    assert field.trace(beta) == 0
    with pytest.raises(ZeroDivisionError):
        field.inv(0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(H("12") + bytes(36), "format byte 0x12", id="bad-format-byte"),
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"\x00", "point at infinity", id="infinity"),
        pytest.param(H("02") + bytes(35), "36 bytes, expected 37", id="short-compressed"),
        pytest.param(H("04") + bytes(71), "72 bytes, expected 73", id="short-uncompressed"),
        pytest.param(H("02") + b"\x08" + bytes(35), "bits set above", id="x-not-a-field-element"),
        pytest.param(H("04") + bytes(35) + b"\x01" + bytes(35) + b"\x02", "not a point", id="uncompressed-off-curve"),
    ],
)
def test_malformed_points_are_refused_with_the_reason(data: bytes, message: str) -> None:
    with pytest.raises(PointFormatError, match=message):
        SECT283K1.decode_point(data, what="test key")


@pytest.mark.parametrize("curve", CURVES)
def test_x_coordinate_of_no_point_is_refused(curve: BinaryCurve) -> None:
    # About half of all x have no point; find one (the trace of x + a + b/x^2 is 1).
    field = curve.field
    x = next(
        x for x in range(2, 100) if field.trace(x ^ curve.a ^ field.mul(curve.b, field.sqr(field.inv(x)))) == 1
    )
    with pytest.raises(PointFormatError, match="no point"):
        curve.decode_point(b"\x02" + field.to_bytes(x))


def test_point_constructor_checks_the_equation() -> None:
    with pytest.raises(PointFormatError, match="not on the curve"):
        SECT283K1.point(1, 2)
    assert not SECT283K1.is_on_curve(Point(1 << 283, 0))  # not even a field element


def test_field_refuses_degrees_this_module_cannot_decompress_on() -> None:
    with pytest.raises(ValueError, match="odd"):
        BinaryField(162, (7, 6, 3, 0))
