"""The NCP's CBKE library: the EZSP Crypto Suite 2 (sect283k1) frames and the NCP's key table.

What an EmberZNet NCP built with the Certicom CBKE 283k1 library does for its host (EZSP
reference, "Certificate Based Key Exchange (CBKE) Frames"; frame ids and schemas from bellows'
v13/v14 tables, as for every other handler):

* ``getCertificate283k1`` -> the NCP's 74-byte implicit certificate from its manufacturing tokens;
* ``generateCbkeKeys283k1`` -> OK now, then ``generateCbkeKeysHandler283k1`` with a fresh
  ephemeral public key (the private half stays on the NCP, in its temporary data);
* ``calculateSmacs283k1(amInitiator, partnerCertificate, partnerEphemeralPublicKey)`` -> OK now,
  then ``calculateSmacsHandler283k1`` with MACU and MACV, after ECQV reconstruction of the
  partner's key under the NCP's CA key, ECMQV and the KDF (SE Annex C.4; all of it real
  arithmetic from :mod:`harness.crypto`);
* ``clearTemporaryDataMaybeStoreLinkKey283k1(storeLinkKey)`` -> forgets the ephemeral key and, if
  asked, stores the derived KeyData as the link key of the partner (the certificate's subject) in
  the key table.

The NCP does not judge the partner's certificate (issuer, key usage, subject): that is the
host's job in the Key Establishment cluster, exactly as on a real NCP. A certificate from
another CA is therefore computed with our CA key and yields MACs the partner cannot match.

State lives in :class:`NcpCbke` on the NCP object (``ncp.cbke``), outside ``RuntimeState``: the
certificate and the key table are in the NCP's flash and survive resets. The emulated radio
provisions it from the emulator's test CA (:mod:`harness.emulator.cbke_ca`); an NCP that was
not provisioned gets its own CA on first use. ``library_present = False`` makes it an NCP image
without the CBKE library (every frame answers LIBRARY_NOT_PRESENT), which is what the hub's rig
check must report.

The arithmetic runs in a worker thread so that the emulator's loop keeps the serial link
serviced while a CS2 operation takes its ~0.1 s; the callback follows the command's response,
as on a real NCP.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import bellows.types as t

from harness.crypto.cbke import KeyEstablishmentKeys, Role, calculate_keys, generate_ephemeral_key
from harness.crypto.ecqv import CryptoSuite, Cs2Certificate, DeviceCredentials, KeyPair
from harness.crypto.errors import CryptoError
from harness.secret import Secret

from ..cbke_ca import EmulatorCa, default_ca
from .handlers import Request, Result, handles
from .status import Status

if TYPE_CHECKING:
    from ..coordinator import EmulatedNcp

LOGGER = logging.getLogger(__name__)


@dataclass(slots=True)
class PendingSmacs:
    """What calculateSmacs283k1 left in the temporary data: the partner and the derived keys."""

    partner_eui64: bytes  # display order (the certificate subject)
    keys: KeyEstablishmentKeys = field(repr=False)


@dataclass(slots=True)
class NcpCbke:
    """The NCP's CBKE tokens (certificate, key pair, CA key), temporary data and link-key table."""

    credentials_source: Callable[[], DeviceCredentials] = field(repr=False)
    library_present: bool = True
    rng: random.Random = field(default_factory=lambda: random.Random("ncp:cbke"), repr=False)
    #: Partner EUI-64 (display order) -> link key established by CBKE. Survives NCP resets.
    key_table: dict[bytes, Secret] = field(default_factory=dict)
    #: Partners whose entry CBKE wrote (EMBER_KEY_IS_AUTHORIZED); an imported install-code key is not.
    authorized: set[bytes] = field(default_factory=set)
    ephemeral: KeyPair | None = field(default=None, repr=False)
    pending: PendingSmacs | None = field(default=None, repr=False)
    _credentials: DeviceCredentials | None = field(default=None, repr=False)

    @classmethod
    def provisioned(cls, ca: EmulatorCa, eui64: bytes, *, seed: int | str = 1) -> NcpCbke:
        """An NCP whose tokens hold a certificate for ``eui64`` from the emulator's CA (issued on first use)."""
        return cls(credentials_source=lambda: ca.credentials(eui64), rng=random.Random(f"{seed}:ncp-cbke"))

    @property
    def credentials(self) -> DeviceCredentials:
        if self._credentials is None:
            self._credentials = self.credentials_source()
        return self._credentials

    def link_key_for(self, eui64: bytes) -> Secret | None:
        """The key-table entry for a partner (display-order EUI-64), or None."""
        return self.key_table.get(bytes(eui64))

    def clear_temporary(self) -> None:
        self.ephemeral = None
        self.pending = None


