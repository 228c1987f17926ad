"""The CH's Key Establishment server and the emulated device's client, against each other in-process.

No bellows and no NCP: the server's NCP half is a stand-in doing the same arithmetic from
harness.crypto (what the emulated NCP's 283k1 handlers do), the device is a real emulated device
on a VirtualHan whose fake coordinator hands its Key Establishment frames to the server. Then the
same with each CBKE defect, and the state tables themselves.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import replace

import pytest
import zigpy.types as t
from zigpy.zcl import foundation

from harness.crypto.cbke import KeyEstablishmentKeys, Role, calculate_keys, generate_ephemeral_key
from harness.crypto.ecqv import CryptoSuite, KeyPair
from harness.emulator.air import SE_PROFILE, AirFrame
from harness.emulator.cbke_ca import HAN_ISSUER, default_ca
from harness.emulator.devices import EmulatedDevice
from harness.emulator.devices import key_establishment as client_module
from harness.emulator.devices.key_establishment import KeyEstablishmentTimings
from harness.hub import key_establishment as server_module
from harness.hub.ke_ncp import CbkeRadioError
from harness.hub.key_establishment import (
    KeOutcome,
    KeyEstablishmentCore,
    KeyEstablishmentSettings,
    Peer,
)
from harness.hub.se_services import SeServices
from harness.secret import Secret
from tests.fixtures.emulator_device_fakes import Air

CH_EP = 0x0A
FAST_SERVER = KeyEstablishmentSettings(response_margin_s=0.5, ephemeral_data_generate_time_s=1,
                                       confirm_key_generate_time_s=1, initiate_timeout_s=2)
FAST_CLIENT = KeyEstablishmentTimings(ephemeral_data_generate_time_s=1, confirm_key_generate_time_s=1,
                                      tc_answer_timeout_s=1.0, margin_s=0.5)


class CryptoRadio:
    """The trust centre's CBKE half done on the host with harness.crypto (what the NCP does on a bench)."""

    def __init__(self, eui64: bytes, *, library: bool = True, key_table_size: int = 4) -> None:
        self.credentials = default_ca().credentials(eui64)
        self.library = library
        self.key_table_size = key_table_size
        self.rng = random.Random(7)
        self.ephemeral: KeyPair | None = None
        self.pending: tuple[bytes, KeyEstablishmentKeys] | None = None
        self.key_table: dict[bytes, Secret] = {}
        self.calls: list[str] = []

    async def certificate(self) -> bytes:
        self.calls.append("certificate")
        if not self.library:
            raise CbkeRadioError("getCertificate283k1: LIBRARY_NOT_PRESENT", unsupported=True)
        return self.credentials.certificate.to_bytes()

    async def generate_keys(self) -> bytes:
        self.calls.append("generate")
        self.ephemeral = generate_ephemeral_key(CryptoSuite.CS2, self.rng)
        return self.ephemeral.public_bytes

    async def calculate_smacs(self, partner_certificate: bytes, partner_ephemeral: bytes) -> tuple[bytes, bytes]:
        self.calls.append("calculate")
        assert self.ephemeral is not None
        keys = calculate_keys(own=self.credentials, own_ephemeral=self.ephemeral, role=Role.RESPONDER,
                              peer_certificate=partner_certificate, peer_ephemeral_public=partner_ephemeral)
        self.pending = (partner_certificate[28:36], keys)
        return keys.initiator_mac, keys.responder_mac

    async def clear(self, store_link_key: bool) -> None:
        self.calls.append(f"clear({store_link_key})")
        if store_link_key and self.pending is not None:
            partner, keys = self.pending
            if partner not in self.key_table and len(self.key_table) >= self.key_table_size:
                self.ephemeral, self.pending = None, None
                raise CbkeRadioError("clearTemporaryDataMaybeStoreLinkKey283k1: TABLE_FULL (0xB4)")
            self.key_table[partner] = Secret(keys.key_data.reveal())
        self.ephemeral, self.pending = None, None


