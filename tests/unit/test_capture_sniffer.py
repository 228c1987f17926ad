"""A bench's sniffer stick, driven through bellows' manufacturing-library capture.

The stick here is a second emulated NCP placed on the first one's air (``EmulatedRadio.sniff``):
:class:`harness.capture.sniffer.Sniffer` talks to it over its own pty exactly as to a USB stick
(mfglibStart, mfglibSetChannel, mfglibRxHandler), so what it writes must be, frame for frame,
what the emulated rig's own capture of the same air holds.
"""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import pytest

import harness.hub
from harness.capture.sniffer import Sniffer
from harness.emulator.server import EmulatedRadio
from harness.hub.settings import HubSettings
from harness.rig import load_rig
from tests.fixtures.emulatedhub import PPMID, RIG_FILE


def frames_in(path: Path) -> list[bytes]:
    data, frames, offset = path.read_bytes(), [], 0
    while offset < len(data):
        block_type, length = struct.unpack_from("<II", data, offset)
        if block_type == 6:
            captured = struct.unpack_from("<I", data, offset + 20)[0]
            frames.append(data[offset + 28 : offset + 28 + captured])
        offset += length
    return frames


async def until(condition, timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


@pytest.mark.parametrize("version", [13, 14])
async def test_the_sniffer_stick_records_the_air_the_rig_renders(version: int, tmp_path: Path) -> None:
    rig = load_rig(RIG_FILE)
    with EmulatedRadio(rig) as han_radio, EmulatedRadio(ezsp_version=version) as stick:
        stick.sniff(han_radio)
        sniffer = Sniffer(port=stick.port, channel=rig.han.channel)
        await asyncio.wait_for(sniffer.start(), 20)
        try:
            sniffed = sniffer.start_capture(tmp_path / "sniffer", "tests/a.py::test_join")
            rendered = han_radio.start_capture(tmp_path / "rig", "tests/a.py::test_join", keys=False)
            settings = HubSettings(join_timeout_s=15, interview_timeout_s=15)
            async with await harness.hub.start(rig, port=han_radio.port, settings=settings) as hub:
                await hub.join(PPMID)
            han_radio.stop_capture()
            expected = frames_in(rendered)
            await until(lambda: len(frames_in(sniffed)) >= len(expected))
        finally:
            await sniffer.stop()
        with pytest.raises(ValueError, match="holds no keys"):
            sniffer.start_capture(tmp_path, "x", keys=True)
    assert len(expected) > 50
    assert frames_in(sniffed)[: len(expected)] == expected  # the air goes on after the rig's file closed
    assert stick.unknown_commands == []
