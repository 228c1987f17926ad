"""The Zigbee AES-MMO hash, its HMAC, and install-code link keys.

Zigbee uses one hash everywhere a hash is needed on a HAN device: turning an install code
into the preconfigured trust-centre link key, hashing implicit certificates to integers
(ECQV), the CBKE key-derivation function, and the CBKE key-confirmation MACs. It is the
Matyas-Meyer-Oseas construction over AES-128 (Zigbee specification 05-3474, §B.6) and its
keyed form is FIPS 198 HMAC with a 16-byte block (§B.1.4).

The block cipher is AES-128-ECB from ``cryptography``; everything else is written here from
the specification text, because no installed package implements the long-message padding
(zigpy's helper stops at 8191 bytes, which OTA image digests exceed).
"""

from __future__ import annotations

import hmac as _stdlib_hmac

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from harness.crypto.errors import InstallCodeError
from harness.keys import crc16_x25  # the install-code CRC, kept once in the rig layer
from harness.secret import Secret

#: AES block size and the AES-MMO digest size, in bytes (§B.6).
BLOCK_SIZE = 16
DIGEST_SIZE = 16

#: Messages of at least 2**16 bits take the long padding form (§B.6.3 step 2).
_SHORT_FORM_LIMIT_BITS = 1 << 16
#: §B.6 defines no padding for messages of 2**32 bits or more.
_LONG_FORM_LIMIT_BITS = 1 << 32

#: HMAC pads, FIPS 198 with the 16-byte block of §B.1.4.
_IPAD = bytes([0x36]) * BLOCK_SIZE
_OPAD = bytes([0x5C]) * BLOCK_SIZE

#: Install-code lengths allowed by Smart Energy (6, 8, 12, 16 random bytes) plus the 2-byte CRC.
#: Zigbee 3.0 / BDB allows only the 16-byte code; GB CCS01 carries 16 bytes.
INSTALL_CODE_LENGTHS = (8, 10, 14, 18)


def _aes_encrypt_block(key: bytes, block: bytes) -> bytes:
    """E(key, block): one AES-128 encryption, the block cipher §B.6 is built on."""
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def _padding(length: int) -> bytes:
    """The padding §B.6.3 appends to a message of ``length`` bytes.

    Short messages (fewer than 2**16 bits) get 0x80, zeros up to 14 mod 16 and the bit length
    as 16 bits big-endian. Longer ones get 0x80, zeros up to 10 mod 16, the bit length as 32
    bits big-endian and two zero bytes, so that the 16-bit length field of the short form,
    which would read zero, can never be confused with it. Either form may spill into an extra
    block; the C.5.3-C.5.6 vectors sit on exactly those boundaries.
    """
    bits = 8 * length
    if bits < _SHORT_FORM_LIMIT_BITS:
        zeros = (14 - (length + 1)) % BLOCK_SIZE
        return b"\x80" + bytes(zeros) + bits.to_bytes(2, "big")
    if bits < _LONG_FORM_LIMIT_BITS:
        zeros = (10 - (length + 1)) % BLOCK_SIZE
        return b"\x80" + bytes(zeros) + bits.to_bytes(4, "big") + b"\x00\x00"
    raise ValueError(
        f"AES-MMO input of {length} bytes is too long: Zigbee §B.6 defines padding only below 2**32 bits"
    )


class AesMmo:
    """Incremental AES-MMO hash (Zigbee 05-3474 §B.6), in the style of :mod:`hashlib`.

    Incremental so that a whole OTA image can be hashed as it is streamed from disk. The
    chaining value starts as sixteen zero bytes and each full block M_j updates it to
    ``E(H, M_j) XOR M_j`` (Matyas-Meyer-Oseas: the chaining value is the AES *key*).
    """

    __slots__ = ("_state", "_pending", "_length")

    def __init__(self, data: bytes = b"") -> None:
        self._state = bytes(BLOCK_SIZE)
        self._pending = b""
        self._length = 0
        if data:
            self.update(data)

    def _compress(self, block: bytes) -> None:
        encrypted = _aes_encrypt_block(self._state, block)
        self._state = bytes(a ^ b for a, b in zip(encrypted, block, strict=True))

    def update(self, data: bytes) -> None:
        """Absorb more message bytes."""
        self._length += len(data)
        buffer = self._pending + bytes(data)
        full = len(buffer) - len(buffer) % BLOCK_SIZE
        for start in range(0, full, BLOCK_SIZE):
            self._compress(buffer[start : start + BLOCK_SIZE])
        self._pending = buffer[full:]

    def digest(self) -> bytes:
        """The 16-byte digest of everything absorbed so far; the hasher stays usable."""
        state, pending = self._state, self._pending
        tail = pending + _padding(self._length)
        for start in range(0, len(tail), BLOCK_SIZE):
            self._compress(tail[start : start + BLOCK_SIZE])
        result = self._state
        self._state, self._pending = state, pending
        return result

    def hexdigest(self) -> str:
        """:meth:`digest` as lower-case hex."""
        return self.digest().hex()