class Bench:
    """A VirtualHan with a fake coordinator, and the CH's KE core wired to it."""

    def __init__(self, air: Air, *, settings: KeyEstablishmentSettings = FAST_SERVER, library: bool = True) -> None:
        self.air = air
        self.radio = CryptoRadio(air.coordinator.eui64, library=library)
        self.outcomes: list[KeOutcome] = []
        self.stages: list[tuple[str, str]] = []
        self.core = KeyEstablishmentCore(radio=self.radio, send=self._send, settings=settings,
                                         on_outcome=self.outcomes.append,
                                         on_stage=lambda peer, stage, detail: self.stages.append((peer.name, stage)))
        air.coordinator.listeners.append(self._from_device)

    def _device_at(self, nwk: int) -> EmulatedDevice:
        return next(d for d in self.air.han.devices if d.nwk == nwk)

    def _from_device(self, frame: AirFrame) -> None:
        if frame.cluster_id == 0x0800 and frame.dst_ep == CH_EP:
            device = self._device_at(frame.src_nwk)
            hdr, rest = foundation.ZCLHeader.deserialize(frame.payload)
            if hdr.frame_control.is_general and hdr.command_id == foundation.GeneralCommand.Read_Attributes:
                self._answer_suite_read(device, frame, hdr, rest)
                return
            self.core.frame_received(Peer(device.name, device.eui64, frame.src_ep), frame.payload)

    def _answer_suite_read(self, device: EmulatedDevice, frame: AirFrame, hdr: foundation.ZCLHeader,
                           rest: bytes) -> None:
        """The CH's KeyEstablishmentSuite answer (harness.hub.se_services), as the hub sends it."""
        request, _ = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes].schema.deserialize(rest)
        records = SeServices().read(device.name, 0x0800, list(request.attribute_ids), encrypted=False)
        rsp_hdr = foundation.ZCLHeader.general(hdr.tsn, foundation.GeneralCommand.Read_Attributes_rsp,
                                               direction=foundation.Direction.Server_to_Client)
        rsp = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp].schema(status_records=records)
        reply = AirFrame(0, frame.src_nwk, SE_PROFILE, 0x0800, CH_EP, frame.src_ep, rsp_hdr.serialize() + rsp.serialize())
        asyncio.get_running_loop().create_task(self.air.han.unicast(reply))

    async def _send(self, peer: Peer, payload: bytes) -> None:
        device = next(d for d in self.air.han.devices if d.eui64 == peer.eui64)
        assert await self.air.han.unicast(AirFrame(0, device.nwk, SE_PROFILE, 0x0800, CH_EP, peer.endpoint, payload))

    async def join(self, behaviour: str = "conformant") -> tuple[EmulatedDevice, KeOutcome]:
        device = self.air.device(cbke_required=True, behaviour=behaviour)
        device.key_establishment.timings = FAST_CLIENT
        _started, finished = self.core.expect(device.eui64)
        self.air.give_key(device)
        self.air.han.permit_joining(60)
        return device, await asyncio.wait_for(finished, 10)


@pytest.fixture
async def air():
    air = Air()
    yield air
    await air.han.close()


async def test_a_conformant_device_and_the_ch_agree_on_a_link_key(air: Air) -> None:
    bench = Bench(air)
    device, outcome = await bench.join()
    assert outcome.established, outcome.describe()
    assert (outcome.stage, outcome.status, outcome.by) == ("established", "SUCCESS", "")
    # The CH is done once its NCP stores the key; the device once it has checked the CH's confirm.
    await device.wait_for("cbke_established", timeout=2)
    # Both sides hold the same key, and only the CH's store (clear(True)) put it in the table.
    assert device.key_establishment.link_key is not None
    assert bench.radio.key_table[device.eui64] == device.key_establishment.link_key
    assert bench.radio.calls == ["certificate", "generate", "calculate", "clear(True)"]
    assert [s for _, s in bench.stages] == ["initiate", "ephemeral_data", "confirm_key", "established"]
    assert device.joined  # it stays on the HAN and goes on (reads tenancy, ...)


@pytest.mark.parametrize(
    ("behaviour", "status", "stage", "by"),
    [
        ("cbke_suite1_only", "UNSUPPORTED_SUITE", "initiate", "CH"),
        ("cbke_foreign_issuer", "UNKNOWN_ISSUER", "initiate", "CH"),
        ("cbke_bad_confirm_key", "BAD_KEY_CONFIRM", "confirm_key", "CH"),
        ("cbke_never_finishes", "TIMEOUT", "confirm_key", ""),
    ],
)
async def test_each_defect_ends_with_its_status_at_its_stage(air: Air, behaviour: str, status: str, stage: str,
                                                             by: str) -> None:
    bench = Bench(air)
    device, outcome = await bench.join(behaviour)
    assert not outcome.established
    assert (outcome.status, outcome.stage, outcome.by) == (status, stage, by), outcome.describe()
    assert device.eui64 not in bench.radio.key_table
    assert device.key_establishment.link_key is None
    text = outcome.describe()
    assert device.name in text and status in text  # errors name the device, the stage and the reason
    if behaviour == "cbke_never_finishes":
        await device.wait_for("cbke_stalled", timeout=2)
        assert device.joined  # it hangs on the network; the CH gave up on it
        assert "clear(False)" in bench.radio.calls
    else:
        # The device heard the Terminate and left the HAN; the trust centre was told.
        await device.wait_for("left", timeout=2)
        assert air.coordinator.left and air.coordinator.left[-1][1] == device.eui64
        failed = device.events.named("cbke_failed")[-1].details
        assert (failed["status"], failed["by"]) == (status, "trust centre")


