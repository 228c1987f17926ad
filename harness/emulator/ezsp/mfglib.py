"""The manufacturing library: how a second EZSP stick sniffs the air for a host.

EmberZNet's mfglib (EZSP reference, "Mfglib Frames"), as bellows' ``packet_capture`` and the old
``bellows dump`` use it: ``mfglibStart(rxCallback=True)`` puts the radio in test mode and reports
every frame it receives on its channel with ``mfglibRxHandler(linkQuality, rssi,
packetContents)``; ``mfglibSetChannel`` tunes it; ``mfglibEnd`` leaves test mode. The last two
bytes of ``packetContents`` are where the radio's FCS was (hosts drop them and recompute it).

The emulated stick hears an air through :func:`heard`, which the emulated radio calls for every
frame rendered on the air it is placed on (see ``EmulatedRadio.sniff``). Test mode is run-time
state: a reset leaves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..scan import CHANNELS_2_4_GHZ
from .handlers import Request, Result, handles
from .status import Status

if TYPE_CHECKING:
    from ..coordinator import EmulatedNcp

#: What a sniffer close to the HAN reports for each frame.
SNIFFER_LQI = 255
SNIFFER_RSSI = -40


@dataclass(slots=True)
class MfglibState:
    rx_callback: bool
    channel: int = 11


def _state(ncp: EmulatedNcp) -> MfglibState | None:
    state: MfglibState | None = ncp.state.mfglib
    return state


@handles("mfglibStart")
def mfglib_start(ncp: EmulatedNcp, request: Request) -> Result:
    if ncp.state.network_up or _state(ncp) is not None:
        return {"status": Status.INVALID_CALL}  # the radio serves a network, or is in test mode already
    ncp.state.mfglib = MfglibState(rx_callback=bool(request["rxCallback"]))
    return {"status": Status.OK}


@handles("mfglibEnd")
def mfglib_end(ncp: EmulatedNcp, request: Request) -> Result:
    if _state(ncp) is None:
        return {"status": Status.INVALID_CALL}
    ncp.state.mfglib = None
    return {"status": Status.OK}


@handles("mfglibSetChannel")
def mfglib_set_channel(ncp: EmulatedNcp, request: Request) -> Result:
    state = _state(ncp)
    if state is None:
        return {"status": Status.INVALID_CALL}
    if request["channel"] not in CHANNELS_2_4_GHZ:
        return {"status": Status.INVALID_PARAMETER}
    state.channel = int(request["channel"])
    return {"status": Status.OK}


@handles("mfglibGetChannel")
def mfglib_get_channel(ncp: EmulatedNcp, request: Request) -> Result:
    state = _state(ncp)
    return {"channel": state.channel if state is not None else 0}


def heard(ncp: EmulatedNcp, channel: int, frame: bytes) -> None:
    """A frame (with its FCS) on ``channel``: reported if the stick listens there in test mode."""
    state = _state(ncp)
    if state is None or not state.rx_callback or state.channel != channel:
        return
    ncp.emit("mfglibRxHandler", linkQuality=SNIFFER_LQI, rssi=SNIFFER_RSSI, packetContents=frame)
