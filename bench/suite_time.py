"""Wall time of the conformance suite on the emulated rig, its fixed costs, and where the time goes.

    .venv/bin/python bench/suite_time.py [--runs 3] [--rig emulated] [--profile] [-- PYTEST ARGS...]
    .venv/bin/python bench/suite_time.py --all [--runs 3]      # the default `pytest` run instead
    .venv/bin/python bench/suite_time.py --workers 2 [--runs 3]  # and the suite under pytest -n 2, alternately

With ``--all``: runs plain ``pytest`` (the default testpaths, what ``.ci/run`` runs) and prints the
wall time per run, the median, and the slowest ten tests (setup + call + teardown, median over
the runs; a test whose setup starts a shared run carries that run's time).

Runs ``pytest tests/conformance --rig RIG`` in a fresh process ``--runs`` times (as CI does) and
prints, as medians:
  * total wall time of the process (interpreter, imports, collection, rig check, tests, exit)
    and its CPU time (user + system; the suite has 2 cores: host loop thread + emulator thread);
  * the fixed costs: interpreter + imports + collection; the rig check of the rig's files (at
    collection's end); the session hub's start, which is the radio check (the first test's setup:
    a fresh emulated NCP, bellows start, formation, every device joined); per test setup +
    teardown;
  * where the rest goes: test calls, the slowest ones, and how much of each is a deliberate
    wait (a quiet window, WAIT_FOR_DATA, an activation countdown) -- read from the test names and
    the suite's own windows, so check the table against the code when the suite changes;
  * for comparison, what a fresh NCP start-up plus joining every device costs in-process
    (bench/startup_join.py), i.e. the fixed cost per test if each test started its own hub.
With ``--workers N``, each round also runs the suite under ``pytest -n N`` (pytest-xdist: each worker
its own emulated radio and HAN, the evidence merged), alternately with the plain run, and prints both
medians and their ratio; the breakdown above is the plain run's.
With --profile, one more run with the main thread under cProfile: time by package, idle (epoll,
locks: waiting on the NCP, a device or a timer) apart from CPU.
The suite's own plugin is untouched: timing comes from bench/suite_timer_plugin.py, loaded with -p.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import benchlib as b

BENCH = Path(__file__).resolve().parent


def run_suite(rig: str | None, extra: list[str], profile_to: Path | None = None) -> dict:
    """One fresh pytest process; ``rig`` None runs the default ``pytest`` (every testpath, default rig)."""
    with tempfile.TemporaryDirectory(prefix="harness-suite-") as tmp:
        times_file = Path(tmp) / "times.json"
        env = dict(os.environ, HARNESS_SUITE_TIMES=str(times_file),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(BENCH), os.environ.get("PYTHONPATH")])))
        if profile_to is not None:
            env["HARNESS_SUITE_PROFILE"] = str(profile_to)
        target = [] if rig is None else ["tests/conformance", f"--rig={rig}"]
        command = [sys.executable, "-m", "pytest", *target, "-q", "-rf", "-p", "suite_timer_plugin", *extra]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, cwd=b.REPO, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if not times_file.exists():
            raise SystemExit(f"the suite did not run (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        data = json.loads(times_file.read_text())
    data["wall_s"] = wall
    data["process_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    data["summary"] = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0:
        # A failure in a timing run is rare and load-dependent: keep why, or it is lost with the run.
        kept = Path(tempfile.mkdtemp(prefix="harness-suite-failed-")) / "output.txt"
        kept.write_text(done.stdout + "\n" + done.stderr)
        data["output_kept"] = str(kept)
    return data


def known_waits(rig_name: str, extra: list[str]) -> dict[str, tuple[str, float]]:
    """Deliberate waits inside a test's call, by test function: (what, seconds).

    Read from the suite's own windows -- the run's quiet window (``--quiet-window`` in ``extra``,
    else the rig's ``[hub] quiet_window_s``, else the suite's default), the WAIT_FOR_DATA windows
    and paced blocks the tests ask for, the upgrade-at delay, the device's re-ask after "wait" --
    and shown next to the measured call time, not subtracted from it. Per device where the rig
    gives the figure per device (the re-ask: its first device's).
    """
    sys.path.insert(0, str(b.REPO))
    from harness.rig import load_rig
    from tests.conformance import test_ota_transfer as transfer
    from tests.conformance import test_ota_upgrade as upgrade
    from tests.conformance.conftest import quiet_window

    rig = load_rig(b.REPO / "rigs" / f"{rig_name}.toml") if "/" not in rig_name else load_rig(Path(rig_name))
    option = next((float(a.split("=", 1)[1]) for a in extra if a.startswith("--quiet-window=")), None)
    quiet = quiet_window(option, rig)
    quiet_what = f"quiet window ({quiet:g} s: --quiet-window, else the rig's [hub] quiet_window_s, else 3 s)"
    reask = next((d.emulation.upgrade_reask_s for d in rig.devices if d.emulation is not None), None)
    paced = transfer.PACED_BLOCKS * transfer.NEW_BLOCK_PERIOD["ms"] / 1000
    waits = {name: (quiet_what, quiet) for name in (
        "test_image_for_another_manufacturer_is_not_taken", "test_device_ignores_an_unencrypted_ota_server_command",
        "test_device_keeps_its_link_with_the_ch_keep_alive_server")}
    # A device that downloads the header and then refuses ends this one with its Upgrade End, sooner.
    waits["test_device_refuses_an_image_not_meant_for_it"] = (f"up to the {quiet_what}", quiet)
    waits["test_wait_for_data_is_honoured"] = (
        f"two WAIT_FOR_DATA of {transfer.WAIT_S:g} s + {transfer.PACED_BLOCKS} paced blocks (ms devices)",
        2 * transfer.WAIT_S + paced)
    waits["test_upgrade_at_a_time_runs_the_image_at_that_time"] = ("the upgrade time T", float(upgrade.AT_DELAY_S))
    if reask is not None:
        waits["test_upgrade_wait_holds_the_image_until_told"] = ("the device's re-ask after 'wait'", reask)
    return waits


def describe(runs: list[dict], fresh_start_join: list[float], waits: dict[str, tuple[str, float]]) -> None:
    med = b.median
    first = runs[0]
    tests = list(first["tests"])
    outcomes = Counter(t["outcome"] for t in first["tests"].values())
    wall = med([r["wall_s"] for r in runs])
    cpu = med([r["process_cpu_s"] for r in runs])
    session = med([r["session_end"] - r["session_start"] for r in runs])
    startup = wall - session
    rig_check = med([r.get("rig_check_s", 0.0) for r in runs])
    setups = {n: med([r["tests"][n]["setup"] for r in runs if n in r["tests"]]) for n in tests}
    calls = {n: med([r["tests"][n]["call"] for r in runs if n in r["tests"]]) for n in tests}
    teardowns = {n: med([r["tests"][n]["teardown"] for r in runs if n in r["tests"]]) for n in tests}
    hub_start_test = max(setups, key=setups.get)
    hub_start = setups[hub_start_test]
    per_test = [setups[n] + teardowns[n] for n in tests if n != hub_start_test]
    print(f"# conformance suite on the emulated rig: {len(tests)} tests ({dict(outcomes)}), {len(runs)} runs; "
          f"last summary: {first['summary']}")
    print(f"total wall time         median {wall:6.1f} s  (min {min(r['wall_s'] for r in runs):.1f}, "
          f"max {max(r['wall_s'] for r in runs):.1f})   target <= 15 s on 2 cores (issue 15)")
    print(f"process CPU time        median {cpu:6.1f} s  ({cpu / wall:.0%} of wall: the rest is waiting)")
    print("fixed costs:")
    print(f"  interpreter + imports + pytest start-up   {startup:6.2f} s")
    print(f"  collection + rig check (the rig's files; no radio yet)  {rig_check:6.2f} s")
    print(f"  session hub start = the radio check (first test's setup: fresh NCP, bellows start, formation, "
          f"every device joined)  {hub_start:6.2f} s")
    print(f"  per test setup + teardown: median {med(per_test) * 1000:.0f} ms, total {sum(per_test):.2f} s")
    print(f"  a fresh NCP + bellows start + every device joined, in-process (bench/startup_join.py): "
          f"median {med(fresh_start_join):.2f} s -- the fixed cost per test if each started its own hub")
    total_calls = sum(calls.values())
    print(f"test calls: {total_calls:.2f} s in all; slowest:")
    def function(name: str) -> str:
        return name.split("::")[-1].split("[")[0]

    for name in sorted(calls, key=calls.get, reverse=True)[:8]:
        wait = waits.get(function(name))
        note = f"  of which {wait[1]:.2f} s {wait[0]}" if wait else ""
        print(f"  {calls[name]:6.2f} s  {name.split('::')[-1]}{note}")
    deliberate = sum(waits[function(n)][1] for n in tests
                     if function(n) in waits and first["tests"][n]["outcome"] != "skipped")
    print(f"  deliberate waits in the calls (the table above, every test that ran): up to {deliberate:.2f} s")
    accounted = startup + rig_check + hub_start + sum(per_test) + total_calls
    print(f"unaccounted (session teardown, between tests): {wall - accounted:.2f} s")


def compare_workers(plain: list[dict], split: list[dict], workers: int) -> None:
    """The same suite under ``pytest -n workers``, run alternately with the plain runs."""
    wall, cpu = b.median([r["wall_s"] for r in split]), b.median([r["process_cpu_s"] for r in split])
    plain_wall = b.median([r["wall_s"] for r in plain])
    print(f"# the same suite under pytest -n {workers} (each worker its own emulated radio and HAN), "
          f"{len(split)} runs alternating with the above; last summary: {split[-1]['summary']}")
    print(f"total wall time         median {wall:6.1f} s  (min {min(r['wall_s'] for r in split):.1f}, "
          f"max {max(r['wall_s'] for r in split):.1f})   target <= 15 s on 2 cores (issue 15)")
    print(f"process CPU time        median {cpu:6.1f} s  (all {workers + 1} processes)")
    print(f"ratio -n {workers}/plain: wall {wall / plain_wall:.2f}x")


def describe_all(runs: list[dict]) -> None:
    """The default run: wall time per run and the slowest ten tests."""
    walls = [r["wall_s"] for r in runs]
    print(f"# default `pytest`: {len(runs)} runs; last summary: {runs[-1]['summary']}")
    print(f"wall time per run: {', '.join(f'{w:.1f}' for w in walls)} s; median {b.median(walls):.1f} s   "
          "target <= 150 s on 2 cores")
    names = set().union(*(r["tests"] for r in runs))
    total = {n: b.median([sum(r["tests"][n][k] for k in ("setup", "call", "teardown")) for r in runs if n in r["tests"]])
             for n in names}
    failed = sorted({n for r in runs for n, t in r["tests"].items() if t["outcome"] not in ("passed", "skipped")})
    for name in failed:
        print(f"  not passed in some run: {name}")
    for run in runs:
        if "output_kept" in run:
            print(f"  a run's whole output (it did not pass): {run['output_kept']}")
    print("slowest ten tests (setup + call + teardown, median):")
    for name in sorted(total, key=total.get, reverse=True)[:10]:
        print(f"  {total[name]:6.2f} s  {name}")
    for index, run in enumerate(runs, start=1):
        describe_workers(index, run)


def describe_workers(index: int, run: dict) -> None:
    """Each worker's busy time and when it ran out of tests, and when the run's slowest test started:
    under pytest-xdist the run lasts as long as its last worker, and a long test started late is
    what keeps the others idle at the end."""
    busy: dict[str, float] = {}
    done: dict[str, float] = {}
    for entry in run["tests"].values():
        if "worker" not in entry:
            continue
        worker = entry["worker"]
        busy[worker] = busy.get(worker, 0.0) + sum(entry[k] for k in ("setup", "call", "teardown"))
        done[worker] = max(done.get(worker, 0.0), entry["stop"])
    if not busy:
        return
    slowest, entry = max(run["tests"].items(), key=lambda item: sum(item[1][k] for k in ("setup", "call", "teardown")))
    workers = "; ".join(f"{w} busy {busy[w]:.0f} s, done at {done[w]:.0f} s"
                        for w in sorted(busy, key=lambda w: (len(w), w)))
    print(f"run {index} workers: {workers}")
    print(f"run {index} slowest test started at {entry['start']:.0f} s on {entry['worker']}, ended at "
          f"{entry['stop']:.0f} s: {slowest}")


def show_profile(path: Path) -> None:
    stats = pstats.Stats(str(path))
    groups: Counter[str] = Counter()
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if "method 'poll' of 'select.epoll'" in name or "acquire' of '_thread.lock" in name:
            group = "(idle: epoll/locks)"
        else:
            group = next((g for g, m in (("harness/hub", "/harness/hub/"), ("harness/emulator", "/harness/emulator/"),
                                         ("harness (other)", "/harness/"), ("tests", "/tests/"), ("zigpy", "/zigpy/"),
                                         ("bellows", "/bellows/"), ("pytest", "pytest"), ("asyncio", "/asyncio/"))
                          if m in filename), "builtins (C)" if filename.startswith(("~", "<")) else "stdlib/other")
        groups[group] += tottime
    total = sum(groups.values())
    print(f"\n# profile: main thread (pytest, event loop, zigpy, bellows, hub), {total:.1f} s under cProfile")
    for group, seconds in groups.most_common():
        print(f"    {group:22} {seconds:6.2f} s {seconds / total:6.1%}")
    print("slowest harness/test functions by cumulative time:")
    stats.sort_stats("cumulative").print_stats(r"(harness|tests)/", 15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rig", default="emulated")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--all", action="store_true", help="time the default `pytest` run (every testpath) instead")
    parser.add_argument("--fresh-runs", type=int, default=3, help="in-process fresh start+join runs (default 3)")
    parser.add_argument("--workers", type=int, default=0,
                        help="also run the suite under pytest -n WORKERS, alternately, and compare")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args()
    print(b.machine_line())
    if args.all:
        describe_all([run_suite(None, args.pytest_args) for _ in range(args.runs)])
        print(f"({b.machine_line()})")
        return
    runs: list[dict] = []
    split: list[dict] = []
    for _ in range(args.runs):
        runs.append(run_suite(args.rig, args.pytest_args))
        if args.workers:
            split.append(run_suite(args.rig, [*args.pytest_args, "-n", str(args.workers)]))
    import startup_join

    b.quiet_logs()

    async def fresh() -> list[float]:
        asyncio.get_running_loop().set_exception_handler(b.ignore_closed_connection_noise)
        out = []
        for _ in range(args.fresh_runs):
            r = await startup_join.one_run(b.RIG_FILE, "ppmid1", "ppmid-next")
            out.append(r["radio"] + r["hub start"] + r["join all"])
        return out

    describe(runs, asyncio.run(fresh()), known_waits(args.rig, args.pytest_args))
    if split:
        compare_workers(runs, split, args.workers)
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="harness-suite-prof-") as tmp:
            path = Path(tmp) / "suite.prof"
            run_suite(args.rig, args.pytest_args, profile_to=path)
            show_profile(path)
    print(f"({b.machine_line()})")


if __name__ == "__main__":
    main()
