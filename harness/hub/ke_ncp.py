"""The trust centre's CBKE arithmetic, done by the NCP: the EZSP Crypto Suite 2 frames through bellows.

bellows 1.2.1 declares the frames (``bellows/ezsp/v4/commands.py`` "11. Certificate Based Key
Exchange (CBKE) Frames", inherited by v13 and, with ``sl_Status``, by v14) but never sends them.
:class:`EzspCbke` sends them through the application's EZSP object and awaits their callbacks:

* ``getCertificate283k1`` -> the NCP's certificate (from its manufacturing tokens);
* ``generateCbkeKeys283k1`` -> callback ``generateCbkeKeysHandler283k1(status, ephemeralPublicKey)``;
* ``calculateSmacs283k1(amInitiator, partnerCertificate, partnerEphemeralPublicKey)`` -> callback
  ``calculateSmacsHandler283k1(status, initiatorSmac, responderSmac)``;
* ``clearTemporaryDataMaybeStoreLinkKey283k1(storeLinkKey)`` -> the derived key becomes the
  partner's link key in the NCP's key table (or is thrown away).

The private keys never leave the NCP; the host sees certificates, ephemeral public keys and MACs,
none of which is secret. The waiter for a callback is registered before its command is sent, and
every wait is bounded by ``timeout_s``. :class:`CbkeRadio` is the interface the Key Establishment
server uses, so its state machine runs in unit tests against an in-process stand-in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

import bellows.types as t
from bellows.exception import InvalidCommandError

from harness.hub.errors import CbkeRadioError


class CbkeRadio(Protocol):
    """The trust centre's half of CBKE, as the Key Establishment server needs it."""

    async def certificate(self) -> bytes:
        """The trust centre's 74-byte CS2 implicit certificate."""

    async def generate_keys(self) -> bytes:
        """A fresh ephemeral key pair; returns the compressed public key (QEV, 37 bytes)."""

    async def calculate_smacs(self, partner_certificate: bytes, partner_ephemeral: bytes) -> tuple[bytes, bytes]:
        """(MACU, MACV) as responder, from the partner's certificate and ephemeral key."""

    async def clear(self, store_link_key: bool) -> None:
        """Forget the temporary data; with ``store_link_key`` keep KeyData as the partner's link key."""


def _ok(status: Any) -> bool:
    return bool(t.sl_Status.from_ember_status(status) == t.sl_Status.OK)


class EzspCbke:
    """:class:`CbkeRadio` on an EmberZNet NCP through bellows (EZSP v13 and v14+ alike)."""

    def __init__(self, ezsp: Callable[[], Any], *, timeout_s: float = 10.0) -> None:
        """``ezsp``: returns the application's current EZSP object (it is replaced on a reconnect)."""
        self._ezsp = ezsp
        self.timeout_s = timeout_s

    async def _command(self, name: str, **params: Any) -> list[Any]:
        ezsp = self._ezsp()
        if ezsp is None:
            raise CbkeRadioError(f"{name}: the radio is not connected")
        try:
            return await asyncio.wait_for(getattr(ezsp, name)(**params), self.timeout_s)
        except InvalidCommandError as exc:
            raise CbkeRadioError(f"{name}: the NCP answered invalidCommand ({exc})", unsupported=True) from None
        except AttributeError:
            raise CbkeRadioError(f"{name}: this EZSP version has no such frame", unsupported=True) from None
        except TimeoutError:
            raise CbkeRadioError(f"{name}: no response from the NCP within {self.timeout_s:g} s") from None

    async def _with_callback(self, name: str, callback: str, **params: Any) -> list[Any]:
        """Send ``name`` and return the arguments of the ``callback`` that follows it."""
        ezsp = self._ezsp()
        if ezsp is None:
            raise CbkeRadioError(f"{name}: the radio is not connected")
        arrived: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

        def listen(frame_name: str, args: list[Any]) -> None:
            if frame_name == callback and not arrived.done():
                arrived.set_result(list(args))

        handle = ezsp.add_callback(listen)  # before the command: the callback may follow at once
        try:
            (status, *_) = await self._command(name, **params)
            if not _ok(status):
                raise CbkeRadioError(f"{name}: the NCP refused it: {_status_text(status)}",
                                     unsupported=_library_missing(status))
            try:
                args = await asyncio.wait_for(asyncio.shield(arrived), self.timeout_s)
            except TimeoutError:
                raise CbkeRadioError(f"{name}: no {callback} within {self.timeout_s:g} s") from None
        finally:
            ezsp.remove_callback(handle)
        if not _ok(args[0]):
            raise CbkeRadioError(f"{callback}: {_status_text(args[0])}")
        return args

    async def certificate(self) -> bytes:
        status, certificate = await self._command("getCertificate283k1")
        if not _ok(status):
            raise CbkeRadioError(f"getCertificate283k1: {_status_text(status)}", unsupported=True)
        return bytes(certificate)

    async def generate_keys(self) -> bytes:
        _status, public_key = await self._with_callback("generateCbkeKeys283k1", "generateCbkeKeysHandler283k1")
        return bytes(public_key)

    async def calculate_smacs(self, partner_certificate: bytes, partner_ephemeral: bytes) -> tuple[bytes, bytes]:
        _status, initiator, responder = await self._with_callback(
            "calculateSmacs283k1", "calculateSmacsHandler283k1",
            amInitiator=t.Bool.false,
            partnerCertificate=t.EmberCertificate283k1Data(partner_certificate),
            partnerEphemeralPublicKey=t.EmberPublicKey283k1Data(partner_ephemeral),
        )
        return bytes(initiator), bytes(responder)

    async def clear(self, store_link_key: bool) -> None:
        (status,) = await self._command(
            "clearTemporaryDataMaybeStoreLinkKey283k1", storeLinkKey=t.Bool.true if store_link_key else t.Bool.false)
        if not _ok(status):
            raise CbkeRadioError(f"clearTemporaryDataMaybeStoreLinkKey283k1: {_status_text(status)}")


def _status_text(status: Any) -> str:
    name = getattr(status, "name", None)
    return f"{name} (0x{int(status):02X})" if name else f"status 0x{int(status):02X}"


def _library_missing(status: Any) -> bool:
    return t.sl_Status.from_ember_status(status) in (t.sl_Status.NOT_AVAILABLE, t.sl_Status.NOT_SUPPORTED) or (
        getattr(status, "name", "") == "LIBRARY_NOT_PRESENT")


__all__ = ["CbkeRadio", "CbkeRadioError", "EzspCbke"]
