"""ECQV implicit certificates (SEC 4) as Smart Energy CBKE uses them, for both crypto suites.

An implicit certificate carries no signature and no public key. It carries a *reconstruction
point* P_U, and anyone who trusts the CA's public key Q_CA computes the subject's public key
as ``Q_U = e*P_U + Q_CA``, with ``e`` the hash of the whole encoded certificate (SEC 4 §3.5).
Only the holder of the matching private key ``d_U = e*k_U + r`` can then complete CBKE, so a
forged or altered certificate shows up as a failed key agreement, not as a bad signature.

This module gives:

* the two certificate layouts: :class:`Cs1Certificate` (48 bytes, sect163k1) and
  :class:`Cs2Certificate` (74 bytes, sect283k1), each declared as one field list that drives
  both parsing and encoding;
* :func:`reconstruct_public_key` and :meth:`DeviceCredentials.load`, which checks a
  provisioned (certificate, private key, CA key) triple the way SEC 4 §3.6 tells the subject to;
* issuance by a test :class:`CertificateAuthority` (SEC 4 §3.3-§3.6), so that emulated
  devices and the emulated NCP can be given fresh credentials at run time.

Private keys never appear in a ``repr``: :class:`KeyPair` hides its scalar and hands it out
as a :class:`~harness.secret.Secret`.
"""

from __future__ import annotations

import enum
import random
import secrets
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeAlias

from harness.crypto.aes_mmo import aes_mmo_hash
from harness.crypto.binary_curve import SECT163K1, SECT283K1, BinaryCurve, Point
from harness.crypto.errors import CertificateError, CryptoError
from harness.secret import REDACTED, Secret
from harness.wire import ErrorFactory, Field, Kind, Record

#: CS2 certificate Type field: the only type SE defines (SEC 4 minimal encoding, type 0).
CS2_CERTIFICATE_TYPE: Final = 0x00
#: CS2 certificate Curve field: 0x0D = sect283k1.
CS2_CURVE_SECT283K1: Final = 0x0D
#: CS2 certificate Hash field: 0x08 = AES-MMO.
CS2_HASH_AES_MMO: Final = 0x08
#: CS2 Key Usage bits: key agreement (needed for CBKE) and digital signature.
KEY_USAGE_KEY_AGREEMENT: Final = 0x08
KEY_USAGE_DIGITAL_SIGNATURE: Final = 0x80
#: CS2 Valid-to value every known certificate carries: no expiry.
NO_EXPIRY: Final = 0xFFFFFFFF
#: Default CS1 profile attribute data: the SE profile id 0x0109, then zeros.
DEFAULT_CS1_PROFILE_DATA: Final = bytes.fromhex("01090000000000000000")
#: Issuer id of certificates from :class:`CertificateAuthority` unless told otherwise
#: (ASCII "HNTESTCA"), deliberately not the Certicom test CA's "TESTSECA" / 1112131415161718,
#: so that a certificate from the harness's own CA is never mistaken for one of theirs.
DEFAULT_TEST_ISSUER: Final = b"HNTESTCA"


class CryptoSuite(enum.IntEnum):
    """Smart Energy key establishment suites; the values are the KeyEstablishmentSuite bits."""

    CS1 = 0x0001  # sect163k1, 48-byte certificates
    CS2 = 0x0002  # sect283k1, 74-byte certificates (GB)

    @property
    def curve(self) -> BinaryCurve:
        """The suite's curve."""
        return SECT163K1 if self is CryptoSuite.CS1 else SECT283K1

    @property
    def certificate_length(self) -> int:
        """Encoded certificate length in bytes."""
        return 48 if self is CryptoSuite.CS1 else 74


def _random_scalar(curve: BinaryCurve, rng: random.Random | None) -> int:
    """A uniform integer in [1, n-1] (SEC 1 §3.2.1 key generation)."""
    source = rng if rng is not None else secrets.SystemRandom()
    return 1 + source.randrange(curve.n - 1)


