"""SECMP0007 OTA: a good image is transferred, activated and read back; a downgrade only when forced.

Each test starts from the device's baseline firmware (the ``baseline`` fixture), so the order of
the tests does not matter. Each checks the whole alert sequence against the expectations file
(profiles/expectations/), not only where the device ended up.
"""

from __future__ import annotations

import pytest

from harness.evidence import TransferOutcome
from tests.fixtures.conformance_helpers import (
    check,
    data_blocks,
    expect,
    expect_good_image_alerts,
    expect_outcome,
    expect_sequence,
    read_version,
    version,
)


async def expect_running(hub, dut, wanted: int, why: str) -> None:
    """Read CurrentFileVersion over the air and hold it to ``wanted``."""
    running = await read_version(hub, dut.name, expected=wanted, why=why)
    expect(check(hub, name="version read-back", device=dut.name,
                 rule=f"OTA client CurrentFileVersion (0x0019/0x0002) reads {version(wanted)} {why}",
                 observed=f"{version(running)}" if running is not None else "no answer",
                 ok=running == wanted, source="ZCL OTA Upgrade cluster, client attribute 0x0002"))


@pytest.mark.spec("SECMP0007", "GBCS CCS08", "GBCS CS09", "SR 11.4", "ZCL OTA Upgrade 0x0019")
@pytest.mark.ota_image("upgrade")
async def test_good_image_is_transferred_activated_and_read_back(hub, dut, image, profile, windows, baseline):
    transfer = await hub.upgrade(dut.name, image.name, **windows.ota_overrides(profile))
    await transfer.wait()
    await transfer.wait_activation()
    record = transfer.record()

    expect_good_image_alerts(hub, dut, transfer)
    expect_outcome(record, TransferOutcome.TRANSFERRED)
    cap = min(profile.ota.max_block_size, record.block_size_cap)
    too_big = [e for e in data_blocks(record) if (e.size or 0) > cap]
    expect(check(hub, name="block size", device=dut.name, rule=f"no Image Block Response carries more than {cap} bytes",
                 observed=f"{len(data_blocks(record))} blocks, largest {max((e.size or 0 for e in data_blocks(record)), default=0)} bytes",
                 ok=not too_big, source="ZCL OTA / SE 1.x: 40 bytes is the safe block size with APS encryption"))
    await expect_running(hub, dut, hub.image(image.name).version, "after activation")


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

    expect_good_image_alerts(hub, dut, transfer)
    expect_outcome(record, TransferOutcome.TRANSFERRED)
    await expect_running(hub, dut, hub.image(image.name).version, "after the forced downgrade")
