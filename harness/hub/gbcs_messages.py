"""Each CCS08 the CH raises, written into the evidence as the signed GBCS message a CH would send.

A real CH sends its Firmware Transfer Alert to the supplier as a General Signing message signed
with its own digital-signing key (RTDS 4.5.0 ``CCS08_NA_NA_ALERT_GBCS.HEX``: originator the CHF,
recipient the Access Control Broker, no date-time, message code 0x0128). The harness has no DCC
to send it to, so it keeps the message as evidence: a reviewer can decode it field by field in
the report, and a lab can check it with any GBCS parser and the TEST-ONLY CH public key
(``firmware_images/keys/TEST-ONLY-ch-public.pem``).

The originator counter must only ever increase (a recipient refuses a replay). It starts from
the alert's time in milliseconds, so a new run never reuses a counter an earlier run signed, and
goes up by at least one per message.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from harness.evidence import AlertRecord
from harness.gbcs import CraFlag, FirmwareTransferAlert, GbcsError, SigningHeader, build, version_bytes
from harness.gbcs.codes import RTDS_ACCESS_CONTROL_BROKER
from harness.ota.samples import ch_key_pair
from harness.secret import Secret


def eui64_bytes(text: str) -> bytes:
    """``00:0D:6F:...`` (the evidence form) as 8 bytes in display order, the GBCS entity id form."""
    raw = bytes.fromhex(text.replace(":", ""))
    if len(raw) != 8:
        raise ValueError(f"EUI-64 {text!r} is not 8 bytes")
    return raw


class ChAlertSigner:
    """Builds the signed CCS08 for each alert the CH raises; keeps the CH's originator counter."""

    def __init__(self, private_key: Secret, *, recipient: bytes = RTDS_ACCESS_CONTROL_BROKER) -> None:
        self._key = private_key
        self._recipient = recipient
        self._counter = 0

    @classmethod
    def test_only(cls) -> ChAlertSigner:
        """Signing with the TEST-ONLY CH key (derived from its published seed; see firmware_images/keys)."""
        private_pem, _ = ch_key_pair()
        return cls(Secret(private_pem, origin="TEST-ONLY CH key"))

    def _next_counter(self, t: float) -> int:
        self._counter = max(self._counter + 1, int(t * 1000))
        return self._counter

    def attach(self, alert: AlertRecord, *, ch_eui64: str | None) -> AlertRecord:
        """``alert`` with its signed GBCS message; if one cannot be built, the alert says why instead.

        Only the CH's own CCS08 alerts are signed here; any other record is returned unchanged.
        """
        if alert.use_case != "CCS08" or alert.raised_by != "CH":
            return alert
        try:
            if ch_eui64 is None:
                raise ValueError("the CH's own EUI-64 is not known (radio not up)")
            if alert.entity_eui64 is None or alert.firmware_version is None or alert.response_code is None:
                raise ValueError("the alert has no entity, firmware version or response code")
            header = SigningHeader(
                CraFlag.ALERT, self._next_counter(alert.time), eui64_bytes(ch_eui64), self._recipient
            )
            payload = FirmwareTransferAlert(
                alert_code=alert.code,
                execution_time=datetime.fromtimestamp(int(alert.time), UTC),
                entity_id=eui64_bytes(alert.entity_eui64),
                firmware_version=version_bytes(alert.firmware_version),
                response_code=alert.response_code,
            )
            message = build(header, payload, self._key)
        except (GbcsError, ValueError, OverflowError) as exc:
            note = f"no GBCS message built: {exc}"
            return dataclasses.replace(alert, detail=f"{alert.detail}; {note}" if alert.detail else note)
        return dataclasses.replace(alert, gbcs_message=message.encode().hex().upper())
