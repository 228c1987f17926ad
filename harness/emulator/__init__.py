"""The emulated EZSP radio: an NCP of our own plus a virtual HAN, reached through a real pty.

bellows (unmodified) talks to it exactly as to a USB dongle: serialx -> bellows ASH -> bellows
EZSP -> zigpy. Modules, bottom up:

* ``ash``             ASH framing and the NCP's link state machine (independent of bellows.ash)
* ``ezsp/``           EZSP framing, per-version schemas and field names, handlers, dispatcher
* ``ncp``             NCP state: NVRAM (survives resets) and run-time state (does not)
* ``coordinator_zdo`` the coordinator's own ZDO answers (loopback to 0x0000)
* ``coordinator``     EmulatedNcp: link + EZSP + state; the Coordinator side of ``air``
* ``air``             the contract with the virtual devices (``han`` and ``devices/``)
* ``transport``       pty and loopback TCP
* ``faults``          UART pacing, latency, frame loss/corruption, line noise (seeded)
* ``frame_log``       every frame on the line, for tests and reports
* ``server``          EmulatedRadio: all of it on its own thread and loop
* ``testing``         host configuration and fakes for tests and benchmarks

The emulator knows nothing of ``harness.hub`` or ``harness.report`` and must not import them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EmulatedRadio", "RadioOptions"]


def __getattr__(name: str) -> Any:
    # Lazy, so that ``harness.emulator.air`` (used by the devices) does not pull in bellows.
    if name in __all__:
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module 'harness.emulator' has no attribute {name!r}")
