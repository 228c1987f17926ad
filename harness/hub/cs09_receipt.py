"""A PPMID's own CS09, received over the GBCS tunnel: decoded, verified, held to its rules.

A PPMID originates and signs CS09 "PPMID Firmware Activation Alert" itself (alert 0x8F8B, message
code 0x012B; RTDS 4.5.0 ``NA_CS09/CS09_NA_8F8B_ALERT_GBCS.HEX``, reference/chf-and-gbcs-alerts.md
§2b) and the CH relays it. What the harness receives is therefore the one alert of the sequence
that is really about the device, and it is judged here, message by message:

* the bytes decode as a General Signing alert with message code 0x012B;
* the signature verifies with the device's signing certificate named in the rig;
* the originator is the device's own EUI-64;
* the originator counter is above every counter the device sent before in this run (a replayed
  alert is refused by its recipient, GBCS 4.3.1);
* the alert code is 0x8F8B;
* its execution date-time is not later than its arrival (beyond :data:`CLOCK_TOLERANCE_S`: the
  device takes its time from the CH's Time server, so the two clocks agree).

The firmware version, the activation result and the time window depend on the transfer, so the
alert-sequence check (``sequence_check``) and the OTA server's activation watch judge those. Every
message becomes evidence whatever it holds: a message that does not decode is kept as hex with
its one-line error, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.evidence import AlertRecord, CheckRecord, Outcome
from harness.gbcs import (
    ALERT_CS09_ACTIVATION,
    ALERT_NAMES,
    MESSAGE_CODE_CS09,
    CraFlag,
    FirmwareActivationAlert,
    GbcsError,
    decode,
)

SOURCE = ("GBCS CS09 (alert 0x8F8B, message code 0x012B): RTDS 4.5.0 NA_CS09 vector; General Signing "
          "(reference/chf-and-gbcs-alerts.md §2b)")
RULE = ("the device's CS09 decodes (General Signing, message code 0x012B), its signature verifies with the "
        "device's signing certificate, the originator is the device's EUI-64, the originator counter is above "
        "every earlier one, and the alert code is 0x8F8B")


#: How far a device's clock may run ahead of the CH's before its alert's date-time is refused.
CLOCK_TOLERANCE_S = 300.0


class CertificateError(ValueError):
    """A signing certificate file that cannot be read or parsed; the message names the file."""


def load_signing_certificate(path: Path) -> bytes:
    """The public key (PEM) of the X.509 certificate (PEM or DER) in ``path``; one-line error otherwise."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CertificateError(f"{path}: cannot read the signing certificate: {exc.strerror or exc}") from None
    try:
        certificate = (x509.load_pem_x509_certificate(raw) if b"-----BEGIN" in raw
                       else x509.load_der_x509_certificate(raw))
    except ValueError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CertificateError(f"{path}: not an X.509 certificate (PEM or DER): {first}") from None
    return certificate.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True, slots=True)
class Cs09Receipt:
    """One message received from a device over its tunnel, and the verdict on it.

    ``alert`` is the CS09 as an alert record when the message decodes as one (even when a rule
    fails: the sequence check then sees what the device said); ``problems`` lists the rules broken.
    """

    device: str
    hex: str
    time: float
    alert: AlertRecord | None
    problems: tuple[str, ...]
    counter: int | None = None
    executed: float | None = None  # the alert's execution date-time (POSIX seconds)

    @property
    def valid(self) -> bool:
        return self.alert is not None and not self.problems

    def evidence(self) -> CheckRecord:
        if self.alert is None:
            observed = f"{len(self.hex) // 2} bytes that are no CS09: {self.problems[0]}"
        elif self.problems:
            observed = f"CS09 counter {self.counter}: " + "; ".join(self.problems)
        else:
            observed = f"CS09 counter {self.counter}: {self.alert.detail}"
        return CheckRecord(
            name="CS09 received over the GBCS tunnel", device=self.device, rule=RULE, observed=observed,
            outcome=Outcome.PASS if self.valid else Outcome.FAIL, source=SOURCE, confidence="medium",
            detail=f"message (hex): {self.hex}",
        )


