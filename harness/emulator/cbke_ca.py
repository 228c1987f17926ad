"""The emulator's own TEST certificate authorities, which provision the NCP and the devices for CBKE.

A real bench needs Certicom-issued certificates in the NCP's manufacturing tokens and in every
device. The emulator has none and needs none: it owns a test CA (ECQV, SEC 4, from
:mod:`harness.crypto.ecqv`), issues the NCP's certificate from it (what a real NCP holds in its
CBKE tokens) and every emulated device's, and gives each party the CA's public key. Because the
cryptography is real, a certificate from another CA fails exactly as on a bench: the issuer is
unknown to the trust centre, and even a trust centre that skipped the issuer check would derive a
different key and fail the key confirmation.

Three authorities, created lazily (issuing a CS2 credential costs ~0.2 s of CPU in pure Python):

* :attr:`EmulatorCa.cs2` -- the HAN's CA, issuer ``HNTESTCA``: the NCP and the devices;
* :attr:`EmulatorCa.foreign_cs2` -- another CA with another key and issuer (``FOREIGNC``): the
  certificate of a device with the ``cbke_foreign_issuer`` defect;
* :attr:`EmulatorCa.cs1` -- a Crypto Suite 1 CA: the certificate of a device that offers only
  Crypto Suite 1 (``cbke_suite1_only``), which a GB trust centre refuses before any arithmetic.

Credentials are cached per (authority, EUI-64) and issued from generators derived from the
seed, so a run is reproducible. :func:`default_ca` is the process's one instance: the emulated NCP
(``harness.emulator.ezsp.cbke``) and every emulated device use it unless given another, so any
emulated radio trusts any emulated device, and each EUI-64 is issued for once per process. Private keys stay inside
:class:`~harness.crypto.ecqv.KeyPair` objects, whose repr is redacted.
"""

from __future__ import annotations

import random
import threading
from typing import Final

from harness.crypto.ecqv import CertificateAuthority, CryptoSuite, DeviceCredentials

#: Issuer ids (8 bytes, as in the certificate's Issuer field). Neither is a Certicom CA's id.
HAN_ISSUER: Final = b"HNTESTCA"
FOREIGN_ISSUER: Final = b"FOREIGNC"
CS1_ISSUER: Final = b"HNTEST1C"

#: A fixed Valid-From for emulated certificates (2024-01-01 00:00:00 UTC), so that certificates
#: issued from the same seed are the same bytes in every run.
VALID_FROM: Final = 1_704_067_200


class EmulatorCa:
    """The test CAs of one emulated radio, and the credentials they issued."""

    def __init__(self, seed: int | str = 1) -> None:
        self._seed = seed
        self._cas: dict[str, CertificateAuthority] = {}
        self._issued: dict[tuple[str, bytes], DeviceCredentials] = {}
        # Devices issue on the emulator's loop, tests may ask from theirs: one lock for both.
        self._lock = threading.Lock()

    def _rng(self, part: str) -> random.Random:
        return random.Random(f"{self._seed}:cbke:{part}")

    def _authority(self, name: str) -> CertificateAuthority:
        ca = self._cas.get(name)
        if ca is None:
            suite, issuer = {
                "cs2": (CryptoSuite.CS2, HAN_ISSUER),
                "foreign_cs2": (CryptoSuite.CS2, FOREIGN_ISSUER),
                "cs1": (CryptoSuite.CS1, CS1_ISSUER),
            }[name]
            ca = self._cas[name] = CertificateAuthority.generate(suite, issuer=issuer, rng=self._rng(name))
        return ca

    @property
    def cs2(self) -> CertificateAuthority:
        """The HAN's Crypto Suite 2 CA: the one the NCP and conformant devices trust."""
        with self._lock:
            return self._authority("cs2")

    def credentials(self, eui64: bytes, *, authority: str = "cs2") -> DeviceCredentials:
        """Credentials for ``eui64`` (8 bytes, display order = certificate subject order) from one CA.

        ``authority``: ``"cs2"`` (the HAN's), ``"foreign_cs2"`` or ``"cs1"``. The same EUI-64 and
        authority always get the same credentials within one emulator.
        """
        if len(eui64) != 8:
            raise ValueError(f"CBKE credentials need an 8-byte EUI-64, got {len(eui64)} bytes")
        key = (authority, bytes(eui64))
        with self._lock:
            found = self._issued.get(key)
            if found is None:
                ca = self._authority(authority)
                fields = {} if ca.suite is CryptoSuite.CS1 else {"valid_from": VALID_FROM}
                found = ca.issue_credentials(
                    bytes(eui64), rng=self._rng(f"{authority}:{eui64.hex()}"), **fields
                )
                self._issued[key] = found
            return found

    def __repr__(self) -> str:
        return f"EmulatorCa(seed={self._seed!r}, authorities={sorted(self._cas)}, issued={len(self._issued)})"


_DEFAULT: EmulatorCa | None = None
_DEFAULT_LOCK = threading.Lock()


def default_ca() -> EmulatorCa:
    """The process's default emulator CA: what provisions an NCP and devices nobody provisioned.

    One per process, so that every emulated radio and device of a test run trusts the same test
    CA and each EUI-64's credentials are issued once (a CS2 issuance costs ~0.2 s of CPU).
    """
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = EmulatorCa(seed="harness-emulator")
        return _DEFAULT


__all__ = ["CS1_ISSUER", "EmulatorCa", "FOREIGN_ISSUER", "HAN_ISSUER", "VALID_FROM", "default_ca"]
