"""Search run artefacts for secrets, in every spelling a secret is likely to take.

Used by the whole-run redaction test: plant known keys and install codes in a rig, run the suite,
then ``find_secrets([reports_dir, log_file], secrets)`` must come back empty. A key can leave the
harness as ``83FED340...``, ``83:fe:d3:40...``, ``83 FE D3 40``, in reversed byte order (EZSP
and some zigpy reprs print little-endian), as raw bytes in a binary log, or base64-encoded (the
self-contained pytest-html report stores text attachments as ``data:...;base64,`` URIs), so each
of those is searched for.

Findings name the file, the line, the spelling and the secret's fingerprint -- never the secret,
so a failing test's message cannot itself leak it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.secret import Secret

#: Below this many bytes a "secret" would match ordinary data everywhere (same floor as redaction).
MIN_SECRET_BYTES = 4


@dataclass(frozen=True, slots=True)
class _Form:
    label: str
    pattern: re.Pattern[bytes]


def _raw(secret: Secret | bytes | str) -> tuple[bytes | None, str | None]:
    """The secret's bytes (if it is, or spells, binary) and its text (if it is text)."""
    value = secret.reveal() if isinstance(secret, Secret) else secret
    if isinstance(value, str):
        compact = re.sub(r"[:\- ]", "", value.strip())
        if re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", compact):
            return bytes.fromhex(compact), value
        return None, value
    return bytes(value), None


def fingerprint(secret: Secret | bytes | str) -> str:
    """First 8 hex digits of SHA-256: tells secrets apart in findings without revealing them."""
    if isinstance(secret, Secret):
        return secret.fingerprint()
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    return hashlib.sha256(raw).hexdigest()[:8]


def _hex_pattern(raw: bytes) -> re.Pattern[bytes]:
    """Hex of ``raw`` in any case, with or without one ``:``, ``-`` or space between bytes."""
    return re.compile(rb"[:\- ]?".join(f"{b:02x}".encode() for b in raw), re.IGNORECASE)


def _base64_cores(literal: bytes) -> list[bytes]:
    """The part of ``literal``'s base64 encoding that is the same wherever it sits in a longer text.

    base64 works in 3-byte groups, so the encoding of a substring depends on its alignment; for
    each of the three alignments, the characters that mix in neighbouring bytes are trimmed.
    """
    cores = []
    for lead in range(3):
        encoded = base64.b64encode(b"\0" * lead + literal)
        start = (lead * 4 + 2) // 3  # characters that still carry the padding bytes
        usable = (lead + len(literal)) // 3 * 4  # characters of complete groups only
        core = encoded[start:usable]
        if len(core) >= 8:
            cores.append(core)
    return cores


def _forms(secret: Secret | bytes | str) -> list[_Form]:
    raw, text = _raw(secret)
    forms: list[_Form] = []
    literals: list[tuple[str, bytes]] = []
    if raw is not None and len(raw) >= MIN_SECRET_BYTES:
        forms.append(_Form("hex", _hex_pattern(raw)))
        forms.append(_Form("hex, reversed byte order", _hex_pattern(raw[::-1])))
        forms.append(_Form("raw bytes", re.compile(re.escape(raw))))
        for name, spelled in (("lower-case hex", raw.hex()), ("upper-case hex", raw.hex().upper()),
                              ("colon-separated hex", raw.hex(":")), ("colon-separated upper-case hex", raw.hex(":").upper())):
            literals.append((name, spelled.encode()))
        literals.append(("raw bytes", raw))
    if text is not None and len(text) >= MIN_SECRET_BYTES:
        forms.append(_Form("text", re.compile(re.escape(text.encode()), re.IGNORECASE)))
        literals.append(("text", text.encode()))
    for name, literal in literals:
        for core in _base64_cores(literal):
            forms.append(_Form(f"base64 of {name}", re.compile(re.escape(core))))
    return forms


def _files(paths: Iterable[Path | str]) -> Iterator[Path]:
    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path
        else:
            raise FileNotFoundError(f"secret scan: {path}: no such file or directory")


def find_secrets(paths: Iterable[Path | str], secrets: Iterable[Secret | bytes | str]) -> list[str]:
    """Every place a secret occurs in ``paths`` (files, or directories searched recursively).

    Returns one line per finding, ``"<file>:<line>: <spelling> of secret <fingerprint>"``; an
    empty list means none was found. A path that does not exist is an error, not a clean result.
    """
    compiled = [(fingerprint(s), _forms(s)) for s in secrets]
    findings: list[str] = []
    for file in _files(paths):
        data = file.read_bytes()
        for tag, forms in compiled:
            for form in forms:
                for match in form.pattern.finditer(data):
                    line = data.count(b"\n", 0, match.start()) + 1
                    findings.append(f"{file}:{line}: {form.label} of secret {tag}")
    return list(dict.fromkeys(findings))
