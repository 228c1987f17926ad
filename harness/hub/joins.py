"""Admitting a device under test: its own install-code link key, never the well-known key.

GB HAN devices join with the link key derived from their install code (AES-MMO hash, computed
by ``zigpy.util.convert_install_code``). The CH gives that key to the trust centre for that one
EUI-64 (``permit_with_link_key``) and opens the join window. A plain ``permit()`` would let any
device in with 'ZigBeeAlliance09', so this module never calls it. zigpy's start-up still calls
``permit(0)``, and bellows answers that by installing 'ZigBeeAlliance09' as a transient key for
every EUI-64 (the wildcard FF..FF); so before each window the NCP's transient keys are cleared,
leaving only the one device's own key in the trust centre.

Admission is observed, not assumed: the waiter for the device's interview is registered before
the window opens, and a device that never shows up is reported by name with what was and was
not seen (a device whose key differs cannot decrypt the network key, so it never announces).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import zigpy.device
import zigpy.exceptions
import zigpy.types as t
import zigpy.util
from bellows.exception import InvalidCommandError

from harness.evidence import eui64_text
from harness.evidence import register_secret as register_with_evidence
from harness.hub.errors import DeviceNotAdmitted
from harness.hub.radio import HubApplication, zigpy_eui64
from harness.secret import Secret

LOGGER = logging.getLogger(__name__)

#: How long the NCP has to answer ``clearTransientLinkKeys``.
CLEAR_KEYS_TIMEOUT_S = 5.0


#: Where a secret the hub handles is registered for redaction (the run's redactor, by default the
#: evidence layer's own).
RegisterSecret = Callable[[Secret | bytes | str], None]


def link_key_for(name: str, install_code: Secret, register_secret: RegisterSecret = register_with_evidence) -> t.KeyData:
    """The install-code link key, registered for redaction (the code and the key are secrets)."""
    raw = install_code.reveal()
    code = bytes.fromhex(raw) if isinstance(raw, str) else bytes(raw)
    key = zigpy.util.convert_install_code(code)
    if key is None:
        raise ValueError(
            f"device {name}: install code is not valid ({len(code)} bytes; expected 8/10/14/18 "
            "bytes including a correct CRC)"
        )
    register_secret(install_code)
    register_secret(bytes(key))
    return key


class _JoinWatcher:
    """zigpy application listener for one EUI-64: announced, then initialized.

    The trust centre's join report (zigpy's ``device_joined``) is not admission: it comes before
    the network key is delivered, so a device with the wrong key is "joined" there and then never
    heard again. The device's own Device_annce is the proof that it holds the network key.
    """

    def __init__(self, ieee: t.EUI64) -> None:
        loop = asyncio.get_running_loop()
        self.ieee = ieee
        self.associated = False
        self.joined: asyncio.Future[zigpy.device.Device] = loop.create_future()
        self.initialized: asyncio.Future[zigpy.device.Device] = loop.create_future()
        self.left: asyncio.Future[zigpy.device.Device] = loop.create_future()

    def device_joined(self, device: Any) -> None:
        if device.ieee == self.ieee:
            self.associated = True

    def device_left(self, device: Any) -> None:
        if device.ieee == self.ieee and not self.left.done():
            self.left.set_result(device)

    def device_initialized(self, device: Any) -> None:
        if device.ieee == self.ieee:
            if not self.joined.done():
                self.joined.set_result(device)
            if not self.initialized.done():
                self.initialized.set_result(device)

    def handle_message(self, device: Any, profile: int, cluster: int, src_ep: int, dst_ep: int, data: bytes) -> None:
        if device.ieee == self.ieee and profile == 0 and cluster == 0x0013 and not self.joined.done():
            self.joined.set_result(device)


async def forget_transient_keys(app: HubApplication) -> str | None:
    """Clear the NCP's transient keys (the well-known wildcard key among them); None when done.

    Otherwise the reason, which the caller logs: the window still opens (bellows sets the
    install-code-only trust-centre policy with it), so a radio without the frame can still be used.
    Only an EZSP radio has the frame; zigpy offers no radio-neutral way to do this.
    """
    ezsp = app.ezsp
    if ezsp is None:
        return "the radio is not connected"
    try:
        await asyncio.wait_for(ezsp.clearTransientLinkKeys(), CLEAR_KEYS_TIMEOUT_S)
    except TimeoutError:
        return f"no answer to clearTransientLinkKeys within {CLEAR_KEYS_TIMEOUT_S:g} s"
    except InvalidCommandError as exc:
        return f"the NCP answered clearTransientLinkKeys with invalidCommand ({exc})"
    except AttributeError:
        return "this EZSP version has no clearTransientLinkKeys frame"
    return None


async def admit(
    app: HubApplication,
    *,
    name: str,
    eui64: bytes,
    install_code: Secret,
    permit_s: int,
    join_timeout_s: float,
    interview_timeout_s: float,
    register_secret: RegisterSecret = register_with_evidence,
) -> zigpy.device.Device:
    """Admit one device with its install-code key and return zigpy's device once interviewed."""
    ieee = zigpy_eui64(eui64)
    shown = eui64_text(eui64)
    known = app.devices.get(ieee)
    if isinstance(known, zigpy.device.Device) and known.is_initialized:
        return known
    key = link_key_for(name, install_code, register_secret)
    watcher = _JoinWatcher(ieee)
    app.add_listener(watcher)
    try:
        not_cleared = await forget_transient_keys(app)
        if not_cleared is not None:
            LOGGER.warning("%s (%s): the NCP's transient keys were not cleared before the join window: %s",
                           name, shown, not_cleared)
        keep = getattr(app, "keep_link_key", None)
        not_kept = await keep(ieee, bytes(key)) if keep is not None else None
        if not_kept is not None:
            LOGGER.warning("%s (%s): install-code key not kept in the NCP's key table: %s", name, shown, not_kept)
        await app.permit_with_link_key(node=ieee, link_key=key, time_s=permit_s)
        try:
            await asyncio.wait_for(asyncio.shield(watcher.joined), join_timeout_s)
        except TimeoutError:
            seen = (
                "the trust centre let it associate, but it never announced itself -- it could not "
                "decrypt the network key sent under its install-code key, so its install code differs "
                "from the rig's (check the code on its label)"
                if watcher.associated
                else "nothing was heard from it after permit-with-link-key (is it powered, in range, "
                "and trying to join?)"
            )
            raise DeviceNotAdmitted(name, shown, join_timeout_s, seen) from None
        announced_at = asyncio.get_running_loop().time()
        await asyncio.wait({watcher.initialized, watcher.left}, timeout=interview_timeout_s,
                           return_when=asyncio.FIRST_COMPLETED)
        if watcher.initialized.done():
            return watcher.initialized.result()
        if watcher.left.done():
            after = asyncio.get_running_loop().time() - announced_at
            raise DeviceNotAdmitted(
                name, shown, join_timeout_s + interview_timeout_s,
                f"it joined, then left the HAN {after:.1f} s later, before zigpy's interview finished "
                "(a GB device leaves when it cannot complete key establishment: see its CBKE outcome)",
            )
        raise DeviceNotAdmitted(
            name, shown, join_timeout_s + interview_timeout_s,
            f"it joined but zigpy's interview did not finish within {interview_timeout_s:g} s",
        )
    finally:
        app.remove_listener(watcher)


async def forget(app: HubApplication, ieee: t.EUI64, *, leave_timeout_s: float) -> None:
    """Ask a device to leave (no rejoin) and forget it, so that its next join is a first join.

    zigpy's own ``remove`` does the same but pops the device from a task of its own, so a join
    started straight after it would still find the device known (and admit it without a join);
    here the leave is awaited and the device is gone when this returns. A device that does not
    answer the leave (it left already, or is asleep) is forgotten all the same.
    """
    device = app.devices.get(ieee)
    if device is None:
        return
    device.cancel_initialization()
    try:
        async with asyncio.timeout(leave_timeout_s):
            await device.zdo.leave(remove_children=False, rejoin=False)
    except (TimeoutError, zigpy.exceptions.DeliveryError) as exc:
        LOGGER.info("%s: leave request not answered (%r); it may have left already", ieee, exc)
    app.devices.pop(ieee, None)
    app.listener_event("device_removed", device)
