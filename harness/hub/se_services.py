"""Attributes a real SE device reads from the CH during registration, served on the CH's SE endpoint.

* Key Establishment 0x0800, KeyEstablishmentSuite (0x0000): exactly one record, enum16, 0x0002
  (Crypto Suite 2). A Silicon Labs device reads it before Initiate Key Establishment and accepts
  only one enum16/bitmap16 record; with no answer it gives up after 10 s without a Terminate
  (reference/real-device-behaviour.md §2.3).
* Time 0x000A: Time (ZCL epoch), TimeStatus Master|Synchronized, LastSetTime, ValidUntilTime. A
  device takes its time only from a server with Master or Synchronized set (§3 step 6).
* Keep-Alive 0x0025: Base (minutes) and Jitter (seconds), read by the trust-centre keep-alive
  client; three failed reads make it TC-rejoin (§5).

These reads reach the device's own zigpy cluster objects, whose automatic answers (zigpy's Time
cluster answers with the host clock and no Master bit; an unknown cluster answers
UNSUPPORTED_ATTRIBUTE) would contradict the CH, so the hub answers them first, from the CH's SE
endpoint, APS-encrypted where the cluster is listed, and zigpy never sees them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import zigpy.types as t
from zigpy.zcl import foundation

from harness.hub.settings import zcl_utc

KEY_ESTABLISHMENT_CLUSTER = 0x0800
TIME_CLUSTER = 0x000A
KEEP_ALIVE_CLUSTER = 0x0025

#: ZCL data type ids used in the records.
ENUM16, BITMAP8, UINT8, UINT16, UTC_TIME = 0x31, 0x18, 0x20, 0x21, 0xE2
#: TimeStatus bits: Master (0), Synchronized (1).
TIME_STATUS_MASTER_SYNCHRONIZED = 0x03
#: KeyEstablishmentSuite: Crypto Suite 2 (sect283k1), the only suite a GB CH offers.
CRYPTO_SUITE_2 = 0x0002


@dataclass(frozen=True, slots=True, kw_only=True)
class SeServiceSettings:
    """What the CH's SE services advertise. Keep-alive defaults are the Silicon Labs plugin's."""

    keep_alive_base_min: int = 2
    keep_alive_jitter_s: int = 60
    #: How long a time the CH gives stays valid (ValidUntilTime = Time + this).
    time_valid_for_s: int = 24 * 3600

    def __post_init__(self) -> None:
        if not 1 <= self.keep_alive_base_min <= 0xFF:
            raise ValueError(f"keep_alive_base_min: must be 1..255 minutes, got {self.keep_alive_base_min}")
        if not 0 <= self.keep_alive_jitter_s <= 0xFFFF:
            raise ValueError(f"keep_alive_jitter_s: must be 0..65535 s, got {self.keep_alive_jitter_s}")


@dataclass(frozen=True, slots=True)
class ServedRead:
    """One Read Attributes the CH answered for a device: what was asked and what it was given."""

    device: str
    cluster: int
    attributes: tuple[int, ...]
    t: float
    encrypted: bool


#: The zigpy type that serialises each ZCL data type the CH uses (zigpy's constructors are untyped).
_WIRE_TYPES: dict[int, Any] = {ENUM16: t.uint16_t, BITMAP8: t.uint8_t, UINT8: t.uint8_t, UINT16: t.uint16_t,
                               UTC_TIME: t.uint32_t}


def _record(attrid: int, type_id: int, value: int) -> foundation.ReadAttributeRecord:
    record: Any = foundation.ReadAttributeRecord
    type_value: Any = foundation.TypeValue
    return record(attrid=attrid, status=foundation.Status.SUCCESS,  # type: ignore[no-any-return]
                  value=type_value(type=type_id, value=_WIRE_TYPES[type_id](value)))


def _unsupported(attrid: int) -> foundation.ReadAttributeRecord:
    record: Any = foundation.ReadAttributeRecord
    return record(attrid=attrid, status=foundation.Status.UNSUPPORTED_ATTRIBUTE)  # type: ignore[no-any-return]


@dataclass
class SeServices:
    """The CH's answers to the registration reads, and a log of who read what."""

    settings: SeServiceSettings = field(default_factory=SeServiceSettings)
    clock: Callable[[], float] = time.time
    started: float = field(default_factory=time.time)
    reads: list[ServedRead] = field(default_factory=list)
    #: (device, cluster) -> futures waiting for the device's first read of that cluster.
    _waiters: dict[tuple[str, int], list[asyncio.Future[None]]] = field(default_factory=dict)

    CLUSTERS = frozenset({KEY_ESTABLISHMENT_CLUSTER, TIME_CLUSTER, KEEP_ALIVE_CLUSTER})

    def attributes(self, cluster: int) -> dict[int, tuple[int, int]]:
        """attribute id -> (type id, value) of one served cluster, now."""
        if cluster == KEY_ESTABLISHMENT_CLUSTER:
            return {0x0000: (ENUM16, CRYPTO_SUITE_2)}
        if cluster == TIME_CLUSTER:
            now = zcl_utc(self.clock())
            return {
                0x0000: (UTC_TIME, now),
                0x0001: (BITMAP8, TIME_STATUS_MASTER_SYNCHRONIZED),
                0x0008: (UTC_TIME, zcl_utc(self.started)),
                0x0009: (UTC_TIME, now + self.settings.time_valid_for_s),
            }
        if cluster == KEEP_ALIVE_CLUSTER:
            return {0x0000: (UINT8, self.settings.keep_alive_base_min),
                    0x0001: (UINT16, self.settings.keep_alive_jitter_s)}
        raise KeyError(f"the CH serves no attributes on cluster 0x{cluster:04X}")

    def read(self, device: str, cluster: int, attribute_ids: list[int], *,
             encrypted: bool) -> list[foundation.ReadAttributeRecord]:
        """The Read Attributes Response records for ``attribute_ids``; the read is logged."""
        values = self.attributes(cluster)
        records = [
            _record(a, *values[a]) if a in values
            else _unsupported(a)
            for a in attribute_ids
        ]
        served = ServedRead(device, cluster, tuple(attribute_ids), self.clock(), encrypted)
        self.reads.append(served)
        key = (device, cluster)
        if key in self._waiters and self._reads_of(device, cluster):
            for waiter in self._waiters.pop(key):
                if not waiter.done():
                    waiter.set_result(None)
        return records

    async def wait_time_read(self, device: str, timeout: float) -> bool:
        """True once the device has read the CH's Time and TimeStatus (in this run), False after ``timeout``."""
        return await self._wait_read(device, TIME_CLUSTER, timeout)

    async def wait_keep_alive_read(self, device: str, timeout: float) -> ServedRead | None:
        """The device's first read of Base and Jitter (in this run), or None after ``timeout``."""
        await self._wait_read(device, KEEP_ALIVE_CLUSTER, timeout)
        reads = self.keep_alive_reads(device)
        return reads[0] if reads else None

    async def _wait_read(self, device: str, cluster: int, timeout: float) -> bool:
        if self._reads_of(device, cluster):
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault((device, cluster), []).append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return False
        return True

    def keep_alive_reads(self, device: str) -> list[ServedRead]:
        """The device's reads of the Keep-Alive server's Base and Jitter."""
        return self._reads_of(device, KEEP_ALIVE_CLUSTER)

    def _reads_of(self, device: str, cluster: int) -> list[ServedRead]:
        return self.time_reads(device) if cluster == TIME_CLUSTER else [
            r for r in self.reads if r.device == device and r.cluster == cluster and {0x0000, 0x0001} <= set(r.attributes)]

    def time_reads(self, device: str) -> list[ServedRead]:
        """The device's reads of Time and TimeStatus (the run has one hub, so this is the run's)."""
        return [r for r in self.reads if r.device == device and r.cluster == TIME_CLUSTER
                and {0x0000, 0x0001} <= set(r.attributes)]


#: ZDO Match_Desc_req: a device looking for the CH's services.
MATCH_DESC_REQ = 0x0006


def answered_by_the_ncp(packet: t.ZigbeePacket) -> bool:
    """A device's Match_Desc_req, which the NCP's stack has already answered.

    EmberZNet answers Match_Desc_req itself, from the endpoints the host registered, and with
    bellows' CONFIG_APPLICATION_ZDO_FLAGS (APP_RECEIVES_SUPPORTED_ZDO_REQUESTS) also passes it to the
    host. zigpy would then answer again -- with an empty list for any profile but HA, so a second,
    contradicting "no such service" for every Smart Energy cluster. The hub drops the copy.
    """
    return (packet.profile_id == 0x0000 and packet.cluster_id == MATCH_DESC_REQ and packet.dst_ep == 0
            and packet.src is not None and packet.src.addr_mode == t.AddrMode.NWK and packet.src.address != 0x0000)