def cbke_state(ncp: EmulatedNcp) -> NcpCbke:
    """The NCP's CBKE state; an NCP nobody provisioned is provisioned from the default test CA on first use."""
    state = getattr(ncp, "cbke", None)
    if state is None:
        state = NcpCbke.provisioned(default_ca(), ncp.nvram.eui64)
        ncp.cbke = state  # type: ignore[attr-defined]
    return state


def _not_present() -> Result:
    return {"status": Status.LIBRARY_NOT_PRESENT}


@handles("getCertificate283k1")
def get_certificate_283k1(ncp: EmulatedNcp, request: Request) -> Result:
    state = cbke_state(ncp)
    if not state.library_present:
        return {"status": Status.LIBRARY_NOT_PRESENT, "localCert": t.EmberCertificate283k1Data([0] * 74)}
    return {"status": Status.OK, "localCert": t.EmberCertificate283k1Data(state.credentials.certificate.to_bytes())}


@handles("generateCbkeKeys283k1")
def generate_cbke_keys_283k1(ncp: EmulatedNcp, request: Request) -> Result:
    state = cbke_state(ncp)
    if not state.library_present:
        return _not_present()
    state.clear_temporary()
    seed = state.rng.getrandbits(64)

    async def generate() -> None:
        try:
            key = await asyncio.to_thread(generate_ephemeral_key, CryptoSuite.CS2, random.Random(seed))
        except CryptoError as exc:  # pragma: no cover -- key generation has no failing input
            LOGGER.warning("generateCbkeKeys283k1 failed: %s", exc)
            ncp.emit("generateCbkeKeysHandler283k1", status=Status.FAIL)
            return
        state.ephemeral = key
        ncp.emit("generateCbkeKeysHandler283k1", status=Status.OK,
                 ephemeralPublicKey=t.EmberPublicKey283k1Data(key.public_bytes))

    ncp.spawn(generate(), name="generateCbkeKeys283k1")
    return {"status": Status.OK}


@handles("calculateSmacs283k1")
def calculate_smacs_283k1(ncp: EmulatedNcp, request: Request) -> Result:
    state = cbke_state(ncp)
    if not state.library_present:
        return _not_present()
    ephemeral = state.ephemeral
    if ephemeral is None:  # generateCbkeKeys283k1 first: there is no ephemeral key to use
        return {"status": Status.INVALID_CALL}
    role = Role.INITIATOR if request["amInitiator"] else Role.RESPONDER
    certificate = bytes(request["partnerCertificate"])
    partner_ephemeral = bytes(request["partnerEphemeralPublicKey"])

    def calculate() -> KeyEstablishmentKeys:
        return calculate_keys(own=state.credentials, own_ephemeral=ephemeral, role=role,
                              peer_certificate=certificate, peer_ephemeral_public=partner_ephemeral)

    async def run() -> None:
        try:
            keys = await asyncio.to_thread(calculate)
        except CryptoError as exc:  # a malformed partner certificate or ephemeral key
            LOGGER.info("calculateSmacs283k1: partner data refused: %s", exc)
            ncp.emit("calculateSmacsHandler283k1", status=Status.FAIL)
            return
        state.pending = PendingSmacs(partner_eui64=Cs2Certificate.read_field(certificate, "subject"), keys=keys)
        ncp.emit("calculateSmacsHandler283k1", status=Status.OK,
                 initiatorSmac=t.EmberSmacData(keys.initiator_mac), responderSmac=t.EmberSmacData(keys.responder_mac))

    ncp.spawn(run(), name="calculateSmacs283k1")
    return {"status": Status.OK}


@handles("clearTemporaryDataMaybeStoreLinkKey283k1")
def clear_temporary_data_maybe_store_link_key_283k1(ncp: EmulatedNcp, request: Request) -> Result:
    state = cbke_state(ncp)
    if not state.library_present:
        return _not_present()
    pending = state.pending
    state.clear_temporary()
    if not request["storeLinkKey"]:
        return {"status": Status.OK}
    if pending is None:  # nothing was calculated: no key to store
        return {"status": Status.INVALID_CALL}
    size = ncp.state.configuration.get(t.EzspConfigId.CONFIG_KEY_TABLE_SIZE, 0)
    if pending.partner_eui64 not in state.key_table and len(state.key_table) >= size:
        return {"status": Status.TABLE_FULL}
    state.key_table[pending.partner_eui64] = Secret(
        pending.keys.key_data.reveal(), origin=f"CBKE link key for {pending.partner_eui64.hex(':').upper()}"
    )
    state.authorized.add(pending.partner_eui64)
    return {"status": Status.OK}


@handles("savePreinstalledCbkeData283k1")
def save_preinstalled_cbke_data_283k1(ncp: EmulatedNcp, request: Request) -> Result:
    # Writes staged CBKE data to the tokens; the emulated tokens are already provisioned.
    return {"status": Status.OK} if cbke_state(ncp).library_present else _not_present()


__all__ = ["NcpCbke", "PendingSmacs", "cbke_state"]
