"""Smart Energy Certificate-Based Key Establishment: the key agreement and key confirmation.

This is the arithmetic behind the Key Establishment cluster (0x0800) and behind EmberZNet's
``generateCbkeKeys*`` / ``calculateSmacs*`` frames, for Crypto Suite 1 (sect163k1) and Crypto
Suite 2 (sect283k1). The cluster exchange itself (Initiate Key Establishment, Ephemeral
Data, Confirm Key, Terminate) belongs to whoever speaks ZCL; it calls in here.

Roles follow the specification: U is the **initiator** (normally the joining device), V the
**responder** (normally the trust centre). Each side has static credentials (certificate,
key pair, CA key; :class:`~harness.crypto.ecqv.DeviceCredentials`) and a fresh ephemeral key
pair per run (:func:`generate_ephemeral_key`). After exchanging certificates and ephemeral
public keys, each side calls :func:`calculate_keys` and gets the same
:class:`KeyEstablishmentKeys`: the two confirmation MACs to send and check, and KeyData, the
new APS link key.

The construction (SE 07-5356 Annex C as quoted in the security test-vector notes §5.1):

1. the peer's static key from its certificate: Q = e*P + Q_CA (SEC 4 §3.5);
2. the shared secret Z by ECMQV with cofactor (SEC 1 v2 §3.4);
3. MacKey || KeyData = KDF(Z), the ANSI X9.63 KDF with AES-MMO (SEC 1 §3.6.1);
4. MACU = HMAC(MacKey, 02 || IDU || IDV || QEU || QEV), MACV = HMAC(MacKey, 03 || IDV || IDU || QEV || QEU).

SE section numbers (§C.3.1.2.3.1.2, §C.4.2.2.x) are as quoted in DSR ZBOSS, which is where
the notes took them from; the byte layouts themselves are confirmed by the Annex C.5 / C.6
known answers the tests reproduce.

Secrets (Z, MacKey, KeyData) are returned as :class:`~harness.secret.Secret`; the MACs go on
the air in clear and are plain bytes.
"""

from __future__ import annotations

import enum
import hmac
import random
from dataclasses import dataclass
from typing import Final

from harness.crypto.aes_mmo import aes_mmo_hash, hmac_aes_mmo
from harness.crypto.binary_curve import BinaryCurve, Point
from harness.crypto.ecqv import (
    CS2_CERTIFICATE_TYPE,
    CS2_CURVE_SECT283K1,
    CS2_HASH_AES_MMO,
    KEY_USAGE_KEY_AGREEMENT,
    Certificate,
    CryptoSuite,
    Cs2Certificate,
    DeviceCredentials,
    KeyPair,
    parse_certificate,
    reconstruct_public_key,
)
from harness.crypto.errors import CertificateError, KeyEstablishmentError
from harness.secret import Secret

#: Message-type octets that open the key-confirmation MAC inputs: initiator (U) and responder (V).
MAC_TYPE_INITIATOR: Final = 0x02
MAC_TYPE_RESPONDER: Final = 0x03


class Role(enum.Enum):
    """Which side of the exchange this party plays."""

    INITIATOR = "initiator"  # U: sends Initiate Key Establishment Request and MACU
    RESPONDER = "responder"  # V: answers, sends MACV


# -- ECMQV (SEC 1 v2 §3.4) ----------------------------------------------------------------------


def associate_value(curve: BinaryCurve, point: Point) -> int:
    """avf(Q) = (x mod 2^ceil(f/2)) + 2^ceil(f/2), with f = ceil(log2 n) (SEC 1 §3.4 step 2).

    x is the field element read as an integer (SEC 1 §2.3.9). Keeping only half of x and
    forcing the top bit on is what makes MQV's implicit signature cheap yet non-degenerate.
    ceil(f/2) is 82 for sect163k1 and 141 for sect283k1.
    """
    f = (curve.n - 1).bit_length()  # = ceil(log2 n) for every n >= 2
    half = (f + 1) // 2  # ceil(f/2)
    bound = 1 << half
    return (point.x % bound) + bound


def implicit_signature(static: KeyPair, ephemeral: KeyPair) -> int:
    """s = (de + avf(QE) * d) mod n (SEC 1 §3.4 step 3): the own half of ECMQV."""
    curve = static.curve
    avf = associate_value(curve, ephemeral.public_key)
    return (ephemeral.secret_scalar() + avf * static.secret_scalar()) % curve.n


