"""The CH's OTA server at run time: zigpy in, :mod:`ota_session` decides, zigpy out.

For each device the hub serves, :class:`DeviceOta` owns the device's OTA requests through
zigpy's supported hooks:

* one request listener per OTA server command on *that device*
  (``app.register_callback_listener(src=device, filters=[Ota.ServerCommandDefs.x.schema()])``),
  called synchronously in arrival order, so the session sees requests in the order the radio
  delivered them;
* ``device.ota_in_progress = True`` for as long as the hub serves the device, which is the flag
  zigpy's own Ota cluster checks before answering Query Next Image with NO_IMAGE_AVAILABLE and
  Image Block with ABORT. Without it the device would get two contradictory answers.

The per-block requests (Image Block, Image Page) and the SUCCESS Image Block Responses -- hundreds
per transfer -- take a shorter road when zigpy would do nothing with them but hand them to these
listeners: the hub application gives the frame to :meth:`DeviceOta._direct_frame` after zigpy's
own bookkeeping (``HubApplication.register_direct_handler`` says when), which reads it with
:mod:`harness.ota.cluster_frames`' field lists, and the response goes out as bytes built by the
same module, through the same ``device.request`` with the same TSN and APS security. The session
sees the same fields either way; every other frame, and any request the field lists do not read,
goes through zigpy as before.

Responses leave in order through one sender task per device (page responses keep their
spacing). The stall timer is a loop timer that every step re-arms or disarms; when it fires it
is one more input to the session. After a successful transfer the server watches for the
device's activation (a re-announce followed by a read of the OTA client's CurrentFileVersion,
or a Query Next Image carrying the new version) and records what the device runs, with how it
was observed, as a labelled check -- not as an alert. For a device that sends its own CS09 (a
PPMID, over the GBCS tunnel) the activation ends when that CS09 has arrived too; it is the alert
the sequence check judges.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import zigpy.device
from zigpy.application import ControllerApplication
from zigpy.zcl import ClusterType, foundation
from zigpy.zcl.clusters.general import ImageBlockCommand, ImagePageCommand, Ota, QueryNextImageCommand

from harness.evidence import (
    AlertRecord,
    CheckRecord,
    Outcome,
    TransferEvent,
    TransferEventKind,
    TransferOutcome,
    TransferRecord,
)
from harness.hub.alerts import AlertLog, derive_ccs08, derive_cs09
from harness.hub.cs09_receipt import CLOCK_TOLERANCE_S
from harness.hub.images import OfferedImage
from harness.hub.ota_session import NotifyType, OtaSession, Response, SessionState, Step
from harness.hub.radio import OTA_CLUSTER, HubApplication, send_zcl, send_zcl_frame
from harness.hub.settings import OtaServeSettings
from harness.hub.tracking import DistributionTracker, Stage
from harness.ota.cluster_frames import BlockRequest, PageRequest, decode_request, encode_block_response

LOGGER = logging.getLogger(__name__)

Status = foundation.Status



_Schema = TypeVar("_Schema", bound=foundation.CommandSchema)


def _listen(
    app: ControllerApplication,
    device: zigpy.device.Device,
    definition: foundation.ZCLCommandDef,
    schema: type[_Schema],
    handler: Callable[[foundation.ZCLHeader, _Schema], None],
) -> Callable[[], None]:
    """Route ``device``'s ``definition`` requests to ``handler``, typed as the schema zigpy decodes them to.

    zigpy's listener filter admits only that command, so the isinstance check is the filter's
    promise made visible to the type checker, not a second filter.
    """

    def callback(hdr: foundation.ZCLHeader, command: foundation.CommandSchema) -> None:
        if isinstance(command, schema):
            handler(hdr, command)
        else:
            LOGGER.warning("OTA: %s arrived as %s, not %s: ignored", definition.name, type(command).__name__,
                           schema.__name__)

    return app.register_callback_listener(src=device, filters=[definition.schema()], callback=callback)


class Transfer:
    """A handle on one image offered to one device: await its end, its activation, its record."""

    def __init__(self, ota: DeviceOta, session: OtaSession) -> None:
        loop = asyncio.get_running_loop()
        self._ota = ota
        self.session = session
        self.finished: asyncio.Future[TransferOutcome] = loop.create_future()
        self.activation: asyncio.Future[AlertRecord | None] = loop.create_future()
        self.ccs08: AlertRecord | None = None
        #: The device's own CS09 (received over the GBCS tunnel), once it has arrived.
        self.cs09: AlertRecord | None = None
        #: What the device runs after activation, as the CH saw it (re-announce + read, or a query).
        self.running_after_activation: AlertRecord | None = None
        self.previous_version: int | None = None
        self._offset_waiters: list[tuple[int, asyncio.Future[int]]] = []
        self._event_waiters: list[tuple[Callable[[TransferEvent], bool], asyncio.Future[TransferEvent]]] = []

    @property
    def device(self) -> str:
        return self._ota.name

    @property
    def image(self) -> OfferedImage | None:
        return self.session.image

    @property
    def outcome(self) -> TransferOutcome:
        return self.session.outcome

    def record(self) -> TransferRecord:
        return self.session.record()

    def reached(self, offset: int) -> asyncio.Future[int]:
        """A future resolved once the CH has sent the image up to ``offset`` (or the transfer ends).

        For tests that act part-way through a transfer (reset the NCP at a third, ...).
        """
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        high = self.session.progress.high_water
        if high >= offset or self.finished.done():
            future.set_result(high)
        else:
            self._offset_waiters.append((offset, future))
        return future

    def next_event(self, wanted: Callable[[TransferEvent], bool]) -> asyncio.Future[TransferEvent]:
        """A future resolved by the next timeline event ``wanted`` accepts (from now on).

        Registered before it is awaited, so a test can arm it, act, then await without missing the
        event -- e.g. the device's repeated Upgrade End Request after it was told to wait.
        """
        future: asyncio.Future[TransferEvent] = asyncio.get_running_loop().create_future()
        self._event_waiters.append((wanted, future))
        return future

    def _saw(self, event: TransferEvent) -> None:
        for wanted, future in self._event_waiters:
            if not future.done() and wanted(event):
                future.set_result(event)
        self._event_waiters = [(w, f) for w, f in self._event_waiters if not f.done()]

    def _progressed(self, high_water: int, *, ended: bool = False) -> None:
        for offset, future in self._offset_waiters:
            if (ended or high_water >= offset) and not future.done():
                future.set_result(high_water)
        self._offset_waiters = [(o, f) for o, f in self._offset_waiters if not f.done()]

    async def wait(self) -> TransferOutcome:
        """Until the transfer ends. Always ends: the session's stall timer sees to that."""
        return await asyncio.shield(self.finished)

    async def wait_activation(self) -> AlertRecord | None:
        """The activation's alert: the device's own CS09 when it sends one (else what the CH saw it
        run); None when that did not arrive within the activation timeout."""
        return await asyncio.shield(self.activation)