def aes_mmo_hash(data: bytes) -> bytes:
    """AES-MMO digest of ``data`` (Zigbee 05-3474 §B.6): 16 bytes."""
    return AesMmo(data).digest()


def hmac_aes_mmo(key: bytes, message: bytes) -> bytes:
    """HMAC-AES-MMO (Zigbee 05-3474 §B.1.4): FIPS 198 HMAC with H = AES-MMO and a 16-byte block.

    ``MAC(K, M) = H((K0 ^ opad) || H((K0 ^ ipad) || M))``, where K0 is the key zero-padded to
    16 bytes, or first hashed to 16 bytes when it is longer (FIPS 198 step 2; annex vector
    C.6.2 uses a 32-byte key). CBKE always passes the 16-byte MacKey.
    """
    if len(key) > BLOCK_SIZE:
        key = aes_mmo_hash(key)
    key = key.ljust(BLOCK_SIZE, b"\x00")
    inner = aes_mmo_hash(bytes(k ^ p for k, p in zip(key, _IPAD, strict=True)) + message)
    return aes_mmo_hash(bytes(k ^ p for k, p in zip(key, _OPAD, strict=True)) + inner)


def verify_hmac_aes_mmo(key: bytes, message: bytes, mac: bytes) -> bool:
    """Whether ``mac`` is the HMAC-AES-MMO of ``message``; compared in constant time."""
    return _stdlib_hmac.compare_digest(hmac_aes_mmo(key, message), mac)


def add_install_code_crc(code: bytes) -> bytes:
    """``code`` followed by its CRC-16/X-25, low byte first: the form printed on a device label.

    For building install codes of emulated devices; ``code`` is the 6, 8, 12 or 16 random bytes.
    """
    if len(code) + 2 not in INSTALL_CODE_LENGTHS:
        raise InstallCodeError(
            f"install code is {len(code)} bytes without its CRC; expected 6, 8, 12 or 16"
        )
    return bytes(code) + crc16_x25(code).to_bytes(2, "little")


def check_install_code(install_code: bytes | Secret) -> bytes:
    """Return the install code (CRC included) as bytes after checking its length and CRC.

    The CRC only catches typing errors, but a trust centre must refuse a code whose CRC is
    wrong: the derived key would never match the device's and the join would fail silently.
    The error message gives the length and never the code or either CRC value.
    """
    raw = install_code.reveal() if isinstance(install_code, Secret) else install_code
    if isinstance(raw, str):
        raise InstallCodeError("install code must be bytes, not text; decode its hex first")
    code = bytes(raw)
    if len(code) not in INSTALL_CODE_LENGTHS:
        raise InstallCodeError(
            f"install code is {len(code)} bytes including its CRC; expected 8, 10, 14 or 18"
        )
    if crc16_x25(code[:-2]) != int.from_bytes(code[-2:], "little"):
        raise InstallCodeError(
            f"install code ({len(code)} bytes) fails its CRC-16/X-25 check: a digit is probably mistyped"
        )
    return code


def install_code_link_key(install_code: bytes | Secret) -> Secret:
    """The preconfigured trust-centre link key for an install code (CRC included).

    Link key = AES-MMO(install code || CRC), over all the bytes including the CRC, after
    checking the CRC (BDB §10.1.1.1 / Smart Energy install-code rules; vectors §1 of the
    security test-vector notes). Returned as a :class:`~harness.secret.Secret` so it cannot
    end up in a log by accident; ``.reveal()`` gives the 16 key bytes.
    """
    origin = install_code.origin if isinstance(install_code, Secret) else "inline"
    code = check_install_code(install_code)
    return Secret(aes_mmo_hash(code), origin=f"link key from install code ({origin})")
