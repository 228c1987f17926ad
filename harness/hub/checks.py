"""The hub's rig check: radio reachable, HAN up on the rig's channel, every device under test admitted.

It runs only when a run needs the radio: the plugin calls :func:`check_radio_and_devices` after
the foundation's checks when a collected test uses the ``hub`` fixture, and ``harness rig check``
can add it to the registry with :func:`register`. Registering on import instead would make every
pytest run -- including ones that never touch a radio -- start an emulator or open a join window
on a real bench (and the registry is process-wide).

The check runs once, after the foundation's checks; a bench that is not ready stops the session
with one message. What it admits stays in the run's database (:mod:`harness.hub.session`), so the
session's hub does not ask a real device to join twice.
"""

from __future__ import annotations

from typing import Any

from harness.rigcheck import RigCheckFailed, registered_checks, rig_check

CHECK_NAME = "radio, HAN and devices under test"


def check_radio_and_devices(rig: Any) -> str:
    """Bring the rig's radio up, check the HAN, admit every device under test; one line back."""
    from harness.hub.commshub import HubError
    from harness.hub.joins import DeviceNotAdmitted
    from harness.hub.session import run_for

    try:
        return run_for(rig).check_radio_and_devices()
    except (HubError, DeviceNotAdmitted, TimeoutError) as exc:
        raise RigCheckFailed(str(exc)) from exc


def register() -> None:
    """Add the check to the rig-check registry (once; later calls do nothing)."""
    if not any(check.name == CHECK_NAME for check in registered_checks()):
        rig_check(CHECK_NAME)(check_radio_and_devices)
