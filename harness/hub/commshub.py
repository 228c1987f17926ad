"""The Communications Hub: one zigpy/bellows application playing the CH for one rig.

``CommsHub`` is what tests (through the ``hub`` fixture) and the ``harness`` command drive. It
owns the radio connection, the HAN, the devices under test and, per device, the OTA server, the
GPF attribute server, the alert log and the distribution tracker; it produces evidence records
into :attr:`CommsHub.evidence`.

Typical use::

    async with await harness.hub.start(rig, port=radio.port) as hub:
        await hub.join("ppmid1")
        transfer = await hub.upgrade("ppmid1", "ppmid-next")
        await transfer.wait()
        await transfer.wait_activation()
        result = hub.check_sequence("ppmid1", "ppmid-good-image", transfer)
        assert result.passed, result.report()

Radio loss: when bellows reports the connection lost (an NCP reset, a serial port that went
away) every transfer is told the link is down (its stall timer pauses), the hub reconnects with
bounded retries, restores the same network, and tells the transfers the link is back. The
transfers resume from whatever offset each device asks for next; the gap is in the record.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tenacity
import zigpy.device
import zigpy.exceptions
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

from harness.evidence import AttributeRead, CheckRecord, Outcome, Record, TransferEventKind, eui64_text
from harness.evidence import register_secret as register_with_evidence
from harness.hub.alerts import AlertLog
from harness.hub.cs09_receipt import Cs09Inbox
from harness.hub.device_reads import Wanted, identity_wanted, read_attributes, wanted_from_profile
from harness.hub.errors import HubError
from harness.hub.expectations import DEFAULT_EXPECTATIONS, Expectations, load_expectations
from harness.hub.gpf import (
    COT_DATE_ATTRIBUTE,
    DEFAULT_GPF_FILE,
    DEVICE_MANAGEMENT,
    GpfServer,
    install,
    judge_tenancy_read,
    load_gpf,
    make_cluster,
)
from harness.hub.images import OfferedImage
from harness.hub.joins import RegisterSecret, admit, forget
from harness.hub.key_establishment import (
    KeOutcome,
    KeOutcomeLog,
    KeyEstablishmentServer,
    KeyEstablishmentSettings,
)
from harness.hub.key_establishment import with_rig_timings as ke_with_rig_timings
from harness.hub.ota_server import DeviceOta, Transfer
from harness.hub.ota_session import NotifyType
from harness.hub.radio import (
    OTA_CLUSTER,
    SE_PROFILE,
    TIME_CLUSTER,
    HubApplication,
    NetworkIdentity,
    TrustCentreSecurity,
    send_zcl,
    zigpy_config,
    zigpy_eui64,
)
from harness.hub.se_security import UnsecuredFrameGate, UnsecuredProbe, needs_aps_encryption
from harness.hub.se_services import SeServices, answered_by_the_ncp
from harness.hub.sequence_check import SequenceContext, SequenceResult, check_sequence
from harness.hub.settings import HubSettings, OtaServeSettings, with_rig_timings
from harness.hub.tracking import DistributionTracker
from harness.hub.transfer_checks import check_wait_for_data_honoured
from harness.hub.tunnel import TUNNEL_ROLES, TunnelOutcome, is_request_tunnel_response, keep_gbcs_tunnel
from harness.hub.tunnel_data import TunnelEnds, inbox_for
from harness.profiles import Profile
from harness.rig import DeviceUnderTest, Rig
from harness.secret import Secret
from harness.zcl_se import TUNNELING_CLUSTER

LOGGER = logging.getLogger(__name__)

#: Errors worth another connection attempt (a port re-enumerating, a radio still resetting).
TRANSIENT_CONNECT_ERRORS = (OSError, TimeoutError, ConnectionError, zigpy.exceptions.TransientConnectionError,
                            zigpy.exceptions.ControllerException)


class EvidenceBuffer:
    """Records the hub produced, in order, until the plugin (or a test) takes them."""

    def __init__(self) -> None:
        self._records: list[Record] = []

    def add(self, record: Record) -> None:
        self._records.append(record)

    def drain(self) -> list[Record]:
        records, self._records = self._records, []
        return records

    def peek(self) -> list[Record]:
        return list(self._records)


class _AppListener:
    """zigpy application events the hub reacts to (zigpy calls these by name)."""

    def __init__(self, hub: CommsHub) -> None:
        self._hub = hub

    def connection_lost(self, exc: Exception) -> None:
        self._hub._connection_lost(exc)

    def handle_message(self, device: Any, profile: int, cluster: int, src_ep: int, dst_ep: int, data: bytes) -> None:
        if profile == 0 and cluster == 0x0013:  # ZDO Device_annce: a (re)join
            self._hub._announced(device)


#: Transfer events that record a frame from the device, and from the CH.
DEVICE_OTA_FRAMES = frozenset({TransferEventKind.QUERY, TransferEventKind.BLOCK_REQUEST, TransferEventKind.PAGE_REQUEST,
                               TransferEventKind.UPGRADE_END})
CH_OTA_FRAMES = frozenset({TransferEventKind.NOTIFY, TransferEventKind.QUERY_RESPONSE, TransferEventKind.BLOCK_RESPONSE,
                           TransferEventKind.WAIT_FOR_DATA, TransferEventKind.UPGRADE_END_RESPONSE})


class CommsHub:
    """The CH role for one rig. Create with :func:`start` (or ``CommsHub(...)`` + :meth:`start`)."""

    def __init__(
        self,
        rig: Rig,
        *,
        port: str | None = None,
        settings: HubSettings | None = None,
        clock: Callable[[], float] = time.time,
        display: Callable[[str], None] | None = None,
        expectations: Path | str = DEFAULT_EXPECTATIONS,
        gpf_file: Path | str = DEFAULT_GPF_FILE,
        network: NetworkIdentity | None = None,
        database_path: Path | None = None,
        key_establishment: KeyEstablishmentSettings | None = None,
        key_outcomes: KeOutcomeLog | None = None,
        register_secret: RegisterSecret = register_with_evidence,
        port_diagnosis: Callable[[], str | None] | None = None,
    ) -> None:
        """``network``: the HAN to form or restore (default: from the rig, generated where the rig
        leaves it open). ``database_path``: zigpy's device database (default: the rig's
        ``han.persistence``; None keeps devices in memory only, so a new hub must re-join them).
        ``key_outcomes`` and ``register_secret``: the run's key-establishment outcomes and secret
        redactor (:class:`harness.hub.run.HubRun` passes its own; a hub on its own gets a fresh
        log and the evidence layer's redaction).
        ``port_diagnosis``: says why the port is gone when the radio does not come back (a labgrid
        place whose exporter withdrew its serial radio), for the one line the tests then fail with.
        """
        self.rig = rig
        #: The rig's [hub] timings win over the defaults and over what the caller passed.
        self.settings = with_rig_timings(settings or HubSettings(), rig.hub)
        self._port = port
        self._port_diagnosis = port_diagnosis
        self._clock = clock
        self.evidence = EvidenceBuffer()
        self.alerts = AlertLog(clock)
        self.tracker = DistributionTracker(sink=self.evidence.add, clock=clock, display=display)
        self.expectations: Expectations = load_expectations(expectations)
        self.gpf = GpfServer(load_gpf(gpf_file), sink=self.evidence.add, clock=clock)
        self.network = network or NetworkIdentity.for_rig(rig.han)
        self.database_path = database_path if database_path is not None else rig.han.persistence
        self.app: HubApplication | None = None
        self._ota: dict[str, DeviceOta] = {}
        self._images: dict[str, OfferedImage] = {}
        self._reconnecting: asyncio.Task[None] | None = None
        self._link_up = asyncio.Event()
        self._closing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._collected: set[str] = set()
        self._admitted: set[str] = set()
        #: Announces (rejoins, reboots) from devices already admitted: name -> times; and who waits for one.
        self.reannounced: dict[str, list[float]] = {}
        self._reannounce_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self.reconnects = 0
        #: CBKE (Key Establishment server on the SE endpoint) for devices whose rig entry requires it.
        self.key_establishment = KeyEstablishmentServer(
            rig=rig, app=lambda: self.app, sink=self.evidence.add, se_endpoint=self.settings.se_endpoint,
            settings=ke_with_rig_timings(key_establishment or KeyEstablishmentSettings(), rig.hub),
            clock=clock, outcomes=key_outcomes)
        #: Smart Energy APS security on receive: unencrypted frames on listed clusters, refused and kept.
        self.se_security = UnsecuredFrameGate(name_of=self._sender_name, refuse=self._refuse_unsecured, clock=clock)
        #: The CH's answers to registration reads (KeyEstablishmentSuite, Time, Keep-Alive).
        self.se_services = SeServices(clock=clock, started=clock())
        #: The GBCS tunnel the CH requests after CBKE with a PPMID or HCALCS, per device.
        self.tunnels: dict[str, asyncio.Task[TunnelOutcome]] = {}
        #: The CH's end of each tunnel, and each device's CS09s received through it.
        self.tunnel_ends = TunnelEnds(
            inboxes=self._cs09_inboxes(), alerts=self.alerts, sink=self.evidence.add, clock=clock,
            reply=self._tunnel_reply, reopen=self._reopen_tunnel,
            cs09_timing=lambda name, alert, executed: self._ota_for(name).cs09_received(alert, executed))
        #: Why the radio is gone for good (it did not come back after a loss); None while usable.
        self.radio_gone: str | None = None
        self._register_secret = register_secret
        register_secret(Secret(self.network.network_key))
        for dut in rig.devices:
            register_secret(dut.install_code)

    # ------------------------------------------------------------------ life cycle

    def _port_path(self) -> str:
        if self._port is not None:
            return self._port
        spec = self.rig.radio.port
        if spec is None:
            raise HubError(
                f"{self.rig.path}: radio: the rig's radio is emulated; start the emulator and pass its port"
            )
        from harness.ports import resolve_port

        return resolve_port(spec)

    def _config(self) -> dict[str, Any]:
        radio = self.rig.radio
        config = zigpy_config(
            port=self._port_path(),
            baudrate=radio.baudrate,
            flow_control=radio.flow_control,
            network=self.network,
            settings=self.settings,
            database_path=self.database_path,
            ezsp_config=dict(radio.ezsp_config),
        )
        # zigpy's watchdog would report an NCP reset a second time, from a task the hub cannot
        # stop without touching zigpy internals; bellows already reports it as connection_lost.
        config["watchdog_enabled"] = False
        return config

    def _retrying(self, attempts: int) -> tenacity.AsyncRetrying:
        return tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(attempts),
            wait=tenacity.wait_exponential(multiplier=self.settings.connect_backoff_s, max=5.0),
            retry=tenacity.retry_if_exception_type(TRANSIENT_CONNECT_ERRORS),
            reraise=True,
        )

    async def start(self) -> CommsHub:
        """Open the radio (bounded retries), form or restore the HAN on the rig's channel.

        One application and one database connection for every attempt, closed when the radio
        never answers: zigpy's ``new`` would leave its database thread running on a failed start,
        and that thread keeps the process from exiting.
        """
        config = self._config()
        app = await HubApplication.new(
            config, auto_form=True, start_radio=False, uninitialized_packet_handler=self._uninitialized_packet
        )
        try:
            async for attempt in self._retrying(self.settings.connect_attempts):
                with attempt:
                    await app.startup(auto_form=True)
        except BaseException:
            await app.shutdown(db=True)
            raise
        self.app = app
        self.app.add_listener(_AppListener(self))
        self.app.add_listener(self.key_establishment)
        self.app.client_cluster_factories[DEVICE_MANAGEMENT] = self._gpf_cluster
        self.app.frame_gates[:] = [answered_by_the_ncp, self.se_security, self._serve_se_read, self._tunnel_frame]
        self.app.device_created_hooks.append(self._device_created)
        # Devices restored from the database were created before the hooks existed.
        for device in list(self.app.devices.values()):
            name = self._dut_name_for(device.ieee)
            if name is not None and device.is_initialized:
                self._serve_device(name, device)
        self._link_up.set()
        info = self.app.state.network_info
        if info.channel != self.network.channel:
            raise HubError(
                f"{self.rig.path}: han.channel: the radio formed its network on channel {info.channel}, "
                f"the rig asks for {self.network.channel}"
            )
        return self

    async def trust_centre_security(self) -> TrustCentreSecurity:
        """The NCP's trust-centre security settings now (for the rig check's line and the report)."""
        return await self._require_app().trust_centre_security()

    def radio_facts(self) -> dict[str, Any]:
        """What the report's header says about the radio and the HAN (no secrets)."""
        app = self._require_app()
        node, network = app.state.node_info, app.state.network_info
        ezsp = (network.metadata or {}).get("ezsp", {})
        emulated = self.rig.radio.emulated is not None
        return {
            "radio": ("emulated EZSP radio" if emulated else "EZSP radio") + f" on {self._port_path()}",
            "ezsp_version": ezsp.get("stack_version"),
            "ncp_firmware": node.version,
            "han": f"channel {network.channel}, PAN 0x{int(network.pan_id):04X}",
            "coordinator": str(node.ieee).upper(),
        }

    async def stop(self) -> None:
        """Close every OTA server (recording the transfers still open) and shut the radio down."""
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        for ota in self._ota.values():
            await ota.close("the hub stopped")
        # Let replies already on their way (a GPF answer, say) reach the radio first: a send
        # cancelled half-way leaves bellows waiting for an ACK that the shutdown then fails,
        # which surfaces as an unretrieved task exception after the run.
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.settings.stop_drain_s)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.key_establishment.close()
        if self.app is not None:
            await self.app.shutdown(db=self.database_path is not None)
            self.app = None

    async def __aenter__(self) -> CommsHub:
        if self.app is None:
            await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _require_app(self) -> HubApplication:
        if self.app is None:
            raise HubError("the hub is not started (await hub.start() first)")
        if self.radio_gone is not None:
            # Accepting work now would end in a stall blamed on the device (a false CCS08 0x8F89).
            raise HubError(f"the hub has no radio: {self.radio_gone}")
        return self.app

    # ------------------------------------------------------------------ radio loss

    def _connection_lost(self, exc: Exception) -> None:
        if self._closing or self.radio_gone is not None:
            return
        why = f"{type(exc).__name__}: {exc}"
        LOGGER.warning("radio connection lost (%s); reconnecting", why)
        self._link_up.clear()
        for ota in self._ota.values():
            ota.link_lost(why)
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect(), name="hub-reconnect")

    async def _reconnect(self) -> None:
        """Bring the same network back on the same radio; on failure, end the transfers in flight.

        Bounded twice: by attempts (tenacity) and by ``reconnect_timeout_s`` overall. A radio that
        does not come back ends every open transfer as ABORTED with the reason, so no test waits
        on a transfer that can no longer finish.
        """
        app = self._require_app()
        try:
            await app.disconnect()
        except Exception:  # noqa: BLE001 -- the old connection is already broken
            LOGGER.debug("disconnect after connection loss failed", exc_info=True)
        try:
            async with asyncio.timeout(self.settings.reconnect_timeout_s):
                async for attempt in self._retrying(self.settings.reconnect_attempts):
                    with attempt:
                        await app.startup(auto_form=True)
        except Exception as exc:  # noqa: BLE001 -- reported through every open transfer
            why = f"the radio did not come back after a connection loss: {type(exc).__name__}: {exc}"
            diagnosis = self._port_diagnosis() if self._port_diagnosis is not None else None
            if diagnosis:
                why = f"{why}; {diagnosis}"
            LOGGER.error(why)
            self.radio_gone = why
            for ota in self._ota.values():
                await ota.close(why)
            return
        self.reconnects += 1
        self._link_up.set()
        for ota in self._ota.values():
            ota.link_back()

    async def wait_link_up(self, timeout: float | None = None) -> None:
        """Until the radio is connected (immediately when it is)."""
        await asyncio.wait_for(self._link_up.wait(), timeout if timeout is not None else self.settings.reconnect_timeout_s)

    # ------------------------------------------------------------------ devices

    def _dut(self, name: str) -> DeviceUnderTest:
        try:
            return self.rig.device(name)
        except LookupError:
            known = ", ".join(d.name for d in self.rig.devices)
            raise HubError(f"{self.rig.path}: no device named {name!r} (devices: {known})") from None

    def device(self, name: str) -> zigpy.device.ZigbeeDevice:
        """zigpy's device object for a joined device under test."""
        dut = self._dut(name)
        device = self._require_app().devices.get(zigpy_eui64(dut.eui64))
        if not isinstance(device, zigpy.device.Device) or not device.is_initialized:
            raise HubError(f"device {name} ({eui64_text(dut.eui64)}) has not joined; await hub.join({name!r})")
        return device

    def profile(self, name: str) -> Profile:
        return self.rig.profile_for(self._dut(name))

    @property
    def admitted(self) -> frozenset[str]:
        """Names of the devices under test this hub has admitted (and serves)."""
        return frozenset(self._admitted)

    async def join(self, name: str) -> zigpy.device.ZigbeeDevice | None:
        """Admit ``name`` with its install-code link key and start serving it (OTA, GPF).

        A device whose rig entry says ``cbke_required`` must also complete key establishment; if
        it fails, it has left the HAN: None is returned and the outcome (stage, status, reason) is
        in the evidence and in ``hub.key_establishment.outcome(name)``.
        """
        dut = self._dut(name)
        app = self._require_app()
        self.gpf.note_cause(name, "joined")
        admission = functools.partial(
            admit,
            app,
            name=name,
            eui64=dut.eui64,
            install_code=dut.install_code,
            permit_s=self.settings.permit_duration_s,
            join_timeout_s=self.settings.join_timeout_s,
            interview_timeout_s=self.settings.interview_timeout_s,
            register_secret=self._register_secret,
        )
        try:
            if dut.cbke_required:
                device = await self.key_establishment.admit(name, dut.eui64, admission)
            else:
                device = await admission()
        finally:
            # Close the window on the coordinator once the device is in -- or was not admitted
            # (permitJoining(0) only; the hub never calls permit(), which would re-install the
            # well-known key for anyone).
            await app.permit_ncp(0)
        if device is None:
            return None  # CBKE failed: the device left the HAN (evidence recorded)
        self._serve_device(name, device)
        self._admitted.add(name)
        outcome = self.key_establishment.outcome(name)
        if dut.role in TUNNEL_ROLES and outcome is not None and outcome.established:
            self.tunnels[name] = self._spawn(self._open_tunnel(name, device), f"gbcs-tunnel:{name}")
        return device

    async def establish_again(self, name: str) -> KeOutcome:
        """Make a device run key establishment now: it leaves, is forgotten, and joins afresh.

        What the key-establishment conformance test does when the run did not see the device's
        CBKE (zigpy knew it from the run's database, so it was not asked to join): a ZDO
        Mgmt_Leave without rejoin, then the install-code join again. Works the same on a real
        bench, where the device rejoins when it finds the window open.
        """
        dut = self._dut(name)
        app = self._require_app()
        await forget(app, zigpy_eui64(dut.eui64), leave_timeout_s=self.settings.leave_timeout_s)
        self._admitted.discard(name)
        before = len(self.key_establishment.outcomes)
        self.key_establishment.ask_again(name)
        await self.join(name)
        after = [o for o in self.key_establishment.outcomes[before:] if o.device == name]
        if not after:
            raise HubError(f"{name}: joined again but no key establishment outcome was recorded")
        return after[-1]

    async def _open_tunnel(self, name: str, device: zigpy.device.ZigbeeDevice) -> TunnelOutcome:
        """The CHF's GBCS tunnel request after CBKE, retried as the CHF does (harness.hub.tunnel);
        the outcome is evidence, and the tunnel it opens is held by :attr:`tunnel_ends`."""
        app = self._require_app()
        loop = asyncio.get_running_loop()
        waiting: dict[int, asyncio.Future[bytes]] = {}

        def watch(packet: Any) -> bool:
            for tsn, future in waiting.items():
                if not future.done() and self._sender_name(packet) == name and is_request_tunnel_response(packet, tsn):
                    future.set_result(packet.data.serialize())
                    return True  # the answer to our request: zigpy's Tunneling stub cannot parse it
            return False

        async def wait_response(tsn: int) -> bytes:
            waiting[tsn] = loop.create_future()
            return await waiting[tsn]

        async def send(**kwargs: Any) -> int:
            return await send_zcl(device, src_ep=self.settings.se_endpoint, **kwargs)

        def open_ids() -> list[int]:
            end = self.tunnel_ends.ends.pop(name, None)
            return [end.tunnel_id] if end is not None else []

        app.frame_gates.append(watch)
        try:
            outcome = await keep_gbcs_tunnel(name, device, send=send, wait_response=wait_response,
                                             timeout_s=self.settings.join_timeout_s, open_ids=open_ids,
                                             note=lambda text: self.tunnel_ends.note(name, text))
        finally:
            app.frame_gates.remove(watch)
        self.evidence.add(outcome.evidence())
        self.tunnel_ends.opened(outcome)
        return outcome

    def _cs09_inboxes(self) -> dict[str, Cs09Inbox]:
        """A CS09 inbox per tunnel device, with the public key of its rig signing certificate.

        A certificate that is missing or does not parse is one line of evidence now (the run goes
        on; each CS09 from that device then fails its signature rule with the same reason).
        """
        inboxes: dict[str, Cs09Inbox] = {}
        for dut in self.rig.devices:
            if dut.role not in TUNNEL_ROLES:
                continue
            inboxes[dut.name], problem = inbox_for(dut.name, dut.eui64, dut.signing_certificate)
            if problem:
                self.evidence.add(CheckRecord(
                    name="signing certificate", device=dut.name, rule="the rig names the device's GBCS signing "
                    "certificate (signing_certificate), an X.509 certificate the CS09 is verified with",
                    observed=problem, outcome=Outcome.FAIL, source="GBCS CS09 (signed by the PPMID)",
                    confidence="high"))
        return inboxes

    def _tunnel_frame(self, packet: Any) -> bool:
        """A Tunneling frame from a device under test: the tunnel's business (harness.hub.tunnel_data)."""
        device = self._packet_device(packet)
        name = self._dut_name_for(device.ieee) if device is not None else None
        return name is not None and self.tunnel_ends.frame(name, packet)

    def _tunnel_reply(self, name: str, fields: dict[str, Any]) -> None:
        device = self._packet_device_by_name(name)
        if device is not None:
            self._spawn(self._send_quietly(device, cluster=TUNNELING_CLUSTER, src_ep=self.settings.se_endpoint,
                                           **fields), f"tunnel-reply:{name}")

    def _reopen_tunnel(self, name: str, why: str) -> None:
        """The device says the CH's tunnel is gone (NO_SUCH_TUNNEL, closure): ask for a new one."""
        device = self._packet_device_by_name(name)
        running = self.tunnels.get(name)
        if device is not None and (running is None or running.done()):
            self.tunnels[name] = self._spawn(self._open_tunnel(name, device), f"gbcs-tunnel:{name}")

    def _packet_device_by_name(self, name: str) -> zigpy.device.ZigbeeDevice | None:
        try:
            return self.device(name)
        except HubError:
            return None

    def _ota_for(self, name: str) -> DeviceOta:
        ota = self._ota.get(name)
        if ota is None:
            dut = self._dut(name)
            ota = DeviceOta(
                name=name,
                eui64=eui64_text(dut.eui64),
                alerts=self.alerts,
                tracker=self.tracker,
                sink=self.evidence.add,
                se_endpoint=self.settings.se_endpoint,
                clock=self._clock,
                known_hardware_version=self.profile(name).hardware_version,
                frame_security=lambda kind: self._ota_frame_security(name, kind),
                sends_cs09=dut.role == "PPMID",
            )
            self._ota[name] = ota
        return ota

    def _ota_frame_security(self, name: str, kind: TransferEventKind) -> bool | None:
        """Was the OTA frame an event records APS-encrypted? The device's: as the radio reported its
        latest OTA frame; the CH's (all unicast): as the hub's send rule applies."""
        if kind in DEVICE_OTA_FRAMES:
            return self.se_security.last_encrypted(name, OTA_CLUSTER)
        if kind in CH_OTA_FRAMES:
            return needs_aps_encryption(SE_PROFILE, OTA_CLUSTER)
        return None

    def _device_created(self, device: zigpy.device.ZigbeeDevice) -> None:
        """zigpy just created ``device``: own its OTA requests before zigpy's interview notifies it."""
        name = self._dut_name_for(device.ieee)
        if name is not None:
            self._ota_for(name).bind(device)

    def _serve_device(self, name: str, device: zigpy.device.ZigbeeDevice) -> None:
        self._ota_for(name).bind(device)
        install(device, gpf=self.gpf, device_name=name, reply=self._gpf_reply_for(name, device))

    def _dut_name_for(self, ieee: Any) -> str | None:
        for dut in self.rig.devices:
            if zigpy_eui64(dut.eui64) == ieee:
                return str(dut.name)
        return None

    def _gpf_cluster(self, endpoint: Any) -> Any:
        """The GPF's cluster object for a device under test's Device Management client (else zigpy's)."""
        name = self._dut_name_for(endpoint.device.ieee)
        if name is None:
            return None
        return make_cluster(endpoint, gpf=self.gpf, device_name=name, reply=self._gpf_reply_for(name, endpoint.device))

    def _uninitialized_packet(
        self, device: Any, profile: int, cluster: int, src_ep: int, dst_ep: int, data: bytes
    ) -> None:
        """Serve a tenancy read that arrives before zigpy knows the device's endpoints.

        A device reads the GPF right after joining, while zigpy is still interviewing it and
        would drop the frame (zigpy's uninitialized-packet hook hands it to us instead).
        """
        name = self._dut_name_for(device.ieee)
        if name is None or cluster != DEVICE_MANAGEMENT or profile != SE_PROFILE:
            return
        try:
            hdr, rest = foundation.ZCLHeader.deserialize(data)
            if not (hdr.frame_control.is_general and hdr.command_id == foundation.GeneralCommand.Read_Attributes):
                return
            schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes].schema
            request, _ = schema.deserialize(rest)
        except (ValueError, KeyError) as exc:
            LOGGER.info("%s sent a malformed Device Management frame during its interview: %r", name, exc)
            return
        # zigpy builds the general commands' schemas at run time: their fields are read by name.
        records = self.gpf.read(name, request.as_dict()["attribute_ids"])
        self._gpf_reply_for(name, device)(hdr, src_ep, records)

    def _gpf_reply_for(
        self, name: str, device: zigpy.device.ZigbeeDevice
    ) -> Callable[[foundation.ZCLHeader, int, list[foundation.ReadAttributeRecord]], None]:
        """The GPF's Read Attributes Response to ``device``, sent from the GPF endpoint."""

        async def send(hdr: foundation.ZCLHeader, dst_ep: int, records: list[foundation.ReadAttributeRecord]) -> None:
            schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp].schema
            try:
                await send_zcl(
                    device, cluster=DEVICE_MANAGEMENT, src_ep=self.settings.gpf_endpoint, dst_ep=dst_ep,
                    command_id=foundation.GeneralCommand.Read_Attributes_rsp,
                    payload=schema(status_records=records), tsn=hdr.tsn, general=True,
                )
            except Exception as exc:  # noqa: BLE001 -- the device will ask again; the read is recorded
                LOGGER.info("GPF response to %s not delivered: %r", name, exc)

        def reply(hdr: foundation.ZCLHeader, dst_ep: int, records: list[foundation.ReadAttributeRecord]) -> None:
            self._spawn(send(hdr, dst_ep, records), f"gpf-reply:{name}")

        return reply

    # ------------------------------------------------------------------ Smart Energy security and services

    def _sender_name(self, packet: Any) -> str:
        device = self._packet_device(packet)
        name = self._dut_name_for(device.ieee) if device is not None else None
        return name or f"0x{int(packet.src.address):04X}"

    def _packet_device(self, packet: Any) -> zigpy.device.ZigbeeDevice | None:
        app = self._require_app()
        try:
            device: zigpy.device.ZigbeeDevice = app.get_device(nwk=packet.src.address)
        except KeyError:
            return None
        return device

    def _refuse_unsecured(self, packet: Any, hdr: foundation.ZCLHeader) -> None:
        """Answer an unencrypted unicast on a listed cluster as an SE node does: Default Response
        FAILURE, itself unencrypted, and nothing else (the frame is not acted on)."""
        device = self._packet_device(packet)
        if device is None:
            return
        schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Default_Response].schema
        self._spawn(self._send_quietly(
            device, cluster=packet.cluster_id, src_ep=packet.dst_ep, dst_ep=packet.src_ep,
            command_id=foundation.GeneralCommand.Default_Response,
            payload=schema(command_id=hdr.command_id, status=foundation.Status.FAILURE), tsn=hdr.tsn, general=True,
            direction=hdr.frame_control.direction.flip(), aps_encryption=False,
        ), f"refuse-unsecured:{device.nwk}")

    def _serve_se_read(self, packet: Any) -> bool:
        """A device's Read Attributes of the CH's KeyEstablishmentSuite, Time or Keep-Alive server.

        Time reads are answered on whichever CH endpoint they reach: zigpy's own Time server (on
        every endpoint a device's Time client talks to) reports the host clock without the
        Synchronized bit or LastSetTime, which would contradict the CH's Time server.
        """
        if packet.profile_id != SE_PROFILE or packet.cluster_id not in SeServices.CLUSTERS:
            return False
        if packet.cluster_id != TIME_CLUSTER and packet.dst_ep != self.settings.se_endpoint:
            return False
        try:
            hdr, rest = foundation.ZCLHeader.deserialize(packet.data.serialize())
            if not (hdr.frame_control.is_general and hdr.command_id == foundation.GeneralCommand.Read_Attributes
                    and hdr.direction == foundation.Direction.Client_to_Server):
                return False
            schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes].schema
            request, _ = schema.deserialize(rest)
        except (ValueError, KeyError):
            return False
        device = self._packet_device(packet)
        if device is None:
            return True
        name = self._sender_name(packet)
        encrypted = needs_aps_encryption(packet.profile_id, packet.cluster_id)
        records = self.se_services.read(name, packet.cluster_id, [int(a) for a in request.as_dict()["attribute_ids"]],
                                        encrypted=encrypted)
        rsp = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp].schema
        self._spawn(self._send_quietly(
            device, cluster=packet.cluster_id, src_ep=packet.dst_ep, dst_ep=packet.src_ep,
            command_id=foundation.GeneralCommand.Read_Attributes_rsp, payload=rsp(status_records=records),
            tsn=hdr.tsn, general=True,
        ), f"se-read:{name}")
        return True

    async def _send_quietly(self, device: zigpy.device.ZigbeeDevice, **kwargs: Any) -> None:
        try:
            await send_zcl(device, **kwargs)
        except Exception as exc:  # noqa: BLE001 -- the device asks again; what it asked is recorded
            LOGGER.info("answer to 0x%04X on cluster 0x%04X not delivered: %r", device.nwk, kwargs["cluster"], exc)

    async def wait_time_taken_from_ch(self, name: str, timeout: float) -> CheckRecord:
        """Whether the device reads the CH's Time and TimeStatus (this run, or within ``timeout``), as evidence."""
        took = await self.se_services.wait_time_read(name, timeout)
        observed = ("it read the CH's Time and TimeStatus (Master|Synchronized)" if took else
                    f"it never read the CH's Time server (waited {timeout:g} s)")
        return CheckRecord(
            name="time from the CH", device=name,
            rule="after registration the device reads Time, TimeStatus, LastSetTime and ValidUntilTime from the "
                 "CH's Time server and takes its time from it",
            observed=observed, outcome=Outcome.PASS if took else Outcome.FAIL,
            source="Silicon Labs smart-energy-registration.c (reference/real-device-behaviour.md §3 step 6)",
            confidence="medium",
        )

    async def wait_reannounce(self, name: str, *, since: int, timeout: float) -> bool:
        """True once the admitted device has announced itself again (a rejoin or a reboot) more
        than ``since`` times in this run; False after ``timeout``."""
        if len(self.reannounced.get(name, [])) > since:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reannounce_waiters.setdefault(name, []).append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return False
        return True

    async def wait_keep_alive(self, name: str, *, within_s: float, then_watch_s: float) -> CheckRecord:
        """Whether the device checks its link with the CH's Keep-Alive server and keeps it, as evidence.

        A device running Silicon Labs' trust-center-keepalive plugin reads Base and Jitter,
        APS-encrypted, from the CH's Keep-Alive server; while the CH answers it stays on the
        network, and after three failures in a row it rejoins through the trust centre
        (reference/real-device-behaviour.md §5). So: the first read within ``within_s`` (this run),
        answered, and no rejoin announce from the device in the ``then_watch_s`` that follow.
        """
        read = await self.se_services.wait_keep_alive_read(name, within_s)
        rejoined = False
        if read is not None and read.encrypted:
            rejoined = await self.wait_reannounce(name, since=len(self.reannounced.get(name, [])),
                                                  timeout=then_watch_s)
        if read is None:
            observed = f"it never read the CH's Keep-Alive server (waited {within_s:g} s)"
        elif not read.encrypted:
            observed = "it read the Keep-Alive server without APS encryption"
        elif rejoined:
            observed = f"it read Base and Jitter APS-encrypted, then rejoined within {then_watch_s:g} s"
        else:
            observed = (f"it read Base and Jitter APS-encrypted and kept its link (no rejoin in the "
                        f"following {then_watch_s:g} s)")
        passed = read is not None and read.encrypted and not rejoined
        return CheckRecord(
            name="trust-centre keep-alive", device=name,
            rule="the device reads the CH's Keep-Alive server (Base, Jitter) APS-encrypted and, answered, keeps "
                 "its link; three failures in a row make it rejoin through the trust centre",
            observed=observed, outcome=Outcome.PASS if passed else Outcome.FAIL,
            source="Silicon Labs trust-center-keepalive.c (reference/real-device-behaviour.md §5)",
            confidence="medium",
        )

    async def probe_unencrypted_ota_command(self, name: str, *, window_s: float) -> UnsecuredProbe:
        """Send the device an Image Notify WITHOUT APS encryption and watch ``window_s`` for what it does.

        The probe cannot harm a real device: a unicast Image Notify (QueryJitter 100) only ever makes
        a client ask for an image, and the CH has none on offer outside a transfer. A conformant SE
        device does not act on it (no Query Next Image) and answers Default Response FAILURE
        (reference/real-device-behaviour.md §1).
        """
        device = self.device(name)
        dst_ep = next((ep_id for ep_id, ep in device.endpoints.items() if ep_id and OTA_CLUSTER in ep.out_clusters), None)
        if dst_ep is None:
            raise HubError(f"device {name} declares no OTA client endpoint to probe")
        since = self._clock()
        queried: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def watch(packet: Any) -> bool:
            if packet.cluster_id != OTA_CLUSTER or queried.done() or self._sender_name(packet) != name:
                return False
            try:
                hdr, _ = foundation.ZCLHeader.deserialize(packet.data.serialize())
            except (ValueError, KeyError):
                return False
            if (hdr.frame_control.is_cluster and hdr.command_id == Ota.ServerCommandDefs.query_next_image.id
                    and hdr.direction == foundation.Direction.Client_to_Server):
                queried.set_result(None)
            return False  # only watching: the OTA server answers the query as it would any other

        app = self._require_app()
        app.frame_gates.insert(0, watch)
        try:
            notify = Ota.ClientCommandDefs.image_notify.schema(
                payload_type=Ota.ImageNotifyCommand.PayloadType.QueryJitter, query_jitter=100)
            tsn = await send_zcl(device, cluster=OTA_CLUSTER, src_ep=self.settings.se_endpoint, dst_ep=dst_ep,
                                 command_id=Ota.ClientCommandDefs.image_notify.id, payload=notify,
                                 aps_encryption=False)
            try:
                await asyncio.wait_for(asyncio.shield(queried), window_s)
            except TimeoutError:
                pass
        finally:
            app.frame_gates.remove(watch)
        answered = [f for f in self.se_security.refusals_by(name, since) if f.tsn == tsn]
        return UnsecuredProbe(device=name, acted_on=queried.done(), refused_with_failure=bool(answered),
                              window_s=window_s)

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        """A background task the hub cancels on stop (nothing may outlive the radio)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _announced(self, device: Any) -> None:
        name = self._dut_name_for(device.ieee)
        if name is None or name not in self._admitted:
            return  # a first join: join() says so itself
        self.gpf.note_cause(name, "rejoined (announce)")
        self.reannounced.setdefault(name, []).append(self._clock())
        for waiter in self._reannounce_waiters.pop(name, []):
            if not waiter.done():
                waiter.set_result(None)
        self._ota_for(name).device_announced()

    # ------------------------------------------------------------------ images and OTA

    def image(self, name: str) -> OfferedImage:
        """A rig image by name (opened once; supplier signature verified with the rig's key)."""
        if name not in self._images:
            assignment = next((i for i in self.rig.images if i.name == name), None)
            if assignment is None:
                known = ", ".join(i.name for i in self.rig.images) or "none"
                raise HubError(f"{self.rig.path}: no image named {name!r} (images: {known})")
            self._images[name] = OfferedImage.from_file(
                name, assignment.file, verification_key=self.rig.supplier_key
            )
        return self._images[name]

    def serve_settings(self, device: str, **overrides: Any) -> OtaServeSettings:
        """The OTA server settings for ``device``: its profile's ``[ota]``, the rig's ``[hub] ota_stall_s``,
        then ``overrides``."""
        stall = self.rig.hub.ota_stall_s
        if stall is not None:
            overrides = {"stall_timeout_s": stall, **overrides}
        return OtaServeSettings.from_profile(self.profile(device), **overrides)

    def serve(
        self, device: str, image: OfferedImage | str, *, previous_version: int | None = None, **overrides: Any
    ) -> Transfer:
        """Hold ``image`` for ``device`` without notifying it (it will find it when it queries).

        ``previous_version``: the firmware the device runs before the upgrade, for the expected
        CS09 facts of a failed activation; default: what its last Query Next Image said.
        """
        self.device(device)  # joined?
        ota = self._ota_for(device)
        offered = self.image(image) if isinstance(image, str) else image
        if previous_version is None:
            previous_version = ota.last_reported_version
        return ota.serve(offered, self.serve_settings(device, **overrides), previous_version=previous_version)

    async def upgrade(
        self,
        device: str,
        image: OfferedImage | str,
        *,
        notify: NotifyType | int = NotifyType.QueryJitter_ManufacturerCode_ImageType_NewFileVersion,
        **overrides: Any,
    ) -> Transfer:
        """Offer ``image`` to ``device`` and send Image Notify. Await ``transfer.wait()`` for the end.

        ``overrides`` are :class:`OtaServeSettings` fields (``max_block_size``, ``wait_for_data``,
        ``upgrade_time``, ``serve_unverified``, ``allow_downgrade``...).
        """
        previous = await self.current_version(device)
        transfer = self.serve(device, image, previous_version=previous, **overrides)
        if not transfer.finished.done():
            self._ota_for(device).notify(NotifyType(notify))
        return transfer

    async def current_version(self, device: str) -> int | None:
        """The device's OTA client CurrentFileVersion, read now (None if it does not answer)."""
        (read,) = await read_attributes(
            self.device(device), device, [Wanted(0x0019, 0x0002, "CurrentFileVersion")], clock=self._clock
        )
        return int(read.value) if isinstance(read.value, int) else None

    def activate(self, device: str) -> None:
        """The activation command for a device that was told to wait (upgrade time 0xFFFFFFFF)."""
        self.device(device)
        self._ota_for(device).activate()

    def transfers(self, device: str | None = None) -> list[Transfer]:
        out: list[Transfer] = []
        for name, ota in self._ota.items():
            if device is None or name == device:
                out.extend(ota.transfers)
        return out

    # ------------------------------------------------------------------ alerts

    def check_sequence(self, device: str, sequence: str, transfer: Transfer | None = None) -> SequenceResult:
        """Check the alerts about ``device`` since ``transfer`` began against a named sequence.

        The verdict is also recorded as evidence (a CheckRecord with the readable difference).
        """
        dut = self._dut(device)
        transfer = transfer or (self.transfers(device)[-1] if self.transfers(device) else None)
        image = transfer.image if transfer else None
        context = SequenceContext(
            device=device,
            device_eui64=eui64_text(dut.eui64),
            image_version=image.version if image else None,
            previous_version=transfer.previous_version if transfer else None,
            started=transfer.session.started if transfer else 0.0,
        )
        transfers = [t.record() for t in self.transfers(device)]
        result = check_sequence(self.expectations[sequence], self.alerts.records, context, transfers=transfers)
        self.evidence.add(result.record())
        return result

    def check_wait_for_data(self, transfer: Transfer) -> CheckRecord:
        """Did the device wait as told after each WAIT_FOR_DATA? (recorded as evidence)."""
        check = check_wait_for_data_honoured(transfer.record())
        self.evidence.add(check)
        return check

    # ------------------------------------------------------------------ GPF (SECMP0056)

    async def change_of_tenancy(self, when: datetime | None = None, *, devices: Iterable[str] | None = None) -> float:
        """A CoT event: change the CoT date and report it to the devices so they read again.

        Returns the time of the event; await ``hub.gpf.wait_for_read(device, after=t)`` for the
        device's reaction.
        """
        when = when or datetime.now(UTC)
        changed = self.gpf.change_of_tenancy(when)
        t = self._clock()
        payload = self.gpf.report_payload([COT_DATE_ATTRIBUTE])
        for name in devices if devices is not None else sorted(self._admitted):
            device = self.device(name)
            self.gpf.note_cause(name, f"CoT report (0x{COT_DATE_ATTRIBUTE:04X} = {changed.shown()})")
            dst_ep = next(
                (ep_id for ep_id, ep in device.endpoints.items() if ep_id and DEVICE_MANAGEMENT in ep.out_clusters),
                None,
            )
            if dst_ep is None:
                raise HubError(f"device {name} declares no Device Management client endpoint to report to")
            await send_zcl(
                device, cluster=DEVICE_MANAGEMENT, src_ep=self.settings.gpf_endpoint, dst_ep=dst_ep,
                command_id=foundation.GeneralCommand.Report_Attributes, payload=payload, general=True,
            )
        return t

    async def expect_tenancy_read(
        self, device: str, *, after: float, trigger: str, within_s: float | None = None
    ) -> CheckRecord:
        """Wait for ``device`` to read the GPF's tenancy attributes (SECMP0056) and judge the read.

        ``after``: the time of the event that should prompt the read (a join, ``change_of_tenancy``).
        The window and the attribute list come from the profile's ``[tenancy]`` unless ``within_s``
        shortens the window. The verdict is recorded as evidence.
        """
        tenancy = self.profile(device).tenancy
        if tenancy is None:
            raise HubError(f"device {device}: its profile has no [tenancy] expectations to check")
        window = tenancy.read_within_s if within_s is None else within_s
        waiting = self.gpf.wait_for_read(device, after=after)
        try:
            read = await asyncio.wait_for(waiting, window)
        except TimeoutError:
            read = None
        check = judge_tenancy_read(
            read, device=device, expected=tenancy.attributes, within_s=window, after=trigger,
            source=tenancy.source, confidence=tenancy.confidence,
        )
        self.evidence.add(check)
        return check

    # ------------------------------------------------------------------ reading devices

    async def read_device(self, name: str) -> list[AttributeRead]:
        """Identity, OTA client attributes and every profile attribute, judged by the profile."""
        device = self.device(name)
        profile_wanted = wanted_from_profile(self.profile(name))
        declared = {(w.cluster, w.attribute) for w in profile_wanted}
        wanted = profile_wanted + [w for w in identity_wanted() if (w.cluster, w.attribute) not in declared]
        records = await read_attributes(device, name, wanted, clock=self._clock)
        for record in records:
            self.evidence.add(record)
        return records

    # ------------------------------------------------------------------ evidence

    def collect_evidence(self) -> list[Record]:
        """Everything recorded since the last call, plus the latest snapshot of every transfer
        still running or not yet collected (the plugin calls this at each test's teardown).

        A transfer's snapshots share its ``transfer_id``, so the evidence log keeps the newest.
        """
        records = self.evidence.drain()
        for transfer in self.transfers():
            # A snapshot holds every event of its transfer: make none for the transfers already
            # collected, which every later test's collection would otherwise rebuild and discard.
            if transfer.session.transfer_id in self._collected:
                continue
            record = transfer.record()
            records.append(record)
            # Done with it once it ended and nothing more is coming: its activation was observed (or
            # timed out), it did not transfer, or the device was told to wait for an activation
            # command the test may never send -- otherwise every later test would get it again.
            waiting = transfer.session.settings.upgrade_time == "wait"
            if transfer.finished.done() and (
                transfer.activation.done() or record.outcome.value != "transferred" or waiting
            ):
                self._collected.add(record.transfer_id)
        return records


async def start(rig: Rig, **kwargs: Any) -> CommsHub:
    """Start a :class:`CommsHub` for ``rig``: the one entry point for the fixture and the CLI."""
    hub = CommsHub(rig, **kwargs)
    await hub.start()
    return hub
