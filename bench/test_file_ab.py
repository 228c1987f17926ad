"""Wall and CPU time of test files as they were at a commit and as they are now, side by side.

    .venv/bin/python bench/test_file_ab.py [--base 855085d] [--rounds 2] tests/unit/test_x.py [...]

For each file, the version at ``--base`` is copied beside it as ``test_before_<name>.py`` (so it
runs with today's fixtures and plugin), then ``pytest FILE -q -p no:randomly --durations=15`` runs
for the old and the new file alternately, ``--rounds`` times, each in a fresh process. Printed per
run: wall time, user + system CPU of pytest and its children (the services and runs the tests
start), the load average when it began, pytest's result line and its slowest tests. The copies
are removed at the end, also after Ctrl-C. The machine is shared: read a pair, never one figure.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed_run(path: Path) -> str:
    """One pytest run of ``path``: its figures as one line, then its slowest tests."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", str(path), "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                           "--durations=15"], cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = done.stdout.splitlines()
    result = next((line for line in reversed(lines) if re.search(r"\d+ (passed|failed|error)", line)), "no result line")
    slowest = [f"    {line}" for line in lines if re.match(r"\d+\.\d+s (setup|call|teardown) ", line)][:6]
    return "\n".join([f"{path.name}: wall {wall:.1f} s, CPU {cpu:.1f} s, load {load:.2f} at start; {result.strip('= ')}",
                      *slowest])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="855085d", help="the commit to compare with (default: 855085d)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    copies: list[tuple[Path, Path]] = []
    try:
        for file in args.files:
            relative = file.resolve().relative_to(REPO)
            old = subprocess.run(["git", "show", f"{args.base}:{relative.as_posix()}"], cwd=REPO, capture_output=True,
                                 text=True, check=True).stdout
            copy = REPO / relative.with_name(f"test_before_{relative.name.removeprefix('test_')}")
            copy.write_text(old, encoding="utf-8")
            copies.append((copy, REPO / relative))
        for round_number in range(1, args.rounds + 1):
            for before, now in copies:
                print(f"round {round_number}, as at {args.base}: {timed_run(before)}", flush=True)
                print(f"round {round_number}, now: {timed_run(now)}", flush=True)
    finally:
        for copy, _ in copies:
            copy.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
