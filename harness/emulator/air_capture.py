"""The virtual air as a sniffer hears it: every transmission rendered as real 802.15.4 frames.

:class:`VirtualHan` tells an :class:`AirCapture` what happens on the air (a network formed, a join,
a rejoin, an APS frame sent and whether it arrived); the capture renders what a sniffer on the
channel would record, in the order the air carries it, and writes it to the current pcapng file:

* joins: beacon request, beacon, association request, data request, association response, then
  the trust centre's Transport-Key (NWK unsecured, APS-secured with the key-transport key of the
  link key the trust centre holds for the device), each MAC unicast with its MAC ACK;
* rejoins: NWK Rejoin Request and Rejoin Response under the network key;
* data: MAC + NWK (network key, the sender's frame counter and key sequence number) + APS
  (APS-secured under the link key the frame really uses where the Smart Energy rules require
  it) + the ZCL/ZDO payload, with the MAC ACK and the recipient's APS ACK when it arrived.

Each node keeps its own MAC and NWK sequence numbers, NWK and APS frame counters and APS counter,
across capture files (a new file per test does not rewind the air). Timestamps are the emulator
loop's clock, anchored to the wall clock when the capture object was made. Keys go to the keys
file beside the captures as the first frame that needs each one is written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.capture.keys_file import KEYS_FILE_NAME, add_key
from harness.capture.pcapng import PcapngWriter

from . import air_frames as f
from .air import COORDINATOR_NWK, SE_PROFILE, AirFrame

#: Smart Energy clusters whose frames travel APS-encrypted (Silicon Labs' SE framework; see
#: reference/real-device-behaviour.md §1). Key Establishment, Basic, Identify and ZDO are not listed.
APS_SECURED_CLUSTERS = frozenset(
    {
        0x000A, 0x0015, 0x0019, 0x0025, 0x0600, 0x0700, 0x0701, 0x0702, 0x0703,
        0x0704, 0x0705, 0x0706, 0x0707, 0x0708, 0x0709, 0x070A, 0x070B,
    }
)
OTA_CLUSTER = 0x0019
IMAGE_NOTIFY = 0x00


def aps_secured(frame: AirFrame) -> bool:
    """Whether the Smart Energy rules put APS encryption on ``frame``.

    Listed clusters on the SE profile are APS-encrypted, except a broadcast OTA Image Notify.
    A frame that carries its own flag (``aps_secured``) is taken at its word.
    """
    own = getattr(frame, "aps_secured", None)
    if isinstance(own, bool):
        return own
    if frame.profile_id != SE_PROFILE or frame.cluster_id not in APS_SECURED_CLUSTERS:
        return False
    return not (frame.broadcast and frame.cluster_id == OTA_CLUSTER and _zcl_command(frame.payload) == IMAGE_NOTIFY)


def _zcl_command(payload: bytes) -> int | None:
    if not payload:
        return None
    offset = 3 if payload[0] & 0x04 else 1  # manufacturer-specific frames carry a code
    return payload[offset + 1] if len(payload) > offset + 1 else None


@dataclass(slots=True)
class _Node:
    """Per-sender counters, as each radio keeps them."""

    eui64: bytes
    mac_sequence: int = 0
    nwk_sequence: int = 0
    nwk_counter: int = 0
    aps_counter: int = 0
    aps_security_counter: int = 0

    def next_mac(self) -> int:
        self.mac_sequence = (self.mac_sequence + 1) & 0xFF
        return self.mac_sequence

    def next_nwk(self) -> tuple[int, int]:
        self.nwk_sequence = (self.nwk_sequence + 1) & 0xFF
        self.nwk_counter += 1
        return self.nwk_sequence, self.nwk_counter

    def next_aps(self) -> int:
        self.aps_counter = (self.aps_counter + 1) & 0xFF
        return self.aps_counter

    def next_aps_security(self) -> int:
        self.aps_security_counter += 1
        return self.aps_security_counter


@dataclass(frozen=True, slots=True)
class _Network:
    channel: int
    pan_id: int
    extended_pan_id: bytes
    key: bytes
    key_sequence: int
    coordinator_eui64: bytes


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One end of a frame on the air: NWK address, EUI-64 and, for a device, its current link key."""

    nwk: int
    eui64: bytes
    name: str = "coordinator"


