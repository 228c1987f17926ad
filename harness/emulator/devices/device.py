"""One emulated HAN device (IHD or PPMID): its link to the network, and its frame dispatcher.

The device's network life is a small state machine (:class:`LinkState`, :data:`LINK_TRANSITIONS`):
powered and outside, joined, rebooting, or gone (left the HAN without a word). What it says on the
air is split by job: ZDO (:mod:`.zdo`), attributes (:mod:`.zcl_store`), OTA (:mod:`.ota_client`),
tenancy reads (:mod:`.tenancy`), and what it does wrong, if anything (:mod:`.behaviours`).

Threading: everything runs on the emulator's event loop. The public controls a test calls from
another thread (:meth:`EmulatedDevice.set_behaviour`, :meth:`EmulatedDevice.reboot`) hop onto the
loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from zigpy.zcl import foundation

from harness.emulator.air import (
    BROADCAST_RX_ON_WHEN_IDLE,
    COORDINATOR_NWK,
    SE_PROFILE,
    WELL_KNOWN_LINK_KEY,
    ZDO_PROFILE,
    AirFrame,
    needs_aps_security,
)
from harness.secret import Secret

from .behaviours import Activation, Conformant, make_behaviour
from .cs09 import Cs09Sender
from .discovery import MATCH_DESC_RSP, ServiceDiscovery
from .events import DeviceEvent, EventLog
from .keep_alive import KEEP_ALIVE, KeepAliveClient
from .key_establishment import KeyEstablishmentClient
from .keys import InstallCodeError, link_key_from_install_code
from .ota_client import OtaClient, ReceivedImage
from .settings import (
    BASIC,
    CLIENT_CLUSTERS,
    DEVICE_MANAGEMENT,
    IDENTIFY,
    KEY_ESTABLISHMENT,
    OTA,
    SERVER_CLUSTERS,
    TIME,
    TUNNELING,
    DeviceSettings,
    DeviceTimings,
)
from .tenancy import TenancyReader
from .time_client import TimeClient
from .tunnel_server import TunnelServer
from .zcl import (
    Direction,
    GeneralCommand,
    Status,
    ZclDecodeError,
    ZclFrame,
    decode,
    decode_ota_from_server,
    default_response,
    general_frame,
    parse_header,
)
from .zcl_store import AttributeStore, build_store, software_build_id
from .zdo import ZdoDecodeError, ZdoServer, device_annce

if TYPE_CHECKING:
    from harness.emulator.han import VirtualHan


class LinkState(enum.Enum):
    OFF = "off"
    OUTSIDE = "outside"  # powered, not on the network; tries to join while permit-joining is open
    JOINED = "joined"
    REBOOTING = "rebooting"
    GONE = "gone"  # left the HAN silently (the leaves_han defect); back only after a reboot


class LinkInput(enum.Enum):
    POWER_ON = "power_on"
    JOINED = "joined"
    LEAVE = "leave"
    REBOOT = "reboot"
    BACK_ON_NETWORK = "back_on_network"
    BACK_OUTSIDE = "back_outside"
    VANISH = "vanish"
    TC_REJOIN = "tc_rejoin"  # rejoined through the trust centre while still on the network


L, LI = LinkState, LinkInput

LINK_TRANSITIONS: dict[tuple[LinkState, LinkInput], LinkState] = {
    (L.OFF, LI.POWER_ON): L.OUTSIDE,
    (L.OUTSIDE, LI.JOINED): L.JOINED,
    (L.OUTSIDE, LI.REBOOT): L.REBOOTING,
    (L.OUTSIDE, LI.VANISH): L.GONE,
    (L.JOINED, LI.REBOOT): L.REBOOTING,
    (L.JOINED, LI.LEAVE): L.OUTSIDE,
    (L.JOINED, LI.VANISH): L.GONE,
    (L.JOINED, LI.TC_REJOIN): L.JOINED,
    (L.REBOOTING, LI.BACK_ON_NETWORK): L.JOINED,
    (L.REBOOTING, LI.BACK_OUTSIDE): L.OUTSIDE,
    (L.REBOOTING, LI.VANISH): L.GONE,
    (L.GONE, LI.REBOOT): L.REBOOTING,
}


class LinkStateError(RuntimeError):
    """A link input the device's state does not allow."""