def ecmqv_shared_secret(
    static: KeyPair, ephemeral: KeyPair, peer_static: Point, peer_ephemeral: Point
) -> Secret:
    """Z, the x-coordinate of P = h*s*(QE' + avf(QE')*Q') as a fixed-length field element (SEC 1 §3.4).

    The cofactor h (2 for sect163k1, 4 for sect283k1) is part of the SE construction: it maps
    any small-order component a malicious peer key might carry to O, so a peer cannot learn
    bits of s by sending keys outside the order-n subgroup. h*s is used as an integer, not
    reduced mod n, for the same reason. Leaving h out gives a different Z, which the SE Annex
    C.6 test data catches.

    Raises :class:`KeyEstablishmentError` when P = O, where SEC 1 §3.4 says to output "invalid".
    """
    curve = static.curve
    if ephemeral.curve is not curve:
        raise KeyEstablishmentError(f"static key is on {curve.name}, ephemeral key on {ephemeral.curve.name}")
    s = implicit_signature(static, ephemeral)
    combined = curve.add(peer_ephemeral, curve.multiply(associate_value(curve, peer_ephemeral), peer_static))
    shared = curve.multiply(curve.h * s, combined)
    if shared is None:
        raise KeyEstablishmentError("ECMQV shared point is the point at infinity; abort the key establishment")
    return Secret(curve.field.to_bytes(shared.x), origin="CBKE shared secret Z")


def derive_keys(shared_secret: Secret | bytes) -> tuple[Secret, Secret]:
    """(MacKey, KeyData) = KDF(Z): AES-MMO(Z || 00000001), AES-MMO(Z || 00000002).

    The ANSI X9.63 KDF of SEC 1 §3.6.1 with AES-MMO as the hash, no shared info and a 4-byte
    big-endian counter starting at 1; 256 bits of output split into two 128-bit keys.
    """
    z = shared_secret.reveal() if isinstance(shared_secret, Secret) else shared_secret
    assert isinstance(z, bytes)
    mac_key = aes_mmo_hash(z + (1).to_bytes(4, "big"))
    key_data = aes_mmo_hash(z + (2).to_bytes(4, "big"))
    return Secret(mac_key, origin="CBKE MacKey"), Secret(key_data, origin="CBKE KeyData (link key)")


def confirmation_mac(
    mac_key: Secret | bytes,
    message_type: int,
    own_id: bytes,
    other_id: bytes,
    own_ephemeral: bytes,
    other_ephemeral: bytes,
) -> bytes:
    """HMAC-AES-MMO(MacKey, type || ID_sender || ID_other || QE_sender || QE_other) (SE §C.4.2.2.6).

    ``message_type`` is 0x02 for MACU (sent by the initiator) and 0x03 for MACV (sent by the
    responder). IDs are the 8-byte EUI-64s in certificate (big-endian) order, the reverse of the
    byte order in Zigbee frames; ephemeral keys are in compressed form. The MAC binds both
    identities and both ephemeral keys, so a party that derived a different Z, or saw
    different keys, fails confirmation.
    """
    key = mac_key.reveal() if isinstance(mac_key, Secret) else mac_key
    assert isinstance(key, bytes)
    for name, eui in (("own_id", own_id), ("other_id", other_id)):
        if len(eui) != 8:
            raise KeyEstablishmentError(f"{name} must be an 8-byte EUI-64, got {len(eui)} bytes")
    message = bytes([message_type]) + own_id + other_id + own_ephemeral + other_ephemeral
    return hmac_aes_mmo(key, message)


# -- the exchange -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyEstablishmentKeys:
    """Everything a party derives once it has the peer's certificate and ephemeral key.

    ``initiator_mac`` (MACU) and ``responder_mac`` (MACV) are the same on both sides when the
    exchange is sound. Each side sends its own MAC (:meth:`own_mac`) in Confirm Key Data and
    checks the other's with :meth:`check_peer_mac`; only then does ``key_data`` become the APS
    link key with the peer.
    """

    role: Role
    shared_secret: Secret  # Z
    mac_key: Secret
    key_data: Secret  # the new link key
    initiator_mac: bytes  # MACU
    responder_mac: bytes  # MACV

    def own_mac(self) -> bytes:
        """The MAC this party sends: MACU for the initiator, MACV for the responder."""
        return self.initiator_mac if self.role is Role.INITIATOR else self.responder_mac

    def expected_peer_mac(self) -> bytes:
        """The MAC the peer should send."""
        return self.responder_mac if self.role is Role.INITIATOR else self.initiator_mac

    def check_peer_mac(self, mac: bytes) -> None:
        """Raise :class:`KeyEstablishmentError` unless ``mac`` is the peer's expected MAC (constant-time compare).

        A mismatch means the two sides derived different keys: the Key Establishment cluster
        answers it with Terminate Key Establishment, status BAD_KEY_CONFIRM.
        """
        if not hmac.compare_digest(bytes(mac), self.expected_peer_mac()):
            peer = "MACV" if self.role is Role.INITIATOR else "MACU"
            raise KeyEstablishmentError(f"{peer} from the peer does not verify (bad key confirmation)")


def generate_ephemeral_key(suite: CryptoSuite, rng: random.Random | None = None) -> KeyPair:
    """A fresh ephemeral key pair (de, QE) for one run (what generateCbkeKeys makes on an NCP)."""
    return KeyPair.generate(suite.curve, rng)


