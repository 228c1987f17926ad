"""Exception types for the CBKE cryptography.

One base class, :class:`CryptoError`, lets a caller (the emulated NCP answering
``calculateSmacs283k1``, an emulated device running the Key Establishment cluster) turn any
failure of the peer's data into the protocol's status code without catching programming
errors too. The subclasses say which layer refused the input, because the Key Establishment
cluster reports them differently (a bad certificate is INVALID_CERTIFICATE, a bad MAC is
BAD_KEY_CONFIRM).

Messages never contain private keys, install codes, link keys or shared secrets: they name
the field, its length or its offset, and what was wrong.
"""

from __future__ import annotations


class CryptoError(ValueError):
    """Input to a CBKE primitive was malformed or failed a check."""


class InstallCodeError(CryptoError):
    """An install code has a length no specification allows, or its CRC does not check."""


class PointFormatError(CryptoError):
    """An encoded elliptic-curve point is malformed or is not a point of the curve (SEC 1 §2.3.4)."""


class CertificateError(CryptoError):
    """An implicit certificate is malformed, or it does not yield the key it should (SEC 4 §3.5-§3.6)."""


class KeyEstablishmentError(CryptoError):
    """Key agreement cannot complete: a degenerate shared point or a MAC that does not verify."""
