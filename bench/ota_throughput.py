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
        "blocks": results[0].blocks,
    }


def print_case(case: Case, by_server: dict[str, list[b.RunResult]]) -> None:
    print(f"\n## {case.label}: {case.shape.describe()}, hub cap {case.max_block_size} B")
    print(f"{'server':8} {'runs':>4} {'blocks':>6} {'KiB/s':>7} {'ms/blk':>7} {'p99':>7} "
          f"{'CPU ms/blk':>10} {'host':>6} {'emul':>6} {'start+join s':>12}")
    rows = {server: summarise(results) for server, results in by_server.items()}
    for server, row in rows.items():
        print(f"{server:8} {len(by_server[server]):>4} {row['blocks']:>6} {row['kib_s']:>7.1f} {row['ms_block']:>7.2f} "
              f"{row['ms_block_p99']:>7.2f} {row['cpu_block']:>10.2f} {row['cpu_host']:>6.2f} {row['cpu_emulator']:>6.2f} "
              f"{row['startup_s']:>12.2f}")
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


def wire_line(label: str, results: list[b.RunResult], payload_per_block: float, baud: int) -> None:
    """Bytes per block per direction, the wire limit they imply, and the fraction achieved."""
    r0 = results[0]
    blocks = r0.blocks
    to_ncp = b.median([r.line.to_ncp / r.blocks for r in results])
    to_host = b.median([r.line.to_host / r.blocks for r in results])
    ezsp_ncp = b.median([r.line.ezsp_to_ncp / r.blocks for r in results])
    ezsp_host = b.median([r.line.ezsp_to_host / r.blocks for r in results])
    zcl = payload_per_block + ZCL_BLOCK_OVERHEAD
    bytes_per_s = baud / b.BITS_PER_BYTE
    busier, busier_name = (to_ncp, "host->NCP") if to_ncp >= to_host else (to_host, "NCP->host")
    limit_kib_s = payload_per_block * bytes_per_s / busier / 1024
    achieved = b.median([r.aggregate_kib_s for r in results])
    print(f"{label:7} {blocks:>6} {to_ncp:>8.1f} {to_host:>8.1f}   ZCL {zcl:5.1f} (data {payload_per_block:4.1f}) "
          f"EZSP {ezsp_ncp - zcl:5.1f} ASH {to_ncp - ezsp_ncp:5.1f} | to host: EZSP {ezsp_host:5.1f} ASH {to_host - ezsp_host:5.1f}")
    print(f"        limit ({busier_name} busier) {limit_kib_s:.2f} KiB/s; achieved {achieved:.2f} KiB/s = "
          f"{achieved / limit_kib_s:.0%} of the wire limit; ms/block median "
          f"{b.median([g for r in results for d in r.devices for g in d.block_gaps]) * 1000:.2f} "
          f"(wire time of the busier direction {busier * b.BITS_PER_BYTE / baud * 1000:.2f})")


async def part2(args: argparse.Namespace) -> None:
    baud = 115200
    tmp, path, data = b.temp_image(args.wire_payload_kib * 1024, args.seed)
    print(f"\n# Part 2: UART throttled to {baud} baud (10 bits/byte), image {len(data)} B, {args.wire_runs} runs each")
    print("bytes per block crossing the pty (whole exchange incl. query and end, divided by blocks):")
    print(f"{'mode':7} {'blocks':>6} {'->NCP':>8} {'->host':>8}   breakdown of host->NCP")
    with tmp:
        for label, shape, servers in (
            ("pages", b.DeviceShape(max_data_size=50, uses_page_requests=True, page_size=256), ("harness", "zigpy")),
            ("blocks", b.DeviceShape(max_data_size=50), ("harness", "zigpy")),
        ):
            for server in servers:
                results = [
                    await b.one_run(server, 1, shape, path, data, max_block_size=50, uart_baud=baud, seed=args.seed,
                                    keep_frames=True)
                    for _ in range(args.wire_runs)
                ]
                payload_per_block = len(data) / results[0].blocks
                print(f"-- {server}, {shape.describe()}")
                wire_line(label, results, payload_per_block, baud)
                if server == "harness":
                    timeline(results[0].extra["frames"])


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