def calculate_keys(
    *,
    own: DeviceCredentials,
    own_ephemeral: KeyPair,
    role: Role,
    peer_certificate: Certificate | bytes,
    peer_ephemeral_public: bytes,
) -> KeyEstablishmentKeys:
    """Derive Z, MacKey, KeyData, MACU and MACV from the peer's certificate and ephemeral key.

    The counterpart of EmberZNet's ``calculateSmacs`` / ``calculateSmacs283k1``. The peer's
    static key is reconstructed under *our* CA key (SEC 4 §3.5): a certificate from another CA
    gives a wrong key and so a failed confirmation, not an error here. The peer's ephemeral key
    is decoded, which refuses a malformed encoding or an x-coordinate of no curve point.

    Policy checks on the peer certificate (key usage, issuer, subject = partner) are separate
    (:func:`check_peer_certificate`) because the cluster reports them with their own statuses
    before any of this arithmetic runs.
    """
    suite = own.suite
    curve = suite.curve
    peer_cert = parse_certificate(peer_certificate, suite)
    if own_ephemeral.curve is not curve:
        raise KeyEstablishmentError(
            f"own ephemeral key is on {own_ephemeral.curve.name}; {suite.name} uses {curve.name}"
        )
    peer_ephemeral = curve.decode_point(peer_ephemeral_public, what="peer ephemeral public key")
    peer_static = reconstruct_public_key(peer_cert, own.ca_public_key)
    z = ecmqv_shared_secret(own.key_pair, own_ephemeral, peer_static, peer_ephemeral)
    mac_key, key_data = derive_keys(z)

    own_qe, peer_qe = own_ephemeral.public_bytes, curve.encode_point(peer_ephemeral)
    if role is Role.INITIATOR:
        id_u, id_v, qe_u, qe_v = own.eui64, peer_cert.subject, own_qe, peer_qe
    else:
        id_u, id_v, qe_u, qe_v = peer_cert.subject, own.eui64, peer_qe, own_qe
    return KeyEstablishmentKeys(
        role=role,
        shared_secret=z,
        mac_key=mac_key,
        key_data=key_data,
        initiator_mac=confirmation_mac(mac_key, MAC_TYPE_INITIATOR, id_u, id_v, qe_u, qe_v),
        responder_mac=confirmation_mac(mac_key, MAC_TYPE_RESPONDER, id_v, id_u, qe_v, qe_u),
    )


def check_peer_certificate(
    certificate: Certificate | bytes,
    *,
    suite: CryptoSuite,
    partner_eui64: bytes | None = None,
    expected_issuer: bytes | None = None,
) -> Certificate:
    """The receiver's checks on a certificate arriving in Initiate Key Establishment; returns it parsed.

    For CS2 (SE §C.3.1.2.3.1.2): type 0x00, curve 0x0D (sect283k1), hash 0x08 (AES-MMO), and
    the key-agreement bit in key usage -- a signature-only certificate is a valid ECQV
    certificate but must not be used for CBKE. For both suites, when given: the subject must be
    the partner's EUI-64 (big-endian, as in the certificate), so a device cannot present
    another device's certificate, and the issuer must be the one our own CA uses.

    Raises :class:`CertificateError` naming the failed check; the cluster answers it with
    Terminate Key Establishment (INVALID_CERTIFICATE, or UNKNOWN_ISSUER for the issuer).
    """
    cert = parse_certificate(certificate, suite)
    if isinstance(cert, Cs2Certificate):
        for name, value, wanted in (
            ("cert_type", cert.cert_type, CS2_CERTIFICATE_TYPE),
            ("curve_id", cert.curve_id, CS2_CURVE_SECT283K1),
            ("hash_id", cert.hash_id, CS2_HASH_AES_MMO),
        ):
            if value != wanted:
                raise CertificateError(f"CS2 certificate {name} is 0x{value:02X}, expected 0x{wanted:02X}")
        if not cert.key_usage & KEY_USAGE_KEY_AGREEMENT:
            raise CertificateError(
                f"CS2 certificate key usage 0x{cert.key_usage:02X} lacks the key-agreement bit 0x08"
            )
    if expected_issuer is not None and cert.issuer != expected_issuer:
        raise CertificateError(
            f"certificate issuer {cert.issuer.hex().upper()} is not the expected {expected_issuer.hex().upper()}"
        )
    if partner_eui64 is not None and cert.subject != partner_eui64:
        raise CertificateError(
            f"certificate subject {cert.subject.hex().upper()} is not the partner {partner_eui64.hex().upper()}"
        )
    return cert


__all__ = [
    "MAC_TYPE_INITIATOR",
    "MAC_TYPE_RESPONDER",
    "KeyEstablishmentKeys",
    "Role",
    "associate_value",
    "calculate_keys",
    "check_peer_certificate",
    "confirmation_mac",
    "derive_keys",
    "ecmqv_shared_secret",
    "generate_ephemeral_key",
    "implicit_signature",
]
