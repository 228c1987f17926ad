"""The OTA Upgrade cluster client of an emulated device (ZCL OTA, cluster 0x0019).

It is written as an explicit state machine -- :class:`OtaState`, the inputs :class:`OtaInput` and
the table :data:`TRANSITIONS` -- because the interesting failures of a real lab (a reboot half way,
a server that stops answering, WAIT_FOR_DATA, an Upgrade End Response saying "later") are all
"this input arrived in that state". Every state change goes through :meth:`OtaClient._fire`,
which also keeps the ImageUpgradeStatus attribute in step, so a hub reading the attribute sees
exactly what the client is doing.

One coroutine (the *session*) runs a query, the download and the Upgrade End exchange; responses
from the server reach it through an inbox. Activation is handed to the device (it is a reboot),
and Image Notify / unsolicited Upgrade End Responses are handled between sessions.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import zigpy.types as t
from zigpy.zcl.clusters.general import ImageUpgradeStatus, Ota

from .behaviours import (
    BlockAction,
    BlockProgress,
    CompletedDownload,
    DownloadEnd,
    QueryReason,
    UpgradeTime,
    WaitForData,
)
from .image_check import DeviceIdentity, Offer, Verdict, check_image, sha256_hex
from .settings import BLOCK_PERIOD_UNIT_S, OTA
from .zcl import Status, ZclFrame, default_response, ota_request

if TYPE_CHECKING:
    from .device import EmulatedDevice

Attr = Ota.AttributeDefs

WILDCARD_16 = 0xFFFF
WILDCARD_32 = 0xFFFFFFFF
#: Upgrade End Response upgrade_time meaning "wait for a further command" (ZCL OTA 11.13.9.4).
UPGRADE_TIME_WAIT = 0xFFFFFFFF
#: The longest a client waits for a concrete upgrade time before applying it (60 min).
UPGRADE_DELAY_CAP_S = 3600.0


class OtaState(enum.Enum):
    IDLE = "idle"
    QUERYING = "querying"
    DOWNLOADING = "downloading"
    WAITING_FOR_DATA = "waiting_for_data"
    VERIFYING = "verifying"
    ENDING = "ending"  # Upgrade End SUCCESS sent, waiting for the response
    WAITING_TO_UPGRADE = "waiting_to_upgrade"  # told to wait for a further command
    COUNTING_DOWN = "counting_down"  # activation at a given time
    WAIT_FOR_MORE = "wait_for_more"  # sent REQUIRE_MORE_IMAGE
    ACTIVATING = "activating"  # rebooting into the new image


class OtaInput(enum.Enum):
    QUERY = "query"
    NO_IMAGE = "no_image"
    OFFER = "offer"
    BLOCK = "block"
    WAIT_FOR_DATA = "wait_for_data"
    DATA_RESUMED = "data_resumed"
    DOWNLOADED = "downloaded"
    VALID = "valid"
    INVALID = "invalid"
    NEED_MORE = "need_more"
    CLIENT_ABORT = "client_abort"
    SERVER_ABORT = "server_abort"
    GIVE_UP = "give_up"
    ASK_AGAIN = "ask_again"  # re-send Upgrade End while waiting to upgrade
    UPGRADE_NOW = "upgrade_now"
    UPGRADE_AT = "upgrade_at"
    UPGRADE_WAIT = "upgrade_wait"
    ACTIVATE = "activate"
    ACTIVATED = "activated"
    INTERRUPT = "interrupt"  # reboot or leave while a session runs
    RESTORE = "restore"  # re-flashed to a known firmware: nothing held, idle (test control)


S, I = OtaState, OtaInput

#: (state, input) -> next state. Anything else is a bug in the client and raises OtaStateError.
TRANSITIONS: dict[tuple[OtaState, OtaInput], OtaState] = {
    (S.IDLE, I.QUERY): S.QUERYING,
    (S.WAIT_FOR_MORE, I.QUERY): S.QUERYING,
    (S.QUERYING, I.NO_IMAGE): S.IDLE,
    (S.QUERYING, I.GIVE_UP): S.IDLE,
    (S.QUERYING, I.OFFER): S.DOWNLOADING,
    (S.QUERYING, I.INTERRUPT): S.IDLE,
    (S.DOWNLOADING, I.BLOCK): S.DOWNLOADING,
    (S.DOWNLOADING, I.WAIT_FOR_DATA): S.WAITING_FOR_DATA,
    (S.WAITING_FOR_DATA, I.DATA_RESUMED): S.DOWNLOADING,
    (S.DOWNLOADING, I.DOWNLOADED): S.VERIFYING,
    (S.DOWNLOADING, I.CLIENT_ABORT): S.IDLE,
    (S.DOWNLOADING, I.SERVER_ABORT): S.IDLE,
    (S.DOWNLOADING, I.GIVE_UP): S.IDLE,
    (S.DOWNLOADING, I.INTERRUPT): S.IDLE,
    (S.WAITING_FOR_DATA, I.INTERRUPT): S.IDLE,
    (S.VERIFYING, I.VALID): S.ENDING,
    (S.VERIFYING, I.INVALID): S.IDLE,
    (S.VERIFYING, I.NEED_MORE): S.WAIT_FOR_MORE,
    (S.VERIFYING, I.INTERRUPT): S.IDLE,
    (S.ENDING, I.UPGRADE_NOW): S.ACTIVATING,
    (S.ENDING, I.UPGRADE_AT): S.COUNTING_DOWN,
    (S.ENDING, I.UPGRADE_WAIT): S.WAITING_TO_UPGRADE,
    (S.ENDING, I.GIVE_UP): S.WAITING_TO_UPGRADE,
    (S.ENDING, I.INTERRUPT): S.WAITING_TO_UPGRADE,
    (S.WAITING_TO_UPGRADE, I.ASK_AGAIN): S.ENDING,
    (S.WAITING_TO_UPGRADE, I.UPGRADE_NOW): S.ACTIVATING,
    (S.WAITING_TO_UPGRADE, I.UPGRADE_AT): S.COUNTING_DOWN,
    (S.WAITING_TO_UPGRADE, I.UPGRADE_WAIT): S.WAITING_TO_UPGRADE,
    (S.WAITING_TO_UPGRADE, I.INTERRUPT): S.WAITING_TO_UPGRADE,
    (S.COUNTING_DOWN, I.ACTIVATE): S.ACTIVATING,
    (S.COUNTING_DOWN, I.UPGRADE_NOW): S.ACTIVATING,
    (S.COUNTING_DOWN, I.UPGRADE_AT): S.COUNTING_DOWN,
    (S.COUNTING_DOWN, I.UPGRADE_WAIT): S.WAITING_TO_UPGRADE,
    (S.COUNTING_DOWN, I.INTERRUPT): S.WAITING_TO_UPGRADE,
    (S.WAIT_FOR_MORE, I.INTERRUPT): S.IDLE,
    (S.ACTIVATING, I.ACTIVATED): S.IDLE,
}
# A device re-flashed by the lab (the conformance suite's baseline step) starts idle from anywhere.
TRANSITIONS.update({(state, I.RESTORE): S.IDLE for state in OtaState})

#: ImageUpgradeStatus attribute value in each state (ZCL OTA 11.10.7).
UPGRADE_STATUS: dict[OtaState, ImageUpgradeStatus] = {
    S.IDLE: ImageUpgradeStatus.Normal,
    S.QUERYING: ImageUpgradeStatus.Normal,
    S.DOWNLOADING: ImageUpgradeStatus.Download_in_progress,
    S.WAITING_FOR_DATA: ImageUpgradeStatus.Download_in_progress,
    S.VERIFYING: ImageUpgradeStatus.Download_in_progress,
    S.ENDING: ImageUpgradeStatus.Download_complete,
    S.WAITING_TO_UPGRADE: ImageUpgradeStatus.Waiting_to_upgrade,
    S.COUNTING_DOWN: ImageUpgradeStatus.Count_down,
    S.WAIT_FOR_MORE: ImageUpgradeStatus.Wait_for_more,
    S.ACTIVATING: ImageUpgradeStatus.Count_down,
}


class OtaStateError(RuntimeError):
    """An input the state machine does not allow in its current state."""


@dataclass(slots=True)
class ReceivedImage:
    """A complete download as the device holds it: tests assert byte-identical arrival with it."""

    offer: Offer
    data: bytes
    sha256: str
    verdict: Verdict
    #: How the device ended the download (Upgrade End SUCCESS, INVALID_IMAGE, ABORT, ... or nothing).
    end: DownloadEnd

    @property
    def accepted(self) -> bool:
        """Kept for installation (Upgrade End SUCCESS or REQUIRE_MORE_IMAGE)."""
        return self.end in (DownloadEnd.SUCCESS, DownloadEnd.REQUIRE_MORE_IMAGE)


@dataclass(slots=True)
class _Download:
    """The part of a download the device keeps across reboots (its non-volatile memory)."""

    offer: Offer
    data: bytearray = field(default_factory=bytearray)
    #: Page mode: blocks that arrived ahead of the first gap, by offset.
    ahead: dict[int, bytes] = field(default_factory=dict)
    #: Blocks taken in and WAIT_FOR_DATA answers received, for the behaviour's hooks.
    blocks: int = 0
    waits_for_data: int = 0


@dataclass(frozen=True, slots=True)
class _Message:
    name: str
    args: Any
    frame: ZclFrame
    src_ep: int


class OtaClient:
    """OTA client state machine of one device."""

    def __init__(self, device: EmulatedDevice) -> None:
        self._device = device
        self.state = OtaState.IDLE
        self._inbox: asyncio.Queue[_Message] = asyncio.Queue()
        self._session: asyncio.Task[None] | None = None
        self._countdown: asyncio.Task[None] | None = None
        self._download: _Download | None = None
        #: A verified image waiting for activation (ENDING / WAITING_TO_UPGRADE / COUNTING_DOWN).
        self.pending: ReceivedImage | None = None
        #: Every complete download, accepted or not, in order.
        self.received: list[ReceivedImage] = []
        self._last_block_request = float("-inf")
        self._more_images_needed = device.settings.requires_more_images

    # -- state machine --------------------------------------------------------------------------
    def _fire(self, event: OtaInput, **details: Any) -> None:
        try:
            new_state = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise OtaStateError(
                f"{self._device.name}: OTA client in state {self.state.value!r} cannot take input {event.value!r}"
            ) from None
        if new_state is not self.state:
            self._device.events.record("ota_state", old=self.state.value, new=new_state.value, input=event.value, **details)
        self.state = new_state
        self._set_attr(Attr.image_upgrade_status, UPGRADE_STATUS[new_state])

    def _set_attr(self, definition: Any, value: Any) -> None:
        self._device.store.set(OTA, definition.id, value, server=False)

    def _attr(self, definition: Any) -> Any:
        return self._device.store.get(OTA, definition.id, server=False)

    @property
    def transfer_in_progress(self) -> bool:
        return self.state in (S.DOWNLOADING, S.WAITING_FOR_DATA)

    @property
    def file_offset(self) -> int:
        return int(self._attr(Attr.file_offset))

    @property
    def minimum_block_period(self) -> int:
        """The MinimumBlockPeriod attribute's raw value (in the device's unit, ms or s)."""
        return int(self._attr(Attr.minimum_block_req_delay))

    @property
    def minimum_block_period_s(self) -> float:
        return self.minimum_block_period * BLOCK_PERIOD_UNIT_S[self._device.settings.min_block_period_unit]

    # -- inputs from the device ---------------------------------------------------------------
    def query_now(self, reason: QueryReason | str) -> bool:
        """Start a query session (Query Next Image) unless one is running or the behaviour forbids it."""
        reason = QueryReason(reason)
        if not self._device.behaviour.sends_queries(reason):
            self._device.events.record("query_suppressed", reason=reason.value)
            return False
        if self.state not in (S.IDLE, S.WAIT_FOR_MORE) or self._session_running:
            return False
        self._session = self._device.spawn(self._query_session(reason.value), name="ota-session")
        return True

    @property
    def _session_running(self) -> bool:
        return self._session is not None and not self._session.done()

    def on_frame(self, frame: ZclFrame, name: str, args: Any, *, src_ep: int, broadcast: bool) -> bytes | None:
        """A server -> client OTA command; returns a Default Response to send, if the spec asks for one."""
        message = _Message(name, args, frame, src_ep)
        if name == "image_notify":
            self._on_image_notify(args, src_ep=src_ep, broadcast=broadcast)
            return None  # Image Notify is never answered with a Default Response (ZCL OTA 11.13.3.4)
        if name == "upgrade_end_response" and self.state in (S.WAITING_TO_UPGRADE, S.COUNTING_DOWN):
            self._on_upgrade_end_response(args)
        elif self._session_running:
            self._inbox.put_nowait(message)
        else:
            self._device.events.record("ota_ignored", command=name, state=self.state.value)
        if name == "upgrade_end_response" and not frame.default_response_disabled and not broadcast:
            return default_response(frame, Status.SUCCESS)
        return None

    def interrupt(self) -> None:
        """The device is rebooting or leaving: stop the session; keep what NVM would keep."""
        for task in (self._session, self._countdown):
            if task is not None and not task.done():
                task.cancel()
        self._session = self._countdown = None
        if (self.state, I.INTERRUPT) in TRANSITIONS:
            self._fire(I.INTERRUPT)
        while not self._inbox.empty():
            self._inbox.get_nowait()

    def restore(self) -> None:
        """Re-flashed: forget any partial download or pending image and go idle (test control)."""
        self.interrupt()
        self.pending = None
        self._download = None
        self._set_attr(Attr.file_offset, 0)
        self._set_attr(Attr.downloaded_file_version, WILDCARD_32)
        self._set_attr(Attr.minimum_block_req_delay, self._device.settings.min_block_period_ms)
        self._fire(I.RESTORE)

    def after_join(self) -> None:
        """Back on the network: resume a held download, or ask again about a held image."""
        if self.state is S.WAITING_TO_UPGRADE and self.pending is not None:
            self._ask_again("rejoined while waiting to upgrade")
        elif self.state is S.IDLE and self._download is not None and self._download.data:
            self.query_now(QueryReason.RESUME)

    def activated(self) -> None:
        """The device finished the activation reboot (whatever version it now runs)."""
        self.pending = None
        self._download = None
        self._set_attr(Attr.file_offset, 0)
        self._set_attr(Attr.downloaded_file_version, WILDCARD_32)
        self._fire(I.ACTIVATED)

    # -- Image Notify / Upgrade End Response between sessions ------------------------------------
    def _on_image_notify(self, args: Any, *, src_ep: int, broadcast: bool) -> None:
        settings = self._device.settings
        self._device.events.record("image_notify", payload_type=int(args.payload_type), broadcast=broadcast, src_ep=src_ep)
        if not self._device.behaviour.sends_queries(QueryReason.IMAGE_NOTIFY):
            self._device.events.record("query_suppressed", reason=QueryReason.IMAGE_NOTIFY.value)
            return
        if args.manufacturer_code is not None and args.manufacturer_code not in (settings.manufacturer_code, WILDCARD_16):
            return
        if args.image_type is not None and args.image_type not in (settings.image_type, WILDCARD_16):
            return
        if args.new_file_version is not None and args.new_file_version == self._device.running_version:
            return
        # Broadcast notifies are thinned by QueryJitter (ZCL OTA 11.13.3.2); a unicast is always answered.
        if broadcast and self._device.rng.randint(1, 100) > int(args.query_jitter):
            self._device.events.record("image_notify_jittered", query_jitter=int(args.query_jitter))
            return
        self._device.services.learn(OTA, src_ep)  # the notify names the server's endpoint
        if self.state is S.WAITING_TO_UPGRADE:
            self._ask_again("image notify while waiting to upgrade")
        else:
            self.query_now(QueryReason.IMAGE_NOTIFY)

    def _ask_again(self, reason: str) -> None:
        if self._session_running or self.pending is None:
            return
        self._session = self._device.spawn(self._ask_again_session(reason), name="ota-ask-again")

    def _on_upgrade_end_response(self, args: Any) -> None:
        pending = self.pending
        if pending is None or not _matches(args, pending.offer):
            self._device.events.record("upgrade_end_response_ignored", file_version=int(args.file_version))
            return
        current, upgrade = int(args.current_time), int(args.upgrade_time)
        self._device.events.record("upgrade_end_response", current_time=current, upgrade_time=upgrade)
        if self._countdown is not None and not self._countdown.done():
            self._countdown.cancel()
        settings = self._device.settings
        when = UpgradeTime(pending.offer, current, upgrade, _activation_delay_s(current, upgrade, settings.upgrade_min_wait_s))
        delay = self._device.behaviour.upgrade_delay_s(when)
        if delay is None:
            # "Wait for a further command", or a time already past: hold the image, ask again later.
            self._fire(I.UPGRADE_WAIT)
            self._device.events.record("waiting_to_upgrade", file_version=pending.offer.file_version,
                                       ask_again_after_s=settings.upgrade_reask_s)
            self._countdown = self._device.spawn(self._ask_again_later(settings.upgrade_reask_s), name="ota-reask")
            return
        if delay <= 0:
            self._fire(I.UPGRADE_NOW)
            self._device.start_activation(pending)
            return
        self._fire(I.UPGRADE_AT, delay_s=delay)
        scaled = delay * self._device.timings.time_scale
        self._device.events.record("countdown", delay_s=delay, scaled_s=scaled)
        self._countdown = self._device.spawn(self._count_down(scaled, pending), name="ota-countdown")

    async def _ask_again_later(self, delay_s: float) -> None:
        """Told to wait (or given a time already past): re-send Upgrade End Request after ``delay_s``."""
        await asyncio.sleep(delay_s)
        if self.state is S.WAITING_TO_UPGRADE:
            self._ask_again(f"asking again {delay_s:g} s after being told to wait")

    async def _count_down(self, delay_s: float, image: ReceivedImage) -> None:
        await asyncio.sleep(delay_s)
        self._fire(I.ACTIVATE)
        self._device.start_activation(image)

    # -- the session: query, download, verify, end ------------------------------------------------
    async def _query_session(self, reason: str) -> None:
        try:
            offer = await self._query(reason)
            if offer is None:
                return
            data = await self._fetch(offer)
            if data is None:
                return
            await self._verify_and_end(offer, data)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must show in the event log, not vanish in a task
            self._device.events.record("ota_error", error=repr(exc), state=self.state.value)
            raise

    async def _query(self, reason: str) -> Offer | None:
        device, settings = self._device, self._device.settings
        self._fire(I.QUERY, reason=reason)
        for attempt in range(device.timings.request_retries + 1):
            device.events.record(
                "query_sent",
                reason=reason,
                attempt=attempt,
                current_file_version=device.running_version,
                hardware_version=settings.hardware_version,
            )
            self._send(
                "query_next_image",
                field_control=Ota.QueryNextImageCommand.FieldControl.HardwareVersion,
                manufacturer_code=settings.manufacturer_code,
                image_type=settings.image_type,
                current_file_version=device.running_version,
                hardware_version=settings.hardware_version,
            )
            message = await self._receive({"query_next_image_response"}, device.timings.response_timeout_s)
            if message is None:
                continue
            args = message.args
            status = Status(args.status)
            device.events.record(
                "query_response",
                status=status.name,
                manufacturer_code=args.manufacturer_code,
                image_type=args.image_type,
                file_version=args.file_version,
                image_size=args.image_size,
            )
            if status != Status.SUCCESS:
                self._fire(I.NO_IMAGE, status=status.name)
                return None
            offer = Offer(int(args.manufacturer_code), int(args.image_type), int(args.file_version), int(args.image_size))
            foreign = offer.manufacturer_code not in (settings.manufacturer_code, WILDCARD_16) or offer.image_type not in (
                settings.image_type,
                WILDCARD_16,
            )
            if foreign and not device.behaviour.accepts_offer_from_elsewhere():
                device.events.record("offer_ignored", reason="manufacturer code or image type is not the device's own")
                self._fire(I.NO_IMAGE, status="ignored")
                return None
            if offer.image_size == 0:
                device.events.record("offer_ignored", reason="image size 0")
                self._fire(I.NO_IMAGE, status="ignored")
                return None
            if message.src_ep:
                device.services.learn(OTA, message.src_ep)
            self._set_attr(Attr.upgrade_server_id, t.EUI64(device.coordinator_eui64[::-1]))
            self._start_download(offer)
            return offer
        device.events.record("query_unanswered", attempts=device.timings.request_retries + 1)
        self._fire(I.GIVE_UP)
        return None

    def _start_download(self, offer: Offer) -> None:
        held = self._download
        if held is None or held.offer != offer:
            held = self._download = _Download(offer)
        resume_from = len(held.data)
        self._set_attr(Attr.file_offset, resume_from)
        self._set_attr(Attr.downloaded_file_version, offer.file_version)
        self._fire(I.OFFER, file_version=offer.file_version)
        self._device.events.record(
            "download_started", file_version=offer.file_version, image_size=offer.image_size, resume_from=resume_from
        )

    async def _fetch(self, offer: Offer) -> bytes | None:
        if self._device.settings.uses_page_requests:
            return await self._fetch_pages(offer)
        return await self._fetch_blocks(offer)

    async def _fetch_blocks(self, offer: Offer) -> bytes | None:
        device = self._device
        download = self._download
        assert download is not None
        misses = 0
        while len(download.data) < offer.image_size:
            offset = len(download.data)
            await self._respect_minimum_block_period()
            self._send_block_request(offer, offset)
            outcome = await self._await_block(offer, offset)
            if outcome is None:  # no block for this request within the timeout: ask again, or give up
                misses += 1
                if misses > device.timings.request_retries:
                    self._give_up(offset)
                    return None
                continue
            if outcome == "stop":
                return None
            if outcome == "progress":
                misses = 0
        self._fire(I.DOWNLOADED)
        return bytes(download.data)

    async def _await_block(self, offer: Offer, offset: int) -> str | None:
        """The outcome of the block request just sent, None when its timeout passes without one.

        A block for another offset or image (a late answer to an earlier request, say) is ignored
        and the same timeout keeps running, as Silicon Labs' client does (reference §4: a
        wrong-offset block is silently ignored, so the timeout handles it); it is not a reason to
        ask again at once, which would answer every late duplicate with another request.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._device.timings.response_timeout_s
        while True:
            message = await self._receive({"image_block_response"}, deadline - loop.time())
            if message is None:
                return None
            outcome = await self._take_block_response(message.args, offer, expected=offset)
            if outcome != "stale":
                return outcome

    async def _fetch_pages(self, offer: Offer) -> bytes | None:
        device, settings = self._device, self._device.settings
        download = self._download
        assert download is not None
        spacing_s = settings.response_spacing_ms / 1000 * device.timings.time_scale
        silence_s = device.timings.page_timeout_s + spacing_s
        misses = 0
        while len(download.data) < offer.image_size:
            offset = len(download.data)
            page_end = min(offset + settings.page_size, offer.image_size)
            device.events.record("page_requested", offset=offset, page_size=settings.page_size)
            self._send(
                "image_page",
                field_control=0,
                manufacturer_code=offer.manufacturer_code,
                image_type=offer.image_type,
                file_version=offer.file_version,
                file_offset=offset,
                maximum_data_size=settings.max_data_size,
                page_size=settings.page_size,
                response_spacing=settings.response_spacing_ms,
            )
            progressed = told_to_wait = False
            while len(download.data) < page_end:
                message = await self._receive({"image_block_response"}, silence_s)
                if message is None:
                    break  # silence: re-request from the first missing byte
                outcome = await self._take_block_response(message.args, offer, expected=None)
                if outcome == "stop":
                    return None
                if outcome == "retry":
                    told_to_wait = True  # WAIT_FOR_DATA: ask for the page again, it is no failure
                    break
                progressed = progressed or outcome == "progress"
            if progressed or told_to_wait:
                misses = 0
            else:
                misses += 1
                if misses > device.timings.request_retries:
                    self._give_up(len(download.data))
                    return None
            if len(download.data) < page_end:
                device.events.record("page_incomplete", missing_from=len(download.data), page_end=page_end)
        self._fire(I.DOWNLOADED)
        return bytes(download.data)

    def _send_block_request(self, offer: Offer, offset: int) -> None:
        # The last block asks only for what is left of the offered size, as real clients do.
        size = min(self._device.settings.max_data_size, offer.image_size - offset)
        self._last_block_request = self._device.clock()
        self._device.events.record("block_requested", offset=offset, maximum_data_size=size)
        self._send(
            "image_block",
            field_control=Ota.ImageBlockCommand.FieldControl.MinimumBlockPeriod,
            manufacturer_code=offer.manufacturer_code,
            image_type=offer.image_type,
            file_version=offer.file_version,
            file_offset=offset,
            maximum_data_size=size,
            minimum_block_period=self.minimum_block_period,
        )

    async def _respect_minimum_block_period(self) -> None:
        """MinimumBlockPeriod is the least time between two block requests, counted in the device's
        unit: milliseconds (Gecko SDK) or seconds (EmberZNet 5.7), real-device-behaviour.md section 4."""
        period_s = self.minimum_block_period_s * self._device.timings.time_scale
        wait = self._last_block_request + period_s - self._device.clock()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _take_block_response(self, args: Any, offer: Offer, *, expected: int | None) -> str:
        """Apply one Image Block Response: 'progress', 'stale', 'retry' (after WAIT_FOR_DATA) or 'stop'."""
        device = self._device
        download = self._download
        assert download is not None
        status = Status(args.status)
        if status == Status.SUCCESS:
            if (int(args.manufacturer_code), int(args.image_type), int(args.file_version)) != (
                offer.manufacturer_code,
                offer.image_type,
                offer.file_version,
            ):
                device.events.record("block_ignored", reason="for another image", offset=int(args.file_offset))
                return "stale"
            offset, data = int(args.file_offset), bytes(args.image_data)
            if not data or offset + len(data) > offer.image_size or (expected is not None and offset != expected):
                device.events.record("block_ignored", reason="unexpected offset or size", offset=offset, length=len(data))
                return "stale"
            before = len(download.data)
            if offset == before:
                download.data += data
            elif offset > before:
                download.ahead[offset] = data
            while len(download.data) in download.ahead:
                download.data += download.ahead.pop(len(download.data))
            download.ahead = {k: v for k, v in download.ahead.items() if k > len(download.data)}
            if len(download.data) == before:
                return "stale"
            self._fire(I.BLOCK)
            self._set_attr(Attr.file_offset, len(download.data))
            device.events.record("block_received", offset=offset, length=len(data), file_offset=len(download.data))
            download.blocks += 1
            progress = BlockProgress(offer, len(download.data), download.blocks, download.waits_for_data)
            return self._act_on_block(device.behaviour.on_block(progress), offer)
        if status == Status.WAIT_FOR_DATA:
            await self._wait_for_data(args, offer)
            return "retry"
        device.events.record("server_abort", status=status.name, file_offset=len(download.data))
        self._discard()
        self._fire(I.SERVER_ABORT, status=status.name)
        return "stop"

    def _act_on_block(self, action: BlockAction, offer: Offer) -> str:
        """Carry out the behaviour's answer to a block: 'progress', or 'stop' when the download ends here."""
        device = self._device
        if action is BlockAction.CONTINUE:
            return "progress"
        held = len(self._download.data) if self._download is not None else 0
        where = "after the last block" if held >= offer.image_size else "part-way through"
        if action is BlockAction.ABORT:
            self._send_upgrade_end(Status.ABORT, offer)
            self._discard()
            self._fire(I.CLIENT_ABORT, when=where)
        elif action is BlockAction.STOP:
            device.events.record("transfer_dropped", file_offset=held, when=where)
            self._discard()
            self._fire(I.GIVE_UP)
        else:
            transfer = "of an OTA transfer" if where.startswith("after") else "an OTA transfer"
            device.vanish(f"left the HAN {where} {transfer}")
        return "stop"

    async def _wait_for_data(self, args: Any, offer: Offer) -> None:
        device = self._device
        download = self._download
        assert download is not None
        current, request = int(args.current_time), int(args.request_time)
        delay = _upgrade_delay_s(current, request)
        period = int(args.minimum_block_period)
        download.waits_for_data += 1
        wait = WaitForData(offer, download.waits_for_data, len(download.data), current, request, period, delay,
                           device.settings.min_block_period_unit)
        honoured = device.behaviour.honours_wait_for_data(wait)
        device.events.record(
            "wait_for_data", current_time=current, request_time=request, delay_s=delay, minimum_block_period=period,
            unit=device.settings.min_block_period_unit, honoured=honoured, number=wait.number,
        )
        if not honoured:
            return
        self._set_attr(Attr.minimum_block_req_delay, period)
        self._fire(I.WAIT_FOR_DATA, delay_s=delay)
        if delay > 0:
            await asyncio.sleep(delay * device.timings.time_scale)
        self._fire(I.DATA_RESUMED)

    def _give_up(self, offset: int) -> None:
        self._device.events.record("transfer_gave_up", file_offset=offset)
        self._fire(I.GIVE_UP)

    def _discard(self) -> None:
        self._download = None
        self._set_attr(Attr.file_offset, 0)
        self._set_attr(Attr.downloaded_file_version, WILDCARD_32)

    async def _verify_and_end(self, offer: Offer, data: bytes) -> None:
        device, settings = self._device, self._device.settings
        identity = DeviceIdentity(
            manufacturer_code=settings.manufacturer_code,
            image_type=settings.image_type,
            hardware_version=settings.hardware_version,
            eui64=settings.eui64,
            supplier_key_pem=settings.supplier_key_pem(),
            require_signature=settings.require_supplier_signature,
        )
        verdict = check_image(data, offer, identity)
        end = device.behaviour.end_download(CompletedDownload(offer, data, verdict, self._more_images_needed))
        image = ReceivedImage(offer, data, sha256_hex(data), verdict, end)
        self.received.append(image)
        device.events.record(
            "download_complete", file_version=offer.file_version, size=len(data), sha256=image.sha256,
            layout=verdict.layout.value, end=end.value,
        )
        if end is DownloadEnd.INVALID_IMAGE:
            device.events.record("image_invalid", reasons=verdict.describe(), file_version=offer.file_version)
        elif end is DownloadEnd.SUCCESS or end is DownloadEnd.REQUIRE_MORE_IMAGE:
            device.events.record("image_valid", file_version=offer.file_version, problems_overlooked=verdict.describe())
        if end is not DownloadEnd.SUCCESS:
            self._end_without_installing(end, offer)
            return
        self.pending = image
        self._fire(I.VALID)
        await self._end_exchange(image)

    def _end_without_installing(self, end: DownloadEnd, offer: Offer) -> None:
        """Every end of a complete download but SUCCESS: the Upgrade End it sends (if any), then idle."""
        if end is DownloadEnd.REQUIRE_MORE_IMAGE:
            self._more_images_needed = max(0, self._more_images_needed - 1)
            self._send_upgrade_end(Status.REQUIRE_MORE_IMAGE, offer)
            self._download = None
            self._fire(I.NEED_MORE)
            return
        if end is DownloadEnd.INVALID_IMAGE:
            self._send_upgrade_end(Status.INVALID_IMAGE, offer)
        elif end is DownloadEnd.ABORT:
            self._send_upgrade_end(Status.ABORT, offer)
        else:
            self._device.events.record("upgrade_end_withheld", file_version=offer.file_version)
        self._discard()
        self._fire(I.INVALID, end=end.value)

    async def _ask_again_session(self, reason: str) -> None:
        assert self.pending is not None
        self._fire(I.ASK_AGAIN, reason=reason)
        await self._end_exchange(self.pending)

    async def _end_exchange(self, image: ReceivedImage) -> None:
        device = self._device
        for _attempt in range(device.timings.request_retries + 1):
            self._send_upgrade_end(Status.SUCCESS, image.offer)
            message = await self._receive({"upgrade_end_response"}, device.timings.response_timeout_s)
            if message is None:
                continue
            if not _matches(message.args, image.offer):
                device.events.record("upgrade_end_response_ignored", file_version=int(message.args.file_version))
                continue
            self._on_upgrade_end_response(message.args)
            return
        device.events.record("upgrade_end_unanswered")
        self._fire(I.GIVE_UP)

    def _send_upgrade_end(self, status: Status, offer: Offer) -> None:
        self._device.events.record("upgrade_end_sent", status=status.name, file_version=offer.file_version)
        self._send(
            "upgrade_end",
            status=status,
            manufacturer_code=offer.manufacturer_code,
            image_type=offer.image_type,
            file_version=offer.file_version,
        )

    # -- plumbing ------------------------------------------------------------------------------
    def _send(self, command: str, **args: Any) -> None:
        payload = ota_request(self._device.next_tsn(), command, **args)
        self._device.send_zcl(OTA, payload)

    async def _receive(self, names: set[str], timeout: float) -> _Message | None:
        """The next server message with one of ``names``, or None after ``timeout`` of silence."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                message = await asyncio.wait_for(self._inbox.get(), remaining)
            except TimeoutError:
                return None
            if message.name in names:
                return message
            self._device.events.record("ota_ignored", command=message.name, state=self.state.value)


def _matches(args: Any, offer: Offer) -> bool:
    """Upgrade End Response fields match the image, wildcards allowed (ZCL OTA 11.13.9.2)."""
    return (
        int(args.manufacturer_code) in (offer.manufacturer_code, WILDCARD_16)
        and int(args.image_type) in (offer.image_type, WILDCARD_16)
        and int(args.file_version) in (offer.file_version, WILDCARD_32)
    )


def _activation_delay_s(current_time: int, upgrade_time: int, min_wait_s: float) -> float | None:
    """Seconds to wait before applying a downloaded image; None = hold it and ask again later.

    Upgrade time 0 means now (ZCL OTA 11.13.9.6); 0xFFFFFFFF means wait for a further command.
    A concrete time T is waited for T - CurrentTime seconds, at least ``min_wait_s`` (3 s on the
    Silicon Labs client), capped at an hour; a T already past is asked about again later
    (real-device-behaviour.md section 4, ``calculateTimer``).
    """
    if upgrade_time == UPGRADE_TIME_WAIT:
        return None
    if upgrade_time == 0:
        return 0.0
    if current_time == 0:
        delta = float(upgrade_time)  # no real-time clock: the time is an offset
    else:
        delta = float(upgrade_time) - float(current_time)
        if delta < 0:
            return None
    return min(max(delta, min_wait_s), UPGRADE_DELAY_CAP_S)


def _upgrade_delay_s(current_time: int, target_time: int) -> float:
    """Seconds from now until ``target_time`` in the server's clock (ZCL OTA 11.13.9.4).

    With current_time = 0 the server has no real-time clock and ``target_time`` is an offset.
    """
    if current_time == 0:
        return float(target_time)
    return float(max(0, target_time - current_time))
