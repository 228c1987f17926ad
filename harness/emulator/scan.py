"""MAC scans on the virtual air: what an energy scan measures and what an active scan hears.

An EmberZNet NCP scans when its host sends ``startScan``: an *energy* scan reports the strongest
signal on each channel (``energyScanResultHandler``), an *active* scan sends a beacon request on
each channel and reports every network whose routers answer (``networkFoundHandler``); both end
with ``scanCompleteHandler``. The emulated NCP scans the same way, and what it finds is what the
virtual air holds (:class:`RadioEnvironment`): the noise floor, any interference a test puts on a
channel, foreign networks nearby, and the routers of the NCP's own network, which answer beacon
requests like any Zigbee router.

Scan time is the MAC's: ``aBaseSuperframeDuration * (2**duration + 1)`` symbols per channel
(IEEE 802.15.4-2006 7.5.2.1), i.e. 15.36 ms * (2**duration + 1) at 2.4 GHz.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: Channels of the 2.4 GHz O-QPSK PHY, the only band a Zigbee HAN uses.
CHANNELS_2_4_GHZ = range(11, 27)

#: Received power on a quiet channel, dBm (a typical EFR32 noise floor).
NOISE_FLOOR_DBM = -100

#: One superframe at 2.4 GHz: 960 symbols of 16 us.
SUPERFRAME_S = 960 * 16e-6

#: Zigbee PRO stack profile, as a beacon carries it.
STACK_PROFILE_PRO = 2


def scan_seconds_per_channel(duration: int) -> float:
    """How long the MAC listens on one channel for a scan of exponent ``duration`` (0-14)."""
    if not 0 <= duration <= 14:
        raise ValueError(f"scan duration exponent must be 0-14, got {duration}")
    return SUPERFRAME_S * float(2**duration + 1)


def channels_in_mask(mask: int) -> list[int]:
    """The 2.4 GHz channels whose bit is set in an 802.15.4 channel mask (bit n = channel n)."""
    return [channel for channel in CHANNELS_2_4_GHZ if mask & (1 << channel)]


@dataclass(frozen=True, slots=True)
class HeardNetwork:
    """A network as one beacon describes it, with how strongly the beacon arrived."""

    channel: int
    pan_id: int
    extended_pan_id: bytes  # 8 bytes, display order
    permit_joining: bool
    lqi: int
    rssi: int
    nwk_update_id: int = 0
    stack_profile: int = STACK_PROFILE_PRO

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS_2_4_GHZ:
            raise ValueError(f"a network on channel {self.channel}: 2.4 GHz channels are 11-26")
        if len(self.extended_pan_id) != 8:
            raise ValueError(f"extended PAN id must be 8 bytes, got {len(self.extended_pan_id)}")


@dataclass(frozen=True, slots=True)
class RadioEnvironment:
    """What surrounds the HAN on the air: interference per channel and foreign networks.

    ``interference_dbm`` maps a channel to the power of a non-Zigbee emitter on it (a Wi-Fi
    access point overlapping channels 11-14, say). ``neighbours`` are other PANs in range (the
    flat next door). Both are empty by default: a quiet lab.
    """

    interference_dbm: Mapping[int, int] = field(default_factory=dict)
    neighbours: tuple[HeardNetwork, ...] = ()

    def __post_init__(self) -> None:
        for channel in self.interference_dbm:
            if channel not in CHANNELS_2_4_GHZ:
                raise ValueError(f"interference on channel {channel}: 2.4 GHz channels are 11-26")

    def energy_dbm(self, channel: int, own_network: Iterable[HeardNetwork] = ()) -> int:
        """The strongest signal on ``channel``: noise, interference, or a network's traffic."""
        levels = [NOISE_FLOOR_DBM, self.interference_dbm.get(channel, NOISE_FLOOR_DBM)]
        levels += [network.rssi for network in (*self.neighbours, *own_network) if network.channel == channel]
        return max(levels)

    def beacons(self, channel: int, own_network: Iterable[HeardNetwork] = ()) -> list[HeardNetwork]:
        """One entry per network heard on ``channel`` (its strongest beacon)."""
        best: dict[tuple[int, bytes], HeardNetwork] = {}
        for network in (*self.neighbours, *own_network):
            if network.channel != channel:
                continue
            key = (network.pan_id, network.extended_pan_id)
            if key not in best or network.lqi > best[key].lqi:
                best[key] = network
        return list(best.values())
