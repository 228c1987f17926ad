"""Start-up plus join on the emulated rig, and the block rate of a plain transfer (issue #3).

    .venv/bin/python bench/startup_join.py [--runs 5] [--rig rigs/emulated.toml] [--device ppmid1]
                                                [--image ppmid-next] [--profile]

Each run, on a fresh emulated radio with a blank NCP (what every test that starts its own hub pays,
as tests/unit/test_hub_emulated.py does):
  1. radio: the emulator's thread and pty up;
  2. hub start: bellows connects, resets the NCP, negotiates EZSP, forms the HAN (CommsHub.start);
  3. join: each device under test admitted with its install code, announced and interviewed by
     zigpy (CommsHub.join, one device after another; "join first" is the device named --device);
  4. transfer: --image to --device with the hub's defaults (its profile's block size) -- blocks per
     second and KiB/s over the block phase (first block request to Upgrade End, device clock).
Prints the median, min and max of each phase and the EZSP commands the host sent in each. With
--profile, one more run under cProfile (host thread): where start-up and join spend their time,
by package, with the time the loop sat idle in epoll (waiting on the NCP, the devices or a timer)
shown apart from CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from collections import Counter
from pathlib import Path

import benchlib as b

import harness.hub
from harness.emulator.frame_log import HOST_TO_NCP
from harness.emulator.server import EmulatedRadio
from harness.rig import load_rig

PHASES = ("radio", "hub start", "join first", "join all", "transfer")


async def one_run(rig_path: Path, device: str, image: str, profile: cProfile.Profile | None = None) -> dict[str, float]:
    rig = load_rig(rig_path)
    times: dict[str, float] = {}
    commands: dict[str, int] = {}
    t0 = time.perf_counter()
    with EmulatedRadio(rig) as radio:
        times["radio"] = time.perf_counter() - t0
        mark = len(radio.frame_log)

        def ezsp_since(start: int) -> int:
            return sum(1 for r in radio.frame_log.records[start:] if r.direction == HOST_TO_NCP and r.frame_type == "DATA"
                       and not r.re_tx)

        if profile is not None:
            profile.enable()
        t = time.perf_counter()
        hub = harness.hub.CommsHub(rig, port=radio.port, settings=b.HUB_SETTINGS)
        await hub.start()
        try:
            times["hub start"] = time.perf_counter() - t
            commands["hub start"] = ezsp_since(mark)
            mark = len(radio.frame_log)
            t = time.perf_counter()
            await hub.join(device)
            times["join first"] = time.perf_counter() - t
            for dut in rig.devices:
                if dut.name != device:
                    await hub.join(dut.name)
            times["join all"] = time.perf_counter() - t
            commands["join all"] = ezsp_since(mark)
            if profile is not None:
                profile.disable()
            events_before = radio.call(lambda: len(radio.han.device(device).events))
            mark = len(radio.frame_log)
            transfer = await hub.upgrade(device, image)
            outcome = await transfer.wait()
            if outcome.value != "transferred":
                raise RuntimeError(f"{device}: transfer ended {outcome.value}: {transfer.record().reason}")
            commands["transfer"] = ezsp_since(mark)
            result = b.device_result(radio, device, hub.image(image).size, events_before)
            times["transfer"] = result.seconds
            times["blocks/s"] = result.blocks / result.seconds
            times["KiB/s"] = result.kib_per_s
            times["blocks"] = result.blocks
        finally:
            await hub.stop()
    times.update({f"commands:{k}": v for k, v in commands.items()})
    return times


def show(label: str, samples: list[float], unit: str = "s") -> str:
    scale, fmt = (1000.0, "{:.0f} ms") if unit == "s" else (1.0, "{:.1f}")
    med, lo, hi = (fmt.format(x * scale) for x in (b.median(samples), min(samples), max(samples)))
    return f"{label:12} median {med:>8}  (min {lo}, max {hi})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rig", type=Path, default=b.RIG_FILE)
    parser.add_argument("--device", default="ppmid1")
    parser.add_argument("--image", default="ppmid-next")
    parser.add_argument("--profile", action="store_true", help="one extra run of start-up + join under cProfile")
    args = parser.parse_args()
    b.quiet_logs()
    asyncio.get_running_loop().set_exception_handler(b.ignore_closed_connection_noise)
    print(b.machine_line())
    runs = [await one_run(args.rig, args.device, args.image) for _ in range(args.runs)]
    rig = load_rig(args.rig)
    print(f"# {args.rig.name}: {len(rig.devices)} devices ({', '.join(d.name for d in rig.devices)}), {args.runs} runs, "
          f"fresh emulated NCP each")
    for phase in PHASES:
        line = show(phase, [r[phase] for r in runs])
        key = f"commands:{phase}"
        if key in runs[0]:
            line += f"  {int(runs[0][key])} EZSP commands"
        print(line)
    total = [r["radio"] + r["hub start"] + r["join all"] for r in runs]
    print(show("start+join", total) + "  (fixed cost of a test that starts its own hub)")
    print(f"transfer of {args.image} to {args.device}: {int(runs[0]['blocks'])} blocks, "
          f"{b.median([r['blocks/s'] for r in runs]):.0f} blocks/s, {b.median([r['KiB/s'] for r in runs]):.1f} KiB/s (median)")
    if args.profile:
        profile = cProfile.Profile()
        await one_run(args.rig, args.device, args.image, profile)
        stats = pstats.Stats(profile)
        groups = Counter()
        for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            waiting = "method 'poll' of 'select.epoll'" in name or "acquire' of '_thread.lock" in name
            groups["(idle: epoll/locks)" if waiting else _group(filename)] += tottime
        total_s = sum(groups.values())
        print(f"\n# profile of hub start + joins (host thread, cProfile; {total_s:.2f} s profiled)")
        for name, seconds in groups.most_common():
            print(f"    {name:22} {seconds:6.2f} s {seconds / total_s:6.1%}")
        print("\nharness functions by cumulative time:")
        stats.sort_stats("cumulative").print_stats(r"harness/", 20)


def _group(filename: str) -> str:
    for name, marker in (("harness/hub", "/harness/hub/"), ("harness (other)", "/harness/"), ("zigpy", "/zigpy/"),
                         ("bellows", "/bellows/"), ("asyncio", "/asyncio/")):
        if marker in filename:
            return name
    return "builtins (C)" if filename.startswith(("~", "<")) else "stdlib/other"


if __name__ == "__main__":
    asyncio.run(main())
