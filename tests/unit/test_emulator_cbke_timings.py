"""What an emulated device promises in Initiate Key Establishment: its own compute time, never more
than Silicon Labs' defaults (reference/real-device-behaviour.md section 2)."""

from __future__ import annotations

import pytest

from harness.emulator.devices.key_establishment import ECC_ALLOWANCE_S, KeyEstablishmentTimings


@pytest.mark.parametrize(("compute_s", "promised"), [
    (0.0, (ECC_ALLOWANCE_S, ECC_ALLOWANCE_S)),   # CI: the arithmetic only
    (2.5, (3 + ECC_ALLOWANCE_S, 3 + ECC_ALLOWANCE_S)),
    (12.0, (11, 15)),                             # a slow device: the ephemeral promise is capped at 11 s
    (60.0, (11, 16)),                             # a device in real time keeps the defaults
])
def test_a_device_promises_its_own_compute_time_capped_at_the_defaults(
        compute_s: float, promised: tuple[int, int]) -> None:
    timings = KeyEstablishmentTimings.for_compute_time(compute_s)
    assert (timings.ephemeral_data_generate_time_s, timings.confirm_key_generate_time_s) == promised
    assert (KeyEstablishmentTimings().ephemeral_data_generate_time_s,
            KeyEstablishmentTimings().confirm_key_generate_time_s) == (11, 16)
