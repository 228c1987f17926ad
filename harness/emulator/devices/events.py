"""What an emulated device did, as a timeline tests can await instead of sleeping.

Every notable step (joined, block_requested, activated, tenancy_read, ...) is appended as a
:class:`DeviceEvent`. ``await log.wait_for("activated")`` returns the first matching event at or
after a mark, so a test takes a mark, triggers something, and awaits -- nothing is missed even if
the event happens before the await starts. All methods run on the emulator's event loop.

Event names a device records (details in brackets):

* link: ``link_state`` (old, new, input), ``join_attempt``, ``join_denied``, ``join_key_mismatch``,
  ``joined`` / ``rejoined`` (nwk), ``announced``, ``left`` (rejoin), ``left_han`` (reason),
  ``rebooting`` (activation), ``rebooted`` (running_version), ``install_code_unusable``
* interview / ZCL: ``zdo_request`` (cluster), ``read_attributes`` (cluster, side, attributes),
  ``write_attributes``, ``report_received``, ``default_response``, ``malformed_frame``,
  ``aps_undecryptable`` (cluster, held: where the key the device holds came from)
* OTA: ``image_notify``, ``query_sent``, ``query_suppressed``, ``query_response`` (status, ...),
  ``query_unanswered``, ``offer_ignored`` (reason), ``download_started`` (file_version,
  image_size, resume_from), ``block_requested`` (offset, maximum_data_size), ``page_requested``,
  ``page_incomplete``, ``block_received`` (offset, length, file_offset), ``block_ignored``,
  ``wait_for_data`` (delay_s, minimum_block_period, unit, honoured), ``server_abort``,
  ``transfer_gave_up`` (file_offset), ``download_complete`` (sha256, size, layout),
  ``image_valid`` / ``image_invalid`` (reasons), ``upgrade_end_sent`` (status),
  ``upgrade_end_response`` (current_time, upgrade_time), ``waiting_to_upgrade`` (ask_again_after_s), ``countdown``
  (delay_s), ``activated`` (previous_version, running_version, reported_version),
  ``activation_failed``, ``ota_state`` (old, new, input), ``ota_ignored``, ``ota_error``
* tenancy: ``tenancy_read_sent``, ``tenancy_read`` (reason, values, unsupported),
  ``tenancy_read_unanswered``, ``tenancy_read_suppressed``
* other: ``behaviour_changed`` (old, new), ``send_skipped``, ``send_failed``, ``error`` (task, error)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """One step: loop time (s), a short snake_case name, and details (never secrets)."""

    time: float
    name: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Any]:  # allows ``t, name, details = event``
        return iter((self.time, self.name, self.details))


Predicate = Callable[[DeviceEvent], bool]


class EventTimeout(TimeoutError):
    """A waited-for event did not happen; the message lists what did, to make the failure readable."""


class EventLog:
    """Append-only list of DeviceEvent with awaitable waiters."""

    def __init__(self, owner: str, clock: Callable[[], float]) -> None:
        self._owner = owner
        self._clock = clock
        self._events: list[DeviceEvent] = []
        self._waiters: list[tuple[str, Predicate | None, asyncio.Future[DeviceEvent]]] = []

    # -- list-like view -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[DeviceEvent]:
        return iter(list(self._events))

    def __getitem__(self, index: int) -> DeviceEvent:
        return self._events[index]

    def names(self) -> list[str]:
        return [event.name for event in self._events]

    def named(self, name: str) -> list[DeviceEvent]:
        return [event for event in self._events if event.name == name]

    def mark(self) -> int:
        """An index to pass as ``since=``: only events recorded after this call will match."""
        return len(self._events)

    # -- recording ------------------------------------------------------------------------------
    def record(self, name: str, **details: Any) -> DeviceEvent:
        event = DeviceEvent(self._clock(), name, details)
        self._events.append(event)
        still_waiting = []
        for wanted, predicate, future in self._waiters:
            if future.done():
                continue
            if wanted == name and (predicate is None or predicate(event)):
                future.set_result(event)
            else:
                still_waiting.append((wanted, predicate, future))
        self._waiters = still_waiting
        return event

    # -- waiting --------------------------------------------------------------------------------
    def find(self, name: str, *, where: Predicate | None = None, since: int = 0) -> DeviceEvent | None:
        for event in self._events[since:]:
            if event.name == name and (where is None or where(event)):
                return event
        return None

    async def wait_for(
        self, name: str, *, where: Predicate | None = None, since: int = 0, timeout: float | None = 10.0
    ) -> DeviceEvent:
        """The first ``name`` event at index >= ``since`` (already recorded or still to come)."""
        found = self.find(name, where=where, since=since)
        if found is not None:
            return found
        future: asyncio.Future[DeviceEvent] = asyncio.get_running_loop().create_future()
        self._waiters.append((name, where, future))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            recent = ", ".join(self.names()[since:][-15:]) or "nothing"
            raise EventTimeout(
                f"{self._owner}: no {name!r} event within {timeout} s; recorded since mark: {recent}"
            ) from None
        finally:
            future.cancel()
