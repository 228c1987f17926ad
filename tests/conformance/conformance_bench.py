"""The bench as the conformance suite sees it: who re-flashes a device, makes it rejoin, injects a fault.

labgrid's split (STYLE.md, section 3): the rig is passive data, and these are the drivers. An
:class:`EmulatorBench` does it all through the emulator's control surface; an
:class:`OperatorBench` (a real bench) asks the operator -- or, where nobody can answer (CI, no
terminal), skips or fails as the rig's ``[operator]`` policy says. The conftest picks one by the
rig's ``fault_injection`` capability; no test asks which it got.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from harness.rig import DeviceUnderTest, Rig, session_is_interactive


def version_text(value: int | None) -> str:
    return "an unknown version (it did not answer)" if value is None else f"0x{value:08X}"


# -- the bench: what brings a device back to its baseline, and what can inject faults ---------------


class BaselineUnavailable(Exception):
    """The device is not on its baseline firmware and this bench cannot put it back now."""


class OperatorBench:
    """A real bench: re-flashing a device is a manual step, governed by the rig's operator policy."""

    def __init__(self, rig: Rig, config: pytest.Config) -> None:
        self.rig = rig
        self.config = config

    async def restore(self, dut: DeviceUnderTest, version: int, *, running: int | None) -> None:
        if running == version:
            return
        action = self.rig.operator.action(interactive=session_is_interactive())
        step = (f"{dut.name} ({dut.eui64_text}) runs {version_text(running)}; re-flash it to its baseline "
                f"firmware {version_text(version)} and let it rejoin")
        if action == "skip":
            pytest.skip(f"manual step needed and nobody to do it (rig {self.rig.name!r} [operator] policy "
                        f"'skip'): {step}")
        if action == "fail":
            pytest.fail(f"manual step needed (rig {self.rig.name!r} [operator] policy 'fail'): {step}", pytrace=False)
        await self._prompt(step)

    async def _prompt(self, step: str) -> None:
        capture = self.config.pluginmanager.getplugin("capturemanager")
        timeout = self.rig.operator.prompt_timeout_s
        with capture.global_and_fixture_disabled():
            sys.stdout.write(f"\n>>> OPERATOR: {step}. Press Enter when done (or wait {timeout:g} s to skip).\n")
            sys.stdout.flush()
            try:
                await asyncio.wait_for(asyncio.to_thread(sys.stdin.readline), timeout)
            except TimeoutError:
                pytest.skip(f"operator did not confirm within {timeout:g} s: {step}")

    async def ensure_present(self, dut: DeviceUnderTest) -> None:
        """Nothing to do: a bench device stays where the operator put it."""

    async def rejoin(self, dut: DeviceUnderTest) -> None:
        """Make the device join again: switch its power by command or through the rig's labgrid place
        (labgrid's power driver), else a manual step."""
        power = self.rig.power
        if power is not None and power.kind == "place":
            from harness.places import PlaceError, lease_for

            try:
                await asyncio.to_thread(lease_for(self.rig).power_cycle, resource=power.resource)
            except PlaceError as exc:
                pytest.fail(f"{self.rig.path}: power through the place: {exc}", pytrace=False)
            return
        if power is not None and power.kind == "command":
            for argv in (power.off_command, power.on_command):
                process = await asyncio.create_subprocess_exec(*argv)
                if await process.wait() != 0:
                    pytest.fail(f"{self.rig.path}: power command {' '.join(argv)!r} exited with {process.returncode}",
                                pytrace=False)
            return
        step = f"power-cycle {dut.name} ({dut.eui64_text}) so that it rejoins the HAN"
        action = self.rig.operator.action(interactive=session_is_interactive())
        if action == "skip":
            pytest.skip(f"manual step needed and nobody to do it (rig {self.rig.name!r} [operator] policy 'skip'): {step}")
        if action == "fail":
            pytest.fail(f"manual step needed (rig {self.rig.name!r} [operator] policy 'fail'): {step}", pytrace=False)
        await self._prompt(step)


class EmulatorBench:
    """An emulated bench: the emulator re-flashes devices and injects faults on request."""

    def __init__(self, rig: Rig) -> None:
        from harness.hub.session import run_for

        self.rig = rig
        self._run = run_for(rig)

    @property
    def radio(self) -> Any:
        radio = self._run.radio
        if radio is None:
            raise RuntimeError(f"rig {self.rig.name!r}: the emulated radio is not running yet (start the hub first)")
        return radio

    async def restore(self, dut: DeviceUnderTest, version: int, *, running: int | None) -> None:
        """Re-flash even when the version already matches: a partial download held from an earlier
        test, or a device that left the HAN, would otherwise leak into this one."""
        device = self.radio.han.device(dut.name)
        await self.radio.acall(device.restore_firmware, version)

    async def ensure_present(self, dut: DeviceUnderTest) -> None:
        """On the network on the rig's firmware (a device an earlier test drove off the HAN is back)."""
        await self.restore(dut, dut.emulation.firmware_version if dut.emulation else 0, running=None)

    async def rejoin(self, dut: DeviceUnderTest) -> None:
        """Power-cycle the device and return once it has rejoined."""
        device = self.radio.han.device(dut.name)

        async def cycle() -> None:
            mark = device.events.mark()
            device.reboot()
            await device.wait_for("rejoined", since=mark, timeout=10.0)

        await self.radio.acall(cycle)

    def reboot(self, name: str) -> None:
        """Power-cycle a device now (mid-transfer, say): it rejoins and carries on."""
        self.radio.han.device(name).reboot()


