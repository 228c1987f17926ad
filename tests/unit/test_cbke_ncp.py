"""The emulated NCP's CBKE 283k1 handlers, called as the dispatcher calls them.

The NCP's MACs are checked against what the device side computes on its own with harness.crypto,
so the NCP is held to the same arithmetic as a partner it has never met; the key it stores is the
device's KeyData. Then the refusals a host must handle: no ephemeral key yet, a malformed partner
key, a full key table, and an NCP image without the CBKE library.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import bellows.types as t
import pytest

from harness.crypto.cbke import Role, calculate_keys, generate_ephemeral_key
from harness.crypto.ecqv import CryptoSuite
from harness.emulator.cbke_ca import default_ca
from harness.emulator.coordinator import EmulatedNcp
from harness.emulator.ezsp import cbke
from harness.emulator.ezsp.status import Status
from harness.emulator.ncp import Nvram

NCP_EUI64 = bytes.fromhex("000D6F00FFEE0001")
DEVICE_EUI64 = bytes.fromhex("000D6F000B123451")


class Recorder:
    def __init__(self) -> None:
        self.callbacks: list[tuple[str, dict[str, Any]]] = []
        self.arrived = asyncio.Event()

    def __call__(self, name: str, **values: Any) -> None:
        self.callbacks.append((name, values))
        self.arrived.set()

    async def next(self, name: str) -> dict[str, Any]:
        while not any(n == name for n, _ in self.callbacks):
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 5)
        return next(v for n, v in self.callbacks if n == name)


@pytest.fixture
def ncp(monkeypatch) -> tuple[EmulatedNcp, Recorder]:
    ncp = EmulatedNcp(ezsp_version=13, nvram=Nvram(eui64=NCP_EUI64), write=lambda data: None)
    recorder = Recorder()
    monkeypatch.setattr(ncp, "emit", recorder)
    return ncp, recorder


def device_side():
    credentials = default_ca().credentials(DEVICE_EUI64)
    ephemeral = generate_ephemeral_key(CryptoSuite.CS2, random.Random(3))
    return credentials, ephemeral


async def test_the_ncp_computes_the_macs_the_device_computes_and_stores_its_key(ncp) -> None:
    ncp, recorder = ncp
    assert cbke.generate_cbke_keys_283k1(ncp, {}) == {"status": Status.OK}
    qev = bytes((await recorder.next("generateCbkeKeysHandler283k1"))["ephemeralPublicKey"])
    credentials, ephemeral = device_side()
    assert cbke.calculate_smacs_283k1(ncp, {
        "amInitiator": t.Bool.false, "partnerCertificate": credentials.certificate.to_bytes(),
        "partnerEphemeralPublicKey": ephemeral.public_bytes,
    }) == {"status": Status.OK}
    smacs = await recorder.next("calculateSmacsHandler283k1")
    ncp_certificate = bytes(cbke.get_certificate_283k1(ncp, {})["localCert"])
    at_device = calculate_keys(own=credentials, own_ephemeral=ephemeral, role=Role.INITIATOR,
                               peer_certificate=ncp_certificate, peer_ephemeral_public=qev)
    assert smacs["status"] is Status.OK
    assert bytes(smacs["initiatorSmac"]) == at_device.initiator_mac
    assert bytes(smacs["responderSmac"]) == at_device.responder_mac
    assert cbke.clear_temporary_data_maybe_store_link_key_283k1(ncp, {"storeLinkKey": True}) == {"status": Status.OK}
    assert cbke.cbke_state(ncp).link_key_for(DEVICE_EUI64) == at_device.key_data
    assert "redacted" in repr(cbke.cbke_state(ncp).key_table)  # the table never prints a key


async def test_calculate_smacs_needs_an_ephemeral_key_first(ncp) -> None:
    ncp, _ = ncp
    credentials, ephemeral = device_side()
    result = cbke.calculate_smacs_283k1(ncp, {"amInitiator": t.Bool.false,
                                              "partnerCertificate": credentials.certificate.to_bytes(),
                                              "partnerEphemeralPublicKey": ephemeral.public_bytes})
    assert result == {"status": Status.INVALID_CALL}


async def test_a_malformed_partner_key_fails_in_the_callback(ncp) -> None:
    ncp, recorder = ncp
    cbke.generate_cbke_keys_283k1(ncp, {})
    await recorder.next("generateCbkeKeysHandler283k1")
    credentials, _ = device_side()
    cbke.calculate_smacs_283k1(ncp, {"amInitiator": t.Bool.false, "partnerCertificate": credentials.certificate.to_bytes(),
                                     "partnerEphemeralPublicKey": b"\x05" + bytes(36)})
    assert (await recorder.next("calculateSmacsHandler283k1"))["status"] is Status.FAIL
    # Nothing was calculated, so there is nothing to store.
    assert cbke.clear_temporary_data_maybe_store_link_key_283k1(ncp, {"storeLinkKey": True}) == {
        "status": Status.INVALID_CALL}


async def test_a_full_key_table_refuses_a_new_partner(ncp) -> None:
    ncp, recorder = ncp
    ncp.state.configuration[t.EzspConfigId.CONFIG_KEY_TABLE_SIZE] = 0
    cbke.generate_cbke_keys_283k1(ncp, {})
    await recorder.next("generateCbkeKeysHandler283k1")
    credentials, ephemeral = device_side()
    cbke.calculate_smacs_283k1(ncp, {"amInitiator": t.Bool.false, "partnerCertificate": credentials.certificate.to_bytes(),
                                     "partnerEphemeralPublicKey": ephemeral.public_bytes})
    await recorder.next("calculateSmacsHandler283k1")
    assert cbke.clear_temporary_data_maybe_store_link_key_283k1(ncp, {"storeLinkKey": True}) == {
        "status": Status.TABLE_FULL}
    assert cbke.cbke_state(ncp).link_key_for(DEVICE_EUI64) is None


def test_an_ncp_without_the_library_refuses_every_frame(ncp) -> None:
    ncp, _ = ncp
    cbke.cbke_state(ncp).library_present = False
    assert cbke.get_certificate_283k1(ncp, {})["status"] is Status.LIBRARY_NOT_PRESENT
    for handler, request in ((cbke.generate_cbke_keys_283k1, {}),
                             (cbke.calculate_smacs_283k1, {"amInitiator": False, "partnerCertificate": bytes(74),
                                                           "partnerEphemeralPublicKey": bytes(37)}),
                             (cbke.clear_temporary_data_maybe_store_link_key_283k1, {"storeLinkKey": True})):
        assert handler(ncp, request) == {"status": Status.LIBRARY_NOT_PRESENT}


def test_the_ncp_certificate_is_its_own_from_the_han_ca(ncp) -> None:
    ncp, _ = ncp
    certificate = bytes(cbke.get_certificate_283k1(ncp, {})["localCert"])
    assert certificate[28:36] == NCP_EUI64  # subject: the NCP's EUI-64, big-endian
    assert certificate[11:19] == b"HNTESTCA"
