"""One run against one rig: the run environment the pytest session and ``harness rig check`` each own.

A :class:`HubRun` is everything that lasts as long as a run and no longer:

* the rig, and its **check**, shaped like a labgrid strategy: nothing is checked until first use;
  each check runs once; a failure is stored (state BROKEN) and raised again, word for word, to
  every later caller without retrying anything -- a bench does not repair itself between tests;
* the **one hub**: the radio check *is* the hub starting (radio reachable, HAN on the rig's
  channel, every device under test admitted), on the caller's event loop, so the hub that passed
  the check is the hub the tests use;
* the radio of an emulated rig (its emulator, started on first use), the network identity (a
  key generated for the run is generated once) and zigpy's database;
* the **key-establishment outcomes** of the run's devices (:class:`KeOutcomeLog`), so a device that
  failed CBKE is not asked to join again by a later hub of the run;
* the **secret redactor** every secret of the run is registered with (:class:`RunRedactor`);
* the run's **captures** (:meth:`HubRun.capture_into`): the emulated radio's air, a bench's
  sniffer stick (started with the hub, stopped with it), or else the host's EZSP frame log.

Nothing here is kept at module level: the plugin keeps the session's run in ``config.stash`` and
``harness rig check`` makes its own, so two runs in one process (the CLI's check inside a pytest
session, two rigs one after the other) never share a radio, a hub or an outcome.

Importing this module does not import bellows or zigpy: the plugin imports it in every pytest run,
and only a run that starts the hub needs them.
"""

from __future__ import annotations

import enum
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from harness.capture.ezsp_log import EzspFrameLog
from harness.capture.per_test import RunCaptures
from harness.evidence import redact, register_secret
from harness.hub.errors import DeviceNotAdmitted, HubError
from harness.hub.settings import HubSettings
from harness.rig import Rig
from harness.rigcheck import CheckOutcome, RigCheck, RigChecker, RigCheckFailed
from harness.secret import Secret
from harness.tomlread import ConfigError

if TYPE_CHECKING:
    from harness.capture.sniffer import Sniffer
    from harness.emulator.server import EmulatedRadio
    from harness.hub.commshub import CommsHub
    from harness.hub.key_establishment import KeOutcomeLog
    from harness.hub.radio import NetworkIdentity

#: What each capture source writes, as the evidence and the report name it.
AIR_CAPTURE = "802.15.4 pcapng"

#: The name the radio check goes by in check lines and messages.
HUB_CHECK_NAME = "radio, HAN and devices under test"


class RunState(enum.Enum):
    """How far the run's rig has been checked (labgrid's strategy states, for a bench)."""

    UNCHECKED = "unchecked"  # nothing asked yet
    RIG_READY = "rig ready"  # the rig file and what it references checked; no radio up
    HUB_READY = "hub ready"  # the hub is up: radio answered, HAN on the rig's channel, devices admitted
    BROKEN = "broken"  # a check failed: kept, and raised again to every caller; nothing is retried


#: The only moves a run makes; anything else is a bug in the caller.
_TRANSITIONS = {
    (RunState.UNCHECKED, RunState.RIG_READY),
    (RunState.UNCHECKED, RunState.BROKEN),
    (RunState.RIG_READY, RunState.HUB_READY),
    (RunState.RIG_READY, RunState.BROKEN),
    (RunState.HUB_READY, RunState.RIG_READY),  # the hub stopped; the rig is still ready
}


class RunRedactor:
    """The run's secret redactor: every secret the run handles is registered here, once.

    The patterns themselves live in the evidence layer, which redacts every record as it is made
    and every page as it is written; they are process-wide on purpose, so a secret of one run can
    never be printed by another run of the same process.
    """

    def __init__(self) -> None:
        self.registered = 0

    def register(self, secret: Secret | bytes | str) -> None:
        register_secret(secret)
        self.registered += 1

    def redact(self, text: str) -> str:
        return redact(text)


