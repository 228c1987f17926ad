"""The Communications Hub role on top of zigpy + bellows: HAN, joins, OTA server, GPF, alerts.

Entry point, the same for the pytest fixture and the ``harness`` command::

    hub = await harness.hub.start(rig, port=...)     # also: async with await harness.hub.start(...)

A test drives it like this (the ``hub`` fixture has already admitted every device under test)::

    transfer = await hub.upgrade("ppmid1", "ppmid-next")         # offer + Image Notify
    await transfer.wait()                                         # TransferOutcome; always ends (stall timer)
    await transfer.wait_activation()                              # CS09 facts, or None after the timeout
    result = hub.check_sequence("ppmid1", "ppmid-good-image", transfer)
    assert result.passed, result.report()                         # expected-vs-observed table

    t = await hub.change_of_tenancy()                             # SECMP0056: CoT event + report
    check = await hub.expect_tenancy_read("ppmid1", after=t, trigger="the CoT event")
    reads = await hub.read_device("ppmid1")                       # AttributeRead per profile rule

Modules, each small and most of them pure (no radio, unit-tested on their own):

* ``ota_session``  the OTA server for one device and image: a state machine (states + table)
* ``images``       header facts, supplier-signature verdict, image selection and version policy
* ``alerts``       CCS08 / CS09 codes, derivation from a transfer's outcome, the alert log
* ``expectations`` expected alert sequences from ``profiles/expectations/*.toml`` (with provenance)
* ``sequence_check`` expected-versus-observed alert sequences, with a readable difference
* ``transfer_checks`` verdicts read off a transfer's timeline (WAIT_FOR_DATA honoured)
* ``gpf``          the GPF's tenancy and supplier attributes from ``profiles/gpf.toml``; reads; CoT
* ``tracking``     distribution stages and live progress per device
* ``settings``     every timing and size, named and injectable
* ``radio``        the seam with zigpy/bellows (SE-profile devices, the CH's endpoints, ZCL sends)
* ``errors``       the hub's exceptions (``HubError``, ``DeviceNotAdmitted``, ...), importable without bellows
* ``joins``        admission with the install-code link key (never ``permit()``); a device forgotten
* ``key_establishment`` the CH's CBKE server: one state machine per device, the run's outcomes
* ``ke_ncp``       the NCP's half of CBKE (the 283k1 EZSP frames) behind a small protocol
* ``device_reads`` identity, OTA client and profile attributes, judged
* ``ota_server``   the session at run time: zigpy request listeners in, responses out, stall timer
* ``commshub``     ``CommsHub``: all of the above for one rig, radio loss and reconnection
* ``run``          ``HubRun``, one run's environment: the rig check (labgrid-strategy states), the one
                   hub (its start is the radio check), the emulator, the key-establishment outcomes
                   and the secret redactor; the plugin keeps one in ``config.stash``, the CLI makes its own
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["CommsHub", "HubError", "DeviceNotAdmitted", "Transfer", "start"]

if TYPE_CHECKING:
    from harness.hub.commshub import CommsHub, start
    from harness.hub.errors import DeviceNotAdmitted, HubError
    from harness.hub.ota_server import Transfer


def __getattr__(name: str) -> Any:
    # Lazy: importing harness.hub for its pure modules must not pull in bellows.
    if name in ("CommsHub", "start"):
        from harness.hub import commshub

        return getattr(commshub, name)
    if name in ("HubError", "DeviceNotAdmitted"):
        from harness.hub import errors

        return getattr(errors, name)
    if name == "Transfer":
        from harness.hub.ota_server import Transfer

        return Transfer
    raise AttributeError(f"module 'harness.hub' has no attribute {name!r}")
