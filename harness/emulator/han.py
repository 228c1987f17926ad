"""The virtual HAN ("the air") between the emulated NCP and the emulated devices.

It implements the air side of the contract in :mod:`harness.emulator.air`: the NCP calls
``network_formed``, ``permit_joining``, ``unicast`` and ``broadcast``; devices are added with
``add``. The air also plays the trust centre's half of a join (it asks the coordinator for the
transient key and lets the device decide whether it can decrypt the network key), and it models
radio imperfections: a per-hop latency, and loss with APS retries (a unicast that is lost on every
attempt is a delivery failure the NCP reports to bellows). Randomness comes from the seeded RNG
the NCP passes in, so a failing run can be replayed.

Everything runs on the emulator's event loop (``loop``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from dataclasses import dataclass

from harness.emulator.air import (
    BROADCAST_ALL,
    BROADCAST_ROUTERS,
    BROADCAST_RX_ON_WHEN_IDLE,
    COORDINATOR_NWK,
    WELL_KNOWN_LINK_KEY,
    AirFrame,
    Coordinator,
)
from harness.emulator.air_capture import AirCapture, Endpoint
from harness.emulator.devices.device import EmulatedDevice
from harness.emulator.scan import HeardNetwork, RadioEnvironment
from harness.secret import Secret

#: Host-visible NWK address range a trust centre hands out (Zigbee 3.6.1.10: 0x0001-0xFFF7).
_NWK_RANGE = (0x0001, 0xFFF7)


@dataclass(frozen=True, slots=True)
class AirSettings:
    """Radio imperfections of the virtual air, named so tests can dial them up."""

    #: One-way delay of one transmission attempt (a hop).
    latency_s: float = 0.0
    #: Probability that one transmission attempt is lost.
    loss: float = 0.0
    #: APS retries after a lost unicast attempt (Zigbee apscMaxFrameRetries = 3).
    aps_retries: int = 3


class VirtualHan:
    """The devices, the join window and the medium between them and the coordinator."""

    def __init__(
        self,
        coordinator: Coordinator,
        *,
        latency_s: float = 0.0,
        rng: random.Random,
        loop: asyncio.AbstractEventLoop,
        loss: float = 0.0,
        aps_retries: int = 3,
        environment: RadioEnvironment | None = None,
    ) -> None:
        if not 0.0 <= loss < 1.0:
            raise ValueError(f"VirtualHan: loss must be in [0, 1), got {loss!r}")
        self.coordinator = coordinator
        self.settings = AirSettings(latency_s=latency_s, loss=loss, aps_retries=aps_retries)
        self.rng = rng
        self.loop = loop
        #: Interference and neighbouring networks around the HAN; a test may replace it.
        self.environment = environment or RadioEnvironment()
        self._devices: dict[str, EmulatedDevice] = {}
        self._tx_locks: dict[str, asyncio.Lock] = {}
        self._nwk_by_eui: dict[bytes, int] = {}
        self._permit_until = 0.0
        self._network: tuple[int, int, bytes] | None = None
        self._network_key: Secret | None = None  # never in a log or repr
        self._background: set[asyncio.Task[None]] = set()
        #: Every transmission as a sniffer would record it (files only once ``capture.start`` is called).
        self.capture = AirCapture(loop.time)

    # -- devices --------------------------------------------------------------------------------
    def add(self, device: EmulatedDevice) -> EmulatedDevice:
        if device.name in self._devices:
            raise ValueError(f"VirtualHan: a device named {device.name!r} is already on the air")
        if any(other.eui64 == device.eui64 for other in self._devices.values()):
            raise ValueError(f"VirtualHan: device {device.name!r} reuses another device's EUI-64")
        self._devices[device.name] = device
        self._tx_locks[device.name] = asyncio.Lock()
        device.attach(self, rng=random.Random(self.rng.random()))
        if self.permit_open:
            device.permit_opened()
        return device

    def device(self, name: str) -> EmulatedDevice:
        try:
            return self._devices[name]
        except KeyError:
            raise KeyError(f"no emulated device {name!r}; devices: {', '.join(self._devices) or 'none'}") from None

    @property
    def devices(self) -> tuple[EmulatedDevice, ...]:
        return tuple(self._devices.values())

    def __iter__(self) -> Iterator[EmulatedDevice]:
        return iter(self.devices)

    def _by_nwk(self, nwk: int) -> EmulatedDevice | None:
        for device in self._devices.values():
            if device.nwk == nwk and device.reachable:
                return device
        return None

    # -- network and join window (NCP -> air) ---------------------------------------------------
    def network_formed(self, channel: int, pan_id: int, extended_pan_id: bytes, network_key: bytes) -> None:
        self._network = (channel, pan_id, bytes(extended_pan_id))
        self._network_key = Secret(bytes(network_key), origin="network_formed")
        self.capture.network_formed(channel, pan_id, extended_pan_id, network_key, self.coordinator.eui64)

    @property
    def network_up(self) -> bool:
        return self._network_key is not None

    @property
    def permit_open(self) -> bool:
        return self.network_up and self.loop.time() < self._permit_until

    def permit_joining(self, duration_s: int) -> None:
        self._permit_until = self.loop.time() + duration_s if duration_s > 0 else 0.0
        if not self.permit_open:
            return
        for device in self._devices.values():
            device.permit_opened()

    def _nwk_for(self, device: EmulatedDevice) -> int:
        """A stable, unique NWK address per EUI-64 (a rejoining device keeps its address)."""
        nwk = self._nwk_by_eui.get(device.eui64)
        if nwk is None:
            taken = set(self._nwk_by_eui.values())
            while nwk is None or nwk in taken:
                nwk = self.rng.randint(*_NWK_RANGE)
            self._nwk_by_eui[device.eui64] = nwk
        return nwk

    def attempt_join(self, device: EmulatedDevice) -> bool:
        """One association + key transport, as the trust centre and the device see it.

        Under the install-code policy the trust centre needs a transient key for the EUI-64 (no
        key: denied). With a key it admits the device and sends the network key under that key; only
        a device whose own key matches can decrypt it and go on to announce itself. A wrong key
        therefore shows on the host as an admitted join that is never followed by an announcement.
        """
        if not self.permit_open or self._network_key is None:
            return False
        nwk = self._nwk_for(device)
        tc_key = self.coordinator.transient_key_for(device.eui64)
        policy = self.coordinator.install_code_policy()
        device.events.record("join_attempt", nwk=nwk, install_code_policy=policy, tc_has_key=tc_key is not None)
        self.capture.join(
            Endpoint(nwk, device.eui64, device.name), tc_link_key=tc_key, key_label=_key_label(device, tc_key)
        )
        if tc_key is None:
            self.coordinator.trust_centre_join(nwk, device.eui64, rejoin=False, decision="denied")
            device.events.record("join_denied", reason="trust centre holds no link key for this EUI-64")
            return False
        self.coordinator.trust_centre_join(nwk, device.eui64, rejoin=False, decision="allowed")
        if not device.can_decrypt_transport_key(tc_key):
            device.events.record("join_key_mismatch", reason="cannot decrypt the network key with its own link key")
            return False
        device.joined_network(nwk, self._network_key.reveal_bytes(), rejoin=False)
        return True

    def rejoin(self, device: EmulatedDevice) -> None:
        """Secure rejoin with the network key the device already holds (no permit-join needed)."""
        assert device.nwk is not None and self._network_key is not None
        self.capture.rejoin(Endpoint(device.nwk, device.eui64, device.name))
        self.coordinator.trust_centre_join(device.nwk, device.eui64, rejoin=True, decision="allowed")
        device.joined_network(device.nwk, self._network_key.reveal_bytes(), rejoin=True)

    def report_left(self, device: EmulatedDevice, nwk: int | None) -> None:
        if nwk is not None:
            self.coordinator.device_left(nwk, device.eui64)

    # -- scans (NCP -> air) ----------------------------------------------------------------------
    def energy_dbm(self, channel: int) -> int:
        return self.environment.energy_dbm(channel, self._own_beacons())

    def beacons(self, channel: int) -> list[HeardNetwork]:
        return self.environment.beacons(channel, self._own_beacons())

    def _own_beacons(self) -> list[HeardNetwork]:
        """Every joined device is a router: it answers a beacon request with our network's beacon."""
        if self._network is None:
            return []
        channel, pan_id, extended_pan_id = self._network
        return [
            HeardNetwork(
                channel=channel,
                pan_id=pan_id,
                extended_pan_id=extended_pan_id,
                permit_joining=self.permit_open,
                lqi=device.settings.lqi,
                rssi=device.settings.rssi,
            )
            for device in self._devices.values()
            if device.reachable
        ]

    # -- frames: coordinator -> devices ---------------------------------------------------------
    async def unicast(self, frame: AirFrame) -> bool:
        attempts = 1 + self.settings.aps_retries
        for _attempt in range(attempts):
            await self._hop()
            device = self._by_nwk(frame.dst_nwk)
            lost = device is None or self._lost()  # nobody acknowledges; the APS layer retries
            self._capture(frame, self._at(frame.dst_nwk), to_device=True, delivered=not lost)
            if lost:
                continue
            assert device is not None
            if not device.decrypts(frame):
                continue  # dropped by its APS layer: no APS ACK, so the NCP's APS layer retries
            device.receive(frame)
            return True
        return False

    async def broadcast(self, frame: AirFrame) -> None:
        await self._hop()
        self._capture(frame, None, to_device=True, delivered=True)
        for device in list(self._devices.values()):
            if not device.reachable or not _listens(frame.dst_nwk):
                continue
            if self._lost():
                continue
            device.receive(frame)

    # -- frames: device -> coordinator ----------------------------------------------------------
    def send_from_device(self, device: EmulatedDevice, frame: AirFrame) -> None:
        """Queue ``frame``; frames from one device arrive in the order it sent them."""
        task = self.loop.create_task(self._deliver_from(device, frame), name=f"air:{device.name}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _deliver_from(self, device: EmulatedDevice, frame: AirFrame) -> None:
        async with self._tx_locks[device.name]:
            for _attempt in range(1 + self.settings.aps_retries):
                await self._hop()
                lost = self._lost()
                self._capture(frame, device, to_device=False, delivered=not lost)
                if lost:
                    continue
                self.coordinator.frame_from_device(frame, device.settings.lqi, device.settings.rssi)
                return
            device.events.record("send_failed", cluster=frame.cluster_id, reason="lost after APS retries")

    # -- capture ----------------------------------------------------------------------------------
    def _at(self, nwk: int) -> EmulatedDevice | None:
        """The device that holds (or last held) ``nwk``, reachable or not: its radio identity."""
        for device in self._devices.values():
            if device.nwk == nwk:
                return device
        return None

    def _capture(self, frame: AirFrame, device: EmulatedDevice | None, *, to_device: bool, delivered: bool) -> None:
        """One transmission attempt between the coordinator and ``device`` (None: broadcast or nobody)."""
        coordinator = Endpoint(COORDINATOR_NWK, self.coordinator.eui64)
        if device is None or device.nwk is None:
            if frame.broadcast or not to_device:
                self.capture.aps_frame(frame, src=coordinator, dst=None, link_key=None, delivered=delivered)
            return
        peer = Endpoint(device.nwk, device.eui64, device.name)
        held = device.current_link_key()
        # The sender's key secures the frame: for the NCP's frames, the key it holds for the device,
        # which the device may not (then its APS layer drops the frame, and a decoder shows why).
        key = frame.aps_key if to_device and frame.aps_key is not None else (held[0] if held else None)
        label = _key_label(device, key) if key is not None else ""
        src, dst = (coordinator, peer) if to_device else (peer, coordinator)
        self.capture.aps_frame(
            frame, src=src, dst=None if frame.broadcast else dst, link_key=key, key_label=label, delivered=delivered
        )

    # -- medium ---------------------------------------------------------------------------------
    async def _hop(self) -> None:
        # Always yield, even with zero latency, so a reply never overtakes the request it answers.
        await asyncio.sleep(self.settings.latency_s)

    def _lost(self) -> bool:
        return self.settings.loss > 0 and self.rng.random() < self.settings.loss

    async def close(self) -> None:
        """Cancel every device and air task (emulator shutdown)."""
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        for device in self._devices.values():
            tasks.extend(device.cancel_tasks())
        await asyncio.gather(*tasks, return_exceptions=True)


def _key_label(device: EmulatedDevice, key: bytes | None) -> str:
    """How the keys file names a link key: whose it is and where it came from."""
    if key == WELL_KNOWN_LINK_KEY:
        return "well-known link key (ZigBeeAlliance09)"
    held = device.current_link_key()
    origin = held[1] if held is not None and held[0] == key else "trust centre"
    return f"link key {device.name} ({origin})"


def _listens(dst_nwk: int) -> bool:
    """Every emulated device is an rx-on-when-idle router, so it hears all three broadcast groups."""
    return dst_nwk in (BROADCAST_ALL, BROADCAST_RX_ON_WHEN_IDLE, BROADCAST_ROUTERS)