@dataclass
class Cs09Inbox:
    """Judges each message a device sends over its tunnel; remembers its highest counter.

    ``public_key`` is the device's signing key from its certificate, or None with ``key_problem``
    saying why not (no certificate named, or one that does not parse): every CS09 then fails the
    signature rule with that reason.
    """

    device: str
    eui64: bytes
    public_key: bytes | None
    key_problem: str = ""
    highest_counter: int | None = None
    receipts: list[Cs09Receipt] = field(default_factory=list)

    def receive(self, data: bytes, *, t: float) -> Cs09Receipt:
        receipt = self._judge(bytes(data), t)
        self.receipts.append(receipt)
        return receipt

    def _judge(self, data: bytes, t: float) -> Cs09Receipt:
        try:
            message = decode(data).message
        except GbcsError as exc:
            return Cs09Receipt(self.device, data.hex().upper(), t, None, (str(exc),))
        if message.message_code != MESSAGE_CODE_CS09 or not isinstance(message.payload, FirmwareActivationAlert):
            return Cs09Receipt(self.device, data.hex().upper(), t, None,
                               (f"message code 0x{message.message_code:04X} is not CS09 (0x{MESSAGE_CODE_CS09:04X})",))
        header, payload = message.header, message.payload
        problems: list[str] = []
        if self.public_key is None:
            problems.append(f"signature not verified: {self.key_problem}")
        elif not message.verify(self.public_key):
            problems.append("signature does not verify with the device's signing certificate")
        if header.originator != self.eui64:
            problems.append(f"originator {header.originator.hex().upper()} is not the device's EUI-64 "
                            f"{self.eui64.hex().upper()}")
        counter = header.originator_counter
        if self.highest_counter is not None and counter <= self.highest_counter:
            problems.append(f"originator counter {counter} does not increase (highest before: "
                            f"{self.highest_counter}): a replay")
        if header.cra_flag is not CraFlag.ALERT:
            problems.append(f"CRA flag {int(header.cra_flag)} is not 3 (alert)")
        ahead = payload.execution_time.timestamp() - t
        if ahead > CLOCK_TOLERANCE_S:
            problems.append(f"execution date-time {_utc(payload.execution_time)} is {ahead:.0f} s after it arrived "
                            f"(tolerance {CLOCK_TOLERANCE_S:g} s)")
        if payload.alert_code != ALERT_CS09_ACTIVATION:
            problems.append(f"alert code 0x{payload.alert_code:04X} is not 0x{ALERT_CS09_ACTIVATION:04X}")
        if self.highest_counter is None or counter > self.highest_counter:
            self.highest_counter = counter
        version = int.from_bytes(payload.firmware_version, "big") if len(payload.firmware_version) == 4 else None
        result_text = {0: "success", 1: "failure"}.get(payload.activation_result, "?")
        detail = (f"activation {result_text}, version "
                  + (f"0x{version:08X}" if version is not None else payload.firmware_version.hex().upper())
                  + f", executed {_utc(payload.execution_time)}")
        verdict = "signature verified" if not problems else "REJECTED: " + "; ".join(problems)
        alert = AlertRecord(
            code=payload.alert_code, name=ALERT_NAMES.get(payload.alert_code, "unknown alert"), use_case="CS09",
            raised_by=self.device, entity_eui64=_eui64_text(header.originator), firmware_version=version, time=t,
            observed_how=f"received from {self.device} over the GBCS tunnel: its signed CS09, {verdict}",
            activation_result=payload.activation_result, detail=detail, gbcs_message=data.hex().upper(),
            rejected="; ".join(problems),
        )
        return Cs09Receipt(self.device, data.hex().upper(), t, alert, tuple(problems), counter,
                           payload.execution_time.timestamp())


def _eui64_text(raw: bytes) -> str:
    return ":".join(f"{b:02X}" for b in raw)


def _utc(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
