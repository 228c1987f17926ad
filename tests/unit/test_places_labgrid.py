"""Rigs as labgrid places, against a real labgrid coordinator and exporter on this machine.

The lab (tests/fixtures/labgrid_lab.py) is what a lab runs: labgrid-coordinator, and per bench an
emulated radio on a pty served by Debian's ser2net and published by labgrid-exporter (a test about
the place alone, whose runs never open the radio, has the export without the radio). The runs are
subprocesses, as an engineer types them: ``pytest tests/conformance --rig=bench``, ``harness rig check``.
The tests of this module share one coordinator; each test's places carry its own prefix (``t3-bench-a``),
so a test neither sees nor is disturbed by another's places, and its benches and runs end with it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.inner_runs import UNUSED_PLUGINS
from tests.fixtures.labgrid_lab import (
    BIN,
    REPO,
    Coordinator,
    Lab,
    Run,
    interrupt_as_in_a_terminal,
    place_rig,
    skip_without_lab,
)

#: A whole conformance run through a place takes about 15 s here; this bounds a hang, not the run.
RUN_TIMEOUT_S = 300
#: A run told to stop releases its place and writes its evidence in a second or two; this bounds a hang.
STOP_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coordinator]:
    """One labgrid-coordinator for this module's tests in this worker, started by the first that needs it."""
    skip_without_lab()
    coordinator = Coordinator(tmp_path_factory.mktemp("coordinator"))
    try:
        yield coordinator
    finally:
        coordinator.close()


@pytest.fixture
def lab(coordinator: Coordinator, tmp_path: Path) -> Iterator[Lab]:
    """This test's lab on the module's coordinator: every process the test starts ends with it."""
    coordinator.ensure_running()
    lab = Lab(tmp_path, coordinator, coordinator.prefix())
    try:
        yield lab
    finally:
        lab.close()


