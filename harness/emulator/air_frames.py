"""IEEE 802.15.4 / Zigbee PRO frames, byte for byte, as a sniffer on the HAN's channel sees them.

Pure functions: values in, bytes out. The layers nest the way the air carries them::

    MAC header | NWK header | NWK aux header | AES-CCM*( APS header | [APS aux | AES-CCM*( payload )] ) | FCS

References for the layouts: IEEE 802.15.4-2006 7.2 (MAC frames, FCS), 7.3 (MAC commands);
Zigbee 05-3474-21 3.3 (NWK frames), 2.2.5 (APS frames), 4.5 (auxiliary security header, CCM*
nonce), 4.4.9.2 (Transport-Key command), B.1.4 (keyed hash: the key-transport key). The NWK
nonce and AAD were checked against Wireshark 4.0's dissector (``reference/wireshark-notes.md``).
AES-CCM* itself is ``cryptography``'s AES-CCM with a 4-byte tag (security level 5, ENC-MIC-32).

Addresses: short addresses and PAN ids are ints; EUI-64s are 8 bytes in display order (as
written ``00:0d:6f:...``) and are put on the air little-endian, as every Zigbee field is.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from harness.capture.pcapng import ieee802154_fcs
from harness.crypto.aes_mmo import hmac_aes_mmo

BROADCAST_PAN = 0xFFFF
BROADCAST_SHORT = 0xFFFF

#: Security level 5 (ENC-MIC-32): what Zigbee PRO uses; it is zeroed in the header on air.
SECURITY_LEVEL = 0x05
MIC_LENGTH = 4

# Key identifiers of the auxiliary header (Zigbee 4.5.1.1.2).
KEY_ID_DATA = 0  # a link key
KEY_ID_NETWORK = 1
KEY_ID_KEY_TRANSPORT = 2

_EXTENDED_NONCE = 0x20

# 802.15.4 frame types and addressing modes.
_MAC_BEACON, _MAC_DATA, _MAC_ACK, _MAC_COMMAND = 0, 1, 2, 3
_ADDR_NONE, _ADDR_SHORT, _ADDR_EXTENDED = 0, 2, 3

# MAC commands.
MAC_ASSOCIATION_REQUEST = 0x01
MAC_ASSOCIATION_RESPONSE = 0x02
MAC_DATA_REQUEST = 0x04
MAC_BEACON_REQUEST = 0x07

#: Capability information of an rx-on-when-idle, mains-powered router asking for an address.
ROUTER_CAPABILITY = 0x8E

# NWK frame types and commands.
NWK_DATA, NWK_COMMAND = 0, 1
NWK_REJOIN_REQUEST = 0x06
NWK_REJOIN_RESPONSE = 0x07
_NWK_PROTOCOL_VERSION = 2 << 2
_NWK_DISCOVER_ROUTE = 1 << 6
_NWK_SECURITY = 1 << 9

# APS frame types, delivery modes and commands.
APS_DATA, APS_COMMAND, APS_ACK = 0, 1, 2
APS_UNICAST, APS_BROADCAST = 0, 2
_APS_SECURITY = 1 << 5
_APS_ACK_REQUEST = 1 << 6
APS_TRANSPORT_KEY = 0x05
STANDARD_NETWORK_KEY = 0x01


def le_eui64(eui64: bytes) -> bytes:
    """An EUI-64 in display order, as it goes on the air (little-endian)."""
    if len(eui64) != 8:
        raise ValueError(f"an EUI-64 is 8 bytes, got {len(eui64)}")
    return bytes(reversed(eui64))


# --- MAC ----------------------------------------------------------------------------------------


fcs = ieee802154_fcs  # CRC-16/KERMIT over the frame, little-endian


@dataclass(frozen=True, slots=True)
class MacAddress:
    """One end of a MAC frame: PAN id and a short (int) or extended (8 bytes, display order) address."""

    pan_id: int
    address: int | bytes

    @property
    def mode(self) -> int:
        return _ADDR_EXTENDED if isinstance(self.address, bytes) else _ADDR_SHORT

    def encode(self, *, with_pan: bool) -> bytes:
        pan = struct.pack("<H", self.pan_id) if with_pan else b""
        if isinstance(self.address, bytes):
            return pan + le_eui64(self.address)
        return pan + struct.pack("<H", self.address)


def mac_frame(
    frame_type: int,
    sequence: int,
    payload: bytes,
    *,
    dst: MacAddress | None = None,
    src: MacAddress | None = None,
    ack_request: bool = False,
    frame_pending: bool = False,
) -> bytes:
    """A MAC frame with its FCS. PAN id compression is used when both ends share the PAN."""
    compress = dst is not None and src is not None and dst.pan_id == src.pan_id
    control = frame_type | frame_pending << 4 | ack_request << 5 | compress << 6
    control |= (dst.mode if dst else _ADDR_NONE) << 10 | (src.mode if src else _ADDR_NONE) << 14
    header = struct.pack("<HB", control, sequence & 0xFF)
    if dst is not None:
        header += dst.encode(with_pan=True)
    if src is not None:
        header += src.encode(with_pan=not compress)
    body = header + payload
    return body + fcs(body)


def mac_ack(sequence: int, *, frame_pending: bool = False) -> bytes:
    return mac_frame(_MAC_ACK, sequence, b"", frame_pending=frame_pending)


def mac_data(sequence: int, pan_id: int, dst: int, src: int, nwk_frame: bytes) -> bytes:
    """A MAC data frame between two short addresses of one PAN; unicasts ask for a MAC ACK."""
    return mac_frame(
        _MAC_DATA,
        sequence,
        nwk_frame,
        dst=MacAddress(pan_id, dst),
        src=MacAddress(pan_id, src),
        ack_request=dst != BROADCAST_SHORT,
    )


def beacon_request(sequence: int) -> bytes:
    return mac_frame(
        _MAC_COMMAND, sequence, bytes((MAC_BEACON_REQUEST,)), dst=MacAddress(BROADCAST_PAN, BROADCAST_SHORT)
    )


def beacon(
    sequence: int, *, pan_id: int, src: int, extended_pan_id: bytes, permit_joining: bool, nwk_update_id: int = 0
) -> bytes:
    """A Zigbee PRO beacon of a coordinator or router that has room for routers and end devices."""
    # beacon order = superframe order = 15, final CAP slot 15; PAN coordinator; association permit
    superframe = 0x0FFF | (src == 0) << 14 | permit_joining << 15
    zigbee_payload = (
        bytes((0x00, 0x22, 0x84))  # protocol id 0; stack profile 2, protocol version 2; capacities, depth 0
        + le_eui64(extended_pan_id)
        + b"\xff\xff\xff"  # tx offset: none
        + bytes((nwk_update_id,))
    )
    payload = struct.pack("<H", superframe) + b"\x00\x00" + zigbee_payload  # no GTS, no pending addresses
    return mac_frame(_MAC_BEACON, sequence, payload, src=MacAddress(pan_id, src))


def association_request(sequence: int, *, pan_id: int, coordinator: int, device_eui64: bytes) -> bytes:
    return mac_frame(
        _MAC_COMMAND,
        sequence,
        bytes((MAC_ASSOCIATION_REQUEST, ROUTER_CAPABILITY)),
        dst=MacAddress(pan_id, coordinator),
        src=MacAddress(BROADCAST_PAN, device_eui64),
        ack_request=True,
    )


def data_request(sequence: int, *, pan_id: int, coordinator: int, device_eui64: bytes) -> bytes:
    return mac_frame(
        _MAC_COMMAND,
        sequence,
        bytes((MAC_DATA_REQUEST,)),
        dst=MacAddress(pan_id, coordinator),
        src=MacAddress(pan_id, device_eui64),
        ack_request=True,
    )


def association_response(
    sequence: int, *, pan_id: int, coordinator_eui64: bytes, device_eui64: bytes, nwk: int, status: int = 0
) -> bytes:
    return mac_frame(
        _MAC_COMMAND,
        sequence,
        bytes((MAC_ASSOCIATION_RESPONSE,)) + struct.pack("<HB", nwk, status),
        dst=MacAddress(pan_id, device_eui64),
        src=MacAddress(pan_id, coordinator_eui64),
        ack_request=True,
    )


# --- CCM* ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Security:
    """What secures one frame: key, the sender's counter and EUI-64, key id and (network) key sequence."""

    key: bytes
    frame_counter: int
    source_eui64: bytes  # display order
    key_id: int
    key_sequence: int = 0

    def aux_header(self, level: int) -> bytes:
        control = level | self.key_id << 3 | _EXTENDED_NONCE
        header = struct.pack("<BI", control, self.frame_counter) + le_eui64(self.source_eui64)
        if self.key_id == KEY_ID_NETWORK:
            header += bytes((self.key_sequence,))
        return header

    def nonce(self) -> bytes:
        control = SECURITY_LEVEL | self.key_id << 3 | _EXTENDED_NONCE
        return le_eui64(self.source_eui64) + struct.pack("<IB", self.frame_counter, control)

    def seal(self, header: bytes, payload: bytes) -> bytes:
        """``header`` + the aux header on air + the encrypted ``payload`` with its 4-byte MIC."""
        aad = header + self.aux_header(SECURITY_LEVEL)
        sealed = _ccm(self.key).encrypt(self.nonce(), payload, aad)
        return header + self.aux_header(0) + sealed


