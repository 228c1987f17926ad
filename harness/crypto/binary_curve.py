"""Elliptic curves over GF(2^m): the Koblitz curves sect163k1 and sect283k1 of Smart Energy CBKE.

Crypto Suite 1 uses sect163k1 and Crypto Suite 2 (the suite GB devices use) sect283k1
(SEC 2 v2.0 §3.2). ``cryptography`` no longer ships binary curves, so this module provides:

* :class:`BinaryField`: GF(2^m) in a polynomial basis. An element is a Python ``int`` whose
  bit i is the coefficient of x^i, so addition is XOR and the arbitrary-precision integer
  operations do the word-level work in C.
* :class:`BinaryCurve`: y^2 + xy = x^3 + ax^2 + b over such a field: affine group law,
  scalar multiplication, SEC 1 point encoding (§2.3.3) and decoding (§2.3.4) with
  validation, and subgroup checks.
* :data:`SECT163K1` and :data:`SECT283K1` with the SEC 2 domain parameters.

The point at infinity O is ``None`` throughout, so the type checker forces every caller that
can meet it (a degenerate ECMQV result, a bad certificate) to handle it.

Nothing here is constant-time: Python integers are not. This code emulates devices on a test
bench with test keys; it must never guard production keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from harness.crypto.errors import PointFormatError


def _spread_byte(value: int) -> int:
    """The 16-bit polynomial value(x)**2: bit i of ``value`` moved to bit 2i."""
    spread = 0
    for bit in range(8):
        if value >> bit & 1:
            spread |= 1 << (2 * bit)
    return spread


#: Squaring in characteristic 2 is linear: (sum a_i x^i)^2 = sum a_i x^(2i). This table
#: spreads one byte at a time, which is several times faster than a general multiplication.
_SQUARE_BYTES: Final = tuple(_spread_byte(v).to_bytes(2, "big") for v in range(256))


class BinaryField:
    """GF(2^m) with the reduction polynomial f(x) = x^m + x^k_1 + ... + 1 (a trinomial or pentanomial).

    Multiplication is a carry-less product with a 4-bit window (16 precomputed multiples of
    one operand, one byte of the other per step), followed by folding the high half back with
    x^m = x^k_1 + ... + 1. For the SEC 2 polynomials (middle terms well below m/2) two folds
    always suffice. Inversion is the extended Euclidean algorithm for binary polynomials,
    which in Python is faster than the m-1 squarings of Fermat's method.
    """

    __slots__ = ("m", "modulus", "low_terms", "byte_length", "_mask")

    def __init__(self, m: int, low_terms: tuple[int, ...]) -> None:
        """``low_terms`` are the exponents of f below x^m, e.g. (12, 7, 5, 0) for sect283k1."""
        if m % 2 == 0:
            # Point decompression solves z^2 + z = beta by the half-trace, valid only for odd m.
            raise ValueError(f"GF(2^{m}): only odd extension degrees are supported")
        if not low_terms or low_terms[-1] != 0 or max(low_terms) >= m // 2:
            raise ValueError(f"GF(2^{m}): reduction terms {low_terms} must end in 0 and stay below m/2")
        self.m = m
        self.low_terms = low_terms
        self.modulus = (1 << m) | sum(1 << k for k in low_terms)
        #: Octets in an encoded element: ceil(m / 8) (SEC 1 §2.3.5).
        self.byte_length = (m + 7) // 8
        self._mask = (1 << m) - 1

    def __repr__(self) -> str:
        terms = " + ".join(f"x^{k}" if k else "1" for k in (self.m, *self.low_terms))
        return f"BinaryField({terms})"

    def contains(self, a: int) -> bool:
        """Whether ``a`` is a reduced element (degree below m)."""
        return 0 <= a <= self._mask

    def reduce(self, a: int) -> int:
        """``a mod f``: fold the part above x^m down using x^m = (f - x^m), until it fits."""
        m, mask, terms = self.m, self._mask, self.low_terms
        while a >> m:
            high = a >> m
            a &= mask
            for k in terms:
                a ^= high << k
        return a

    def mul(self, a: int, b: int) -> int:
        """a * b mod f."""
        if a == 0 or b == 0:
            return 0
        # Multiples of a by every polynomial of degree < 4, and the same shifted by 4 bits.
        low = [0, a, a << 1, (a << 1) ^ a]
        for i in range(4, 16, 2):
            low.append(low[i >> 1] << 1)
            low.append(low[i] ^ a)
        high = [t << 4 for t in low]
        product = 0
        for byte in b.to_bytes((b.bit_length() + 7) // 8, "big"):
            product = (product << 8) ^ high[byte >> 4] ^ low[byte & 15]
        return self.reduce(product)

    def sqr(self, a: int) -> int:
        """a^2 mod f, by spreading bits (squaring is linear in characteristic 2)."""
        if a == 0:
            return 0
        spread = b"".join(map(_SQUARE_BYTES.__getitem__, a.to_bytes((a.bit_length() + 7) // 8, "big")))
        return self.reduce(int.from_bytes(spread, "big"))

    def inv(self, a: int) -> int:
        """a^-1 mod f, by the extended Euclidean algorithm (invariants u = g1*a, v = g2*a mod f)."""
        if a == 0:
            raise ZeroDivisionError("0 has no inverse in GF(2^m)")
        u, v, g1, g2 = self.reduce(a), self.modulus, 1, 0
        while u != 1:
            shift = u.bit_length() - v.bit_length()
            if shift < 0:
                u, v, g1, g2 = v, u, g2, g1
                shift = -shift
            u ^= v << shift
            g1 ^= g2 << shift
        return self.reduce(g1)

    def sqrt(self, a: int) -> int:
        """The unique square root a^(2^(m-1)); every element of GF(2^m) has exactly one."""
        for _ in range(self.m - 1):
            a = self.sqr(a)
        return a

    def trace(self, a: int) -> int:
        """Tr(a) = a + a^2 + a^4 + ... + a^(2^(m-1)), which is 0 or 1."""
        t = a
        for _ in range(self.m - 1):
            a = self.sqr(a)
            t ^= a
        return t

    def half_trace(self, a: int) -> int:
        """H(a) = sum of a^(2^(2i)) for i = 0..(m-1)/2.

        For odd m and Tr(a) = 0, z = H(a) solves z^2 + z = a (the other root is z + 1); this is
        how SEC 1 §2.3.4 step 2.4.3 recovers a compressed y on a binary curve.
        """
        h = a
        for _ in range((self.m - 1) // 2):
            a = self.sqr(self.sqr(a))
            h ^= a
        return h

    def to_bytes(self, a: int) -> bytes:
        """Field-element-to-octet-string (SEC 1 §2.3.5): big-endian, ceil(m/8) octets."""
        return a.to_bytes(self.byte_length, "big")

    def from_bytes(self, data: bytes, *, what: str = "field element") -> int:
        """Octet-string-to-field-element (SEC 1 §2.3.6): exact length, no bits at or above x^m."""
        if len(data) != self.byte_length:
            raise PointFormatError(f"{what}: {len(data)} bytes, expected {self.byte_length}")
        value = int.from_bytes(data, "big")
        if not self.contains(value):
            raise PointFormatError(f"{what}: has bits set above x^{self.m - 1}, so it is not in GF(2^{self.m})")
        return value


@dataclass(frozen=True, slots=True)
class Point:
    """A finite affine point (x, y) of a :class:`BinaryCurve`; coordinates are field elements.

    The point at infinity is ``None``. Construct points through :meth:`BinaryCurve.point` or
    :meth:`BinaryCurve.decode_point` so that they are checked to lie on the curve.
    """

    x: int
    y: int

    def __repr__(self) -> str:
        return f"Point(x={self.x:#x}, y={self.y:#x})"


class BinaryCurve:
    """The curve y^2 + xy = x^3 + a*x^2 + b over a :class:`BinaryField`, with a base point G of order n."""

    __slots__ = ("name", "field", "a", "b", "g", "n", "h", "scalar_length", "_sqrt_b")

    def __init__(
        self, name: str, field: BinaryField, *, a: int, b: int, gx: int, gy: int, n: int, h: int
    ) -> None:
        self.name = name
        self.field = field
        self.a = a
        self.b = b
        self.n = n
        self.h = h
        #: Octets in an encoded private key / scalar: the length of n (21 for sect163k1, 36 for sect283k1).
        self.scalar_length = (n.bit_length() + 7) // 8
        self._sqrt_b = field.sqrt(b)
        g = Point(gx, gy)
        if not self.is_on_curve(g):
            raise ValueError(f"{name}: the base point is not on the curve")
        self.g = g

    def __repr__(self) -> str:
        return f"BinaryCurve({self.name})"

    # -- membership -------------------------------------------------------------------------

    def point(self, x: int, y: int) -> Point:
        """A checked point: raises :class:`PointFormatError` unless (x, y) is on the curve."""
        p = Point(x, y)
        if not self.is_on_curve(p):
            raise PointFormatError(f"{self.name}: ({x:#x}, {y:#x}) is not on the curve")
        return p

    def is_on_curve(self, p: Point | None) -> bool:
        """Whether ``p`` satisfies y^2 + xy = x^3 + ax^2 + b (O counts as on the curve)."""
        if p is None:
            return True
        f = self.field
        x, y = p.x, p.y
        if not (f.contains(x) and f.contains(y)):
            return False
        x2 = f.sqr(x)
        lhs = f.sqr(y) ^ f.mul(x, y)
        rhs = f.mul(x2, x) ^ (x2 if self.a else 0) ^ self.b
        return lhs == rhs

    def in_subgroup(self, p: Point | None) -> bool:
        """Whether n*p = O: full public-key validation (SEC 1 §3.2.2.1 step 4); costs one multiplication."""
        return self.is_on_curve(p) and self.multiply(self.n, p) is None

    # -- group law (affine; SEC 1 §2.2.2) -------------------------------------------------

    def negate(self, p: Point | None) -> Point | None:
        """-P = (x, x + y)."""
        return None if p is None else Point(p.x, p.x ^ p.y)

    def add(self, p: Point | None, q: Point | None) -> Point | None:
        """P + Q, with every special case of SEC 1 §2.2.2 (O, P = -Q, P = Q)."""
        if p is None:
            return q
        if q is None:
            return p
        f = self.field
        if p.x == q.x:
            if p.y == q.y:
                return self.double(p)
            return None  # q = -p (same x, other y)
        lam = f.mul(p.y ^ q.y, f.inv(p.x ^ q.x))
        x3 = f.sqr(lam) ^ lam ^ p.x ^ q.x ^ self.a
        y3 = f.mul(lam, p.x ^ x3) ^ x3 ^ p.y
        return Point(x3, y3)

    def double(self, p: Point | None) -> Point | None:
        """2P; a point with x = 0 is its own negative, so doubling it gives O."""
        if p is None or p.x == 0:
            return None
        f = self.field
        lam = p.x ^ f.mul(p.y, f.inv(p.x))
        x3 = f.sqr(lam) ^ lam ^ self.a
        y3 = f.sqr(p.x) ^ f.mul(lam ^ 1, x3)
        return Point(x3, y3)

    def multiply(self, k: int, p: Point | None) -> Point | None:
        """k*P by the Montgomery ladder in López-Dahab projective x-coordinates.

        López & Dahab, "Fast multiplication on elliptic curves over GF(2^m) without
        precomputation" (CHES 1999): the ladder keeps P1 = jP and P2 = (j+1)P, so their
        difference is always P and each step needs only x-coordinates, as X/Z, with no
        inversion. One inversion at the end recovers x and y of kP. Per key bit this costs
        about 5 multiplications and 4 squarings, which makes a sect283k1 multiplication
        tens of milliseconds rather than the seconds an affine double-and-add takes.

        ``p`` must be a point of this curve (decoded by :meth:`decode_point` or built by
        :meth:`point`); the ladder does not check it. ``k`` may be any integer; it is *not*
        reduced modulo n, because a point from outside (a peer's key) need not have order n,
        and the ECMQV cofactor multiplication relies on that.
        """
        if p is None or k == 0:
            return None
        if k < 0:
            return self.multiply(-k, self.negate(p))
        if p.x == 0:
            # The point (0, sqrt(b)) has order 2; the ladder's final division needs x != 0.
            return p if k & 1 else None
        f = self.field
        mul, sqr, b = f.mul, f.sqr, self.b
        x = p.x
        # (X1, Z1) = P, (X2, Z2) = 2P: x(2P) = x^2 + b/x^2 = (x^4 + b) / x^2.
        x1, z1 = x, 1
        z2 = sqr(x)
        x2 = sqr(z2) ^ b
        for i in range(k.bit_length() - 2, -1, -1):
            # Differential addition of the two ladder points, then doubling of one of them:
            #   x(P1 + P2) = x*Z3 + (X1*Z2)(X2*Z1), Z3 = (X1*Z2 + X2*Z1)^2
            #   x(2Pj)     = Xj^4 + b*Zj^4,         Z  = Xj^2 * Zj^2
            t1 = mul(x1, z2)
            t2 = mul(x2, z1)
            z_sum = sqr(t1 ^ t2)
            x_sum = mul(x, z_sum) ^ mul(t1, t2)
            if k >> i & 1:
                xx, zz = sqr(x2), sqr(z2)
                x1, z1 = x_sum, z_sum
                x2, z2 = sqr(xx) ^ (mul(b, sqr(zz)) if b != 1 else sqr(zz)), mul(xx, zz)
            else:
                xx, zz = sqr(x1), sqr(z1)
                x2, z2 = x_sum, z_sum
                x1, z1 = sqr(xx) ^ (mul(b, sqr(zz)) if b != 1 else sqr(zz)), mul(xx, zz)
        return self._recover_y(p, x1, z1, x2, z2)

    def _recover_y(self, p: Point, x1: int, z1: int, x2: int, z2: int) -> Point | None:
        """Affine kP from the ladder's (X1:Z1) = kP and (X2:Z2) = (k+1)P, given P = (x, y).

        López-Dahab, and Hankerson-Menezes-Vanstone, "Guide to Elliptic Curve Cryptography",
        Algorithm 3.40 ("Mxy"):
          x_k = X1/Z1
          y_k = (x + x_k) * [(X1 + x*Z1)(X2 + x*Z2) + (x^2 + y)(Z1*Z2)] / (x*Z1*Z2) + y
        """
        if z1 == 0:
            return None  # kP = O
        f = self.field
        x, y = p.x, p.y
        if z2 == 0:
            return self.negate(p)  # (k+1)P = O, so kP = -P
        z1z2 = f.mul(z1, z2)
        inverse = f.inv(f.mul(x, z1z2))
        xk = f.mul(f.mul(x1, z2), f.mul(inverse, x))  # X1/Z1 = X1*Z2*x / (x*Z1*Z2)
        bracket = f.mul(x1 ^ f.mul(x, z1), x2 ^ f.mul(x, z2)) ^ f.mul(f.sqr(x) ^ y, z1z2)
        yk = f.mul(f.mul(x ^ xk, bracket), inverse) ^ y
        return Point(xk, yk)

    def multiply_base(self, k: int) -> Point | None:
        """k*G."""
        return self.multiply(k, self.g)

    # -- encoding (SEC 1 §2.3.3 / §2.3.4) ---------------------------------------------------

    @property
    def compressed_length(self) -> int:
        """Octets in a compressed point: 1 + ceil(m/8) (22 for sect163k1, 37 for sect283k1)."""
        return 1 + self.field.byte_length

    def encode_point(self, p: Point | None, *, compressed: bool = True) -> bytes:
        """Elliptic-Curve-Point-to-Octet-String, SEC 1 §2.3.3.

        Compressed form: 0x02 + y~ then x, where on a binary curve y~ is the low bit of
        z = y/x (zero when x = 0) -- *not* the low bit of y as on prime curves. Uncompressed:
        0x04, x, y. O is the single octet 0x00.
        """
        if p is None:
            return b"\x00"
        f = self.field
        if not compressed:
            return b"\x04" + f.to_bytes(p.x) + f.to_bytes(p.y)
        y_bit = 0 if p.x == 0 else f.mul(p.y, f.inv(p.x)) & 1
        return bytes([0x02 | y_bit]) + f.to_bytes(p.x)

    def decode_point(self, data: bytes, *, what: str = "point") -> Point:
        """Octet-String-to-Elliptic-Curve-Point, SEC 1 §2.3.4, refusing O and anything off the curve.

        The format byte and the length are checked before any field arithmetic, so garbage
        (such as a key with format byte 0x12) is refused with a message naming ``what`` and
        never reaches the curve code. For a compressed point the equation is rewritten, with
        y = x*z, as z^2 + z = x + a + b/x^2 and solved by the half-trace; when that equation
        has no root (trace 1) the x-coordinate belongs to no point and the input is refused.
        """
        data = bytes(data)
        f = self.field
        if not data:
            raise PointFormatError(f"{what}: empty")
        prefix = data[0]
        if prefix in (0x02, 0x03):
            if len(data) != 1 + f.byte_length:
                raise PointFormatError(
                    f"{what}: compressed {self.name} point is {len(data)} bytes, expected {1 + f.byte_length}"
                )
            x = f.from_bytes(data[1:], what=f"{what} x-coordinate")
            return self._decompress(x, prefix & 1, what)
        if prefix == 0x04:
            if len(data) != 1 + 2 * f.byte_length:
                expected = 1 + 2 * f.byte_length
                raise PointFormatError(
                    f"{what}: uncompressed {self.name} point is {len(data)} bytes, expected {expected}"
                )
            x = f.from_bytes(data[1 : 1 + f.byte_length], what=f"{what} x-coordinate")
            y = f.from_bytes(data[1 + f.byte_length :], what=f"{what} y-coordinate")
            p = Point(x, y)
            if not self.is_on_curve(p):
                raise PointFormatError(f"{what}: not a point of {self.name}")
            return p
        if prefix == 0x00:
            raise PointFormatError(f"{what}: the point at infinity is not a valid key")
        raise PointFormatError(
            f"{what}: format byte 0x{prefix:02X} is not 0x02/0x03 (compressed) or 0x04 (uncompressed)"
        )

    def _decompress(self, x: int, y_bit: int, what: str) -> Point:
        """SEC 1 §2.3.4 step 2.4 for F_2^m: y from x and y~."""
        f = self.field
        if x == 0:
            return Point(0, self._sqrt_b)  # y^2 = b
        beta = x ^ self.a ^ f.mul(self.b, f.sqr(f.inv(x)))
        z = f.half_trace(beta)
        if f.sqr(z) ^ z != beta:
            raise PointFormatError(f"{what}: no point of {self.name} has this x-coordinate")
        if z & 1 != y_bit:
            z ^= 1
        return Point(x, f.mul(x, z))

    # -- scalars ----------------------------------------------------------------------------

    def scalar_to_bytes(self, k: int) -> bytes:
        """Integer-to-octet-string at the fixed private-key length (21 / 36 octets)."""
        return k.to_bytes(self.scalar_length, "big")


#: sect163k1 (SEC 2 v2.0 §3.2.1): Smart Energy Crypto Suite 1.
SECT163K1: Final = BinaryCurve(
    "sect163k1",
    BinaryField(163, (7, 6, 3, 0)),
    a=1,
    b=1,
    gx=0x02FE13C0537BBC11ACAA07D793DE4E6D5E5C94EEE8,
    gy=0x0289070FB05D38FF58321F2E800536D538CCDAA3D9,
    n=0x04000000000000000000020108A2E0CC0D99F8A5EF,
    h=2,
)

#: sect283k1 (SEC 2 v2.0 §3.4.1): Smart Energy Crypto Suite 2, the suite GB devices use.
SECT283K1: Final = BinaryCurve(
    "sect283k1",
    BinaryField(283, (12, 7, 5, 0)),
    a=0,
    b=1,
    gx=0x0503213F78CA44883F1A3B8162F188E553CD265F23C1567A16876913B0C2AC2458492836,
    gy=0x01CCDA380F1C9E318D90F95D07E5426FE87E45C0E8184698E45962364E34116177DD2259,
    n=0x01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFE9AE2ED07577265DFF7F94451E061E163C61,
    h=4,
)
