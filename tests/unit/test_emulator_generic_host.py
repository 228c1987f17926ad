"""A blank emulated NCP driven by a generic EZSP host: zigpy's ControllerApplication as it comes.

No harness code sits between the host and the NCP here: zigpy forms a network the way it does
for any user (energy scan, pick the quietest channel, form), scans, backs up and restores. Every
``invalidCommand`` the NCP answers such a host is a bug, so each test ends by checking for none.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import zigpy.types as zt
from bellows.zigbee.application import ControllerApplication

from harness.emulator.frame_log import HOST_TO_NCP, NCP_TO_HOST
from harness.emulator.scan import HeardNetwork, RadioEnvironment
from harness.emulator.server import EmulatedRadio
from harness.emulator.testing import bellows_config

VERSIONS = [13, 14]

#: A Wi-Fi access point over channels 11-22; 23-26 are quiet.
WIFI = RadioEnvironment(interference_dbm={channel: -40 for channel in range(11, 23)})

NEIGHBOUR = HeardNetwork(
    channel=20, pan_id=0x4D2E, extended_pan_id=bytes.fromhex("00124b0001020304"), permit_joining=False, lqi=96, rssi=-78
)


def place(radio: EmulatedRadio, environment: RadioEnvironment) -> None:
    """Put the emulated radio's air in ``environment``."""
    radio.call(setattr, radio.han, "environment", environment)


@asynccontextmanager
async def zigpy_app(radio: EmulatedRadio, *, auto_form: bool = True, **network: Any) -> AsyncIterator[ControllerApplication]:
    """zigpy's application with its own defaults for the network (``network`` overrides them)."""
    app = ControllerApplication(bellows_config(radio.port, network=network))
    await asyncio.wait_for(app.startup(auto_form=auto_form), timeout=30)
    try:
        yield app
    finally:
        await app.shutdown()


@pytest.mark.parametrize("version", VERSIONS)
async def test_form_network_scans_the_air_and_picks_the_quiet_channel(version: int) -> None:
    with EmulatedRadio(ezsp_version=version) as radio:
        place(radio, WIFI)
        async with zigpy_app(radio) as app:  # no channel configured: zigpy runs an energy scan
            assert app.state.network_info.channel == 25  # the quiet one of zigpy's preferred 11/15/20/25
        assert "startScan" in radio.frame_log.ezsp_names(HOST_TO_NCP)
        assert radio.frame_log.ezsp_names(NCP_TO_HOST).count("energyScanResultHandler") == 16
        assert radio.unknown_commands == []


@pytest.mark.parametrize("version", VERSIONS)
async def test_energy_scan_reads_each_channel_of_the_air(version: int) -> None:
    with EmulatedRadio(ezsp_version=version) as radio:
        place(radio, WIFI)
        async with zigpy_app(radio, channel=25) as app:
            energy = await app.energy_scan(zt.Channels.ALL_CHANNELS, duration_exp=0, count=1)
        assert set(energy) == set(range(11, 27))
        assert min(energy[c] for c in range(11, 23)) > 200  # the access point
        assert max(energy[c] for c in range(23, 27)) < 10  # the noise floor
        assert radio.unknown_commands == []


@pytest.mark.parametrize("version", VERSIONS)
async def test_active_scan_hears_neighbouring_networks_on_the_scanned_channels(version: int) -> None:
    other = HeardNetwork(
        channel=11, pan_id=0x0BAD, extended_pan_id=bytes(range(8)), permit_joining=True, lqi=40, rssi=-90
    )
    with EmulatedRadio(ezsp_version=version) as radio:
        place(radio, RadioEnvironment(neighbours=(NEIGHBOUR, other)))
        async with zigpy_app(radio, channel=25) as app:
            mask = zt.Channels.from_channel_list([15, 20, 25])
            found = [beacon async for beacon in app.network_scan(mask, duration_exp=0)]
        assert [(b.pan_id, b.channel, b.permit_joining, b.lqi, b.rssi) for b in found] == [
            (0x4D2E, 20, False, 96, -78)
        ]
        assert found[0].extended_pan_id == zt.ExtendedPanId.convert("00:12:4b:00:01:02:03:04")
        assert radio.unknown_commands == []


