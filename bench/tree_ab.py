"""Wall and CPU of one pytest command on the tree at a commit and on the tree at HEAD, alternately.

    .venv/bin/python bench/tree_ab.py [--base d70108d] [--rounds 2] -- PYTEST_ARGS...

Unlike test_file_ab.py (which swaps one test file and keeps today's fixtures), this compares whole
trees: the base commit and HEAD are each exported (``git archive``; uncommitted changes are not
in HEAD's) into a temporary directory, so fixtures, plugin and tests change together. Each run is
``python -m pytest -p no:randomly PYTEST_ARGS`` in a fresh process started in its tree, with the
tree first on PYTHONPATH, so the ``harness`` imported (by the run and by every pytest it starts) is
that tree's and not the checkout this venv's editable install points at.

Printed per run: wall time, user + system CPU of pytest and all the processes it reaped (the
services, runs, browsers and tsharks its tests start), the load average at its start and end, and
pytest's result line. Base and HEAD alternate, so a pair shares the machine's load; read pairs.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: One run of the whole default test run serially takes 5-10 minutes; a run that takes this long is stuck.
RUN_TIMEOUT_S = 3600.0


def export(revision: str, into: Path) -> Path:
    """The tree of ``revision`` written out under ``into``; returns its directory."""
    archive = subprocess.run(["git", "archive", revision], cwd=REPO, capture_output=True, check=True, timeout=120).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def timed_run(tree: Path, pytest_args: list[str]) -> str:
    """One pytest run in ``tree``: its figures as one line."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly", *pytest_args], cwd=tree, env=env,
                              capture_output=True, text=True, check=False, timeout=RUN_TIMEOUT_S)
        lines = done.stdout.splitlines()
        result = next((line for line in reversed(lines) if re.search(r"\d+ (passed|failed|error)", line)),
                      f"no result line (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    except subprocess.TimeoutExpired as expired:
        result = f"did not end within {RUN_TIMEOUT_S:g} s; its last output: {str(expired.stdout)[-300:]}"
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return (f"wall {wall:.1f} s, CPU {cpu:.1f} s, load {load:.2f} at start, {os.getloadavg()[0]:.2f} at end; "
            f"{result.strip('= ')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="d70108d", help="the commit to compare with (default: d70108d)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("pytest_args", nargs="+", help="what pytest runs in both trees (after --)")
    args = parser.parse_args()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="tree-ab-") as scratch:
        trees = [(args.base, export(args.base, Path(scratch) / "base")), (head, export("HEAD", Path(scratch) / "head"))]
        for round_number in range(1, args.rounds + 1):
            for name, tree in trees:
                print(f"round {round_number}, {name}: {timed_run(tree, args.pytest_args)}", flush=True)


if __name__ == "__main__":
    main()
