"""The emulator's TEST-ONLY authority for GBCS digital-signing certificates, and each device's key.

A real PPMID signs its CS09 with the private key of its GBCS Device Digital Signing certificate,
and a lab gives the harness that certificate (a file, never the key). Emulated devices need the
same: a P-256 key per device and an X.509 certificate binding its public key to the device's
EUI-64, issued by a CA the harness can be told to trust. The emulator is its own CA here, as it
is for CBKE (:mod:`harness.emulator.cbke_ca`).

Keys and certificates are derived from a published seed and the EUI-64, and certificates are
signed deterministically (RFC 6979) with fixed validity, so every run issues the same bytes. The
certificate layout is the emulator's own (subject common name and serial number carry the EUI-64
in hex), not the GBCS certificate profile: it only has to carry the public key and the entity id.
Private keys are held as :class:`~harness.secret.Secret` PEM and never shown.
"""

from __future__ import annotations

import datetime
import hashlib
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.ota.signing import key_pair_from_seed, load_private_key
from harness.secret import Secret

#: Validity of every certificate issued here: fixed, so the bytes are the same in every run.
VALID_FROM = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
VALID_UNTIL = datetime.datetime(2099, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)
_SEED_PREFIX = "han-harness TEST-ONLY emulator GBCS signing"


@dataclass(frozen=True, slots=True)
class SigningCredentials:
    """A device's digital-signing key (Secret PEM) and its certificate (PEM), for one EUI-64."""

    eui64: bytes
    private_key: Secret
    certificate_pem: bytes

    @property
    def public_key_pem(self) -> bytes:
        certificate = x509.load_pem_x509_certificate(self.certificate_pem)
        return certificate.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class SigningAuthority:
    """Issues (and caches) one digital-signing credential per EUI-64, from a seed."""

    def __init__(self, seed: str = "1") -> None:
        self._seed = seed
        private_pem, _ = key_pair_from_seed(f"{_SEED_PREFIX} CA {seed}".encode())
        self._key = load_private_key(private_pem)
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"TEST-ONLY emulator GBCS CA {seed}")])
        self.certificate_pem = self._issue(self._name, self._key.public_key(), serial=1, ca=True)
        self._issued: dict[bytes, SigningCredentials] = {}
        self._lock = threading.Lock()  # devices issue on the emulator's loop, tests may ask from theirs

    def _issue(self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey, *, serial: int, ca: bool) -> bytes:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._name)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(VALID_FROM)
            .not_valid_after(VALID_UNTIL)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=not ca, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
        )
        certificate = builder.sign(self._key, hashes.SHA256(), ecdsa_deterministic=True)
        return certificate.public_bytes(serialization.Encoding.PEM)

    def credentials(self, eui64: bytes) -> SigningCredentials:
        """The device's key and certificate (issued on first use, the same ones afterwards)."""
        eui64 = bytes(eui64)
        with self._lock:
            issued = self._issued.get(eui64)
            if issued is None:
                private_pem, _ = key_pair_from_seed(f"{_SEED_PREFIX} device {self._seed} ".encode() + eui64)
                subject = x509.Name([
                    x509.NameAttribute(NameOID.COMMON_NAME, f"TEST-ONLY {eui64.hex().upper()}"),
                    x509.NameAttribute(NameOID.SERIAL_NUMBER, eui64.hex().upper()),
                ])
                serial = int.from_bytes(hashlib.sha256(eui64).digest()[:8], "big") | 1
                certificate = self._issue(subject, load_private_key(private_pem).public_key(), serial=serial, ca=False)
                issued = SigningCredentials(eui64, Secret(private_pem, origin="emulator TEST-ONLY signing key"),
                                            certificate)
                self._issued[eui64] = issued
            return issued


_default: SigningAuthority | None = None
_default_lock = threading.Lock()


def default_authority() -> SigningAuthority:
    """The process's one signing authority: every emulated device's certificate comes from it."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SigningAuthority()
        return _default


#: Where ``harness image build-samples`` writes the certificates below (under firmware_images/).
CERTIFICATE_DIR = "keys/emulator-signing"


def certificate_file_name(eui64: bytes) -> str:
    """``keys/emulator-signing/TEST-ONLY-000D6F000B123451.pem``: a device's certificate, by EUI-64."""
    return f"{CERTIFICATE_DIR}/TEST-ONLY-{bytes(eui64).hex().upper()}.pem"


def certificate_files(eui64s: list[bytes]) -> dict[str, bytes]:
    """The authority's CA certificate and each device's signing certificate (never a key), as files.

    What an emulated rig names as its devices' ``signing_certificate``: the harness verifies each
    device's CS09 with it, as a lab does with the certificate its device's maker supplies.
    """
    authority = default_authority()
    files = {f"{CERTIFICATE_DIR}/TEST-ONLY-emulator-ca.pem": authority.certificate_pem}
    for eui64 in eui64s:
        files[certificate_file_name(eui64)] = authority.credentials(eui64).certificate_pem
    return files
