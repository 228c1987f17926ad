"""A run's hubs share radio, network and device database: what the rig check admits, the session hub knows."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from harness.hub import checks
from harness.hub.session import HubRun
from harness.hub.settings import HubSettings
from harness.rig import load_rig
from harness.rigcheck import RigCheckFailed

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def run():
    hub_run = HubRun(load_rig(REPO / "rigs" / "emulated.toml"))
    yield hub_run
    hub_run.close()


async def _session(run: HubRun) -> tuple[list[str], str]:
    hub = await run.start_hub()
    try:
        transfer = await hub.upgrade("ppmid1", "ppmid-next")
        outcome = await transfer.wait()
        return sorted(hub.admitted), outcome.value
    finally:
        await run.stop_hub()


def test_the_session_hub_knows_the_devices_the_check_admitted(run):
    detail = run.check_radio_and_devices()
    assert detail.startswith("emulated EZSP v13, stack 7.4.4.0")
    assert "HAN on channel 15, PAN 0x1A62" in detail and "admitted: ihd1, ppmid1" in detail
    admitted, outcome = asyncio.run(_session(run))
    assert admitted == ["ihd1", "ppmid1"] and outcome == "transferred"


def test_a_device_that_fails_key_establishment_is_not_listed_as_admitted(run):
    run.port()  # the emulator is up; its PPMID's certificate now comes from another CA
    run.radio.han.device("ppmid1").set_behaviour("cbke_foreign_issuer")
    detail = run.check_radio_and_devices()
    assert "admitted: ihd1;" in detail
    assert "joined but failed key establishment, so not admitted: ppmid1 (00:0D:6F:00:0B:12:34:51): CBKE failed" in detail
    assert "UNKNOWN_ISSUER" in detail


def test_importing_the_hub_adds_no_radio_check():
    """Importing the hub must not add a radio check to every run (it would start an emulator)."""
    probe = (
        "import harness.hub, harness.hub.checks, harness.hub.commshub\n"
        "from harness.rigcheck import registered_checks\n"
        "print([c.name for c in registered_checks()])"
    )
    listed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert checks.CHECK_NAME not in listed


def test_register_adds_the_radio_check_once(monkeypatch):
    from harness import rigcheck

    others = [c for c in rigcheck.registered_checks() if c.name != checks.CHECK_NAME]
    monkeypatch.setattr(rigcheck, "_REGISTRY", others)  # this test's own copy
    checks.register()
    checks.register()
    assert [c.name for c in rigcheck.registered_checks()].count(checks.CHECK_NAME) == 1


def test_a_rig_whose_radio_cannot_be_opened_fails_the_check_with_one_line(tmp_path, monkeypatch):
    rig = load_rig(REPO / "rigs" / "emulated.toml")
    run = HubRun(rig, workdir=tmp_path, settings=HubSettings(connect_attempts=1))
    monkeypatch.setattr(run, "port", lambda: str(tmp_path / "no-such-port"))
    monkeypatch.setattr("harness.hub.session.run_for", lambda rig: run)
    with pytest.raises(RigCheckFailed, match=r"^radio: .*no-such-port"):
        checks.check_radio_and_devices(rig)