class DeviceOta:
    """OTA server for one device; see the module docstring."""

    def __init__(
        self,
        *,
        name: str,
        eui64: str,
        alerts: AlertLog,
        tracker: DistributionTracker,
        sink: Callable[[Any], None],
        se_endpoint: int,
        clock: Callable[[], float] = time.time,
        known_hardware_version: int | None = None,
        frame_security: Callable[[TransferEventKind], bool | None] | None = None,
        sends_cs09: bool = False,
    ) -> None:
        self.name = name
        #: Whether the device reports its activation with its own CS09 (a PPMID).
        self.sends_cs09 = sends_cs09
        self._reannounced = False
        self._activation_ordered: float | None = None
        self._frame_security = frame_security
        self.eui64 = eui64
        self.alerts = alerts
        self.tracker = tracker
        self._sink = sink
        self._se_endpoint = se_endpoint
        self._clock = clock
        self.known_hardware_version = known_hardware_version
        self.device: zigpy.device.ZigbeeDevice | None = None
        self._cancel_listeners: list[Callable[[], None]] = []
        self._serial = itertools.count(1)
        self.session = self._idle_session()
        self.transfer: Transfer | None = None
        self.transfers: list[Transfer] = []
        #: The current file version the device's latest Query Next Image reported.
        self.last_reported_version: int | None = None
        self._outbox: asyncio.Queue[tuple[OtaSession, Response]] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        self._stall: asyncio.TimerHandle | None = None
        self._activation_timer: asyncio.TimerHandle | None = None
        self._activation_read: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ binding to zigpy

    def bind(self, device: zigpy.device.ZigbeeDevice) -> None:
        """Own ``device``'s OTA requests (again, after a rejoin created a new device object)."""
        if self.device is device and self._cancel_listeners:
            return
        self.unbind()
        self.device = device
        app = device.application
        commands = Ota.ServerCommandDefs
        others = app.request_listener_ids(device) if isinstance(app, HubApplication) else frozenset()
        self._cancel_listeners += [
            _listen(app, device, commands.query_next_image, QueryNextImageCommand, self._on_query),
            _listen(app, device, commands.image_block, ImageBlockCommand, self._on_block),
            _listen(app, device, commands.image_page, ImagePageCommand, self._on_page),
            # Upgrade End's schema is built by zigpy at run time from a field list: no class to name.
            _listen(app, device, commands.upgrade_end, foundation.CommandSchema, self._on_upgrade_end),
        ]
        if isinstance(app, HubApplication):
            self._cancel_listeners.append(app.register_direct_handler(
                device, OTA_CLUSTER, self._direct_frame, schemas=(ImageBlockCommand, ImagePageCommand),
                own_listeners=app.request_listener_ids(device) - others))
        device.ota_in_progress = True
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send_loop(), name=f"ota-sender:{self.name}")

    def unbind(self) -> None:
        for cancel in self._cancel_listeners:
            cancel()
        self._cancel_listeners.clear()
        if self.device is not None:
            self.device.ota_in_progress = False

    async def close(self, reason: str) -> None:
        """Stop serving: cancel the session, timers and the sender; give zigpy its flag back."""
        if self.session.state is not SessionState.IDLE:
            self._apply(self.session.cancel(reason))
        self._disarm()
        self._end_activation_watch(None, f"{reason} before the activation was observed")
        self.unbind()
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        if self._activation_read is not None:
            self._activation_read.cancel()

    def _client_endpoint(self) -> int:
        assert self.device is not None
        for endpoint_id, endpoint in self.device.endpoints.items():
            if endpoint_id and OTA_CLUSTER in getattr(endpoint, "out_clusters", {}):
                return endpoint_id
        raise LookupError(f"{self.name}: the device declares no OTA client cluster (0x0019) on any endpoint")

    # ------------------------------------------------------------------ serving

    def _idle_session(self) -> OtaSession:
        return OtaSession(
            device=self.name,
            device_eui64=self.eui64,
            settings=OtaServeSettings(),
            transfer_id=f"{self.name}#idle{next(self._serial)}",
            clock=self._clock,
            known_hardware_version=self.known_hardware_version,
            frame_security=self._frame_security,
        )

    def serve(self, image: OfferedImage, settings: OtaServeSettings, *, previous_version: int | None = None) -> Transfer:
        """Hold ``image`` for this device (any earlier transfer is stopped and kept in the record)."""
        if self.session.state is not SessionState.IDLE:
            self._apply(self.session.cancel(f"superseded by image {image.name}"))
        self._end_activation_watch(None, f"superseded by image {image.name} before the activation was observed")
        session = OtaSession(
            device=self.name,
            device_eui64=self.eui64,
            settings=settings,
            transfer_id=f"{self.name}#{next(self._serial)}:{image.name}",
            clock=self._clock,
            known_hardware_version=self.known_hardware_version,
            frame_security=self._frame_security,
        )
        self.session = session
        transfer = Transfer(self, session)
        transfer.previous_version = previous_version
        self.transfer = transfer
        self.transfers.append(transfer)
        self._sink(image.record())
        self._apply(session.offer(image))
        return transfer

    def notify(self, payload_type: NotifyType = NotifyType.QueryJitter) -> None:
        """Send Image Notify for the held image (ZCL OTA payload types 0-3)."""
        step = self.session.notify(payload_type)
        image = self.session.image
        self.tracker.stage(
            self.name, Stage.NOTIFIED, f"Image Notify payload type {int(payload_type)}",
            image=image.name if image else "", size=image.size if image else 0,
        )
        self._apply(step)

    def activate(self) -> None:
        """The later activation command for a device told to wait (upgrade time 0xFFFFFFFF)."""
        step = self.session.activate()
        self._apply(step)
        self._start_activation_watch()

    # ------------------------------------------------------------------ requests from zigpy

    def _on_query(self, hdr: foundation.ZCLHeader, cmd: QueryNextImageCommand) -> None:
        self.last_reported_version = int(cmd.current_file_version)
        self._maybe_observe_activation_by_query(cmd)
        self._apply(self.session.on_query(hdr.tsn, cmd))

    def _on_block(self, hdr: foundation.ZCLHeader, cmd: ImageBlockCommand) -> None:
        self._apply(self.session.on_block(hdr.tsn, cmd))

    def _on_page(self, hdr: foundation.ZCLHeader, cmd: ImagePageCommand) -> None:
        self._apply(self.session.on_page(hdr.tsn, cmd))

    def _direct_frame(self, device: zigpy.device.ZigbeeDevice, frame: bytes) -> Callable[[], None] | None:
        """An OTA frame from the device, before zigpy parses it: what to do with a per-block request
        (run once the hub application has done zigpy's bookkeeping); None hands any other frame to
        zigpy (and so to the listeners above)."""
        if device is not self.device or not device.ota_in_progress:
            return None  # zigpy's own Ota cluster would answer it: let it
        request = decode_request(frame)
        tsn = frame[1]
        if isinstance(request, BlockRequest):
            block = request
            return lambda: self._apply(self.session.on_block(tsn, block))
        if isinstance(request, PageRequest):
            page = request
            return lambda: self._apply(self.session.on_page(tsn, page))
        return None

    def _on_upgrade_end(self, hdr: foundation.ZCLHeader, cmd: foundation.CommandSchema) -> None:
        self._apply(self.session.on_upgrade_end(hdr.tsn, cmd))

    # ------------------------------------------------------------------ radio link

    def link_lost(self, why: str) -> None:
        self._apply(self.session.link_lost(why))

    def link_back(self) -> None:
        back = self.session.link_back()
        if self.session.state in (SessionState.OFFERED, SessionState.TRANSFERRING) and self.device is not None:
            # The device's own retries are finite: one that gave up while the radio was away
            # would never ask again, the transfer would stall and the CCS08 would blame the
            # device for a CH-side loss. Prompt it; it resumes from its own offset (a device
            # still downloading ignores the notify).
            self._apply(self.session.notify(NotifyType.QueryJitter_ManufacturerCode_ImageType_NewFileVersion))
        self._apply(back)  # last, so its stall window (a full one after the gap) is the one armed

    # ------------------------------------------------------------------ applying a step

    def _apply(self, step: Step) -> None:
        session = self.session
        for response in step.responses:
            self._outbox.put_nowait((session, response))
        self._track(step)
        if step.stall_after_s is None:
            self._disarm()
        else:
            self._arm(step.stall_after_s)
        if step.finished:
            self._finished(session)

    def _track(self, step: Step) -> None:
        image = self.session.image
        if image is None:
            return
        if self.transfer is not None and self.transfer.session is self.session:
            for event in step.events:
                self.transfer._saw(event)
        progress = self.session.progress
        for event in step.events:
            if event.kind is TransferEventKind.BLOCK_RESPONSE and event.status == "SUCCESS":
                if self.tracker.progress(self.name).stage is not Stage.TRANSFERRING:
                    self.tracker.stage(self.name, Stage.TRANSFERRING, image=image.name, size=image.size)
                self.tracker.advanced(self.name, progress.high_water, progress.blocks_sent)
                if self.transfer is not None and self.transfer.session is self.session:
                    self.transfer._progressed(progress.high_water)

    def _ch_eui64(self) -> str | None:
        """The CH's own EUI-64 (the radio's), the originator of the CCS08 it signs; None before binding."""
        if self.device is None:
            return None
        return str(self.device.application.state.node_info.ieee).upper()

    def _arm(self, after_s: float) -> None:
        self._disarm()
        loop = asyncio.get_running_loop()
        self._stall = loop.call_later(after_s, self._stall_fired)

    def _disarm(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _stall_fired(self) -> None:
        self._stall = None
        self._apply(self.session.stall())

    def _finished(self, session: OtaSession) -> None:
        transfer = self.transfer if self.transfer and self.transfer.session is session else None
        try:
            self._record_end(session, transfer)
        finally:
            # Whatever the bookkeeping above did, the transfer ends: its stall timer is already
            # disarmed, so nothing else would end a wait on it.
            if transfer is not None and not transfer.finished.done():
                transfer.finished.set_result(session.outcome)
                transfer._progressed(session.progress.high_water, ended=True)

    def _record_end(self, session: OtaSession, transfer: Transfer | None) -> None:
        """The ended session's CCS08, record and tracker stage; the activation watch or its end."""
        image = session.image
        alert = derive_ccs08(
            outcome=session.outcome,
            refusal=session.refusal,
            reason=session.reason,
            device_eui64=self.eui64,
            image_version=image.version if image else 0,
            t=self._clock(),
        )
        if alert is not None:
            alert = self.alerts.ch_signer.attach(alert, ch_eui64=self._ch_eui64())
            self.alerts.add(alert)
            self._sink(alert)
        self._sink(session.record())
        if transfer is not None:
            transfer.ccs08 = alert
        if session.state is SessionState.TRANSFERRED:
            self.tracker.stage(self.name, Stage.TRANSFERRED, f"{session.progress.high_water} bytes")
            if session.settings.upgrade_time in ("now", "at"):
                self._start_activation_watch()
        else:
            self.tracker.stage(self.name, Stage.FAILED, session.reason or session.state.value)
            if transfer is not None and not transfer.activation.done():
                transfer.activation.set_result(None)

    # ------------------------------------------------------------------ sending

    async def _send_loop(self) -> None:
        while True:
            session, response = await self._outbox.get()
            if response.delay_s:
                await asyncio.sleep(response.delay_s)  # Image Page response spacing (device-requested)
            try:
                await self._send(response)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 -- any radio failure is recorded, not raised
                event = session.undelivered(response, f"{type(exc).__name__}: {exc}")
                LOGGER.debug("%s: %s", self.name, event.detail)

    async def _send(self, response: Response) -> None:
        device = self.device
        if device is None:
            raise RuntimeError(f"{self.name} is not bound to a zigpy device")
        dst_ep = self._client_endpoint()
        if response.command == "default_response":
            schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Default_Response].schema
            await send_zcl(
                device, cluster=OTA_CLUSTER, src_ep=self._se_endpoint, dst_ep=dst_ep,
                command_id=foundation.GeneralCommand.Default_Response, payload=schema(**response.fields),
                tsn=response.tsn, general=True,
            )
            return
        if (response.command == "image_block_response" and response.fields["status"] == Status.SUCCESS
                and response.tsn is not None):
            fields = response.fields
            frame = encode_block_response(
                tsn=response.tsn, manufacturer_code=fields["manufacturer_code"], image_type=fields["image_type"],
                file_version=fields["file_version"], file_offset=fields["file_offset"], image_data=fields["image_data"],
            )
            await send_zcl_frame(device, cluster=OTA_CLUSTER, src_ep=self._se_endpoint, dst_ep=dst_ep,
                                 tsn=response.tsn, frame=frame)
            return
        definition = getattr(Ota.ClientCommandDefs, response.command)
        await send_zcl(
            device, cluster=OTA_CLUSTER, src_ep=self._se_endpoint, dst_ep=dst_ep,
            command_id=definition.id, payload=definition.schema(**response.fields), tsn=response.tsn,
        )

    # ------------------------------------------------------------------ activation (CS09 facts)

    def _start_activation_watch(self) -> None:
        transfer = self.transfer
        if transfer is None or transfer.activation.done():
            return
        self.tracker.stage(self.name, Stage.ACTIVATING, f"upgrade time policy {self.session.settings.upgrade_time!r}")
        self._reannounced = False
        self._activation_ordered = self._clock()
        if self._activation_timer is not None:
            self._activation_timer.cancel()
        timeout = self.session.settings.activation_timeout_s
        self._activation_timer = asyncio.get_running_loop().call_later(timeout, self._activation_timed_out, timeout)

    def _activation_timed_out(self, timeout: float) -> None:
        transfer = self.transfer
        seen = transfer is not None and transfer.running_after_activation is not None
        what = "no CS09 received from the device" if seen else "no activation observed"
        self._end_activation_watch(None, f"{what} within {timeout:g} s")

    @property
    def _awaiting_activation(self) -> bool:
        return self._activation_timer is not None and self.transfer is not None and not self.transfer.activation.done()

    def _end_activation_watch(self, alert: AlertRecord | None, why: str) -> None:
        """Resolve the current transfer's activation: with the CS09 facts, or None and why not."""
        if self._activation_timer is not None:
            self._activation_timer.cancel()
            self._activation_timer = None
        transfer = self.transfer
        if transfer is None or transfer.activation.done():
            return
        if alert is None and transfer.session.state is not SessionState.TRANSFERRED:
            return  # a failed transfer resolved its activation (None) when it ended
        if alert is None:
            self.tracker.stage(self.name, Stage.FAILED, why)
        transfer.activation.set_result(alert)

    def _observed_version(self, running: int, how: str) -> None:
        transfer = self.transfer
        if (transfer is None or transfer.image is None or not self._awaiting_activation
                or transfer.running_after_activation is not None):
            return
        alert = derive_cs09(
            device=self.name,
            device_eui64=self.eui64,
            expected_version=transfer.image.version,
            running_version=running,
            observed_how=how,
            t=self._clock(),
            previous_version=transfer.previous_version,
        )
        transfer.running_after_activation = alert
        self._sink(CheckRecord(
            name="running firmware after activation (derived by the CH, not the device's alert)", device=self.name,
            rule=f"after activation the device runs the offered image 0x{transfer.image.version:08X}",
            observed=f"{alert.detail}; seen by {how}",
            outcome=Outcome.PASS if alert.activation_result == 0 else Outcome.FAIL,
            source="ZCL OTA Upgrade: CurrentFileVersion (0x0019/0x0002) or Query Next Image after the reboot",
            confidence="high",
        ))
        if alert.activation_result == 0:
            self.tracker.stage(self.name, Stage.ACTIVATED, f"running 0x{running:08X}")
        else:
            self.tracker.stage(self.name, Stage.FAILED, f"activation failed: {alert.detail}")
        if not self.sends_cs09:
            self._end_activation_watch(alert, "")
        elif transfer.cs09 is not None:
            self._end_activation_watch(transfer.cs09, "")

    def cs09_received(self, alert: AlertRecord, executed: float | None = None) -> str:
        """The device's own CS09 arrived; returns a timing rule it broke ("" when none).

        A CS09 belongs after the device has rebooted into the image: one that arrives while the CH
        awaits the activation but before the device re-announced speaks of an image not yet running,
        and one whose execution date-time is before the CH ordered the activation speaks of another.
        """
        transfer = self.transfer
        if transfer is None or not self._awaiting_activation:
            return ""
        early = "" if self._reannounced else (
            "sent before the device rebooted into the image (no re-announce since the Upgrade End Response)")
        ordered = self._activation_ordered
        if not early and executed is not None and ordered is not None and executed < ordered - CLOCK_TOLERANCE_S:
            early = (f"its execution date-time is {ordered - executed:.0f} s before the CH ordered the activation "
                     "(an alert about an earlier activation)")
        if transfer.cs09 is None:
            transfer.cs09 = alert
        if transfer.running_after_activation is not None:
            self._end_activation_watch(alert, "")
        return early

    def _maybe_observe_activation_by_query(self, cmd: QueryNextImageCommand) -> None:
        if self._awaiting_activation:
            self._observed_version(
                int(cmd.current_file_version),
                f"Query Next Image from {self.name} after activation (current file version field)",
            )

    def device_announced(self) -> None:
        """The device (re)announced itself: after an activation reboot, ask what it now runs."""
        if not self._awaiting_activation:
            return
        self._reannounced = True
        if self._activation_read is None or self._activation_read.done():
            self._activation_read = asyncio.get_running_loop().create_task(
                self._read_running_version(), name=f"activation-read:{self.name}"
            )

    async def _read_running_version(self) -> None:
        device = self.device
        if device is None:
            return
        cluster = device.find_cluster(cluster_id=OTA_CLUSTER, cluster_type=ClusterType.Client)
        attr = Ota.AttributeDefs.current_file_version
        try:
            success, failure = await cluster.read_attributes([attr.id], allow_cache=False)
        except Exception as exc:  # noqa: BLE001 -- the device may still be settling; a later announce retries
            LOGGER.debug("%s: reading CurrentFileVersion after re-announce failed: %r", self.name, exc)
            return
        value = success.get(attr.id, success.get(attr.name))
        if value is None:
            LOGGER.debug("%s: CurrentFileVersion unreadable after re-announce: %r", self.name, failure)
            return
        self._observed_version(
            int(value),
            f"read of {self.name}'s OTA client CurrentFileVersion (0x0019/0x0002) after it re-announced",
        )
