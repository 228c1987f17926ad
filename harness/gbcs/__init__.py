"""GBCS messages: the signed firmware alerts CCS08 (from the CH) and CS09 (from a PPMID).

Pure bytes in, objects out, no I/O, so the hub, the report and the emulator can all use it.
Wire format facts: DCC's gbcs-parser and the RTDS 4.5.0 vectors (reference/chf-and-gbcs-alerts.md
§2b); the tests reproduce both published vectors byte for byte.
"""

from __future__ import annotations

from harness.gbcs.codes import (
    ALERT_CCS08_FAIL,
    ALERT_CCS08_SUCCESS,
    ALERT_CS09_ACTIVATION,
    ALERT_NAMES,
    CCS08_RESPONSES,
    CS09_RESULTS,
    MESSAGE_CODE_CCS08,
    MESSAGE_CODE_CS09,
    MESSAGE_CODES,
    CraFlag,
)
from harness.gbcs.errors import GbcsError
from harness.gbcs.message import Decoded, GbcsMessage, SigningHeader, build, decode
from harness.gbcs.payloads import AlertPayload, FirmwareActivationAlert, FirmwareTransferAlert, version_bytes
from harness.gbcs.spans import FieldSpan

__all__ = [
    "ALERT_CCS08_FAIL", "ALERT_CCS08_SUCCESS", "ALERT_NAMES", "ALERT_CS09_ACTIVATION", "CCS08_RESPONSES",
    "CS09_RESULTS", "MESSAGE_CODES", "MESSAGE_CODE_CCS08", "MESSAGE_CODE_CS09", "AlertPayload", "CraFlag",
    "Decoded", "FieldSpan", "FirmwareActivationAlert", "FirmwareTransferAlert", "GbcsError", "GbcsMessage",
    "SigningHeader", "build", "decode", "version_bytes",
]
