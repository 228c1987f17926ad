"""The CommsHub on the emulated rig, through the real bellows and zigpy over a pty.

Each test starts a fresh emulated radio (its devices are built from rigs/emulated.toml), starts
the hub on it exactly as a bench run would, joins the PPMID with its install code and drives an
OTA transfer; the alert sequence check then says whether the device behaved.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import bellows.types
import pytest

import harness.hub
from harness.emulator.server import EmulatedRadio
from harness.evidence import (
    AlertRecord,
    CheckRecord,
    ImageRecord,
    Outcome,
    StageRecord,
    TenancyRead,
    TransferEventKind,
    TransferOutcome,
    TransferRecord,
)
from harness.gbcs import decode
from harness.hub.gbcs_messages import eui64_bytes
from harness.hub.joins import DeviceNotAdmitted
from harness.hub.radio import HubApplication
from harness.hub.settings import HubSettings
from harness.ota.samples import ch_key_pair
from harness.rig import load_rig
from harness.secret import Secret
from tests.fixtures.emulatedhub import PPMID, RIG_FILE, joined_hub

IHD = "ihd1"

TEST_SETTINGS = HubSettings(join_timeout_s=10, interview_timeout_s=10)




@pytest.fixture(scope="module")
def rig():
    return load_rig(RIG_FILE)


@pytest.fixture(autouse=True)
def permit_calls(monkeypatch) -> list[int]:
    """Every call of the application's plain ``permit()``; the window must never open through it."""
    calls: list[int] = []
    original = HubApplication.permit

    async def spy(self, time_s: int = 60, node=None):
        calls.append(time_s)
        return await original(self, time_s, node)

    monkeypatch.setattr(HubApplication, "permit", spy)
    yield calls
    assert [t for t in calls if t != 0] == [], "permit() opened the join window (well-known key for anyone)"


def emulated(rig, *, behaviour: str | None = None, settings: HubSettings = TEST_SETTINGS):
    return joined_hub(rig, settings=settings, behaviour=behaviour)


def codes(hub) -> list[tuple[int, int | None, int | None]]:
    return [(a.code, a.response_code, a.activation_result) for a in hub.alerts]


async def test_conformant_ppmid_transfers_then_activates(rig):
    async with emulated(rig) as (radio, hub):
        transfer = await hub.upgrade(PPMID, "ppmid-next")
        assert await transfer.wait() is TransferOutcome.TRANSFERRED
        cs09 = await transfer.wait_activation()

        assert codes(hub) == [(0x8F8A, 0, None), (0x8F8B, None, 0)]
        assert cs09.firmware_version == 0x102 and "over the GBCS tunnel" in cs09.observed_how and not cs09.rejected
        derived = transfer.running_after_activation
        assert derived is not None and derived.firmware_version == 0x102 and "re-announced" in derived.observed_how
        result = hub.check_sequence(PPMID, "ppmid-good-image", transfer)
        assert result.outcome is Outcome.PASS, result.report()

        image = hub.image("ppmid-next")
        received = radio.call(lambda: radio.han.device(PPMID).received_images[-1].sha256)
        assert received == image.sha256, "the device holds exactly the image file"
        record = transfer.record()
        assert record.bytes_sent >= image.size and record.block_size_cap == 40
        assert all(e.size <= 40 for e in record.events if e.kind is TransferEventKind.BLOCK_RESPONSE)
        assert hub.tracker.stages_of(PPMID) == ["notified", "transferring", "transferred", "activating", "activated"]

        ccs08 = next(a for a in hub.alerts if a.code == 0x8F8A)
        message = decode(bytes.fromhex(ccs08.gbcs_message)).message
        assert message.header.originator == eui64_bytes(str(hub.app.state.node_info.ieee))
        assert (message.payload.entity_id, message.payload.firmware_version) == (
            eui64_bytes(ccs08.entity_eui64), bytes.fromhex("00000102"))
        assert message.verify(ch_key_pair()[1]), "signed as the CH, with the TEST-ONLY CH key"

        evidence = hub.collect_evidence()
        kinds = {type(r) for r in evidence}
        assert {TransferRecord, AlertRecord, ImageRecord, TenancyRead, StageRecord, CheckRecord} <= kinds
        assert hub.collect_evidence() == [], "each record is handed over once"


