"""The hub's Smart Energy APS security, judged by the emulated devices (an independent party).

The emulated devices follow Silicon Labs' rule (reference/real-device-behaviour.md §1): they do not
act on an unencrypted frame on a listed cluster. So a hub that stops APS-encrypting its sends must
fail the conformance suite -- as the ``permit()`` spy proves for joins -- and the hub must refuse a
device's unencrypted requests the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import zigpy.types as t
from zigpy.zcl import foundation

from harness.evidence import Outcome
from harness.hub.se_security import UnsecuredFrameGate, needs_aps_encryption
from tests.fixtures.conformance_run import write_planted_rig
from tests.fixtures.inner_runs import runpytest_subprocess

pytest_plugins = ("pytester",)

REPO = Path(__file__).resolve().parents[2]

#: A plugin for the subprocess run: the hub's rule says "never encrypt" (nothing else changes).
NO_APS_ENCRYPTION = '''
import harness.hub.commshub, harness.hub.radio
never = lambda profile, cluster: False
harness.hub.radio.needs_aps_encryption = never
harness.hub.commshub.needs_aps_encryption = never
'''


#: How long the run's hub lets zigpy interview a joined device (the hub's default is 30 s, for real
#: devices). Emulated devices answer each interview read in milliseconds: a whole interview takes
#: 0.2-0.5 s here even on a loaded machine, so 5 s still tells "never finishes" from "slow".
INTERVIEW_S = 5


def test_removing_aps_encryption_from_the_hubs_sends_fails_the_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(no_aps_encryption=NO_APS_ENCRYPTION)
    pytester.syspathinsert()
    rig = write_planted_rig(pytester.path)   # rigs/emulated.toml, with its paths made absolute
    text = re.sub(r"^\[hub\].*\n", lambda hub: f"{hub.group(0)}interview_s = {INTERVIEW_S}\n", rig.read_text(), count=1,
                  flags=re.M)
    assert f"interview_s = {INTERVIEW_S}\n" in text, f"{rig}: no [hub] table to shorten the interview in"
    rig.write_text(text, encoding="utf-8")
    result = runpytest_subprocess(
        pytester, str(REPO / "tests" / "conformance" / "test_ota_upgrade.py"), f"--rootdir={REPO}",
        "-c", str(REPO / "pyproject.toml"), f"--rig={rig}", "-p", "no_aps_encryption",
        "--patience=2", "--quiet-window=1", "-k", "good_image", "-q", timeout=300,
    )
    output = "\n".join(result.outlines + result.errlines)
    assert result.ret not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED), (
        f"the suite passed with a hub that sends SE frames unencrypted:\n{output[-3000:]}")
    # The devices refuse the interview's unencrypted OTA read, so the rig check cannot admit them
    # (or, past it, the transfer fails): either way the run names what went wrong.
    assert "not admitted" in output or " failed" in output, output[-3000:]


def _packet(*, encrypted: bool, cluster: int = 0x0019, data: bytes = b"\x01\x05\x01\x00", broadcast: bool = False
            ) -> t.ZigbeePacket:
    dst = (t.AddrModeAddress(addr_mode=t.AddrMode.Broadcast, address=0xFFFD) if broadcast
           else t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=0x0000))
    return t.ZigbeePacket(
        src=t.AddrModeAddress(addr_mode=t.AddrMode.NWK, address=0x1234), src_ep=1, dst=dst, dst_ep=0x0A,
        tsn=5, profile_id=0x0109, cluster_id=cluster, data=t.SerializableBytes(data),
        tx_options=t.TransmitOptions.APS_Encryption if encrypted else t.TransmitOptions.NONE,
    )


def test_an_unencrypted_request_on_a_listed_cluster_is_refused_and_kept() -> None:
    refused: list[int] = []
    gate = UnsecuredFrameGate(name_of=lambda p: "ppmid1", refuse=lambda p, hdr: refused.append(hdr.tsn), clock=lambda: 1.0)
    assert gate(_packet(encrypted=False)), "not passed on to zigpy"
    assert refused == [5], "answered (Default Response FAILURE is the hub's job)"
    assert gate.violations("ppmid1")[0].describe().startswith("command 0x01 on cluster 0x0019")
    assert gate.evidence("ppmid1").outcome is Outcome.FAIL


def test_encrypted_frames_and_unlisted_clusters_pass_untouched() -> None:
    gate = UnsecuredFrameGate(name_of=lambda p: "ppmid1", refuse=lambda p, hdr: None)
    assert not gate(_packet(encrypted=True))
    assert not gate(_packet(encrypted=False, cluster=0x0800)), "Key Establishment runs with NWK security only"
    assert not gate(_packet(encrypted=False, cluster=0x0000)), "Basic is not listed"
    assert gate.evidence("ppmid1").outcome is Outcome.PASS


def test_a_default_response_or_broadcast_is_never_answered() -> None:
    refused: list[int] = []
    gate = UnsecuredFrameGate(name_of=lambda p: "ppmid1", refuse=lambda p, hdr: refused.append(hdr.tsn))
    default_response = foundation.ZCLHeader.general(7, foundation.GeneralCommand.Default_Response).serialize() + b"\x00\x01"
    assert gate(_packet(encrypted=False, data=default_response))
    assert gate(_packet(encrypted=False, cluster=0x0708, broadcast=True))
    assert refused == []
    assert gate.violations("ppmid1") and not any(f.is_default_response for f in gate.violations("ppmid1"))


def test_the_listed_clusters_are_the_references() -> None:
    for cluster in (0x000A, 0x0019, 0x0025, 0x0704, 0x0708):
        assert needs_aps_encryption(0x0109, cluster)
    for cluster in (0x0000, 0x0003, 0x0800):
        assert not needs_aps_encryption(0x0109, cluster)
    assert not needs_aps_encryption(0x0104, 0x0019), "only under the SE profile"


def test_bellows_zigbee3_state_becomes_a_smart_energy_trust_centres() -> None:
    import bellows.types as bt

    from harness.hub.radio import SE_TC_SECURITY, smart_energy_security

    z3 = bt.EmberInitialSecurityState(
        bitmask=(bt.EmberInitialSecurityBitmask.HAVE_PRECONFIGURED_KEY | bt.EmberInitialSecurityBitmask.REQUIRE_ENCRYPTED_KEY
                 | bt.EmberInitialSecurityBitmask.TRUST_CENTER_GLOBAL_LINK_KEY | bt.EmberInitialSecurityBitmask.HAVE_NETWORK_KEY
                 | bt.EmberInitialSecurityBitmask.NO_FRAME_COUNTER_RESET
                 | bt.EmberInitialSecurityBitmask.TRUST_CENTER_USES_HASHED_LINK_KEY),
        preconfiguredKey=bt.KeyData(bytes(16)), networkKey=bt.KeyData(bytes(range(16))), networkKeySequenceNumber=0,
        preconfiguredTrustCenterEui64=bt.EUI64.convert("00:00:00:00:00:00:00:00"),
    )
    se = smart_energy_security(z3)
    assert int(se.bitmask) == int(SE_TC_SECURITY | bt.EmberInitialSecurityBitmask.NO_FRAME_COUNTER_RESET)
    assert not int(se.bitmask) & 0x0084, "no global and no hashed TC link key"
    assert se.networkKey == z3.networkKey, "the keys are bellows' own"


def test_the_report_says_how_many_frames_of_a_transfer_went_in_the_clear() -> None:
    from harness.evidence import TransferEvent, TransferEventKind, TransferRecord
    from harness.report.tables import MISSING, aps_security

    def record(*flags: bool | None) -> TransferRecord:
        kinds = [TransferEventKind.BLOCK_REQUEST, TransferEventKind.BLOCK_RESPONSE, TransferEventKind.RETRY]
        events = tuple(TransferEvent(t=float(i), kind=kinds[i % 3], aps_encrypted=flag) for i, flag in enumerate(flags))
        return TransferRecord(transfer_id="x", device="ppmid1", device_eui64="00:0D", image_name="i", image_sha256="",
                              image_size=10, image_version=1, started=0.0, events=events)

    assert aps_security(record(True, True, None)) == "all 2 frames encrypted", "a retry noticed is not a frame"
    assert aps_security(record(False, True)) == "1 of 2 frames in the clear (first: block_request)"
    assert aps_security(record()) == MISSING, "no frame recorded: nothing to say"
