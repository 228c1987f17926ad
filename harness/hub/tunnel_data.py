"""The CH's end of each device's GBCS tunnel: its state, and every message the device sends through it.

:mod:`harness.hub.tunnel` opens the tunnel; this module holds it afterwards. Each received
Tunneling frame from a device under test is handled here (reference/chf-and-gbcs-alerts.md §4,
SE 1.x annex D.6):

* TransferData on the tunnel the CH holds -> the data is a GBCS message from the device; a PPMID's
  is its CS09, judged by :class:`~harness.hub.cs09_receipt.Cs09Inbox` and, when it decodes, added
  to the alert log (rejected, with the rule, when it breaks one);
* TransferData on an id the CH does not hold -> TransferDataError NO_SUCH_TUNNEL to the device;
* TransferDataError NO_SUCH_TUNNEL or TunnelClosureNotification from the device -> the CH's
  tunnel is gone: ask for a new one (``reopen``);
* RequestTunnel from the device -> accepted for GBCS (protocol 0x06, manufacturer 0xFFFF).

Every state change is a :class:`StageRecord` ("GBCS tunnel") and every message a
:class:`CheckRecord`, so the report shows the tunnel's life and what it carried. Nothing a device
sends is raised: a frame that cannot be read is kept as evidence with a one-line reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zigpy.types as t
from zigpy.zcl import foundation

from harness.evidence import AlertRecord, CheckRecord, Outcome, StageRecord
from harness.hub.alerts import AlertLog
from harness.hub.cs09_receipt import CertificateError, Cs09Inbox, Cs09Receipt, load_signing_certificate
from harness.zcl_se import (
    GBCS_TUNNEL_TRANSFER_SIZE,
    REQUEST_TUNNEL,
    TRANSFER_DATA_ERROR_TO_CLIENT,
    TRANSFER_DATA_ERROR_TO_SERVER,
    TRANSFER_DATA_TO_CLIENT,
    TRANSFER_DATA_TO_SERVER,
    TUNNEL_CLOSURE_NOTIFICATION,
    TUNNELING_CLUSTER,
    RequestTunnel,
    RequestTunnelResponse,
    TransferDataError,
    TransferDataStatus,
    split_transfer_data,
)

from .tunnel import SE_PROFILE, SOURCE, TunnelOutcome, accept_device_tunnel

STAGE = "GBCS tunnel"

#: Sends one ZCL command to the named device (the hub's send_zcl from its SE endpoint).
Reply = Callable[..., Awaitable[None]]


@dataclass(frozen=True, slots=True)
class TunnelEnd:
    """The tunnel the CH holds with one device: its id, the device's endpoint, who opened it."""

    tunnel_id: int
    endpoint: int
    opened_by: str  # "CH" or "device"


def inbox_for(device: str, eui64: bytes, certificate: Path | None) -> tuple[Cs09Inbox, str]:
    """The device's CS09 inbox with the public key from its rig certificate; and a problem ("" if none)."""
    if certificate is None:
        problem = "the rig names no signing_certificate for this device"
        return Cs09Inbox(device, eui64, None, problem), problem
    try:
        return Cs09Inbox(device, eui64, load_signing_certificate(certificate)), ""
    except CertificateError as exc:
        return Cs09Inbox(device, eui64, None, str(exc)), str(exc)


