"""The coordinator's own ZDO: answers the ZDO requests the host addresses to 0x0000.

On a real NCP the stack's ZDO answers requests the host sends to itself, and the answer
reaches the host as an ``incomingMessageHandler`` from 0x0000. zigpy interviews its own
coordinator this way at every start (``Node_Desc_req`` first); with no answer the start-up
stalls for minutes (reference notes §3.2 step 10). Requests are parsed and responses built
with zigpy's ZDO schemas (:mod:`.zdo_frames`), the Zigbee specification's layouts (§2.4.4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zigpy.types as zt
import zigpy.zdo.types as zdo_t

from .zdo_frames import RESPONSE_BIT, Cmd, ZdoDecodeError, decode, encode, simple_desc_error

Status = zdo_t.Status

#: Silicon Labs' manufacturer code, which real EmberZNet NCPs put in their node descriptor.
SILABS_MANUFACTURER_CODE = 0x1049

#: Server mask: primary trust centre (bit 0) + network manager (bit 6), stack compliance
#: revision 22 in bits 9-15 (R22 = 0x16 << 9).
COORDINATOR_SERVER_MASK = 0x0001 | 0x0040 | (22 << 9)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An endpoint the host registered with addEndpoint."""

    endpoint: int
    profile_id: int
    device_id: int
    device_version: int
    input_clusters: tuple[int, ...]
    output_clusters: tuple[int, ...]

    def simple_descriptor(self) -> zdo_t.SizePrefixedSimpleDescriptor:
        """The endpoint as Simple_Desc_rsp carries it: its Length octet, then the descriptor."""
        return zdo_t.SizePrefixedSimpleDescriptor(
            endpoint=self.endpoint,
            profile=self.profile_id,
            device_type=self.device_id,
            device_version=self.device_version,
            input_clusters=list(self.input_clusters),
            output_clusters=list(self.output_clusters),
        )


def coordinator_node_descriptor() -> zdo_t.NodeDescriptor:
    """What an EmberZNet coordinator reports: mains-powered FFD, always on, trust centre."""
    return zdo_t.NodeDescriptor(
        logical_type=zdo_t.LogicalType.Coordinator,
        complex_descriptor_available=0,
        user_descriptor_available=0,
        reserved=0,
        aps_flags=0,
        frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz,
        mac_capability_flags=(
            zdo_t.NodeDescriptor.MACCapabilityFlags.AlternatePanCoordinator
            | zdo_t.NodeDescriptor.MACCapabilityFlags.FullFunctionDevice
            | zdo_t.NodeDescriptor.MACCapabilityFlags.MainsPowered
            | zdo_t.NodeDescriptor.MACCapabilityFlags.RxOnWhenIdle
            | zdo_t.NodeDescriptor.MACCapabilityFlags.AllocateAddress
        ),
        manufacturer_code=SILABS_MANUFACTURER_CODE,
        maximum_buffer_size=82,
        maximum_incoming_transfer_size=128,
        server_mask=COORDINATOR_SERVER_MASK,
        maximum_outgoing_transfer_size=128,
        descriptor_capability_field=zdo_t.NodeDescriptor.DescriptorCapability.NONE,
    )


