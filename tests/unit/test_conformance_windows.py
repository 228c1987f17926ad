"""The conformance suite's waits: which OTA stall window wins, the rig's or the profile's."""

from __future__ import annotations

from types import SimpleNamespace

from tests.conformance.conftest import Windows

PROFILE = SimpleNamespace(ota=SimpleNamespace(block_timeout_s=30.0, activation_timeout_s=300.0))


def test_the_rigs_ota_stall_wins_over_the_profiles_block_timeout() -> None:
    # A bench's [hub] ota_stall_s is its own measure of its HAN: the suite uses it, not the profile's.
    assert Windows(None, 1.0, ota_stall_s=90.0).ota_overrides(PROFILE)["stall_timeout_s"] == 90.0
    assert Windows(None, 1.0).ota_overrides(PROFILE)["stall_timeout_s"] == 30.0


def test_patience_caps_the_stall_window_whichever_set_it() -> None:
    assert Windows(5.0, 1.0, ota_stall_s=90.0).ota_overrides(PROFILE)["stall_timeout_s"] == 5.0
    assert Windows(5.0, 1.0).ota_overrides(PROFILE)["stall_timeout_s"] == 5.0
