"""The emulated OTA client honours upgrade times and MinimumBlockPeriod units as the reference client
does (real-device-behaviour.md section 4), and the defects that get them wrong do so visibly."""

from __future__ import annotations

import pytest

from harness.emulator.devices.ota_client import _activation_delay_s
from tests.fixtures.emulator_device_fakes import FAST, NEW, OLD, Air, OtaServer, Status, tagged_image


@pytest.mark.parametrize(("current", "upgrade", "expected"), [
    (0, 0, 0.0),  # upgrade now
    (1000, 0xFFFFFFFF, None),  # wait for a further command: hold, ask again later
    (1000, 1010, 10.0),  # T - CurrentTime
    (1000, 1001, 3.0),  # at least the 3 s minimum
    (1000, 999, None),  # a time already past: ask again later
    (0, 5, 5.0),  # no real-time clock: an offset
    (1000, 1000 + 7200, 3600.0),  # capped at an hour
])
def test_activation_delay_follows_the_reference_client(current, upgrade, expected) -> None:
    assert _activation_delay_s(current, upgrade, 3.0) == expected


async def test_told_to_wait_it_holds_the_image_and_asks_again_after_its_interval(air: Air) -> None:
    device = await air.joined(upgrade_reask_s=0.1)
    server = OtaServer(air.han, tagged_image(100), upgrade_time="wait")
    server.notify(device)
    first = await device.wait_for("waiting_to_upgrade", timeout=3)
    again = await device.wait_for("upgrade_end_sent", since=device.events.mark(), timeout=2)
    assert again.time - first.time >= 0.09
    assert [e.status for e in await server.received("upgrade_end", 2)][:2] == [Status.SUCCESS, Status.SUCCESS]
    assert device.current_file_version == OLD


async def test_activates_on_wait_runs_the_image_when_told_to_wait(air: Air) -> None:
    device = await air.joined(behaviour="activates_on_wait", upgrade_reask_s=10.0)
    server = OtaServer(air.han, tagged_image(100), upgrade_time="wait")
    server.notify(device)
    await device.wait_for("activated", timeout=3)
    assert device.current_file_version == NEW


async def test_activates_early_ignores_the_upgrade_time(air: Air) -> None:
    device = await air.joined(behaviour="activates_early", timings=FAST)
    server = OtaServer(air.han, tagged_image(100), upgrade_time=("at", 100))  # 100 s x 0.05 = 5 s if honoured
    server.notify(device)
    await device.wait_for("activated", timeout=2)
    assert not device.events.named("countdown")


async def test_minimum_block_period_counted_in_seconds(air: Air) -> None:
    device = await air.joined(min_block_period_ms=1, min_block_period_unit="s", timings=FAST)  # 1 s x 0.05
    server = OtaServer(air.han, tagged_image(200))
    server.notify(device)
    await device.wait_for("download_complete", timeout=5)
    times = [event.time for event in device.events.named("block_requested")]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(gaps) >= 3 and min(gaps) >= 0.049