async def test_attributes_read_and_change_of_tenancy(rig):
    async with emulated(rig) as (radio, hub):
        first = await hub.gpf.wait_for_read(PPMID, after=0)
        assert first.trigger == "joined" and first.values["0x0200"] == "2026-01-01T00:00:00Z"

        reads = await hub.read_device(PPMID)
        by_name = {r.name: r for r in reads}
        assert by_name["ManufacturerID"].value == 0x121D and by_name["ManufacturerID"].outcome is Outcome.PASS
        assert by_name["CurrentFileVersion"].value == 0x101
        assert by_name["ModelIdentifier"].value == "PPMID-GEN"

        when = datetime(2026, 6, 1, tzinfo=UTC)
        t = await hub.change_of_tenancy(when)
        check = await hub.expect_tenancy_read(PPMID, after=t, trigger="the CoT event", within_s=10)
        assert check.outcome is Outcome.PASS, check.observed
        again = hub.gpf.reads_by(PPMID)[-1]
        assert again.values["0x0200"] == "2026-06-01T00:00:00Z"
        assert again.trigger.startswith("CoT report")


async def test_a_device_that_never_reads_tenancy_is_not_observed(rig):
    async with emulated(rig, behaviour="never_reads_tenancy") as (_radio, hub):
        t = await hub.change_of_tenancy(datetime(2026, 6, 1, tzinfo=UTC))
        check = await hub.expect_tenancy_read(PPMID, after=t, trigger="the CoT event", within_s=1.0)
        assert check.outcome is Outcome.NOT_OBSERVED
        assert check.rule == "ppmid1 reads 0x0200, 0x0201, 0x0100, 0x0101 from the GPF (0x0708) within 1 s after the CoT event"


@pytest.mark.parametrize(
    ("behaviour", "outcome", "sequence", "response"),
    [
        ("rejects_good_image", TransferOutcome.FAILED, "transfer-failure", 3),
        ("aborts_mid_transfer", TransferOutcome.FAILED, "transfer-failure", 3),
        ("leaves_han", TransferOutcome.STALLED, "transfer-failure", 3),
    ],
)
async def test_defective_device_fails_the_transfer_and_the_check_names_it(rig, behaviour, outcome, sequence, response):
    async with emulated(rig, behaviour=behaviour) as (_radio, hub):
        transfer = await hub.upgrade(PPMID, "ppmid-next", stall_timeout_s=0.5)
        assert await transfer.wait() is outcome
        assert codes(hub) == [(0x8F89, response, None)]
        assert hub.check_sequence(PPMID, sequence, transfer).passed
        wrong = hub.check_sequence(PPMID, "ppmid-good-image", transfer)
        assert wrong.outcome is Outcome.FAIL
        assert any("expected 0x8F8A CCS08 Firmware transfer alert SUCCESS, observed 0x8F89" in d for d in wrong.differences)


async def test_activation_failure_is_reported_after_a_good_transfer(rig):
    async with emulated(rig, behaviour="activation_fails") as (_radio, hub):
        transfer = await hub.upgrade(PPMID, "ppmid-next")
        await transfer.wait()
        cs09 = await transfer.wait_activation()
        assert (cs09.activation_result, cs09.firmware_version) == (1, 0x101)
        assert hub.check_sequence(PPMID, "activation-failure", transfer).passed
        good = hub.check_sequence(PPMID, "ppmid-good-image", transfer)
        assert "alert #2 (0x8F8B): activateImage expected 0 (success), observed 1" in "\n".join(good.differences)


async def test_hardware_mismatch_sends_no_block(rig):
    async with emulated(rig) as (_radio, hub):
        transfer = await hub.upgrade(PPMID, "ppmid-hw-out-of-range")
        assert await transfer.wait() is TransferOutcome.REFUSED
        assert codes(hub) == [(0x8F89, 2, None)]
        assert transfer.record().bytes_sent == 0
        assert hub.check_sequence(PPMID, "hardware-mismatch", transfer).passed


async def test_image_failing_supplier_verification_is_discarded(rig):
    async with emulated(rig) as (_radio, hub):
        transfer = await hub.upgrade(PPMID, "ppmid-bad-signature", require_signature=True)
        assert await transfer.wait() is TransferOutcome.REFUSED
        assert codes(hub) == [(0x8F89, 1, None)]
        assert hub.check_sequence(PPMID, "image-discarded", transfer).passed


