"""Smart Energy security and registration as a real SE device does them with the CH.

Under an SE security profile a device APS-encrypts its frames on the Smart Energy clusters, does
not act on such frames that arrive without APS encryption, and, once registered, takes its time
from the CH's Time server (Silicon Labs' application framework; reference/real-device-behaviour.md
§1 and §3). The CH sends everything on those clusters APS-encrypted, refuses unencrypted requests
(Default Response FAILURE) and keeps each refused frame as evidence.
"""

from __future__ import annotations

import pytest

from tests.fixtures.conformance_helpers import expect

SE_SECURITY = ("ZigBee SE 1.x (07-5356) 5.4.6: APS security on the SE clusters; Silicon Labs util.c "
               "emberAfDetermineIfLinkSecurityIsRequired / emberAfProcessMessage")
KEEP_ALIVE = ("Silicon Labs trust-center-keepalive.c: Keep-Alive 0x0025 read APS-encrypted, TC rejoin after three "
              "failures (reference/real-device-behaviour.md §5)")
REGISTRATION = "Silicon Labs smart-energy-registration.c: time source (Master or Synchronized), read after CBKE"


@pytest.mark.spec(SE_SECURITY)
async def test_device_se_traffic_is_aps_encrypted(hub, dut, present):
    # Make the device answer on an SE cluster now (its OTA client's CurrentFileVersion, read
    # APS-encrypted), then judge everything it sent on the SE clusters in this session.
    await hub.current_version(dut.name)
    record = hub.se_security.evidence(dut.name)
    hub.evidence.add(record)
    expect(record)


@pytest.mark.spec(SE_SECURITY)
async def test_device_ignores_an_unencrypted_ota_server_command(hub, dut, windows, present):
    # The probe is a unicast Image Notify without APS encryption: at worst a device asks for an image
    # the CH does not offer, so it cannot harm a real device.
    probe = await hub.probe_unencrypted_ota_command(dut.name, window_s=windows.quiet)
    hub.evidence.add(probe.evidence())
    expect(probe.evidence())


@pytest.mark.spec(REGISTRATION, "GBCS: the CH is the HAN's time source")
async def test_device_takes_its_time_from_the_ch(hub, dut, windows, present):
    record = await hub.wait_time_taken_from_ch(dut.name, windows.cap(dut_profile_window(hub, dut)))
    hub.evidence.add(record)
    expect(record)


@pytest.mark.spec(KEEP_ALIVE, SE_SECURITY)
async def test_device_keeps_its_link_with_the_ch_keep_alive_server(hub, dut, windows, present):
    # Only for a device whose profile says it runs the (optional) keep-alive plugin.
    keep_alive = hub.profile(dut.name).keep_alive
    if keep_alive is None:
        pytest.skip(f"profile {hub.profile(dut.name).name!r} says the device does not run the trust-centre keep-alive")
    record = await hub.wait_keep_alive(dut.name, within_s=windows.cap(keep_alive.first_read_within_s),
                                       then_watch_s=windows.quiet)
    hub.evidence.add(record)
    expect(record)


def dut_profile_window(hub, dut) -> float:
    """How long a device may take to read the time after joining: its profile's query window."""
    return float(hub.profile(dut.name).ota.block_timeout_s)
