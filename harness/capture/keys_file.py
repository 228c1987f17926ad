"""The keys file beside a capture: every key Wireshark needs to decode it.

One key a line: 32 hex digits, a space, then a label (``network key``, ``link key IHD-1
(install code)``, ...). Lines starting with ``#`` are comments. The emulated rig writes its test
keys; a real bench writes none unless its rig opts in. :func:`tshark_key_options` turns the
file into tshark's ``-o uat:zigbee_pc_keys:...`` options.
"""

from __future__ import annotations

import re
from pathlib import Path

KEYS_FILE_NAME = "zigbee-keys.txt"

_LINE = re.compile(r"^(?P<key>[0-9a-fA-F]{32})\s+(?P<label>\S.*)$")
_HEADER = (
    "# Zigbee keys for the captures in this directory: 32 hex digits, then a label.\n"
    "# Wireshark: Preferences > Protocols > ZigBee > Pre-configured Keys (byte order Normal).\n"
)


class KeysFileError(ValueError):
    """A keys file line that is not ``<32 hex digits> <label>``."""


def add_key(path: Path, key: bytes, label: str) -> bool:
    """Add ``key`` with ``label`` unless the file already holds that key; True if it was added."""
    if len(key) != 16:
        raise ValueError(f"{path}: a Zigbee key is 16 bytes, got {len(key)} for {label!r}")
    if "\n" in label or not label.strip():
        raise ValueError(f"{path}: a key label is one non-empty line, got {label!r}")
    held = {existing for existing, _ in read_keys(path)} if path.exists() else set()
    if key in held:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        if not held and path.stat().st_size == 0:
            out.write(_HEADER)
        out.write(f"{key.hex()} {label.strip()}\n")
    return True


def read_keys(path: Path) -> list[tuple[bytes, str]]:
    """(key, label) pairs in file order; a bad line raises :class:`KeysFileError` naming it."""
    keys = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _LINE.match(line.strip())
        if match is None:
            raise KeysFileError(f"{path}:{number}: expected '<32 hex digits> <label>'")
        keys.append((bytes.fromhex(match["key"]), match["label"]))
    return keys


def tshark_key_options(path: Path) -> list[str]:
    """``-o uat:zigbee_pc_keys:"<hex>","Normal","<label>"`` for each key in the file."""
    options = []
    for key, label in read_keys(path):
        safe = label.replace('"', "'")
        options += ["-o", f'uat:zigbee_pc_keys:"{key.hex()}","Normal","{safe}"']
    return options
