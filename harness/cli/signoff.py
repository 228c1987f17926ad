"""`harness signoff --rig a --rig b --html out.html`: several benches, one sign-off report.

Runs the conformance suite on every rig at once, each in a pytest process of its own with its own
evidence file and log (``OUT-DIR/RIG.evidence.json``, ``OUT-DIR/RIG.log``), exactly the command an
engineer types for one bench. When all have ended it records in each evidence file how that run
ended (the ``bench`` run fact: completed, stopped by its rig check, failed to start, timed out,
killed) and writes one page from all of them (:mod:`harness.report.benches`), so a bench that did
not complete shows as such and never silently shrinks the matrix.

Rigs that name labgrid places are acquired by their own runs, one place per process; a place
held by someone else stops only that bench's run, with the line saying who holds it.

Exit code: 0 every bench completed and passed, 1 a test failed, 2 a bench did not complete (or
bad usage).
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_INCOMPLETE = 2
#: How long a run may take before it is stopped (SIGTERM, which releases its place), then killed.
DEFAULT_TIMEOUT_S = 4 * 3600.0
GRACE_S = 30.0
#: pytest's exit codes -> how a sign-off calls that run.
PYTEST_EXITS = {0: "completed", 1: "completed", 2: "stopped", 3: "internal error", 4: "usage error",
                5: "no test collected"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "signoff", help="run the conformance suite on several rigs at once and merge their evidence",
        description="Run the conformance suite on every --rig in parallel (one pytest process each) and "
                    "write one report: the verdict matrix across rigs, devices and images, each rig's run header.")
    parser.add_argument("--rig", dest="rigs", action="append", required=True, metavar="NAME|PATH",
                        help="a rig to run on (repeat for each bench)")
    parser.add_argument("--html", type=Path, default=Path("reports/signoff.html"), metavar="OUT.html",
                        help="the merged report (default: reports/signoff.html)")
    parser.add_argument("--out-dir", type=Path, default=None, metavar="DIR",
                        help="each rig's evidence and log (default: OUT.signoff/ beside the report)")
    parser.add_argument("--suite", default="tests/conformance", metavar="PATH",
                        help="what pytest runs on each rig (default: tests/conformance)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                        help=f"stop a bench's run after this long (default: {DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, metavar="-- PYTEST-ARGS",
                        help="further arguments for every pytest run, after --")
    parser.set_defaults(func=run_signoff)


@dataclass
class BenchProcess:
    rig: str                       # as given on the command line
    label: str                     # the file-name stem of its evidence and log
    evidence: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    exit_code: int | None = None
    timed_out: bool = False


def bench_label(rig: str) -> str:
    return Path(rig).stem if rig.endswith(".toml") or "/" in rig else rig


def run_signoff(args: argparse.Namespace) -> int:
    labels = [bench_label(rig) for rig in args.rigs]
    duplicate = next((label for label in labels if labels.count(label) > 1), None)
    if duplicate is not None:
        print(f"harness signoff: --rig {duplicate!r} is given twice; each bench runs once", file=sys.stderr)
        return EXIT_INCOMPLETE
    out_dir = args.out_dir or args.html.with_suffix(".signoff")
    out_dir.mkdir(parents=True, exist_ok=True)
    extra = [a for a in args.pytest_args if a != "--"]
    benches = [BenchProcess(rig, label, out_dir / f"{label}.evidence.json", out_dir / f"{label}.log")
               for rig, label in zip(args.rigs, labels, strict=True)]
    for bench in benches:
        bench.evidence.unlink(missing_ok=True)  # a file left from an earlier sign-off must not stand in for this run
        with bench.log.open("wb") as log:
            bench.process = subprocess.Popen(
                [sys.executable, "-m", "pytest", args.suite, f"--rig={bench.rig}", f"--evidence={bench.evidence}", *extra],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        print(f"{bench.label}: running (log {bench.log})", flush=True)
    wait_all(benches, args.timeout)
    from harness.report.benches import write_benches_page

    runs = [record_bench(bench, Path.cwd() / "rigs") for bench in benches]
    for run in runs:
        print(f"{run.rig}: {run.status}{f' ({run.reason})' if run.reason else ''}; {len(run.tests)} test(s)")
    written = write_benches_page(runs, args.html)
    print(f"report written: {written}")
    if not all(run.completed for run in runs):
        return EXIT_INCOMPLETE
    return EXIT_PASSED if all(bench.exit_code == 0 for bench in benches) else EXIT_FAILED


def wait_all(benches: list[BenchProcess], timeout: float) -> None:
    """Every run to its end; one still going at the deadline is stopped (SIGTERM, then SIGKILL)."""
    deadline = time.monotonic() + timeout
    for bench in benches:
        assert bench.process is not None
        try:
            bench.exit_code = bench.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            bench.timed_out = True
            bench.process.send_signal(signal.SIGTERM)
            try:
                bench.exit_code = bench.process.wait(GRACE_S)
            except subprocess.TimeoutExpired:
                bench.process.kill()
                bench.exit_code = bench.process.wait()


def record_bench(bench: BenchProcess, rigs_dir: Path) -> Any:
    """Write how the run ended into its evidence (made now if the run left none) and return the bench."""
    from harness.evidence import EvidenceLog
    from harness.report.benches import BENCH_KEY, bench_from_log

    code = bench.exit_code
    if bench.timed_out:
        status = "timed out"
    elif code is not None and code < 0:
        status = f"killed by {signal.Signals(-code).name}"
    else:
        status = PYTEST_EXITS.get(code if code is not None else -1, f"exit code {code}")
    reason = "" if status == "completed" else why_it_stopped(bench.log)
    if bench.timed_out:
        reason = f"still running at the sign-off's --timeout; {reason}".rstrip("; ")
    try:
        log = EvidenceLog.load(bench.evidence)
    except ValueError as exc:
        log = EvidenceLog(bench.evidence, run_info=rig_facts(bench.rig, rigs_dir))
        if bench.evidence.exists():
            reason = f"{reason}; {exc}".lstrip("; ")
    log.run_info[BENCH_KEY] = {"rig": bench.label, "status": status, "reason": reason, "exit_code": code,
                               "log": str(bench.log)}
    log.write()
    return bench_from_log(log, bench.evidence.name)


def rig_facts(rig: str, rigs_dir: Path) -> dict[str, Any]:
    """What the rig file says about the bench, for a run that left no evidence (its devices keep their rows)."""
    from harness.rig import RigError, find_rig, load_rig

    try:
        loaded = load_rig(find_rig(rig, rigs_dir))
    except RigError:
        return {"rig": bench_label(rig)}
    return {"rig": loaded.name, "rig_file": str(loaded.path),
            "devices": [{"name": d.name, "role": d.role, "eui64": d.eui64_text, "profile": d.profile}
                        for d in loaded.devices]}


_EXIT_LINE = re.compile(r"Exit: (.*?)\s*!*\s*$")


def why_it_stopped(log: Path) -> str:
    """The one line a run that did not complete ended with: pytest.exit's message, a usage error, or its last line."""
    try:
        lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError as exc:
        return f"{log}: {exc.strerror or exc}"
    for line in reversed(lines):
        match = _EXIT_LINE.search(line)
        if match:
            return match.group(1)
        if line.startswith("ERROR: "):
            return line[len("ERROR: "):]
    return lines[-1] if lines else "the run printed nothing"
