"""A value that must never be printed: network keys, link keys, install codes, private keys.

Secrets are wrapped once, where they are read (rig files, environment, key files), so
that every later ``repr``/``str``/f-string/log line shows only a redacted marker. The clear
value is reachable only through :meth:`Secret.reveal`, which makes each use greppable.
"""

from __future__ import annotations

import hashlib
from typing import NoReturn

REDACTED = "«redacted»"


class Secret:
    """Holds bytes or text; shows ``«redacted»`` plus where it came from, never the value."""

    __slots__ = ("_value", "origin")

    def __init__(self, value: bytes | str, *, origin: str = "inline") -> None:
        self._value = value
        #: Where the value came from: ``inline``, ``env:VAR`` or ``file:PATH`` -- safe to show.
        self.origin = origin

    def reveal(self) -> bytes | str:
        """The clear value. Call only where the value is handed to the radio or a cipher."""
        return self._value

    def reveal_bytes(self) -> bytes:
        """The clear value of a binary secret (a key, an install code); text here is a programming error."""
        if not isinstance(self._value, bytes):
            raise TypeError(f"the secret from {self.origin} is text, not bytes")
        return self._value

    def fingerprint(self) -> str:
        """A short, non-reversible tag (first 8 hex digits of SHA-256) to tell secrets apart in reports."""
        raw = self._value.encode() if isinstance(self._value, str) else bytes(self._value)
        return hashlib.sha256(raw).hexdigest()[:8]

    def __repr__(self) -> str:
        return f"Secret({REDACTED}, origin={self.origin!r})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> NoReturn:  # pickling would write the clear value into a file
        raise TypeError("a Secret cannot be pickled")