async def test_a_trust_centre_that_never_answers_makes_the_device_leave(air: Air) -> None:
    # Nobody serves Key Establishment: the device gives up after its own timeout and leaves.
    device = air.device(cbke_required=True)
    device.key_establishment.timings = replace(FAST_CLIENT, tc_answer_timeout_s=0.3)
    air.give_key(device)
    air.han.permit_joining(60)
    failed = await device.wait_for("cbke_failed", timeout=3)
    # Its first question, the KeyEstablishmentSuite read, went unanswered: no Initiate, no Terminate.
    assert (failed.details["stage"], failed.details["status"]) == ("suite_read", "TIMEOUT")
    await device.wait_for("left", timeout=2)
    assert not device.joined
    assert [e.details["command"] for e in device.events.named("cbke_sent")] == []


def _suite_answer(records: list[foundation.ReadAttributeRecord]) -> Callable[[AirFrame], None]:
    """A trust centre that answers the suite read with ``records`` (and nothing else)."""

    def answer(frame: AirFrame, air: Air) -> None:
        hdr, _ = foundation.ZCLHeader.deserialize(frame.payload)
        rsp_hdr = foundation.ZCLHeader.general(hdr.tsn, foundation.GeneralCommand.Read_Attributes_rsp,
                                               direction=foundation.Direction.Server_to_Client)
        rsp = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp].schema(status_records=records)
        reply = AirFrame(0, frame.src_nwk, SE_PROFILE, 0x0800, CH_EP, frame.src_ep, rsp_hdr.serialize() + rsp.serialize())
        asyncio.get_running_loop().create_task(air.han.unicast(reply))

    return answer  # type: ignore[return-value]


def _suite(type_id: int, value: int = 0x0002, attrid: int = 0) -> foundation.ReadAttributeRecord:
    return foundation.ReadAttributeRecord(attrid=attrid, status=foundation.Status.SUCCESS,
                                          value=foundation.TypeValue(type=type_id, value=t.uint16_t(value)))


@pytest.mark.parametrize(("records", "problem"), [
    ([_suite(0x31), _suite(0x31)], "2 records"),
    ([_suite(0x21)], "type 0x21"),
], ids=["two-records", "uint16-not-enum16"])
async def test_a_suite_answer_a_real_device_would_ignore_ends_cbke_without_a_terminate(
        air: Air, records: list[foundation.ReadAttributeRecord], problem: str) -> None:
    answer = _suite_answer(records)
    air.coordinator.listeners.append(
        lambda f: answer(f, air) if f.cluster_id == 0x0800 and f.payload[:1] == b"\x10" else None)
    device = air.device(cbke_required=True)
    device.key_establishment.timings = replace(FAST_CLIENT, tc_answer_timeout_s=0.3)
    air.give_key(device)
    air.han.permit_joining(60)
    refused = await device.wait_for("cbke_suite_read_refused", timeout=3)
    assert problem in refused.details["problem"]
    failed = await device.wait_for("cbke_failed", timeout=3)
    assert (failed.details["stage"], failed.details["status"]) == ("suite_read", "TIMEOUT")
    assert not device.events.named("cbke_sent"), "no Initiate and no Terminate"


async def test_a_bitmap16_suite_is_accepted_as_enum16_is(air: Air) -> None:
    answer = _suite_answer([_suite(0x19)])
    air.coordinator.listeners.append(
        lambda f: answer(f, air) if f.cluster_id == 0x0800 and f.payload[:1] == b"\x10" else None)
    device = air.device(cbke_required=True)
    device.key_establishment.timings = FAST_CLIENT
    air.give_key(device)
    air.han.permit_joining(60)
    read = await device.wait_for("cbke_suite_read", timeout=3)
    assert read.details["suites"] == "0x0002"
    started = await device.wait_for("cbke_started", timeout=3)
    assert started.details["suite"] == "0x0002"


async def test_a_device_that_skips_the_suite_read_offers_suite_1_and_is_refused(air: Air) -> None:
    bench = Bench(air)
    device, outcome = await bench.join("cbke_skips_suite_read")
    assert not outcome.established and outcome.status == "UNSUPPORTED_SUITE", outcome.describe()
    assert not device.events.named("cbke_suite_read_sent")


