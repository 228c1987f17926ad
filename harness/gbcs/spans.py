"""Where each field of a decoded message sits: what the report shows, byte for byte."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldSpan:
    """One field of a message: its name, its offset from the message start, its bytes, what they mean."""

    name: str
    offset: int
    raw: bytes
    meaning: str
