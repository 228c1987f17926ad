"""Many devices at once: 1, 2, 4 and 8 emulated PPMIDs upgraded together by the harness's OTA server.

    .venv/bin/python bench/ota_many.py [--counts 1 2 4 8] [--runs 3] [--payload-kib 8]
                                            [--pages] [--block 40] [--uart-baud 0] [--seed 1]
                                            [--server harness|zigpy]

Each run: a fresh emulated radio with N PPMIDs (rigs/emulated.toml's PPMID, N seeded EUI-64s and
install codes), the hub joins all of them, then ``hub.upgrade`` offers the same image to every one
at once. Per N, the medians over the runs of:
  * aggregate throughput: all bytes / (last Upgrade End - first block request);
  * per-device throughput: each device's image / its own block phase (min, median, max);
  * fairness: slowest device / fastest device; the longest time any device went without a block;
    and the devices that starved in some run (under half the median device's throughput, or one
    wait longer than a quarter of the run's block phase);
  * CPU ms per block for the whole process.
Then the ratio of each aggregate to the single-device one (target: 8 devices >= 0.80).
Default device: block requests with max data 64 and the hub's default cap (40 B); no CBKE at join
(--cbke turns it on: the start+join column then carries it, the OTA figures do not).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import benchlib as b

#: A device is called starved in a run when it got less than this share of the median device's
#: throughput, or waited longer than STARVED_GAP_SHARE of the run's block phase for one block.
STARVED_SHARE = 0.5
STARVED_GAP_SHARE = 0.25


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--payload-kib", type=int, default=8)
    parser.add_argument("--pages", action="store_true", help="devices use Image Page Requests (256 B pages)")
    parser.add_argument("--block", type=int, default=40, help="hub block size cap (default 40, the harness default)")
    parser.add_argument("--device-max", type=int, default=64, help="device max data size (default 64)")
    parser.add_argument("--uart-baud", type=int, default=0, help="throttle the emulated UART (0 = unthrottled)")
    parser.add_argument("--server", choices=("harness", "zigpy"), default="harness")
    parser.add_argument("--cbke", action="store_true", help="devices run CBKE after joining (start+join cost)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    b.quiet_logs()
    asyncio.get_running_loop().set_exception_handler(b.ignore_closed_connection_noise)
    shape = b.DeviceShape(max_data_size=args.device_max, uses_page_requests=args.pages)
    tmp, path, data = b.temp_image(args.payload_kib * 1024, args.seed)
    started = time.perf_counter()
    print(b.machine_line())
    print(f"# {args.server} OTA server, {shape.describe()}, hub cap {args.block} B, image {len(data)} B, "
          f"uart {'unthrottled' if not args.uart_baud else f'{args.uart_baud} baud'}, {args.runs} runs per count")
    print(f"{'devices':>7} {'aggr KiB/s':>10} {'vs 1':>5} {'per-dev min':>11} {'median':>7} {'max':>6} {'fair':>5} "
          f"{'gap med ms':>10} {'longest gap ms':>14} {'CPU ms/blk':>10} {'start+join s':>12} starved")
    single: float | None = None
    with tmp:
        for count in args.counts:
            results = [
                await b.one_run(args.server, count, shape, path, data, max_block_size=args.block,
                                uart_baud=args.uart_baud, seed=args.seed, cbke=args.cbke)
                for _ in range(args.runs)
            ]
            aggregate = b.median([r.aggregate_kib_s for r in results])
            single = aggregate if single is None and count == args.counts[0] else single
            per_device = [d.kib_per_s for r in results for d in r.devices]
            fairness = b.median([min(d.kib_per_s for d in r.devices) / max(d.kib_per_s for d in r.devices) for r in results])
            gaps = [g for r in results for d in r.devices for g in d.block_gaps]
            gap_median = b.median(gaps)
            longest = max(d.longest_gap for r in results for d in r.devices)
            starved = sorted({
                d.name for r in results for d in r.devices
                if d.kib_per_s < STARVED_SHARE * b.median([e.kib_per_s for e in r.devices])
                or d.longest_gap > STARVED_GAP_SHARE * r.span_s
            })
            print(f"{count:>7} {aggregate:>10.2f} {aggregate / single if single else float('nan'):>5.2f} "
                  f"{min(per_device):>11.2f} {b.median(per_device):>7.2f} {max(per_device):>6.2f} {fairness:>5.2f} "
                  f"{gap_median * 1000:>10.2f} {longest * 1000:>14.1f} "
                  f"{b.median([r.cpu_ms_per_block for r in results]):>10.2f} "
                  f"{b.median([r.startup_s for r in results]):>12.2f} {', '.join(starved) or 'none'}")
    print(f"(total {time.perf_counter() - started:.0f} s; {b.machine_line()})")


if __name__ == "__main__":
    asyncio.run(main())
