"""The device's ZDO server: what zigpy's interview and the trust centre ask of a joined node.

Answers Node_Desc, Power_Desc, Active_EP, Simple_Desc, IEEE/NWK addr, Bind and Mgmt_Leave with
zigpy's ZDO schemas (``zigpy.zdo.types.CLUSTERS``) and NOT_SUPPORTED for any other request, as
the Zigbee spec (2.4.3) requires rather than staying silent -- a silent device looks absent.
A Mgmt_Leave is reported back as a :class:`LeaveRequest` for the device to act on after it replied.
"""

from __future__ import annotations

from dataclasses import dataclass

import zigpy.types as t
import zigpy.zdo.types as zdo_t

from harness.emulator.air import SE_PROFILE
from harness.emulator.zdo_frames import ZdoDecodeError, decode, encode, simple_desc_error

from .settings import CLIENT_CLUSTERS, DEVICE_IDS, SERVER_CLUSTERS, DeviceSettings

Cmd = zdo_t.ZDOCmd
ZdoStatus = zdo_t.Status

#: MAC capabilities of a mains-powered, rx-on router (IHDs and PPMIDs on a GB HAN are usually routers).
ROUTER_CAPABILITIES = (
    zdo_t.MACCapabilityFlags.FullFunctionDevice
    | zdo_t.MACCapabilityFlags.MainsPowered
    | zdo_t.MACCapabilityFlags.RxOnWhenIdle
    | zdo_t.MACCapabilityFlags.AllocateAddress
)


@dataclass(frozen=True, slots=True)
class ZdoReply:
    """A response to send (cluster id = request | 0x8000) and an optional leave to perform afterwards."""

    cluster_id: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class LeaveRequest:
    rejoin: bool


def device_annce(tsn: int, nwk: int, eui64: bytes) -> bytes:
    """ZDO Device_annce (broadcast after joining or rejoining)."""
    return encode(Cmd.Device_annce, tsn, t.NWK(nwk), t.EUI64(eui64[::-1]), t.uint8_t(ROUTER_CAPABILITIES))


