"""SECMP0007 OTA: a good image is transferred, activated and read back; a downgrade only when forced.

Each test starts from the device's baseline firmware (the ``baseline`` fixture), so the order of
the tests does not matter. Each checks the whole alert sequence against the expectations file
(profiles/expectations/), not only where the device ended up.
"""

from __future__ import annotations

import asyncio

import pytest

from harness.evidence import TransferEvent, TransferEventKind, TransferOutcome
from harness.hub.transfer_checks import check_activation
from tests.fixtures.conformance_helpers import (
    check,
    client_rule,
    data_blocks,
    expect,
    expect_good_image_alerts,
    expect_outcome,
    expect_sequence,
    read_version,
    record_check,
    timeline,
    version,
)

#: Upgrade time "at": the CH names a time this many seconds after its Upgrade End Response (whole
#: seconds, as UTCTime has). A client that waits its own minimum instead (3 s for the reference
#: client) is still "not before T"; one that applies the image at once is caught.
AT_DELAY_S = 1
#: An activation observed this much before T still counts as at T (the device heard the response a
#: little after the CH recorded sending it).
AT_TOLERANCE_S = 0.25


async def expect_running(hub, dut, wanted: int, why: str) -> None:
    """Read CurrentFileVersion over the air and hold it to ``wanted``."""
    running = await read_version(hub, dut.name, expected=wanted, why=why)
    expect(check(hub, name="version read-back", device=dut.name,
                 rule=f"OTA client CurrentFileVersion (0x0019/0x0002) reads {version(wanted)} {why}",
                 observed=f"{version(running)}" if running is not None else "no answer",
                 ok=running == wanted, source="ZCL OTA Upgrade cluster, client attribute 0x0002"))


async def expect_activated(hub, dut, offered: int, previous: int) -> None:
    """Read CurrentFileVersion and judge the activation: each way of failing has its own words."""
    running = await read_version(hub, dut.name, expected=offered, why="after activation")
    expect(record_check(hub, check_activation(device=dut.name, offered=offered, previous=previous, running=running)))


def supports(profile, mode: str) -> None:
    """Skip, before the device is touched, when its profile says it does not support an upgrade time mode."""
    if mode not in profile.ota.upgrade_time_modes:
        pytest.skip(f"profile {profile.name!r} says the device does not support upgrade time {mode!r} "
                    f"(upgrade_time_modes = {list(profile.ota.upgrade_time_modes)})")


@pytest.mark.spec("SECMP0007", "GBCS CCS08", "GBCS CS09", "SR 11.4", "ZCL OTA Upgrade 0x0019")
@pytest.mark.ota_image("upgrade")
async def test_good_image_is_transferred_activated_and_read_back(hub, dut, image, profile, windows, baseline):
    transfer = await hub.upgrade(dut.name, image.name, **windows.ota_overrides(profile))
    await transfer.wait()
    await transfer.wait_activation()
    record = transfer.record()

    expect_outcome(record, TransferOutcome.TRANSFERRED)
    await expect_activated(hub, dut, hub.image(image.name).version, baseline)
    expect_good_image_alerts(hub, dut, transfer)
    cap = min(profile.ota.max_block_size, record.block_size_cap)
    too_big = [e for e in data_blocks(record) if (e.size or 0) > cap]
    expect(check(hub, name="block size", device=dut.name, rule=f"no Image Block Response carries more than {cap} bytes",
                 observed=f"{len(data_blocks(record))} blocks, largest {max((e.size or 0 for e in data_blocks(record)), default=0)} bytes",
                 ok=not too_big, source="ZCL OTA / SE 1.x: 40 bytes is the safe block size with APS encryption"))


@pytest.mark.spec("SECMP0007", "GBCS CCS08", "ZCL OTA Upgrade 0x0019")
@pytest.mark.ota_image("downgrade")
async def test_downgrade_is_refused_unless_forced(hub, dut, image, profile, windows, baseline):
    transfer = await hub.upgrade(dut.name, image.name, **windows.ota_overrides(profile))
    await transfer.wait()
    record = transfer.record()

    expect_sequence(hub, dut.name, "image-discarded", transfer)
    expect_outcome(record, TransferOutcome.REFUSED)
    expect(check(hub, name="no block sent", device=dut.name, rule="no Image Block Response carries data",
                 observed=f"{len(data_blocks(record))} data blocks", ok=not data_blocks(record),
                 source="GBCS CCS08 case (1): the CH discards the image"))
    await expect_running(hub, dut, baseline, "(the downgrade was not installed)")


