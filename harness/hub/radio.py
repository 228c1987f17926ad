"""The hub's seam with zigpy + bellows: the application class, its configuration, and ZCL sends.

Two facts about zigpy 2.4.0 shape this module (both read from its source):

* ``ZigbeeDevice._parse_packet_header`` parses ZCL only for the HA (0x0104) and ZLL profiles;
  a Smart Energy (0x0109) frame goes to ``custom_profile_packet_received``, which drops it. GB
  HAN devices speak only SE, so without help zigpy can neither finish their interview nor hear
  their OTA requests. :class:`SmartEnergyDevice` treats SE frames as the ZCL they are, and
  :class:`HubApplication` -- our own subclass of bellows' application, not a patch of zigpy --
  creates every device as one.
* bellows 1.2.1 asks the NCP for a device's extended-timeout flag (``getExtendedTimeout``)
  before every unicast: a whole EZSP round trip per OTA block on a stop-and-wait link, for a
  flag that changes only when the host sets it. :class:`HubEzsp` remembers what the NCP holds per
  device and :class:`HubApplication` forgets it whenever it may have changed.
* zigpy's ZCL schemas cost most of the host's CPU per OTA block.
  :meth:`HubApplication.register_direct_handler` lets the OTA server read its per-block requests
  itself, where zigpy would only have handed them to the OTA server's own listeners.
* zigpy sends a cluster's commands from the same endpoint number as the device's destination
  endpoint. The CH must answer from its own endpoints (OTA server on the SE endpoint, Device
  Management on the GPF endpoint), so :func:`send_zcl` builds the frame from zigpy's command
  definitions and sends it with ``device.request`` and explicit endpoints.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bellows.ezsp
import bellows.types as bt
import bellows.zigbee.application
import zigpy.config
import zigpy.device
import zigpy.endpoint
import zigpy.listeners
import zigpy.state
import zigpy.types as t
import zigpy.zdo.types as zdo_t
from bellows.config import CONF_EZSP_CONFIG, CONF_USE_THREAD
from zigpy.zcl import Cluster, foundation

from harness.hub.se_security import needs_aps_encryption
from harness.hub.settings import HubSettings

LOGGER = logging.getLogger(__name__)

#: Smart Energy profile id (ZSE 1.x).
SE_PROFILE = 0x0109
#: ZSE device id the CH's endpoints advertise (0x0500 is ESP, the energy service portal a CH hosts).
SE_DEVICE_ID_ESP = 0x0500

OTA_CLUSTER = 0x0019
BASIC_CLUSTER = 0x0000
DEVICE_MANAGEMENT_CLUSTER = 0x0708
KEY_ESTABLISHMENT_CLUSTER = 0x0800
TIME_CLUSTER = 0x000A
KEEP_ALIVE_CLUSTER = 0x0025
DRLC_CLUSTER = 0x0701
TUNNELING_CLUSTER = 0x0704


#: Makes the cluster object for one of a device's client clusters, or None for zigpy's default.
ClientClusterFactory = Callable[[zigpy.endpoint.Endpoint], Cluster | None]

#: Reads one ZCL frame (header and payload) from a device (see
#: :meth:`HubApplication.register_direct_handler`): returns what to do with it, run after zigpy's own
#: bookkeeping for the frame, or None to leave the frame to zigpy.
DirectHandler = Callable[[zigpy.device.ZigbeeDevice, bytes], Callable[[], None] | None]


class SmartEnergyEndpoint(zigpy.endpoint.Endpoint):
    """An endpoint whose client clusters the hub may serve with its own cluster objects.

    The GPF must answer a device's Device Management reads from the moment zigpy knows the
    device's endpoints -- before the interview ends, when zigpy's default 0x0708 cluster would
    answer UNSUPPORTED_ATTRIBUTE for every tenancy attribute. So the hub's cluster is created
    here, when zigpy first adds the client cluster, for this device only.
    """

    def add_output_cluster(self, cluster_id: int, cluster: Cluster | None = None) -> Cluster:
        if cluster is None and cluster_id not in self.out_clusters:
            factories = getattr(self.device.application, "client_cluster_factories", {})
            factory = factories.get(cluster_id)
            if factory is not None:
                cluster = factory(self)
        return _secured(super().add_output_cluster(cluster_id, cluster), self.profile_id)

    def add_input_cluster(self, cluster_id: int, cluster: Cluster | None = None) -> Cluster:
        return _secured(super().add_input_cluster(cluster_id, cluster), self.profile_id)


def _secured(cluster: Cluster, profile_id: int | None) -> Cluster:
    """Mark a Smart Energy cluster object so zigpy APS-encrypts all its traffic (its requests, the
    interview's OTA read and Image Notify, its replies): zigpy's own ``Cluster.aps_encryption``."""
    if needs_aps_encryption(SE_PROFILE if profile_id is None else profile_id, cluster.cluster_id):
        cluster.aps_encryption = True
    return cluster


class SmartEnergyDevice(zigpy.device.ZigbeeDevice):
    """A zigpy device that understands ZCL frames sent in the Smart Energy profile.

    Overrides two private methods of the pinned zigpy (2.4.0): the header parse, and the duplicate
    filter, which here compares the APS counter too. Everything after them (response matching,
    request listeners, cluster handlers) is zigpy's own pipeline.
    ``tests/unit/test_hub_radio.py`` fails if a zigpy upgrade changes that method's contract.
    Its endpoints are :class:`SmartEnergyEndpoint`.
    """

    def add_endpoint(self, endpoint_id: int) -> zigpy.endpoint.Endpoint:
        endpoint = SmartEnergyEndpoint(self, endpoint_id)
        self.endpoints[endpoint_id] = endpoint
        return endpoint

    def _should_filter_packet(self, packet: t.ZigbeePacket) -> bool:
        """A duplicate is the same frame with the same APS counter, as the Zigbee spec defines it.

        zigpy 2.4.0 drops any frame whose bytes equal one from the last 10 s and leaves the APS
        counter (``packet.tsn``, bellows' ``apsFrame.sequence``) out of the comparison. A device's
        ZCL sequence number wraps every 256 frames, so during an OTA download its Upgrade End can
        equal, byte for byte, the one it sent two transfers earlier: zigpy would drop a new frame and
        the device would wait out its own timeout and ask again. A real APS retransmission repeats
        the counter (and the NCP already drops those), so it is still filtered here.
        """
        return bool(self._packet_debouncer.filter(
            obj=packet.replace(timestamp=None, lqi=None, rssi=None),
            expire_in=zigpy.device.PACKET_DEBOUNCE_WINDOW,
        ))

    def _parse_packet_header(
        self, packet: t.ZigbeePacket
    ) -> tuple[zdo_t.ZDOHeader | foundation.ZCLHeader, zigpy.device.ResponseKey] | tuple[None, None]:
        if packet.profile_id == SE_PROFILE and packet.src_ep:
            data = packet.data.serialize()
            hdr, _ = foundation.ZCLHeader.deserialize(data)
            key = zigpy.device.ResponseKey(
                endpoint_id=packet.src_ep,
                cluster_id=packet.cluster_id,
                direction=hdr.frame_control.direction,
                tsn=hdr.tsn,
            )
            return hdr, key
        return super()._parse_packet_header(packet)


class HubEzsp(bellows.ezsp.EZSP):  # type: ignore[misc]  # bellows ships no types
    """bellows' EZSP, remembering the extended-timeout flag it has put into the NCP per device.

    bellows' ``set_extended_timeout`` reads the NCP's flag (``getExtendedTimeout``) before every
    ``sendUnicast`` and writes it only when it differs. The flag lives in the NCP's address and
    child tables and changes only when the host writes it -- or when the entry behind it may have
    been rebuilt: the device rejoined, left or changed its address, or the NCP was reset. So the
    flag is asked once per device and address, and :class:`HubApplication` calls :meth:`forget`
    on each of those events; a reset or a reconnect starts from an empty memory.
    """

    def __init__(self, device_config: dict[str, Any], application: Any | None = None) -> None:
        super().__init__(device_config, application)
        #: EUI-64 -> (NWK address it was set for, the flag the NCP holds).
        self._extended_timeouts: dict[t.EUI64, tuple[t.NWK, bool]] = {}

    async def set_extended_timeout(self, nwk: t.NWK, ieee: t.EUI64, extended_timeout: bool = True) -> None:
        wanted = (nwk, bool(extended_timeout))
        if self._extended_timeouts.get(ieee) == wanted:
            return
        self._extended_timeouts.pop(ieee, None)
        await self._protocol.set_extended_timeout(nwk=nwk, ieee=ieee, extended_timeout=extended_timeout)
        self._extended_timeouts[ieee] = wanted

    def forget(self, ieee: t.EUI64) -> None:
        """The NCP's entry for ``ieee`` may have changed: ask it again before the next unicast."""
        self._extended_timeouts.pop(ieee, None)

    def forget_all(self) -> None:
        self._extended_timeouts.clear()

    def knows_extended_timeout(self, ieee: t.EUI64) -> bool:
        """Whether the next unicast to ``ieee`` goes without asking the NCP for its flag."""
        return ieee in self._extended_timeouts

    async def startup_reset(self) -> None:
        self.forget_all()
        await super().startup_reset()

    async def reset(self) -> None:
        self.forget_all()
        await super().reset()


@dataclass(frozen=True, slots=True)
class _DirectEntry:
    """A direct handler, the commands it reads, and the hub's own zigpy listeners for them."""

    handler: DirectHandler
    schemas: tuple[type[foundation.CommandSchema], ...]
    own_listeners: frozenset[int]

    def may_be_taken_by(self, listener: zigpy.listeners.BaseRequestListener) -> bool:
        """Whether zigpy could hand one of the handler's frames to ``listener`` (not one of ours).

        zigpy matches a schema filter with ``Struct.matches``, which needs the two classes to be
        the same or one a subclass of the other; any other kind of filter could take anything.
        """
        if id(listener) in self.own_listeners:
            return False
        for matcher in listener.matchers:
            if not isinstance(matcher, foundation.CommandSchema):
                return True
            kind = type(matcher)
            if any(issubclass(schema, kind) or issubclass(kind, schema) for schema in self.schemas):
                return True
        return False


class HubApplication(bellows.zigbee.application.ControllerApplication):  # type: ignore[misc]  # bellows ships no types
    """bellows' ControllerApplication, creating every device as a :class:`SmartEnergyDevice`.

    ``client_cluster_factories`` maps a cluster id to the factory of the hub's own client-side
    cluster object for it (see :class:`SmartEnergyEndpoint`). ``device_created_hooks`` run the
    moment zigpy creates a device object -- before its interview, whose last step is an Image
    Notify from zigpy: the hub must already own the device's OTA requests when it answers.
    """

    #: The EZSP class each connection uses (bench/benchlib.py measures zigpy as it ships with
    #: bellows' own).
    ezsp_class: type[bellows.ezsp.EZSP] = HubEzsp

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.client_cluster_factories: dict[int, ClientClusterFactory] = {}
        self.device_created_hooks: list[Callable[[zigpy.device.ZigbeeDevice], None]] = []
        #: Run, in order, on every received frame before zigpy sees it; one returning True has
        #: consumed the frame (the APS-security refusal, the CH's SE attribute answers).
        self.frame_gates: list[Callable[[t.ZigbeePacket], bool]] = []
        #: cluster id -> device EUI-64 -> the handler that reads that device's frames on that
        #: cluster itself (see :meth:`register_direct_handler`).
        self._direct_handlers: dict[int, dict[t.EUI64, _DirectEntry]] = {}

    def packet_received(self, packet: t.ZigbeePacket) -> None:
        for gate in self.frame_gates:
            if gate(packet):
                return
        if packet.cluster_id in self._direct_handlers and self._handled_directly(packet):
            return
        super().packet_received(packet)

    def register_direct_handler(
        self, device: zigpy.device.ZigbeeDevice, cluster: int, handler: DirectHandler, *,
        schemas: tuple[type[foundation.CommandSchema], ...], own_listeners: frozenset[int] = frozenset(),
    ) -> Callable[[], None]:
        """Let ``handler`` read ``device``'s Smart Energy frames on ``cluster`` before zigpy parses them.

        For the frames of a hot exchange (OTA blocks: hundreds per transfer) that the hub can read
        with its own field lists for a fraction of what zigpy's ZCL schemas cost. The handler sees a
        frame only when zigpy would have done nothing with it but what the hub does anyway: the
        device is known by its NWK address and interviewed, zigpy waits for no reply from it (a
        pending request could take the frame as its answer), no zigpy request listener but the hub's
        own (``own_listeners``: their ``id()``) could take the frame -- one whose filters are all
        command schemas of other commands than ``schemas`` (the commands the handler reads; zigpy
        matches a listener by schema class) cannot -- and no one listens to the cluster object's
        events. The handler only reads the frame: it returns None for a frame it does not read, and
        zigpy then treats the frame as it always does; else it returns the action, which runs after
        zigpy's own bookkeeping for a received frame, done as zigpy does it (application
        ``handle_message`` listeners, last seen, LQI and RSSI, the duplicate filter).
        Returns the call that removes the handler.
        """
        handlers = self._direct_handlers.setdefault(cluster, {})
        entry = _DirectEntry(handler, schemas, own_listeners)
        handlers[device.ieee] = entry

        def remove() -> None:
            if handlers.get(device.ieee) is entry:
                del handlers[device.ieee]
                if not handlers and self._direct_handlers.get(cluster) is handlers:
                    del self._direct_handlers[cluster]

        return remove

    def request_listener_ids(self, device: zigpy.device.ZigbeeDevice) -> frozenset[int]:
        """The ``id()`` of every zigpy request listener registered for ``device`` now."""
        return frozenset(id(listener) for listener in self._req_listeners.get(device, ()))

    def _handled_directly(self, packet: t.ZigbeePacket) -> bool:
        src = packet.src
        if (packet.profile_id != SE_PROFILE or not packet.src_ep or not packet.dst_ep or src is None
                or src.addr_mode != t.AddrMode.NWK):
            return False
        try:
            device = self.get_device(nwk=src.address)
        except KeyError:
            return False
        entry = self._direct_handlers[packet.cluster_id].get(device.ieee)
        if entry is None or not isinstance(device, SmartEnergyDevice) or not device.is_initialized:
            return False
        if device._requests or any(
            entry.may_be_taken_by(listener)
            for listener in (*self._req_listeners.get(zigpy.listeners.ANY_DEVICE, ()),
                             *self._req_listeners.get(device, ()))
        ):
            return False
        endpoint = device.endpoints.get(packet.src_ep)
        cluster = None if endpoint is None else endpoint.out_clusters.get(packet.cluster_id)
        if cluster is None or cluster._listeners:
            return False  # zigpy would drop it, or someone listens to the cluster's events
        data = packet.data.serialize()
        action = entry.handler(device, data)
        if action is None:
            return False
        # What zigpy's packet_received does for every frame before it parses it, in its order.
        self.listener_event("handle_message", device, packet.profile_id, packet.cluster_id, packet.src_ep,
                            packet.dst_ep, data)
        device.last_seen = packet.timestamp
        if packet.lqi is not None:
            device.lqi = packet.lqi
        if packet.rssi is not None:
            device.rssi = packet.rssi
        if device._should_filter_packet(packet):
            return True  # a duplicate, dropped as zigpy drops it
        try:
            action()
        except Exception as exc:  # noqa: BLE001 -- as zigpy's listener wrapper: logged, the radio link goes on
            LOGGER.warning("Device %r: handling a frame on cluster 0x%04X failed - %r", device, packet.cluster_id, exc,
                           exc_info=True)
        return True

    async def write_network_info(
        self, *, network_info: zigpy.state.NetworkInfo, node_info: zigpy.state.NodeInfo
    ) -> None:
        """Form the network as a Smart Energy trust centre, not with bellows' Zigbee 3.0 security.

        bellows builds its initial security state (``util.zha_security``: global and hashed TC
        link key) inside this step; the state it hands the NCP goes through
        :func:`smart_energy_security` on the way, for this call only.
        """
        ezsp = self._ezsp
        send_state = ezsp.setInitialSecurityState

        async def set_smart_energy_state(state: bt.EmberInitialSecurityState) -> Any:
            return await send_state(state=smart_energy_security(state))

        ezsp.setInitialSecurityState = set_smart_energy_state  # this EZSP instance, this step only
        try:
            await super().write_network_info(network_info=network_info, node_info=node_info)
        finally:
            del ezsp.setInitialSecurityState  # back to the EZSP command

    async def start_network(self) -> None:
        """bellows' start-up, then the Smart Energy trust centre's extended security bit.

        Every SE security profile sets NWK_LEAVE_REQUEST_NOT_ALLOWED (Silicon Labs
        ``security-config.h``, reference §5): the CH's router ignores a NWK Leave request. The NCP
        keeps the bit in RAM only, so a Silicon Labs trust centre sets it again after every start
        (``network-creator-security``); the hub does the same, through ``setValue``.
        """
        await super().start_network()
        await self.set_extended_security_bits(SE_TC_EXTENDED_SECURITY)

    async def set_extended_security_bits(self, bits: int) -> None:
        """OR ``bits`` into the NCP's extended security bitmask (VALUE_EXTENDED_SECURITY_BITMASK)."""
        ezsp = self._ezsp
        current = await self.extended_security_bitmask()
        value = (current or 0) | bits
        (status,) = await ezsp.setValue(valueId=bt.EzspValueId.VALUE_EXTENDED_SECURITY_BITMASK,
                                        value=value.to_bytes(2, "little"))
        if bt.sl_Status.from_ember_status(status) != bt.sl_Status.OK:
            # Not fatal: the rig check's trust-centre line then says "NOT a Smart Energy trust centre".
            LOGGER.warning("the NCP refused the extended security bitmask 0x%04X: setValue answered %r", value, status)

    async def extended_security_bitmask(self) -> int | None:
        """The NCP's extended security bitmask, or None when it does not report one."""
        status, value = await self._ezsp.getValue(valueId=bt.EzspValueId.VALUE_EXTENDED_SECURITY_BITMASK)
        if bt.sl_Status.from_ember_status(status) != bt.sl_Status.OK or len(value) < 2:
            return None
        return int.from_bytes(bytes(value)[:2], "little")

    async def keep_link_key(self, ieee: t.EUI64, key: bytes) -> str | None:
        """Keep a device's install-code key in the NCP's key table, where an SE trust centre keeps it
        and where the NCP's CBKE later overwrites it (reference §5); the join itself still uses the
        transient key bellows' ``permit_with_link_key`` sets. Returns why not, or None when kept.

        The entry goes where the device already has one, else in the first free slot
        (``exportLinkKeyByIndex``, ``importLinkKey``: EZSP v12 and later).
        """
        ezsp = self._ezsp
        if "importLinkKey" not in ezsp._protocol.COMMANDS:
            return f"EZSP v{ezsp.ezsp_version} has no importLinkKey"
        _status, size = await ezsp.getConfigurationValue(configId=bt.EzspConfigId.CONFIG_KEY_TABLE_SIZE)
        slot = None
        names = list(ezsp._protocol.COMMANDS["exportLinkKeyByIndex"][2])  # the answer's order differs by version
        for index in range(int(size)):
            entry = dict(zip(names, await ezsp.exportLinkKeyByIndex(index=index), strict=False))
            status = entry["status"]
            eui64 = entry["eui64"] if "eui64" in entry else entry["context"].eui64
            if bt.sl_Status.from_ember_status(status) != bt.sl_Status.OK:
                slot = index if slot is None else slot
            elif eui64 == ieee:
                slot = index
                break
        if slot is None:
            return f"the NCP's key table ({int(size)} entries) is full"
        (status,) = await ezsp.importLinkKey(index=slot, address=ieee, key=bt.KeyData(key))
        if bt.sl_Status.from_ember_status(status) != bt.sl_Status.OK:
            return f"importLinkKey answered {status!r}"
        return None

    async def trust_centre_security(self) -> TrustCentreSecurity:
        """What the NCP says about its trust-centre security now (getCurrentSecurityState, getPolicy)."""
        ezsp = self._ezsp
        _status, state = await ezsp.getCurrentSecurityState()
        bits = int(state.bitmask)

        async def policy(policy_id: bt.EzspPolicyId) -> int:
            _status, decision = await ezsp.getPolicy(policyId=policy_id)
            return int(decision)

        def decision_name(value: int) -> str:
            try:
                return str(bt.EzspDecisionId(value).name)
            except ValueError:
                return f"0x{value:02X}"

        return TrustCentreSecurity(
            global_link_key=bool(bits & bt.EmberCurrentSecurityBitmask.GLOBAL_LINK_KEY),
            hashed_link_key=bits & 0x0080 == 0x0080,  # TRUST_CENTER_USES_HASHED_LINK_KEY's own bit
            tc_key_requests=decision_name(await policy(bt.EzspPolicyId.TC_KEY_REQUEST_POLICY)),
            app_key_requests=decision_name(await policy(bt.EzspPolicyId.APP_KEY_REQUEST_POLICY)),
            join_policy=await policy(bt.EzspPolicyId.TRUST_CENTER_POLICY),
            extended_bitmask=await self.extended_security_bitmask(),
        )

    @property
    def ezsp(self) -> bellows.ezsp.EZSP | None:
        """bellows' EZSP connection to the NCP, for the frames zigpy has no radio-neutral call for
        (clearTransientLinkKeys, the CBKE 283k1 frames, the negotiated protocol version).

        The one place the hub touches bellows' private ``_ezsp``: the object is replaced on every
        reconnect, so callers ask for it each time; None while the radio is disconnected.
        """
        ezsp: bellows.ezsp.EZSP | None = self._ezsp
        return ezsp

    def add_device(self, ieee: t.EUI64, nwk: t.NWK) -> zigpy.device.ZigbeeDevice:
        assert isinstance(ieee, t.EUI64)
        device = SmartEnergyDevice(self, ieee, nwk)
        self.devices[ieee] = device
        for hook in self.device_created_hooks:
            hook(device)
        return device

    async def connect(self) -> None:
        """bellows 1.2.1's ``connect``, with :attr:`ezsp_class` in place of its EZSP class.

        Every connection -- the first, and each reconnect after the NCP was lost -- gets a new
        :class:`HubEzsp`, so nothing remembered about the NCP outlives it.
        ``tests/unit/test_hub_radio_round_trips.py`` fails if a bellows upgrade changes this path.
        """
        self._ezsp = self.ezsp_class(self.config[zigpy.config.CONF_DEVICE], self)
        try:
            await self._ezsp.connect(use_thread=self.config[CONF_USE_THREAD])
            await self._ezsp.write_config(self.config[CONF_EZSP_CONFIG])
            self._created_device_endpoints.clear()
            await self.register_endpoints()
        except Exception:
            if self._ezsp is not None:
                await self._ezsp.disconnect()
                self._ezsp = None
            raise

    def knows_extended_timeout(self, ieee: t.EUI64) -> bool:
        """Whether the next unicast to ``ieee`` skips the NCP's extended-timeout query."""
        return isinstance(self._ezsp, HubEzsp) and self._ezsp.knows_extended_timeout(ieee)

    def _forget_extended_timeout(self, ieee: t.EUI64) -> None:
        if isinstance(self._ezsp, HubEzsp):
            self._ezsp.forget(ieee)

    def handle_join(self, nwk: t.NWK, ieee: t.EUI64, parent_nwk: t.NWK, *, handle_rejoin: bool = True) -> None:
        """A join, rejoin or new address: the NCP's entry for the device may be a new one."""
        self._forget_extended_timeout(ieee)
        super().handle_join(nwk, ieee, parent_nwk, handle_rejoin=handle_rejoin)

    def handle_leave(self, nwk: t.NWK, ieee: t.EUI64) -> None:
        self._forget_extended_timeout(ieee)
        super().handle_leave(nwk, ieee)


#: The EZSP policies of a Smart Energy trust centre (Silicon Labs ``security-config.h``, the same in
#: Gecko SDK and EmberZNet 5.7; reference §5): a device may not ask for the TC link key, and may ask
#: for application (partner) link keys. bellows' defaults are the Zigbee 3.0 opposite.
SE_TC_POLICIES: dict[str, int] = {
    bt.EzspPolicyId.TC_KEY_REQUEST_POLICY.name: bt.EzspDecisionId.DENY_TC_KEY_REQUESTS,
    bt.EzspPolicyId.APP_KEY_REQUEST_POLICY.name: bt.EzspDecisionId.ALLOW_APP_KEY_REQUESTS,
}

#: The initial-security bits of a Smart Energy full-security trust centre: it has the network key
#: and sends it only encrypted, under each device's own (install-code) link key. No global
#: (well-known) TC link key and no hashed TC link key -- only Zigbee 3.0 sets those.
SE_TC_SECURITY = bt.EmberInitialSecurityBitmask.HAVE_NETWORK_KEY | bt.EmberInitialSecurityBitmask.REQUIRE_ENCRYPTED_KEY
#: Bits of bellows' state kept as they are: bookkeeping, not policy.
_KEPT_SECURITY_BITS = (bt.EmberInitialSecurityBitmask.HAVE_TRUST_CENTER_EUI64
                       | bt.EmberInitialSecurityBitmask.NO_FRAME_COUNTER_RESET)


#: The extended security bit every Smart Energy security profile sets (Silicon Labs
#: ``EMBER_NWK_LEAVE_REQUEST_NOT_ALLOWED``, ``ember-types.h``): a router discards NWK Leave requests.
NWK_LEAVE_REQUEST_NOT_ALLOWED = 0x0100
SE_TC_EXTENDED_SECURITY = NWK_LEAVE_REQUEST_NOT_ALLOWED


def smart_energy_security(state: bt.EmberInitialSecurityState) -> bt.EmberInitialSecurityState:
    """bellows' Zigbee 3.0 initial security state turned into an SE trust centre's (same keys)."""
    kept = bt.EmberInitialSecurityBitmask(int(state.bitmask) & int(_KEPT_SECURITY_BITS))
    return state.replace(bitmask=SE_TC_SECURITY | kept)


@dataclass(frozen=True, slots=True)
class TrustCentreSecurity:
    """The trust-centre settings the NCP runs with, as the rig check prints them."""

    global_link_key: bool
    hashed_link_key: bool
    tc_key_requests: str
    app_key_requests: str
    join_policy: int
    #: The extended security bitmask, None when the NCP does not report one.
    extended_bitmask: int | None = None

    @property
    def leave_requests_refused(self) -> bool:
        return self.extended_bitmask is not None and bool(self.extended_bitmask & NWK_LEAVE_REQUEST_NOT_ALLOWED)

    @property
    def smart_energy(self) -> bool:
        return (not self.global_link_key and not self.hashed_link_key and self.leave_requests_refused
                and self.tc_key_requests == "DENY_TC_KEY_REQUESTS" and self.app_key_requests == "ALLOW_APP_KEY_REQUESTS")

    def line(self) -> str:
        verdict = "Smart Energy trust centre" if self.smart_energy else "NOT a Smart Energy trust centre"
        return (f"trust centre: {verdict} (global TC link key {'yes' if self.global_link_key else 'no'}, hashed TC "
                f"link key {'yes' if self.hashed_link_key else 'no'}, TC key requests {self.tc_key_requests}, app key "
                f"requests {self.app_key_requests}, NWK leave requests {self._leave_requests()}, join policy "
                f"0x{self.join_policy:04X})")

    def _leave_requests(self) -> str:
        if self.extended_bitmask is None:
            return "unknown (no extended security bitmask)"
        return "refused" if self.leave_requests_refused else "accepted"


def zigpy_eui64(display: bytes) -> t.EUI64:
    """Display-order EUI-64 bytes (``00:0D:6F:...`` as written in rig files) as zigpy's EUI64."""
    if len(display) != 8:
        raise ValueError(f"EUI-64 must be 8 bytes, got {len(display)}")
    return t.EUI64(bytes(display)[::-1])


def endpoint_descriptors(settings: HubSettings) -> list[dict[str, Any]]:
    """The CH's own endpoints: SE endpoint (OTA, Key Establishment, Time and Keep-Alive servers) and the GPF endpoint.

    The NCP answers a device's Match_Desc_req from these lists, which is how a device finds the
    OTA server, the Key Establishment server (hub/key_establishment.py) and the GPF's Device
    Management server; a cluster missing here is a service no device can find.
    """
    return [
        {
            "endpoint": settings.se_endpoint,
            "profile": SE_PROFILE,
            "device_type": SE_DEVICE_ID_ESP,
            "device_version": 0,
            "input_clusters": [OTA_CLUSTER, KEY_ESTABLISHMENT_CLUSTER, TIME_CLUSTER, KEEP_ALIVE_CLUSTER],
            "output_clusters": [KEY_ESTABLISHMENT_CLUSTER, TUNNELING_CLUSTER],
        },
        {
            "endpoint": settings.gpf_endpoint,
            "profile": SE_PROFILE,
            "device_type": SE_DEVICE_ID_ESP,
            "device_version": 0,
            "input_clusters": [BASIC_CLUSTER, DEVICE_MANAGEMENT_CLUSTER],
            "output_clusters": [],
        },
    ] + ([{
        # The ESI an IHD registers with: found by a broadcast Match_Desc for the DRLC server
        # (Silicon Labs smart-energy-registration; reference §3). Only where the rig asks for it.
        "endpoint": settings.esi_endpoint,
        "profile": SE_PROFILE,
        "device_type": SE_DEVICE_ID_ESP,
        "device_version": 0,
        "input_clusters": [DRLC_CLUSTER],
        "output_clusters": [],
    }] if settings.esi_endpoint is not None else [])


@dataclass(frozen=True, slots=True)
class NetworkIdentity:
    """The network the CH forms and keeps: fixed for a run so an NCP reset can restore it."""

    channel: int
    pan_id: int
    extended_pan_id: bytes  # 8 bytes, display order
    network_key: bytes  # 16 bytes; wrapped in a Secret everywhere else

    @classmethod
    def for_rig(cls, han: Any) -> NetworkIdentity:
        """From a rig's ``[han]``; missing values are generated once per run."""
        key = han.network_key.reveal() if han.network_key is not None else os.urandom(16)
        key = bytes.fromhex(key) if isinstance(key, str) else bytes(key)
        pan_id = han.pan_id if han.pan_id is not None else int.from_bytes(os.urandom(2), "little") % 0xFFF0 + 1
        ext = han.extended_pan_id if han.extended_pan_id is not None else os.urandom(8)
        return cls(channel=han.channel, pan_id=pan_id, extended_pan_id=bytes(ext), network_key=key)


def zigpy_config(
    *,
    port: str,
    baudrate: int,
    flow_control: str | None,
    network: NetworkIdentity,
    settings: HubSettings,
    database_path: Path | None,
    ezsp_config: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The configuration the hub gives zigpy/bellows.

    No OTA providers (zigpy must never offer images of its own), no backups or topology scans
    (they add radio traffic the report would have to explain), the channel and network fixed by
    the rig, and the CH's SE and GPF endpoints registered through ``additional_endpoints``.
    """
    return {
        "device": {"path": port, "baudrate": baudrate, "flow_control": flow_control},
        "database_path": str(database_path) if database_path is not None else None,
        "network": {
            "channel": network.channel,
            "pan_id": network.pan_id,
            "extended_pan_id": ":".join(f"{b:02x}" for b in network.extended_pan_id),
            "key": list(network.network_key),
        },
        "ota": {"enabled": False, "providers": [], "broadcast_enabled": False},
        "backup_enabled": False,
        "topology_scan_enabled": False,
        "additional_endpoints": endpoint_descriptors(settings),
        "ezsp_config": dict(ezsp_config or {}),
        "ezsp_policies": dict(SE_TC_POLICIES),
        "use_thread": False,
    }


async def send_zcl(
    device: zigpy.device.ZigbeeDevice,
    *,
    cluster: int,
    src_ep: int,
    dst_ep: int,
    command_id: int,
    payload: Any,
    tsn: int | None = None,
    general: bool = False,
    direction: foundation.Direction = foundation.Direction.Server_to_Client,
    disable_default_response: bool = True,
    profile: int = SE_PROFILE,
    aps_encryption: bool | None = None,
) -> int:
    """Send one ZCL command from one of the CH's endpoints; returns the TSN used.

    ``aps_encryption`` None: APS-encrypted with the device's link key when the cluster is one a
    Smart Energy node secures (:mod:`harness.hub.se_security`), through zigpy's own request
    option; False only for a deliberate unencrypted probe or a Default Response to an unencrypted
    frame, True/False to force.

    ``payload`` is a zigpy command schema instance (``Ota.ClientCommandDefs.x.schema(...)``,
    ``foundation.GENERAL_COMMANDS[...].schema(...)``), so every byte comes from zigpy's
    definitions. The send waits for the radio's confirmation (a DeliveryError if the device
    could not be reached) but not for a ZCL reply.
    """
    if tsn is None:
        tsn = device.get_sequence()
    frame_control = foundation.FrameControl(
        frame_type=foundation.FrameType.GLOBAL_COMMAND if general else foundation.FrameType.CLUSTER_COMMAND,
        is_manufacturer_specific=False,
        direction=direction,
        disable_default_response=disable_default_response,
        reserved=0b000,
    )
    header = foundation.ZCLHeader(frame_control=frame_control, manufacturer=None, tsn=tsn, command_id=command_id)
    await send_zcl_frame(device, cluster=cluster, src_ep=src_ep, dst_ep=dst_ep, tsn=tsn,
                         frame=header.serialize() + payload.serialize(), profile=profile, aps_encryption=aps_encryption)
    return tsn


async def send_zcl_frame(
    device: zigpy.device.ZigbeeDevice,
    *,
    cluster: int,
    src_ep: int,
    dst_ep: int,
    tsn: int,
    frame: bytes,
    profile: int = SE_PROFILE,
    aps_encryption: bool | None = None,
) -> None:
    """Send one whole ZCL frame (header with ``tsn``, and payload) as :func:`send_zcl` does.

    For a frame the caller has built itself (the OTA server's Image Block Responses,
    :mod:`harness.ota.cluster_frames`); the delivery and the APS security are :func:`send_zcl`'s.
    """
    await device.request(
        profile=profile,
        cluster=cluster,
        src_ep=src_ep,
        dst_ep=dst_ep,
        sequence=tsn,
        data=frame,
        expect_reply=False,
        aps_encryption=needs_aps_encryption(profile, cluster) if aps_encryption is None else aps_encryption,
    )
