"""The device's trust-centre keep-alive, as Silicon Labs' optional trust-center-keepalive plugin runs it.

After joining, the device finds the trust centre's Keep-Alive server (Match_Desc to 0x0000 for
cluster 0x0025) and reads Base (0x0000, minutes) and Jitter (0x0001, seconds) with an
APS-encrypted Read Attributes, waiting 5 s for the answer. Both must succeed; the next check is
Base x 60 s plus a random part of Jitter. A timeout, no server or a bad answer counts as a failure;
an error Default Response only clears the wait (the device asks again a few seconds later).
Three failures in a row make it look for its trust centre again with a TC rejoin
(reference/real-device-behaviour.md §5, ``trust-center-keepalive.c``).

The plugin is optional, so a device runs it only when ``DeviceTimings.keep_alive_first_s`` is set
(the delay before its first check; a real device waits Base + Jitter, 2 min + up to 60 s).
Server-dictated waits (Base, Jitter) are scaled by ``DeviceTimings.time_scale``.

Events: ``keep_alive_ok`` (base_min, jitter_s), ``keep_alive_failed`` (failures, reason),
``keep_alive_tc_rejoin``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from zigpy.zcl import foundation

from .zcl import GeneralCommand, general_frame

if TYPE_CHECKING:
    from .device import EmulatedDevice

KEEP_ALIVE = 0x0025
#: Base (minutes) and Jitter (seconds), the Keep-Alive server's attributes.
BASE, JITTER = 0x0000, 0x0001
#: Failures in a row before the device rejoins through its trust centre.
FAILURE_LIMIT = 3
#: The plugin's wait for the read's answer.
READ_TIMEOUT_S = 5.0


class KeepAliveClient:
    def __init__(self, device: EmulatedDevice) -> None:
        self._device = device
        self._answer: asyncio.Future[list[Any] | None] | None = None
        self._tsn: int | None = None
        self._task: asyncio.Task[None] | None = None
        self.failures = 0

    def start(self) -> None:
        device = self._device
        if device.timings.keep_alive_first_s is None or not device.behaviour.runs_keep_alive():
            return
        if self._task is not None and not self._task.done():
            return
        self._task = device.spawn(self._run(device.timings.keep_alive_first_s), name="keep-alive")

    def stop(self) -> None:
        if self._task is not None and not self._task.done() and self._task is not asyncio.current_task():
            self._task.cancel()

    async def _run(self, first_s: float) -> None:
        device = self._device
        await asyncio.sleep(first_s)
        while device.joined:
            next_s = await self.check_once()
            if self.failures >= FAILURE_LIMIT:
                self.failures = 0
                device.events.record("keep_alive_tc_rejoin")
                device.rejoin_through_trust_centre("three trust-centre keep-alive failures")
                return
            await asyncio.sleep(next_s)

    async def check_once(self) -> float:
        """One keep-alive check; returns the delay before the next one."""
        device = self._device
        scale = device.timings.time_scale
        await device.services.discover([KEEP_ALIVE])
        if device.services.endpoint(KEEP_ALIVE) is None:
            return self._failed("no Keep-Alive server found by Match_Desc")
        self._answer = asyncio.get_running_loop().create_future()
        self._tsn = device.next_tsn()
        device.send_zcl(KEEP_ALIVE, general_frame(self._tsn, GeneralCommand.Read_Attributes,
                                                  {"attribute_ids": [BASE, JITTER]},
                                                  direction=foundation.Direction.Client_to_Server))
        try:
            records = await asyncio.wait_for(self._answer, READ_TIMEOUT_S * scale)
        except TimeoutError:
            return self._failed(f"no answer within {READ_TIMEOUT_S:g} s")
        finally:
            self._answer = None
        if records is None:  # an error Default Response: no failure counted, ask again soon
            return READ_TIMEOUT_S * scale
        values = {int(r.attrid): int(r.value.value) for r in records if r.status == foundation.Status.SUCCESS}
        if BASE not in values or JITTER not in values:
            return self._failed("Base and Jitter were not both read successfully")
        self.failures = 0
        device.events.record("keep_alive_ok", base_min=values[BASE], jitter_s=values[JITTER])
        return (values[BASE] * 60 + device.rng.uniform(0, values[JITTER])) * scale

    def _failed(self, reason: str) -> float:
        self.failures += 1
        self._device.events.record("keep_alive_failed", failures=self.failures, reason=reason)
        return READ_TIMEOUT_S * self._device.timings.time_scale

    def on_response(self, tsn: int, records: list[Any]) -> None:
        if self._answer is not None and not self._answer.done() and tsn == self._tsn:
            self._answer.set_result(records)

    def on_error_default_response(self, tsn: int) -> None:
        if self._answer is not None and not self._answer.done() and tsn == self._tsn:
            self._answer.set_result(None)
