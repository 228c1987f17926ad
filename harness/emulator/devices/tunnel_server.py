"""An emulated PPMID's Tunneling server (0x0704): the GBCS tunnel the CH opens, and what it carries.

A CHF opens a GBCS tunnel to every PPMID and HCALCS after CBKE (reference/real-device-behaviour.md
§7 and "What a faithful emulator must enforce" 14; reference/chf-and-gbcs-alerts.md §4): it asks
the device's Tunneling server with RequestTunnel (protocol 0x06, manufacturer 0xFFFF, no flow
control). The server here follows the Smart Energy Tunneling cluster (SE 1.x annex D.6):

* protocol 0x06 is the one it supports (PROTOCOL_NOT_SUPPORTED otherwise); flow control is not
  supported (FLOW_CONTROL_NOT_SUPPORTED when asked for);
* each accepted request gets a new tunnel id; a device holds one GBCS tunnel to the CH, so a new
  one replaces the old (whose id then answers NO_SUCH_TUNNEL);
* TransferData on an id it does not hold is answered with TransferDataError NO_SUCH_TUNNEL;
* the tunnel is kept across a reboot, as the CH keeps its end (CBKE is not repeated on a rejoin).

What the device has to say to the CH -- its signed CS09s (:mod:`.cs09`) -- waits in the outbox
until a tunnel is open and the device is on the network, then goes out as TransferData, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.emulator.air import COORDINATOR_NWK, SE_PROFILE, AirFrame
from harness.zcl_se import (
    ANY_MANUFACTURER,
    CLOSE_TUNNEL,
    GBCS_TUNNEL_PROTOCOL,
    GBCS_TUNNEL_TRANSFER_SIZE,
    REQUEST_TUNNEL,
    TRANSFER_DATA_ERROR_TO_CLIENT,
    TRANSFER_DATA_ERROR_TO_SERVER,
    TRANSFER_DATA_TO_CLIENT,
    TRANSFER_DATA_TO_SERVER,
    RequestTunnel,
    RequestTunnelResponse,
    TransferDataError,
    TransferDataStatus,
    TunnelId,
    TunnelStatus,
)

from .settings import TUNNELING
from .zcl import Direction, Status, ZclFrame, cluster_frame, decode, default_response

if TYPE_CHECKING:
    from .device import EmulatedDevice


@dataclass(frozen=True, slots=True)
class Tunnel:
    tunnel_id: int
    client_nwk: int
    client_ep: int


class TunnelServer:
    """The device's end of its GBCS tunnel, and the queue of messages it sends through it."""

    def __init__(self, device: EmulatedDevice) -> None:
        self._device = device
        self._next_id = 0
        self.tunnel: Tunnel | None = None
        self.outbox: list[bytes] = []

    def on_frame(self, frame: AirFrame, zcl: ZclFrame) -> bytes | None:
        """A Tunneling command from the CH (its client); returns the reply, if any."""
        if zcl.command_id == REQUEST_TUNNEL:
            return self._request(frame, zcl)
        if zcl.command_id == TRANSFER_DATA_TO_SERVER:
            return self._data(zcl)
        if zcl.command_id == TRANSFER_DATA_ERROR_TO_SERVER:
            error = decode(TransferDataError, zcl.body, what="TransferDataError")
            self._device.events.record("tunnel_data_error", tunnel_id=int(error.tunnel_id),
                                       status=error.transfer_data_status.name)
            if error.transfer_data_status == TransferDataStatus.NO_SUCH_TUNNEL and self.tunnel is not None \
                    and self.tunnel.tunnel_id == int(error.tunnel_id):
                self.tunnel = None  # the CH lost its end: wait for its next RequestTunnel
            return None
        if zcl.command_id == CLOSE_TUNNEL:
            closing = decode(TunnelId, zcl.body, what="CloseTunnel")
            if self.tunnel is not None and self.tunnel.tunnel_id == int(closing.tunnel_id):
                self.tunnel = None
                self._device.events.record("tunnel_closed", tunnel_id=int(closing.tunnel_id))
            return None if zcl.default_response_disabled else default_response(zcl, Status.SUCCESS)
        return default_response(zcl, Status.UNSUP_CLUSTER_COMMAND)

    def _request(self, frame: AirFrame, zcl: ZclFrame) -> bytes:
        request = decode(RequestTunnel, zcl.body, what="RequestTunnel")
        if int(request.protocol_id) != GBCS_TUNNEL_PROTOCOL or int(request.manufacturer_code) != ANY_MANUFACTURER:
            status = TunnelStatus.PROTOCOL_NOT_SUPPORTED
        elif bool(request.flow_control_support):
            status = TunnelStatus.FLOW_CONTROL_NOT_SUPPORTED
        else:
            status = TunnelStatus.SUCCESS
        tunnel_id = 0xFFFF
        if status == TunnelStatus.SUCCESS:
            self._next_id = (self._next_id + 1) & 0xFFFF or 1
            tunnel_id = self._next_id
            self.tunnel = Tunnel(tunnel_id, frame.src_nwk, frame.src_ep)
        self._device.events.record("tunnel_requested", protocol=int(request.protocol_id), status=status.name,
                                   tunnel_id=tunnel_id, transfer_size=int(request.maximum_incoming_transfer_size))
        if status == TunnelStatus.SUCCESS:
            self._device.call_soon(self.flush)  # after the response has gone out
        return cluster_frame(zcl.header.tsn, REQUEST_TUNNEL, RequestTunnelResponse,
                             {"tunnel_id": tunnel_id, "tunnel_status": status,
                              "maximum_incoming_transfer_size": GBCS_TUNNEL_TRANSFER_SIZE},
                             direction=Direction.Server_to_Client, disable_default_response=True)

    def _data(self, zcl: ZclFrame) -> bytes | None:
        tunnel_id = int.from_bytes(zcl.body[:2], "little") if len(zcl.body) >= 2 else None
        if tunnel_id is None or self.tunnel is None or tunnel_id != self.tunnel.tunnel_id:
            self._device.events.record("tunnel_data_refused", tunnel_id=tunnel_id)
            return cluster_frame(zcl.header.tsn, TRANSFER_DATA_ERROR_TO_CLIENT, TransferDataError,
                                 {"tunnel_id": tunnel_id or 0, "transfer_data_status": TransferDataStatus.NO_SUCH_TUNNEL},
                                 direction=Direction.Server_to_Client, disable_default_response=True)
        self._device.events.record("tunnel_data_received", tunnel_id=tunnel_id, size=len(zcl.body) - 2)
        return None

    def send(self, data: bytes) -> None:
        """Queue ``data`` for the CH and send what can be sent now."""
        self.outbox.append(bytes(data))
        self.flush()

    def flush(self) -> None:
        """Send every queued message, in order, if the tunnel is open and the device is on the network."""
        device = self._device
        while self.outbox and self.tunnel is not None and device.joined and device.nwk is not None:
            data = self.outbox.pop(0)
            payload = cluster_frame(device.next_tsn(), TRANSFER_DATA_TO_CLIENT, TunnelId,
                                    {"tunnel_id": self.tunnel.tunnel_id}, direction=Direction.Server_to_Client,
                                    disable_default_response=True) + data
            device.events.record("tunnel_data_sent", tunnel_id=self.tunnel.tunnel_id, size=len(data))
            device.send_frame(AirFrame(device.nwk, COORDINATOR_NWK, SE_PROFILE, TUNNELING, device.settings.endpoint,
                                       self.tunnel.client_ep, payload))
        if self.outbox:
            reason = "no tunnel" if self.tunnel is None else f"link {device.link.value}"
            device.events.record("tunnel_data_waiting", queued=len(self.outbox), reason=reason)
