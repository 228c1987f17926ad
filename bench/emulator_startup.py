"""How long bellows takes to start against the emulated radio, per EZSP version.

    .venv/bin/python bench/emulator_startup.py [--runs N] [--versions 13 14] [--use-thread]

For each version and run: a fresh radio with a blank NCP, ``startup(auto_form=True)`` (connect,
three resets, formation, the table walks), shutdown; then a second ControllerApplication on the
same radio, ``startup(auto_form=False)`` (the short path on a formed network), shutdown. Prints
the median and the range of both, and the EZSP frame count of each phase, one line per version.
These are the times CI pays for every test that starts a hub, so a regression shows here first.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bellows.zigbee.application import ControllerApplication

from harness.emulator.frame_log import HOST_TO_NCP
from harness.emulator.server import EmulatedRadio
from harness.emulator.testing import bellows_config


async def one_run(version: int, use_thread: bool) -> tuple[float, float, int, int]:
    with EmulatedRadio(ezsp_version=version) as radio:
        app = ControllerApplication(bellows_config(radio.port, use_thread=use_thread))
        started = time.perf_counter()
        await app.startup(auto_form=True)
        form_s = time.perf_counter() - started
        await app.shutdown()
        form_frames = len(radio.frame_log.ezsp_names(HOST_TO_NCP))

        app = ControllerApplication(bellows_config(radio.port, use_thread=use_thread))
        started = time.perf_counter()
        await app.startup(auto_form=False)
        restart_s = time.perf_counter() - started
        await app.shutdown()
        restart_frames = len(radio.frame_log.ezsp_names(HOST_TO_NCP)) - form_frames
        if radio.unknown_commands:
            raise SystemExit(f"EZSP v{version}: unknown commands: {radio.unknown_commands}")
    return form_s, restart_s, form_frames, restart_frames


def describe(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:7.1f} ms (min {min(samples) * 1000:.1f}, max {max(samples) * 1000:.1f})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--versions", type=int, nargs="+", default=[13, 14])
    parser.add_argument("--use-thread", action="store_true", help="bellows' default thread mode")
    args = parser.parse_args()
    for version in args.versions:
        results = [await one_run(version, args.use_thread) for _ in range(args.runs)]
        forms, restarts, form_frames, restart_frames = zip(*results, strict=True)
        print(
            f"EZSP v{version}: start-up with formation {describe(list(forms))}, {form_frames[0]} commands; "
            f"restart {describe(list(restarts))}, {restart_frames[0]} commands; runs={args.runs}"
        )


if __name__ == "__main__":
    asyncio.run(main())
