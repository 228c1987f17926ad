"""The coordinator's own ZDO: answers the ZDO requests the host addresses to 0x0000.

On a real NCP the stack's ZDO answers requests the host sends to itself, and the answer
reaches the host as an ``incomingMessageHandler`` from 0x0000. zigpy interviews its own
coordinator this way at every start (``Node_Desc_req`` first); with no answer the start-up
stalls for minutes (reference notes §3.2 step 10). Responses are built from the Zigbee
specification's ZDO layouts (§2.4.4) using zigpy's descriptor types for the byte layout.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import zigpy.types as zt
import zigpy.zdo.types as zdo_t

#: ZDO status codes (Zigbee spec Table 2.138).
ZDO_SUCCESS = 0x00
ZDO_INVALID_REQUEST_TYPE = 0x80
ZDO_DEVICE_NOT_FOUND = 0x81
ZDO_NOT_ACTIVE = 0x82
ZDO_NOT_SUPPORTED = 0x84

#: Silicon Labs' manufacturer code, which real EmberZNet NCPs put in their node descriptor.
SILABS_MANUFACTURER_CODE = 0x1049

#: Server mask: primary trust centre (bit 0) + network manager (bit 6), stack compliance
#: revision 22 in bits 9-15 (R22 = 0x16 << 9).
COORDINATOR_SERVER_MASK = 0x0001 | 0x0040 | (22 << 9)

RESPONSE_BIT = 0x8000


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An endpoint the host registered with addEndpoint."""

    endpoint: int
    profile_id: int
    device_id: int
    device_version: int
    input_clusters: tuple[int, ...]
    output_clusters: tuple[int, ...]

    def simple_descriptor(self) -> zdo_t.SimpleDescriptor:
        return zdo_t.SimpleDescriptor(
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
        """The response to one ZDO request, or None for a response frame (nothing to answer)."""
        if cluster_id & RESPONSE_BIT or not payload:
            return None
        tsn, body = payload[0], payload[1:]
        handler = {
            zdo_t.ZDOCmd.NWK_addr_req: self._nwk_addr,
            zdo_t.ZDOCmd.IEEE_addr_req: self._ieee_addr,
            zdo_t.ZDOCmd.Node_Desc_req: self._node_desc,
            zdo_t.ZDOCmd.Simple_Desc_req: self._simple_desc,
            zdo_t.ZDOCmd.Active_EP_req: self._active_ep,
            zdo_t.ZDOCmd.Mgmt_Permit_Joining_req: self._permit_joining,
            zdo_t.ZDOCmd.Match_Desc_req: self._match_desc,
        }.get(cluster_id)
        try:
            body_out = handler(body) if handler else bytes((ZDO_NOT_SUPPORTED,))
        except (struct.error, ValueError, IndexError):
            body_out = bytes((ZDO_INVALID_REQUEST_TYPE,))
        return cluster_id | RESPONSE_BIT, bytes((tsn,)) + body_out

    # -- one method per request; each returns the response after the TSN ---------------------

    def _own_eui64_le(self) -> bytes:
        return bytes(reversed(self.eui64))

    def _nwk_addr(self, body: bytes) -> bytes:
        ieee_le = body[:8]
        if ieee_le != self._own_eui64_le():
            return bytes((ZDO_INVALID_REQUEST_TYPE,)) + ieee_le + struct.pack("<H", 0xFFFF)
        return bytes((ZDO_SUCCESS,)) + ieee_le + struct.pack("<H", self.nwk)

    def _ieee_addr(self, body: bytes) -> bytes:
        struct.unpack_from("<HBB", body)  # NWKAddrOfInterest, RequestType, StartIndex: length check
        return bytes((ZDO_SUCCESS,)) + self._own_eui64_le() + struct.pack("<H", self.nwk)

    def _node_desc(self, body: bytes) -> bytes:
        struct.unpack_from("<H", body)  # NWKAddrOfInterest: length check (we answer for ourselves)
        return bytes((ZDO_SUCCESS,)) + struct.pack("<H", self.nwk) + coordinator_node_descriptor().serialize()

    def _active_ep(self, body: bytes) -> bytes:
        struct.unpack_from("<H", body)  # NWKAddrOfInterest: length check
        eps = sorted(self.endpoints)
        return bytes((ZDO_SUCCESS,)) + struct.pack("<HB", self.nwk, len(eps)) + bytes(eps)

    def _simple_desc(self, body: bytes) -> bytes:
        _, ep = struct.unpack_from("<HB", body)
        endpoint = self.endpoints.get(ep)
        if endpoint is None:
            return bytes((ZDO_NOT_ACTIVE,)) + struct.pack("<HB", self.nwk, 0)
        desc = endpoint.simple_descriptor().serialize()
        return bytes((ZDO_SUCCESS,)) + struct.pack("<HB", self.nwk, len(desc)) + desc

    def _permit_joining(self, body: bytes) -> bytes:
        return bytes((ZDO_SUCCESS,))

    def _match_desc(self, body: bytes) -> bytes:
        """Our endpoints with the request's profile holding any of its input clusters among their
        input clusters, or any of its output clusters among their outputs (Zigbee spec 2.4.4.2.7).

        This is how a device finds the CH's OTA, Key Establishment and GPF servers: the answer
        comes from what the host registered with addEndpoint, so a cluster the hub forgot to
        declare is one no device can find.
        """
        nwk, profile, in_count = struct.unpack_from("<HHB", body)
        wanted_in = struct.unpack_from(f"<{in_count}H", body, 5)
        (out_count,) = struct.unpack_from("<B", body, 5 + 2 * in_count)
        wanted_out = struct.unpack_from(f"<{out_count}H", body, 6 + 2 * in_count)
        if nwk != self.nwk:
            return bytes((ZDO_DEVICE_NOT_FOUND,)) + struct.pack("<HB", nwk, 0)
        matches = [
            ep.endpoint for ep in sorted(self.endpoints.values(), key=lambda e: e.endpoint)
            if ep.profile_id == profile
            and (set(wanted_in) & set(ep.input_clusters) or set(wanted_out) & set(ep.output_clusters))
        ]
        return bytes((ZDO_SUCCESS,)) + struct.pack("<HB", self.nwk, len(matches)) + bytes(matches)


def eui64_to_display(eui: zt.EUI64) -> bytes:
    """bellows/zigpy EUI64 (little-endian list) -> 8 bytes in display order."""
    return bytes(reversed(bytes(eui)))


def eui64_from_display(data: bytes) -> zt.EUI64:
    """8 bytes in display order -> zigpy EUI64."""
    return zt.EUI64(bytes(reversed(data)))