class HubRun:
    """The run environment for one rig: its check, its one hub, its radio, outcomes and secrets."""

    def __init__(
        self,
        rig: Rig,
        *,
        settings: HubSettings | None = None,
        workdir: Path | None = None,
        checks: Iterable[RigCheck] | None = None,
    ) -> None:
        """``workdir``: where zigpy's database goes when the rig has no ``han.persistence`` (default:
        a temporary directory removed by :meth:`close`). ``checks``: the rig checks run before the
        hub (default: the registered ones, as pytest and ``harness rig check`` run them)."""
        self.rig = rig
        self.settings = settings or HubSettings()
        self.checker = RigChecker(rig, checks)
        self.redactor = RunRedactor()
        self.state = RunState.UNCHECKED
        #: The stored failure of a BROKEN run, raised again to every later caller.
        self.failure: RigCheckFailed | None = None
        #: The radio check's line (``harness rig check`` prints it), once it ran.
        self.hub_check: CheckOutcome | None = None
        self.radio: EmulatedRadio | None = None  # an emulated rig's emulator, started on first use
        self.hub: CommsHub | None = None
        self._workdir = workdir
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._network: NetworkIdentity | None = None
        self._key_outcomes: KeOutcomeLog | None = None
        self._database_path: Path | None = None
        #: Per-test captures, once :meth:`capture_into` named their directory.
        self.captures: RunCaptures | None = None
        self._sniffer: Sniffer | None = None
        for dut in rig.devices:
            self.redactor.register(dut.install_code)
        if rig.han.network_key is not None:
            self.redactor.register(rig.han.network_key)

    @property
    def emulated(self) -> bool:
        return self.rig.radio.emulated is not None

    @property
    def network(self) -> NetworkIdentity:
        """The HAN this run forms: the rig's, with what it leaves open generated once for the run."""
        if self._network is None:
            from harness.hub.radio import NetworkIdentity

            self._network = NetworkIdentity.for_rig(self.rig.han)
            self.redactor.register(Secret(self._network.network_key))
        return self._network

    @property
    def key_outcomes(self) -> KeOutcomeLog:
        """The key-establishment outcomes of the run's devices (made with the first hub: bellows is
        imported only by a run that brings a radio up)."""
        if self._key_outcomes is None:
            from harness.hub.key_establishment import KeOutcomeLog

            self._key_outcomes = KeOutcomeLog()
        return self._key_outcomes

    @property
    def database_path(self) -> Path:
        """zigpy's database: the rig's ``han.persistence``, else a file in the run's own directory."""
        if self._database_path is None:
            if self.rig.han.persistence is not None:
                self._database_path = self.rig.han.persistence
            else:
                workdir = self._workdir
                if workdir is None:
                    self._tmp = tempfile.TemporaryDirectory(prefix="harness-run-")
                    workdir = Path(self._tmp.name)
                Path(workdir).mkdir(parents=True, exist_ok=True)
                self._database_path = Path(workdir) / "zigpy.db"
        return self._database_path

    def port(self) -> str | None:
        """The radio's port: the run's own emulator's (started now), where the rig's labgrid place
        exports it (the place acquired now if the rig check has not), or None for the rig's own port."""
        if self.rig.radio.place is not None:
            from harness.places import lease_for  # only a place rig needs labgrid

            serial = lease_for(self.rig).serial
            if serial is None:  # acquire() found the serial export or raised; never None after it
                raise RuntimeError(f"rig {self.rig.name!r}: place {self.rig.radio.place.name!r} exports no serial radio")
            return serial.url
        if not self.emulated:
            return None
        if self.radio is None:
            from harness.emulator.server import EmulatedRadio  # only an emulated rig needs the emulator

            self.radio = EmulatedRadio(self.rig).start()
            if self.captures is not None:
                self._capture_emulated_air()
        return self.radio.port

    def _port_diagnosis(self) -> Callable[[], str | None] | None:
        """For a place rig: what says why the radio's port is gone (the exporter withdrew it)."""
        if self.rig.radio.place is None:
            return None
        from harness.places import lease_for

        return lease_for(self.rig).serial_problem

    # -- captures -----------------------------------------------------------------------------------

    def capture_into(self, directory: Path) -> RunCaptures:
        """Capture each test's traffic into ``directory`` (see :mod:`harness.capture.per_test`).

        Emulated rig: the radio's air, with the keys file (test keys), from the moment the radio
        starts. Bench with a ``[radio.sniffer]``: the stick's air, from the moment the hub starts;
        a keys file only if the rig opts in (``write_keys``). Bench without a sniffer: the host's
        EZSP frame log, redacted, no keys.
        """
        if self.captures is None:
            self.captures = RunCaptures(directory)
            if self.radio is not None:
                self._capture_emulated_air()
            elif not self.emulated and self.rig.radio.sniffer is None:
                frame_log = EzspFrameLog(self.redactor.redact)
                self.captures.attach(frame_log, format=frame_log.format, name=frame_log.source, keys=False)
        return self.captures

    def _capture_emulated_air(self) -> None:
        assert self.captures is not None and self.radio is not None
        self.captures.attach(self.radio, format=AIR_CAPTURE, name="emulated HAN air", keys=True)

    async def _start_sniffer(self) -> None:
        """A bench's sniffer stick, capturing from before the hub forms the HAN (so joins are in)."""
        settings = self.rig.radio.sniffer
        if self.captures is None or settings is None or self._sniffer is not None:
            return
        from harness.capture.sniffer import Sniffer

        sniffer = Sniffer.for_rig(self.rig)
        assert sniffer is not None
        try:
            await sniffer.start()
        except Exception as exc:  # noqa: BLE001 -- any failure to start the stick is "sniffer not ready"
            raise HubError(f"sniffer radio {settings.port}: {type(exc).__name__}: {exc}") from exc
        self._sniffer = sniffer
        if settings.write_keys:
            self._write_bench_keys()
        self.captures.attach(sniffer, format=AIR_CAPTURE, name=f"sniffer {sniffer.port}", keys=False)

    def _write_bench_keys(self) -> None:
        """The keys a bench that opted in knows: the network key and each device's install-code key.

        Link keys agreed by CBKE stay on the radio; the host never holds them, so frames APS-secured
        under them decode only as far as the NWK layer.
        """
        from harness.capture.keys_file import add_key
        from harness.hub.joins import link_key_for

        assert self.captures is not None
        add_key(self.captures.keys_file, self.network.network_key, "network key")
        for dut in self.rig.devices:
            link_key = bytes(link_key_for(dut.name, dut.install_code, self.redactor.register))
            add_key(self.captures.keys_file, link_key, f"link key {dut.name} (install code)")

    async def _stop_sniffer(self) -> None:
        sniffer, self._sniffer = self._sniffer, None
        if sniffer is not None:
            if self.captures is not None:
                self.captures.detach(sniffer)
            await sniffer.stop()

    # -- the check, labgrid-strategy style ----------------------------------------------------------

    def _move(self, new: RunState) -> None:
        if (self.state, new) not in _TRANSITIONS:
            raise RuntimeError(f"run of rig {self.rig.name!r}: cannot go from {self.state.value} to {new.value}")
        self.state = new

    def _break(self, failure: RigCheckFailed) -> RigCheckFailed:
        self.failure = failure
        self._move(RunState.BROKEN)
        return failure

    def check_rig(self) -> list[CheckOutcome]:
        """The checks that need no radio (the rig's files, its port), run on first call only.

        Returns their outcomes; the first failure leaves the run BROKEN (see :meth:`ensure_rig_ready`).
        """
        if self.state is RunState.UNCHECKED:
            outcomes = self.checker.run()
            if self.checker.first_failure is None:
                self._move(RunState.RIG_READY)
            else:
                failed = self.checker.first_failure
                self._break(RigCheckFailed(f"rig {self.rig.name!r} is not ready: {failed.name}: {failed.detail}"))
            return outcomes
        return list(self.checker.outcomes)

    def ensure_rig_ready(self) -> Rig:
        """The rig, checked; :class:`RigCheckFailed` (the stored one, if it failed before) when it is not ready."""
        self.check_rig()
        if self.failure is not None:
            raise self.failure
        return self.rig

    async def start_hub(self, *, display: Callable[[str], None] | None = None) -> CommsHub:
        """The run's hub, started on the caller's event loop: this is the radio check.

        On first call: the rig's checks, then the hub up (radio reachable, HAN on the rig's
        channel) and every device under test joined -- or known from the run's database. A device
        that joins but fails key establishment is reported in the check line, not as a failure:
        that is the device's defect, which its key-establishment test reports; the rest of the rig
        can still be tested. Anything else that goes wrong stops the run: :class:`RigCheckFailed`
        in one line, stored, and raised again on every later call without touching the radio.
        """
        self.ensure_rig_ready()
        if self.hub is not None:
            return self.hub
        from harness.hub.commshub import CommsHub

        hub: CommsHub | None = None
        try:
            await self._start_sniffer()
            hub = CommsHub(
                self.rig, port=self.port(), settings=self.settings, network=self.network,
                database_path=self.database_path, display=display, key_outcomes=self.key_outcomes,
                register_secret=self.redactor.register, port_diagnosis=self._port_diagnosis(),
            )
            line = await self._bring_up(hub)
        except (HubError, DeviceNotAdmitted, ConfigError, OSError, TimeoutError) as exc:
            if hub is not None:
                await hub.stop()
            await self._stop_sniffer()
            self.hub_check = CheckOutcome(HUB_CHECK_NAME, False, str(exc) or type(exc).__name__)
            raise self._break(RigCheckFailed(f"rig {self.rig.name!r} is not ready: {self.hub_check.name}: "
                                             f"{self.hub_check.detail}")) from exc
        except BaseException:
            if hub is not None:
                await hub.stop()
            await self._stop_sniffer()
            raise
        self.hub_check = CheckOutcome(HUB_CHECK_NAME, True, line)
        self.hub = hub
        self._move(RunState.HUB_READY)
        return hub

    async def _bring_up(self, hub: CommsHub) -> str:
        """Start ``hub`` and admit every device under test; the check's line."""
        try:
            await hub.start()
        except Exception as exc:  # noqa: BLE001 -- any failure to start is "radio not ready"
            raise HubError(f"radio: {type(exc).__name__}: {exc}") from exc
        facts = hub.radio_facts()
        lines = [f"{'emulated ' if self.emulated else ''}EZSP v{facts['ezsp_version']}, stack {facts['ncp_firmware']}, "
                 f"HAN on {facts['han']}"]
        lines.append((await hub.trust_centre_security()).line())
        admitted, failed_cbke = [], []
        for dut in self.rig.devices:
            if await hub.join(dut.name) is not None:
                admitted.append(dut.name)
                continue
            outcome = hub.key_establishment.outcome(dut.name)
            failed_cbke.append(outcome.describe() if outcome is not None else f"{dut.name}: CBKE failed")
        lines.append(f"admitted: {', '.join(admitted) or ('none' if self.rig.devices else 'no devices under test')}")
        if failed_cbke:
            lines.append("joined but failed key establishment, so not admitted: " + "; ".join(failed_cbke))
        return "; ".join(lines)

    async def check_hub(self) -> CheckOutcome:
        """The radio check as ``harness rig check`` runs it: the hub brought up, then stopped again."""
        try:
            await self.start_hub()
        except RigCheckFailed:
            if self.hub_check is None:
                raise  # the rig failed before the radio was tried: nothing for this line to say
        finally:
            await self.stop_hub()
        assert self.hub_check is not None
        return self.hub_check

    async def stop_hub(self) -> None:
        """Stop the run's hub (if up); the rig stays checked, and what was admitted stays in the database."""
        if self.hub is not None:
            hub, self.hub = self.hub, None
            self._move(RunState.RIG_READY)
            await hub.stop()
        await self._stop_sniffer()

    def close(self) -> None:
        """Close the captures, stop the run's emulator (if any), remove its temporary files and release
        its labgrid place (if any).

        The hub must be stopped first.
        """
        if self.captures is not None:
            self.captures.close()
        if self.radio is not None:
            self.radio.stop()
            self.radio = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        if self.rig.radio.place is not None:  # the run held the bench's labgrid place: free it now
            from harness.places import release_lease

            release_lease(self.rig)


__all__ = ["HUB_CHECK_NAME", "HubRun", "RunRedactor", "RunState"]
