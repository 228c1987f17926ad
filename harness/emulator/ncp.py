"""The emulated NCP's state: what survives a reset (NVRAM) and what does not (run-time).

State is split the way a real EmberZNet NCP splits it:

* :class:`Nvram` survives resets (ASH RST, a watchdog reset, a new host connection): the
  formed network's parameters and keys, the EUI-64. A restart on a formed network therefore
  takes the short path (``networkInit`` -> OK + ``stackStatusHandler(NETWORK_UP)``). It lives in
  memory, and in a JSON file too if a path is given (the file holds the network key in clear,
  like the NCP's flash; keep it out of reports).
* :class:`RuntimeState` is lost at every reset: whether the network is up, configuration
  values, policies, transient keys, the security state waiting for ``formNetwork``.

The NCP itself (link + EZSP + air) is :class:`harness.emulator.coordinator.EmulatedNcp`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import bellows.types as t

#: Configuration values an EmberZNet 7.4 NCP starts with (before the host writes its own);
#: the table sizes drive bellows' table walks at start-up.
DEFAULT_CONFIGURATION: dict[int, int] = {
    t.EzspConfigId.CONFIG_PACKET_BUFFER_COUNT: 75,
    t.EzspConfigId.CONFIG_NEIGHBOR_TABLE_SIZE: 16,
    t.EzspConfigId.CONFIG_APS_UNICAST_MESSAGE_COUNT: 10,
    t.EzspConfigId.CONFIG_BINDING_TABLE_SIZE: 0,
    t.EzspConfigId.CONFIG_ADDRESS_TABLE_SIZE: 8,
    t.EzspConfigId.CONFIG_MULTICAST_TABLE_SIZE: 8,
    t.EzspConfigId.CONFIG_ROUTE_TABLE_SIZE: 16,
    t.EzspConfigId.CONFIG_DISCOVERY_TABLE_SIZE: 8,
    t.EzspConfigId.CONFIG_STACK_PROFILE: 2,
    t.EzspConfigId.CONFIG_SECURITY_LEVEL: 5,
    t.EzspConfigId.CONFIG_MAX_HOPS: 30,
    t.EzspConfigId.CONFIG_MAX_END_DEVICE_CHILDREN: 32,
    t.EzspConfigId.CONFIG_INDIRECT_TRANSMISSION_TIMEOUT: 7680,
    t.EzspConfigId.CONFIG_END_DEVICE_POLL_TIMEOUT: 8,
    t.EzspConfigId.CONFIG_TX_POWER_MODE: 0,
    t.EzspConfigId.CONFIG_KEY_TABLE_SIZE: 4,
    t.EzspConfigId.CONFIG_TRUST_CENTER_ADDRESS_CACHE_SIZE: 2,
    t.EzspConfigId.CONFIG_SOURCE_ROUTE_TABLE_SIZE: 32,
    t.EzspConfigId.CONFIG_FRAGMENT_WINDOW_SIZE: 1,
    t.EzspConfigId.CONFIG_FRAGMENT_DELAY_MS: 0,
    t.EzspConfigId.CONFIG_PAN_ID_CONFLICT_REPORT_THRESHOLD: 1,
    t.EzspConfigId.CONFIG_APPLICATION_ZDO_FLAGS: 0,
    t.EzspConfigId.CONFIG_SUPPORTED_NETWORKS: 1,
    t.EzspConfigId.CONFIG_TC_REJOINS_USING_WELL_KNOWN_KEY_TIMEOUT_S: 300,
}

#: Free packet buffers reported by VALUE_FREE_BUFFERS (bellows' watchdog reads it).
FREE_BUFFERS = 240


@dataclass(slots=True)
class NetworkSettings:
    """A formed network, as the NCP keeps it in flash."""

    channel: int
    pan_id: int
    extended_pan_id: bytes  # 8 bytes, display order
    tx_power: int
    nwk_update_id: int
    nwk_manager_id: int
    channel_mask: int
    security_bitmask: int
    network_key_sequence: int
    network_key: bytes = field(repr=False)
    tc_link_key: bytes = field(repr=False)  # the preconfigured (possibly hashed) TC link key
    nwk_frame_counter: int = 0
    aps_frame_counter: int = 0


@dataclass(slots=True)
class Nvram:
    """What survives an NCP reset. ``save`` writes JSON if a path was given."""

    eui64: bytes  # display order
    network: NetworkSettings | None = None
    path: Path | None = None

    @classmethod
    def load(cls, path: Path | None, *, default_eui64: bytes) -> Nvram:
        if path is None or not path.exists():
            return cls(eui64=default_eui64, path=path)
        try:
            raw = json.loads(path.read_text())
            network = raw.get("network")
            return cls(
                eui64=bytes.fromhex(raw["eui64"]),
                network=NetworkSettings(**_network_fields(network)) if network else None,
                path=path,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: not an emulator NVRAM file: {exc}") from exc

    def save(self) -> None:
        if self.path is None:
            return
        network = None
        if self.network is not None:
            network = {
                k: v.hex() if isinstance(v, bytes) else v for k, v in asdict(self.network).items()
            }
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps({"eui64": self.eui64.hex(), "network": network}, indent=2))
        os.replace(tmp, self.path)


_HEX_FIELDS = frozenset({"extended_pan_id", "network_key", "tc_link_key"})


def _network_fields(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved network's fields as :class:`NetworkSettings` takes them: keys back from hex."""
    return {k: bytes.fromhex(v) if k in _HEX_FIELDS else v for k, v in saved.items()}


#: Values an EmberZNet NCP reports before the host sets them. The extended security bitmask lives
#: in RAM: it starts clear after every reset, and a trust centre sets its bits again after each start.
DEFAULT_VALUES: dict[int, bytes] = {
    t.EzspValueId.VALUE_EXTENDED_SECURITY_BITMASK: b"\x00\x00",
}


@dataclass(slots=True)
class RuntimeState:
    """What a reset forgets."""

    network_up: bool = False
    configuration: dict[int, int] = field(default_factory=lambda: dict(DEFAULT_CONFIGURATION))
    values: dict[int, bytes] = field(default_factory=lambda: dict(DEFAULT_VALUES))
    policies: dict[int, int] = field(default_factory=dict)
    transient_keys: dict[bytes, bytes] = field(default_factory=dict, repr=False)  # display EUI -> key
    initial_security: Any = None  # EmberInitialSecurityState waiting for formNetwork
    permit_joining_s: int = 0
    scan_task: Any = None  # the running startScan (asyncio.Task), if any
    mfglib: Any = None  # manufacturing-library test mode (ezsp.mfglib.MfglibState), if on


@dataclass(frozen=True, slots=True)
class NcpIdentity:
    """What the NCP says about itself."""

    stack_version: str = "7.4.4.0"
    manufacturer: str = "HAN harness"
    board_name: str = "emulated NCP"  # MFG tokens are 16 bytes

    def stack_version_parts(self) -> tuple[int, int, int, int]:
        parts = [int(p) for p in self.stack_version.split(".")]
        if len(parts) != 4 or not all(0 <= p <= 15 for p in parts):
            raise ValueError(f"stack_version must be four digits 0-15 as 'a.b.c.d', got {self.stack_version!r}")
        return tuple(parts)  # type: ignore[return-value]

    def stack_version_word(self) -> int:
        """``version`` response's stackVersion: one nibble per release digit (0x7440 = 7.4.4.0)."""
        a, b, c, d = self.stack_version_parts()
        return a << 12 | b << 8 | c << 4 | d
