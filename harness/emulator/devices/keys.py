"""Install code -> preconfigured trust-centre link key, as an emulated device derives it.

The emulator derives the key with the harness's own AES-MMO (`harness.crypto.aes_mmo`, Zigbee
spec 05-3474 §B.6, tested against the published vectors) instead of zigpy's
``convert_install_code``: the hub derives its key with zigpy's helper, so if both ends shared one
implementation a bug in it could never make a join fail.
"""

from __future__ import annotations

from harness.crypto.aes_mmo import aes_mmo_hash, check_install_code
from harness.crypto.errors import InstallCodeError

__all__ = ["InstallCodeError", "aes_mmo_hash", "link_key_from_install_code"]


def link_key_from_install_code(install_code_with_crc: bytes) -> bytes:
    """The 16-byte TC link key for an install code given WITH its little-endian CRC.

    Raises InstallCodeError for a wrong length or a CRC that does not match: a device with a
    mistyped code has no usable key, exactly as a real trust centre would refuse it.
    """
    return aes_mmo_hash(check_install_code(bytes(install_code_with_crc)))