class KeyPair:
    """An elliptic-curve key pair (d, Q = d*G) whose private half never appears in a repr.

    Static keys (from a certificate), ephemeral CBKE keys and the ECQV request key are all
    key pairs. :meth:`secret_scalar` is the one way to the private value, so each use of it
    can be found with grep, as with :meth:`Secret.reveal`.
    """

    __slots__ = ("curve", "public_key", "_d")

    def __init__(self, curve: BinaryCurve, private_key: int, public_key: Point | None = None) -> None:
        """Wrap ``private_key``; ``public_key``, if given, must be d*G or :class:`CryptoError` is raised."""
        if not 1 <= private_key < curve.n:
            raise CryptoError(f"{curve.name} private key is out of range [1, n-1]")
        computed = curve.multiply_base(private_key)
        assert computed is not None  # 1 <= d < n and G has order n
        if public_key is not None and public_key != computed:
            raise CryptoError(f"{curve.name} private key does not match the public key it was given with")
        self.curve = curve
        self.public_key: Point = computed
        self._d = private_key

    @classmethod
    def generate(cls, curve: BinaryCurve, rng: random.Random | None = None) -> KeyPair:
        """A fresh key pair; ``rng`` (for reproducible emulation) defaults to the OS generator."""
        return cls(curve, _random_scalar(curve, rng))

    @classmethod
    def from_private_bytes(
        cls, curve: BinaryCurve, private_key: bytes | Secret, *, reduce_mod_n: bool = False
    ) -> KeyPair:
        """From the fixed-length big-endian encoding (21 / 36 bytes) used in certificate files and tokens.

        ``reduce_mod_n`` accepts an encoding whose value is n or more and uses it mod n. Only
        d mod n ever matters (d*G, and ECMQV reduces s mod n), and some implementations draw an
        ephemeral key as 36 random bytes without reducing it: the responder's ephemeral key in
        the SE specification's own Crypto Suite 2 test data (Annex C.6) is such a value. Static
        keys from certificate files are always in range, so the default is strict.
        """
        raw = private_key.reveal() if isinstance(private_key, Secret) else private_key
        if not isinstance(raw, bytes | bytearray | memoryview):
            raise CryptoError(f"{curve.name} private key must be bytes, not {type(raw).__name__}")
        raw = bytes(raw)
        if len(raw) != curve.scalar_length:
            raise CryptoError(f"{curve.name} private key is {len(raw)} bytes, expected {curve.scalar_length}")
        value = int.from_bytes(raw, "big")
        return cls(curve, value % curve.n if reduce_mod_n else value)

    def secret_scalar(self) -> int:
        """The private key d. Call only where it enters an equation."""
        return self._d

    def private_bytes(self) -> Secret:
        """d as its fixed-length big-endian encoding, wrapped so that it cannot be printed by accident."""
        return Secret(self.curve.scalar_to_bytes(self._d), origin=f"{self.curve.name} private key")

    @property
    def public_bytes(self) -> bytes:
        """Q in compressed form (22 / 37 bytes), as CBKE sends it."""
        return self.curve.encode_point(self.public_key)

    def __repr__(self) -> str:
        return f"KeyPair({self.curve.name}, public={self.public_bytes.hex().upper()}, private={REDACTED})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, KeyPair)
            and other.curve is self.curve
            and other.public_key == self.public_key
            and other._d == self._d
        )

    def __hash__(self) -> int:
        return hash((self.curve.name, self.public_key))

    def __reduce__(self):  # pickling would write the private key into a file
        raise TypeError("a KeyPair cannot be pickled")


# -- certificate layouts ----------------------------------------------------------------------


def _certificate_error(suite: str) -> ErrorFactory:
    """Errors of a certificate's field list as :class:`CertificateError`, naming suite, field and offset."""

    def error(field: str, problem: str, *, offset: int | None = None) -> CertificateError:
        name = field.rsplit(".", 1)[-1]
        return CertificateError(f"{suite} certificate field {name!r} (offset {offset}): {problem}")

    return error


def _layout(suite: str, *fields: Field) -> Record:
    """A certificate's field list: big-endian, as SEC 4 encodes every field."""
    return Record(f"{suite} certificate", fields, byte_order="big", error=_certificate_error(suite))


