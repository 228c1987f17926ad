"""The hub on the emulated rig with the PPMID joined: the set-up the emulated-hub tests share.

Each test file scales its own timings (hub settings, ASH timers, deadlines) and passes them in;
what they share is the order a bench run follows: radio up, the device's behaviour set before it
joins, the hub started on the radio's port, the PPMID admitted with its install code.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import harness.hub
from harness.emulator.server import EmulatedRadio
from harness.hub import CommsHub
from harness.hub.settings import HubSettings
from harness.rig import Rig

REPO = Path(__file__).resolve().parents[2]
RIG_FILE = REPO / "rigs" / "emulated.toml"
PPMID = "ppmid1"


@asynccontextmanager
async def joined_hub(
    rig: Rig, *, settings: HubSettings, behaviour: str | None = None, join_deadline_s: float | None = None,
    **radio_options: Any,
) -> AsyncIterator[tuple[EmulatedRadio, CommsHub]]:
    """An emulated radio with ``radio_options``, the hub on its port, the PPMID joined.

    ``behaviour`` is set before the PPMID joins (a defect such as ``leaves_han`` switched on
    after the join would act at once, with no transfer to interrupt). ``join_deadline_s`` bounds
    the join so a hang fails the test instead of stalling CI; None leaves it to the hub's own
    join timeout.
    """
    with EmulatedRadio(rig, **radio_options) as radio:
        if behaviour is not None:
            radio.han.device(PPMID).set_behaviour(behaviour)
        async with await harness.hub.start(rig, port=radio.port, settings=settings) as hub:
            await asyncio.wait_for(hub.join(PPMID), join_deadline_s)
            yield radio, hub
