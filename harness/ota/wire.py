"""Fixed-size wire records declared as data.

An OTA header, a sub-element header and the GBCS signature trailer are each a *list of
fields*. :class:`Record` walks that one list to encode and to decode, so the two directions
cannot drift apart, and it knows every field's offset, so a decoding error can always say
which field and which byte (see :class:`harness.ota.errors.OtaError`).

Only what the OTA file format needs is supported: little-endian unsigned integers, fixed
byte strings, EUI-64s, constants (magic numbers), and fields that are present only when a
bit of a flags field (the OTA header's field control) is set.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from harness.ota.errors import OtaError


class Kind(enum.Enum):
    """How a field's octets map to a Python value."""

    UINT = "uint"  # unsigned integer, low octet first, as all OTA file fields are (ZCL §11.4.2)
    BYTES = "bytes"  # opaque octets, kept as they are
    EUI64 = "eui64"  # IEEE address: display order in Python, reversed (LE) on the wire


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a record.

    ``when_flag``: the field is present only when this bit is set in the record's flags
    field (0 = always present). ``const``: the field must hold this value; it is written
    automatically and checked on decode, and it is not part of the decoded values (magic
    numbers, fixed length octets). ``spec``: where the field is defined.
    """

    name: str
    size: int
    kind: Kind = Kind.UINT
    when_flag: int = 0
    const: int | None = None
    spec: str = ""

    def encode(self, value: object) -> bytes:
        if self.kind is Kind.UINT:
            return int(value).to_bytes(self.size, "little")  # type: ignore[call-overload]
        raw = bytes(value)  # type: ignore[call-overload]
        return raw[::-1] if self.kind is Kind.EUI64 else raw

    def decode(self, raw: bytes) -> object:
        if self.kind is Kind.UINT:
            return int.from_bytes(raw, "little")
        return raw[::-1] if self.kind is Kind.EUI64 else bytes(raw)

    def check(self, value: object) -> str | None:
        """Why ``value`` cannot be written in this field, or ``None`` if it can."""
        if self.kind is Kind.UINT:
            if isinstance(value, bool) or not isinstance(value, int):
                return f"expected an integer, got {value!r}"
            if not 0 <= value < 1 << (8 * self.size):
                return f"{value:#x} does not fit in {self.size} byte(s)"
            return None
        if not isinstance(value, (bytes, bytearray)):
            return f"expected {self.size} bytes, got {type(value).__name__}"
        if len(value) != self.size:
            return f"expected {self.size} bytes, got {len(value)}"
        return None


class Record:
    """An ordered field list with one optional flags field that switches other fields on.

    Built once at import; a malformed declaration (duplicate names, a ``when_flag`` field
    before the flags field, no flags field to key on) fails there rather than at runtime.
    """

    def __init__(self, name: str, fields: tuple[Field, ...], *, flags_field: str | None = None):
        self.name = name
        self.fields = fields
        self.flags_field = flags_field
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            raise TypeError(f"{name}: duplicate field names in {names}")
        seen_flags = flags_field is None
        for f in fields:
            if f.when_flag and flags_field is None:
                raise TypeError(f"{name}.{f.name}: optional field, but no flags field declared")
            if f.when_flag and not seen_flags:
                raise TypeError(f"{name}.{f.name}: optional field before flags field {flags_field!r}")
            if f.name == flags_field:
                seen_flags = True
        if not seen_flags:
            raise TypeError(f"{name}: flags field {flags_field!r} is not declared")
        #: Every flag bit that switches a field on; other bits in the flags field are kept but
        #: add no field.
        self.known_flags = 0
        for f in fields:
            self.known_flags |= f.when_flag

    @property
    def value_names(self) -> tuple[str, ...]:
        """Names of the fields a caller supplies (everything but constants)."""
        return tuple(f.name for f in self.fields if f.const is None)

    def present(self, flags: int) -> tuple[Field, ...]:
        """The fields on the wire for this flags value, in order."""
        return tuple(f for f in self.fields if not f.when_flag or flags & f.when_flag)

    def size(self, flags: int = 0) -> int:
        return sum(f.size for f in self.present(flags))

    def offset_of(self, name: str, flags: int = 0) -> int:
        """Offset of field ``name`` from the start of the record, for error messages."""
        offset = 0
        for f in self.present(flags):
            if f.name == name:
                return offset
            offset += f.size
        raise KeyError(name)

    def encode(self, values: Mapping[str, object]) -> bytes:
        """Write the fields present under ``values[flags_field]``; absent ones must be ``None``."""
        flags = int(values[self.flags_field]) if self.flags_field else 0  # type: ignore[call-overload]
        out = bytearray()
        for f in self.fields:
            if f.when_flag and not flags & f.when_flag:
                continue
            value = f.const if f.const is not None else values[f.name]
            out += f.encode(value)
        return bytes(out)

    def decode(
        self, data, offset: int = 0, *, limit: int | None = None, path: str | None = None
    ) -> tuple[dict, int]:
        """Read the record at ``data[offset:]`` (bytes, memoryview or mmap; never copied whole).

        Returns the decoded values (absent optional fields as ``None``) and the offset just
        past the record. ``limit`` is where the enclosing structure ends (default: the end
        of ``data``); ``path`` names the record in errors (default: its declared name, e.g.
        ``elements[2]`` instead of ``element``). Offsets in errors are offsets in ``data``.
        """
        values: dict[str, object] = {}
        flags = 0
        pos = offset
        limit = len(data) if limit is None else min(limit, len(data))
        path = path or self.name
        for f in self.fields:
            if f.when_flag and not flags & f.when_flag:
                if f.const is None:
                    values[f.name] = None
                continue
            end = pos + f.size
            if end > limit:
                raise OtaError(
                    f"{path}.{f.name}",
                    f"data ends inside this {f.size}-byte field ({limit - pos} byte(s) left)"
                    if pos < limit
                    else f"data ends before this {f.size}-byte field",
                    offset=pos,
                )
            value = f.decode(bytes(data[pos:end]))
            if f.const is not None:
                if value != f.const:
                    raise OtaError(
                        f"{path}.{f.name}",
                        f"expected {f.const:#0{2 + 2 * f.size}x}, got {value:#0{2 + 2 * f.size}x}",
                        offset=pos,
                    )
            else:
                values[f.name] = value
            if f.name == self.flags_field:
                flags = int(value)  # type: ignore[call-overload]
            pos = end
        return values, pos
