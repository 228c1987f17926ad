"""Key material written in rig files: where it comes from, its hex form, install-code checks.

A rig file may hold a secret inline (hex), or point at it: ``env:VAR`` (an environment
variable, for CI secrets) or ``file:PATH`` (relative to the rig file, for a bench's key store).
Whatever the source, the value is wrapped in :class:`harness.secret.Secret` as soon as it is
read, and every error raised here describes the value (its length, that it is not hex, that the
CRC is wrong) without ever quoting it: error messages end up in CI logs and reports.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from harness.secret import Secret

#: Install code lengths INCLUDING the 2-byte CRC: 6, 8, 12 or 16 random bytes + CRC
#: (Smart Energy allows all four; see shared reference, security-test-vectors.md section 1.1).
INSTALL_CODE_LENGTHS = (8, 10, 14, 18)

_SEPARATORS = re.compile(r"[\s:\-]")
_HEX = re.compile(r"[0-9A-Fa-f]*")


def crc16_x25(data: bytes) -> int:
    """CRC-16/X-25 (poly 0x1021 reflected, init 0xFFFF, final XOR 0xFFFF): the install-code CRC.

    Written out here rather than imported because the rig layer uses only the standard library;
    checked against the catalogue value CRC("123456789") = 0x906E in the unit tests.
    """
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def resolve_reference(reference: str, *, base_dir: Path, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Follow an ``env:VAR`` / ``file:PATH`` reference; return ``(text, origin)``.

    Inline values come back unchanged with origin ``inline``. ``origin`` is safe to show.
    Raises ``ValueError`` (message without the value) if the variable or file is missing.
    """
    environ = os.environ if environ is None else environ
    if reference.startswith("env:"):
        name = reference[4:].strip()
        if not name:
            raise ValueError("'env:' must be followed by an environment variable name")
        if name not in environ:
            raise ValueError(f"environment variable {name} is not set")
        return environ[name].strip(), f"env:{name}"
    if reference.startswith("file:"):
        name = reference[5:].strip()
        if not name:
            raise ValueError("'file:' must be followed by a file path")
        path = (base_dir / os.path.expanduser(name)).resolve()
        try:
            return path.read_text(encoding="utf-8").strip(), f"file:{name}"
        except FileNotFoundError:
            raise ValueError(f"key file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"key file {path} cannot be read: {getattr(exc, 'strerror', None) or 'not text'}") from None
    return reference, "inline"


def secret_hex(text: str, *, what: str) -> bytes:
    """Hex digits (spaces, ``:`` and ``-`` allowed between them) to bytes, never echoing them."""
    digits = _SEPARATORS.sub("", text)
    if not digits:
        raise ValueError(f"{what} is empty")
    if not _HEX.fullmatch(digits):
        raise ValueError(f"{what} is not hexadecimal (only 0-9, A-F and separators ' ', ':', '-' are allowed)")
    if len(digits) % 2:
        raise ValueError(f"{what} has an odd number of hex digits ({len(digits)})")
    return bytes.fromhex(digits)


def check_install_code(code: bytes) -> None:
    """Length and CRC of an install code as written on a device label (CRC included).

    The CRC catches a mistyped label at load time, instead of as a device that silently never
    joins an hour into a bench run.
    """
    if len(code) not in INSTALL_CODE_LENGTHS:
        raise ValueError(
            f"install code has {len(code)} bytes; expected 8, 10, 14 or 18 bytes "
            "(6, 8, 12 or 16 bytes followed by the 2-byte CRC)"
        )
    if code[-2:] != crc16_x25(code[:-2]).to_bytes(2, "little"):
        raise ValueError(
            f"install code CRC is wrong: its last 2 bytes are not the CRC-16/X-25 of the first "
            f"{len(code) - 2} (check the code against the device label)"
        )


def read_secret(reference: str, *, base_dir: Path, what: str = "the value", length: int | None = None,
                environ: Mapping[str, str] | None = None) -> Secret:
    """An inline/``env:``/``file:`` hex secret as a :class:`Secret` holding bytes.

    ``length`` (bytes), when given, is enforced. Install codes are checked by the caller with
    :func:`check_install_code` on ``secret.reveal_bytes()``.
    """
    text, origin = resolve_reference(reference, base_dir=base_dir, environ=environ)
    where = f"{what} (from {origin})" if origin != "inline" else what
    value = secret_hex(text, what=where)
    if length is not None and len(value) != length:
        raise ValueError(f"{where} has {len(value)} bytes; expected {length}")
    return Secret(value, origin=origin)
