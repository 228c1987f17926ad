"""The CS09 an emulated PPMID sends after activating an image: built, signed with its own key.

A PPMID originates and signs CS09 "PPMID Firmware Activation Alert" itself (alert 0x8F8B,
message code 0x012B; RTDS 4.5.0 ``NA_CS09/CS09_NA_8F8B_ALERT_GBCS.HEX``, where the originator is
the PPMID and the recipient the Access Control Broker); the CH only relays it over the GBCS
tunnel (reference/chf-and-gbcs-alerts.md §2b, §4). The payload says which firmware version the
device now runs and whether activation succeeded (0 success, 1 failure).

What the device would say is first a :class:`Cs09Draft`, so that a defect (behaviours.py) can
change exactly one thing about it -- send none, name the wrong version, reuse a counter, spoil
the signature, or speak before the image runs -- and :func:`build_cs09` turns the draft into the
signed bytes. The originator counter only goes up on a conformant device: it starts from the
wall clock in milliseconds (a device keeps its counter across reboots; a fresh emulated device
must still never go below what an earlier run of it sent).
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from harness.gbcs import (
    ALERT_CS09_ACTIVATION,
    CraFlag,
    FirmwareActivationAlert,
    SigningHeader,
    build,
    version_bytes,
)
from harness.gbcs.codes import RTDS_ACCESS_CONTROL_BROKER
from harness.secret import Secret

from .signing import SigningAuthority, SigningCredentials, default_authority

if TYPE_CHECKING:
    from .device import EmulatedDevice


class Cs09Moment(enum.Enum):
    AFTER_ACTIVATION = "after_activation"  # once the device has rebooted into the new image (conformant)
    BEFORE_REBOOT = "before_reboot"  # as soon as it is told to activate, before the image has run


@dataclass(frozen=True, slots=True)
class Cs09Draft:
    """What the device's CS09 will say, before it is signed."""

    firmware_version: int  # the version the alert names
    activation_result: int  # activateImage: 0 success, 1 failure
    originator_counter: int
    execution_time: datetime
    previous_version: int  # what the device ran before this activation (for defects that name it)
    moment: Cs09Moment = Cs09Moment.AFTER_ACTIVATION
    signature_valid: bool = True


def build_cs09(draft: Cs09Draft, *, originator: bytes, key: Secret,
               recipient: bytes = RTDS_ACCESS_CONTROL_BROKER) -> bytes:
    """The signed General Signing message for ``draft``, from the device ``originator`` (its EUI-64).

    A draft with ``signature_valid=False`` is signed and then has one signature bit flipped: the
    message still decodes, and only verification tells.
    """
    header = SigningHeader(CraFlag.ALERT, draft.originator_counter, originator, recipient)
    payload = FirmwareActivationAlert(
        alert_code=ALERT_CS09_ACTIVATION,
        execution_time=draft.execution_time.replace(microsecond=0),
        firmware_version=version_bytes(draft.firmware_version),
        activation_result=draft.activation_result,
    )
    data = build(header, payload, key).encode()
    if not draft.signature_valid:
        data = data[:-1] + bytes([data[-1] ^ 0x01])
    return data


class AlertOriginator:
    """A device's side of its own GBCS alerts: its originator counter and its drafts."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        #: The counter of the last alert this device sent (None: it has sent none yet).
        self.last_counter: int | None = None

    def next_counter(self) -> int:
        floor = int(self._clock() * 1000)
        return floor if self.last_counter is None else max(self.last_counter + 1, floor)

    def sent(self, draft: Cs09Draft) -> None:
        """Remember the counter the device used (a replayed one does not move it back)."""
        if self.last_counter is None or draft.originator_counter > self.last_counter:
            self.last_counter = draft.originator_counter

    def draft(self, *, offered: int, running: int, previous: int) -> Cs09Draft:
        """The conformant CS09 after activation: success when the device runs the offered image."""
        succeeded = running == offered
        return Cs09Draft(
            firmware_version=running,
            activation_result=0 if succeeded else 1,
            originator_counter=self.next_counter(),
            execution_time=datetime.fromtimestamp(self._clock(), UTC),
            previous_version=previous,
        )


def replayed(draft: Cs09Draft, last_counter: int | None) -> Cs09Draft:
    """``draft`` carrying the counter of the device's previous alert (its own, if it sent none)."""
    return draft if last_counter is None else dataclasses.replace(draft, originator_counter=last_counter)


class Cs09Sender:
    """A PPMID's CS09s: drafted at activation, shaped by the behaviour, signed, queued for the tunnel.

    Each signed CS09 is kept in :attr:`outbox` (every one the device ever sent, and recorded as a
    ``cs09_ready`` event) and handed to the device's tunnel server, which sends it to the CH as
    TransferData once a tunnel is open and the device is on the network.
    """

    def __init__(self, device: EmulatedDevice, *, authority: SigningAuthority | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._device = device
        self._authority = authority
        self.originator = AlertOriginator(clock)
        self.outbox: list[bytes] = []
        self._alerted_early = False

    @property
    def credentials(self) -> SigningCredentials:
        """The device's digital-signing key and certificate (from the emulator's test CA)."""
        return (self._authority or default_authority()).credentials(self._device.eui64)

    @property
    def _sends_cs09(self) -> bool:
        return self._device.settings.role == "PPMID"  # HCALCS report activation with CS06, IHDs not at all

    def activation_started(self, *, offered: int, running: int) -> None:
        """Told to activate ``offered``: only a device that alerts before the image runs speaks now."""
        self._alerted_early = False
        if not self._sends_cs09:
            return
        hopeful = self.originator.draft(offered=offered, running=offered, previous=running)
        draft = self._device.behaviour.cs09(hopeful, self.originator.last_counter)
        if draft is not None and draft.moment is Cs09Moment.BEFORE_REBOOT:
            self._send(draft)
            self._alerted_early = True

    def activated(self, *, offered: int, running: int, previous: int) -> None:
        """Rebooted after an activation: alert which version now runs (unless already alerted)."""
        if not self._sends_cs09 or self._alerted_early:
            return
        conformant = self.originator.draft(offered=offered, running=running, previous=previous)
        draft = self._device.behaviour.cs09(conformant, self.originator.last_counter)
        if draft is None:
            self._device.events.record("cs09_withheld", running_version=running)
        elif draft.moment is Cs09Moment.AFTER_ACTIVATION:
            self._send(draft)

    def _send(self, draft: Cs09Draft) -> None:
        data = build_cs09(draft, originator=self._device.eui64, key=self.credentials.private_key)
        self.originator.sent(draft)
        self.outbox.append(data)
        self._device.events.record(
            "cs09_ready", counter=draft.originator_counter, firmware_version=draft.firmware_version,
            activation_result=draft.activation_result, moment=draft.moment.value, size=len(data),
        )
        self._device.tunnel.send(data)
