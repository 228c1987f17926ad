"""Smart Energy APS security as a real CH applies it: which frames go out APS-encrypted, and what
happens to a device's frame that arrived without it.

Under an SE security profile a Silicon Labs node APS-encrypts, with the partner's link key, every
frame on a listed cluster (``emberAfDetermineIfLinkSecurityIsRequired``), and refuses such a frame
that arrives without APS encryption: it is not acted on, a unicast is answered with Default
Response FAILURE (sent unencrypted, never to a Default Response) and a broadcast is dropped
(reference/real-device-behaviour.md §1). Key Establishment, Basic, Identify and ZDO are not listed,
so CBKE runs with network security only.

The hub encrypts through zigpy's own request option (``aps_encryption=True``, which bellows turns
into ``EmberApsOption.APS_OPTION_ENCRYPTION``) and reads a received frame's security from
``ZigbeePacket.tx_options`` (bellows sets ``TransmitOptions.APS_Encryption`` from the incoming APS
frame's options). A refused frame is kept as an :class:`UnsecuredFrame`, so the conformance check
"the device's SE traffic is APS-encrypted" can fail the device for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import zigpy.types as t
from zigpy.zcl import foundation

from harness.evidence import CheckRecord, Outcome

#: Smart Energy profile, and the wildcard profile the SE rule also covers.
SE_PROFILE = 0x0109
WILDCARD_PROFILE = 0xFFFF
OTA_CLUSTER = 0x0019
IMAGE_NOTIFY = 0x00

#: Where the rule comes from, for evidence and test markers.
SOURCE = ("Silicon Labs application framework util/util.c emberAfDetermineIfLinkSecurityIsRequired and "
          "emberAfProcessMessage (reference/real-device-behaviour.md §1)")

#: Clusters a Smart Energy node sends and accepts only APS-encrypted (OTA: a broadcast Image Notify excepted).
APS_SECURED_CLUSTERS: frozenset[int] = frozenset({
    0x000A,  # Time
    0x0015,  # Commissioning
    0x0019,  # OTA Upgrade
    0x0025,  # Keep-Alive
    0x0600,  # Generic Tunnel
    0x0700,  # Price
    0x0701,  # Demand Response and Load Control
    0x0702,  # Metering
    0x0703,  # Messaging
    0x0704,  # Tunneling
    0x0705,  # Prepayment
    0x0706,  # Energy Management
    0x0707,  # Calendar
    0x0708,  # Device Management
    0x0709,  # Events
    0x070A,  # MDU Pairing
    0x070B,  # Sub-GHz
})


def needs_aps_encryption(profile: int, cluster: int) -> bool:
    """Whether a unicast on ``cluster`` must travel APS-encrypted with the device's link key."""
    return profile in (SE_PROFILE, WILDCARD_PROFILE) and cluster in APS_SECURED_CLUSTERS


def was_aps_encrypted(packet: t.ZigbeePacket) -> bool:
    return t.TransmitOptions.APS_Encryption in packet.tx_options


@dataclass(frozen=True, slots=True)
class UnsecuredFrame:
    """A device's frame on a listed cluster that arrived without APS encryption (and was refused)."""

    device: str
    cluster: int
    command_id: int
    general: bool
    tsn: int
    broadcast: bool
    t: float

    @property
    def is_default_response(self) -> bool:
        return self.general and self.command_id == foundation.GeneralCommand.Default_Response

    def describe(self) -> str:
        kind = "general command" if self.general else "command"
        how = "broadcast" if self.broadcast else "unicast"
        return f"{kind} 0x{self.command_id:02X} on cluster 0x{self.cluster:04X} (TSN {self.tsn}, {how}) without APS encryption"


#: Sends a Default Response FAILURE for a refused unicast: (device nwk, request header, src_ep, dst_ep, cluster).
RefusalSender = Callable[[t.ZigbeePacket, foundation.ZCLHeader], None]