async def test_silent_device_stalls_the_transfer(rig):
    async with emulated(rig, behaviour="never_queries_image") as (_radio, hub):
        transfer = await hub.upgrade(PPMID, "ppmid-next", query_timeout_s=0.5)
        assert await transfer.wait() is TransferOutcome.STALLED
        assert "ppmid1 sent no OTA request" in transfer.record().reason
        assert hub.check_sequence(PPMID, "transfer-failure", transfer).passed


async def test_ncp_reset_mid_transfer_is_survived_and_the_transfer_resumes(rig):
    async with emulated(rig) as (radio, hub):
        image = hub.image("ppmid-next")
        transfer = await hub.upgrade(PPMID, image)
        await asyncio.wait_for(transfer.reached(image.size // 3), 10)
        radio.reset_ncp()
        assert await transfer.wait() is TransferOutcome.TRANSFERRED
        await transfer.wait_activation()

        record = transfer.record()
        gaps = [e for e in record.events if e.kind is TransferEventKind.GAP]
        assert record.gaps == 1 and len(gaps) == 1 and hub.reconnects == 1
        resumed = next(e for e in record.events if e.t > gaps[0].t and e.kind is TransferEventKind.BLOCK_REQUEST)
        assert image.size // 3 - 64 <= resumed.offset < image.size, "resumed from the device's offset, not from 0"
        received = radio.call(lambda: radio.han.device(PPMID).received_images[-1].sha256)
        assert received == image.sha256
        assert hub.check_sequence(PPMID, "ppmid-good-image", transfer).passed


async def test_device_with_a_wrong_install_code_is_not_admitted(rig):
    # The device's own code is another valid code (the IHD's): its label and the rig disagree.
    bad_rig = rig_with_emulation(rig, install_code_override=Secret(bytes.fromhex("83FED3407A939723A5C639B269161802AEBB")))
    with EmulatedRadio(bad_rig) as radio:
        async with await harness.hub.start(bad_rig, port=radio.port, settings=replace(TEST_SETTINGS, join_timeout_s=1.5)) as hub:
            with pytest.raises(DeviceNotAdmitted, match=r"device ppmid1 \(00:0D:6F:00:0B:12:34:51\) not admitted within 1.5 s") as info:
                await hub.join(PPMID)
            assert "83FED340" not in str(info.value).upper()


async def test_the_ncp_holds_only_the_joining_devices_key_when_the_window_opens(rig):
    # zigpy's start-up permit(0) has bellows install 'ZigBeeAlliance09' for every EUI-64 (the
    # wildcard); the hub clears it before it opens a window, so the trust centre holds one key.
    async with emulated(rig) as (radio, hub):
        held = await radio.acall(lambda: set(radio.ncp.state.transient_keys))
        assert held == {radio.han.device(PPMID).eui64}, "only the PPMID's install-code key"
        sent = radio.frame_log.ezsp_names()
        wildcard_installed = sent.index("importTransientKey")
        cleared = sent.index("clearTransientLinkKeys")
        window = sent.index("permitJoining", cleared)
        assert wildcard_installed < cleared < sent.index("importTransientKey", cleared) < window
        assert radio.unknown_commands == []


async def test_the_ncp_holds_the_chs_endpoints_as_the_hub_declared_them(rig):
    # What the NCP answers a device's Match_Desc_req from: input and output lists kept apart.
    async with emulated(rig) as (radio, hub):
        held = await radio.acall(lambda: {n: (e.profile_id, e.input_clusters, e.output_clusters)
                                          for n, e in radio.ncp.endpoints.items()})
        assert held[0x0A] == (0x0109, (0x0019, 0x0800, 0x000A, 0x0025), (0x0800, 0x0704)), "OTA, KE, Time, Keep-Alive servers"
        assert held[0x0B] == (0x0109, (0x0000, 0x0708), ()), "the GPF: Basic and Device Management"
        await radio.acall(lambda: radio.han.device(PPMID).wait_for("time_set", timeout=10))
        found = await radio.acall(lambda: {e.details["cluster"]: e.details["endpoint"]
                                           for e in radio.han.device(PPMID).events.named("service_found")})
        assert found == {0x0019: 0x0A, 0x0800: 0x0A, 0x0708: 0x0B, 0x000A: 0x0A}


async def test_an_ncp_without_the_clear_frame_still_admits_and_says_so(rig, caplog):
    with EmulatedRadio(rig) as radio:
        radio.call(lambda: radio.ncp.dispatcher.handlers.pop("clearTransientLinkKeys"))
        async with await harness.hub.start(rig, port=radio.port, settings=TEST_SETTINGS) as hub:
            assert await hub.join(PPMID) is not None
    warnings = [r.getMessage() for r in caplog.records if r.name == "harness.hub.joins"]
    assert len(warnings) == 1 and warnings[0].startswith("ppmid1 (00:0D:6F:00:0B:12:34:51)")
    assert "transient keys were not cleared" in warnings[0] and "invalidCommand" in warnings[0]


def rig_with_emulation(rig, **changes):
    """The rig with ppmid1's emulated firmware changed (page requests, a wrong label...)."""
    ppmid = rig.device(PPMID)
    emulation = replace(ppmid.emulation, **changes)
    return replace(rig, devices=tuple(replace(d, emulation=emulation) if d.name == PPMID else d for d in rig.devices))


async def test_page_requests_with_spacing_and_a_wait_for_data_window(rig):
    paged = rig_with_emulation(rig, uses_page_requests=True, page_size=200, response_spacing_ms=2)
    with EmulatedRadio(paged) as radio:
        async with await harness.hub.start(paged, port=radio.port, settings=TEST_SETTINGS) as hub:
            await hub.join(PPMID)
            transfer = await hub.upgrade(PPMID, "ppmid-next", wait_for_data=((1000, 1.0),))
            assert await transfer.wait() is TransferOutcome.TRANSFERRED
            events = transfer.record().events
            pages = [e for e in events if e.kind is TransferEventKind.PAGE_REQUEST]
            waits = [e for e in events if e.kind is TransferEventKind.WAIT_FOR_DATA]
            assert pages and all(e.size == 200 for e in pages)
            assert len(waits) == 1 and waits[0].wait_s == 1.0
            after_wait = next(e for e in events if e.t > waits[0].t and e.kind is TransferEventKind.PAGE_REQUEST)
            assert after_wait.t - waits[0].t >= 0.9, "the device came back when told, not at once"
            received = radio.call(lambda: radio.han.device(PPMID).received_images[-1].sha256)
            assert received == hub.image("ppmid-next").sha256
            assert hub.check_wait_for_data(transfer).outcome is Outcome.PASS


async def test_a_device_that_ignores_wait_for_data_is_named(rig):
    async with emulated(rig, behaviour="ignores_wait_for_data") as (_radio, hub):
        transfer = await hub.upgrade(PPMID, "ppmid-next", wait_for_data=((400, 1.0),))
        await transfer.wait()
        check = hub.check_wait_for_data(transfer)
        assert check.outcome is Outcome.FAIL
        assert check.device == PPMID and "told to wait 1 s at offset 400, came back after 0.0" in check.detail


async def test_wait_policy_holds_activation_until_the_activation_command(rig):
    async with emulated(rig) as (radio, hub):
        transfer = await hub.upgrade(PPMID, "ppmid-next", upgrade_time="wait")
        assert await transfer.wait() is TransferOutcome.TRANSFERRED
        assert hub.tracker.stages_of(PPMID)[-1] == "transferred", "no activation without the command"
        status = await hub.read_device(PPMID)
        assert {r.name: r.value for r in status}["ImageUpgradeStatus"] == 3  # Waiting to upgrade
        hub.activate(PPMID)
        cs09 = await transfer.wait_activation()
        assert cs09.activation_result == 0
        assert hub.check_sequence(PPMID, "ppmid-good-image", transfer).passed


async def test_a_serial_port_that_does_not_come_back_ends_the_transfer_with_the_reason(rig):
    settings = replace(TEST_SETTINGS, reconnect_attempts=2, connect_backoff_s=0.05, reconnect_timeout_s=5)
    radio = EmulatedRadio(rig).start()
    try:
        async with await harness.hub.start(rig, port=radio.port, settings=settings) as hub:
            await hub.join(PPMID)
            image = hub.image("ppmid-next")
            transfer = await hub.upgrade(PPMID, image)
            await asyncio.wait_for(transfer.reached(image.size // 3), 10)
            radio.stop()  # the dongle is unplugged: the pty disappears
            assert await asyncio.wait_for(transfer.wait(), 10) is TransferOutcome.ABORTED
            assert "the radio did not come back" in transfer.record().reason
            assert hub.tracker.stages_of(PPMID)[-1] == "failed"
            assert codes(hub) == [], "the device did nothing wrong: no CCS08 is raised for a CH-side loss"
    finally:
        radio.stop()


async def test_at_policy_activates_at_the_time_given(rig):
    async with emulated(rig) as (_radio, hub):
        transfer = await hub.upgrade(PPMID, "ppmid-next", upgrade_time="at", upgrade_delay_s=1)
        await transfer.wait()
        cs09 = await transfer.wait_activation()
        assert cs09.activation_result == 0
        assert cs09.time - transfer.record().ended >= 0.9, "the device counted down before activating"


async def test_the_network_is_formed_as_a_smart_energy_trust_centre(rig):
    # Through bellows to the NCP: the initial security bits it was formed with and the key-request
    # policies it runs, as the rig check prints them.
    async with emulated(rig) as (radio, hub):
        bitmask = await radio.acall(lambda: radio.ncp.nvram.network.security_bitmask)
        assert bitmask & 0x0A00 == 0x0A00, "HAVE_NETWORK_KEY | REQUIRE_ENCRYPTED_KEY"
        assert not bitmask & 0x0184, "no preconfigured global key, no hashed TC link key"
        security = await hub.app.trust_centre_security()
        assert security.smart_energy, security.line()
        assert security.line().startswith("trust centre: Smart Energy trust centre (global TC link key no, hashed")
        assert "TC key requests DENY_TC_KEY_REQUESTS, app key requests ALLOW_APP_KEY_REQUESTS" in security.line()


async def test_the_trust_centre_refuses_nwk_leave_requests_as_every_se_profile_does(rig):
    # Reference §5: every SE security profile sets NWK_LEAVE_REQUEST_NOT_ALLOWED (0x0100). The hub
    # sets it through bellows' setValue; read back from the NCP through bellows' getValue.
    async with emulated(rig) as (radio, hub):
        ncp_value = await radio.acall(
            lambda: radio.ncp.state.values[bellows.types.EzspValueId.VALUE_EXTENDED_SECURITY_BITMASK])
        assert int.from_bytes(ncp_value, "little") & 0x0100
        assert await hub.app.extended_security_bitmask() == int.from_bytes(ncp_value, "little")
        security = await hub.app.trust_centre_security()
        assert security.leave_requests_refused
        assert "NWK leave requests refused" in security.line()
        # The bit lives in the NCP's RAM: after a reset it is gone until the host sets it again.
        await radio.acall(lambda: radio.ncp.state.values.update(
            {bellows.types.EzspValueId.VALUE_EXTENDED_SECURITY_BITMASK: b"\x00\x00"}))
        security = await hub.app.trust_centre_security()
        assert not security.smart_energy and "NWK leave requests accepted" in security.line()


async def test_every_frame_of_a_transfer_says_whether_it_was_aps_encrypted(rig):
    # Per frame, in the evidence: the CH's responses go out APS-encrypted (the hub's rule) and the
    # device's requests arrived so (the radio's view); the report sums it up per transfer.
    from harness.report.tables import aps_security

    async with emulated(rig) as (_radio, hub):
        transfer = await hub.upgrade(PPMID, "ppmid-next")
        assert await transfer.wait() is TransferOutcome.TRANSFERRED
        record = transfer.record()
        frames = [e for e in record.events if e.is_frame]
        kinds = {e.kind for e in frames}
        assert {TransferEventKind.BLOCK_REQUEST, TransferEventKind.BLOCK_RESPONSE} <= kinds
        assert all(e.aps_encrypted is True for e in frames), [(e.kind, e.aps_encrypted) for e in frames][:5]
        assert aps_security(record) == f"all {len(frames)} frames encrypted"


async def test_a_device_sending_unencrypted_is_refused_and_recorded(rig):
    # Its own requests (the tenancy read after joining) go out in the clear: the CH does not act on
    # them, answers Default Response FAILURE -- unencrypted, so the device in turn drops it, as SE
    # nodes do -- and keeps each one. Its answers copy the CH's encryption, as an SE node's
    # responses do, so reading it still works.
    async with emulated(rig, behaviour="sends_se_unencrypted") as (radio, hub):
        device = radio.han.device(PPMID)
        refused = await radio.acall(lambda: device.wait_for(
            "unsecured_frame_refused", where=lambda e: e.details["general"] and e.details["command_id"] == 0x0B,
            timeout=10))
        assert refused.details["cluster"] in (0x0708, 0x0019, 0x000A)
        assert {v.cluster for v in hub.se_security.violations(PPMID)} & {0x0708, 0x0019, 0x000A}
        assert hub.se_security.evidence(PPMID).outcome is Outcome.FAIL
        assert await hub.current_version(PPMID) == rig.device(PPMID).emulation.firmware_version


@pytest.mark.parametrize("esi", [True, False], ids=["rig-asks-for-an-esi", "no-esi"])
async def test_a_device_that_needs_an_esi_registers_only_where_the_ch_has_one(rig, esi):
    # Registration (reference §3): a device with a DRLC/Price/Messaging client finds an ESI with a
    # broadcast Match_Desc for the DRLC server before it reads the time; with none, three errors
    # abort registration and the time is never read.
    needs = rig_with_emulation(rig, needs_esi=True)
    needs = replace(needs, hub=replace(needs.hub, esi_endpoint=esi))
    async with joined_hub(needs, settings=TEST_SETTINGS) as (radio, hub):
        device = radio.han.device(PPMID)
        if esi:
            found = await radio.acall(lambda: device.wait_for("esi_found", timeout=10))
            assert found.details["endpoint"] == 0x0C
            assert await hub.wait_time_taken_from_ch(PPMID, 10)
        else:
            await radio.acall(lambda: device.wait_for("registration_aborted", timeout=20))
            assert not await radio.acall(lambda: device.events.named("time_read_sent"))


async def test_registration_repeats_esi_discovery_and_the_time_read_every_period(rig):
    # Reference §3 item 7: ESI discovery, binding and the time read repeat every 3 h by default;
    # the rig's registration_period_s shortens it.
    again = rig_with_emulation(rig, needs_esi=True, registration_period_s=0.2)
    again = replace(again, hub=replace(again.hub, esi_endpoint=True))
    async with joined_hub(again, settings=TEST_SETTINGS) as (radio, hub):
        device = radio.han.device(PPMID)
        await radio.acall(lambda: device.wait_for(
            "esi_found", where=lambda e: len(device.events.named("esi_found")) >= 2, timeout=10))
        await radio.acall(lambda: device.wait_for(
            "time_set", where=lambda e: len(device.events.named("time_set")) >= 2, timeout=10))
        assert len(hub.se_services.time_reads(PPMID)) >= 2, "the CH served the repeated time read"


async def test_without_a_keep_alive_server_a_keep_alive_device_tc_rejoins_after_three_failures(rig):
    # Reference §5: a device running the keep-alive plugin (ihd1: its profile says so, the rig
    # shortens its first check) that finds no Keep-Alive server counts a failure per check and,
    # after three in a row, rejoins through the trust centre -- which the CH sees as a re-announce.
    with EmulatedRadio(rig) as radio:
        def no_keep_alive_server() -> None:
            for number, endpoint in list(radio.ncp.endpoints.items()):
                radio.ncp.endpoints[number] = replace(
                    endpoint, input_clusters=tuple(c for c in endpoint.input_clusters if c != 0x0025))

        # Its checks, 5 s apart after a failure on a real device, come 0.5 s apart: the count of
        # failures and what follows them are the subject, not the wait between them.
        device = radio.han.device(IHD)
        radio.call(setattr, device, "timings", replace(device.timings, time_scale=0.1))
        async with await harness.hub.start(rig, port=radio.port, settings=TEST_SETTINGS) as hub:
            await radio.acall(no_keep_alive_server)
            assert await hub.join(IHD) is not None
            failed = await radio.acall(lambda: device.wait_for(
                "keep_alive_failed", where=lambda e: e.details["failures"] == 3, timeout=30))
            assert "no Keep-Alive server" in failed.details["reason"]
            await radio.acall(lambda: device.wait_for("keep_alive_tc_rejoin", timeout=10))
            assert await hub.wait_reannounce(IHD, since=0, timeout=10), "the CH heard the rejoin's announce"
            assert not hub.se_services.keep_alive_reads(IHD)
