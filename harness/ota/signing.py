"""Supplier signatures on GBCS images: ECDSA P-256 / SHA-256, raw r||s (64 bytes).

GBCS remote-party signatures are ECDSA over P-256 with SHA-256, carried as the raw
concatenation r||s (IEEE P1363), not DER (domain-notes §3.5/§6.4, gbcs-parser [S5]).
``cryptography`` speaks DER, so this module converts at the boundary.

Signing is deterministic (RFC 6979), so rebuilding the sample images gives byte-identical
files. Keys arrive as PEM bytes (or a :class:`harness.secret.Secret` holding them, for
private keys), so the module stays pure and a private key is never held in a printable form.
"""

from __future__ import annotations

import enum
import hashlib
from typing import Protocol

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from harness.ota.errors import OtaError
from harness.ota.gbcs import SIGNATURE_SIZE, GbcsUpgradeImage
from harness.secret import Secret

#: The curve GBCS uses for supplier signatures (GBCS §11.2.3; domain-notes §6.4).
CURVE = ec.SECP256R1
#: Order of the P-256 group (SEC 2 v2 §2.4.2, "n"), to map a seed onto a valid scalar.
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_COORDINATE_SIZE = SIGNATURE_SIZE // 2


class SignatureStatus(enum.Enum):
    VALID = "valid"  # a supplier signature that verifies with the given key
    INVALID = "invalid"  # a signature is present and does not verify
    ABSENT = "absent"  # no GBCS supplier signature (unsigned GBCS, or a tagged image)


def key_pair_from_seed(seed: bytes) -> tuple[bytes, bytes]:
    """A P-256 key pair as (private PEM, public PEM), derived from a published seed.

    For TEST-ONLY keys only: anyone who reads the seed has the private key, which is what makes
    the sample files and test evidence reproducible on every machine.
    """
    scalar = int.from_bytes(hashlib.sha256(seed).digest(), "big") % (_P256_ORDER - 1) + 1
    key = ec.derive_private_key(scalar, CURVE())
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def load_private_key(pem: bytes | Secret) -> ec.EllipticCurvePrivateKey:
    raw = pem.reveal() if isinstance(pem, Secret) else pem
    if isinstance(raw, str):
        raw = raw.encode()
    try:
        key = serialization.load_pem_private_key(raw, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # Never echo the PEM or the library's message about it: it may quote key material.
        raise OtaError("signing.private_key", f"not an unencrypted PEM private key ({type(exc).__name__})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, CURVE):
        raise _not_p256(key, "signing.private_key")
    return key


def load_public_key(pem: bytes) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise OtaError("signing.public_key", f"not a PEM public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, CURVE):
        raise _not_p256(key, "signing.public_key")
    return key


def _not_p256(key: object, field: str) -> OtaError:
    """The error for a key that is not a P-256 key of the kind asked for, naming ``field`` and the key."""
    curve = getattr(getattr(key, "curve", None), "name", type(key).__name__)
    return OtaError(field, f"GBCS signatures need an EC P-256 (secp256r1) key, got {curve}")


class SignedImage(Protocol):
    """What :func:`verify` reads: an ``OtaImage`` or an ``ImageFile``."""

    @property
    def signature(self) -> bytes | None: ...

    @property
    def manufacturer_image_hash(self) -> bytes | None: ...


def sign(data: bytes, private_key: bytes | Secret | ec.EllipticCurvePrivateKey) -> bytes:
    """ECDSA P-256 / SHA-256 over ``data``, deterministic (RFC 6979), as 64-byte r||s."""
    return sign_digest(hashlib.sha256(data).digest(), private_key)


def sign_digest(digest: bytes, private_key: bytes | Secret | ec.EllipticCurvePrivateKey) -> bytes:
    """Like :func:`sign`, for data already hashed with SHA-256 (a large image hashed in chunks)."""
    key = private_key if isinstance(private_key, ec.EllipticCurvePrivateKey) else load_private_key(private_key)
    der = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256()), deterministic_signing=True))
    r, s = utils.decode_dss_signature(der)
    return r.to_bytes(_COORDINATE_SIZE, "big") + s.to_bytes(_COORDINATE_SIZE, "big")


def verify_digest(digest: bytes, signature: bytes, public_key: bytes | ec.EllipticCurvePublicKey) -> bool:
    """Whether ``signature`` (r||s) is valid for a SHA-256 ``digest`` of the signed data.

    Working on the digest lets a 16 MB image be verified from a streamed hash.
    """
    key = public_key if isinstance(public_key, ec.EllipticCurvePublicKey) else load_public_key(public_key)
    if len(signature) != SIGNATURE_SIZE:
        return False
    r = int.from_bytes(signature[:_COORDINATE_SIZE], "big")
    s = int.from_bytes(signature[_COORDINATE_SIZE:], "big")
    try:
        key.verify(utils.encode_dss_signature(r, s), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    except InvalidSignature:
        return False
    return True


def verify_bytes(data: bytes, signature: bytes, public_key: bytes | ec.EllipticCurvePublicKey) -> bool:
    return verify_digest(hashlib.sha256(data).digest(), signature, public_key)


def verify(image: SignedImage, public_key: bytes | ec.EllipticCurvePublicKey) -> SignatureStatus:
    """The supplier-signature status of ``image`` (an ``OtaImage`` or an ``ImageFile``).

    Uses only ``image.signature`` and ``image.manufacturer_image_hash``, so a large
    :class:`~harness.ota.image_file.ImageFile` is verified from its streamed hash. Tagged
    images have no GBCS supplier signature: ABSENT (Smart Energy crypto-suite signature
    elements, tags 0x0001/0x0005, are not verified here).
    """
    signature = image.signature
    if signature is None:
        return SignatureStatus.ABSENT
    digest = image.manufacturer_image_hash
    if digest is None:  # a signature implies a GBCS image, which always has a hash
        return SignatureStatus.INVALID
    return SignatureStatus.VALID if verify_digest(digest, signature, public_key) else SignatureStatus.INVALID


def sign_manufacturer_image(
    manufacturer_image: bytes, private_key: bytes | Secret | ec.EllipticCurvePrivateKey, *, force_replace: int = 0
) -> GbcsUpgradeImage:
    """A signed :class:`~harness.ota.gbcs.GbcsUpgradeImage` for ``manufacturer_image``."""
    return GbcsUpgradeImage(manufacturer_image, sign(manufacturer_image, private_key), force_replace)