class UnsecuredFrameGate:
    """The hub's receive-side rule: unencrypted frames on listed clusters are refused and kept."""

    def __init__(self, *, name_of: Callable[[t.ZigbeePacket], str], refuse: RefusalSender,
                 clock: Callable[[], float] = time.time) -> None:
        self._name_of = name_of
        self._refuse = refuse
        self._clock = clock
        self.frames: list[UnsecuredFrame] = []
        self._last: dict[tuple[str, int], bool] = {}

    def last_encrypted(self, device: str, cluster: int) -> bool | None:
        """Whether the device's latest frame on ``cluster`` came APS-encrypted (None: none seen)."""
        return self._last.get((device, cluster))

    def __call__(self, packet: t.ZigbeePacket) -> bool:
        """True when the frame was refused (zigpy must not see it)."""
        if packet.src is None or packet.src.addr_mode != t.AddrMode.NWK or packet.src.address == 0x0000:
            return False
        if not needs_aps_encryption(packet.profile_id, packet.cluster_id):
            return False
        encrypted = was_aps_encrypted(packet)
        self._last[(self._name_of(packet), packet.cluster_id)] = encrypted
        if encrypted:
            return False
        try:
            hdr, _ = foundation.ZCLHeader.deserialize(packet.data.serialize())
        except (ValueError, KeyError):
            return False  # not ZCL: zigpy reports it as it does any malformed frame
        broadcast = packet.dst is None or packet.dst.addr_mode != t.AddrMode.NWK
        general = hdr.frame_control.frame_type == foundation.FrameType.GLOBAL_COMMAND
        if broadcast and packet.cluster_id == OTA_CLUSTER and not general and hdr.command_id == IMAGE_NOTIFY:
            return False
        frame = UnsecuredFrame(device=self._name_of(packet), cluster=packet.cluster_id, command_id=int(hdr.command_id),
                               general=general, tsn=int(hdr.tsn), broadcast=broadcast, t=self._clock())
        self.frames.append(frame)
        if not broadcast and not frame.is_default_response:
            self._refuse(packet, hdr)
        return True

    def violations(self, device: str) -> list[UnsecuredFrame]:
        """The device's own unencrypted SE traffic: its requests and answers, not the Default Response
        FAILURE a real SE device sends, unencrypted, to an unencrypted frame."""
        return [f for f in self.frames if f.device == device and not f.is_default_response]

    def refusals_by(self, device: str, since: float = 0.0) -> list[UnsecuredFrame]:
        """The device's unencrypted Default Responses since ``since`` (its answers to unencrypted probes)."""
        return [f for f in self.frames if f.device == device and f.is_default_response and f.t >= since]

    def evidence(self, device: str) -> CheckRecord:
        bad = self.violations(device)
        observed = ("every Smart Energy frame from the device was APS-encrypted" if not bad else
                    f"{len(bad)} frame(s) without APS encryption, first: {bad[0].describe()}")
        return CheckRecord(
            name="SE traffic APS-encrypted", device=device,
            rule="the device APS-encrypts its frames on the Smart Energy clusters (OTA, Time, Device Management, "
                 "Keep-Alive, Tunneling, ...) and the CH does not act on those that are not",
            observed=observed, outcome=Outcome.PASS if not bad else Outcome.FAIL, source=SOURCE, confidence="high",
        )


@dataclass(frozen=True, slots=True)
class UnsecuredProbe:
    """What a device did with an unencrypted OTA server command (:meth:`CommsHub.probe_unencrypted_ota_command`)."""

    device: str
    acted_on: bool  # it sent Query Next Image, as if the Image Notify had been secured
    refused_with_failure: bool  # it answered Default Response FAILURE, as a Silicon Labs SE node does
    window_s: float

    def evidence(self) -> CheckRecord:
        if self.acted_on:
            observed = "it acted on an Image Notify sent without APS encryption (sent Query Next Image)"
        else:
            answer = ("answered Default Response FAILURE" if self.refused_with_failure
                      else "sent no Default Response FAILURE")
            observed = f"it did not act on the unencrypted Image Notify within {self.window_s:g} s; {answer}"
        return CheckRecord(
            name="unencrypted OTA command ignored", device=self.device,
            rule="an OTA server command that arrives without APS encryption is not acted on (SE nodes answer "
                 "Default Response FAILURE)",
            observed=observed, outcome=Outcome.FAIL if self.acted_on else Outcome.PASS, source=SOURCE,
            confidence="high",
        )
