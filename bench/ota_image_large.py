"""Large-image benchmark: inspect, hash and serve a 16 MB OTA image in 40-byte blocks.

    .venv/bin/python bench/ota_image_large.py [--size-mib 16] [--block 40]

Builds a signed GBCS image in a temporary file without holding it in memory (payload
streamed in chunks, signature made over a streamed SHA-256), then measures, in this order:
open + header/structure check (what ``harness image inspect`` does), SHA-256 of the whole
file, supplier-signature verification (streamed Manufacturer Image Hash), and reading every
block with ``ImageFile.read(offset, block)`` as the OTA server does. For comparison it also
times the same reads with plain ``seek`` + ``read`` on a file object.

Timings come from an untraced pass; memory from a second pass under tracemalloc (tracing
makes the 400k small reads ~30x slower, so it must not be timed). The ``tracemalloc`` peak
is the Python heap (a copy of the image would show here); ``ru_maxrss`` is the process's
resident peak, which also counts the file pages the mmap touched (shared, reclaimable page
cache, not a copy).
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from harness.ota import ImageFile, SignatureStatus, verify
from harness.ota.gbcs import TRAILER, TRAILER_SIZE
from harness.ota.header import encode_header, make_header
from harness.ota.samples import supplier_key_pair
from harness.ota.signing import sign_digest

CHUNK = 1 << 20


def build_large(path: Path, size: int, private_pem: bytes) -> None:
    """A signed GBCS image of ``size`` bytes in total, written chunk by chunk."""
    header = make_header(
        manufacturer_code=0x121D, image_type=0x0084, file_version=0x102,
        hardware_range=(0x1111, 0x1211), header_string="large benchmark image",
        body_size=size - 60,
    )
    mi_size = size - header.header_length - TRAILER_SIZE
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        fh.write(encode_header(header))
        written, counter = 0, 0
        while written < mi_size:
            block = hashlib.sha256(counter.to_bytes(8, "big")).digest() * (CHUNK // 32)
            block = block[: mi_size - written]
            fh.write(block)
            digest.update(block)
            written += len(block)
            counter += 1
        fh.write(TRAILER.encode({"force_replace": 0, "signature": sign_digest(digest.digest(), private_pem)}))


def run_phases(path: Path, public_pem: bytes, block: int) -> tuple[dict[str, float], int, str]:
    """Open, hash, verify and read every block of ``path``; returns the timings."""
    timings: dict[str, float] = {}
    t = time.perf_counter()
    image = ImageFile.open(path)
    timings["open + inspect (header, size, layout, trailer)"] = time.perf_counter() - t

    t = time.perf_counter()
    file_hash = image.sha256
    timings["sha256 of the whole file"] = time.perf_counter() - t

    t = time.perf_counter()
    status = verify(image, public_pem)
    timings["verify (manufacturer image hash + ECDSA)"] = time.perf_counter() - t
    assert status is SignatureStatus.VALID, status

    t = time.perf_counter()
    reads, total = 0, 0
    read = image.read
    for offset in range(0, image.size, block):
        total += len(read(offset, block))
        reads += 1
    timings[f"{reads} reads of {block} bytes via ImageFile.read (mmap)"] = time.perf_counter() - t
    assert total == image.size
    image.close()
    return timings, reads, file_hash


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=float, default=16)
    parser.add_argument("--block", type=int, default=40, help="bytes per Image Block Response (40: APS-secured)")
    args = parser.parse_args()
    private_pem, public_pem = supplier_key_pair()
    size = int(args.size_mib * 1024 * 1024)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.ota"
        t0 = time.perf_counter()
        build_large(path, size, private_pem)
        print(f"built {size} bytes ({args.size_mib} MiB) in {time.perf_counter() - t0:.2f} s; "
              f"ru_maxrss after build {maxrss_mib():.1f} MiB")

        rss_before = maxrss_mib()
        timings, reads, file_hash = run_phases(path, public_pem, args.block)  # timed, untraced
        rss_after = maxrss_mib()
        tracemalloc.start()  # second pass for memory: tracing slows allocation-heavy loops ~30x
        run_phases(path, public_pem, args.block)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        t = time.perf_counter()
        with open(path, "rb") as fh:
            for offset in range(0, size, args.block):
                fh.seek(offset)
                fh.read(args.block)
        seek_read = time.perf_counter() - t

    for name, seconds in timings.items():
        print(f"{name:<58} {seconds * 1000:9.1f} ms")
    print(f"{'(comparison) same reads via seek + read on a file object':<58} {seek_read * 1000:9.1f} ms")
    per_read_us = list(timings.values())[-1] / reads * 1e6
    print(f"per 40-byte read: {per_read_us:.2f} us")
    print(f"tracemalloc peak (Python heap) over open + hash + verify + all reads: {peak / 1024:.1f} KiB")
    print(f"ru_maxrss: {rss_before:.1f} MiB before, {rss_after:.1f} MiB after "
          f"(the rise is mmap'd file pages, see docstring)")
    print(f"sha256 {file_hash}")


if __name__ == "__main__":
    main()
