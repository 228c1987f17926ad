"""ZCL frame helpers for emulated devices, built on zigpy's own definitions.

Encoding with zigpy's schemas (``foundation``, ``Ota.ServerCommandDefs``) is deliberate: a device
must speak exactly what zigpy parses, and these definitions are not the harness's own code, so using
them does not let a harness bug hide itself. A decode error becomes :class:`ZclDecodeError` naming
the cluster and command, never a bare exception in the middle of the air.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import zigpy.types as t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

Direction = foundation.Direction
Status = foundation.Status
GeneralCommand = foundation.GeneralCommand

#: OTA client -> server command definitions, and server -> client, by id.
OTA_CLIENT_TO_SERVER = {d.id: d for d in Ota.ServerCommandDefs}
OTA_SERVER_TO_CLIENT = {d.id: d for d in Ota.ClientCommandDefs}


class ZclDecodeError(ValueError):
    """A ZCL frame from the coordinator that the device cannot parse."""


@dataclass(frozen=True, slots=True)
class ZclFrame:
    """A decoded ZCL frame: header plus the remaining payload bytes (schema not applied yet)."""

    header: foundation.ZCLHeader
    body: bytes

    @property
    def is_general(self) -> bool:
        return self.header.frame_control.is_general

    @property
    def command_id(self) -> int:
        return int(self.header.command_id)

    @property
    def direction(self) -> foundation.Direction:
        return self.header.direction

    @property
    def default_response_disabled(self) -> bool:
        return bool(self.header.frame_control.disable_default_response)


def parse_header(payload: bytes) -> ZclFrame:
    try:
        header, body = foundation.ZCLHeader.deserialize(payload)
    except (ValueError, KeyError) as exc:
        raise ZclDecodeError(f"bad ZCL header in {payload.hex()}: {exc}") from exc
    return ZclFrame(header, body)


def decode(schema: type[t.Struct], body: bytes, *, what: str) -> Any:
    """Apply a zigpy schema to a frame body; ``what`` names the command in any error."""
    try:
        value, _rest = schema.deserialize(body)
    except (ValueError, KeyError, AssertionError) as exc:
        raise ZclDecodeError(f"{what}: cannot decode {body.hex()}: {exc}") from exc
    return value


def general_frame(
    tsn: int, command: GeneralCommand, schema_args: dict[str, Any], *, direction: Direction, disable_default_response: bool = True
) -> bytes:
    """Serialise a foundation (general) command with zigpy's GENERAL_COMMANDS schema."""
    definition = foundation.GENERAL_COMMANDS[command]
    header = _header(True, int(command), direction, disable_default_response, tsn)
    return header + definition.schema(**schema_args).serialize()


def cluster_frame(
    tsn: int,
    command_id: int,
    schema: type[t.Struct],
    args: dict[str, Any],
    *,
    direction: Direction,
    disable_default_response: bool = False,
) -> bytes:
    """Serialise a cluster-specific command (e.g. an OTA request) with its zigpy schema."""
    return _header(False, command_id, direction, disable_default_response, tsn) + schema(**args).serialize()


def _header(general: bool, command_id: int, direction: Direction, disable_default_response: bool, tsn: int) -> bytes:
    """The ZCL header (frame control, TSN, command id: no manufacturer code) as zigpy writes it."""
    template = _header_template(general, command_id, direction, disable_default_response)
    return template[:1] + bytes((tsn,)) + template[2:]


@functools.cache
def _header_template(general: bool, command_id: int, direction: Direction, disable_default_response: bool) -> bytes:
    """zigpy's header for TSN 0, made once per kind of frame: building it is a good part of a frame's cost."""
    make = foundation.ZCLHeader.general if general else foundation.ZCLHeader.cluster
    header = make(0, command_id, direction=direction)
    # zigpy 2.4 annotates Struct.replace as taking dicts and returning a plain Struct (it returns the same type).
    header.frame_control = header.frame_control.replace(  # type: ignore[assignment]
        disable_default_response=disable_default_response  # type: ignore[arg-type]
    )
    raw = header.serialize()
    assert len(raw) == 3 and raw[1] == 0, raw.hex()  # frame control, TSN, command id
    return raw


def default_response(request: ZclFrame, status: Status) -> bytes:
    """Default Response (ZCL 2.5.12) to ``request``: same TSN, opposite direction."""
    return general_frame(
        request.header.tsn,
        GeneralCommand.Default_Response,
        {"command_id": request.command_id, "status": status},
        direction=request.direction.flip(),
    )


def ota_request(tsn: int, name: str, **args: Any) -> bytes:
    """An OTA client -> server command (query_next_image, image_block, image_page, upgrade_end)."""
    definition = getattr(Ota.ServerCommandDefs, name)
    return cluster_frame(tsn, definition.id, definition.schema, args, direction=Direction.Client_to_Server)


def decode_ota_from_server(frame: ZclFrame) -> tuple[str, Any] | None:
    """(command name, parsed args) of an OTA server -> client command, or None if unknown."""
    definition = OTA_SERVER_TO_CLIENT.get(frame.command_id)
    if definition is None:
        return None
    return definition.name, decode(definition.schema, frame.body, what=f"OTA {definition.name}")
