"""The contract between the emulated NCP and the virtual HAN devices ("the air").

The NCP (``harness.emulator.ncp``) owns one air object -- normally
``harness.emulator.han.VirtualHan`` -- and the devices never see EZSP or ASH; the NCP never sees
ZCL except its own coordinator ZDO loopback. Everything that crosses that line is in this module,
so either side can be written, replaced or faked in a test without reading the other.

Direction of calls:

* NCP -> air: :class:`Air` (``network_formed``, ``permit_joining``, ``unicast``, ``broadcast``,
  and for the NCP's scans ``energy_dbm`` and ``beacons``).
  All are called on the emulator's event loop.
* air -> NCP: :class:`Coordinator` (``frame_from_device``, ``trust_centre_join``, ``device_left``,
  ``transient_key_for``, ``install_code_policy``, ``eui64``). Also called on the emulator's loop;
  the NCP turns them into EZSP callbacks (``incomingMessageHandler``, ``trustCenterJoinHandler``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .scan import HeardNetwork

#: Zigbee NWK address of the coordinator / trust centre.
COORDINATOR_NWK = 0x0000

#: Broadcast NWK addresses (Zigbee spec 3.6.5): all devices, rx-on-when-idle, routers + coordinator.
BROADCAST_ALL = 0xFFFF
BROADCAST_RX_ON_WHEN_IDLE = 0xFFFD
BROADCAST_ROUTERS = 0xFFFC

#: Profile ids seen on the air.
ZDO_PROFILE = 0x0000
HA_PROFILE = 0x0104
SE_PROFILE = 0x0109

#: Clusters whose frames a Smart Energy node sends and accepts only APS-encrypted under an SE
#: security profile (Silicon Labs ``emberAfDetermineIfLinkSecurityIsRequired``; the independent
#: model, reference/real-device-behaviour.md §1). Key Establishment, Basic, Identify and ZDO are not
#: listed: CBKE runs with network security only. OTA is listed except a broadcast Image Notify.
APS_SECURED_CLUSTERS: frozenset[int] = frozenset({
    0x000A,  # Time
    0x0015,  # Commissioning
    0x0019,  # OTA Upgrade (a broadcast Image Notify excepted)
    0x0025,  # Keep-Alive
    0x0600,  # Generic Tunnel
    0x0700, 0x0701, 0x0702, 0x0703, 0x0704, 0x0705, 0x0706, 0x0707, 0x0708, 0x0709, 0x070A, 0x070B,
})


def needs_aps_security(profile_id: int, cluster_id: int) -> bool:
    """Whether a frame on ``cluster_id`` must be APS-encrypted (SE profile or the wildcard 0xFFFF)."""
    return profile_id in (SE_PROFILE, 0xFFFF) and cluster_id in APS_SECURED_CLUSTERS


#: The well-known default trust-centre link key; GB devices refuse it.
WELL_KNOWN_LINK_KEY = b"ZigBeeAlliance09"

#: The trust centre's decision on a join, as reported to the host.
JoinDecision = Literal["allowed", "denied"]


@dataclass(frozen=True, slots=True)
class AirFrame:
    """One APS data frame on the virtual air.

    ``payload`` is the ZDO or ZCL frame exactly as the APS layer carries it (ZDO: transaction
    sequence number first; ZCL: the ZCL header included). For a frame from the coordinator,
    ``src_nwk`` is 0x0000; for a broadcast, ``dst_nwk`` is one of the BROADCAST_* addresses and
    ``broadcast`` is True. ``aps_encrypted`` says whether the APS payload travelled encrypted with
    the sender's link key (APS security, Zigbee 4.4.1); the NCP sets it from the host's APS options
    and reports it back in ``incomingMessageHandler``, devices set it on their own frames, and an
    air capture reads it as the frame's APS security flag. ``aps_key`` is the link key the sender
    secured the payload with (None when not APS-secured or not known): a receiver holding another
    key cannot decrypt the frame and drops it, as a real APS layer does.
    """

    src_nwk: int
    dst_nwk: int
    profile_id: int
    cluster_id: int
    src_ep: int
    dst_ep: int
    payload: bytes
    broadcast: bool = False
    aps_encrypted: bool = False
    aps_key: bytes | None = field(default=None, repr=False, compare=False)


@runtime_checkable
class Coordinator(Protocol):
    """What the air needs of the NCP (implemented by ``harness.emulator.ncp``)."""

    @property
    def eui64(self) -> bytes:
        """The coordinator's EUI-64: 8 bytes in display order (as written ``00:0d:6f:...``)."""

    def frame_from_device(self, frame: AirFrame, lqi: int, rssi: int) -> None:
        """A device sent ``frame`` to the coordinator (or broadcast it); becomes incomingMessageHandler."""

    def trust_centre_join(
        self, nwk: int, eui64: bytes, *, rejoin: bool, decision: JoinDecision
    ) -> None:
        """The trust centre admitted or refused a device; becomes trustCenterJoinHandler."""

    def device_left(self, nwk: int, eui64: bytes) -> None:
        """A device left the network; becomes trustCenterJoinHandler(DEVICE_LEFT)."""

    def transient_key_for(self, eui64: bytes) -> bytes | None:
        """The 16-byte link key the host set for ``eui64`` with importTransientKey/addTransientLinkKey.

        ``eui64`` is in display order. A transient key for the wildcard address FF..FF (how the host
        installs the well-known key for "anyone") is returned for an EUI-64 with no key of its own
        -- but not under the install-code policy, where only a key for that EUI-64 counts.
        """

    def install_code_policy(self) -> bool:
        """True when the host's TRUST_CENTER_POLICY has JOINS_USE_INSTALL_CODE_KEY set."""


@runtime_checkable
class Air(Protocol):
    """What the NCP needs of the air (implemented by ``harness.emulator.han.VirtualHan``).

    ``VirtualHan.__init__(coordinator, *, latency_s, rng, loop)`` also has ``add(device)``,
    ``device(name)`` and ``devices``; the NCP itself uses only the calls below.
    """

    def network_formed(
        self, channel: int, pan_id: int, extended_pan_id: bytes, network_key: bytes
    ) -> None:
        """The coordinator formed (or resumed) its network. ``extended_pan_id`` is 8 bytes, display order."""

    def permit_joining(self, duration_s: int) -> None:
        """Open (``duration_s`` > 0) or close (0) the join window; unjoined powered devices try to join."""

    async def unicast(self, frame: AirFrame) -> bool:
        """Deliver a coordinator frame to one device. False = delivery failed (absent, left, lost after APS retries)."""

    async def broadcast(self, frame: AirFrame) -> None:
        """Deliver a coordinator broadcast to every joined device that listens to ``frame.dst_nwk``."""

    def energy_dbm(self, channel: int) -> int:
        """The strongest signal on ``channel`` now, in dBm (an energy scan's reading)."""

    def beacons(self, channel: int) -> list[HeardNetwork]:
        """The networks whose beacons answer a beacon request on ``channel`` (an active scan)."""