def harness(lab: Lab, *args: str, user: str | None = None, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    env = lab.env(**({"LG_USERNAME": user} if user else {}))
    return lab.run_to_end([str(BIN / "harness"), *args], cwd=REPO, env=env, timeout=timeout)


def pytest_run(lab: Lab, *args: str, evidence: Path) -> subprocess.CompletedProcess[str]:
    return lab.run_to_end([sys.executable, "-m", "pytest", *args, *UNUSED_PLUGINS, f"--evidence={evidence}"],
                          cwd=REPO, env=lab.env(), timeout=RUN_TIMEOUT_S)


#: A test file that sits in the run until it is stopped, after saying so.
STUCK = "def test_stuck(rig):\n    print('STUCK', flush=True)\n    import time\n    time.sleep(600)\n"
#: A test file doing what the conformance suite does to make a device rejoin on a real bench.
#: (``python -m pytest`` runs in the repository, so ``tests.fixtures`` imports as a package.)
REJOIN = ("from tests.fixtures.conformance_bench import OperatorBench\n\n"
          "async def test_rejoin(rig):\n"
          "    await OperatorBench(rig, None).rejoin(rig.devices[0])\n")


#: The conformance tests a run through a place needs to show its radio is the exported one: the
#: radio and HAN up, both devices joined, key establishment and an OTA upgrade over that port. The
#: rest of the suite exercises the devices, not the place (and its windows would only add time).
THROUGH_THE_RADIO = "test_rig_ready or test_key_establishment or test_tenancy or test_good_image"


def file_run_argv(tmp_path: Path, source: str, rig: Path, evidence: Path) -> list[str]:
    """pytest on a test file of ``source``, with the repository's ini options (asyncio mode, plugins)."""
    test = tmp_path / "test_in_place.py"
    test.write_text(source, encoding="utf-8")
    return [sys.executable, "-m", "pytest", str(test), f"--rig={rig}", "-s", "-p", "no:cacheprovider", *UNUSED_PLUGINS,
            f"-c={REPO / 'pyproject.toml'}", f"--evidence={evidence}"]


def run_file(lab: Lab, tmp_path: Path, source: str, rig: Path, *, evidence: Path | None = None,
             **env: str) -> subprocess.CompletedProcess[str]:
    argv = file_run_argv(tmp_path, source, rig, evidence or tmp_path / "e.json")
    return lab.run_to_end(argv, cwd=REPO, env=lab.env(**env), timeout=RUN_TIMEOUT_S)


def start_file(lab: Lab, tmp_path: Path, source: str, rig: Path, *, until: str,
               evidence: Path | None = None) -> Run:
    """The run, started as from a terminal (Ctrl-C reaches it), returned once it has printed ``until``
    -- the run's own word that it is inside its test, holding the place. The lab stops it if the test
    ends first."""
    argv = file_run_argv(tmp_path, source, rig, evidence or tmp_path / "e.json")
    run = lab.start_run(argv, cwd=REPO, env=lab.env(), preexec_fn=interrupt_as_in_a_terminal)
    run.wait_for(until, RUN_TIMEOUT_S)
    return run


def last_lines(result: subprocess.CompletedProcess[str], n: int = 15) -> str:
    return "\n".join((result.stdout + result.stderr).splitlines()[-n:])


def test_the_rig_check_acquires_the_place_shows_the_exported_port_and_releases_it(lab: Lab, tmp_path: Path) -> None:
    bench = lab.add_bench("bench-a")
    rig = place_rig(tmp_path, "bench-a", place=bench.place)  # coordinator: $LG_COORDINATOR

    result = harness(lab, "rig", "check", str(rig))

    assert result.returncode == 0, last_lines(result)
    line = next(line for line in result.stdout.splitlines() if "radio port" in line)
    where = f"labgrid place '{bench.place}' (coordinator {lab.address}, from $LG_COORDINATOR)"
    assert f"{where}: acquired" in line
    exported = f"tcp://127.0.0.1:{bench.serial_port} "
    exported += f"(exporter {bench.exporter_name}/radio/NetworkSerialPort/"
    assert exported in line
    assert lab.holder(bench.place) is None, "the place is released when the check ends"


def test_the_conformance_suite_runs_through_the_place(lab: Lab, tmp_path: Path) -> None:
    bench = lab.add_bench("bench-a")
    rig = place_rig(tmp_path, "bench-a", place=bench.place, coordinator=lab.address)
    evidence = tmp_path / "evidence.json"

    result = pytest_run(lab, "tests/conformance", f"--rig={rig}", "-k", THROUGH_THE_RADIO, evidence=evidence)

    assert result.returncode == 0, last_lines(result, 40)
    run = json.loads(evidence.read_text())
    outcomes = [test["outcome"] for test in run["tests"]]
    assert outcomes.count("passed") >= 10, outcomes
    assert "failed" not in outcomes
    assert "tcp://127.0.0.1:" in run["run"]["radio"], run["run"]   # the hub's radio was the exported one
    assert lab.holder(bench.place) is None


def test_a_place_held_by_someone_else_stops_the_run_with_who_and_since_when(lab: Lab, tmp_path: Path) -> None:
    bench = lab.add_bench("bench-a", radio=False)   # its runs hold the place, never open the radio
    lab.client("-p", bench.place, "acquire", user="alice")
    rig = place_rig(tmp_path, "bench-a", place=bench.place)

    result = pytest_run(lab, "tests/conformance", f"--rig={rig}", evidence=tmp_path / "evidence.json")

    assert result.returncode == pytest.ExitCode.INTERRUPTED, last_lines(result)
    stopped = [line for line in result.stdout.splitlines() if "is held by" in line]
    assert len(stopped) == 1, last_lines(result)
    assert f"labgrid place '{bench.place}'" in stopped[0]
    assert "/alice since 20" in stopped[0] and "UTC" in stopped[0]
    assert "Traceback" not in result.stdout + result.stderr
    holder = lab.holder(bench.place)
    assert holder is not None and holder.endswith("/alice"), "the run never took the place from its holder"


def test_a_second_client_is_refused_while_a_run_holds_the_place(lab: Lab, tmp_path: Path) -> None:
    bench = lab.add_bench("bench-a", radio=False)   # its runs hold the place, never open the radio
    rig = place_rig(tmp_path, "bench-a", place=bench.place)
    run = start_file(lab, tmp_path, "def test_hold(rig):\n    print('HOLDING', flush=True)\n    input()\n", rig,
                     until="HOLDING")  # holds the place until told to end

    refused = lab.client("-p", bench.place, "acquire", user="bob", check=False)

    assert refused.returncode != 0
    assert "already acquired" in refused.stdout + refused.stderr
    holder = lab.holder(bench.place)
    assert holder is not None and not holder.endswith("/bob"), "the run holds the place, and still does"
    output = run.finish("\n", timeout=RUN_TIMEOUT_S, after=" of its end of input")
    assert run.returncode == 0, output[-3000:]
    assert lab.holder(bench.place) is None


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
def test_a_run_ended_by_a_signal_releases_the_place_and_keeps_its_evidence(lab: Lab, tmp_path: Path, how: str) -> None:
    bench = lab.add_bench("bench-a", radio=False)   # its runs hold the place, never open the radio
    rig = place_rig(tmp_path, "bench-a", place=bench.place)
    evidence = tmp_path / "evidence.json"
    run = start_file(lab, tmp_path, "def test_first(rig):\n    pass\n\n\n" + STUCK, rig, evidence=evidence, until="STUCK")
    assert lab.holder(bench.place) is not None

    run.process.send_signal(getattr(signal, how))
    output = run.finish(timeout=STOP_TIMEOUT_S, after=f" of {how}")

    assert lab.holder(bench.place) is None, output[-3000:]
    tests = {test["nodeid"].split("::")[-1]: test["outcome"] for test in json.loads(evidence.read_text())["tests"]}
    assert tests == {"test_first": "passed", "test_stuck": None}, "the finished test's evidence is kept"


def test_after_a_killed_run_the_place_says_it_is_yours_and_labgrid_client_releases_it(lab: Lab, tmp_path: Path) -> None:
    bench = lab.add_bench("bench-a", radio=False)   # its runs hold the place, never open the radio
    rig = place_rig(tmp_path, "bench-a", place=bench.place)
    run = start_file(lab, tmp_path, STUCK, rig, until="STUCK")
    run.process.kill()  # SIGKILL: nothing in the run can release the place
    run.finish(timeout=STOP_TIMEOUT_S, after=" of SIGKILL")

    again = harness(lab, "rig", "check", str(rig))   # the coordinator still has the place as this user's
    assert again.returncode != 0
    refused = next(line for line in again.stdout.splitlines() if "radio port" in line)
    assert "is already held by you" in refused
    assert f"labgrid-client -x {lab.address} -p {bench.place} release" in refused

    lab.client("-p", bench.place, "release")   # what the line tells the engineer to type
    # The next run of this user acquires the place again (bringing its radio up is another test's).
    again = run_file(lab, tmp_path, "def test_the_place_is_free(rig):\n    pass\n", rig)
    assert again.returncode == 0, last_lines(again)


def test_a_missing_place_an_absent_exporter_and_an_unreachable_coordinator_each_stop_the_run_with_one_line(
        lab: Lab, tmp_path: Path) -> None:
    # None of the three runs gets as far as a radio: the places need no bench behind them.
    other, idle = lab.place("bench-a"), lab.place("bench-z")
    for place in (other, idle):
        lab.admin.create(place)
        lab.admin.add_match(place, f"{place}-host/radio/NetworkSerialPort")   # its exporter never started
    missing = place_rig(tmp_path, "nowhere", place=lab.place("no-such-bench"))
    no_exporter = place_rig(tmp_path, "bench-z", place=idle)
    dead = tmp_path / "dead"
    dead.mkdir()
    unreachable = place_rig(dead, "dead", place=other, coordinator="127.0.0.1:1")

    said = {}
    for rig, expected in ((missing, f"labgrid place '{lab.place('no-such-bench')}' (coordinator "),
                          (no_exporter, "has no matching remote resource (is the bench's labgrid-exporter running?)"),
                          (unreachable, "labgrid coordinator 127.0.0.1:1 (rig key radio.coordinator) is not reachable")):
        result = pytest_run(lab, "tests/conformance", f"--rig={rig}", evidence=tmp_path / "e.json")
        assert result.returncode == pytest.ExitCode.INTERRUPTED, last_lines(result)
        lines = [line for line in result.stdout.splitlines() if expected in line]
        assert len(lines) == 1, last_lines(result)
        assert "Traceback" not in result.stdout + result.stderr
        said[rig] = lines[0]
    places = lab.places()   # every place there, this test's and any other's on the coordinator
    assert other in places and idle in places, places
    assert f"does not exist (places there: {', '.join(sorted(places))})" in said[missing]
    assert lab.holder(idle) is None


def test_a_radio_withdrawn_mid_run_fails_the_next_test_clearly_and_keeps_the_evidence(lab: Lab, tmp_path: Path) -> None:
    bench = lab.add_bench("bench-a")
    rig = place_rig(tmp_path, "bench-a", place=bench.place)
    evidence = tmp_path / "evidence.json"
    # The hub gives a lost radio 30 s to come back (real USB radios re-enumerate); this bench's never
    # does, so the run's hub waits 1 s: how long it waits is not what this test is about.
    source = ("import asyncio\n\n"
              "async def test_before(hub):\n    assert hub.radio_facts()['radio']\n"
              "    hub.settings = hub.settings.replace(reconnect_timeout_s=1.0)\n\n\n"
              "def test_the_bench_goes_away():\n    print('WITHDRAW', flush=True)\n    input()\n\n\n"
              "async def test_after(hub):\n"
              "    async with asyncio.timeout(120):\n"
              "        while hub.radio_gone is None:  # the hub tries to get its radio back, within its bounds\n"
              "            await asyncio.sleep(0.2)\n"
              "    hub.radio_facts()\n")
    run = start_file(lab, tmp_path, source, rig, evidence=evidence, until="WITHDRAW")

    lab.withdraw_radio("bench-a")   # the bench machine's exporter and ser2net stop
    output = run.finish("\n", timeout=RUN_TIMEOUT_S, after=" of its radio's withdrawal")

    assert run.returncode == pytest.ExitCode.TESTS_FAILED, output[-3000:]
    withdrawn = f"withdrew the serial radio {bench.exporter_name}/radio/NetworkSerialPort/NetworkSerialPort"
    assert withdrawn in output, output[-3000:]
    tests = {test["nodeid"].split("::")[-1]: test["outcome"] for test in json.loads(evidence.read_text())["tests"]}
    assert tests["test_before"] == "passed" and tests["test_after"] == "failed"


def test_power_through_the_place_switches_labgrid_s_power_resource_off_then_on(lab: Lab, tmp_path: Path) -> None:
    bench = lab.add_bench("bench-a", power=True)
    rig = place_rig(tmp_path, "bench-a", place=bench.place, power='\n[power]\nkind = "place"\n')

    result = run_file(lab, tmp_path, REJOIN, rig)

    assert result.returncode == 0, last_lines(result, 40)
    assert bench.power is not None and bench.power.switched == [(0, 0), (0, 1)]   # off, then on, by labgrid's driver


def test_power_through_a_place_without_a_power_resource_fails_the_test_saying_so(lab: Lab, tmp_path: Path) -> None:
    bench = lab.add_bench("bench-a", radio=False)   # its runs hold the place, never open the radio
    rig = place_rig(tmp_path, "bench-a", place=bench.place, power='\n[power]\nkind = "place"\n')

    result = run_file(lab, tmp_path, REJOIN, rig)

    assert result.returncode == pytest.ExitCode.TESTS_FAILED
    assert "needs exactly one power resource for [power] kind = 'place' (found: none)" in result.stdout, \
        last_lines(result, 20)


def test_the_emulated_rig_is_untouched_by_labgrid(tmp_path: Path) -> None:
    """No place, no coordinator: a run on the CI rig never loads labgrid's client."""
    probe = tmp_path / "test_probe.py"
    probe.write_text("import sys\n\ndef test_probe(rig):\n    assert 'harness.places' not in sys.modules\n")
    result = subprocess.run([sys.executable, "-m", "pytest", str(probe), "--rig=emulated", f"-c={REPO / 'pyproject.toml'}",
                             "-p", "no:cacheprovider", *UNUSED_PLUGINS, f"--evidence={tmp_path / 'e.json'}"],
                            cwd=REPO, env={**os.environ, "CI": "true"}, text=True, capture_output=True, timeout=120)
    assert result.returncode == 0, last_lines(result)


def test_two_benches_run_at_once_and_merge_into_one_report_where_a_missing_bench_shows(lab: Lab, tmp_path: Path) -> None:
    for name in ("bench-a", "bench-b"):
        lab.add_bench(name)
    # No place bench-c exists.
    rigs = [place_rig(tmp_path, name, place=lab.place(name)) for name in ("bench-a", "bench-b", "bench-c")]
    html = tmp_path / "signoff.html"

    result = harness(lab, "signoff", *(f"--rig={rig}" for rig in rigs), "--html", str(html),
                     "--", "-k", "test_rig_ready or test_key_establishment", *UNUSED_PLUGINS)

    assert result.returncode == 2, last_lines(result)   # a bench did not complete
    said = dict(line.split(": ", 1) for line in result.stdout.splitlines() if line.startswith("bench-") and "test(s)" in line)
    assert said["bench-a"].startswith("completed;") and said["bench-b"].startswith("completed;"), said
    assert said["bench-c"].startswith(f"stopped (rig 'bench-c' is not ready: radio port: labgrid place "
                                      f"'{lab.place('bench-c')}'"), said
    places = lab.places()   # every place there, this test's and any other's on the coordinator
    assert lab.place("bench-a") in places and lab.place("bench-b") in places, places
    assert f"does not exist (places there: {', '.join(sorted(places))})" in said["bench-c"]
    page = html.read_text(encoding="utf-8")
    for row in ("bench-a · ihd1", "bench-a · ppmid1", "bench-b · ihd1", "bench-b · ppmid1",
                "bench-c · ihd1 — bench stopped", "bench-c · ppmid1 — bench stopped"):
        assert f"<strong>{row}</strong>" in page, row
    assert re.search(r"Overall verdict </strong><span class=\"hh-verdict [^\"]+\"[^>]*>INCOMPLETE", page)
    assert page.count("Rig bench-") == 3    # each rig's own run header and tests
    for name in ("bench-a", "bench-b"):     # each bench ran its own suite on its own radio
        evidence = json.loads((tmp_path / "signoff.signoff" / f"{name}.evidence.json").read_text())
        assert evidence["run"]["bench"]["status"] == "completed"
        assert evidence["run"]["radio"].endswith(f":{lab.benches[name].serial_port}")

    files = sorted((tmp_path / "signoff.signoff").glob("*.evidence.json"))
    again = harness(lab, "report", "render", *map(str, files), "-o", str(tmp_path / "again.html"))
    assert again.returncode == 0, last_lines(again)
    assert "<strong>bench-c · ihd1 — bench stopped</strong>" in (tmp_path / "again.html").read_text(encoding="utf-8")
