"""Encode and decode EZSP parameters by a version's schema, with canonical field names.

Requests decode to ``{canonical name: value}``; responses and callbacks encode from such a dict.
A field the handler leaves out gets the zero value of its type (zero status = success), which
is what lets an explicit stub answer a command without knowing its schema.
"""

from __future__ import annotations

from typing import Any

import bellows.types as t
import zigpy.types as zt

from .status import Status, encode_status, is_status_type
from .versions import VersionProfile


class EzspSchemaError(ValueError):
    """Parameters that do not fit the schema (named command and field)."""


def zero_value(field_type: type[Any]) -> Any:
    """The all-zero value of a bellows/zigpy type (structs recursively)."""
    if is_status_type(field_type):
        return encode_status(Status.OK, field_type)
    if isinstance(field_type, type) and issubclass(field_type, zt.Struct):
        return field_type(
            **{
                f.name: (None if f.optional else zero_value(f.type))
                for f in field_type.fields
            }
        )
    if issubclass(field_type, bytes):
        return field_type(b"")
    if issubclass(field_type, zt.FixedList):
        item_type, length = field_type._item_type, field_type._length
        if item_type is None or length is None:
            raise TypeError(f"{field_type.__name__}: a fixed list with no item type or length")
        return field_type([item_type(0)] * length)
    if issubclass(field_type, list):
        return field_type([])
    return field_type(0)


def _coerce(value: Any, field_type: type, where: str) -> Any:
    if isinstance(value, Status):
        return encode_status(value, field_type)
    if isinstance(value, field_type):
        return value
    try:
        return field_type(value)
    except (TypeError, ValueError) as exc:
        raise EzspSchemaError(f"{where}: cannot make {field_type.__name__} of {value!r}: {exc}") from exc


def decode_params(profile: VersionProfile, name: str, data: bytes) -> dict[str, Any]:
    """Decode a command's parameters into ``{canonical name: value}``; trailing bytes are an error."""
    _, request_schema, _ = profile.commands[name]
    try:
        values, rest = t.deserialize_dict(data, request_schema)
    except Exception as exc:  # bellows/zigpy raise ValueError, KeyError, struct errors...
        raise EzspSchemaError(f"{name}: cannot decode parameters {data.hex(' ')}: {exc}") from exc
    if rest:
        raise EzspSchemaError(f"{name}: {len(rest)} trailing bytes after the parameters: {rest.hex(' ')}")
    return {profile.canonical(name, key): value for key, value in values.items()}


def encode_result(profile: VersionProfile, name: str, values: dict[str, Any]) -> bytes:
    """Encode a response or callback of ``name`` from ``{canonical name: value}``."""
    _, _, response_schema = profile.commands[name]
    if isinstance(response_schema, dict):
        out = b""
        for field_name, field_type in response_schema.items():
            key = profile.canonical(name, field_name)
            value = values[key] if key in values else zero_value(field_type)
            out += _coerce(value, field_type, f"{name}.{field_name}").serialize()
        return out
    # A Struct response (getTokenData): fields by name, optional ones only when given.
    kwargs = {}
    for f in response_schema.fields:
        key = profile.canonical(name, f.name)
        if key in values:
            kwargs[f.name] = _coerce(values[key], f.type, f"{name}.{f.name}")
        elif not f.optional and f.requires is None:
            kwargs[f.name] = zero_value(f.type)
    return response_schema(**kwargs).serialize()
