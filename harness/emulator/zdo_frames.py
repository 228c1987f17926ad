"""ZDO frames built and parsed with zigpy's declared ZDO schemas (``zigpy.zdo.types.CLUSTERS``).

The emulated coordinator's own ZDO and the emulated devices' ZDO both speak through these two
functions, so every ZDO frame on the emulated air follows one declaration of its fields -- the
one the host's zigpy uses to read them -- rather than a format string per frame.

A ZDO frame is a transaction sequence number followed by the command's fields (Zigbee spec
2.4.2.8). A response may carry fewer fields than its schema declares (an error status is followed
only by the address of interest): :func:`encode` writes the fields it is given, in schema order.
"""

from __future__ import annotations

from typing import Any

import zigpy.types as t
import zigpy.zdo.types as zdo_t

Cmd = zdo_t.ZDOCmd

#: The bit that turns a ZDO request's cluster id into its response's.
RESPONSE_BIT = 0x8000


class ZdoDecodeError(ValueError):
    """A ZDO frame that does not parse under its command's schema."""


def encode(command: Cmd, tsn: int, *args: object) -> bytes:
    """TSN then ``args`` serialized as the first ``len(args)`` fields of ``command``'s schema."""
    _names, types = zdo_t.CLUSTERS[command]
    if len(args) > len(types):
        raise TypeError(f"ZDO {command.name}: {len(args)} fields given, the schema has {len(types)}")
    return bytes(t.uint8_t(tsn).serialize() + t.serialize(list(args), types[: len(args)]))


def decode(command: Cmd, payload: bytes) -> tuple[int, list[Any]]:
    """(TSN, fields) of one frame of ``command``; :class:`ZdoDecodeError` names the command and the bytes.

    The fields' types are the schema's (known when the frame is read), hence ``Any``.
    """
    try:
        tsn, rest = t.uint8_t.deserialize(payload)
        _names, types = zdo_t.CLUSTERS[command]
        args, _rest = t.deserialize(rest, types)
    except (ValueError, KeyError) as exc:
        raise ZdoDecodeError(f"ZDO {command.name}: cannot decode {payload.hex()}: {exc}") from exc
    return int(tsn), list(args)


def simple_desc_error(tsn: int, status: zdo_t.Status, nwk: int) -> bytes:
    """Simple_Desc_rsp for an endpoint that is invalid or not active: status, address, Length 0 (2.4.4.2.5).

    zigpy's schema reads a zero Length as "no descriptor" but has no value that writes one,
    so the Length octet follows the encoded fields.
    """
    return encode(Cmd.Simple_Desc_rsp, tsn, status, t.NWK(nwk)) + t.uint8_t(0).serialize()
