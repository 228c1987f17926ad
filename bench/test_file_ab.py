"""Wall and CPU time of test files as they were at a commit and as they are now, side by side.

    .venv/bin/python bench/test_file_ab.py [--base 855085d] [--rounds 2] tests/unit/test_x.py [...]
    .venv/bin/python bench/test_file_ab.py --tree [--base main] [--rounds 2] tests/unit/test_x.py::test_y [...]

For each file, the version at ``--base`` is copied beside it as ``test_before_<name>.py`` (so it
runs with today's fixtures and plugin), then ``pytest FILE -q -p no:randomly --durations=15`` runs
for the old and the new file alternately, ``--rounds`` times, each in a fresh process. Printed per
run: wall time, user + system CPU of pytest and its children (the services and runs the tests
start), the load average when it began and when it ended, pytest's result line and its slowest
tests. The copies are removed at the end, also after Ctrl-C. The machine is shared: read a pair,
never one figure.

With ``--tree`` the whole tree at ``--base`` (the harness, its plugin, the tests and the rigs) is
exported to a temporary directory and the same tests (files or node ids) run there and here,
alternately: for a change to the harness rather than to the test file. The old tree is put first
on ``PYTHONPATH``, so it, and every pytest run its tests start, import the old ``harness``; the
installed packages (zigpy, bellows, pytest's plugins) are the same for both. ``--new COMMIT``
runs the tree at COMMIT (exported too) in place of the work tree. The medians of each side close
the output.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed_run(target: Path | str, tree: Path = REPO, figures: list[tuple[float, float, float]] | None = None) -> str:
    """One pytest run of ``target`` in ``tree``: its figures as one line, then its slowest tests.

    ``figures`` (if given) gets (wall, user, sys) of the run appended.
    """
    load = os.getloadavg()[0]
    env = dict(os.environ)
    if tree != REPO:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", str(target), "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                           "--durations=15"], cwd=tree, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    if figures is not None:
        figures.append((wall, user, system))
    lines = done.stdout.splitlines()
    result = next((line for line in reversed(lines) if re.search(r"\d+ (passed|failed|error)", line)), "no result line")
    slowest = [f"    {line}" for line in lines if re.match(r"\d+\.\d+s (setup|call|teardown) ", line)][:6]
    name = target.name if isinstance(target, Path) else target
    return "\n".join([f"{name}: wall {wall:.1f} s, CPU {user + system:.1f} s (user {user:.1f} + sys {system:.1f}), "
                      f"load {load:.2f} at start, {os.getloadavg()[0]:.2f} at end; {result.strip('= ')}", *slowest])


def export_tree(commit: str, directory: Path) -> Path:
    """The repository's files at ``commit``, written under ``directory`` (``git archive``)."""
    archive = directory / f"{commit}.tar"
    subprocess.run(["git", "archive", "--format=tar", f"--output={archive}", commit], cwd=REPO, check=True)
    tree = directory / f"tree-{commit}"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    archive.unlink()
    return tree


def median_line(label: str, figures: list[tuple[float, float, float]]) -> str:
    wall, user, system = (statistics.median(column) for column in zip(*figures, strict=True))
    cpu = statistics.median(u + s for _, u, s in figures)
    return (f"{label}: median of {len(figures)} runs: wall {wall:.1f} s, CPU {cpu:.1f} s "
            f"(user {user:.1f} + sys {system:.1f})")


def compare_trees(base: str, rounds: int, targets: list[str], new: str | None = None) -> None:
    """``targets`` in the tree at ``base`` and in the work tree (or the tree at ``new``), alternately."""
    with tempfile.TemporaryDirectory(prefix="harness-ab-") as tmp:
        old = export_tree(base, Path(tmp))
        here = export_tree(new, Path(tmp)) if new else REPO
        label = f"as at {new}" if new else "now"
        before: list[tuple[float, float, float]] = []
        now: list[tuple[float, float, float]] = []
        for round_number in range(1, rounds + 1):
            for target in targets:
                print(f"round {round_number}, as at {base}: {timed_run(target, old, before)}", flush=True)
                print(f"round {round_number}, {label}: {timed_run(target, here, now)}", flush=True)
        print(median_line(f"as at {base}", before))
        print(median_line(label, now))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="855085d", help="the commit to compare with (default: 855085d)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tree", action="store_true",
                        help="run the same tests in the whole tree at --base, not a copy of the file beside it")
    parser.add_argument("--new", default=None, metavar="COMMIT",
                        help="with --tree: the tree at COMMIT rather than the work tree (which may then change)")
    parser.add_argument("files", nargs="+", help="test files (with --tree, node ids too)")
    args = parser.parse_args()
    if args.tree:
        compare_trees(args.base, args.rounds, args.files, args.new)
        return
    copies: list[tuple[Path, Path]] = []
    try:
        for file in map(Path, args.files):
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
