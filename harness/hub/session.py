"""One run against one rig: the radio, the network and the device database every hub of the run shares.

A test session starts the hub more than once: the rig check brings it up to see the radio answer,
the HAN on its channel and every device under test admitted, then the session's ``hub`` fixture
starts it again for the tests. Both must meet the same bench: the same radio (for an emulated rig,
the same emulator, whose devices stay joined), the same network (a key generated for the run is
generated once) and the same zigpy database (so the second hub knows the devices the first one
admitted, and a real device is not asked to join twice). :class:`HubRun` holds those three;
:func:`run_for` returns the one per rig for this process, which is how a rig check -- a plain
function of the rig -- and the fixture find the same one.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from harness.hub.commshub import CommsHub, HubError
from harness.hub.radio import NetworkIdentity
from harness.hub.settings import HubSettings


class HubRun:
    """The shared parts of every hub started against ``rig`` in this run."""

    def __init__(self, rig: Any, *, settings: HubSettings | None = None, workdir: Path | None = None) -> None:
        self.rig = rig
        self.settings = settings or HubSettings()
        self.network = NetworkIdentity.for_rig(rig.han)
        self._tmp = None
        if rig.han.persistence is not None:
            self.database_path: Path = rig.han.persistence
        else:
            if workdir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="harness-run-")
                workdir = Path(self._tmp.name)
            self.database_path = Path(workdir) / "zigpy.db"
        self.radio: Any = None  # the EmulatedRadio of an emulated rig, started on first use
        self.hub: CommsHub | None = None
        self.check_lines: list[str] = []

    @property
    def emulated(self) -> bool:
        return self.rig.radio.emulated is not None

    def port(self) -> str | None:
        """The radio's port: the emulator's (started now, on its own thread) or None for the rig's own."""
        if not self.emulated:
            return None
        if self.radio is None:
            from harness.emulator.server import EmulatedRadio  # only an emulated rig needs the emulator

            self.radio = EmulatedRadio(self.rig).start()
        return self.radio.port

    def new_hub(self, **kwargs: Any) -> CommsHub:
        return CommsHub(
            self.rig,
            port=self.port(),
            settings=self.settings,
            network=self.network,
            database_path=self.database_path,
            **kwargs,
        )

    async def start_hub(self, **kwargs: Any) -> CommsHub:
        """The run's hub, started and serving every device under test (joined now if it is not)."""
        if self.hub is None:
            hub = self.new_hub(**kwargs)
            await hub.start()
            try:
                for dut in self.rig.devices:
                    await hub.join(dut.name)
            except BaseException:
                await hub.stop()
                raise
            self.hub = hub
        return self.hub

    async def stop_hub(self) -> None:
        if self.hub is not None:
            hub, self.hub = self.hub, None
            await hub.stop()

    # -- rig checks -----------------------------------------------------------------------------

    def check_radio_and_devices(self) -> str:
        """Radio reachable, HAN up on the rig's channel, every device under test admitted.

        Runs a short-lived hub on a private event loop (the checks run before any test loop
        exists); what it admits stays in the run's database for the session's hub.
        """
        return asyncio.run(self._check())

    async def _check(self) -> str:
        hub = self.new_hub()
        try:
            await hub.start()
        except Exception as exc:  # noqa: BLE001 -- any failure to start is "radio not ready"
            raise HubError(f"radio: {type(exc).__name__}: {exc}") from exc
        try:
            facts = hub.radio_facts()
            radio = (
                f"{'emulated ' if self.emulated else ''}EZSP v{facts['ezsp_version']}, stack {facts['ncp_firmware']}, "
                f"HAN on {facts['han']}"
            )
            trust_centre = (await hub.trust_centre_security()).line()
            admitted, failed_cbke = [], []
            for dut in self.rig.devices:
                if await hub.join(dut.name) is not None:
                    admitted.append(dut.name)
                    continue
                # It joined and failed key establishment: a defect of the device, which its
                # key-establishment test reports; the rest of the rig can still be tested.
                outcome = hub.key_establishment.outcome(dut.name)
                failed_cbke.append(outcome.describe() if outcome is not None else f"{dut.name}: CBKE failed")
            nobody = "none" if self.rig.devices else "no devices under test"
            self.check_lines = [radio, trust_centre, f"admitted: {', '.join(admitted) or nobody}"]
            if failed_cbke:
                self.check_lines.append("joined but failed key establishment, so not admitted: " + "; ".join(failed_cbke))
            return "; ".join(self.check_lines)
        finally:
            await hub.stop()

    def close(self) -> None:
        """Stop the emulator (if any) and remove the run's temporary files."""
        if self.radio is not None:
            self.radio.stop()
            self.radio = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


_RUNS: dict[Path, HubRun] = {}


def run_for(rig: Any, **kwargs: Any) -> HubRun:
    """The process-wide :class:`HubRun` for ``rig`` (created on first call)."""
    key = Path(rig.path).resolve()
    run = _RUNS.get(key)
    if run is None:
        run = _RUNS[key] = HubRun(rig, **kwargs)
    return run


def close_runs() -> None:
    """Close every run of this process (the plugin calls it when the session ends)."""
    while _RUNS:
        _, run = _RUNS.popitem()
        run.close()
