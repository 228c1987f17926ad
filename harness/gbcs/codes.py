"""GBCS codes the harness knows, with their names, as DCC's gbcs-parser and the RTDS vectors give them.

Sources (reference/domain-notes.md §1.4, reference/chf-and-gbcs-alerts.md §2b): message code
0x0128 and alert codes 0x8F89/0x8F8A/0x8F8B from gbcs-parser's tables; message code 0x012B for
CS09 only from the RTDS 4.5.0 vector ``NA_CS09/CS09_NA_8F8B_ALERT_GBCS.HEX`` (the parser has no
entry for it). Names are for people; the codec never refuses a value for not being listed here.
"""

from __future__ import annotations

import enum


class CraFlag(enum.IntEnum):
    """Command, response or alert: the first byte of the General Signing transaction id."""

    COMMAND = 1
    RESPONSE = 2
    ALERT = 3


#: The Access Control Broker's entity id, recipient of both RTDS firmware alert vectors. The
#: harness plays no DCC, so this published test identity stands in for the alerts' recipient.
RTDS_ACCESS_CONTROL_BROKER = bytes.fromhex("90B3D51F30000002")

MESSAGE_CODE_CCS08 = 0x0128
MESSAGE_CODE_CS09 = 0x012B

MESSAGE_CODES: dict[int, str] = {
    MESSAGE_CODE_CCS08: "CCS08 Firmware Transfer Alert",
    MESSAGE_CODE_CS09: "CS09 PPMID Firmware Activation Alert",
}

ALERT_CCS08_FAIL = 0x8F89
ALERT_CCS08_SUCCESS = 0x8F8A
ALERT_CS09_ACTIVATION = 0x8F8B

ALERT_NAMES: dict[int, str] = {
    ALERT_CCS08_FAIL: "Firmware transfer alert FAIL",
    ALERT_CCS08_SUCCESS: "Firmware transfer alert SUCCESS",
    ALERT_CS09_ACTIVATION: "PPMID firmware activation alert",
}

#: CCS08 responseCode (gbcs-parser parseFirmwareTransferAlert).
CCS08_RESPONSES: dict[int, str] = {
    0: "Success",
    1: "Image Discarded",
    2: "Hardware Version Mismatch",
    3: "File Transfer Failure",
}

#: CS09 activateImage (gbcs-parser parseReadPPMIDHCALCSFirmwareVersionAlert).
CS09_RESULTS: dict[int, str] = {0: "success", 1: "failure"}


def named(code: int, names: dict[int, str], digits: int = 4) -> str:
    """``0x8F8A Firmware transfer alert SUCCESS``, or ``0x1234 (unknown)``."""
    return f"0x{code:0{digits}X} {names.get(code, '(unknown)')}"
