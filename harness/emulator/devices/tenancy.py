"""SECMP0056 client side: the device reads change-of-tenancy data from the CH's GPF.

A device reads the GPF's Device Management (0x0708) tenancy attributes after every join or rejoin,
whenever the CH reports or writes Device Management attributes to it (how the GPF signals a change
of tenancy), and, if configured, periodically. The harness-as-CH serves these attributes and
checks that the read happened (domain-notes §2: the exact list is not known, so it comes from
the profile).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from zigpy.zcl import foundation

from .behaviours import ReadReason
from .settings import DEVICE_MANAGEMENT
from .zcl import Direction, GeneralCommand, Status, general_frame

if TYPE_CHECKING:
    from .device import EmulatedDevice


class TenancyReader:
    """Reads the tenancy attributes from the GPF endpoint and remembers the last values."""

    def __init__(self, device: EmulatedDevice) -> None:
        self._device = device
        self._task: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._responses: asyncio.Queue[list[foundation.ReadAttributeRecord]] = asyncio.Queue()
        #: attribute id -> value from the last successful read (unsupported ones are left out).
        self.values: dict[int, Any] = {}

    def read_now(self, reason: ReadReason | str) -> bool:
        """Start a read unless one is running or the behaviour does not read for this reason."""
        device = self._device
        reason = ReadReason(reason)
        if not device.behaviour.reads_tenancy(reason):
            device.events.record("tenancy_read_suppressed", reason=reason.value)
            return False
        if self._task is not None and not self._task.done():
            return False
        self._task = device.spawn(self._read(reason.value), name="tenancy-read")
        return True

    def start_polling(self) -> None:
        period = self._device.timings.tenancy_poll_s
        if period and (self._poller is None or self._poller.done()):
            self._poller = self._device.spawn(self._poll(period), name="tenancy-poll")

    def stop(self) -> None:
        for task in (self._task, self._poller):
            if task is not None and not task.done():
                task.cancel()
        self._task = self._poller = None

    def on_response(self, records: list[foundation.ReadAttributeRecord]) -> None:
        self._responses.put_nowait(records)

    async def _poll(self, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            self.read_now(ReadReason.POLL)

    async def _read(self, reason: str) -> None:
        device = self._device
        attributes = list(device.settings.tenancy_attributes)
        while not self._responses.empty():
            self._responses.get_nowait()
        for attempt in range(device.timings.request_retries + 1):
            device.events.record("tenancy_read_sent", reason=reason, attempt=attempt, attributes=attributes)
            payload = general_frame(
                device.next_tsn(),
                GeneralCommand.Read_Attributes,
                {"attribute_ids": attributes},
                direction=Direction.Client_to_Server,
                disable_default_response=False,
            )
            device.send_zcl(DEVICE_MANAGEMENT, payload)
            try:
                records = await asyncio.wait_for(self._responses.get(), device.timings.response_timeout_s)
            except TimeoutError:
                continue
            values = {int(r.attrid): r.value.value for r in records if r.status == Status.SUCCESS and r.value is not None}
            unsupported = [int(r.attrid) for r in records if r.status != Status.SUCCESS]
            self.values.update(values)
            device.events.record("tenancy_read", reason=reason, values=values, unsupported=unsupported)
            return
        device.events.record("tenancy_read_unanswered", reason=reason)