class ZdoServer:
    """Answers ZDO requests addressed to one device."""

    def __init__(self, settings: DeviceSettings) -> None:
        self._settings = settings

    def node_descriptor(self) -> zdo_t.NodeDescriptor:
        return zdo_t.NodeDescriptor(
            logical_type=zdo_t.LogicalType.Router,
            complex_descriptor_available=0,
            user_descriptor_available=0,
            reserved=0,
            aps_flags=0,
            frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz,
            mac_capability_flags=ROUTER_CAPABILITIES,
            manufacturer_code=self._settings.manufacturer_code,
            maximum_buffer_size=82,
            maximum_incoming_transfer_size=82,
            server_mask=0x2C00,  # stack compliance revision 22
            maximum_outgoing_transfer_size=82,
            descriptor_capability_field=zdo_t.DescriptorCapability.NONE,
        )

    def simple_descriptor(self) -> zdo_t.SizePrefixedSimpleDescriptor:
        settings = self._settings
        return zdo_t.SizePrefixedSimpleDescriptor(
            endpoint=settings.endpoint,
            profile=SE_PROFILE,
            device_type=DEVICE_IDS[settings.role],
            device_version=0,
            input_clusters=list(SERVER_CLUSTERS),
            output_clusters=list(CLIENT_CLUSTERS[settings.role]),
        )

    def handle(self, cluster_id: int, payload: bytes, *, nwk: int, broadcast: bool) -> tuple[ZdoReply | None, LeaveRequest | None]:
        """The reply (if any) to one ZDO frame, and a leave to perform after sending it."""
        if cluster_id & 0x8000:
            return None, None  # a response (e.g. to our own request); devices here send none
        try:
            command = Cmd(cluster_id)
        except ValueError:
            command = None
        if command is None or command not in zdo_t.CLUSTERS:
            if broadcast or not payload:
                return None, None
            return ZdoReply(cluster_id | 0x8000, payload[:1] + ZdoStatus.NOT_SUPPORTED.serialize()), None
        tsn, args = decode(command, payload)
        settings = self._settings
        own_ieee = t.EUI64(settings.eui64[::-1])
        rsp = Cmd(cluster_id | 0x8000) if (cluster_id | 0x8000) in Cmd._value2member_map_ else None

        def reply(*rsp_args: object) -> tuple[ZdoReply, None]:
            assert rsp is not None
            return ZdoReply(int(rsp), encode(rsp, tsn, *rsp_args)), None

        if command == Cmd.NWK_addr_req:
            if args[0] != own_ieee:
                return None, None  # broadcast search for someone else
            return reply(ZdoStatus.SUCCESS, own_ieee, t.NWK(nwk))
        if command == Cmd.IEEE_addr_req:
            return reply(ZdoStatus.SUCCESS, own_ieee, t.NWK(nwk))
        if command == Cmd.Device_annce or broadcast and command not in (Cmd.Match_Desc_req,):
            return None, None  # other nodes' announcements and broadcast management commands
        if command == Cmd.Node_Desc_req:
            return reply(ZdoStatus.SUCCESS, t.NWK(nwk), self.node_descriptor())
        if command == Cmd.Power_Desc_req:
            power = zdo_t.PowerDescriptor(
                current_power_mode=zdo_t.CurrentPowerMode.RxOnSyncedWithNodeDesc,
                available_power_sources=zdo_t.PowerSources.MainsPower,
                current_power_source=zdo_t.PowerSources.MainsPower,
                current_power_source_level=zdo_t.PowerSourceLevel.Percent100,
            )
            return reply(ZdoStatus.SUCCESS, t.NWK(nwk), power)
        if command == Cmd.Active_EP_req:
            return reply(ZdoStatus.SUCCESS, t.NWK(nwk), t.LVList[t.uint8_t, t.uint8_t]([settings.endpoint]))
        if command == Cmd.Simple_Desc_req:
            endpoint = int(args[1])
            if endpoint != settings.endpoint:
                status = ZdoStatus.NOT_ACTIVE if 1 <= endpoint <= 240 else ZdoStatus.INVALID_EP
                return ZdoReply(int(Cmd.Simple_Desc_rsp), simple_desc_error(tsn, status, nwk)), None
            return reply(ZdoStatus.SUCCESS, t.NWK(nwk), self.simple_descriptor())
        if command == Cmd.Match_Desc_req:
            wanted_in, wanted_out = set(args[2]), set(args[3])
            role_out = set(CLIENT_CLUSTERS[settings.role])
            matches = args[1] in (SE_PROFILE, 0xFFFF) and (wanted_in & set(SERVER_CLUSTERS) or wanted_out & role_out)
            if broadcast and not matches:
                return None, None
            return reply(ZdoStatus.SUCCESS, t.NWK(nwk), t.LVList[t.uint8_t, t.uint8_t]([settings.endpoint] if matches else []))
        if command in (Cmd.Bind_req, Cmd.Unbind_req):
            return reply(ZdoStatus.SUCCESS)
        if command == Cmd.Mgmt_Leave_req:
            target, options = args
            if target not in (own_ieee, t.EUI64.convert("00:00:00:00:00:00:00:00")):
                return reply(ZdoStatus.NOT_SUPPORTED)  # asked to remove a child; it has none
            rejoin = bool(int(options) & 0x80)  # bit 7 of the options: rejoin (Zigbee 2.4.3.3.5)
            return ZdoReply(int(Cmd.Mgmt_Leave_rsp), encode(Cmd.Mgmt_Leave_rsp, tsn, ZdoStatus.SUCCESS)), LeaveRequest(rejoin)
        if rsp is None:
            return None, None
        return ZdoReply(int(rsp), t.uint8_t(tsn).serialize() + ZdoStatus.NOT_SUPPORTED.serialize()), None


__all__ = ["LeaveRequest", "ZdoDecodeError", "ZdoReply", "ZdoServer", "decode", "device_annce", "encode"]
