"""GBCS firmware alerts the harness records: the CH's own CCS08, and the device's CS09 facts.

Codes and payload fields are from DCC's gbcs-parser and the RTDS vectors (domain-notes §1.4):

* CCS08 "Firmware Transfer Alert" (message code 0x0128), raised by the CH: alert 0x8F8A on
  success, 0x8F89 on failure, with an entity EUI-64 (the target device), the firmware version and
  a response code (0 Success, 1 Image Discarded, 2 Hardware Version Mismatch, 3 File Transfer
  Failure).
* CS09 "PPMID Firmware Activation Alert" (alert 0x8F8B): the device says which version it now
  runs and whether activation succeeded. On a real installation it travels to the supplier, not
  to the CH, so the harness *observes the fact* from the device (a Query Next Image carrying the
  new version, or a read of the OTA client's CurrentFileVersion) and says which it was.

What the CH raises is derived from what the device did (the OTA session's outcome); no alert is
ever invented from a test's expectations.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from harness.evidence import AlertRecord, TransferOutcome
from harness.gbcs.codes import (
    ALERT_CCS08_FAIL,
    ALERT_CCS08_SUCCESS,
    ALERT_CS09_ACTIVATION,
    ALERT_NAMES,
    CCS08_RESPONSES,
    CS09_RESULTS,
)
from harness.hub.gbcs_messages import ChAlertSigner
from harness.hub.images import Refusal


@dataclass(frozen=True, slots=True)
class AlertCode:
    code: int
    use_case: str
    name: str
    short: str  # for tables: "CCS08 SUCCESS"


CCS08_SUCCESS = AlertCode(ALERT_CCS08_SUCCESS, "CCS08", ALERT_NAMES[ALERT_CCS08_SUCCESS], "CCS08 SUCCESS")
CCS08_FAIL = AlertCode(ALERT_CCS08_FAIL, "CCS08", ALERT_NAMES[ALERT_CCS08_FAIL], "CCS08 FAIL")
CS09_ACTIVATION = AlertCode(ALERT_CS09_ACTIVATION, "CS09", ALERT_NAMES[ALERT_CS09_ACTIVATION], "CS09 activation")

ALERT_CODES: dict[int, AlertCode] = {a.code: a for a in (CCS08_SUCCESS, CCS08_FAIL, CS09_ACTIVATION)}

CH = "CH"


def alert_label(code: int, *, short: bool = False) -> str:
    """``0x8F8A CCS08 Firmware transfer alert SUCCESS`` (or ``0x8F8A CCS08 SUCCESS`` when short)."""
    known = ALERT_CODES.get(code)
    if known is None:
        return f"0x{code:04X} (unknown alert)"
    return f"0x{code:04X} {known.short}" if short else f"0x{code:04X} {known.use_case} {known.name}"


def derive_ccs08(
    *,
    outcome: TransferOutcome,
    refusal: Refusal | None,
    reason: str,
    device_eui64: str,
    image_version: int,
    t: float,
) -> AlertRecord | None:
    """The CCS08 alert the CH raises for a transfer that ended as ``outcome``; None if none is due.

    TRANSFERRED -> 0x8F8A/0. REFUSED -> 0x8F89 with the refusal's code (2 hardware mismatch, 1
    image discarded). FAILED or STALLED -> 0x8F89/3. A transfer still running, or stopped by the CH
    itself (test teardown), raises nothing: the device did nothing to report.
    """
    if outcome is TransferOutcome.TRANSFERRED:
        return _ccs08(CCS08_SUCCESS, 0, device_eui64, image_version, t,
                      "derived by the CH: Upgrade End Request SUCCESS after the whole image was served", reason)
    if outcome is TransferOutcome.REFUSED and refusal is not None:
        return _ccs08(CCS08_FAIL, refusal.ccs08_response_code, device_eui64, image_version, t,
                      f"derived by the CH: {refusal.value}", reason)
    if outcome in (TransferOutcome.FAILED, TransferOutcome.STALLED):
        how = "device ended the transfer with an error" if outcome is TransferOutcome.FAILED else \
            "device stopped requesting blocks past the stall timeout"
        return _ccs08(CCS08_FAIL, 3, device_eui64, image_version, t, f"derived by the CH: {how}", reason)
    return None


def _ccs08(kind: AlertCode, response: int, eui64: str, version: int, t: float, how: str, detail: str) -> AlertRecord:
    return AlertRecord(
        code=kind.code,
        name=kind.name,
        use_case=kind.use_case,
        raised_by=CH,
        entity_eui64=eui64,
        firmware_version=version,
        time=t,
        observed_how=how,
        response_code=response,
        detail=f"response {response} {CCS08_RESPONSES[response]}" + (f": {detail}" if detail else ""),
    )


def derive_cs09(
    *,
    device: str,
    device_eui64: str,
    expected_version: int,
    running_version: int,
    observed_how: str,
    t: float,
    previous_version: int | None = None,
) -> AlertRecord:
    """The CS09 facts after activation: success when the device runs the image it was sent.

    A failure says which one it is: the previous version still runs, or the device reports a
    version that is neither the previous nor the offered one.
    """
    result = 0 if running_version == expected_version else 1
    if result == 0:
        detail = f"running 0x{running_version:08X}"
    elif previous_version is None or running_version == previous_version:
        detail = f"the previous version 0x{running_version:08X} still runs, expected 0x{expected_version:08X}"
    else:
        detail = (f"reports 0x{running_version:08X}, neither the previous 0x{previous_version:08X} "
                  f"nor the offered 0x{expected_version:08X}")
    return AlertRecord(
        code=CS09_ACTIVATION.code,
        name=CS09_ACTIVATION.name,
        use_case=CS09_ACTIVATION.use_case,
        raised_by=device,
        entity_eui64=device_eui64,
        firmware_version=running_version,
        time=t,
        observed_how=observed_how,
        activation_result=result,
        detail=f"activation {CS09_RESULTS[result]}: {detail}",
    )


class AlertLog:
    """Every alert of a run, in the order raised, with awaitable arrival.

    ``wait_for`` registers its waiter before returning the awaitable, so a test can set up the
    wait, trigger the action, and then await -- never miss an alert that arrives in between.
    """

    def __init__(self, clock: Callable[[], float] = time.time, ch_signer: ChAlertSigner | None = None) -> None:
        self._records: list[AlertRecord] = []
        #: Writes each CCS08 the CH raises as the signed GBCS message it would send.
        self.ch_signer = ch_signer or ChAlertSigner.test_only()
        self._waiters: list[tuple[Callable[[AlertRecord], bool], asyncio.Future[AlertRecord]]] = []
        self._listeners: list[Callable[[AlertRecord], None]] = []
        self._clock = clock

    def __iter__(self) -> Iterator[AlertRecord]:
        return iter(list(self._records))

    def __len__(self) -> int:
        return len(self._records)

    @property
    def records(self) -> tuple[AlertRecord, ...]:
        return tuple(self._records)

    def add_listener(self, fn: Callable[[AlertRecord], None]) -> None:
        self._listeners.append(fn)

    def for_entity(self, eui64: str, *, device: str | None = None) -> list[AlertRecord]:
        """Alerts about one device: raised by the CH for it, or observed from it."""
        return [
            r for r in self._records
            if r.entity_eui64 == eui64 or (device is not None and r.raised_by == device)
        ]

    def since(self, t: float) -> list[AlertRecord]:
        return [r for r in self._records if r.time >= t]

    def add(self, record: AlertRecord) -> None:
        self._records.append(record)
        for fn in list(self._listeners):
            fn(record)
        for entry in list(self._waiters):
            match, future = entry
            if not future.done() and match(record):
                future.set_result(record)
        self._waiters = [(m, f) for m, f in self._waiters if not f.done()]

    def extend(self, records: Iterable[AlertRecord]) -> None:
        for r in records:
            self.add(r)

    def wait_for(self, match: Callable[[AlertRecord], bool], *, include_past: bool = False) -> asyncio.Future[AlertRecord]:
        """A future resolved by the first alert (from now on, or already logged) that matches."""
        future: asyncio.Future[AlertRecord] = asyncio.get_running_loop().create_future()
        if include_past:
            for r in self._records:
                if match(r):
                    future.set_result(r)
                    return future
        self._waiters.append((match, future))
        return future