class AirCapture:
    """Renders the virtual air into pcapng files; one file at a time (see :meth:`start`)."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or asyncio.get_running_loop().time
        self._epoch_offset = time.time() - self._clock()
        self._nodes: dict[bytes, _Node] = {}
        self._network: _Network | None = None
        self._writer: PcapngWriter | None = None
        self._keys_path: Path | None = None
        self._labels: dict[bytes, str] = {}  # key -> label, for a keys file started later
        #: Keys already in the current keys file: every secured frame names its key, and reading the
        #: file back for each would cost more than the frame.
        self._keys_written: set[bytes] = set()
        #: Called with (channel, frame) for every frame on the air, file or not (sniffer radios).
        self.listeners: list[Callable[[int, bytes], None]] = []

    # -- files ----------------------------------------------------------------------------------
    def start(self, path: Path, *, keys_path: Path | None = None, comment: str = "") -> Path:
        """Close the current file and capture into ``path`` from now on.

        ``keys_path`` (normally ``zigbee-keys.txt`` beside the capture) receives every key the
        captures need; None writes no keys (a real bench that did not opt in).
        """
        self.stop()
        self._writer = PcapngWriter(path, comment=comment)
        self._keys_path = keys_path
        self._keys_written = set()
        if keys_path is not None:
            for key, label in self._labels.items():
                self._write_key(key, label)
        return path

    def stop(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    @property
    def path(self) -> Path | None:
        return self._writer.path if self._writer is not None else None

    @property
    def frame_count(self) -> int:
        """Frames in the current file so far: the number of the last one written."""
        return self._writer.frames if self._writer is not None else 0

    def _emit(self, frame: bytes) -> None:
        if self._network is not None:
            for listener in self.listeners:
                listener(self._network.channel, frame)
        if self._writer is not None:
            self._writer.write(self._clock() + self._epoch_offset, frame)

    def _key(self, key: bytes, label: str) -> None:
        if key not in self._labels:
            self._labels[key] = label
        if self._keys_path is not None and key not in self._keys_written:
            self._write_key(key, self._labels[key])

    def _write_key(self, key: bytes, label: str) -> None:
        assert self._keys_path is not None
        add_key(self._keys_path, key, label)  # still checks the file: it may hold the key from an earlier run
        self._keys_written.add(key)

    def _node(self, eui64: bytes) -> _Node:
        node = self._nodes.get(eui64)
        if node is None:
            node = self._nodes[eui64] = _Node(eui64)
        return node

    # -- what happens on the air ------------------------------------------------------------------
    def network_formed(
        self, channel: int, pan_id: int, extended_pan_id: bytes, network_key: bytes, coordinator_eui64: bytes
    ) -> None:
        self._network = _Network(channel, pan_id, bytes(extended_pan_id), bytes(network_key), 0, coordinator_eui64)
        self._key(bytes(network_key), "network key")

    def join(
        self, device: Endpoint, *, tc_link_key: bytes | None, key_label: str, permit_joining: bool = True
    ) -> None:
        """MAC association, then (if the trust centre holds a key for it) the Transport-Key."""
        net = self._network
        if net is None:
            return
        tc, dev = self._node(net.coordinator_eui64), self._node(device.eui64)
        self._emit(f.beacon_request(dev.next_mac()))
        self._emit(
            f.beacon(
                tc.next_mac(), pan_id=net.pan_id, src=COORDINATOR_NWK,
                extended_pan_id=net.extended_pan_id, permit_joining=permit_joining,
            )
        )
        seq = dev.next_mac()
        self._emit(f.association_request(seq, pan_id=net.pan_id, coordinator=COORDINATOR_NWK, device_eui64=device.eui64))
        self._emit(f.mac_ack(seq))
        seq = dev.next_mac()
        self._emit(f.data_request(seq, pan_id=net.pan_id, coordinator=COORDINATOR_NWK, device_eui64=device.eui64))
        self._emit(f.mac_ack(seq, frame_pending=True))
        seq = tc.next_mac()
        self._emit(
            f.association_response(
                seq, pan_id=net.pan_id, coordinator_eui64=net.coordinator_eui64,
                device_eui64=device.eui64, nwk=device.nwk,
            )
        )
        self._emit(f.mac_ack(seq))
        if tc_link_key is None:
            return  # the trust centre has no key for it: no network key is sent
        self._key(tc_link_key, key_label)
        security = f.Security(
            key=f.key_transport_key(tc_link_key),
            frame_counter=tc.next_aps_security(),
            source_eui64=net.coordinator_eui64,
            key_id=f.KEY_ID_KEY_TRANSPORT,
        )
        aps = f.aps_transport_network_key(
            counter=tc.next_aps(), network_key=net.key, key_sequence=net.key_sequence,
            device_eui64=device.eui64, tc_eui64=net.coordinator_eui64, security=security,
        )
        nwk_seq, _ = tc.next_nwk()
        nwk = f.nwk_frame(dst=device.nwk, src=COORDINATOR_NWK, sequence=nwk_seq, payload=aps, security=None)
        self._mac_unicast(tc, COORDINATOR_NWK, device.nwk, nwk, delivered=True)

    def rejoin(self, device: Endpoint) -> None:
        """A secure rejoin: NWK Rejoin Request and Response under the network key."""
        net = self._network
        if net is None:
            return
        tc = Endpoint(COORDINATOR_NWK, net.coordinator_eui64)
        self._nwk_unicast(device, tc, f.rejoin_request(), frame_type=f.NWK_COMMAND)
        self._nwk_unicast(tc, device, f.rejoin_response(device.nwk), frame_type=f.NWK_COMMAND)

    def aps_frame(
        self, frame: AirFrame, *, src: Endpoint, dst: Endpoint | None, link_key: bytes | None,
        key_label: str = "", delivered: bool,
    ) -> None:
        """One transmission attempt of an APS data frame (``dst`` None: a broadcast).

        ``link_key`` is the key shared by the coordinator and the device at the other end; it
        secures the frame when the rules say so. A delivered unicast is followed by its MAC ACK and
        the recipient's APS ACK.
        """
        net = self._network
        if net is None:
            return
        sender = self._node(src.eui64)
        secured = aps_secured(frame) and link_key is not None and dst is not None
        security = self._aps_security(sender, link_key, key_label) if secured and link_key else None
        unicast = dst is not None and not frame.broadcast
        aps = f.aps_data(
            dst_ep=frame.dst_ep, cluster=frame.cluster_id, profile=frame.profile_id, src_ep=frame.src_ep,
            counter=sender.next_aps(), payload=frame.payload, broadcast=not unicast,
            ack_request=unicast, security=security,
        )
        if not unicast:
            self._nwk_broadcast(src, frame.dst_nwk, aps)
            return
        assert dst is not None
        self._nwk_unicast(src, dst, aps, delivered=delivered)
        if not delivered:
            return
        receiver = self._node(dst.eui64)
        ack_security = self._aps_security(receiver, link_key, key_label) if security and link_key else None
        ack = f.aps_ack(
            dst_ep=frame.src_ep, cluster=frame.cluster_id, profile=frame.profile_id, src_ep=frame.dst_ep,
            counter=sender.aps_counter, security=ack_security,
        )
        self._nwk_unicast(dst, src, ack)

    # -- layers -------------------------------------------------------------------------------------
    def _aps_security(self, node: _Node, link_key: bytes, label: str) -> f.Security:
        self._key(link_key, label)
        return f.Security(
            key=link_key, frame_counter=node.next_aps_security(), source_eui64=node.eui64, key_id=f.KEY_ID_DATA
        )

    def _nwk_security(self, node: _Node) -> tuple[int, f.Security]:
        net = self._network
        assert net is not None
        sequence, counter = node.next_nwk()
        security = f.Security(
            key=net.key, frame_counter=counter, source_eui64=node.eui64,
            key_id=f.KEY_ID_NETWORK, key_sequence=net.key_sequence,
        )
        return sequence, security

    def _nwk_unicast(
        self, src: Endpoint, dst: Endpoint, payload: bytes, *, frame_type: int = f.NWK_DATA, delivered: bool = True
    ) -> None:
        node = self._node(src.eui64)
        sequence, security = self._nwk_security(node)
        nwk = f.nwk_frame(
            dst=dst.nwk, src=src.nwk, sequence=sequence, payload=payload, security=security, frame_type=frame_type
        )
        self._mac_unicast(node, src.nwk, dst.nwk, nwk, delivered=delivered)

    def _nwk_broadcast(self, src: Endpoint, dst_nwk: int, payload: bytes) -> None:
        node = self._node(src.eui64)
        sequence, security = self._nwk_security(node)
        nwk = f.nwk_frame(dst=dst_nwk, src=src.nwk, sequence=sequence, payload=payload, security=security)
        net = self._network
        assert net is not None
        self._emit(f.mac_data(node.next_mac(), net.pan_id, f.BROADCAST_SHORT, src.nwk, nwk))

    def _mac_unicast(self, node: _Node, src: int, dst: int, nwk: bytes, *, delivered: bool) -> None:
        net = self._network
        assert net is not None
        sequence = node.next_mac()
        self._emit(f.mac_data(sequence, net.pan_id, dst, src, nwk))
        if delivered:
            self._emit(f.mac_ack(sequence))

    @staticmethod
    def keys_path_for(directory: Path) -> Path:
        return directory / KEYS_FILE_NAME
