"""Redaction: every secret the run knows of is scrubbed from evidence text, once, at the evidence layer.

A secret enters the run through :func:`register_secret` (the hub registers the rig's network key,
install codes and the link keys it derives). From then on :func:`redact` replaces it, in any of
its usual spellings, with the redaction marker; record types inherit :class:`Redacted` so each of
their fields is scrubbed when the record is made.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import threading
from collections.abc import Mapping
from typing import Any

from harness.secret import REDACTED, Secret

_registry_lock = threading.Lock()
_secret_patterns: dict[str, re.Pattern[str]] = {}
#: Length of the shortest text any registered pattern can match: shorter text needs no scan
#: (most record fields -- statuses, empty details -- are short, and records are made per block).
_shortest_match = 0

#: Shortest byte secret worth scrubbing from free text; shorter values would match ordinary data.
_MIN_SECRET_BYTES = 4


def _pattern_for_bytes(raw: bytes) -> re.Pattern[str]:
    """Hex digits of ``raw`` in any case, with or without one separator (``:``, ``-``, space) per byte.

    Install codes and keys turn up as ``83FED340...``, ``83:fe:d3:40...`` or ``83 FE D3 40``
    depending on who printed them; all of those must go.
    """
    pairs = [f"{b:02x}" for b in raw]
    return re.compile(r"[:\- ]?".join(pairs), re.IGNORECASE)


def register_secret(secret: Secret | bytes | str) -> None:
    """Make :func:`redact` scrub this value (and its hex spellings) from any text it is given.

    Call it where a secret enters the run (the hub registers the rig's network key, install codes
    and the link keys it derives). Values shorter than 4 bytes are ignored: they would scrub
    ordinary data.
    """
    value = secret.reveal() if isinstance(secret, Secret) else secret
    patterns: list[tuple[str, re.Pattern[str]]] = []
    if isinstance(value, str):
        if len(value) >= _MIN_SECRET_BYTES:
            patterns.append(("s:" + value, re.compile(re.escape(value), re.IGNORECASE)))
            hexish = re.fullmatch(r"(?:[0-9A-Fa-f]{2}[:\- ]?)+", value.strip())
            if hexish:
                raw = bytes.fromhex(re.sub(r"[:\- ]", "", value.strip()))
                if len(raw) >= _MIN_SECRET_BYTES:
                    patterns.append(("b:" + raw.hex(), _pattern_for_bytes(raw)))
    else:
        raw = bytes(value)
        if len(raw) >= _MIN_SECRET_BYTES:
            patterns.append(("b:" + raw.hex(), _pattern_for_bytes(raw)))
            # A key that is printable text (the well-known 'ZigBeeAlliance09') can appear as text too.
            try:
                text = raw.decode("ascii")
            except UnicodeDecodeError:
                text = ""
            if text.isprintable() and text:
                patterns.append(("s:" + text, re.compile(re.escape(text))))
    global _shortest_match
    with _registry_lock:
        for key, pattern in patterns:
            _secret_patterns.setdefault(key, pattern)
        # Keys are "s:<text>" or "b:<hex>": the part after the prefix is the shortest match.
        _shortest_match = min((len(key) - 2 for key in _secret_patterns), default=0)


def clear_registered_secrets() -> None:
    """Forget every registered secret (between runs, and in tests of redaction itself)."""
    global _shortest_match
    with _registry_lock:
        _secret_patterns.clear()
        _shortest_match = 0


def redact(text: str) -> str:
    """``text`` with every registered secret value replaced by the redaction marker."""
    if not _secret_patterns or len(text) < _shortest_match:
        return text
    with _registry_lock:
        patterns = list(_secret_patterns.values())
    for pattern in patterns:
        text = pattern.sub(REDACTED, text)
    return text


#: Field values that hold no text: returned as they are, without the isinstance chain below.
_PLAIN_TYPES = frozenset({int, float, bool, type(None)})


def scrub(value: Any) -> Any:
    """Redact one field value recursively: Secrets become markers, strings are scrubbed.

    A record (a :class:`Redacted`) was scrubbed when it was made and is returned as it is; so is a
    tuple whose items all come back unchanged. A transfer's snapshot holds every event of the
    transfer so far, and snapshots are made per block: walking and copying the events again each
    time made a transfer's evidence quadratic in its length.
    """
    kind = type(value)
    if kind in _PLAIN_TYPES or isinstance(value, Redacted):
        return value
    if isinstance(value, Secret):
        return f"{REDACTED} ({value.fingerprint()})"
    if isinstance(value, enum.Enum):  # before str: Outcome and friends are str enums
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (bytes, bytearray)):
        return redact(bytes(value).hex())
    if isinstance(value, tuple):
        cleaned = tuple(scrub(v) for v in value)
        return value if kind is tuple and all(a is b for a, b in zip(cleaned, value, strict=True)) else cleaned
    if isinstance(value, list):
        return tuple(scrub(v) for v in value)
    if isinstance(value, Mapping):
        return {str(k): scrub(v) for k, v in value.items()}
    return value



class Redacted:
    """Mixin for frozen dataclasses: scrub every field once, at construction."""

    __slots__ = ()

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            current = getattr(self, f.name)
            cleaned = scrub(current)
            if cleaned is not current:
                object.__setattr__(self, f.name, cleaned)

