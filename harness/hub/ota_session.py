"""The CH's OTA server for one device and one image, as a state machine with no I/O.

Input: the device's requests, already parsed by zigpy into the Ota cluster's command schemas
(``Ota.ServerCommandDefs.*.schema``) -- or, for the per-block requests, by
:mod:`harness.ota.cluster_frames` into records with the same field names -- plus the CH's own
actions (offer, notify, activate) and the runtime's timer and link events. Output: a
:class:`Step` -- the responses to send (named after ``Ota.ClientCommandDefs``), the timeline
events for the transfer record, and what to do with the stall timer. The runtime (``ota_server.py``) does the sending and the timing; this module only
decides, so every rule of the exchange is unit-tested without a radio or a clock.

States and the transitions between them are a table (:data:`TRANSITIONS`): an event the table
does not allow in the current state raises :class:`SessionError` naming the device, the state
and the event. Device misbehaviour is *not* such an error -- the table includes what the CH
answers to, say, a block request for an image it never offered (ABORT) -- because a device
under test doing the wrong thing is exactly what the harness is there to record.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import (
    ImageBlockCommand,
    ImageNotifyPayloadType,
    ImagePageCommand,
    Ota,
    QueryNextImageCommand,
)

from harness.evidence import TransferEvent, TransferEventKind, TransferOutcome, TransferRecord
from harness.hub.errors import SessionError
from harness.hub.images import (
    OfferedImage,
    QueryFacts,
    Refusal,
    check_offerable,
    select_image,
)
from harness.hub.settings import UPGRADE_TIME_WAIT, OtaServeSettings, zcl_utc
from harness.ota.cluster_frames import BlockRequest, PageRequest

Status = foundation.Status
#: Image Notify payload types (``Ota.ImageNotifyCommand.PayloadType``).
NotifyType = ImageNotifyPayloadType

#: The Upgrade End Request statuses a client may send (ZCL OTA 11.13.9.x); anything else is odd.
CLIENT_END_STATUSES = (Status.SUCCESS, Status.INVALID_IMAGE, Status.REQUIRE_MORE_IMAGE, Status.ABORT)


class SessionState(enum.StrEnum):
    IDLE = "idle"  # nothing offered: queries get NO_IMAGE_AVAILABLE
    OFFERED = "offered"  # an image is held for the device; waiting for its query
    TRANSFERRING = "transferring"  # query answered SUCCESS; serving blocks
    TRANSFERRED = "transferred"  # Upgrade End SUCCESS after the whole image (CCS08 0x8F8A)
    FAILED = "failed"  # the device ended with an error, or claimed success early (0x8F89/3)
    STALLED = "stalled"  # the device went quiet past the stall timeout (0x8F89/3)
    REFUSED = "refused"  # the CH would not offer: hardware mismatch, discarded (0x8F89/2 or /1)
    ABORTED = "aborted"  # the CH stopped the session (test end, shutdown)


class SessionEvent(enum.StrEnum):
    OFFER = "offer"
    NOTIFY = "notify"
    QUERY = "query"
    BLOCK = "block"
    PAGE = "page"
    UPGRADE_END = "upgrade_end"
    STALL = "stall"
    LINK_LOST = "link_lost"
    LINK_BACK = "link_back"
    ACTIVATE = "activate"
    CANCEL = "cancel"


S, E = SessionState, SessionEvent
TERMINAL = frozenset({S.TRANSFERRED, S.FAILED, S.STALLED, S.REFUSED, S.ABORTED})
_DEVICE_REQUESTS = (E.QUERY, E.BLOCK, E.PAGE, E.UPGRADE_END)
_LINK = (E.LINK_LOST, E.LINK_BACK)

#: (state, event) -> the states the handler may move to. Absent pairs are programming errors.
TRANSITIONS: dict[tuple[SessionState, SessionEvent], frozenset[SessionState]] = {
    (S.IDLE, E.OFFER): frozenset({S.OFFERED, S.REFUSED}),
    (S.OFFERED, E.NOTIFY): frozenset({S.OFFERED}),
    (S.OFFERED, E.QUERY): frozenset({S.TRANSFERRING, S.REFUSED}),
    # A device that queried before a CH restart may go straight on asking for blocks.
    (S.OFFERED, E.BLOCK): frozenset({S.TRANSFERRING, S.OFFERED}),
    (S.OFFERED, E.PAGE): frozenset({S.TRANSFERRING, S.OFFERED}),
    (S.OFFERED, E.UPGRADE_END): frozenset({S.OFFERED}),
    (S.OFFERED, E.STALL): frozenset({S.STALLED}),
    (S.TRANSFERRING, E.NOTIFY): frozenset({S.TRANSFERRING}),
    (S.TRANSFERRING, E.QUERY): frozenset({S.TRANSFERRING}),
    (S.TRANSFERRING, E.BLOCK): frozenset({S.TRANSFERRING}),
    (S.TRANSFERRING, E.PAGE): frozenset({S.TRANSFERRING}),
    (S.TRANSFERRING, E.UPGRADE_END): frozenset({S.TRANSFERRED, S.FAILED}),
    (S.TRANSFERRING, E.STALL): frozenset({S.STALLED}),
    (S.TRANSFERRED, E.ACTIVATE): frozenset({S.TRANSFERRED}),
}
for _state in S:
    for _event in _LINK:
        TRANSITIONS[(_state, _event)] = frozenset({_state})
    if _state in TERMINAL or _state is S.IDLE:
        for _event in _DEVICE_REQUESTS:
            TRANSITIONS.setdefault((_state, _event), frozenset({_state}))
        # A stall timer that fires after the session ended is stale, not an error.
        TRANSITIONS.setdefault((_state, E.STALL), frozenset({_state}))
    if _state not in TERMINAL:
        TRANSITIONS[(_state, E.CANCEL)] = frozenset({S.ABORTED})
    else:
        TRANSITIONS[(_state, E.CANCEL)] = frozenset({_state})


@dataclass(frozen=True, slots=True)
class Response:
    """One frame for the runtime to send to the device.

    ``command`` names an ``Ota.ClientCommandDefs`` entry, or ``"default_response"`` (a ZCL
    Default Response to ``fields['command_id']``). ``tsn`` is the request's transaction number
    (None: an unsolicited command, the runtime picks a fresh one). ``delay_s`` is how long to wait
    after the previous response in the same step (Image Page response spacing).
    """

    command: str
    fields: Mapping[str, Any]
    tsn: int | None
    delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Step:
    """What one input changed: the state, the frames to send, the timeline, the stall timer.

    ``stall_after_s``: re-arm the stall timer to fire that many seconds from now; None disarms it.
    ``finished``: the session entered a terminal state in this step.
    """

    state: SessionState
    responses: tuple[Response, ...] = ()
    events: tuple[TransferEvent, ...] = ()
    stall_after_s: float | None = None
    finished: bool = False


@dataclass(slots=True)
class _Progress:
    high_water: int = 0  # one past the highest byte sent
    bytes_sent: int = 0  # counting resends
    blocks_sent: int = 0
    retries: int = 0
    gaps: int = 0
    waits_done: set[int] = field(default_factory=set)


class OtaSession:
    """Serve (at most) one image to one device. Create one per offer; see module docstring."""

    def __init__(
        self,
        *,
        device: str,
        device_eui64: str,
        settings: OtaServeSettings,
        transfer_id: str,
        clock: Callable[[], float] = time.time,
        known_hardware_version: int | None = None,
        frame_security: Callable[[TransferEventKind], bool | None] | None = None,
    ) -> None:
        """``frame_security``: whether the frame an event records was APS-encrypted (the radio's
        view of the device's last OTA frame, the hub's send rule for its own); None: not recorded."""
        self.device = device
        self._frame_security = frame_security
        self.device_eui64 = device_eui64
        self.settings = settings
        self.transfer_id = transfer_id
        self.known_hardware_version = known_hardware_version
        self._clock = clock
        self.state = S.IDLE
        self.image: OfferedImage | None = None
        self.refusal: Refusal | None = None
        self.reason = ""
        self.end_status: Status | None = None
        self.last_query: QueryFacts | None = None
        self.started = clock()
        self.ended: float | None = None
        self.progress = _Progress()
        self._events: list[TransferEvent] = []
        self._link_lost_at: float | None = None
        self._lost_why = ""

    # ------------------------------------------------------------------ bookkeeping

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    @property
    def outcome(self) -> TransferOutcome:
        return {
            S.IDLE: TransferOutcome.IN_PROGRESS,
            S.OFFERED: TransferOutcome.IN_PROGRESS,
            S.TRANSFERRING: TransferOutcome.IN_PROGRESS,
            S.TRANSFERRED: TransferOutcome.TRANSFERRED,
            S.FAILED: TransferOutcome.FAILED,
            S.STALLED: TransferOutcome.STALLED,
            S.REFUSED: TransferOutcome.REFUSED,
            S.ABORTED: TransferOutcome.ABORTED,
        }[self.state]

    @property
    def block_size_cap(self) -> int:
        return self.settings.max_block_size

    def _allowed(self, event: SessionEvent) -> frozenset[SessionState]:
        allowed = TRANSITIONS.get((self.state, event))
        if allowed is None:
            raise SessionError(
                f"OTA session for {self.device}: event {event.value!r} is not allowed in state "
                f"{self.state.value!r}"
            )
        return allowed

    def _move(self, event: SessionEvent, target: SessionState, reason: str = "") -> bool:
        """Enter ``target``; returns True when this entered a terminal state."""
        allowed = self._allowed(event)
        if target not in allowed:
            raise SessionError(
                f"OTA session for {self.device}: {event.value!r} in state {self.state.value!r} "
                f"cannot lead to {target.value!r}"
            )
        entered_terminal = target in TERMINAL and self.state not in TERMINAL
        self.state = target
        if entered_terminal:
            self.ended = self._clock()
            self.reason = reason or self.reason
        return entered_terminal

    def _event(self, kind: TransferEventKind, **kw: Any) -> TransferEvent:
        if self._frame_security is not None and "aps_encrypted" not in kw:
            kw["aps_encrypted"] = self._frame_security(kind)
        ev = TransferEvent(t=self._clock(), kind=kind, **kw)
        self._events.append(ev)
        return ev

    def record(self) -> TransferRecord:
        """A snapshot of the transfer so far (same ``transfer_id`` for every snapshot)."""
        image = self.image
        return TransferRecord(
            transfer_id=self.transfer_id,
            device=self.device,
            device_eui64=self.device_eui64,
            image_name=image.name if image else "",
            image_sha256=image.sha256 if image else "",
            image_size=image.size if image else 0,
            image_version=image.version if image else 0,
            started=self.started,
            ended=self.ended,
            outcome=self.outcome,
            reason=self.reason,
            bytes_sent=self.progress.bytes_sent,
            block_size_cap=self.block_size_cap,
            retries=self.progress.retries,
            gaps=self.progress.gaps,
            events=tuple(self._events),
        )

    def _image_fields(self) -> dict[str, int]:
        assert self.image is not None
        f = self.image.facts
        return {
            "manufacturer_code": f.manufacturer_code,
            "image_type": f.image_type,
            "file_version": f.file_version,
        }

    # ------------------------------------------------------------------ CH actions

    def offer(self, image: OfferedImage) -> Step:
        """Hold ``image`` for this device, after the CH's own check (supplier signature)."""
        self._allowed(E.OFFER)
        self.image = image
        verdict = check_offerable(
            image,
            require_signature=self.settings.require_signature,
            serve_unverified=self.settings.serve_unverified,
        )
        if not verdict.offered:
            self.refusal = verdict.refusal
            ev = self._event(
                TransferEventKind.ABORT, detail=f"image discarded by the CH: {verdict.detail}"
            )
            finished = self._move(E.OFFER, S.REFUSED, verdict.detail)
            return Step(self.state, events=(ev,), finished=finished)
        self._move(E.OFFER, S.OFFERED)
        return Step(self.state, stall_after_s=None)

    def notify(self, payload_type: NotifyType = NotifyType.QueryJitter) -> Step:
        """An Image Notify for the held image, with as much of it as ``payload_type`` says.

        Payload types (ZCL OTA Image Notify): 0 jitter only, 1 + manufacturer code,
        2 + image type, 3 + new file version.
        """
        target = self.state
        self._allowed(E.NOTIFY)
        assert self.image is not None
        payload_type = NotifyType(payload_type)
        fields: dict[str, Any] = {
            "payload_type": payload_type,
            "query_jitter": self.settings.query_jitter,
        }
        facts = self.image.facts
        if payload_type >= NotifyType.QueryJitter_ManufacturerCode:
            fields["manufacturer_code"] = facts.manufacturer_code
        if payload_type >= NotifyType.QueryJitter_ManufacturerCode_ImageType:
            fields["image_type"] = facts.image_type
        if payload_type >= NotifyType.QueryJitter_ManufacturerCode_ImageType_NewFileVersion:
            fields["new_file_version"] = facts.file_version
        self._move(E.NOTIFY, target)
        ev = self._event(
            TransferEventKind.NOTIFY,
            detail=f"payload type {int(payload_type)} ({payload_type.name}), jitter {self.settings.query_jitter}",
        )
        wait = self.settings.query_timeout_s if target is S.OFFERED else self.settings.stall_timeout_s
        return Step(self.state, (Response("image_notify", fields, None),), (ev,), wait)

    def activate(self) -> Step:
        """The later activation command for a device told to wait (HCALCS-style "wait" policy):
        an unsolicited Upgrade End Response whose times mean "upgrade now"."""
        self._move(E.ACTIVATE, S.TRANSFERRED)
        fields = {**self._image_fields(), "current_time": 0, "upgrade_time": 0}
        ev = self._event(
            TransferEventKind.UPGRADE_END_RESPONSE, status="SUCCESS", detail="activation: upgrade now"
        )
        return Step(self.state, (Response("upgrade_end_response", fields, None),), (ev,), None)

    def cancel(self, reason: str) -> Step:
        """The CH stops the session (test teardown, shutdown)."""
        if self.state in TERMINAL:
            return Step(self.state)
        ev = self._event(TransferEventKind.ABORT, detail=f"stopped by the CH: {reason}")
        finished = self._move(E.CANCEL, S.ABORTED, reason)
        return Step(self.state, events=(ev,), finished=finished)

    # ------------------------------------------------------------------ runtime events

    #: Timeline kind of each response, for recording a delivery failure against it.
    _KIND_OF_RESPONSE = {
        "image_notify": TransferEventKind.NOTIFY,
        "query_next_image_response": TransferEventKind.QUERY_RESPONSE,
        "image_block_response": TransferEventKind.BLOCK_RESPONSE,
        "upgrade_end_response": TransferEventKind.UPGRADE_END_RESPONSE,
        "default_response": TransferEventKind.UPGRADE_END_RESPONSE,
    }

    def undelivered(self, response: Response, error: str) -> TransferEvent:
        """The radio could not deliver ``response``; the device will have to ask again."""
        return self._event(
            self._KIND_OF_RESPONSE.get(response.command, TransferEventKind.RETRY),
            offset=response.fields.get("file_offset"),
            status="NOT_DELIVERED",
            detail=f"{response.command} not delivered: {error}",
        )

    def stall(self) -> Step:
        """The stall timer fired: no request arrived in the window the last step armed."""
        self._allowed(E.STALL)
        if self.state in TERMINAL or self.state is S.IDLE or self._link_lost_at is not None:
            return Step(self.state)
        where = (
            f"after offset {self.progress.high_water} of {self.image.size}"
            if self.image and self.state is S.TRANSFERRING
            else "after the offer"
        )
        reason = f"{self.device} sent no OTA request {where} within the stall timeout"
        ev = self._event(TransferEventKind.STALL, offset=self.progress.high_water, detail=reason)
        finished = self._move(E.STALL, S.STALLED, reason)
        return Step(self.state, events=(ev,), finished=finished)

    def link_lost(self, why: str) -> Step:
        """The CH lost its radio (NCP reset, port gone): nothing can be heard; pause the stall timer."""
        self._allowed(E.LINK_LOST)
        if self._link_lost_at is None:
            self._link_lost_at = self._clock()
            self._lost_why = why
        return Step(self.state, stall_after_s=None)

    def link_back(self) -> Step:
        """The radio is back: record the gap; give the device a full stall window to resume."""
        self._allowed(E.LINK_BACK)
        if self._link_lost_at is None:
            return Step(self.state, stall_after_s=self._window())
        lost_for = self._clock() - self._link_lost_at
        self._link_lost_at = None
        self.progress.gaps += 1
        ev = self._event(
            TransferEventKind.GAP,
            offset=self.progress.high_water,
            wait_s=round(lost_for, 3),
            detail=f"radio link lost ({self._lost_why}) for {lost_for:.2f} s; resumed",
        )
        return Step(self.state, events=(ev,), stall_after_s=self._window())

    def _window(self) -> float | None:
        if self.state is S.OFFERED:
            return self.settings.query_timeout_s
        if self.state is S.TRANSFERRING:
            return self._block_window()
        return None

    def _block_window(self) -> float:
        if self.image is not None and self.progress.high_water >= self.image.size:
            return self.settings.final_block_timeout_s
        return self.settings.stall_timeout_s

    # ------------------------------------------------------------------ device requests

    def on_query(self, tsn: int, cmd: QueryNextImageCommand) -> Step:
        """Query Next Image Request: offer the held image if it suits the device, else say why not."""
        self._allowed(E.QUERY)
        hardware = cmd.hardware_version if cmd.field_control & cmd.FieldControl.HardwareVersion else None
        query = QueryFacts(
            manufacturer_code=cmd.manufacturer_code,
            image_type=cmd.image_type,
            current_file_version=cmd.current_file_version,
            hardware_version=hardware,
        )
        self.last_query = query
        request = self._event(
            TransferEventKind.QUERY,
            detail=(
                f"mfr 0x{query.manufacturer_code:04X} type 0x{query.image_type:04X} "
                f"version 0x{query.current_file_version:08X}"
                + (f" hw 0x{hardware:04X}" if hardware is not None else "")
            ),
        )
        if self.state in (S.OFFERED, S.TRANSFERRING):
            assert self.image is not None
            selection = select_image(
                query,
                self.image,
                allow_downgrade=self.settings.allow_downgrade,
                allow_same_version=self.settings.allow_same_version,
                known_hardware_version=self.known_hardware_version,
                offer_unchecked=self.settings.offer_unchecked,
            )
            if selection.offered:
                facts = self.image.facts
                fields = {
                    "status": Status.SUCCESS,
                    **self._image_fields(),
                    "image_size": facts.total_image_size,
                }
                if self.state is S.TRANSFERRING:
                    self.progress.retries += 1
                self._move(E.QUERY, S.TRANSFERRING)
                reply = self._event(
                    TransferEventKind.QUERY_RESPONSE,
                    size=facts.total_image_size,
                    status="SUCCESS",
                    detail=selection.detail,
                )
                return Step(
                    self.state,
                    (Response("query_next_image_response", fields, tsn),),
                    (request, reply),
                    self._block_window(),
                )
            if self.state is S.OFFERED:
                self.refusal = selection.refusal
                return self._no_image(tsn, request, f"refused: {selection.detail}", S.REFUSED, selection.detail)
            # Mid-transfer the device now claims something the image no longer suits (e.g. it
            # rebooted into other firmware): tell it so, keep the transfer state for the record.
            return self._no_image(
                tsn, request, f"mid-transfer query no longer matches: {selection.detail}", S.TRANSFERRING,
                stall_after_s=self._block_window(),
            )
        # IDLE or finished: nothing to offer (GB CH: NO_IMAGE_AVAILABLE after a completed upgrade).
        return self._no_image(tsn, request, f"nothing to offer in state {self.state.value}", self.state)

    def _no_image(
        self, tsn: int, request: TransferEvent, detail: str, target: SessionState, reason: str = "",
        *, stall_after_s: float | None = None,
    ) -> Step:
        """Answer a query with NO_IMAGE_AVAILABLE and enter ``target``: one place for every way of saying no."""
        reply = self._event(TransferEventKind.QUERY_RESPONSE, status=Status.NO_IMAGE_AVAILABLE.name, detail=detail)
        finished = self._move(E.QUERY, target, reason)
        return Step(
            self.state,
            (Response("query_next_image_response", {"status": Status.NO_IMAGE_AVAILABLE}, tsn),),
            (request, reply),
            stall_after_s,
            finished,
        )

    def _refuse_block(
        self, tsn: int, event: SessionEvent, status: Status, why: str, request: TransferEvent
    ) -> Step:
        self._move(event, self.state)
        reply = self._event(TransferEventKind.BLOCK_RESPONSE, status=status.name, detail=why)
        stall = self._window() if self.state in (S.OFFERED, S.TRANSFERRING) else None
        return Step(self.state, (Response("image_block_response", {"status": status}, tsn),), (request, reply), stall)

    def _check_block_request(
        self, tsn: int, event: SessionEvent, cmd: Any, request: TransferEvent
    ) -> Step | None:
        """Answer requests the CH cannot serve; None when the request is servable."""
        if self.state not in (S.OFFERED, S.TRANSFERRING):
            return self._refuse_block(
                tsn, event, Status.ABORT, f"no transfer in progress (state {self.state.value})", request
            )
        assert self.image is not None
        asked = (cmd.manufacturer_code, cmd.image_type, cmd.file_version)
        held = tuple(self._image_fields().values())
        if asked != held:
            return self._refuse_block(
                tsn,
                event,
                Status.ABORT,
                f"{self.device} asked for mfr 0x{asked[0]:04X} type 0x{asked[1]:04X} version "
                f"0x{asked[2]:08X}, which the CH did not offer",
                request,
            )
        if cmd.file_offset >= self.image.size or cmd.maximum_data_size == 0:
            return self._refuse_block(
                tsn,
                event,
                Status.MALFORMED_COMMAND,
                f"{self.device} asked for offset {cmd.file_offset} size {cmd.maximum_data_size} "
                f"of a {self.image.size}-byte image",
                request,
            )
        return None

    def _wait_for_data(self, tsn: int, offset: int) -> tuple[Response, TransferEvent, float] | None:
        """A WAIT_FOR_DATA answer when ``offset`` reaches a configured window not yet used."""
        for window_offset, seconds, *named_period in self.settings.wait_for_data:
            if offset >= window_offset and window_offset not in self.progress.waits_done:
                period = named_period[0] if named_period else self.settings.minimum_block_period_ms
                self.progress.waits_done.add(window_offset)
                # UTCTime has whole seconds: a fraction would round to "now" half the time.
                whole = max(1, math.ceil(seconds))
                current = zcl_utc(self._clock())
                fields = {
                    "status": Status.WAIT_FOR_DATA,
                    "current_time": current,
                    "request_time": current + whole,
                    "minimum_block_period": period,
                }
                ev = self._event(
                    TransferEventKind.WAIT_FOR_DATA,
                    offset=offset,
                    status=Status.WAIT_FOR_DATA.name,
                    wait_s=float(whole),
                    detail=f"window at offset {window_offset}, MinimumBlockPeriod {period}",
                    minimum_block_period=period,
                )
                return Response("image_block_response", fields, tsn), ev, float(whole)
        return None

    def _block(self, tsn: int | None, offset: int, max_size: int, delay_s: float = 0.0) -> tuple[Response, TransferEvent]:
        assert self.image is not None
        size = min(max_size, self.block_size_cap, self.image.size - offset)
        data = self.image.read(offset, size)
        if len(data) != size:
            raise SessionError(
                f"image {self.image.name}: read {len(data)} bytes at offset {offset}, expected {size}"
            )
        progress = self.progress
        progress.high_water = max(progress.high_water, offset + size)
        progress.bytes_sent += size
        progress.blocks_sent += 1
        fields = {
            "status": Status.SUCCESS,
            **self._image_fields(),
            "file_offset": offset,
            "image_data": data,
        }
        ev = self._event(TransferEventKind.BLOCK_RESPONSE, offset=offset, size=size, status="SUCCESS")
        return Response("image_block_response", fields, tsn, delay_s), ev

    def _note_retry(self, offset: int, events: list[TransferEvent]) -> None:
        if offset < self.progress.high_water:
            self.progress.retries += 1
            events.append(
                self._event(
                    TransferEventKind.RETRY,
                    offset=offset,
                    detail=f"asked again for offset {offset} (already sent up to {self.progress.high_water})",
                )
            )

    def _answer_before_data(self, tsn: int, event: SessionEvent, cmd: Any, request: TransferEvent) -> Step | None:
        """What Block and Page requests share before any data goes out: refuse what the CH cannot
        serve, else enter TRANSFERRING and answer WAIT_FOR_DATA while the upgrade time says so.
        None: the request is to be served now."""
        refused = self._check_block_request(tsn, event, cmd, request)
        if refused is not None:
            return refused
        self._move(event, S.TRANSFERRING)
        waiting = self._wait_for_data(tsn, cmd.file_offset)
        if waiting is None:
            return None
        response, ev, seconds = waiting
        return Step(self.state, (response,), (request, ev), seconds + self.settings.stall_timeout_s)

    def on_block(self, tsn: int, cmd: ImageBlockCommand | BlockRequest) -> Step:
        """Image Block Request: one block from the requested offset (resume from anywhere)."""
        self._allowed(E.BLOCK)
        detail = ""
        if cmd.field_control & cmd.FieldControl.MinimumBlockPeriod:
            detail = f"MinimumBlockPeriod {cmd.minimum_block_period}"
        request = self._event(
            TransferEventKind.BLOCK_REQUEST, offset=cmd.file_offset, size=cmd.maximum_data_size, detail=detail
        )
        answered = self._answer_before_data(tsn, E.BLOCK, cmd, request)
        if answered is not None:
            return answered
        events = [request]
        self._note_retry(cmd.file_offset, events)
        response, ev = self._block(tsn, cmd.file_offset, cmd.maximum_data_size)
        events.append(ev)
        return Step(self.state, (response,), tuple(events), self._block_window())

    def on_page(self, tsn: int, cmd: ImagePageCommand | PageRequest) -> Step:
        """Image Page Request: blocks covering ``page_size`` bytes, ``response_spacing`` ms apart."""
        self._allowed(E.PAGE)
        request = self._event(
            TransferEventKind.PAGE_REQUEST,
            offset=cmd.file_offset,
            size=cmd.page_size,
            detail=f"max data {cmd.maximum_data_size}, spacing {cmd.response_spacing} ms",
        )
        answered = self._answer_before_data(tsn, E.PAGE, cmd, request)
        if answered is not None:
            return answered
        assert self.image is not None
        events = [request]
        self._note_retry(cmd.file_offset, events)
        spacing = cmd.response_spacing / 1000.0
        end = min(self.image.size, cmd.file_offset + cmd.page_size)
        offset = int(cmd.file_offset)
        responses: list[Response] = []
        while offset < end:
            response, ev = self._block(tsn, offset, min(cmd.maximum_data_size, end - offset), spacing if responses else 0.0)
            responses.append(response)
            events.append(ev)
            offset += len(response.fields["image_data"])
        # The stall window starts after the last spaced response has gone out.
        return Step(self.state, tuple(responses), tuple(events), self._block_window() + spacing * len(responses))

    def on_upgrade_end(self, tsn: int, cmd: Any) -> Step:
        """Upgrade End Request: the device's verdict on the image it received."""
        self._allowed(E.UPGRADE_END)
        status = Status(cmd.status)
        request = self._event(
            TransferEventKind.UPGRADE_END,
            offset=self.progress.high_water,
            status=status.name,
            detail=f"version 0x{cmd.file_version:08X}",
        )
        if self.state is S.TRANSFERRING:
            assert self.image is not None
            self.end_status = status
            complete = self.progress.high_water >= self.image.size
            if status == Status.SUCCESS and complete:
                fields, detail = self._upgrade_times()
                finished = self._move(E.UPGRADE_END, S.TRANSFERRED)
                reply = self._event(
                    TransferEventKind.UPGRADE_END_RESPONSE, status="SUCCESS", detail=detail,
                    wait_s=(self.settings.upgrade_delay_s if self.settings.upgrade_time == "at" else None),
                )
                return Step(
                    self.state,
                    (Response("upgrade_end_response", {**self._image_fields(), **fields}, tsn),),
                    (request, reply),
                    None,
                    finished,
                )
            if status == Status.SUCCESS:
                reason = (
                    f"{self.device} reported SUCCESS after only {self.progress.high_water} of "
                    f"{self.image.size} bytes"
                )
            elif status in CLIENT_END_STATUSES:
                reason = f"{self.device} ended the transfer with {status.name}"
            else:
                reason = f"{self.device} ended the transfer with unexpected status {status!r}"
            finished = self._move(E.UPGRADE_END, S.FAILED, reason)
            reply = self._event(TransferEventKind.ABORT, status=status.name, detail=reason)
            return Step(self.state, (self._default_response(tsn),), (request, reply), None, finished)
        # An Upgrade End outside a transfer: acknowledge, change nothing (a repeat after success
        # gets the same Upgrade End Response again, because the device may have missed it).
        self._move(E.UPGRADE_END, self.state)
        if self.state is S.TRANSFERRED and status == Status.SUCCESS:
            fields, detail = self._upgrade_times()
            reply = self._event(TransferEventKind.UPGRADE_END_RESPONSE, status="SUCCESS", detail=f"repeat: {detail}")
            return Step(
                self.state, (Response("upgrade_end_response", {**self._image_fields(), **fields}, tsn),), (request, reply)
            )
        return Step(self.state, (self._default_response(tsn),), (request,))

    def _upgrade_times(self) -> tuple[dict[str, int], str]:
        """Upgrade End Response times for the profile's policy (ZCL OTA 11.13.9.6).

        now: current 0, upgrade 0. at: current = now, upgrade = now + delay (UTCTime).
        wait: upgrade 0xFFFFFFFF -- the device waits for a further command (GBCS HCALCS style).
        """
        policy = self.settings.upgrade_time
        if policy == "now":
            return {"current_time": 0, "upgrade_time": 0}, "upgrade now"
        now = self._clock()
        if policy == "at":
            delay = self.settings.upgrade_delay_s
            return (
                {"current_time": zcl_utc(now), "upgrade_time": zcl_utc(now + delay)},
                f"upgrade at now + {delay} s",
            )
        return {"current_time": zcl_utc(now), "upgrade_time": UPGRADE_TIME_WAIT}, "wait for activation command"

    @staticmethod
    def _default_response(tsn: int) -> Response:
        return Response(
            "default_response",
            {"command_id": Ota.ServerCommandDefs.upgrade_end.id, "status": Status.SUCCESS},
            tsn,
        )
