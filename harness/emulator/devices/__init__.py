"""Emulated HAN devices (IHD, PPMID) that live on the virtual air of the emulated NCP.

Public surface: :class:`EmulatedDevice`, :class:`DeviceSettings` / :func:`settings_from_rig`,
:class:`DeviceTimings`, the behaviours (:data:`BEHAVIOURS`, :func:`register_behaviour` for a lab's
own, :func:`available_behaviours`), and the event types tests await.
"""

from __future__ import annotations

from .behaviours import (
    BEHAVIOURS,
    BlockAction,
    Conformant,
    DownloadEnd,
    UnknownBehaviourError,
    available_behaviours,
    register_behaviour,
)
from .device import EmulatedDevice, LinkState
from .events import DeviceEvent, EventLog, EventTimeout
from .keys import InstallCodeError, aes_mmo_hash, link_key_from_install_code
from .ota_client import OtaState, ReceivedImage
from .settings import DeviceSettings, DeviceTimings, settings_from_rig

__all__ = [
    "BEHAVIOURS",
    "BlockAction",
    "Conformant",
    "DeviceEvent",
    "DeviceSettings",
    "DeviceTimings",
    "DownloadEnd",
    "EmulatedDevice",
    "EventLog",
    "EventTimeout",
    "InstallCodeError",
    "LinkState",
    "OtaState",
    "ReceivedImage",
    "UnknownBehaviourError",
    "aes_mmo_hash",
    "available_behaviours",
    "link_key_from_install_code",
    "register_behaviour",
    "settings_from_rig",
]
