"""Where the CPU goes during an OTA block phase, per thread and per package: ours or zigpy/bellows.

    .venv/bin/python bench/profile_ota.py [--server harness|zigpy|both] [--pages] [--block 50]
                                               [--payload-kib 16] [--top 25]

One transfer per server on a fresh emulated radio (as ``ota_throughput.py`` runs them), with
cProfile switched on in the host's thread (zigpy + bellows + the hub) and in the emulator's thread
at the first Image Block/Page Request the host receives and off at the Upgrade End. Prints, per
thread, the own time ("tottime") summed by where the code lives -- harness/hub, harness/emulator,
zigpy, bellows, asyncio and the rest of the standard library -- per block, then the top functions.

cProfile slows Python code several times over, unevenly (many small calls suffer most), so read
the shares, not the absolute milliseconds; ``ota_throughput.py`` gives the real times.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import benchlib as b

GROUPS = (
    ("harness/hub", "/harness/hub/"),
    ("harness/emulator", "/harness/emulator/"),
    ("harness (other)", "/harness/"),
    ("bench", "/bench/"),
    ("zigpy", "/zigpy/"),
    ("bellows", "/bellows/"),
    ("asyncio", "/asyncio/"),
)


def group_of(filename: str) -> str:
    for name, marker in GROUPS:
        if marker in filename:
            return name
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins (C)"
    return "stdlib/other"


#: C functions in which a thread waits rather than computes (epoll, a lock): not CPU.
WAITING = ("method 'poll' of 'select.epoll'", "method 'acquire' of '_thread.lock'", "method 'wait' of")


#: Waiting, not computing: the loop idle in epoll, a lock, and pty writes -- a write() releases the
#: GIL and the time to take it back from the other thread is counted in the call.
NOT_CPU = "(waiting: epoll, locks, write+GIL)"


def by_group(stats: pstats.Stats) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        waiting = any(w in name for w in WAITING) or "built-in method posix.write" in name
        totals[NOT_CPU if waiting else group_of(filename)] += tottime
    return dict(totals)


class Profiling:
    """cProfile in the host thread (here) and the emulator's thread (through radio.call)."""

    def __init__(self, radio: b.CountingRadio) -> None:
        self.radio = radio
        self.host = cProfile.Profile()
        self.emulator = cProfile.Profile()
        self.on = False

    def start(self, *_: Any) -> None:
        if self.on:
            return
        self.on = True
        self.host.enable()
        self.radio.call(self.emulator.enable)

    def stop(self) -> None:
        self.host.disable()
        self.radio.call(self.emulator.disable)


async def profiled_run(server: str, shape: b.DeviceShape, path: Path, data: bytes, block: int) -> tuple[b.RunResult, Profiling]:
    started = time.perf_counter()
    async with b.emulated_rig(1, shape) as (rig, radio):
        profiling = Profiling(radio)
        original = b._FirstRequest.__call__

        def first_request(self: b._FirstRequest, hdr: Any, cmd: Any) -> None:
            original(self, hdr, cmd)
            profiling.start()

        b._FirstRequest.__call__ = first_request  # type: ignore[method-assign]
        try:
            if server == "harness":
                result = await b.run_harness(rig, radio, path, max_block_size=block, started=started)
            else:
                result = await b.run_zigpy(rig, radio, data, started=started)
        finally:
            b._FirstRequest.__call__ = original  # type: ignore[method-assign]
            profiling.stop()
        return result, profiling


def report(server: str, result: b.RunResult, profiling: Profiling, top: int) -> None:
    blocks = result.blocks
    print(f"\n## {server}: {blocks} blocks, {result.aggregate_kib_s:.1f} KiB/s under the profiler")
    for thread, profile in (("host thread", profiling.host), ("emulator thread", profiling.emulator)):
        stats = pstats.Stats(profile)
        groups = by_group(stats)
        waiting = groups.pop(NOT_CPU, 0.0)
        total = sum(groups.values())
        print(f"{thread}: {total * 1000 / blocks:.2f} ms/block profiled CPU (+{waiting * 1000 / blocks:.2f} ms waiting); "
              "own time by package:")
        for name, seconds in sorted(groups.items(), key=lambda kv: -kv[1]):
            print(f"    {name:18} {seconds * 1000 / blocks:6.3f} ms/block {seconds / total:6.1%}")
    for thread, profile in (("host", profiling.host), ("emulator", profiling.emulator)):
        print(f"top {top} functions of the {thread} thread by own time:")
        pstats.Stats(profile).sort_stats("tottime").print_stats(top)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=("harness", "zigpy", "both"), default="both")
    parser.add_argument("--pages", action="store_true", help="the device uses Image Page Requests")
    parser.add_argument("--block", type=int, default=50, help="device max data size and hub cap (default 50)")
    parser.add_argument("--payload-kib", type=int, default=16)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--threads", choices=("host", "emulator", "both"), default="both")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    b.quiet_logs()
    asyncio.get_running_loop().set_exception_handler(b.ignore_closed_connection_noise)
    shape = b.DeviceShape(max_data_size=args.block, uses_page_requests=args.pages)
    tmp, path, data = b.temp_image(args.payload_kib * 1024, args.seed)
    with tmp:
        for server in (("harness", "zigpy") if args.server == "both" else (args.server,)):
            result, profiling = await profiled_run(server, shape, path, data, args.block)
            report(server, result, profiling, args.top)


if __name__ == "__main__":
    asyncio.run(main())
