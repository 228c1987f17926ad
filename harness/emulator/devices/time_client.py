"""The device's time source: Smart Energy registration's ESI discovery and time read, as a real SE device does them.

A device whose registration needs an ESI (``DeviceSettings.needs_esi``: it has a Price, DRLC or
Messaging client, as a full IHD does) first finds one with a broadcast Match_Desc for the DRLC server;
three failures abort registration, and then no time is read either.

After key establishment, Silicon Labs' smart-energy-registration plugin finds the Time servers
(Match_Desc for Time 0x000A), reads Time, TimeStatus, LastSetTime and ValidUntilTime from each with
an APS-encrypted Read Attributes, and takes the time only from a server whose Time is not
0xFFFFFFFF and whose TimeStatus has Master or Synchronized set (reference/real-device-behaviour.md
§3, step 6). No valid source is a registration error. The read repeats with ESI discovery (3 h on
a real device; ``DeviceTimings.time_resync_s`` here).

Events: ``time_read_sent``, ``time_set`` (utc, status), ``time_source_refused`` (problem),
``time_read_unanswered``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from zigpy.zcl import foundation

from .settings import TIME
from .zcl import GeneralCommand, general_frame

if TYPE_CHECKING:
    from .device import EmulatedDevice

#: Time cluster attributes registration reads (ZCL 3.12.2.2).
TIME_ATTRIBUTES = (0x0000, 0x0001, 0x0008, 0x0009)
#: TimeStatus bits that make a server a valid time source: Master (bit 0) and Synchronized (bit 1).
MASTER, SYNCHRONIZED = 0x01, 0x02
#: Demand Response and Load Control: the server cluster ESI discovery looks for.
DRLC = 0x0701
#: Errors in one registration step before registration is aborted.
ERROR_LIMIT = 3
#: Time 0xFFFFFFFF: "not set".
INVALID_TIME = 0xFFFFFFFF


def time_source_problem(records: list[Any]) -> str | None:
    """Why these Read Attributes records do not make a valid time source, or None."""
    values = {int(r.attrid): r.value.value for r in records if r.status == foundation.Status.SUCCESS}
    if 0x0000 not in values or 0x0001 not in values:
        return "Time and TimeStatus were not both read successfully"
    if int(values[0x0000]) == INVALID_TIME:
        return "Time is 0xFFFFFFFF (not set)"
    if not int(values[0x0001]) & (MASTER | SYNCHRONIZED):
        return f"TimeStatus 0x{int(values[0x0001]):02X} has neither Master nor Synchronized set"
    return None


class TimeClient:
    """Reads the CH's time after registration and keeps the device's clock from it."""

    def __init__(self, device: EmulatedDevice) -> None:
        self._device = device
        self._answer: asyncio.Future[list[Any]] | None = None
        self._tsn: int | None = None
        self._poller: asyncio.Task[None] | None = None
        #: The UTC time (ZCL epoch) the CH gave, and the device clock when it was taken.
        self.synchronised: tuple[int, float] | None = None

    def start(self) -> None:
        """After registration (CBKE) completes: read now, then periodically if configured."""
        device = self._device
        if not device.behaviour.reads_time():
            return
        if self._poller is None or self._poller.done():
            self._poller = device.spawn(self._run(), name="time-read")

    def stop(self) -> None:
        if self._poller is not None and not self._poller.done() and self._poller is not asyncio.current_task():
            self._poller.cancel()

    async def _run(self) -> None:
        device = self._device
        while device.joined:
            if device.settings.needs_esi and not await self.find_esi():
                return  # registration aborted: no ESI, so no time read either
            await self.read_once()
            period = device.timings.time_resync_s
            if period is None:
                return
            await asyncio.sleep(period)

    async def find_esi(self) -> bool:
        """ESI discovery (an IHD's registration step): a broadcast Match_Desc for the DRLC server.
        Finding none is a registration error; three abort registration (reference §3)."""
        device = self._device
        for attempt in range(1, ERROR_LIMIT + 1):
            endpoint = await device.services.find_by_broadcast(DRLC)
            if endpoint is not None:
                device.events.record("esi_found", endpoint=endpoint)
                return True
            device.events.record("registration_error", step="esi_discovery", errors=attempt)
        device.events.record("registration_aborted", reason="no ESI (DRLC server) answered Match_Desc")
        return False

    async def read_once(self) -> bool:
        """One time read from the Time server found by Match_Desc; True when the time was taken."""
        device = self._device
        await device.services.discover([TIME])
        if device.services.endpoint(TIME) is None:
            device.events.record("time_source_refused", problem="no Time server found by Match_Desc")
            return False
        for _attempt in range(device.timings.request_retries + 1):
            self._answer = asyncio.get_running_loop().create_future()
            self._tsn = device.next_tsn()
            device.events.record("time_read_sent")
            device.send_zcl(TIME, general_frame(self._tsn, GeneralCommand.Read_Attributes,
                                                {"attribute_ids": list(TIME_ATTRIBUTES)},
                                                direction=foundation.Direction.Client_to_Server))
            try:
                records = await asyncio.wait_for(self._answer, device.timings.response_timeout_s)
            except TimeoutError:
                continue
            finally:
                self._answer = None
            problem = time_source_problem(records)
            if problem is not None:
                device.events.record("time_source_refused", problem=problem)
                return False
            values = {int(r.attrid): r.value.value for r in records}
            self.synchronised = (int(values[0x0000]), device.clock())
            device.events.record("time_set", utc=int(values[0x0000]), status=int(values[0x0001]))
            return True
        device.events.record("time_read_unanswered")
        return False

    def on_response(self, tsn: int, records: list[Any]) -> None:
        """A Read Attributes Response on the Time cluster."""
        if self._answer is not None and not self._answer.done() and tsn == self._tsn:
            self._answer.set_result(records)