async def test_a_refused_device_holds_off_for_the_wait_time_then_joins_in_a_new_window(air: Air) -> None:
    # Terminate carries Wait Time 4 s; the FAST device scales server-dictated waits by 0.05: 0.2 s.
    bench = Bench(air, settings=replace(FAST_SERVER, terminate_wait_time_s=4))
    device, outcome = await bench.join("cbke_suite1_only")
    await device.wait_for("left", timeout=2)
    attempts = len(device.events.named("join_attempt"))
    # A new window at once: the device must not take it yet. Whether it tries is decided when the
    # window opens (its hold-off), so that is the state to check, not a pause.
    air.han.permit_joining(60)
    assert not device.key_establishment.may_join()
    assert len(device.events.named("join_attempt")) == attempts
    device.set_behaviour("conformant")
    await asyncio.sleep(0.2)  # the hold-off the server dictated (4 s x 0.05): the device may join after it
    _started, finished = bench.core.expect(device.eui64)
    air.han.permit_joining(60)
    assert (await asyncio.wait_for(finished, 10)).established


async def test_a_secure_rejoin_with_a_key_held_does_not_run_cbke_again(air: Air) -> None:
    bench = Bench(air)
    device, outcome = await bench.join()
    assert outcome.established
    mark = device.events.mark()
    device.reboot()
    await device.wait_for("rejoined", since=mark, timeout=2)
    # After a join the device decides on CBKE before it reads tenancy: once it reads, it has decided.
    await device.wait_for("tenancy_read_sent", since=mark, timeout=2)
    assert device.events.find("cbke_started", since=mark) is None


async def test_a_radio_without_cbke_answers_no_resources(air: Air) -> None:
    bench = Bench(air, library=False)
    device, outcome = await bench.join()
    assert (outcome.status, outcome.stage, outcome.by) == ("NO_RESOURCES", "initiate", "CH")
    assert "NCP failed" in outcome.reason


async def test_a_key_the_ncp_cannot_store_is_not_an_established_key(air: Air) -> None:
    bench = Bench(air)
    bench.radio.key_table_size = 0
    device, outcome = await bench.join()
    assert (outcome.status, outcome.stage, outcome.by) == ("NO_RESOURCES", "confirm_key", "CH")
    assert "CONFIG_KEY_TABLE_SIZE" in outcome.reason
    await device.wait_for("left", timeout=2)
    assert device.key_establishment.link_key is None


async def test_a_device_that_never_initiates_is_reported_not_started(air: Air) -> None:
    bench = Bench(air)
    device = air.device(cbke_required=False)  # joins, but never starts CBKE
    outcome = bench.core.not_started(device.name, device.eui64, since=0.0, waited_s=2)
    assert (outcome.status, outcome.stage) == ("NOT_STARTED", "initiate")
    assert outcome.evidence().outcome.value == "NOT_OBSERVED"


def test_the_ch_certificate_comes_from_the_han_ca() -> None:
    credentials = default_ca().credentials(bytes.fromhex("000D6F0000AABBCC"))
    assert credentials.certificate.issuer == HAN_ISSUER
    assert default_ca().credentials(bytes.fromhex("000D6F0000AABBCC")) is credentials  # issued once


# -- the state tables ---------------------------------------------------------------------------


def test_server_state_table_refuses_an_event_the_state_does_not_allow() -> None:
    session = server_module.KeyEstablishmentSession.__new__(server_module.KeyEstablishmentSession)
    session.state = server_module.KeState.AWAIT_INITIATE
    session.peer = Peer("ppmid1", bytes(8), 1)
    with pytest.raises(server_module.KeStateError, match="ppmid1.*await_initiate.*confirmed"):
        session._fire(server_module.KeInput.CONFIRMED)


def test_client_state_table_refuses_an_event_the_state_does_not_allow() -> None:
    class FakeDevice:
        name = "ihd1"

    client = client_module.KeyEstablishmentClient(FakeDevice())  # type: ignore[arg-type]
    with pytest.raises(client_module.KeStateError, match="ihd1.*idle.*confirm_response"):
        client._fire(client_module.KeInput.CONFIRM_RESPONSE)


def test_every_waiting_state_can_fail_and_only_a_verified_confirm_key_ends_well() -> None:
    server, client = server_module, client_module
    for module, confirm in ((server, (server.KeState.AWAIT_CONFIRM_KEY, server.KeInput.CONFIRMED)),
                            (client, (client.KeState.AWAIT_CONFIRM_RESPONSE, client.KeInput.CONFIRM_RESPONSE))):
        assert all((state, module.KeInput.FAIL) in module.TRANSITIONS for state in module.STAGE_OF)
        assert [key for key, new in module.TRANSITIONS.items() if new is module.KeState.ESTABLISHED] == [confirm]


def test_settings_refuse_times_that_do_not_fit_the_wire() -> None:
    with pytest.raises(ValueError, match="ephemeral_data_generate_time_s"):
        KeyEstablishmentSettings(ephemeral_data_generate_time_s=300)
    with pytest.raises(ValueError, match="confirm_key_generate_time_s"):
        KeyEstablishmentTimings(confirm_key_generate_time_s=-1)