class CoordinatorZdo:
    """Answers ZDO requests to the coordinator. ``answer`` returns (cluster, payload) or None."""

    def __init__(self, *, nwk: int, eui64: bytes, endpoints: dict[int, Endpoint]) -> None:
        self.nwk = nwk
        self.eui64 = eui64  # display order
        self.endpoints = endpoints  # live view of the NCP's registered endpoints

    def answer(self, cluster_id: int, payload: bytes) -> tuple[int, bytes] | None:
        """The response to one ZDO request, or None for a response frame (nothing to answer).

        A request the coordinator does not serve gets NOT_SUPPORTED, and one that does not parse
        INV_REQUESTTYPE: a status, never silence, which the host would wait out.
        """
        if cluster_id & RESPONSE_BIT or not payload:
            return None
        handlers: dict[int, Callable[[int, list[Any]], bytes]] = {
            Cmd.NWK_addr_req: self._nwk_addr,
            Cmd.IEEE_addr_req: self._ieee_addr,
            Cmd.Node_Desc_req: self._node_desc,
            Cmd.Simple_Desc_req: self._simple_desc,
            Cmd.Active_EP_req: self._active_ep,
            Cmd.Mgmt_Permit_Joining_req: self._permit_joining,
            Cmd.Match_Desc_req: self._match_desc,
        }
        handler = handlers.get(cluster_id)
        if handler is None:
            return cluster_id | RESPONSE_BIT, _status_only(payload[0], Status.NOT_SUPPORTED)
        try:
            tsn, request = decode(Cmd(cluster_id), payload)
        except ZdoDecodeError:
            return cluster_id | RESPONSE_BIT, _status_only(payload[0], Status.INV_REQUESTTYPE)
        return cluster_id | RESPONSE_BIT, handler(tsn, request)

    # -- one method per request: the TSN and the request's decoded fields in, the response out --

    def _own_ieee(self) -> zt.EUI64:
        return eui64_from_display(self.eui64)

    def _nwk_addr(self, tsn: int, request: list[Any]) -> bytes:
        ieee = request[0]
        if ieee != self._own_ieee():
            return encode(Cmd.NWK_addr_rsp, tsn, Status.INV_REQUESTTYPE, ieee, zt.NWK(0xFFFF))
        return encode(Cmd.NWK_addr_rsp, tsn, Status.SUCCESS, ieee, zt.NWK(self.nwk))

    def _ieee_addr(self, tsn: int, request: list[Any]) -> bytes:
        return encode(Cmd.IEEE_addr_rsp, tsn, Status.SUCCESS, self._own_ieee(), zt.NWK(self.nwk))

    def _node_desc(self, tsn: int, request: list[Any]) -> bytes:
        return encode(Cmd.Node_Desc_rsp, tsn, Status.SUCCESS, zt.NWK(self.nwk), coordinator_node_descriptor())

    def _active_ep(self, tsn: int, request: list[Any]) -> bytes:
        endpoints = zt.LVList[zt.uint8_t, zt.uint8_t](sorted(self.endpoints))
        return encode(Cmd.Active_EP_rsp, tsn, Status.SUCCESS, zt.NWK(self.nwk), endpoints)

    def _simple_desc(self, tsn: int, request: list[Any]) -> bytes:
        """The descriptor of one registered endpoint (Zigbee spec 2.4.4.2.5).

        An endpoint number outside 1-240 is INVALID_EP; a valid one with nothing registered is
        NOT_ACTIVE. Either error carries the address and a zero Length, with no descriptor.
        """
        _nwk, ep = request
        endpoint = self.endpoints.get(ep)
        if endpoint is None:
            status = Status.NOT_ACTIVE if 1 <= ep <= 240 else Status.INVALID_EP
            return simple_desc_error(tsn, status, self.nwk)
        return encode(Cmd.Simple_Desc_rsp, tsn, Status.SUCCESS, zt.NWK(self.nwk), endpoint.simple_descriptor())

    def _permit_joining(self, tsn: int, request: list[Any]) -> bytes:
        return encode(Cmd.Mgmt_Permit_Joining_rsp, tsn, Status.SUCCESS)

    def _match_desc(self, tsn: int, request: list[Any]) -> bytes:
        """Our endpoints with the request's profile holding any of its input clusters among their
        input clusters, or any of its output clusters among their outputs (Zigbee spec 2.4.4.2.7).

        This is how a device finds the CH's OTA, Key Establishment and GPF servers: the answer
        comes from what the host registered with addEndpoint, so a cluster the hub forgot to
        declare is one no device can find.
        """
        nwk, profile, wanted_in, wanted_out = request
        if nwk != self.nwk:
            return encode(Cmd.Match_Desc_rsp, tsn, Status.DEVICE_NOT_FOUND, nwk, zt.LVList[zt.uint8_t, zt.uint8_t]())
        inputs, outputs = set(wanted_in), set(wanted_out)
        matches = [
            ep.endpoint for ep in sorted(self.endpoints.values(), key=lambda e: e.endpoint)
            if ep.profile_id == profile
            and (inputs & set(ep.input_clusters) or outputs & set(ep.output_clusters))
        ]
        return encode(Cmd.Match_Desc_rsp, tsn, Status.SUCCESS, zt.NWK(self.nwk), zt.LVList[zt.uint8_t, zt.uint8_t](matches))


def _status_only(tsn: int, status: zdo_t.Status) -> bytes:
    """A response that is a TSN and a status: for a request not served, or one that does not parse."""
    return zt.uint8_t(tsn).serialize() + status.serialize()


def eui64_to_display(eui: zt.EUI64) -> bytes:
    """bellows/zigpy EUI64 (little-endian list) -> 8 bytes in display order."""
    return bytes(reversed(bytes(eui)))


def eui64_from_display(data: bytes) -> zt.EUI64:
    """8 bytes in display order -> zigpy EUI64."""
    return zt.EUI64(bytes(reversed(data)))
