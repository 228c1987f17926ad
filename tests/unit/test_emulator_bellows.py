"""The real bellows + zigpy against the emulated NCP, through a real pty (or TCP on 127.0.0.1).

These are the tests that say the emulator is good enough to stand in for a USB EZSP dongle:
bellows' ControllerApplication forms, restarts, shuts down, survives a lossy or noisy line and
an NCP that reboots under it, for EZSP v13 and v14.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import zigpy.exceptions
import zigpy.types as zt
import zigpy.zdo.types as zdo_t
from bellows.exception import InvalidCommandError
from bellows.zigbee.application import ControllerApplication

from harness.emulator.ash import AshTimings
from harness.emulator.frame_log import HOST_TO_NCP, NCP_TO_HOST
from harness.emulator.server import EmulatedRadio
from harness.emulator.testing import FakeAir, bellows_config, write_formed_nvram

REPO = Path(__file__).resolve().parents[2]
VERSIONS = [13, 14]


@asynccontextmanager
async def running_app(radio: EmulatedRadio, *, auto_form: bool = True, **config) -> AsyncIterator[ControllerApplication]:
    app = ControllerApplication(bellows_config(radio.port, **config))
    await asyncio.wait_for(app.startup(auto_form=auto_form), timeout=20)
    try:
        yield app
    finally:
        await app.shutdown()


@pytest.fixture
def formed(tmp_path: Path) -> Path:
    """NVRAM of a radio that already carries a network: start-up takes the short path."""
    return write_formed_nvram(tmp_path / "nvram.json")


def bellows_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith(("bellows", "zigpy"))
    ]


@pytest.mark.parametrize("version", VERSIONS)
async def test_blank_ncp_starts_and_forms_on_the_rig_channel(version: int, caplog) -> None:
    caplog.set_level(logging.WARNING)
    with EmulatedRadio(ezsp_version=version) as radio:
        async with running_app(radio) as app:
            assert app.state.network_info.channel == 15
            assert app.state.node_info.logical_type == zdo_t.LogicalType.Coordinator
            assert app.state.node_info.ieee == zt.EUI64.convert("00:0d:6f:00:ff:ee:00:01")
            assert app.state.node_info.version == "7.4.4.0 build 0"
            assert app._ezsp.ezsp_version == version
        assert radio.unknown_commands == []
        sent = radio.frame_log.ezsp_names(HOST_TO_NCP)
        assert sent.count("formNetwork") == 1
        assert "stackStatusHandler" in radio.frame_log.ezsp_names(NCP_TO_HOST)
    assert bellows_warnings(caplog) == []


@pytest.mark.parametrize("version", VERSIONS)
async def test_restart_on_a_formed_network_takes_the_short_path(version: int) -> None:
    with EmulatedRadio(ezsp_version=version) as radio:
        async with running_app(radio) as first:
            formed = first.state.network_info
        assert not first.is_controller_running  # shut down cleanly
        before = len(radio.frame_log.ezsp_names(HOST_TO_NCP))
        async with running_app(radio, auto_form=False) as second:
            assert second.state.network_info.pan_id == formed.pan_id
            assert second.state.network_info.extended_pan_id == formed.extended_pan_id
            assert second.state.network_info.network_key.key == formed.network_key.key
        restart = radio.frame_log.ezsp_names(HOST_TO_NCP)[before:]
        assert "formNetwork" not in restart and "networkInit" in restart
        assert radio.unknown_commands == []


async def test_network_survives_in_the_nvram_file(tmp_path: Path) -> None:
    nvram = tmp_path / "ncp.json"
    with EmulatedRadio(ezsp_version=13, nvram_path=nvram) as radio:
        async with running_app(radio) as app:
            pan_id = app.state.network_info.pan_id
    with EmulatedRadio(ezsp_version=13, nvram_path=nvram) as radio:  # a new process, same flash
        async with running_app(radio, auto_form=False) as app:
            assert app.state.network_info.pan_id == pan_id


@pytest.mark.parametrize("version", VERSIONS)
async def test_unanswerable_command_is_refused_and_recorded(version: int, formed: Path) -> None:
    """v14 needs a 4-byte invalidCommand reason: with one byte bellows would hang for 10 s."""
    with EmulatedRadio(ezsp_version=version, nvram_path=formed) as radio:
        async with running_app(radio, auto_form=False) as app:
            with pytest.raises(InvalidCommandError):
                await asyncio.wait_for(app._ezsp.getRouteTableEntry(index=0), timeout=2)
        assert [u.name for u in radio.unknown_commands] == ["getRouteTableEntry"]


async def test_start_up_survives_two_percent_frame_loss() -> None:
    with EmulatedRadio(ezsp_version=13, frame_loss=0.02, seed=8, ash_timings=AshTimings().scaled(0.25)) as radio:
        async with running_app(radio) as app:
            assert app.state.network_info.channel == 15
        assert radio.frame_log.count("LOST") > 0
        assert radio.unknown_commands == []


async def test_start_up_survives_frame_corruption(formed: Path) -> None:
    with EmulatedRadio(
        ezsp_version=14, frame_corruption=0.05, seed=1, ash_timings=AshTimings().scaled(0.25), nvram_path=formed
    ) as radio:
        async with running_app(radio, auto_form=False):
            pass
        assert radio.frame_log.count("CORRUPTED") > 0
        assert radio.frame_log.count("INVALID", HOST_TO_NCP) > 0  # corrupted host frames the NCP rejected


async def test_garbage_on_the_line_is_survived_both_ways(formed: Path) -> None:
    with EmulatedRadio(ezsp_version=13, nvram_path=formed) as radio:
        async with running_app(radio, auto_form=False) as app:
            radio.inject_garbage(64)  # towards the host
            noise = bytes(range(0x20, 0x7E)) + b"\x7e\x7d\x7e"
            await radio.acall(radio.ncp.link.data_received, noise)  # towards the NCP
            (state,) = await app._ezsp.networkState()
            assert state == 0x02  # JOINED_NETWORK: commands still get through
        assert radio.frame_log.count("INVALID", HOST_TO_NCP) >= 1


async def test_ncp_reset_on_demand_makes_bellows_reconnect(formed: Path) -> None:
    with EmulatedRadio(ezsp_version=14, nvram_path=formed) as radio:
        async with running_app(radio, auto_form=False) as app:
            lost: asyncio.Future = asyncio.get_running_loop().create_future()

            class Listener:
                def connection_lost(self, exc: Exception) -> None:
                    if not lost.done():
                        lost.set_result(exc)

            app.add_listener(Listener())
            radio.reset_ncp()
            reason = await asyncio.wait_for(lost, timeout=5)
            assert "RESET_WATCHDOG" in repr(reason)
        before = len(radio.frame_log.ezsp_names(HOST_TO_NCP))
        # What an application (ZHA) does on connection_lost: start again on the same radio.
        async with running_app(radio, auto_form=False) as again:
            assert again.state.network_info.channel == 15
        assert "formNetwork" not in radio.frame_log.ezsp_names(HOST_TO_NCP)[before:]


async def test_one_byte_at_a_time_both_ways(formed: Path) -> None:
    with EmulatedRadio(ezsp_version=13, nvram_path=formed, split_writes=1) as radio:
        async with running_app(radio, auto_form=False) as app:
            assert app.state.network_info.channel == 15
        assert radio.frame_log.count("INVALID") == 0


async def test_tcp_transport_on_loopback(formed: Path) -> None:
    with EmulatedRadio(ezsp_version=14, transport="tcp", nvram_path=formed) as radio:
        assert radio.port.startswith("tcp://127.0.0.1:")
        async with running_app(radio, auto_form=False) as app:
            assert app.state.network_info.channel == 15


async def test_bellows_in_its_default_thread_mode(formed: Path) -> None:
    with EmulatedRadio(ezsp_version=13, nvram_path=formed) as radio:
        async with running_app(radio, auto_form=False, use_thread=True) as app:
            assert app.state.network_info.channel == 15


async def test_pty_link_is_a_stable_path(tmp_path: Path, formed: Path) -> None:
    link = tmp_path / "ncp"
    with EmulatedRadio(ezsp_version=13, pty_link=link, nvram_path=formed) as radio:
        assert radio.port == str(link) and link.is_symlink()
        async with running_app(radio, auto_form=False):
            pass
    assert not link.exists()


def test_a_stopped_radio_s_port_does_not_open_another_radio_on_its_old_pty(formed: Path) -> None:
    # The kernel hands a freed /dev/pts/N to the next pty at once. A host still retrying a stopped
    # radio's port (a hub waiting for its radio to come back) must not reach whichever emulator got
    # that number next -- under pytest-xdist, another worker's, whose NCP it would reset.
    with EmulatedRadio(ezsp_version=13, nvram_path=formed) as first:
        old_port = first.port
        old_pty = os.path.realpath(old_port)
        assert old_pty.startswith("/dev/pts/")
    with EmulatedRadio(ezsp_version=13, nvram_path=formed) as second:
        # Most often the second radio's pty is the first one's number again (the lowest free).
        assert second.port != old_port
        with pytest.raises(FileNotFoundError):
            open(old_port, "rb").close()


def _fake_air(air: FakeAir):
    def factory(ncp, loop, rng):
        air.coordinator = ncp
        return air

    return factory


@pytest.mark.parametrize("version", VERSIONS)
async def test_join_transient_key_and_unicast_delivery_through_the_air(version: int, formed: Path) -> None:
    device_eui = bytes.fromhex("000d6f000b123451")
    air = FakeAir(joiners=[(0x4A21, device_eui)])
    with EmulatedRadio(ezsp_version=version, air_factory=_fake_air(air), nvram_path=formed) as radio:
        async with running_app(radio, auto_form=False) as app:
            joined: asyncio.Future = asyncio.get_running_loop().create_future()

            class Listener:
                def device_joined(self, device) -> None:
                    if not joined.done():
                        joined.set_result(device)

            app.add_listener(Listener())
            ieee = zt.EUI64(bytes(reversed(device_eui)))
            key = zt.KeyData(bytes(range(16)))
            await app.permit_with_link_key(ieee, key, time_s=30)
            device = await asyncio.wait_for(joined, timeout=5)
            assert (device.nwk, device.ieee) == (0x4A21, ieee)

            ncp = radio.ncp
            assert await radio.acall(ncp.transient_key_for, device_eui) == bytes(range(16))
            assert await radio.acall(ncp.install_code_policy) is True
            assert air.permits[-1] == 30

            # A unicast the air delivers succeeds; one it cannot deliver raises DeliveryError.
            await app.request(device, 0x0104, 0x0006, 1, 1, 0x42, b"\x01\x42\x00", expect_reply=False)
            assert air.unicasts[-1].payload == b"\x01\x42\x00" and air.unicasts[-1].dst_nwk == 0x4A21
            air.delivers = False
            with pytest.raises(zigpy.exceptions.DeliveryError):
                await app.request(device, 0x0104, 0x0006, 1, 1, 0x43, b"\x01\x43\x00", expect_reply=False)
        assert radio.unknown_commands == []


async def test_radio_built_from_the_emulated_rig_hosts_its_devices() -> None:
    from harness.rig import load_rig

    rig = load_rig(REPO / "rigs" / "emulated.toml")
    with EmulatedRadio(rig) as radio:
        assert radio.options.ezsp_version == rig.radio.emulated.ezsp_version
        names = await radio.acall(lambda: sorted(d.name for d in radio.han.devices))
        assert names == sorted(d.name for d in rig.devices if d.emulation is not None)


async def test_a_new_host_starts_cleanly_after_the_ncp_talked_to_an_empty_line(formed: Path) -> None:
    """Device traffic while no host has the port open ends in an ERROR frame nobody read."""
    from harness.emulator.air import AirFrame

    with EmulatedRadio(ezsp_version=13, nvram_path=formed, ash_timings=AshTimings().scaled(0.1)) as radio:
        async with running_app(radio, auto_form=False):
            pass
        mark = len(radio.frame_log)
        report = AirFrame(0x1234, 0x0000, 0x0104, 0x0006, 1, 1, b"\x18\x01\x0a\x00\x00\x10\x01")

        def chatter() -> None:
            for _ in range(4):
                radio.ncp.frame_from_device(report, 200, -50)

        await radio.acall(chatter)

        def error_frame(record) -> bool:
            return record.frame_type == "ERROR"

        await asyncio.to_thread(radio.frame_log.wait_for, error_frame, timeout=10, start=mark)
        async with running_app(radio, auto_form=False) as app:
            assert app.state.network_info.channel == 15
