"""The conformance suite's waits: which OTA stall window wins, the rig's or the profile's, and which quiet window."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from harness.emulator.devices.settings import DeviceTimings
from harness.rig import load_rig
from tests.conformance.conftest import DEFAULT_QUIET_WINDOW_S, Windows, quiet_window

RIGS = Path(__file__).resolve().parents[2] / "rigs"

PROFILE = SimpleNamespace(ota=SimpleNamespace(block_timeout_s=30.0, activation_timeout_s=300.0))


def test_the_rigs_ota_stall_wins_over_the_profiles_block_timeout() -> None:
    # A bench's [hub] ota_stall_s is its own measure of its HAN: the suite uses it, not the profile's.
    assert Windows(None, 1.0, ota_stall_s=90.0).ota_overrides(PROFILE)["stall_timeout_s"] == 90.0
    assert Windows(None, 1.0).ota_overrides(PROFILE)["stall_timeout_s"] == 30.0


def test_patience_caps_the_stall_window_whichever_set_it() -> None:
    assert Windows(5.0, 1.0, ota_stall_s=90.0).ota_overrides(PROFILE)["stall_timeout_s"] == 5.0
    assert Windows(5.0, 1.0).ota_overrides(PROFILE)["stall_timeout_s"] == 5.0


def test_the_quiet_window_is_the_option_else_the_rigs_else_the_default() -> None:
    bench = SimpleNamespace(hub=SimpleNamespace(quiet_window_s=0.5))
    unset = SimpleNamespace(hub=SimpleNamespace(quiet_window_s=None))
    assert quiet_window(2.0, bench) == 2.0
    assert quiet_window(None, bench) == 0.5
    assert quiet_window(None, unset) == DEFAULT_QUIET_WINDOW_S
    assert quiet_window(None, None) == DEFAULT_QUIET_WINDOW_S


def test_the_emulated_rigs_watch_at_least_as_long_as_their_devices_own_longest_pause() -> None:
    # Shorter, and a conformant device that acts after its own pause would pass a "must not" test it fails.
    for name in ("emulated.toml", "emulated-defects.toml"):
        window = load_rig(RIGS / name).hub.quiet_window_s
        assert window is not None and window >= DeviceTimings().longest_own_pause_s, name
