"""What rendering the emulated air costs: frames per second through the codec and the pcapng writer.

Every transmission on the emulated rig is rendered (MAC + NWK with AES-CCM* + APS, APS-secured
where the rules say, plus MAC and APS ACKs) whether or not a file is open. This prints how many
OTA Image Block Response exchanges per second one core renders, with and without a capture file,
so the cost can be set against an OTA transfer's block rate (bench/ota_throughput.py).

    python bench/capture_render.py [--exchanges N] [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from harness.emulator.air import SE_PROFILE, AirFrame
from harness.emulator.air_capture import AirCapture, Endpoint

TC = Endpoint(0x0000, bytes.fromhex("000d6f00ffee0001"))
DEVICE = Endpoint(0x1234, bytes.fromhex("000d6f000b123451"), "ppmid1")
BLOCK = AirFrame(0x0000, 0x1234, SE_PROFILE, 0x0019, 1, 1, bytes(8) + bytes(40))  # a 40-byte block response


def exchanges_per_second(count: int, directory: Path | None) -> float:
    capture = AirCapture(clock=time.monotonic)
    capture.network_formed(15, 0x1A62, bytes(8), bytes(range(16)), TC.eui64)
    if directory is not None:
        capture.start(directory / "bench.pcapng", keys_path=None)
    started = time.perf_counter()
    for _ in range(count):
        capture.aps_frame(BLOCK, src=TC, dst=DEVICE, link_key=bytes(16), key_label="bench", delivered=True)
    elapsed = time.perf_counter() - started
    capture.stop()
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("each exchange: block response (NWK + APS secured) + MAC ACK + APS ACK (NWK + APS secured) + MAC ACK")
    with tempfile.TemporaryDirectory() as tmp:
        for label, directory in (("no file", None), ("pcapng file", Path(tmp))):
            rates = [exchanges_per_second(args.exchanges, directory) for _ in range(args.repeat)]
            print(f"{label:12s}: median {statistics.median(rates):8.0f} exchanges/s "
                  f"(min {min(rates):.0f}, max {max(rates):.0f}, {args.repeat} runs of {args.exchanges})")


if __name__ == "__main__":
    main()
