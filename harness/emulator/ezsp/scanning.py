"""``startScan`` / ``stopScan``: the NCP's energy and active scans over the virtual air.

EmberZNet's behaviour, as a host sees it (EZSP reference, "Networking Frames"):

* ``startScan(scanType, channelMask, duration)`` answers OK at once (INVALID_CALL while another
  scan runs, INVALID_PARAMETER for a mask with no 2.4 GHz channel or a duration above 14); the
  scan then visits the channels in ascending order, listening on each for the MAC scan time;
* an energy scan raises ``energyScanResultHandler(channel, maxRssiValue)`` once per channel;
* an active scan raises ``networkFoundHandler(networkFound, lastHopLqi, lastHopRssi)`` for each
  network whose beacon it heard;
* both end with ``scanCompleteHandler(channel, status)``: status OK, channel unused (0);
* ``stopScan`` ends a running scan early; its ``scanCompleteHandler`` still follows.

What is heard comes from the air (:meth:`harness.emulator.air.Air.energy_dbm` and ``beacons``);
with no air attached the NCP hears a quiet, empty band.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import bellows.types as t

from ..coordinator_zdo import eui64_from_display
from ..scan import NOISE_FLOOR_DBM, HeardNetwork, channels_in_mask, scan_seconds_per_channel
from .handlers import Request, Result, handles
from .status import Status

if TYPE_CHECKING:
    from ..coordinator import EmulatedNcp

def _running(ncp: EmulatedNcp) -> asyncio.Task[None] | None:
    """The scan in progress; a reset forgets it with the rest of the run-time state."""
    task: asyncio.Task[None] | None = ncp.state.scan_task
    return task if task is not None and not task.done() else None


@handles("startScan")
def start_scan(ncp: EmulatedNcp, request: Request) -> Result:
    channels = channels_in_mask(int(request["channelMask"]))
    duration = int(request["duration"])
    if _running(ncp) is not None:
        return {"status": Status.INVALID_CALL}
    if not channels or duration > 14:
        return {"status": Status.INVALID_PARAMETER}
    energy = request["scanType"] == t.EzspNetworkScanType.ENERGY_SCAN
    ncp.state.scan_task = ncp.spawn(_scan(ncp, channels, duration, energy), name="startScan")
    return {"status": Status.OK}


@handles("stopScan")
def stop_scan(ncp: EmulatedNcp, request: Request) -> Result:
    task = _running(ncp)
    if task is None:
        return {"status": Status.INVALID_CALL}
    task.cancel()
    return {"status": Status.OK}


async def _scan(ncp: EmulatedNcp, channels: list[int], duration: int, energy: bool) -> None:
    dwell = scan_seconds_per_channel(duration)
    for channel in channels:
        try:
            await asyncio.sleep(dwell)
        except asyncio.CancelledError:
            # stopScan (after a reset the host is not negotiated yet and the callback is dropped)
            ncp.emit("scanCompleteHandler", channel=0, status=Status.OK)
            raise
        if energy:
            ncp.emit("energyScanResultHandler", channel=channel, maxRssiValue=_energy(ncp, channel))
        else:
            for network in _beacons(ncp, channel):
                ncp.emit(
                    "networkFoundHandler",
                    networkFound=t.EmberZigbeeNetwork(
                        channel=network.channel,
                        panId=network.pan_id,
                        extendedPanId=eui64_from_display(network.extended_pan_id),
                        allowingJoin=t.Bool(network.permit_joining),
                        stackProfile=network.stack_profile,
                        nwkUpdateId=network.nwk_update_id,
                    ),
                    lastHopLqi=network.lqi,
                    lastHopRssi=network.rssi,
                )
    ncp.emit("scanCompleteHandler", channel=0, status=Status.OK)


def _energy(ncp: EmulatedNcp, channel: int) -> int:
    air = ncp.air
    return air.energy_dbm(channel) if air is not None else NOISE_FLOOR_DBM


def _beacons(ncp: EmulatedNcp, channel: int) -> list[HeardNetwork]:
    air = ncp.air
    return air.beacons(channel) if air is not None else []