async def test_a_stopped_scan_still_completes() -> None:
    with EmulatedRadio(ezsp_version=14) as radio:
        async with zigpy_app(radio, channel=25) as app:
            done = asyncio.get_running_loop().create_future()
            with app._ezsp.callback_for_commands(
                {"scanCompleteHandler"}, lambda name, args: done.done() or done.set_result(args)
            ):
                # the bare command, as bellows' own network scan sends it (startScan() awaits completion)
                (status,) = await app._ezsp._command(
                    "startScan", scanType=0, channelMask=zt.Channels.ALL_CHANNELS, duration=14  # ~4 min a channel
                )
                assert status == 0
                (again,) = await app._ezsp._command(
                    "startScan", scanType=0, channelMask=zt.Channels.ALL_CHANNELS, duration=0
                )
                assert again != 0  # one scan at a time
                (stopped,) = await app._ezsp.stopScan()
                assert stopped == 0
                await asyncio.wait_for(done, timeout=5)
        assert radio.frame_log.ezsp_names(NCP_TO_HOST).count("energyScanResultHandler") == 0
        assert radio.unknown_commands == []


@pytest.mark.parametrize("version", VERSIONS)
async def test_backup_from_one_ncp_restores_onto_a_blank_one(version: int) -> None:
    with EmulatedRadio(ezsp_version=version) as radio:
        async with zigpy_app(radio, channel=20) as app:
            backup = await app.backups.create_backup(load_devices=True)
        assert radio.unknown_commands == []
    # The same stick after a flash erase: restoring onto another EUI-64 would need the one-time
    # MFG_CUSTOM_EUI_64 burn, which zigpy refuses without the user's explicit consent.
    with EmulatedRadio(ezsp_version=version) as blank:
        app = ControllerApplication(bellows_config(blank.port))
        await asyncio.wait_for(app.connect(), timeout=20)
        try:
            await app.backups.restore_backup(backup)
        finally:
            await app.disconnect()
        async with zigpy_app(blank, auto_form=False) as restored:
            info = restored.state.network_info
            assert (info.channel, info.pan_id, info.extended_pan_id) == (
                20,
                backup.network_info.pan_id,
                backup.network_info.extended_pan_id,
            )
            assert info.network_key.key == backup.network_info.network_key.key
            assert info.network_key.tx_counter >= backup.network_info.network_key.tx_counter + 10000
        assert blank.unknown_commands == []


# --- bellows' own console script ----------------------------------------------------------------
#
# Of bellows 1.2.1's commands, these need no real RF. Not here: ``backup``/``restore`` and ``scan``
# (removed in 1.2.1: they print a pointer to zigpy-cli and touch no radio), ``devices`` and
# ``leave`` (they fail inside bellows' own code before or after any NCP exchange: a config
# validator and an ``sl_Status`` indexed as a list), ``dump``/``stream``/``tone``/``bootloader``
# (manufacturing library and bootloader: real RF or flashing), ``zcl`` (needs a joined device).

CONSOLE = Path(__file__).parents[1] / "fixtures" / "bellows_console.py"


def bellows_cli(port: str, *commands: tuple[str, ...]) -> list[str]:
    """bellows' console commands against ``port``, in order, in one process (its imports paid once);
    the output of each, or a failure naming the command that failed."""
    argv = [sys.executable, str(CONSOLE), json.dumps([["-d", port, *command] for command in commands])]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"bellows {commands} did not finish:\n{output[-2000:]}")
    results = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    for command, result in zip(commands, results, strict=False):
        assert result["exit_code"] == 0, f"bellows {' '.join(command)} failed:\n{result['output'][-2000:]}"
    assert process.returncode == 0 and len(results) == len(commands), f"bellows {commands}:\n{output[-2000:]}"
    return [result["output"] for result in results]


@pytest.mark.parametrize("version", VERSIONS)
def test_bellows_console_commands_run_against_a_blank_ncp(version: int, tmp_path: Path) -> None:
    database = tmp_path / "zigbee.db"
    database.touch()  # the CLI's -D insists on an existing file
    with EmulatedRadio(ezsp_version=version) as radio:
        _formed, info, config, max_hops, permit, permit_with_key, endpoints = bellows_cli(
            radio.port,
            ("form", "-D", str(database), "-c", "20", "-P", "4660"),
            ("info",),
            ("config", "--all"),
            ("config", "CONFIG_MAX_HOPS=20"),
            ("permit", "-D", str(database), "-t", "1"),
            ("permit-with-key", "-D", str(database), "-t", "1",
             "00:11:22:33:44:55:66:77", "83FED3407A939723A5C639B26916D505C3B5"),
            ("zdo", "-D", str(database), "00:0d:6f:00:ff:ee:00:01", "endpoints"),
        )
        assert "JOINED_NETWORK" in info and "radioChannel=20" in info and "panId=0x1234" in info
        assert "Board name: emulated NCP" in info and "EmberZNet version: 7.4.4.0" in info
        assert "CONFIG_STACK_PROFILE=2" in config
        assert re.search(r"\[<\w+\.(SUCCESS|OK): 0>\]", max_hops)
        assert "Done" in permit
        assert "Done" in permit_with_key
        assert "[1, 2, 242]" in endpoints
        assert radio.unknown_commands == []
