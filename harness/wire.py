"""Fixed-size wire records declared as data: one field list drives encoding, decoding and checks.

An OTA header, a sub-element header, the GBCS signature trailer and a CBKE implicit certificate
are each a *list of fields*. :class:`Record` walks that one list in both directions, so encoding
and decoding cannot drift apart, and it knows every field's offset, so an error can always say
which field and which byte. The byte order is the record's: the OTA file format is little-endian
(ZCL §11.4.2), SEC 4 certificates are big-endian.

Only what those formats need is supported: unsigned integers, fixed byte strings, EUI-64s,
constants (magic numbers), and fields that are present only when a bit of a flags field (the OTA
header's field control) is set.

This module sits below both :mod:`harness.ota` and :mod:`harness.crypto` and imports neither;
each layer passes the exception type its callers expect (``error=``).
"""

from __future__ import annotations

import enum
import mmap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias

ByteOrder: TypeAlias = Literal["little", "big"]
#: What :meth:`Record.decode` reads from without copying the whole: bytes, a view or a mapped file.
Buffer: TypeAlias = bytes | bytearray | memoryview | mmap.mmap


class Kind(enum.Enum):
    """How a field's octets map to a Python value."""

    UINT = "uint"  # unsigned integer in the record's byte order
    BYTES = "bytes"  # opaque octets, kept as they are
    EUI64 = "eui64"  # IEEE address: display order in Python, in the record's byte order on the wire


class ErrorFactory(Protocol):
    """Builds the exception for a field that cannot be read: ``field`` is a dotted path."""

    def __call__(self, field: str, problem: str, *, offset: int | None = None) -> Exception: ...


class WireError(ValueError):
    """A record that cannot be decoded, when its owner names no exception type of its own."""

    def __init__(self, field: str, problem: str, *, offset: int | None = None) -> None:
        self.field = field
        self.problem = problem
        self.offset = offset
        where = f"{field} at byte {offset}" if offset is not None else field
        super().__init__(f"{where}: {problem}")


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

    def encode(self, value: object, byte_order: ByteOrder) -> bytes:
        if self.kind is Kind.UINT:
            if not isinstance(value, int):
                raise TypeError(f"{self.name}: expected an integer, got {value!r}")
            return value.to_bytes(self.size, byte_order)
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"{self.name}: expected bytes, got {type(value).__name__}")
        raw = bytes(value)
        return raw[::-1] if self.kind is Kind.EUI64 and byte_order == "little" else raw

    def decode(self, raw: bytes, byte_order: ByteOrder) -> int | bytes:
        if self.kind is Kind.UINT:
            return int.from_bytes(raw, byte_order)
        return raw[::-1] if self.kind is Kind.EUI64 and byte_order == "little" else bytes(raw)

    def check(self, value: object) -> str | None:
        """Why ``value`` cannot be written in this field, or ``None`` if it can."""
        if self.kind is Kind.UINT:
            if isinstance(value, bool) or not isinstance(value, int):
                return f"expected an integer, got {value!r}"
            if not 0 <= value < 1 << (8 * self.size):
                return f"{value:#x} does not fit in {self.size} byte(s)"
            return None
        if not isinstance(value, bytes | bytearray):
            return f"expected {self.size} bytes, got {type(value).__name__}"
        if len(value) != self.size:
            return f"expected {self.size} bytes, got {len(value)}"
        return None


class Values(dict[str, int | bytes | None]):
    """A decoded record: field name -> value, with typed access for the field kinds.

    The declaration fixes each field's kind, so :meth:`uint` and :meth:`octets` only fail on a
    programming error (asking a byte field for an integer), never on input data.
    """

    def uint(self, name: str) -> int:
        """The value of an integer field that is present."""
        value = self[name]
        if not isinstance(value, int):
            raise TypeError(f"field {name!r} holds {type(value).__name__}, not an integer")
        return value

    def octets(self, name: str) -> bytes:
        """The value of a byte-string (or EUI-64) field that is present."""
        value = self[name]
        if not isinstance(value, bytes):
            raise TypeError(f"field {name!r} holds {type(value).__name__}, not bytes")
        return value

    def as_kwargs(self) -> dict[str, Any]:
        """The values as keyword arguments for a class whose fields are the record's fields.

        Typed ``Any`` because each value's type is its field's kind, known from the declaration
        rather than to the type checker; such a class checks its fields on construction.
        """
        return dict(self)


class Record:
    """An ordered field list, in one byte order, with one optional flags field that switches others on.

    Built once at import; a malformed declaration (duplicate names, a ``when_flag`` field
    before the flags field, no flags field to key on) fails there rather than at runtime.
    """

    def __init__(
        self,
        name: str,
        fields: tuple[Field, ...],
        *,
        byte_order: ByteOrder = "little",
        flags_field: str | None = None,
        error: ErrorFactory = WireError,
    ) -> None:
        self.name = name
        self.fields = fields
        self.byte_order: ByteOrder = byte_order
        self.flags_field = flags_field
        self.error = error
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

    def field(self, name: str) -> Field:
        """The declaration of field ``name``."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

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
        flags = 0
        if self.flags_field:
            raw_flags = values[self.flags_field]
            if not isinstance(raw_flags, int):
                raise TypeError(f"{self.name}.{self.flags_field}: expected an integer, got {raw_flags!r}")
            flags = raw_flags
        out = bytearray()
        for f in self.fields:
            if f.when_flag and not flags & f.when_flag:
                continue
            value = f.const if f.const is not None else values[f.name]
            out += f.encode(value, self.byte_order)
        return bytes(out)

    def read(self, data: Buffer, name: str, offset: int = 0, *, flags: int = 0) -> int | bytes:
        """One field of the record at ``data[offset:]``, without decoding (or checking) the rest.

        For a check that comes before the record is judged as a whole, e.g. a certificate's
        issuer, compared before its other fields are looked at.
        """
        f = self.field(name)
        start = offset + self.offset_of(name, flags)
        end = start + f.size
        if end > len(data):
            raise self.error(f"{self.name}.{name}", f"data ends before this {f.size}-byte field", offset=start)
        return f.decode(bytes(data[start:end]), self.byte_order)

    def decode(
        self, data: Buffer, offset: int = 0, *, limit: int | None = None, path: str | None = None
    ) -> tuple[Values, int]:
        """Read the record at ``data[offset:]`` (bytes, memoryview or mmap; never copied whole).

        Returns the decoded values (absent optional fields as ``None``) and the offset just
        past the record. ``limit`` is where the enclosing structure ends (default: the end
        of ``data``); ``path`` names the record in errors (default: its declared name, e.g.
        ``elements[2]`` instead of ``element``). Offsets in errors are offsets in ``data``.
        """
        values = Values()
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
                raise self.error(
                    f"{path}.{f.name}",
                    f"data ends inside this {f.size}-byte field ({limit - pos} byte(s) left)"
                    if pos < limit
                    else f"data ends before this {f.size}-byte field",
                    offset=pos,
                )
            value = f.decode(bytes(data[pos:end]), self.byte_order)
            if f.const is not None:
                if value != f.const:
                    width = 2 + 2 * f.size
                    shown = f"{value:#0{width}x}" if isinstance(value, int) else value.hex()
                    raise self.error(
                        f"{path}.{f.name}", f"expected {f.const:#0{width}x}, got {shown}", offset=pos
                    )
            else:
                values[f.name] = value
            if f.name == self.flags_field and isinstance(value, int):
                flags = value
            pos = end
        return values, pos
