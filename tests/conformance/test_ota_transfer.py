"""How the device downloads: it honours WAIT_FOR_DATA, resumes an interrupted transfer from its
offset, and uses Image Page Requests where its profile says it does.

These tests are about the download, so the CH defers activation (Upgrade End Response upgrade
time 0xFFFFFFFF, "wait for a further command") and checks the "transfer-success" sequence: a
device that cannot activate is the subject of test_ota_upgrade.py, not of these.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from harness.evidence import Outcome, TransferEventKind, TransferOutcome
from harness.hub.transfer_checks import check_minimum_block_period
from tests.fixtures.conformance_helpers import (
    check,
    client_rule,
    events,
    expect,
    expect_outcome,
    expect_sequence,
    failure,
    record_check,
    timeline,
)

#: How long the CH asks the device to wait (WAIT_FOR_DATA), in whole seconds as on the wire (UTCTime).
WAIT_S = 1.0
#: The MinimumBlockPeriod the second WAIT_FOR_DATA sets, per unit the profile names: about a
#: sixth of a second between block requests (milliseconds), or the least a seconds-counting
#: client can be asked for. Applied only to the last few blocks, so the test stays short.
NEW_BLOCK_PERIOD = {"ms": 150, "s": 1}
#: Blocks left after the second WAIT_FOR_DATA, over which the new period is judged.
PACED_BLOCKS = 4
#: The sequence of a good download whose activation the CH defers.
TRANSFERRED = "transfer-success"


def a_third_of(hub, image) -> int:
    return hub.image(image.name).size // 3


@pytest.mark.spec("ZCL OTA Upgrade 0x0019: Image Block Response WAIT_FOR_DATA",
                  "ZCL OTA Upgrade 0x0019: MinimumBlockPeriod", "SECMP0007")
@pytest.mark.ota_image("upgrade")
async def test_wait_for_data_is_honoured(hub, dut, image, profile, windows, baseline):
    # Two waits in one transfer: the first keeps the MinimumBlockPeriod, the second sets a new one
    # near the end, counted in the unit the profile says the device uses (ms or s).
    size = hub.image(image.name).size
    unit = profile.ota.minimum_block_period_unit
    first = a_third_of(hub, image)
    second = max(first + 1, size - PACED_BLOCKS * min(profile.ota.max_block_size, 40))
    transfer = await hub.upgrade(dut.name, image.name, upgrade_time="wait", **windows.ota_overrides(profile),
                                 wait_for_data=((first, WAIT_S), (second, WAIT_S, NEW_BLOCK_PERIOD[unit])))
    await transfer.wait()
    record = transfer.record()

    waits = events(record, TransferEventKind.WAIT_FOR_DATA)
    assert len(waits) == 2, (f"{dut.name}: the CH sent {len(waits)} WAIT_FOR_DATA, not 2 (the transfer did not "
                             f"reach offsets {first} and {second})\n{timeline(record)}")
    rule = client_rule("wait_for_data")
    honoured = hub.check_wait_for_data(transfer)
    assert honoured.outcome is Outcome.PASS, f"{failure(honoured)}\n({rule.rule}; {rule.source})"
    paced = record_check(hub, check_minimum_block_period(record, unit))
    if not (profile.ota.page_requests and paced.outcome is Outcome.NOT_OBSERVED):
        assert paced.outcome is Outcome.PASS, failure(paced)
    expect_outcome(record, TransferOutcome.TRANSFERRED)
    expect_sequence(hub, dut.name, TRANSFERRED, transfer)


@pytest.mark.spec("ZCL OTA Upgrade 0x0019: resuming a download from FileOffset", "SECMP0007")
@pytest.mark.needs("fault_injection")
@pytest.mark.ota_image("upgrade")
async def test_interrupted_transfer_resumes_from_its_offset(hub, dut, image, profile, windows, baseline, fault_injection):
    third = a_third_of(hub, image)
    transfer = await hub.upgrade(dut.name, image.name, upgrade_time="wait", **windows.ota_overrides(profile))
    reached = await asyncio.wait_for(transfer.reached(third), windows.cap(profile.ota.block_timeout_s) * 4)
    rebooted_at = time.time()
    fault_injection.reboot(dut.name)
    await transfer.wait()
    record = transfer.record()

    requests = events(record, TransferEventKind.BLOCK_REQUEST, TransferEventKind.PAGE_REQUEST)
    # A device that asked for offset N held N bytes: that is what it must not lose by rebooting.
    # (The CH's own high-water mark runs ahead by whatever was in flight -- a whole page in page mode.)
    floor = max((e.offset or 0 for e in requests if e.t <= rebooted_at), default=0)
    after = [e for e in requests if e.t > rebooted_at]
    resumed = after[0].offset if after else None
    expect(check(hub, name="resumed from its offset", device=dut.name,
                 rule=f"after a reboot once {reached} bytes were sent, the device asks again from at least byte "
                      f"{floor} (the offset of its last request before the reboot), not from 0",
                 observed="no request after the reboot" if resumed is None else f"first request after the reboot at offset {resumed}",
                 ok=resumed is not None and floor > 0 and resumed >= floor,
                 source="ZCL OTA Upgrade cluster, FileOffset attribute",
                 detail=timeline(record, limit=200)[-3000:]))
    expect_outcome(record, TransferOutcome.TRANSFERRED)
    expect_sequence(hub, dut.name, TRANSFERRED, transfer)


@pytest.fixture
def uses_page_requests(dut, profile) -> None:
    """Skip, before the device is touched, when its profile says it downloads block by block."""
    if not profile.ota.page_requests:
        pytest.skip(f"profile {profile.name!r} says {dut.name} does not use Image Page Requests (page_requests = false)")


@pytest.mark.spec("ZCL OTA Upgrade 0x0019: Image Page Request")
@pytest.mark.ota_image("upgrade")
async def test_page_requests_are_served_where_the_device_uses_them(hub, dut, image, profile, windows,
                                                                  uses_page_requests, baseline):
    transfer = await hub.upgrade(dut.name, image.name, upgrade_time="wait", **windows.ota_overrides(profile))
    await transfer.wait()
    record = transfer.record()

    pages = events(record, TransferEventKind.PAGE_REQUEST)
    expect(check(hub, name="page requests", device=dut.name, rule="the device downloads with Image Page Requests",
                 observed=f"{len(pages)} page request(s), {len(events(record, TransferEventKind.BLOCK_REQUEST))} block request(s)",
                 ok=bool(pages), source=f"profile {profile.name} [ota] page_requests = true"))
    expect_outcome(record, TransferOutcome.TRANSFERRED)
    expect_sequence(hub, dut.name, TRANSFERRED, transfer)
