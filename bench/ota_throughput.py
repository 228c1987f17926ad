"""OTA throughput on the emulated rig through bellows: the harness's OTA server against zigpy's own.

    .venv/bin/python bench/ota_throughput.py [--runs 5] [--payload-kib 16] [--seed 1]
                                                  [--wire-runs 3] [--wire-payload-kib 8] [--skip-wire]

Part 1 (unthrottled pty; the emulator and the host share the machine's CPU):
  the same image to the same emulated PPMID with the same block size, by the harness's OTA server
  (``CommsHub.upgrade``) and by zigpy's ``update_firmware``, alternating (harness first on even
  runs, zigpy first on odd ones), each run on a fresh emulated radio:
  * blocks: device asks for 50-byte blocks, hub cap 50 (zigpy's own cap is 50 for this
    manufacturer code), and the harness's default on its own: device asks for 64, hub cap 40;
  * pages: the same device using Image Page Requests (256-byte pages, 50-byte blocks, no spacing).
  Printed per server: KiB/s, milliseconds between blocks the device receives (median and p99 over
  every block of every run), CPU milliseconds per block (whole process, then split: the host
  thread running zigpy + bellows + the hub, and the emulator's thread), and the harness/zigpy ratio
  of the medians.

Part 2 (the UART limit): the emulator throttled to 115200 baud (10 bits a byte). Counts the bytes
  that crossed the pty per block in each direction, splits them into ZCL (the Image Block
  Response), EZSP and ASH (framing, stuffing, ACKs, the callbacks), and prints the rate achieved as
  a fraction of what the busier direction of the wire allows for that many bytes per block.

Only the block phase is timed (device's first block/page request to its Upgrade End Request):
zigpy's 10 s AFTER_OTA_ATTR_READ_DELAY and re-interview, and the hub's activation watch, are
outside it. Start-up (fresh NCP, formation, join, interview) is printed separately.
Seeded: the image payload, the devices' EUI-64s and install codes, the emulator's RNGs.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

import benchlib as b

#: ZCL bytes of an Image Block Response around ``n`` bytes of data: 3 header + status 1 +
#: manufacturer 2 + image type 2 + version 4 + offset 4 + length 1 (ZCL OTA 11.13.8).
ZCL_BLOCK_OVERHEAD = 17


@dataclass(frozen=True, slots=True)
class Case:
    key: str
    label: str
    shape: b.DeviceShape
    max_block_size: int
    servers: tuple[str, ...] = ("harness", "zigpy")


CASES = (
    Case("blocks50", "blocks, 50 B (equal block size)", b.DeviceShape(max_data_size=50), 50),
    Case("default40", "blocks, harness default (device 64 B, cap 40 B)", b.DeviceShape(max_data_size=64), 40, ("harness",)),
    Case("pages", "pages of 256 B, 50 B blocks", b.DeviceShape(max_data_size=50, uses_page_requests=True, page_size=256), 50),
)


def summarise(results: list[b.RunResult]) -> dict[str, float]:
    gaps = [g for r in results for d in r.devices for g in d.block_gaps]
    return {
        "kib_s": b.median([r.aggregate_kib_s for r in results]),
        "ms_block": b.median(gaps) * 1000,
        "ms_block_p99": b.percentile(gaps, 99) * 1000,
        "cpu_block": b.median([r.cpu_ms_per_block for r in results]),
        "cpu_host": b.median([r.cpu.host_thread * 1000 / r.blocks for r in results]),
        "cpu_emulator": b.median([r.cpu.emulator_thread * 1000 / r.blocks for r in results]),
        "startup_s": b.median([r.startup_s for r in results]),
        "commands_block": b.median([r.commands_per_block for r in results]),
        "blocks": results[0].blocks,
    }


def print_case(case: Case, by_server: dict[str, list[b.RunResult]]) -> None:
    print(f"\n## {case.label}: {case.shape.describe()}, hub cap {case.max_block_size} B")
    print(f"{'server':8} {'runs':>4} {'blocks':>6} {'KiB/s':>7} {'ms/blk':>7} {'p99':>7} "
          f"{'CPU ms/blk':>10} {'host':>6} {'emul':>6} {'EZSP cmd/blk':>12} {'start+join s':>12}")
    rows = {server: summarise(results) for server, results in by_server.items()}
    for server, row in rows.items():
        print(f"{server:8} {len(by_server[server]):>4} {row['blocks']:>6} {row['kib_s']:>7.1f} {row['ms_block']:>7.2f} "
              f"{row['ms_block_p99']:>7.2f} {row['cpu_block']:>10.2f} {row['cpu_host']:>6.2f} {row['cpu_emulator']:>6.2f} "
              f"{row['commands_block']:>12.2f} {row['startup_s']:>12.2f}")
    if "harness" in rows and "zigpy" in rows:
        pairs = [h.aggregate_kib_s / z.aggregate_kib_s for h, z in zip(by_server["harness"], by_server["zigpy"], strict=True)]
        h, z = rows["harness"], rows["zigpy"]
        print(f"ratio harness/zigpy: throughput {h['kib_s'] / z['kib_s']:.2f}x (median of per-pair ratios "
              f"{b.median(pairs):.2f}x, range {min(pairs):.2f}-{max(pairs):.2f}); CPU per block "
              f"{h['cpu_block'] / z['cpu_block']:.2f}x, host thread only {h['cpu_host'] / z['cpu_host']:.2f}x")


async def part1(args: argparse.Namespace) -> dict[str, dict[str, list[b.RunResult]]]:
    tmp, path, data = b.temp_image(args.payload_kib * 1024, args.seed)
    print(f"# Part 1: unthrottled pty, image {len(data)} B, {args.runs} alternating runs per server")
    out: dict[str, dict[str, list[b.RunResult]]] = {}
    with tmp:
        for case in CASES:
            if args.cases and case.key not in args.cases:
                continue
            by_server: dict[str, list[b.RunResult]] = {s: [] for s in case.servers}
            for run in range(args.runs):
                order = case.servers if run % 2 == 0 else tuple(reversed(case.servers))
                for server in order:
                    result = await b.one_run(server, 1, case.shape, path, data, max_block_size=case.max_block_size,
                                             seed=args.seed)
                    by_server[server].append(result)
            print_case(case, by_server)
            out[case.label] = by_server
    return out


@dataclass(frozen=True, slots=True)
class WireFigures:
    to_ncp: float  # bytes per block, host->NCP
    to_host: float
    ezsp_to_ncp: float
    ezsp_to_host: float
    kib_s: float
    ms_block: float
    commands_block: float

    @property
    def busier(self) -> tuple[float, str]:
        return (self.to_ncp, "host->NCP") if self.to_ncp >= self.to_host else (self.to_host, "NCP->host")

    @classmethod
    def of(cls, results: list[b.RunResult]) -> WireFigures:
        return cls(
            to_ncp=b.median([r.line.to_ncp / r.blocks for r in results]),
            to_host=b.median([r.line.to_host / r.blocks for r in results]),
            ezsp_to_ncp=b.median([r.line.ezsp_to_ncp / r.blocks for r in results]),
            ezsp_to_host=b.median([r.line.ezsp_to_host / r.blocks for r in results]),
            kib_s=b.median([r.aggregate_kib_s for r in results]),
            ms_block=b.median([g for r in results for d in r.devices for g in d.block_gaps]) * 1000,
            commands_block=b.median([r.commands_per_block for r in results]),
        )


def wire_line(server: str, figures: WireFigures, blocks: int, payload_per_block: float, limit_kib_s: float,
              baud: int) -> None:
    """Bytes per block per direction, EZSP commands per block, and the fraction of the wire limit.

    ``limit_kib_s`` is the same for both servers: computed from the bytes *zigpy* needs per block,
    so a server that sends fewer frames is measured against the same ceiling, not a raised one.
    """
    f = figures
    zcl = payload_per_block + ZCL_BLOCK_OVERHEAD
    busier, busier_name = f.busier
    print(f"{server:8} {blocks:>6} {f.to_ncp:>8.1f} {f.to_host:>8.1f}   ZCL {zcl:5.1f} (data {payload_per_block:4.1f}) "
          f"EZSP {f.ezsp_to_ncp - zcl:5.1f} ASH {f.to_ncp - f.ezsp_to_ncp:5.1f} | to host: EZSP {f.ezsp_to_host:5.1f} "
          f"ASH {f.to_host - f.ezsp_to_host:5.1f}")
    print(f"         EZSP commands per block {f.commands_block:.2f}; achieved {f.kib_s:.2f} KiB/s = "
          f"{f.kib_s / limit_kib_s:.0%} of the wire limit; ms/block median {f.ms_block:.2f} (wire time of its own "
          f"busier direction, {busier_name}: {busier * b.BITS_PER_BYTE / baud * 1000:.2f})")


async def part2(args: argparse.Namespace) -> None:
    baud = 115200
    tmp, path, data = b.temp_image(args.wire_payload_kib * 1024, args.seed)
    print(f"\n# Part 2: UART throttled to {baud} baud (10 bits/byte), image {len(data)} B, {args.wire_runs} "
          "alternating runs per server")
    print("bytes per block crossing the pty (whole exchange incl. query and end, divided by blocks):")
    print(f"{'server':8} {'blocks':>6} {'->NCP':>8} {'->host':>8}   breakdown of host->NCP")
    servers = ("harness", "zigpy")
    with tmp:
        for label, shape in (
            ("blocks", b.DeviceShape(max_data_size=50)),
            ("pages", b.DeviceShape(max_data_size=50, uses_page_requests=True, page_size=256)),
        ):
            by_server: dict[str, list[b.RunResult]] = {s: [] for s in servers}
            for run in range(args.wire_runs):
                for server in servers if run % 2 == 0 else tuple(reversed(servers)):
                    by_server[server].append(
                        await b.one_run(server, 1, shape, path, data, max_block_size=50, uart_baud=baud,
                                        seed=args.seed, keep_frames=True)
                    )
            figures = {s: WireFigures.of(r) for s, r in by_server.items()}
            blocks = by_server["zigpy"][0].blocks
            payload_per_block = len(data) / blocks
            zigpy_busier, zigpy_side = figures["zigpy"].busier
            limit_kib_s = payload_per_block * baud / b.BITS_PER_BYTE / zigpy_busier / 1024
            print(f"-- {label}: {shape.describe()}; wire limit from zigpy's bytes per block ({zigpy_side} busier): "
                  f"{limit_kib_s:.2f} KiB/s")
            for server in servers:
                wire_line(server, figures[server], by_server[server][0].blocks, payload_per_block, limit_kib_s, baud)
            pairs = [h.aggregate_kib_s / z.aggregate_kib_s
                     for h, z in zip(by_server["harness"], by_server["zigpy"], strict=True)]
            print(f"wire ratio harness/zigpy ({label}): throughput {figures['harness'].kib_s / figures['zigpy'].kib_s:.2f}x "
                  f"(median of per-pair ratios {b.median(pairs):.2f}x, range {min(pairs):.2f}-{max(pairs):.2f}); "
                  f"EZSP commands per block {figures['harness'].commands_block:.2f} against "
                  f"{figures['zigpy'].commands_block:.2f}")
            timeline(by_server["harness"][0].extra["frames"])


def timeline(frames: list) -> None:
    """One block in mid-transfer as the NCP saw it: when each ASH frame arrived or left.

    Times are the NCP's (a frame from the host is seen when its last byte has crossed the
    throttled line). Shows where the host->NCP line stands idle: bellows sends one DATA frame at a
    time (ASH TX_K = 1) and one command at a time, waiting for each response.
    """
    sends = [i for i, r in enumerate(frames) if r.ezsp == "sendUnicast" and r.direction == "host->ncp" and not r.re_tx]
    if len(sends) < 4:
        return
    middle = len(sends) // 2
    start, end = sends[middle - 1] + 1, sends[middle] + 1
    t0 = frames[start].time
    print("   one block mid-transfer, as the NCP saw it (ms):")
    for record in frames[start:end + 4]:
        print(f"     {(record.time - t0) * 1000:7.2f}  {record.direction:9}  {record.frame_type:6} {record.ezsp or ''}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="alternating runs per server and case (default 5)")
    parser.add_argument("--payload-kib", type=int, default=16, help="image payload for part 1 (default 16 KiB)")
    parser.add_argument("--wire-runs", type=int, default=3, help="runs per server at 115200 baud (default 3)")
    parser.add_argument("--wire-payload-kib", type=int, default=8, help="image payload for part 2 (default 8 KiB)")
    parser.add_argument("--skip-wire", action="store_true", help="part 1 only")
    parser.add_argument("--cases", nargs="+", choices=[c.key for c in CASES], help="part 1 cases to run (default all)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    b.quiet_logs()
    asyncio.get_running_loop().set_exception_handler(b.ignore_closed_connection_noise)
    started = time.perf_counter()
    print(b.machine_line())
    await part1(args)
    if not args.skip_wire:
        await part2(args)
    print(f"\n(total {time.perf_counter() - started:.0f} s; {b.machine_line()})")


if __name__ == "__main__":
    asyncio.run(main())
