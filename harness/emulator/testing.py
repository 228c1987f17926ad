"""Helpers for tests and benchmarks that drive bellows against the emulated radio.

Kept in the package (not in a conftest) so the benchmark, the CLI's self-check and other
layers' tests build the host configuration the same way.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .air import AirFrame, Coordinator
from .scan import NOISE_FLOOR_DBM, HeardNetwork


def bellows_config(port: str, *, channel: int = 15, use_thread: bool = False, **extra: Any) -> dict[str, Any]:
    """A zigpy/bellows configuration for an emulated radio at ``port``.

    Fixed channel (no energy scan), no OTA providers (they would reach the internet), no
    backups, no topology scans, no database; zigpy's watchdog stays on because it exercises the
    NCP too. ``flow_control: "software"`` is what a USB-serial EZSP dongle uses.
    """
    config: dict[str, Any] = {
        "device": {"path": port, "baudrate": 115200, "flow_control": "software"},
        "database_path": None,
        "network": {"channel": channel},
        "ota": {"enabled": False, "providers": [], "broadcast_enabled": False},
        "backup_enabled": False,
        "topology_scan_enabled": False,
        "watchdog_enabled": True,
        "use_thread": use_thread,
    }
    config.update(extra)
    return config


@dataclass
class FakeAir:
    """A stand-in for ``VirtualHan`` that records what the NCP puts on the air.

    ``delivers`` decides what ``unicast`` reports; ``joiners`` are (nwk, display EUI-64) pairs
    that "join" (trust centre admits them) when the permit-join window opens.
    """

    coordinator: Coordinator | None = None
    delivers: bool = True
    joiners: list[tuple[int, bytes]] = field(default_factory=list)
    unicasts: list[AirFrame] = field(default_factory=list)
    broadcasts: list[AirFrame] = field(default_factory=list)
    permits: list[int] = field(default_factory=list)
    formed: list[tuple[int, int, bytes]] = field(default_factory=list)

    def network_formed(self, channel: int, pan_id: int, extended_pan_id: bytes, network_key: bytes) -> None:
        self.formed.append((channel, pan_id, extended_pan_id))

    def permit_joining(self, duration_s: int) -> None:
        self.permits.append(duration_s)
        if duration_s and self.coordinator is not None:
            for nwk, eui64 in self.joiners:
                self.coordinator.trust_centre_join(nwk, eui64, rejoin=False, decision="allowed")
            self.joiners = []

    async def unicast(self, frame: AirFrame) -> bool:
        self.unicasts.append(frame)
        await asyncio.sleep(0)
        return self.delivers

    async def broadcast(self, frame: AirFrame) -> None:
        self.broadcasts.append(frame)

    def energy_dbm(self, channel: int) -> int:
        return NOISE_FLOOR_DBM  # a quiet band

    def beacons(self, channel: int) -> list[HeardNetwork]:
        return []  # nobody else on the air


def write_formed_nvram(
    path: Path,
    *,
    channel: int = 15,
    pan_id: int = 0x1A62,
    extended_pan_id: bytes = bytes.fromhex("dd00ddaa00112233"),
    eui64: bytes | None = None,
    seed: int = 1,
) -> Path:
    """Write an NVRAM file holding an already formed network, as if bellows had formed it.

    A radio started on it takes bellows' short path (networkInit -> NETWORK_UP) instead of a
    formation, which keeps tests that are not about formation fast. Keys come from ``seed``.
    """
    from .ncp import NetworkSettings, Nvram
    from .server import DEFAULT_NCP_EUI64

    rng = random.Random(seed)
    hashed_tclk_bitmask = 0x1BC4  # the bits bellows' zha_security() sets, hashed TC link key included
    nvram = Nvram(
        eui64=eui64 or DEFAULT_NCP_EUI64,
        network=NetworkSettings(
            channel=channel,
            pan_id=pan_id,
            extended_pan_id=extended_pan_id,
            tx_power=8,
            nwk_update_id=0,
            nwk_manager_id=0x0000,
            channel_mask=1 << channel,
            security_bitmask=hashed_tclk_bitmask,
            network_key_sequence=0,
            network_key=rng.randbytes(16),
            tc_link_key=rng.randbytes(16),
        ),
        path=path,
    )
    nvram.save()
    return path