@functools.lru_cache(maxsize=64)
def _ccm(key: bytes) -> AESCCM:
    """The CCM* cipher of one key, made once: a HAN uses a handful of keys for thousands of frames,
    and setting up the cipher cost as much as sealing the frame."""
    return AESCCM(key, tag_length=MIC_LENGTH)


def key_transport_key(link_key: bytes) -> bytes:
    """The key that secures Transport-Key commands: HMAC(link key, 0x00) (Zigbee B.1.4, 4.5.3)."""
    return hmac_aes_mmo(link_key, b"\x00")


# --- NWK -----------------------------------------------------------------------------------------


def nwk_frame(
    *,
    dst: int,
    src: int,
    sequence: int,
    payload: bytes,
    security: Security | None,
    frame_type: int = NWK_DATA,
    radius: int = 30,
) -> bytes:
    """A NWK frame; with ``security`` (the network key) the payload is encrypted and MIC'd."""
    control = frame_type | _NWK_PROTOCOL_VERSION | (_NWK_DISCOVER_ROUTE if frame_type == NWK_DATA else 0)
    control |= _NWK_SECURITY if security is not None else 0
    header = struct.pack("<HHHBB", control, dst, src, radius, sequence & 0xFF)
    return header + payload if security is None else security.seal(header, payload)


