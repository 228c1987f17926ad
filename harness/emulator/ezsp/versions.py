"""EZSP version profiles: which commands a version has, their schemas and their field names.

Frame ids and schemas come from bellows' own tables (``bellows.ezsp.v13.commands.COMMANDS``,
``bellows.ezsp.v14.commands.COMMANDS``): the emulator must speak exactly what the host under test
speaks, and bellows' tables are that definition. They are read as data only -- no bellows
protocol code runs on the NCP side. The golden-frame tests pin the bytes independently.

Version differences live here, as data:

* the status type of each field (``EmberStatus``/``EzspStatus`` in v13, ``sl_Status`` in v14+)
  comes with the schema, and :mod:`.status` encodes accordingly;
* the order of callback arguments (v14 reorders ``incomingMessageHandler`` and
  ``messageSentHandler``) comes with the schema, because encoding walks the schema's fields;
* field *names* differ between versions; handlers use one canonical name (the v14 spelling)
  and :attr:`VersionProfile.renames` maps each version's names onto it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import bellows.ezsp.v13.commands as v13_commands
import bellows.ezsp.v14.commands as v14_commands

#: bellows' table entry: (frame id, request schema, response schema).
CommandDef = tuple[int, Any, Any]

_V13_MESSAGE_RENAMES = {
    "type": "message_type",
    "indexOrDestination": "nwk",
    "apsFrame": "aps_frame",
    "messageTag": "message_tag",
    "messageContents": "message",
}

#: v13 field name -> canonical (v14) field name, per command.
V13_RENAMES: Mapping[str, Mapping[str, str]] = {
    "sendUnicast": _V13_MESSAGE_RENAMES,
    "sendBroadcast": _V13_MESSAGE_RENAMES,
    "sendMulticast": _V13_MESSAGE_RENAMES,
    "messageSentHandler": _V13_MESSAGE_RENAMES,
    "incomingMessageHandler": {
        "type": "message_type",
        "apsFrame": "aps_frame",
        "lastHopLqi": "lqi",
        "lastHopRssi": "rssi",
        "sender": "nwk",
        "bindingIndex": "binding_index",
        "addressIndex": "address_index",
        "messageContents": "message",
    },
}


@dataclass(frozen=True)
class VersionProfile:
    """Everything the dispatcher needs to know about one EZSP protocol version."""

    version: int
    commands: Mapping[str, CommandDef]
    renames: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        by_id = {frame_id: name for name, (frame_id, _, _) in self.commands.items()}
        object.__setattr__(self, "by_id", MappingProxyType(by_id))

    by_id: Mapping[int, str] = field(init=False, repr=False)

    def frame_id(self, name: str) -> int:
        return self.commands[name][0]

    def canonical(self, name: str, field_name: str) -> str:
        return self.renames.get(name, {}).get(field_name, field_name)


PROFILES: Mapping[int, VersionProfile] = {
    13: VersionProfile(version=13, commands=v13_commands.COMMANDS, renames=V13_RENAMES),
    14: VersionProfile(version=14, commands=v14_commands.COMMANDS),
}

SUPPORTED_VERSIONS = tuple(sorted(PROFILES))


def profile_for(version: int) -> VersionProfile:
    try:
        return PROFILES[version]
    except KeyError:
        raise ValueError(
            f"EZSP version {version} is not emulated; supported: {', '.join(map(str, SUPPORTED_VERSIONS))}"
        ) from None