class TunnelEnds:
    """Every device's tunnel at the CH, and what arrived through it."""

    def __init__(
        self, *, inboxes: dict[str, Cs09Inbox], alerts: AlertLog, sink: Callable[[Any], None],
        clock: Callable[[], float], reply: Callable[[str, dict[str, Any]], None],
        reopen: Callable[[str, str], None], cs09_timing: Callable[[str, AlertRecord, float | None], str],
    ) -> None:
        self.inboxes = inboxes
        self.ends: dict[str, TunnelEnd] = {}
        self._alerts = alerts
        self._sink = sink
        self._clock = clock
        self._reply = reply
        self._reopen = reopen
        self._cs09_timing = cs09_timing
        self._next_id = 0x8000  # ids the CH hands out for tunnels a device opens

    def _stage(self, device: str, detail: str) -> None:
        self._sink(StageRecord(device=device, stage=STAGE, t=self._clock(), detail=detail))

    def opened(self, outcome: TunnelOutcome) -> None:
        """The CH's RequestTunnel ended (:func:`~harness.hub.tunnel.keep_gbcs_tunnel`)."""
        if outcome.opened and outcome.tunnel_id is not None and outcome.endpoint is not None:
            self.ends[outcome.device] = TunnelEnd(outcome.tunnel_id, outcome.endpoint, "CH")
            self._stage(outcome.device, f"open: tunnel {outcome.tunnel_id}, opened by the CH")
        else:
            self.ends.pop(outcome.device, None)
            self._stage(outcome.device, f"not open: {outcome.observed}")

    def note(self, device: str, detail: str) -> None:
        self._stage(device, detail)

    def frame(self, device: str, packet: Any) -> bool:
        """Handle a Tunneling frame from ``device``; False for one this module does not own."""
        if packet.cluster_id != TUNNELING_CLUSTER or packet.profile_id != SE_PROFILE:
            return False
        try:
            hdr, body = foundation.ZCLHeader.deserialize(packet.data.serialize())
        except (ValueError, KeyError):
            return False
        if not hdr.frame_control.is_cluster:
            return False
        to_client = hdr.direction == foundation.Direction.Server_to_Client
        command = int(hdr.command_id)
        if to_client and command == REQUEST_TUNNEL:
            self._response(device, packet, body)
            return False  # the answer to the CH's own request: harness.hub.tunnel waits for it too
        if (to_client and command == TRANSFER_DATA_TO_CLIENT) or (not to_client and command == TRANSFER_DATA_TO_SERVER):
            self._data(device, packet, hdr, body)
        elif to_client and command == TRANSFER_DATA_ERROR_TO_CLIENT:
            self._data_error(device, body)
        elif to_client and command == TUNNEL_CLOSURE_NOTIFICATION:
            self._gone(device, f"the device closed tunnel {int.from_bytes(body[:2], 'little') if len(body) >= 2 else '?'}")
        elif not to_client and command == REQUEST_TUNNEL:
            self._device_request(device, packet, hdr, body)
        else:
            self._stage(device, f"Tunneling command 0x{command:02X} ({hdr.direction.name}) not handled: {body.hex()}")
        return True

    def _response(self, device: str, packet: Any, body: bytes) -> None:
        """Hold the tunnel from the moment the device grants it: its first TransferData may follow at once."""
        try:
            response, _ = RequestTunnelResponse.deserialize(body)
        except (ValueError, KeyError):
            return  # harness.hub.tunnel reports it
        if response.tunnel_status == 0:
            self.ends[device] = TunnelEnd(int(response.tunnel_id), int(packet.src_ep), "CH")

    def _data(self, device: str, packet: Any, hdr: foundation.ZCLHeader, body: bytes) -> None:
        try:
            tunnel_id, data = split_transfer_data(body)
        except ValueError as exc:
            self._sink(CheckRecord(name="GBCS tunnel message", device=device, rule="TransferData names its tunnel",
                                   observed=str(exc), outcome=Outcome.FAIL, source=SOURCE, confidence="high",
                                   detail=f"frame body (hex): {body.hex().upper()}"))
            return
        end = self.ends.get(device)
        if end is None or end.tunnel_id != tunnel_id:
            self._stage(device, f"TransferData on tunnel {tunnel_id}, which the CH does not hold: "
                                f"TransferDataError NO_SUCH_TUNNEL sent; {len(data)} bytes kept: {data.hex().upper()}")
            self._reply(device, {
                "dst_ep": packet.src_ep, "command_id": TRANSFER_DATA_ERROR_TO_SERVER, "tsn": int(hdr.tsn),
                "direction": foundation.Direction.Client_to_Server,
                "payload": TransferDataError(tunnel_id=t.uint16_t(tunnel_id),
                                             transfer_data_status=TransferDataStatus.NO_SUCH_TUNNEL),
            })
            return
        inbox = self.inboxes.get(device)
        if inbox is None:
            self._stage(device, f"{len(data)} bytes on tunnel {tunnel_id} from a device with no CS09 inbox: "
                                f"{data.hex().upper()}")
            return
        self.accept(device, inbox.receive(data, t=self._clock()))

    def accept(self, device: str, receipt: Cs09Receipt) -> None:
        """Record one received message; a CS09 that decodes joins the alert log (rejected if it broke a rule)."""
        alert = receipt.alert
        if alert is not None:
            early = self._cs09_timing(device, alert, receipt.executed)
            if early:
                problems = (*receipt.problems, early)
                alert = dataclasses.replace(alert, rejected="; ".join(problems))
                receipt = dataclasses.replace(receipt, alert=alert, problems=problems)
        self._sink(receipt.evidence())
        if alert is not None:
            self._sink(alert)
            self._alerts.add(alert)

    def _data_error(self, device: str, body: bytes) -> None:
        try:
            error, _ = TransferDataError.deserialize(body)
        except (ValueError, KeyError) as exc:
            self._stage(device, f"a TransferDataError that cannot be read ({exc}): {body.hex()}")
            return
        status = error.transfer_data_status.name
        end = self.ends.get(device)
        if error.transfer_data_status == TransferDataStatus.NO_SUCH_TUNNEL and end is not None \
                and end.tunnel_id == int(error.tunnel_id):
            self._gone(device, f"TransferDataError {status} for tunnel {int(error.tunnel_id)}")
        else:
            self._stage(device, f"TransferDataError {status} for tunnel {int(error.tunnel_id)}")

    def _gone(self, device: str, why: str) -> None:
        self.ends.pop(device, None)
        self._stage(device, f"closed: {why}; the CH asks for a new tunnel")
        self._reopen(device, why)

    def _device_request(self, device: str, packet: Any, hdr: foundation.ZCLHeader, body: bytes) -> None:
        try:
            request, _ = RequestTunnel.deserialize(body)
        except (ValueError, KeyError) as exc:
            self._stage(device, f"a RequestTunnel that cannot be read ({exc}): {body.hex()}")
            return
        self._next_id = self._next_id + 1 if self._next_id < 0xFFFE else 0x8001
        status, tunnel_id = accept_device_tunnel(request, next_id=self._next_id)
        if status.name == "SUCCESS":
            self.ends[device] = TunnelEnd(tunnel_id, int(packet.src_ep), "device")
            self._stage(device, f"open: tunnel {tunnel_id}, opened by the device")
        else:
            self._stage(device, f"the device's RequestTunnel refused: {status.name} "
                                f"(protocol {int(request.protocol_id)}, manufacturer 0x{int(request.manufacturer_code):04X})")
        self._reply(device, {
            "dst_ep": packet.src_ep, "command_id": REQUEST_TUNNEL, "tsn": int(hdr.tsn),
            "direction": foundation.Direction.Server_to_Client,
            "payload": RequestTunnelResponse(tunnel_id=t.uint16_t(tunnel_id), tunnel_status=status,
                                             maximum_incoming_transfer_size=t.uint16_t(GBCS_TUNNEL_TRANSFER_SIZE)),
        })