def rejoin_request() -> bytes:
    return bytes((NWK_REJOIN_REQUEST, ROUTER_CAPABILITY))


def rejoin_response(nwk: int, status: int = 0) -> bytes:
    return bytes((NWK_REJOIN_RESPONSE,)) + struct.pack("<HB", nwk, status)


# --- APS -----------------------------------------------------------------------------------------


def aps_data(
    *,
    dst_ep: int,
    cluster: int,
    profile: int,
    src_ep: int,
    counter: int,
    payload: bytes,
    broadcast: bool = False,
    ack_request: bool = False,
    security: Security | None = None,
) -> bytes:
    """An APS data frame; with ``security`` (a link key) the payload is APS-encrypted."""
    control = APS_DATA | (APS_BROADCAST if broadcast else APS_UNICAST) << 2
    control |= (_APS_ACK_REQUEST if ack_request else 0) | (_APS_SECURITY if security else 0)
    header = bytes((control, dst_ep)) + struct.pack("<HHBB", cluster, profile, src_ep, counter & 0xFF)
    return header + payload if security is None else security.seal(header, payload)


def aps_ack(*, dst_ep: int, cluster: int, profile: int, src_ep: int, counter: int, security: Security | None) -> bytes:
    """The APS ACK of a unicast data frame (endpoints swapped by the caller: they are the ACK's own)."""
    control = APS_ACK | (_APS_SECURITY if security else 0)
    header = bytes((control, dst_ep)) + struct.pack("<HHBB", cluster, profile, src_ep, counter & 0xFF)
    return header if security is None else security.seal(header, b"")


def aps_transport_network_key(
    *, counter: int, network_key: bytes, key_sequence: int, device_eui64: bytes, tc_eui64: bytes, security: Security
) -> bytes:
    """The trust centre's Transport-Key (standard network key), secured with the key-transport key."""
    header = bytes((APS_COMMAND | _APS_SECURITY, counter & 0xFF))
    command = (
        bytes((APS_TRANSPORT_KEY, STANDARD_NETWORK_KEY))
        + network_key
        + bytes((key_sequence,))
        + le_eui64(device_eui64)
        + le_eui64(tc_eui64)
    )
    return security.seal(header, command)
