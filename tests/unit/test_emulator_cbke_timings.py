"""What an emulated device promises in Initiate Key Establishment: Silicon Labs' defaults, 11 s and
16 s (reference/real-device-behaviour.md section 2), however quickly its own arithmetic runs -- so the
waits the CH keeps on the emulated rigs are the ones a real device makes it keep."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.emulator.devices import EmulatedDevice, settings_from_rig
from harness.emulator.devices.settings import timings_from_rig
from harness.rig import load_rig

RIGS = Path(__file__).resolve().parents[2] / "rigs"


@pytest.mark.parametrize("rig_file", ["emulated.toml", "emulated-defects.toml"])
def test_every_emulated_device_advertises_silicon_labs_generate_times(rig_file: str) -> None:
    rig = load_rig(RIGS / rig_file)
    for dut in rig.devices:
        profile = rig.profile_for(dut)
        device = EmulatedDevice(settings_from_rig(dut, profile, supplier_key=rig.supplier_key),
                                timings=timings_from_rig(dut, profile))
        timings = device.key_establishment.timings
        assert (timings.ephemeral_data_generate_time_s, timings.confirm_key_generate_time_s) == (11, 16), dut.name
