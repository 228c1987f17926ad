"""CBKE end to end: the hub's Key Establishment server, bellows, the emulated NCP's 283k1 frames, a device.

Each test starts the emulated radio of rigs/emulated.toml with ``cbke_required`` set for its
devices, starts the hub through the real bellows over a pty, and joins: the device runs the
client side, the hub the server side, the NCP the arithmetic. Success must leave the same link
key in the NCP's key table as in the device; each defect must end with its Terminate status at
its stage, and the device must be gone.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import zigpy.exceptions

import harness.hub
from harness.emulator.ezsp.cbke import cbke_state
from harness.emulator.server import EmulatedRadio
from harness.evidence import CheckRecord, Outcome, StageRecord
from harness.hub.errors import DeviceNotAdmitted, HubError
from harness.hub.key_establishment import KeyEstablishmentSettings
from harness.hub.radio import zigpy_eui64
from harness.hub.run import HubRun, RunState
from harness.hub.settings import HubSettings
from harness.rig import load_rig

REPO = Path(__file__).resolve().parents[2]
PPMID, IHD = "ppmid1", "ihd1"
HUB = HubSettings(join_timeout_s=10, interview_timeout_s=10)
KE = KeyEstablishmentSettings(response_margin_s=1.0, initiate_timeout_s=5)


@pytest.fixture(scope="module")
def rig():
    rig = load_rig(REPO / "rigs" / "emulated.toml")
    return replace(rig, devices=tuple(replace(d, cbke_required=True) for d in rig.devices))


def without_cbke(emulator: EmulatedRadio, how: str) -> None:
    """An NCP image without CBKE: the library absent (LIBRARY_NOT_PRESENT), or the frames absent (invalidCommand)."""
    if how == "library":
        emulator.call(lambda: setattr(cbke_state(emulator.ncp), "library_present", False))
    else:
        emulator.call(lambda: [emulator.ncp.dispatcher.handlers.pop(name) for name in list(emulator.ncp.dispatcher.handlers)
                               if name.endswith("283k1")])


@asynccontextmanager
async def emulated(rig, *, behaviour: str | None = None, library: bool = True, missing: str = "library",
                   **radio: Any) -> AsyncIterator[tuple[EmulatedRadio, harness.hub.CommsHub]]:
    with EmulatedRadio(rig, **radio) as emulator:
        if behaviour is not None:
            emulator.han.device(PPMID).set_behaviour(behaviour)
        if not library:
            without_cbke(emulator, missing)
        async with await harness.hub.start(rig, port=emulator.port, settings=HUB, key_establishment=KE) as hub:
            yield emulator, hub


async def ncp_key(radio: EmulatedRadio, eui64: bytes):
    """The key CBKE stored on the NCP for ``eui64`` (an install-code key the hub kept there is not one)."""
    def cbke_key():
        state = cbke_state(radio.ncp)
        return state.link_key_for(eui64) if bytes(eui64) in state.authorized else None

    return await radio.acall(cbke_key)


async def device_key(radio: EmulatedRadio, name: str, *, since: int = 0):
    """The device's link key once the device itself has finished CBKE.

    The hub counts the run established when the NCP stores the key, which is before the device
    has checked the CH's Confirm Key response on the emulator's own loop; so await the device's
    ``cbke_established`` event rather than read the key at once.
    """
    device = radio.han.device(name)
    await radio.acall(lambda: device.wait_for("cbke_established", since=since))
    return device.key_establishment.link_key


@pytest.mark.parametrize("ezsp_version", [13, 14])
async def test_cbke_gives_the_device_the_link_key_the_ncp_stored(rig, ezsp_version: int) -> None:
    async with emulated(rig, ezsp_version=ezsp_version) as (radio, hub):
        device = await hub.join(PPMID)
        assert device is not None
        outcome = hub.key_establishment.outcome(PPMID)
        assert outcome is not None and outcome.established, outcome and outcome.describe()
        emulated_device = radio.han.device(PPMID)
        key = await device_key(radio, PPMID)
        assert key is not None
        assert await ncp_key(radio, emulated_device.eui64) == key  # compared, never printed
        records = hub.evidence.peek()
        checks = [r for r in records if isinstance(r, CheckRecord) and r.name == "CBKE key establishment"]
        assert [c.outcome for c in checks] == [Outcome.PASS]
        stages = [r.stage for r in records if isinstance(r, StageRecord) and r.device == PPMID]
        assert stages == ["key establishment: initiate", "key establishment: ephemeral_data",
                          "key establishment: confirm_key", "key establishment: established"]
        assert radio.unknown_commands == []
        # The device went on to what it does after joining: it read the GPF's tenancy attributes.
        assert await hub.gpf.wait_for_read(PPMID, after=0) is not None


@pytest.mark.parametrize(
    ("behaviour", "status", "stage", "check"),
    [
        ("cbke_suite1_only", "UNSUPPORTED_SUITE", "initiate", Outcome.FAIL),
        ("cbke_foreign_issuer", "UNKNOWN_ISSUER", "initiate", Outcome.FAIL),
        ("cbke_bad_confirm_key", "BAD_KEY_CONFIRM", "confirm_key", Outcome.FAIL),
        ("cbke_never_finishes", "TIMEOUT", "confirm_key", Outcome.NOT_OBSERVED),
    ],
)
async def test_each_defect_fails_with_its_status_at_its_stage(rig, behaviour: str, status: str, stage: str,
                                                              check: Outcome) -> None:
    async with emulated(rig, behaviour=behaviour) as (radio, hub):
        assert await hub.join(PPMID) is None
        outcome = hub.key_establishment.outcome(PPMID)
        assert outcome is not None
        assert (outcome.status, outcome.stage) == (status, stage), outcome.describe()
        assert PPMID not in hub.admitted
        emulated_device = radio.han.device(PPMID)
        assert await ncp_key(radio, emulated_device.eui64) is None
        record = [r for r in hub.evidence.peek() if isinstance(r, CheckRecord) and r.device == PPMID][-1]
        assert record.outcome is check and status in record.observed
        if behaviour != "cbke_never_finishes":
            await radio.acall(emulated_device.wait_for, "left")
        # The other device is not affected.
        assert await hub.join(IHD) is not None


@pytest.mark.parametrize(("missing", "answer"), [("library", "LIBRARY_NOT_PRESENT"), ("frames", "invalidCommand")])
async def test_a_radio_without_cbke_is_reported_in_one_line(rig, missing: str, answer: str) -> None:
    async with emulated(rig, library=False, missing=missing) as (_radio, hub):
        with pytest.raises(HubError) as raised:
            await hub.join(PPMID)
    message = str(raised.value)
    assert "\n" not in message
    assert "no CBKE support" in message and "getCertificate283k1" in message and answer in message
    assert f"{IHD}, {PPMID}" in message or f"{PPMID}, {IHD}" in message


def test_the_rig_check_says_so_too(rig, tmp_path: Path) -> None:
    run = HubRun(rig, settings=HUB, workdir=tmp_path, checks=())
    run.radio = radio = EmulatedRadio(run.rig).start()
    try:
        radio.call(lambda: setattr(cbke_state(radio.ncp), "library_present", False))
        outcome = asyncio.run(run.check_hub())
    finally:
        run.close()
    assert not outcome.passed and outcome.detail.startswith("radio: no CBKE support (getCertificate283k1")
    assert run.state is RunState.BROKEN


async def test_a_rig_without_cbke_required_does_not_ask_the_radio(rig) -> None:
    plain = replace(rig, devices=tuple(replace(d, cbke_required=False) for d in rig.devices))
    async with emulated(plain, library=False) as (radio, hub):
        assert await hub.join(PPMID) is not None
        assert hub.key_establishment.outcome(PPMID) is None
        assert radio.han.device(PPMID).events.find("cbke_started") is None


async def test_establish_again_makes_a_joined_device_leave_rejoin_and_run_cbke_afresh(rig) -> None:
    # What the conformance test does when its hub did not see the device's key establishment.
    async with emulated(rig) as (radio, hub):
        assert await hub.join(PPMID) is not None
        first = await device_key(radio, PPMID)
        emulated_device = radio.han.device(PPMID)
        mark = await radio.acall(emulated_device.events.mark)
        outcome = await hub.establish_again(PPMID)
        assert outcome.established, outcome.describe()
        assert len(emulated_device.events.named("joined")) == 2
        second = await device_key(radio, PPMID, since=mark)
        assert second is not None and second != first  # a fresh ephemeral exchange, a fresh key
        assert await ncp_key(radio, emulated_device.eui64) == second
        assert PPMID in hub.admitted


async def test_a_hub_that_declares_no_key_establishment_server_loses_the_device(rig, monkeypatch) -> None:
    # The device finds the CH's services with Match_Desc_req, answered from the endpoints the hub
    # registered; with no Key Establishment server among them it cannot run CBKE, and leaves.
    import harness.hub.radio

    declared = harness.hub.radio.endpoint_descriptors

    def without_key_establishment(settings):
        endpoints = declared(settings)
        for endpoint in endpoints:
            endpoint["input_clusters"] = [c for c in endpoint["input_clusters"] if c != 0x0800]
        return endpoints

    monkeypatch.setattr(harness.hub.radio, "endpoint_descriptors", without_key_establishment)
    async with emulated(rig) as (radio, hub):
        # The device leaves once its discovery finds no server: before zigpy's interview ends
        # (the join says it left), or after it (the join reports CBKE never started). Which comes
        # first is a race between the two exchanges, not the device's contract.
        try:
            joined = await hub.join(PPMID)
        except DeviceNotAdmitted as exc:
            assert re.search(r"then left the HAN .* see its CBKE outcome", str(exc)), str(exc)
        else:
            assert joined is None
            outcome = hub.key_establishment.outcome(PPMID)
            assert outcome is not None and (outcome.established, outcome.status) == (False, "NOT_STARTED")
        device = radio.han.device(PPMID)
        failed = await radio.acall(lambda: device.wait_for("cbke_failed"))
        assert (failed.details["stage"], failed.details["status"]) == ("discovery", "NO_SERVER")
        assert await radio.acall(lambda: device.wait_for("service_not_found")) is not None
        assert PPMID not in hub.admitted


async def test_the_ncp_key_table_read_through_bellows_holds_the_cbke_key(rig) -> None:
    # What a bench engineer can check without the emulator's help: bellows reads the NCP's key
    # table (exportLinkKeyByIndex) into zigpy's network information, and after CBKE the entry for
    # the device is the key the device itself derived -- the key its APS-encrypted traffic uses.
    async with emulated(rig) as (radio, hub):
        assert await hub.join(PPMID) is not None
        await hub.app.load_network_info(load_devices=True)
        device = radio.han.device(PPMID)
        ieee = zigpy_eui64(device.eui64)
        entries = [k for k in hub.app.state.network_info.key_table if k.partner_ieee == ieee]
        assert len(entries) == 1, "one key-table entry for the device"
        key = await device_key(radio, PPMID)
        assert key is not None and bytes(entries[0].key) == key.reveal()  # compared, never printed


async def test_after_cbke_a_frame_secured_with_the_stale_install_code_key_does_not_decrypt(rig) -> None:
    # After CBKE the NCP's key-table entry for the device is the CBKE key; a device that still
    # secures its APS frames with the install-code key is not heard, as a real NCP drops a frame
    # whose MIC does not verify, and the drop is in the radio's frame log.
    read_time = bytes((0x00, 0x42, 0x00, 0x00, 0x00))  # ZCL Read Attributes, Time 0x0000
    async with emulated(rig) as (radio, hub):
        assert await hub.join(PPMID) is not None
        device = radio.han.device(PPMID)
        assert await device_key(radio, PPMID) is not None
        assert await radio.acall(lambda: radio.ncp.undecryptable_frames) == [], "the CBKE key decrypts"
        start = len(radio.frame_log)

        def stale_key_send() -> None:
            device.key_establishment.link_key = None  # back to the install-code key
            device.send_zcl(0x000A, read_time)

        await radio.acall(stale_key_send)
        dropped = await asyncio.to_thread(
            radio.frame_log.wait_for, lambda r: r.frame_type == "APS-UNDECRYPTABLE", timeout=10, start=start)
        assert "cluster 0x000A" in (dropped.detail or "")
        # Whatever else the device sends meanwhile (its answer to the CH's tunnel request, say) goes
        # under the same stale key and is dropped too; the read must be among the drops.
        frames = await radio.acall(lambda: list(radio.ncp.undecryptable_frames))
        assert (0x000A, read_time) in [(f.cluster_id, f.payload) for f in frames]


async def test_a_frame_the_trust_centre_secures_with_a_key_the_device_no_longer_holds_is_not_delivered(rig) -> None:
    # The other direction: after CBKE the NCP secures the CH's APS-encrypted frames with the CBKE
    # key. A device holding another key (here its install-code key again) cannot verify them; its
    # APS layer drops each one without an APS ACK, so the CH's read ends undelivered, not answered.
    async with emulated(rig) as (radio, hub):
        assert await hub.join(PPMID) is not None
        assert (await asyncio.wait_for(hub.tunnels[PPMID], 10)).opened  # the CH's own APS traffic after the join
        device = radio.han.device(PPMID)
        ota = hub.app.get_device(ieee=zigpy_eui64(device.eui64)).endpoints[1].out_clusters[0x0019]
        assert ota.aps_encryption, "the CH reads the OTA client APS-encrypted"
        answered, _ = await ota.read_attributes(["current_file_version"], allow_cache=False)
        assert "current_file_version" in answered, "with the keys in step the read is answered"

        mark = await radio.acall(lambda: device.events.mark())
        await radio.acall(lambda: setattr(device.key_establishment, "link_key", None))  # back to the install code
        with pytest.raises(zigpy.exceptions.DeliveryError):
            await ota.read_attributes(["current_file_version"], allow_cache=False)
        dropped = await radio.acall(lambda: device.wait_for("aps_undecryptable", since=mark, timeout=5))
        assert dropped.details == {"cluster": 0x0019, "held": "install code"}
        assert await radio.acall(lambda: device.events.find("read_attributes", since=mark)) is None


async def test_after_cbke_the_ch_opens_a_gbcs_tunnel_with_the_ppmid(rig) -> None:
    # Reference §7: the CHF finds the PPMID's Tunneling server and asks for a GBCS tunnel
    # (protocol 0x06, transfer size 1500), APS-encrypted; the device accepts it.
    async with emulated(rig) as (radio, hub):
        assert await hub.join(PPMID) is not None
        outcome = await asyncio.wait_for(hub.tunnels[PPMID], 10)
        assert outcome.opened, outcome.observed
        asked = await radio.acall(lambda: radio.han.device(PPMID).wait_for("tunnel_requested"))
        assert asked.details == {"protocol": 0x06, "status": "SUCCESS", "tunnel_id": 1, "transfer_size": 1500}
        assert hub.tunnel_ends.ends[PPMID].tunnel_id == 1 and hub.tunnel_ends.ends[PPMID].opened_by == "CH"
        checks = [r for r in hub.evidence.peek() if isinstance(r, CheckRecord) and r.name == "GBCS tunnel"]
        assert [c.outcome for c in checks] == [Outcome.PASS]
        assert await hub.join(IHD) is not None
        assert IHD not in hub.tunnels, "an IHD gets no tunnel"


async def test_the_install_code_key_is_kept_in_the_ncp_key_table_until_cbke_replaces_it(rig) -> None:
    # An SE trust centre keeps each device's install-code key in its (persistent) key table, where
    # CBKE overwrites it (reference §5). A device whose CBKE fails leaves only that key behind.
    import zigpy.util

    async with emulated(rig, behaviour="cbke_suite1_only") as (radio, hub):
        assert await hub.join(PPMID) is None
        eui64 = radio.han.device(PPMID).eui64
        kept = await radio.acall(lambda: cbke_state(radio.ncp).link_key_for(eui64))
        install_code = rig.device(PPMID).install_code.reveal()
        assert kept is not None and kept.reveal() == bytes(zigpy.util.convert_install_code(bytes(install_code)))
        assert await ncp_key(radio, eui64) is None, "not authorised: no CBKE key"
