"""Install code -> preconfigured trust-centre link key, as an emulated device derives it.

The emulator computes the key with its OWN AES-MMO (Zigbee spec 05-3474 §B.6, built on
``cryptography``'s AES-128-ECB) instead of zigpy's ``convert_install_code``: the hub derives its key
with zigpy's helper, so if both ends shared one implementation a bug in it could never make a join
fail. Known answers: /work/shared/reference/security-test-vectors.md §1-§2 (tested in
tests/unit/test_emulator_device_keys.py).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

#: Install-code lengths including the 2-byte CRC (6, 8, 12 or 16 random bytes + CRC; SE allows all four).
INSTALL_CODE_LENGTHS_WITH_CRC = (8, 10, 14, 18)

_BLOCK = 16


class InstallCodeError(ValueError):
    """An install code a device (or trust centre) must refuse: wrong length or bad CRC."""


def crc16_x25(data: bytes) -> int:
    """CRC-16/X-25 (poly 0x1021 reflected = 0x8408, init 0xFFFF, xorout 0xFFFF); check('123456789') = 0x906E."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def _aes_encrypt_block(key: bytes, block: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def _mmo_pad(message: bytes) -> bytes:
    """Zigbee §B.6 padding: 0x80, zeros, then the bit length (16-bit form below 2^16 bits, else 32-bit + 2 zero bytes)."""
    bit_length = 8 * len(message)
    padded = message + b"\x80"
    if bit_length < 1 << 16:
        padded += b"\x00" * ((14 - len(padded)) % _BLOCK)
        padded += bit_length.to_bytes(2, "big")
    else:
        padded += b"\x00" * ((10 - len(padded)) % _BLOCK)
        padded += bit_length.to_bytes(4, "big") + b"\x00\x00"
    return padded


def aes_mmo_hash(message: bytes) -> bytes:
    """Matyas-Meyer-Oseas hash over AES-128: H_j = E(H_{j-1}, M_j) xor M_j, H_0 = 16 zero bytes."""
    digest = bytes(_BLOCK)
    padded = _mmo_pad(message)
    for start in range(0, len(padded), _BLOCK):
        block = padded[start : start + _BLOCK]
        encrypted = _aes_encrypt_block(digest, block)
        digest = bytes(a ^ b for a, b in zip(encrypted, block, strict=True))
    return digest


def link_key_from_install_code(install_code_with_crc: bytes) -> bytes:
    """The 16-byte TC link key for an install code given WITH its little-endian CRC.

    Raises InstallCodeError for a wrong length or a CRC that does not match: a device with a
    mistyped code has no usable key, exactly as a real trust centre would refuse it.
    """
    code = bytes(install_code_with_crc)
    if len(code) not in INSTALL_CODE_LENGTHS_WITH_CRC:
        raise InstallCodeError(
            f"install code must be {'/'.join(map(str, INSTALL_CODE_LENGTHS_WITH_CRC))} bytes"
            f" including its CRC, got {len(code)}"
        )
    body, crc = code[:-2], int.from_bytes(code[-2:], "little")
    expected = crc16_x25(body)
    if crc != expected:
        # The CRC is not secret material; the code itself is never put in the message.
        raise InstallCodeError(f"install code CRC is 0x{crc:04X}, expected 0x{expected:04X}")
    return aes_mmo_hash(code)
