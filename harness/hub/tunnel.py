"""The GBCS tunnel the CHF opens with a PPMID or HCALCS once key establishment has succeeded.

Silicon Labs' comms-hub-function plugin (reference/real-device-behaviour.md §7; GBCS 10.2.2): when
CBKE with a non-sleepy logged device ends well, the CHF looks for its Tunneling server with a ZDO
Match_Desc_req (0x0704) and sends RequestTunnel: protocol 0x06 (GBCS), manufacturer 0xFFFF, no flow
control, transfer size 1500 -- APS-encrypted, like everything on the Tunneling cluster. The outcome
is evidence; a device that cannot be found or refuses the tunnel is named with the reason.

The CH keeps the tunnel up with the rules of ``tunnel-manager.c`` ``handleRequestTunnelFailure``
(reference/chf-and-gbcs-alerts.md §4): BUSY -> ask again after 180 s; NO_MORE_TUNNEL_IDS -> close
the other tunnels to that node and ask again after 5 s; at most 5 attempts per pass; a
TransferDataError NO_SUCH_TUNNEL from the device -> ask again at once. It also accepts a tunnel the
device opens (protocol 0x06, manufacturer 0xFFFF), as ``IsProtocolSupportedCallback`` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import zigpy.device
import zigpy.exceptions
import zigpy.types as t
from zigpy.zcl import foundation

from harness.evidence import CheckRecord, Outcome
from harness.zcl_se import (
    ANY_MANUFACTURER,
    CLOSE_TUNNEL,
    GBCS_TUNNEL_PROTOCOL,
    GBCS_TUNNEL_TRANSFER_SIZE,
    REQUEST_TUNNEL,
    TUNNELING_CLUSTER,
    RequestTunnel,
    RequestTunnelResponse,
    TunnelId,
    TunnelStatus,
)

SE_PROFILE = 0x0109
#: The device roles the CHF opens a tunnel with (non-sleepy logged devices; an ESME is not a DUT here).
TUNNEL_ROLES = frozenset({"PPMID", "HCALCS"})
SOURCE = ("Silicon Labs comms-hub-function.c / tunnel-manager.c; GBCS 10.2.2 "
          "(reference/real-device-behaviour.md §7)")

#: Sends one ZCL frame to the device (the hub's send_zcl, bound to the device); returns the TSN.
Sender = Callable[..., Awaitable[int]]

#: tunnel-manager.c: MAX_TUNNEL_TARGET_ATTEMPTS, and the waits after BUSY and NO_MORE_TUNNEL_IDS.
MAX_ATTEMPTS = 5
BUSY_RETRY_S = 180.0
NO_MORE_IDS_RETRY_S = 5.0


@dataclass(frozen=True, slots=True)
class TunnelOutcome:
    device: str
    opened: bool
    observed: str
    status: TunnelStatus | None = None
    tunnel_id: int | None = None
    endpoint: int | None = None

    def evidence(self) -> CheckRecord:
        return CheckRecord(
            name="GBCS tunnel", device=self.device,
            rule="after key establishment the CH finds the device's Tunneling server (Match_Desc 0x0704) and the "
                 "device accepts RequestTunnel for protocol 0x06 (GBCS)",
            observed=self.observed, outcome=Outcome.PASS if self.opened else Outcome.FAIL, source=SOURCE,
            confidence="medium",
        )


async def open_gbcs_tunnel(
    name: str, device: zigpy.device.ZigbeeDevice, *, send: Sender, wait_response: Callable[[int], Awaitable[bytes]],
    timeout_s: float,
) -> TunnelOutcome:
    """Find the device's Tunneling server and ask it for a GBCS tunnel.

    ``wait_response(tsn)`` resolves to the ZCL payload of the device's RequestTunnelResponse with
    that TSN (the hub watches its received frames for it).
    """
    try:
        status, _nwk, endpoints = await asyncio.wait_for(
            device.zdo.Match_Desc_req(device.nwk, SE_PROFILE, [TUNNELING_CLUSTER], []), timeout_s)
    except Exception as exc:  # noqa: BLE001 -- a timeout or any radio failure is the outcome
        return TunnelOutcome(name, False, f"no answer to Match_Desc_req for the Tunneling server ({exc!r})")
    if status != 0 or not endpoints:
        return TunnelOutcome(name, False, "the device names no Tunneling server (Match_Desc_rsp empty)")
    request = RequestTunnel(protocol_id=GBCS_TUNNEL_PROTOCOL, manufacturer_code=ANY_MANUFACTURER,
                            flow_control_support=t.Bool.false, maximum_incoming_transfer_size=GBCS_TUNNEL_TRANSFER_SIZE)
    tsn = device.get_sequence()
    waiting = asyncio.ensure_future(wait_response(tsn))
    try:
        await send(cluster=TUNNELING_CLUSTER, dst_ep=int(endpoints[0]), command_id=REQUEST_TUNNEL, payload=request,
                   tsn=tsn, direction=foundation.Direction.Client_to_Server)
        payload = await asyncio.wait_for(waiting, timeout_s)
    except TimeoutError:
        return TunnelOutcome(name, False, f"no RequestTunnelResponse within {timeout_s:g} s")
    except zigpy.exceptions.ZigbeeException as exc:  # the radio could not deliver it: no APS ACK came back
        return TunnelOutcome(name, False, f"the RequestTunnel was not delivered ({exc})", endpoint=int(endpoints[0]))
    finally:
        waiting.cancel()
    _hdr, body = foundation.ZCLHeader.deserialize(payload)
    try:
        response, _ = RequestTunnelResponse.deserialize(body)
    except (ValueError, KeyError) as exc:
        return TunnelOutcome(name, False, f"a RequestTunnelResponse that cannot be read: {body.hex()} ({exc})")
    status_name = response.tunnel_status.name  # zigpy names an unknown value undefined_0xNN
    if response.tunnel_status != TunnelStatus.SUCCESS:
        return TunnelOutcome(name, False, f"RequestTunnel refused: {status_name}", response.tunnel_status,
                             endpoint=int(endpoints[0]))
    return TunnelOutcome(name, True, f"tunnel {int(response.tunnel_id)} open on endpoint {int(endpoints[0])}, "
                                     f"transfer size {int(response.maximum_incoming_transfer_size)}",
                         response.tunnel_status, int(response.tunnel_id), int(endpoints[0]))


async def keep_gbcs_tunnel(
    name: str, device: zigpy.device.ZigbeeDevice, *, send: Sender, wait_response: Callable[[int], Awaitable[bytes]],
    timeout_s: float, open_ids: Callable[[], list[int]], note: Callable[[str], None],
    busy_retry_s: float = BUSY_RETRY_S, no_more_ids_retry_s: float = NO_MORE_IDS_RETRY_S,
) -> TunnelOutcome:
    """:func:`open_gbcs_tunnel`, retried as the CHF retries it; ``note`` records each refusal.

    ``open_ids()`` are the tunnel ids the CH holds with this device: after NO_MORE_TUNNEL_IDS the CH
    closes them (CloseTunnel) before it asks again.
    """
    outcome = TunnelOutcome(name, False, "no RequestTunnel sent")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        outcome = await open_gbcs_tunnel(name, device, send=send, wait_response=wait_response, timeout_s=timeout_s)
        if outcome.opened or outcome.status not in (TunnelStatus.BUSY, TunnelStatus.NO_MORE_TUNNEL_IDS):
            break
        if attempt == MAX_ATTEMPTS:
            break
        if outcome.status == TunnelStatus.BUSY:
            wait = busy_retry_s
        else:
            wait = no_more_ids_retry_s
            for tunnel_id in open_ids():
                await send(cluster=TUNNELING_CLUSTER, dst_ep=outcome.endpoint, command_id=CLOSE_TUNNEL,
                           payload=TunnelId(tunnel_id=t.uint16_t(tunnel_id)), tsn=device.get_sequence(),
                           direction=foundation.Direction.Client_to_Server)
        note(f"attempt {attempt}: {outcome.observed}; asking again in {wait:g} s")
        await asyncio.sleep(wait)  # the CHF's retry timer
    return outcome


def accept_device_tunnel(request: RequestTunnel, *, next_id: int) -> tuple[TunnelStatus, int]:
    """The CH's answer to a RequestTunnel the device sends: GBCS (0x06, manufacturer 0xFFFF) only."""
    if int(request.protocol_id) != GBCS_TUNNEL_PROTOCOL or int(request.manufacturer_code) != ANY_MANUFACTURER:
        return TunnelStatus.PROTOCOL_NOT_SUPPORTED, 0xFFFF
    if bool(request.flow_control_support):
        return TunnelStatus.FLOW_CONTROL_NOT_SUPPORTED, 0xFFFF
    return TunnelStatus.SUCCESS, next_id


def is_request_tunnel_response(packet: Any, tsn: int) -> bool:
    """Whether a received packet is the device's RequestTunnelResponse with ``tsn``."""
    if packet.cluster_id != TUNNELING_CLUSTER or packet.profile_id != SE_PROFILE:
        return False
    try:
        hdr, _ = foundation.ZCLHeader.deserialize(packet.data.serialize())
    except (ValueError, KeyError):
        return False
    return (hdr.frame_control.is_cluster and hdr.command_id == REQUEST_TUNNEL and int(hdr.tsn) == tsn
            and hdr.direction == foundation.Direction.Server_to_Client)