@pytest.mark.spec("SECMP0007", "GBCS CCS08", "GBCS CS09", "ZCL OTA Upgrade 0x0019")
@pytest.mark.ota_image("downgrade")
async def test_forced_downgrade_is_installed(hub, dut, image, profile, windows, baseline):
    transfer = await hub.upgrade(dut.name, image.name, allow_downgrade=True, **windows.ota_overrides(profile))
    await transfer.wait()
    await transfer.wait_activation()
    record = transfer.record()

    expect_outcome(record, TransferOutcome.TRANSFERRED)
    await expect_activated(hub, dut, hub.image(image.name).version, baseline)
    expect_good_image_alerts(hub, dut, transfer)


def upgrade_end_response(record) -> TransferEvent | None:
    return next((e for e in record.events if e.kind is TransferEventKind.UPGRADE_END_RESPONSE), None)


@pytest.mark.spec("ZCL OTA Upgrade 0x0019: Upgrade End Response upgrade time", "GBCS CS09")
@pytest.mark.ota_image("upgrade")
async def test_upgrade_at_a_time_runs_the_image_at_that_time(hub, dut, image, profile, windows, baseline):
    supports(profile, "at")
    overrides = windows.ota_overrides(profile)
    overrides["activation_timeout_s"] += AT_DELAY_S
    transfer = await hub.upgrade(dut.name, image.name, upgrade_time="at", upgrade_delay_s=AT_DELAY_S, **overrides)
    await transfer.wait()
    cs09 = await transfer.wait_activation()
    record = transfer.record()
    expect_outcome(record, TransferOutcome.TRANSFERRED)

    told = upgrade_end_response(record)
    assert told is not None, f"{dut.name}: the CH sent no Upgrade End Response\n{timeline(record)}"
    rule = client_rule("upgrade_at")
    at = told.t + AT_DELAY_S
    if cs09 is None:
        observed, ok = f"no activation observed within {overrides['activation_timeout_s']:g} s of the response", False
    else:
        early = at - cs09.time
        observed = (f"seen running 0x{cs09.firmware_version or 0:08X} {cs09.time - told.t:.2f} s after the response "
                    f"(T = +{AT_DELAY_S} s)")
        ok = early <= AT_TOLERANCE_S
        if not ok:
            observed += f": {early:.2f} s before T"
    expect(check(hub, name="not before the upgrade time", device=dut.name, rule=f"{rule.rule} (T = +{AT_DELAY_S} s)",
                 observed=observed, ok=ok, source=rule.source, confidence=rule.confidence))
    await expect_activated(hub, dut, hub.image(image.name).version, baseline)


@pytest.mark.spec("ZCL OTA Upgrade 0x0019: Upgrade End Response upgrade time 0xFFFFFFFF", "GBCS CS09")
@pytest.mark.ota_image("upgrade")
async def test_upgrade_wait_holds_the_image_until_told(hub, dut, image, profile, windows, baseline):
    supports(profile, "wait")
    transfer = await hub.upgrade(dut.name, image.name, upgrade_time="wait", **windows.ota_overrides(profile))
    await transfer.wait()
    record = transfer.record()
    expect_outcome(record, TransferOutcome.TRANSFERRED)

    rule = client_rule("upgrade_wait")
    told = upgrade_end_response(record)
    asked = transfer.next_event(lambda e: e.kind is TransferEventKind.UPGRADE_END and e.status == "SUCCESS")
    window = windows.cap(profile.ota.upgrade_reask_s) * 1.5 + windows.cap(profile.ota.block_timeout_s)
    try:
        again = await asyncio.wait_for(asked, window)
        observed = f"asked again (Upgrade End Request SUCCESS) {again.t - (told.t if told else record.started):.2f} s later"
    except TimeoutError:
        again, observed = None, f"no Upgrade End Request within {window:g} s of being told to wait"
    expect(check(hub, name="asks again when told to wait", device=dut.name,
                 rule=f"{rule.rule} (asks again within {profile.ota.upgrade_reask_s:g} s, profile upgrade_reask_s)",
                 observed=observed, ok=again is not None, source=rule.source, confidence=rule.confidence,
                 detail="" if again is not None else timeline(transfer.record())))
    running = await read_version(hub, dut.name, expected=baseline, why="while told to wait")
    expect(check(hub, name="holds the image until told", device=dut.name,
                 rule=f"the device still runs its baseline {version(baseline)} until the activation command",
                 observed=version(running) if running is not None else "no answer", ok=running == baseline,
                 source=rule.source, confidence=rule.confidence))

    hub.activate(dut.name)
    await transfer.wait_activation()
    await expect_activated(hub, dut, hub.image(image.name).version, baseline)