class EmulatedDevice:
    """An IHD or PPMID on the virtual HAN.

    Build it from :class:`DeviceSettings` (``settings_from_rig`` makes those from a rig entry),
    then ``VirtualHan.add(device)``.
    """

    def __init__(self, settings: DeviceSettings, *, timings: DeviceTimings | None = None) -> None:
        self.settings = settings
        self.timings = timings or DeviceTimings()
        self.events = EventLog(settings.name, time.monotonic)
        self.behaviour: Conformant = make_behaviour(settings.behaviour, device_name=settings.name)
        self.store: AttributeStore = build_store(settings)
        self.zdo = ZdoServer(settings)
        self.services = ServiceDiscovery(self)
        self.link = LinkState.OFF
        self.nwk: int | None = None
        self.running_version = settings.firmware_version
        self._network_key: Secret | None = None
        self._link_key: bytes | None = None
        self._tsn = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._join_task: asyncio.Task[None] | None = None
        self._query_poller: asyncio.Task[None] | None = None
        self._han: VirtualHan | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.rng = random.Random(settings.name)
        self.ota = OtaClient(self)
        self.tenancy = TenancyReader(self)
        self.key_establishment = KeyEstablishmentClient(self)
        self.cs09 = Cs09Sender(self)
        self.time = TimeClient(self)
        self.keep_alive = KeepAliveClient(self)
        self.tunnel = TunnelServer(self)
        try:
            self._link_key = link_key_from_install_code(settings.install_code.reveal_bytes())
        except InstallCodeError as exc:
            # A device with a corrupt code can never join; say so once, without the code itself.
            self.events.record("install_code_unusable", problem=str(exc))

    # -- identity -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def eui64(self) -> bytes:
        return self.settings.eui64

    @property
    def joined(self) -> bool:
        return self.link is LinkState.JOINED

    @property
    def reachable(self) -> bool:
        """Whether a frame sent to this device now would be received."""
        return self.link is LinkState.JOINED

    @property
    def current_file_version(self) -> int:
        """The OTA CurrentFileVersion attribute (what the device *reports*, cf. running_version)."""
        return int(self.store.get(OTA, 0x0002, server=False))

    @property
    def received_images(self) -> list[ReceivedImage]:
        return self.ota.received

    @property
    def coordinator_eui64(self) -> bytes:
        return self._require_han().coordinator.eui64

    def clock(self) -> float:
        return time.monotonic()

    def __repr__(self) -> str:
        return f"<EmulatedDevice {self.name} {self.settings.role} link={self.link.value} nwk={self.nwk!r}>"

    # -- wiring ---------------------------------------------------------------------------------
    def attach(self, han: VirtualHan, *, rng: random.Random) -> None:
        """Called by VirtualHan.add: the device is switched on in the HAN's radio range."""
        self._han = han
        self._loop = han.loop
        self.rng = random.Random(rng.random())
        self._fire(LI.POWER_ON)
        self.behaviour.on_activate(self)

    def _require_han(self) -> VirtualHan:
        if self._han is None:
            raise RuntimeError(f"device {self.name!r} is not on a VirtualHan yet (call han.add(device))")
        return self._han

    def _fire(self, event: LinkInput, **details: Any) -> None:
        try:
            new_state = LINK_TRANSITIONS[(self.link, event)]
        except KeyError:
            raise LinkStateError(f"{self.name}: link state {self.link.value!r} cannot take {event.value!r}") from None
        self.events.record("link_state", old=self.link.value, new=new_state.value, input=event.value, **details)
        self.link = new_state

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """A task owned by the device; an unexpected exception is recorded as an ``error`` event."""
        loop = self._loop or asyncio.get_running_loop()
        task = loop.create_task(coro, name=f"{self.name}:{name}")
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                self.events.record("error", task=name, error=repr(finished.exception()))

        task.add_done_callback(done)
        return task

    def cancel_tasks(self) -> list[asyncio.Task[Any]]:
        """Cancel everything the device is doing (emulator shutdown); returns the tasks to await."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        return tasks

    def next_tsn(self) -> int:
        self._tsn = (self._tsn + 1) & 0xFF
        return self._tsn

    def _on_loop(self, fn: Callable[[], object]) -> None:
        loop = self._loop
        if loop is None:
            fn()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn()
        else:
            loop.call_soon_threadsafe(fn)

    # -- test controls (thread-safe) ------------------------------------------------------------
    def set_behaviour(self, name: str) -> None:
        """Switch to the named behaviour (see BEHAVIOURS). Unknown names raise here, in the caller."""
        behaviour = make_behaviour(name, device_name=self.name)

        def apply() -> None:
            old = self.behaviour.name
            self.behaviour = behaviour
            self.events.record("behaviour_changed", old=old, new=name)
            behaviour.on_activate(self)

        self._on_loop(apply)

    def reboot(self) -> None:
        """Power-cycle: offline for ``timings.reboot_s``, then rejoin (or join again) and resume."""
        self._on_loop(lambda: self.spawn(self._reboot(None), name="reboot"))

    async def restore_firmware(self, version: int | None = None, *, timeout: float = 5.0) -> None:
        """Re-flash to ``version`` (default: the rig's) and be back on the network; run on the HAN's loop.

        What a lab does by hand between two OTA tests: the device runs the baseline firmware, holds
        no partial download or pending image, and answers again if it had left. Awaits a reboot in
        progress first, so an activation cannot land after the restore.
        """
        version = self.settings.firmware_version if version is None else version
        while self.link is LinkState.REBOOTING:
            await self.wait_for("link_state", since=self.events.mark(), timeout=timeout)
        self.ota.restore()
        self.running_version = version
        self.store.set(BASIC, 0x4000, software_build_id(version), server=True)
        self.store.set(BASIC, 0x0001, version & 0xFF, server=True)
        self.store.set(OTA, 0x0002, version, server=False)
        self.events.record("firmware_restored", version=version)
        if self.link is LinkState.GONE:
            mark = self.events.mark()
            self.spawn(self._reboot(None), name="restore-reboot")
            await self.wait_for("rejoined", since=mark, timeout=timeout)

    def current_link_key(self) -> tuple[bytes, str] | None:
        """The link key this device shares with the trust centre now, and where it came from.

        The key from key establishment once CBKE succeeded, before that the install-code key; for
        the air capture (which secures the device's APS frames with it), never for a log.
        """
        if self.key_establishment.link_key is not None:
            return self.key_establishment.link_key.reveal_bytes(), "CBKE"
        if self._link_key is not None:
            return self._link_key, "install code"
        return None

    def decrypts(self, frame: AirFrame) -> bool:
        """Whether an APS-secured frame from the trust centre verifies with the link key held now.

        A real APS layer drops a frame whose MIC does not verify: nothing reaches the application
        and no APS ACK goes back, so the sender's APS retries run out and its stack reports the
        frame undelivered. A trust centre securing with a key the device no longer holds (the
        install-code key after CBKE, say) is not heard. The drop is kept among the device's events.
        """
        if not frame.aps_encrypted or frame.aps_key is None:
            return True
        held = self.current_link_key()
        if held is not None and held[0] == frame.aps_key:
            return True
        self.events.record("aps_undecryptable", cluster=frame.cluster_id,
                           held="none" if held is None else held[1])
        return False

    # -- joining --------------------------------------------------------------------------------
    def can_decrypt_transport_key(self, tc_key: bytes | None) -> bool:
        """Whether the network key sent under ``tc_key`` can be decrypted with this device's link key."""
        if tc_key is None:
            return False
        if self._link_key is not None and tc_key == self._link_key:
            return True
        return tc_key == WELL_KNOWN_LINK_KEY and self.settings.accepts_well_known_key

    def permit_opened(self) -> None:
        if not self.key_establishment.may_join():  # holding off after a failed CBKE
            return
        if self.link is LinkState.OUTSIDE and (self._join_task is None or self._join_task.done()):
            self._join_task = self.spawn(self._join_loop(), name="join")

    async def _join_loop(self) -> None:
        han = self._require_han()
        while han.permit_open and self.link is LinkState.OUTSIDE:
            if han.attempt_join(self):
                return
            await asyncio.sleep(self.timings.join_retry_s)

    def joined_network(self, nwk: int, network_key: bytes, *, rejoin: bool) -> None:
        """The trust centre admitted the device and it decrypted the network key."""
        self.nwk = nwk
        self._network_key = Secret(network_key, origin="transport-key")
        if self.link is LinkState.OUTSIDE:
            self._fire(LI.JOINED, nwk=nwk)
        elif self.link is LinkState.JOINED:
            self._fire(LI.TC_REJOIN, nwk=nwk)
        else:
            self._fire(LI.BACK_ON_NETWORK, nwk=nwk)
        self.events.record("rejoined" if rejoin else "joined", nwk=nwk)
        self.announce()
        self.spawn(self._after_join(rejoin), name="after-join")

    def announce(self) -> None:
        assert self.nwk is not None
        payload = device_annce(self.next_tsn(), self.nwk, self.eui64)
        self.events.record("announced", nwk=self.nwk)
        self._require_han().send_from_device(
            self,
            AirFrame(
                src_nwk=self.nwk,
                dst_nwk=BROADCAST_RX_ON_WHEN_IDLE,
                profile_id=ZDO_PROFILE,
                cluster_id=0x0013,
                src_ep=0,
                dst_ep=0,
                payload=payload,
                broadcast=True,
            ),
        )

    async def _after_join(self, rejoin: bool) -> None:
        await asyncio.sleep(self.timings.after_join_s)
        if not self.joined:
            return
        # Find the CH's services first, as a real device does (Match_Desc_req): asked afresh after
        # a fresh join, kept across a rejoin.
        if not rejoin:
            self.services.forget()
        await self.services.discover(self._services_needed())
        if not self.joined:
            return
        # CBKE with the trust centre next, when the device requires it; it leaves if that fails.
        if not await self.key_establishment.after_join(rejoin) or not self.joined:
            return
        self.time.start()  # registration's time read (reference §3), before the CH's other services
        self.keep_alive.start()
        self.tunnel.flush()  # a CS09 queued while it rebooted goes out once it is back
        self.tenancy.read_now("rejoined" if rejoin else "joined")
        self.tenancy.start_polling()
        self.ota.after_join()
        if self.timings.query_interval_s and (self._query_poller is None or self._query_poller.done()):
            self._query_poller = self.spawn(self._poll_queries(self.timings.query_interval_s), name="query-poll")

    def _services_needed(self) -> list[int]:
        """The clusters whose CH server this device uses: OTA, Key Establishment if it runs CBKE, the GPF."""
        needed = [OTA]
        if self.key_establishment.required:
            needed.append(KEY_ESTABLISHMENT)
        needed.append(DEVICE_MANAGEMENT)
        return needed

    async def _poll_queries(self, period: float) -> None:
        while self.joined:
            await asyncio.sleep(period)
            if self.joined:
                self.ota.query_now("periodic query")

    def _stop_activity(self) -> None:
        self.ota.interrupt()
        self.tenancy.stop()
        self.time.stop()
        self.keep_alive.stop()
        for task in (self._join_task, self._query_poller):
            if task is not None and not task.done() and task is not asyncio.current_task():
                task.cancel()

    # -- leaving, vanishing, rebooting ----------------------------------------------------------
    def vanish(self, reason: str) -> None:
        """Stop answering without a word, as a device that walked off the HAN (leaves_han)."""
        if self.link is LinkState.GONE:
            return
        self._fire(LI.VANISH, reason=reason)
        self.events.record("left_han", reason=reason)
        self._stop_activity()

    def leave_after_failed_key_establishment(self, reason: str) -> None:
        """Give up on a trust centre that refused CBKE or never answered: leave the HAN (it tries
        to join again only after its hold-off, see KeyEstablishmentClient.may_join)."""
        self.events.record("leaving", reason=reason)
        self._leave(False)

    def _leave(self, rejoin: bool) -> None:
        han = self._require_han()
        self._stop_activity()
        nwk = self.nwk
        self._fire(LI.LEAVE, rejoin=rejoin)
        self.events.record("left", nwk=nwk, rejoin=rejoin)
        han.report_left(self, nwk)
        if not rejoin:
            self._network_key = None  # it forgets the network; only a new join lets it back
        if rejoin:
            self.spawn(self._rejoin_after_leave(), name="rejoin")
        elif han.permit_open:
            self.permit_opened()

    async def _rejoin_after_leave(self) -> None:
        """Leave with the rejoin flag: a secure rejoin with the network key it kept (no permit needed)."""
        await asyncio.sleep(self.timings.after_join_s)
        han = self._require_han()
        if self.link is LinkState.OUTSIDE and han.network_up:
            han.rejoin(self)

    def start_activation(self, image: ReceivedImage) -> None:
        """Called by the OTA client when the Upgrade End Response says it is time."""
        self.cs09.activation_started(offered=image.offer.file_version, running=self.running_version)
        self.spawn(self._reboot(image), name="activation")

    async def _reboot(self, image: ReceivedImage | None) -> None:
        had_network = self._network_key is not None and self.link in (LinkState.JOINED, LinkState.GONE)
        if self.link is LinkState.REBOOTING:
            return
        self._stop_activity()
        self._fire(LI.REBOOT, activation=image is not None)
        self.events.record("rebooting", activation=image is not None)
        await asyncio.sleep(self.timings.reboot_s)
        if image is not None:
            self._activate(image)
        self.events.record("rebooted", running_version=self.running_version)
        han = self._require_han()
        if had_network and self.nwk is not None and han.network_up:
            han.rejoin(self)
        else:
            self._fire(LI.BACK_OUTSIDE)
            if han.permit_open:
                self.permit_opened()

    def _activate(self, image: ReceivedImage) -> None:
        previous = self.running_version
        new = image.offer.file_version
        activation = Activation(image.offer, image.verdict, previous)
        if self.behaviour.activation_succeeds(activation):
            self.running_version = new
            self.store.set(BASIC, 0x4000, software_build_id(new), server=True)
            self.store.set(BASIC, 0x0001, new & 0xFF, server=True)
            reported = self.behaviour.reported_file_version(activation)
            self.store.set(OTA, 0x0002, reported, server=False)
            self.events.record("activated", previous_version=previous, running_version=new, reported_version=reported)
        else:
            self.events.record("activation_failed", previous_version=previous, offered_version=new)
        self.ota.activated()
        self.cs09.activated(offered=new, running=self.running_version, previous=previous)

    # -- receiving --------------------------------------------------------------------------------
    def receive(self, frame: AirFrame) -> None:
        """A frame from the coordinator reached the device (called by the air)."""
        if not self.reachable:
            return
        try:
            if frame.profile_id == ZDO_PROFILE and frame.dst_ep == 0:
                self._receive_zdo(frame)
            elif frame.dst_ep in (self.settings.endpoint, 0xFF):
                self._receive_zcl(frame)
            else:
                self.events.record("frame_for_unknown_endpoint", dst_ep=frame.dst_ep, cluster=frame.cluster_id)
        except (ZclDecodeError, ZdoDecodeError) as exc:
            self.events.record("malformed_frame", cluster=frame.cluster_id, error=str(exc))

    def _receive_zdo(self, frame: AirFrame) -> None:
        assert self.nwk is not None
        if frame.cluster_id == MATCH_DESC_RSP:
            try:
                self.services.on_response(frame.payload)
            except ValueError as exc:
                self.events.record("malformed_frame", cluster=frame.cluster_id, error=str(exc))
            return
        self.events.record("zdo_request", cluster=frame.cluster_id)
        reply, leave = self.zdo.handle(frame.cluster_id, frame.payload, nwk=self.nwk, broadcast=frame.broadcast)
        if reply is not None:
            self._send(AirFrame(self.nwk, frame.src_nwk, ZDO_PROFILE, reply.cluster_id, 0, 0, reply.payload))
        if leave is not None:
            self._leave(leave.rejoin)

    def _receive_zcl(self, frame: AirFrame) -> None:
        zcl = parse_header(frame.payload)
        if self._refuses_unsecured(frame, zcl):
            return
        reply = self._dispatch_zcl(frame, zcl)
        if reply is not None and not frame.broadcast:
            self._reply(frame, reply)

    def _refuses_unsecured(self, frame: AirFrame, zcl: ZclFrame) -> bool:
        """A frame on an APS-secured cluster that arrived without APS encryption is not acted on.

        As Silicon Labs' ``emberAfProcessMessage`` (reference §1): a unicast is answered with a
        Default Response FAILURE sent without APS encryption (never to a Default Response); a
        broadcast is dropped silently, except a broadcast Image Notify.
        """
        if frame.aps_encrypted or not needs_aps_security(frame.profile_id, frame.cluster_id):
            return False
        image_notify = (frame.cluster_id == OTA and not zcl.is_general and zcl.command_id == 0x00
                        and zcl.direction == Direction.Server_to_Client)
        if frame.broadcast and image_notify:
            return False
        if self.behaviour.acts_on_unsecured(frame.cluster_id):
            self.events.record("unsecured_frame_accepted", cluster=frame.cluster_id, command_id=zcl.command_id,
                               general=zcl.is_general)
            return False
        self.events.record("unsecured_frame_refused", cluster=frame.cluster_id, command_id=zcl.command_id,
                           general=zcl.is_general, broadcast=frame.broadcast)
        is_default_response = zcl.is_general and zcl.command_id == GeneralCommand.Default_Response
        if not frame.broadcast and not is_default_response:
            self._reply(frame, default_response(zcl, Status.FAILURE), encrypted=False)
        return True

    def _dispatch_zcl(self, frame: AirFrame, zcl: ZclFrame) -> bytes | None:
        cluster = frame.cluster_id
        server_side = zcl.direction == Direction.Client_to_Server
        if zcl.header.frame_control.is_manufacturer_specific:
            status = Status.UNSUP_MANUF_GENERAL_COMMAND if zcl.is_general else Status.UNSUP_MANUF_CLUSTER_COMMAND
            return default_response(zcl, status)
        if cluster == KEY_ESTABLISHMENT and not zcl.is_general and not server_side:
            return self.key_establishment.on_frame(frame)  # the trust centre answering our CBKE
        if cluster == KEEP_ALIVE and zcl.is_general and not server_side:
            self._keep_alive_answer(zcl)
            return None
        if cluster == KEY_ESTABLISHMENT and zcl.is_general and zcl.command_id == GeneralCommand.Read_Attributes_rsp:
            args = decode(foundation.GENERAL_COMMANDS[GeneralCommand.Read_Attributes_rsp].schema, zcl.body,
                          what="Read Attributes Response")
            self.key_establishment.on_suite_response(zcl.header.tsn, list(args.status_records))
            return None
        own = SERVER_CLUSTERS if server_side else CLIENT_CLUSTERS[self.settings.role]
        if cluster not in own:
            return default_response(zcl, Status.UNSUPPORTED_CLUSTER)
        if zcl.is_general:
            return self._general_command(cluster, zcl, server_side=server_side)
        if cluster == OTA and not server_side:
            decoded = decode_ota_from_server(zcl)
            if decoded is None:
                return default_response(zcl, Status.UNSUP_CLUSTER_COMMAND)
            name, args = decoded
            return self.ota.on_frame(zcl, name, args, src_ep=frame.src_ep, broadcast=frame.broadcast)
        if cluster == TUNNELING and server_side:
            return self.tunnel.on_frame(frame, zcl)
        if cluster == IDENTIFY and server_side and zcl.command_id in (0x00, 0x01):
            return None if zcl.default_response_disabled else default_response(zcl, Status.SUCCESS)
        # Key Establishment as a responder and the SE client clusters' commands are not emulated.
        return default_response(zcl, Status.UNSUP_CLUSTER_COMMAND)

    def _keep_alive_answer(self, zcl: ZclFrame) -> None:
        """The trust centre's answer to the keep-alive read (the device has no Keep-Alive cluster of its own)."""
        if zcl.command_id == GeneralCommand.Read_Attributes_rsp:
            args = decode(foundation.GENERAL_COMMANDS[GeneralCommand.Read_Attributes_rsp].schema, zcl.body,
                          what="Read Attributes Response")
            self.keep_alive.on_response(zcl.header.tsn, list(args.status_records))
        elif zcl.command_id == GeneralCommand.Default_Response:
            self.keep_alive.on_error_default_response(zcl.header.tsn)

    def rejoin_through_trust_centre(self, reason: str) -> None:
        """Look for the trust centre again (a TC rejoin), keeping the network key and link key."""
        han = self._require_han()
        self.events.record("tc_rejoin", reason=reason)
        self._stop_activity()
        if self.nwk is not None and han.network_up:
            self.spawn(self._tc_rejoin(), name="tc-rejoin")

    async def _tc_rejoin(self) -> None:
        await asyncio.sleep(self.timings.after_join_s)
        han = self._require_han()
        if self.link is LinkState.JOINED and han.network_up:
            han.rejoin(self)

    def _general_command(self, cluster: int, zcl: ZclFrame, *, server_side: bool) -> bytes | None:
        try:
            command = GeneralCommand(zcl.command_id)
        except ValueError:
            return default_response(zcl, Status.UNSUP_GENERAL_COMMAND)
        definition = foundation.GENERAL_COMMANDS.get(command)
        if definition is None:
            return default_response(zcl, Status.UNSUP_GENERAL_COMMAND)
        side = "server" if server_side else "client"
        if command == GeneralCommand.Read_Attributes:
            args = decode(definition.schema, zcl.body, what="Read Attributes")
            ids = [int(a) for a in args.attribute_ids]
            self.events.record("read_attributes", cluster=cluster, side=side, attributes=ids)
            records = self.store.read(cluster, ids, server=server_side)
            return general_frame(
                zcl.header.tsn, GeneralCommand.Read_Attributes_rsp, {"status_records": records}, direction=zcl.direction.flip()
            )
        if command in (
            GeneralCommand.Write_Attributes,
            GeneralCommand.Write_Attributes_Undivided,
            GeneralCommand.Write_Attributes_No_Response,
        ):
            args = decode(definition.schema, zcl.body, what="Write Attributes")
            statuses = self.store.write(cluster, list(args.attributes), server=server_side)
            self.events.record("write_attributes", cluster=cluster, side=side, attributes=[int(a.attrid) for a in args.attributes])
            if cluster == DEVICE_MANAGEMENT and not server_side:
                self.tenancy.read_now("device management write")
            if command == GeneralCommand.Write_Attributes_No_Response:
                return None
            return general_frame(
                zcl.header.tsn, GeneralCommand.Write_Attributes_rsp, {"status_records": statuses}, direction=zcl.direction.flip()
            )
        if command == GeneralCommand.Read_Attributes_rsp:
            args = decode(definition.schema, zcl.body, what="Read Attributes Response")
            if cluster == DEVICE_MANAGEMENT:
                self.tenancy.on_response(list(args.status_records))
            elif cluster == TIME:
                self.time.on_response(zcl.header.tsn, list(args.status_records))
            return None
        if command == GeneralCommand.Report_Attributes:
            self.events.record("report_received", cluster=cluster)
            if cluster == DEVICE_MANAGEMENT:
                self.tenancy.read_now("device management report")
            return None if zcl.default_response_disabled else default_response(zcl, Status.SUCCESS)
        if command == GeneralCommand.Default_Response:
            args = decode(definition.schema, zcl.body, what="Default Response")
            self.events.record("default_response", cluster=cluster, command_id=int(args.command_id), status=Status(args.status).name)
            return None
        return default_response(zcl, Status.UNSUP_GENERAL_COMMAND)

    # -- sending --------------------------------------------------------------------------------
    def _send(self, frame: AirFrame, *, encrypted: bool | None = None) -> None:
        """Send ``frame``; APS-encrypted when its cluster needs it (``encrypted`` overrides).

        A Smart Energy node's send path sets APS encryption for the listed clusters itself
        (Silicon Labs ``af-common.c``, reference §1); a device whose behaviour says otherwise sends
        its own frames in the clear.
        """
        if encrypted is None:
            encrypted = (needs_aps_security(frame.profile_id, frame.cluster_id) and not frame.broadcast
                         and self.behaviour.aps_encrypts_own_frames())
        held = self.current_link_key() if encrypted else None
        self._require_han().send_from_device(
            self, replace(frame, aps_encrypted=encrypted, aps_key=held[0] if held is not None else None))

    def send_frame(self, frame: AirFrame) -> None:
        """Send a frame the device originates (APS-encrypted as its send path decides)."""
        self._send(frame)

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the device's loop after the current frame has been handled."""
        loop = self._loop or asyncio.get_running_loop()
        loop.call_soon(fn)

    def _reply(self, request: AirFrame, payload: bytes, *, encrypted: bool | None = None) -> None:
        """A response copies the request's encryption (``emberAfSendResponseWithCallback``)."""
        assert self.nwk is not None
        self._send(
            AirFrame(
                src_nwk=self.nwk,
                dst_nwk=request.src_nwk,
                profile_id=request.profile_id,
                cluster_id=request.cluster_id,
                src_ep=self.settings.endpoint,
                dst_ep=request.src_ep,
                payload=payload,
            ),
            encrypted=request.aps_encrypted if encrypted is None else encrypted,
        )

    def send_zcl(self, cluster: int, payload: bytes) -> None:
        """A device-initiated ZCL frame to the CH endpoint serving ``cluster`` (found by Match_Desc)."""
        if not self.joined or self.nwk is None:
            self.events.record("send_skipped", cluster=cluster, reason=f"link {self.link.value}")
            return
        dst_ep = self.services.endpoint(cluster)
        if dst_ep is None:
            self.events.record("send_skipped", cluster=cluster, reason="no CH endpoint found for this cluster")
            return
        self._send(AirFrame(self.nwk, COORDINATOR_NWK, SE_PROFILE, cluster, self.settings.endpoint, dst_ep, payload))

    def send_zdo(self, cluster: int, payload: bytes, *, broadcast: bool = False) -> None:
        """A device-initiated ZDO request to the coordinator, or to every rx-on node (Match_Desc_req)."""
        if not self.joined or self.nwk is None:
            self.events.record("send_skipped", cluster=cluster, reason=f"link {self.link.value}")
            return
        dst = BROADCAST_RX_ON_WHEN_IDLE if broadcast else COORDINATOR_NWK
        self._send(AirFrame(self.nwk, dst, ZDO_PROFILE, cluster, 0, 0, payload, broadcast=broadcast))

    # -- waiting (tests) ------------------------------------------------------------------------
    async def wait_for(
        self, name: str, *, where: Callable[[DeviceEvent], bool] | None = None, since: int = 0, timeout: float | None = 10.0
    ) -> DeviceEvent:
        """Await the first ``name`` event at or after index ``since`` (``device.events.mark()``)."""
        return await self.events.wait_for(name, where=where, since=since, timeout=timeout)

    def read_attribute(self, cluster: int, attr_id: int, *, server: bool) -> Any:
        """The device's own view of an attribute (for assertions; the hub reads over the air)."""
        return self.store.get(cluster, attr_id, server=server)

