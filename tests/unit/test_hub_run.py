"""The run environment: the rig check with labgrid's strategy shape, the one hub, independent runs.

A run's hub is its radio check: what the check admitted is what the tests' hub serves, because it
is the same hub. A failure is kept (BROKEN) and raised again without touching the radio. Two runs
in one process -- ``harness rig check`` inside a pytest session, or two rigs one after the other
-- share nothing: each has its own emulator, hub, network key and key-establishment outcomes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.hub.run import HubRun, RunState
from harness.hub.settings import HubSettings
from harness.rig import Rig, load_rig
from harness.rigcheck import RigCheck, RigCheckFailed

REPO = Path(__file__).resolve().parents[2]
RIG_FILE = REPO / "rigs" / "emulated.toml"


@pytest.fixture
def rig() -> Rig:
    return load_rig(RIG_FILE)


@pytest.fixture
def run(rig: Rig, tmp_path: Path) -> Iterator[HubRun]:
    hub_run = HubRun(rig, workdir=tmp_path)
    yield hub_run
    hub_run.close()


async def test_the_radio_check_brings_up_the_hub_the_tests_then_use(run: HubRun) -> None:
    hub = await run.start_hub()
    try:
        assert run.state is RunState.HUB_READY and run.hub is hub
        assert run.hub_check is not None and run.hub_check.passed
        assert run.hub_check.detail.startswith("emulated EZSP v13, stack 7.4.4.0")
        assert "HAN on channel 15, PAN 0x1A62" in run.hub_check.detail
        assert "admitted: ihd1, ppmid1" in run.hub_check.detail
        assert await run.start_hub() is hub, "one hub per run"
        assert await hub.current_version("ppmid1") is not None
        outcome = run.key_outcomes.latest("ppmid1")
        assert outcome is not None and outcome.established, "the run keeps the outcomes its hub saw"
    finally:
        await run.stop_hub()
    assert run.state is RunState.RIG_READY


async def test_a_hub_started_again_in_the_run_knows_what_the_first_admitted(run: HubRun) -> None:
    await run.start_hub()
    await run.stop_hub()
    assert run.radio is not None
    ppmid = run.radio.han.device("ppmid1")
    hub = await run.start_hub()  # the same emulator and database: nobody is asked to join again
    try:
        assert sorted(hub.admitted) == ["ihd1", "ppmid1"]
        assert len(await run.radio.acall(lambda: ppmid.events.named("joined"))) == 1
    finally:
        await run.stop_hub()


async def test_a_device_that_fails_key_establishment_is_not_listed_as_admitted(run: HubRun) -> None:
    run.port()  # the emulator is up; its PPMID's certificate now comes from another CA
    assert run.radio is not None
    run.radio.han.device("ppmid1").set_behaviour("cbke_foreign_issuer")
    await run.start_hub()
    await run.stop_hub()
    assert run.hub_check is not None and run.hub_check.passed, "a device's defect is not the bench's"
    detail = run.hub_check.detail
    assert "admitted: ihd1;" in detail
    assert "joined but failed key establishment, so not admitted: ppmid1 (00:0D:6F:00:0B:12:34:51): CBKE failed" in detail
    assert "UNKNOWN_ISSUER" in detail


async def test_a_radio_that_cannot_be_opened_breaks_the_run_once(
        rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = HubRun(rig, workdir=tmp_path, settings=HubSettings(connect_attempts=1))
    opened: list[str] = []

    def port() -> str:
        opened.append("port")
        return str(tmp_path / "no-such-port")

    monkeypatch.setattr(run, "port", port)
    with pytest.raises(RigCheckFailed) as first:
        await run.start_hub()
    message = str(first.value)
    assert message.startswith("rig 'emulated' is not ready: radio, HAN and devices under test: radio: ")
    assert "no-such-port" in message and "\n" not in message
    assert run.state is RunState.BROKEN and run.hub is None
    with pytest.raises(RigCheckFailed) as again:
        await run.start_hub()
    assert again.value is first.value, "the stored failure, word for word"
    assert opened == ["port"], "a broken run never tries the radio again"


async def test_a_rig_that_fails_its_files_check_never_brings_the_radio_up(rig: Rig, tmp_path: Path) -> None:
    def missing(_: Rig) -> str:
        raise RigCheckFailed("rigs/emulated.toml: file not found: images[0]")

    run = HubRun(rig, workdir=tmp_path, checks=[RigCheck("referenced files", missing)])
    with pytest.raises(RigCheckFailed, match=r"^rig 'emulated' is not ready: referenced files: .*file not found"):
        await run.start_hub()
    assert run.state is RunState.BROKEN and run.radio is None and run.hub_check is None
    with pytest.raises(RigCheckFailed):
        run.ensure_rig_ready()


async def test_two_runs_in_one_process_are_independent(rig: Rig, tmp_path: Path) -> None:
    """What `harness rig check` inside a pytest session does: a second run of the same rig while
    the first one's hub is up. Each has its own emulator, hub, network and outcomes; neither's
    end or failure touches the other."""
    first = HubRun(rig, workdir=tmp_path / "first")
    second = HubRun(rig, workdir=tmp_path / "second")
    broken = HubRun(rig, workdir=tmp_path / "broken", checks=[RigCheck("radio port", _port_busy)])
    try:
        hub = await first.start_hub()
        other = await second.start_hub()
        assert other is not hub and second.port() != first.port()
        assert second.network.network_key != first.network.network_key  # generated once per run
        assert second.key_outcomes is not first.key_outcomes
        assert sorted(other.admitted) == sorted(hub.admitted) == ["ihd1", "ppmid1"]
        await second.stop_hub()
        second.close()
        with pytest.raises(RigCheckFailed):
            await broken.start_hub()
        assert first.state is RunState.HUB_READY and first.failure is None
        assert await hub.current_version("ppmid1") is not None, "the first run's hub still serves"
    finally:
        await first.stop_hub()
        first.close()
        second.close()
        broken.close()


def _port_busy(_: Rig) -> str:
    raise RigCheckFailed("port busy")


def test_importing_the_run_and_the_plugin_does_not_import_the_radio_stack() -> None:
    """Every pytest run loads the plugin, which makes a run; only a run that starts a hub needs bellows."""
    probe = (
        "import sys, harness.plugin, harness.hub.run\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(('bellows', 'zigpy'))}))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