class _FixedLayoutCertificate:
    """Parsing, encoding and field checks shared by both layouts, driven by the class's ``LAYOUT``.

    Every problem is a :class:`CertificateError` that names the suite, the field and its byte
    offset, so that a lab engineer can find it in a captured Initiate Key Establishment frame.
    """

    __slots__ = ()
    SUITE: ClassVar[CryptoSuite]
    LAYOUT: ClassVar[Record]
    reconstruction_point: bytes  # every layout has one (a field of each subclass)

    def _check_fields(self) -> None:
        for spec in self.LAYOUT.fields:
            problem = spec.check(getattr(self, spec.name))
            if problem:
                raise self.LAYOUT.error(spec.name, problem, offset=self.LAYOUT.offset_of(spec.name))
        point: bytes = self.reconstruction_point
        if point[0] not in (0x02, 0x03):
            raise self.LAYOUT.error(
                "reconstruction_point",
                f"format byte 0x{point[0]:02X}, expected a compressed point (0x02 or 0x03)",
                offset=self.LAYOUT.offset_of("reconstruction_point"),
            )

    def __repr__(self) -> str:
        # Byte fields in hex, as they are printed in certificate files and the SE annex.
        shown = []
        for spec in self.LAYOUT.fields:
            value = getattr(self, spec.name)
            text = f"{value:#0{2 + 2 * spec.size}x}" if spec.kind is Kind.UINT else value.hex().upper()
            shown.append(f"{spec.name}={text}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def to_bytes(self) -> bytes:
        """The encoded certificate, exactly the bytes that are hashed and sent."""
        return self.LAYOUT.encode({spec.name: getattr(self, spec.name) for spec in self.LAYOUT.fields})

    @classmethod
    def _check_length(cls, data: bytes) -> bytes:
        data = bytes(data)
        if len(data) != cls.SUITE.certificate_length:
            raise CertificateError(
                f"{cls.SUITE.name} certificate is {len(data)} bytes, expected {cls.SUITE.certificate_length}"
            )
        return data

    @classmethod
    def _decode_fields(cls, data: bytes) -> dict[str, int | bytes | None]:
        values, _ = cls.LAYOUT.decode(cls._check_length(data))
        return values

    @classmethod
    def read_field(cls, data: bytes, name: str) -> bytes:
        """One byte-string field (issuer, subject...) of an encoded certificate, without judging the rest.

        Read through the layout, so no caller knows an offset. The receiver of Initiate Key
        Establishment compares the issuer before it looks at the other fields (SE §C.3.1.2.3),
        so a certificate from an unknown CA is refused as such even when it would not parse.
        """
        value = cls.LAYOUT.read(cls._check_length(data), name)
        if not isinstance(value, bytes):
            raise TypeError(f"{cls.SUITE.name} certificate field {name!r} is an integer; read it from the parsed certificate")
        return value


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Cs1Certificate(_FixedLayoutCertificate):
    """Crypto Suite 1 implicit certificate, 48 bytes (SE 07-5356 §C.4.2.2.4).

    | offset | length | field |
    | 0  | 22 | reconstruction_point: P_U, compressed sect163k1 point |
    | 22 | 8  | subject: the device's EUI-64, big-endian |
    | 30 | 8  | issuer: CA id (the Certicom test CA is "TESTSECA") |
    | 38 | 10 | profile_data: profile attribute data, starting with the profile id 0x0109 |
    """

    reconstruction_point: bytes
    subject: bytes
    issuer: bytes
    profile_data: bytes = DEFAULT_CS1_PROFILE_DATA

    SUITE: ClassVar[CryptoSuite] = CryptoSuite.CS1
    LAYOUT: ClassVar[Record] = _layout(
        "CS1",
        Field("reconstruction_point", 22, Kind.BYTES),
        Field("subject", 8, Kind.EUI64),
        Field("issuer", 8, Kind.BYTES),
        Field("profile_data", 10, Kind.BYTES),
    )

    def __post_init__(self) -> None:
        self._check_fields()

    @classmethod
    def from_bytes(cls, data: bytes) -> Cs1Certificate:
        """Parse the 48-byte encoding; structure only (lengths, point format byte), no arithmetic."""
        return cls(**cls._decode_fields(data))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Cs2Certificate(_FixedLayoutCertificate):
    """Crypto Suite 2 implicit certificate, 74 bytes: SEC 4 Appendix C.1 minimal encoding (SE §C.4.2.3.3).

    | offset | length | field |
    | 0  | 1  | cert_type: 0x00 |
    | 1  | 8  | serial |
    | 9  | 1  | curve_id: 0x0D = sect283k1 |
    | 10 | 1  | hash_id: 0x08 = AES-MMO |
    | 11 | 8  | issuer: CA id (the Certicom test CA is 1112131415161718) |
    | 19 | 5  | valid_from: seconds since 1970-01-01 UTC |
    | 24 | 4  | valid_to: 0xFFFFFFFF = no expiry (SEC 4 treats it as a validity period in seconds) |
    | 28 | 8  | subject: the device's EUI-64, big-endian |
    | 36 | 1  | key_usage: 0x08 key agreement, 0x80 digital signature |
    | 37 | 37 | reconstruction_point: P_U, compressed sect283k1 point |

    Parsing does not enforce the values of cert_type, curve_id, hash_id or key_usage: a
    certificate with the wrong ones is well formed but must be refused for CBKE, and
    :func:`harness.crypto.cbke.check_peer_certificate` is where that policy lives.
    """

    cert_type: int = CS2_CERTIFICATE_TYPE
    serial: bytes
    curve_id: int = CS2_CURVE_SECT283K1
    hash_id: int = CS2_HASH_AES_MMO
    issuer: bytes
    valid_from: int
    valid_to: int = NO_EXPIRY
    subject: bytes
    key_usage: int = KEY_USAGE_KEY_AGREEMENT
    reconstruction_point: bytes

    SUITE: ClassVar[CryptoSuite] = CryptoSuite.CS2
    LAYOUT: ClassVar[Record] = _layout(
        "CS2",
        Field("cert_type", 1),
        Field("serial", 8, Kind.BYTES),
        Field("curve_id", 1),
        Field("hash_id", 1),
        Field("issuer", 8, Kind.BYTES),
        Field("valid_from", 5),
        Field("valid_to", 4),
        Field("subject", 8, Kind.EUI64),
        Field("key_usage", 1),
        Field("reconstruction_point", 37, Kind.BYTES),
    )

    def __post_init__(self) -> None:
        self._check_fields()

    @classmethod
    def from_bytes(cls, data: bytes) -> Cs2Certificate:
        """Parse the 74-byte encoding; structure only (lengths, point format byte), no arithmetic."""
        return cls(**cls._decode_fields(data))  # type: ignore[arg-type]


Certificate: TypeAlias = Cs1Certificate | Cs2Certificate

_CERTIFICATE_CLASSES: Final[dict[CryptoSuite, type[Cs1Certificate] | type[Cs2Certificate]]] = {CryptoSuite.CS1: Cs1Certificate, CryptoSuite.CS2: Cs2Certificate}


def parse_certificate(data: bytes | Certificate, suite: CryptoSuite | None = None) -> Certificate:
    """Parse an encoded certificate; the suite follows from the length (48 or 74) unless given.

    An already parsed certificate is returned as it is (after the suite check), so that the
    functions taking "a certificate" accept either form.
    """
    if isinstance(data, Cs1Certificate | Cs2Certificate):
        if suite is not None and data.SUITE is not suite:
            raise CertificateError(f"certificate is {data.SUITE.name}; expected {suite.name}")
        return data
    if suite is None:
        by_length = {s.certificate_length: s for s in CryptoSuite}
        if len(data) not in by_length:
            raise CertificateError(f"certificate is {len(data)} bytes: neither CS1 (48) nor CS2 (74)")
        suite = by_length[len(data)]
    return _CERTIFICATE_CLASSES[suite].from_bytes(data)


# -- public-key extraction (SEC 4 §3.5) --------------------------------------------------------


def certificate_hash(certificate: Certificate) -> int:
    """e = H_n(Cert) (SEC 4 §2.3): AES-MMO of the whole encoded certificate, as a big-endian integer.

    No truncation is needed: 128 bits is below log2(n) for both curves, and e < n.
    """
    return int.from_bytes(aes_mmo_hash(certificate.to_bytes()), "big")


def _as_point(curve: BinaryCurve, value: bytes | Point, what: str) -> Point:
    """Decode (and thereby validate) an encoded point; a :class:`Point` is checked to be on the curve."""
    if isinstance(value, Point):
        if not curve.is_on_curve(value):
            raise CertificateError(f"{what}: not a point of {curve.name}")
        return value
    return curve.decode_point(value, what=what)


def reconstruct_public_key(certificate: Certificate | bytes, ca_public_key: bytes | Point) -> Point:
    """Q_U = e*P_U + Q_CA: the subject's public key (SEC 4 §3.5 Cert PK Extraction).

    Both points are decoded first, so a malformed CA key or reconstruction point is refused
    as a :class:`~harness.crypto.errors.PointFormatError` before any arithmetic. The result is
    not checked against anything: a certificate altered in transit or issued by another CA
    silently gives a *different* key, which is why CBKE confirms keys with MACs and why a
    device checks its own credentials with :meth:`DeviceCredentials.load`.
    """
    cert = parse_certificate(certificate)
    curve = cert.SUITE.curve
    q_ca = _as_point(curve, ca_public_key, "CA public key")
    p_u = curve.decode_point(cert.reconstruction_point, what=f"{cert.SUITE.name} certificate reconstruction point")
    q_u = curve.add(curve.multiply(certificate_hash(cert), p_u), q_ca)
    if q_u is None:
        raise CertificateError(f"{cert.SUITE.name} certificate reconstructs to the point at infinity")
    return q_u


@dataclass(frozen=True, slots=True)
class DeviceCredentials:
    """What a CBKE-capable device holds: its certificate, its static key pair and its CA's public key.

    These are the three items an EmberZNet NCP keeps in its CBKE manufacturing tokens. Build
    them with :meth:`load` (provisioned data) or :meth:`CertificateAuthority.issue_credentials`
    (fresh test credentials); both guarantee that the key pair is the one the certificate
    yields under the CA key.
    """

    certificate: Certificate
    key_pair: KeyPair
    ca_public_key: Point

    @property
    def suite(self) -> CryptoSuite:
        """The crypto suite of the certificate."""
        return self.certificate.SUITE

    @property
    def eui64(self) -> bytes:
        """The certificate subject: the device's EUI-64, big-endian."""
        return self.certificate.subject

    @property
    def ca_public_bytes(self) -> bytes:
        """The CA key in compressed form."""
        return self.suite.curve.encode_point(self.ca_public_key)

    @classmethod
    def load(
        cls,
        certificate: Certificate | bytes,
        private_key: bytes | Secret,
        ca_public_key: bytes | Point,
    ) -> DeviceCredentials:
        """Check provisioned credentials as SEC 4 §3.6 (Cert Reception) requires, and wrap them.

        The subject recomputes Q_U = e*P_U + Q_CA from the certificate and checks that it
        equals d_U*G. This is the one check that catches a wrong CA key, an altered
        certificate (any byte: they are all hashed into e) and a wrong private key alike --
        negative vectors NEG-1 to NEG-4 -- before the device ever tries CBKE and fails with
        an unexplained bad MAC.
        """
        cert = parse_certificate(certificate)
        curve = cert.SUITE.curve
        q_ca = _as_point(curve, ca_public_key, "CA public key")
        key_pair = KeyPair.from_private_bytes(curve, private_key)
        if reconstruct_public_key(cert, q_ca) != key_pair.public_key:
            raise CertificateError(
                f"{cert.SUITE.name} certificate for subject {cert.subject.hex().upper()} does not yield the "
                "public key of the private key given with it "
                "(wrong CA key, altered certificate or wrong private key)"
            )
        return cls(cert, key_pair, q_ca)


# -- issuance (SEC 4 §3.3-§3.6) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CertificateRequest:
    """What a subject sends its CA (SEC 4 §3.3 Cert Request): its identity and R_U = k_U*G."""

    suite: CryptoSuite
    subject: bytes
    request_point: Point


@dataclass(frozen=True, slots=True)
class CertificateResponse:
    """What the CA returns (SEC 4 §3.4): the certificate and the private-key reconstruction data r.

    r is secret (with k_U it gives the subject's private key), hence a :class:`Secret` holding
    its fixed-length big-endian encoding.
    """

    certificate: Certificate
    reconstruction_data: Secret


def create_request(
    suite: CryptoSuite, subject: bytes, rng: random.Random | None = None
) -> tuple[CertificateRequest, KeyPair]:
    """SEC 4 §3.3 Cert Request: a fresh request key pair (k_U, R_U) and the request to send.

    The subject keeps the returned :class:`KeyPair` (k_U) until :func:`complete_request`.
    """
    if len(subject) != 8:
        raise CertificateError(f"certificate subject must be an 8-byte EUI-64, got {len(subject)} bytes")
    request_key = KeyPair.generate(suite.curve, rng)
    return CertificateRequest(suite, bytes(subject), request_key.public_key), request_key


def complete_request(
    request_key: KeyPair, response: CertificateResponse, ca_public_key: bytes | Point
) -> DeviceCredentials:
    """SEC 4 §3.6 Cert Reception: the subject's private key d_U = e*k_U + r mod n, checked against Q_U.

    The check (d_U*G = e*P_U + Q_CA) is what makes the subject sure the CA used its request
    and that the certificate was not altered on the way.
    """
    cert = response.certificate
    curve = cert.SUITE.curve
    if request_key.curve is not curve:
        raise CertificateError(f"request key is on {request_key.curve.name}, certificate is {cert.SUITE.name}")
    raw_r = response.reconstruction_data.reveal()
    assert isinstance(raw_r, bytes)
    r = int.from_bytes(raw_r, "big")
    d_u = (certificate_hash(cert) * request_key.secret_scalar() + r) % curve.n
    if d_u == 0:
        raise CertificateError("certificate response gives the private key 0; request a new certificate")
    return DeviceCredentials.load(cert, curve.scalar_to_bytes(d_u), ca_public_key)


class CertificateAuthority:
    """A test ECQV certificate authority (SEC 4 §3.4 Cert Generate), for emulated devices and NCPs.

    Its key is generated at run time (or given), so its certificates are accepted only by
    parties that were given :attr:`public_key` as their CA key; real devices, which carry a
    Certicom CA key, will refuse them. That is the point: it lets emulated devices and the
    emulated NCP run CBKE against each other without any real certificate material.
    """

    __slots__ = ("suite", "issuer", "key_pair", "_rng")

    def __init__(
        self,
        suite: CryptoSuite,
        key_pair: KeyPair,
        *,
        issuer: bytes = DEFAULT_TEST_ISSUER,
        rng: random.Random | None = None,
    ) -> None:
        if key_pair.curve is not suite.curve:
            raise CryptoError(f"CA key is on {key_pair.curve.name}; {suite.name} needs {suite.curve.name}")
        if len(issuer) != 8:
            raise CertificateError(f"CA issuer id must be 8 bytes, got {len(issuer)}")
        self.suite = suite
        self.issuer = bytes(issuer)
        self.key_pair = key_pair
        self._rng = rng if rng is not None else secrets.SystemRandom()

    @classmethod
    def generate(
        cls, suite: CryptoSuite, *, issuer: bytes = DEFAULT_TEST_ISSUER, rng: random.Random | None = None
    ) -> CertificateAuthority:
        """A CA with a fresh key pair; pass a seeded ``rng`` for reproducible emulation runs."""
        return cls(suite, KeyPair.generate(suite.curve, rng), issuer=issuer, rng=rng)

    @property
    def public_key(self) -> Point:
        """Q_CA: what every party must be given to trust this CA's certificates."""
        return self.key_pair.public_key

    @property
    def public_bytes(self) -> bytes:
        """Q_CA in compressed form (the NCP's CA-public-key token)."""
        return self.key_pair.public_bytes

    def __repr__(self) -> str:
        issuer = self.issuer.hex().upper()
        return f"CertificateAuthority({self.suite.name}, issuer={issuer}, key={self.key_pair!r})"

    def _template(
        self,
        request: CertificateRequest,
        serial: bytes | None,
        valid_from: int | None,
        valid_to: int | None,
        key_usage: int | None,
        profile_data: bytes | None,
    ) -> dict[str, Any]:
        """The certificate fields other than P_U, as keyword arguments of the suite's class (which checks them)."""
        if self.suite is CryptoSuite.CS1:
            unused = [n for n, v in (("serial", serial), ("valid_from", valid_from), ("valid_to", valid_to),
                                     ("key_usage", key_usage)) if v is not None]
            if unused:
                raise CertificateError(f"CS1 certificates have no {', '.join(unused)} field")
            return {
                "subject": request.subject,
                "issuer": self.issuer,
                "profile_data": DEFAULT_CS1_PROFILE_DATA if profile_data is None else profile_data,
            }
        if profile_data is not None:
            raise CertificateError("CS2 certificates have no profile_data field")
        return {
            "serial": serial if serial is not None else self._rng.getrandbits(64).to_bytes(8, "big"),
            "issuer": self.issuer,
            "valid_from": int(time.time()) if valid_from is None else valid_from,
            "valid_to": NO_EXPIRY if valid_to is None else valid_to,
            "subject": request.subject,
            "key_usage": KEY_USAGE_KEY_AGREEMENT if key_usage is None else key_usage,
        }

    def issue(
        self,
        request: CertificateRequest,
        *,
        serial: bytes | None = None,
        valid_from: int | None = None,
        valid_to: int | None = None,
        key_usage: int | None = None,
        profile_data: bytes | None = None,
    ) -> CertificateResponse:
        """SEC 4 §3.4 Cert Generate: a certificate for ``request`` and its reconstruction data r.

        CS2 fields default to a random serial, now, no expiry and key agreement; CS1 takes only
        ``profile_data``. Naming a field the suite's layout lacks is an error rather than
        silently ignored.

        Steps: check R_U (decoded points are on the curve; not O); pick the CA's per-certificate
        key pair (k, kG); P_U = R_U + kG, which hides k_U from anyone but the subject; encode
        the certificate with P_U and hash it to e; r = e*k + d_CA mod n. The loop repeats with
        a new k in the rare cases SEC 4 rules out: P_U = O, or a certificate whose public key
        e*P_U + Q_CA would be O.
        """
        if request.suite is not self.suite:
            raise CertificateError(f"request is for {request.suite.name}; this CA issues {self.suite.name}")
        curve = self.suite.curve
        if not curve.is_on_curve(request.request_point):
            raise CertificateError(f"request point is not a point of {curve.name}")
        fields_ = self._template(request, serial, valid_from, valid_to, key_usage, profile_data)
        cls = _CERTIFICATE_CLASSES[self.suite]
        while True:
            k = KeyPair.generate(curve, self._rng)
            p_u = curve.add(request.request_point, k.public_key)
            if p_u is None:
                continue
            cert = cls(reconstruction_point=curve.encode_point(p_u), **fields_)
            e = certificate_hash(cert)
            if curve.add(curve.multiply(e, p_u), self.public_key) is None:
                continue
            r = (e * k.secret_scalar() + self.key_pair.secret_scalar()) % curve.n
            return CertificateResponse(cert, Secret(curve.scalar_to_bytes(r), origin="ECQV reconstruction data"))

    def issue_credentials(
        self, subject: bytes, *, rng: random.Random | None = None, **certificate_fields: object
    ) -> DeviceCredentials:
        """Run the whole exchange for ``subject`` (request, issue, reception) and return its credentials.

        What an emulated device or the emulated NCP needs at start-up. ``certificate_fields`` are
        passed to :meth:`issue`; ``rng`` makes the subject's request key (defaults to the CA's generator).
        """
        request, request_key = create_request(self.suite, subject, rng if rng is not None else self._rng)
        response = self.issue(request, **certificate_fields)  # type: ignore[arg-type]
        return complete_request(request_key, response, self.public_key)


__all__ = [
    "CS2_CERTIFICATE_TYPE",
    "CS2_CURVE_SECT283K1",
    "CS2_HASH_AES_MMO",
    "Certificate",
    "CertificateAuthority",
    "CertificateRequest",
    "CertificateResponse",
    "CryptoSuite",
    "Cs1Certificate",
    "Cs2Certificate",
    "DEFAULT_CS1_PROFILE_DATA",
    "DEFAULT_TEST_ISSUER",
    "DeviceCredentials",
    "KEY_USAGE_DIGITAL_SIGNATURE",
    "KEY_USAGE_KEY_AGREEMENT",
    "KeyPair",
    "NO_EXPIRY",
    "certificate_hash",
    "complete_request",
    "create_request",
    "parse_certificate",
    "reconstruct_public_key",
]
