"""How a device finds the CH's services: a ZDO Match_Desc_req to the coordinator, as real ones do.

A GB device is not told the CH's endpoint numbers. After joining it asks the coordinator's ZDO
(Match Descriptor, Zigbee spec 2.4.3.1.7) which endpoint holds the server side of each cluster
it uses: OTA Upgrade (0x0019), Key Establishment (0x0800) when it runs CBKE, and the GPF's Device
Management (0x0708). The NCP answers from the endpoints the host registered with addEndpoint, so a
hub that forgets to declare a cluster leaves its devices unable to find that service -- as on a
bench -- and the conformance suite sees the consequence.

What was found is kept across a rejoin (a reboot after activation included) and asked afresh
after a fresh join, when the device may be on another CH. An Image Notify also teaches the OTA
server's endpoint: the ZCL OTA client queries the server that notified it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

import zigpy.types as t
import zigpy.zdo.types as zdo_t

from harness.emulator.air import BROADCAST_RX_ON_WHEN_IDLE, COORDINATOR_NWK, SE_PROFILE
from harness.emulator.zdo_frames import Cmd, decode, encode

if TYPE_CHECKING:
    from .device import EmulatedDevice

MATCH_DESC_REQ = Cmd.Match_Desc_req
MATCH_DESC_RSP = Cmd.Match_Desc_rsp


class ServiceDiscovery:
    """The device's map of cluster -> CH endpoint, filled by Match_Desc_req."""

    def __init__(self, device: EmulatedDevice) -> None:
        self._device = device
        self._found: dict[int, int] = {}
        self._waiting: dict[int, asyncio.Future[tuple[int, list[int]]]] = {}

    def endpoint(self, cluster: int) -> int | None:
        """The CH endpoint serving ``cluster``, or None if it has not been found."""
        return self._found.get(cluster)

    def learn(self, cluster: int, endpoint: int) -> None:
        """An endpoint seen in use (an Image Notify names its sender's): kept like a discovered one."""
        self._found[cluster] = endpoint

    def forget(self) -> None:
        self._found.clear()

    async def discover(self, clusters: Iterable[int]) -> dict[int, int | None]:
        """Find each cluster's server endpoint not yet known; returns every asked cluster's endpoint."""
        clusters = list(clusters)
        for cluster in clusters:
            if cluster not in self._found:
                endpoint = await self._ask(cluster)
                if endpoint is not None:
                    self._found[cluster] = endpoint
        return {cluster: self._found.get(cluster) for cluster in clusters}

    def on_response(self, payload: bytes) -> None:
        """A Match_Desc_rsp from the coordinator (malformed ones raise ValueError for the caller)."""
        tsn, (status, _nwk, endpoints) = decode(MATCH_DESC_RSP, payload)
        waiter = self._waiting.get(tsn)
        if waiter is not None and not waiter.done():
            waiter.set_result((int(status), [int(ep) for ep in endpoints]))

    async def find_by_broadcast(self, cluster: int) -> int | None:
        """Match_Desc_req broadcast to every rx-on node (0xFFFD), as ESI discovery does; only a node
        that matches answers. The first answer's first endpoint is kept (like a discovered one)."""
        endpoint = await self._ask(cluster, broadcast=True)
        if endpoint is not None:
            self._found[cluster] = endpoint
        return endpoint

    async def _ask(self, cluster: int, *, broadcast: bool = False) -> int | None:
        device = self._device
        loop = asyncio.get_running_loop()
        # A broadcast is asked once: silence within the discovery wait is its answer ("nobody").
        for attempt in range(1 if broadcast else device.timings.request_retries + 1):
            tsn = device.next_tsn()
            answered: asyncio.Future[tuple[int, list[int]]] = loop.create_future()
            self._waiting[tsn] = answered
            # NWKAddrOfInterest, ProfileID, one input (server-side) cluster, no output clusters.
            interest = BROADCAST_RX_ON_WHEN_IDLE if broadcast else COORDINATOR_NWK
            payload = encode(MATCH_DESC_REQ, tsn, t.NWK(interest), t.uint16_t(SE_PROFILE),
                             t.LVList[t.uint16_t, t.uint8_t]([cluster]), t.LVList[t.uint16_t, t.uint8_t]())
            device.events.record("match_desc_sent", cluster=cluster, attempt=attempt, broadcast=broadcast)
            device.send_zdo(MATCH_DESC_REQ, payload, broadcast=broadcast)
            try:
                status, endpoints = await asyncio.wait_for(answered, device.timings.response_timeout_s)
            except TimeoutError:
                continue
            finally:
                self._waiting.pop(tsn, None)
            if status != zdo_t.Status.SUCCESS or not endpoints:
                device.events.record("service_not_found", cluster=cluster, status=status)
                return None
            device.events.record("service_found", cluster=cluster, endpoint=endpoints[0])
            return endpoints[0]
        device.events.record("service_discovery_unanswered", cluster=cluster)
        return None
