"""Rigs as labgrid places, against a real labgrid coordinator and exporter on this machine.

The lab (tests/unit/labgrid_lab.py) is what a lab runs: labgrid-coordinator, and per bench an
emulated radio on a pty served by Debian's ser2net and published by labgrid-exporter. The runs are
subprocesses, as an engineer types them: ``pytest tests/conformance --rig=bench``, ``harness rig check``.
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

from tests.fixtures.labgrid_lab import BIN, REPO, Lab, interrupt_as_in_a_terminal, place_rig, skip_without_lab

#: A whole conformance run through a place takes about 15 s here; this bounds a hang, not the run.
RUN_TIMEOUT_S = 300
#: A run told to stop releases its place and writes its evidence in a second or two; this bounds a hang.
STOP_TIMEOUT_S = 60


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    skip_without_lab()
    lab = Lab(tmp_path)
    try:
        lab.start_coordinator()
        yield lab
    finally:
        lab.close()


def harness(lab: Lab, *args: str, user: str | None = None, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    env = lab.env(**({"LG_USERNAME": user} if user else {}))
    return subprocess.run([str(BIN / "harness"), *args], cwd=REPO, env=env, text=True,
                          capture_output=True, timeout=timeout)


#: Left out of every run here: hypothesis's pytest plugin, about 1 s of each run's start-up, used by none of them.
UNUSED_PLUGINS = ("-p", "no:hypothesispytest")


def pytest_run(lab: Lab, *args: str, evidence: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", *args, *UNUSED_PLUGINS, f"--evidence={evidence}"],
                          cwd=REPO, env=lab.env(), text=True, capture_output=True, timeout=RUN_TIMEOUT_S)


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
    return subprocess.run(argv, cwd=REPO, env=lab.env(**env), text=True, capture_output=True, timeout=RUN_TIMEOUT_S)


def start_file(lab: Lab, tmp_path: Path, source: str, rig: Path, *, evidence: Path | None = None,
               until: str | None = None) -> subprocess.Popen[str]:
    """The run, started as from a terminal (Ctrl-C reaches it); with ``until``, returned once it has
    printed that word -- the run's own word that it is inside its test, holding the place."""
    argv = file_run_argv(tmp_path, source, rig, evidence or tmp_path / "e.json")
    run = subprocess.Popen(argv, cwd=REPO, env=lab.env(), text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, preexec_fn=interrupt_as_in_a_terminal)
    if until is not None:
        assert run.stdout is not None
        for line in run.stdout:
            if until in line:
                break
        else:
            pytest.fail(f"the run ended before printing {until!r}", pytrace=False)
    return run


def last_lines(result: subprocess.CompletedProcess[str], n: int = 15) -> str:
    return "\n".join((result.stdout + result.stderr).splitlines()[-n:])


def test_the_rig_check_acquires_the_place_shows_the_exported_port_and_releases_it(lab: Lab, tmp_path: Path) -> None:
    bench = lab.add_bench("bench-a")
    rig = place_rig(tmp_path, "bench-a")  # coordinator from $LG_COORDINATOR, as labgrid's own tools read it

    result = harness(lab, "rig", "check", str(rig))

    assert result.returncode == 0, last_lines(result)
    line = next(line for line in result.stdout.splitlines() if "radio port" in line)
    assert f"labgrid place 'bench-a' (coordinator {lab.address}, from $LG_COORDINATOR): acquired" in line
    assert f"socket://127.0.0.1:{bench.serial_port} (exporter bench-a-host/radio/NetworkSerialPort/" in line
    assert lab.holder("bench-a") is None, "the place is released when the check ends"


def test_the_conformance_suite_runs_through_the_place(lab: Lab, tmp_path: Path) -> None:
    lab.add_bench("bench-a")
    rig = place_rig(tmp_path, "bench-a", coordinator=lab.address)
    evidence = tmp_path / "evidence.json"

    result = pytest_run(lab, "tests/conformance", f"--rig={rig}", "-k", THROUGH_THE_RADIO, evidence=evidence)

    assert result.returncode == 0, last_lines(result, 40)
    run = json.loads(evidence.read_text())
    outcomes = [test["outcome"] for test in run["tests"]]
    assert outcomes.count("passed") >= 10, outcomes
    assert "failed" not in outcomes
    assert "socket://127.0.0.1:" in run["run"]["radio"], run["run"]   # the hub's radio was the exported one
    assert lab.holder("bench-a") is None


def test_a_place_held_by_someone_else_stops_the_run_with_who_and_since_when(lab: Lab, tmp_path: Path) -> None:
    lab.add_bench("bench-a")
    lab.client("-p", "bench-a", "acquire", user="alice")
    rig = place_rig(tmp_path, "bench-a")

    result = pytest_run(lab, "tests/conformance", f"--rig={rig}", evidence=tmp_path / "evidence.json")

    assert result.returncode == pytest.ExitCode.INTERRUPTED, last_lines(result)
    stopped = [line for line in result.stdout.splitlines() if "is held by" in line]
    assert len(stopped) == 1, last_lines(result)
    assert "labgrid place 'bench-a'" in stopped[0] and "/alice since 20" in stopped[0] and "UTC" in stopped[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert lab.holder("bench-a").endswith("/alice"), "the run never took the place from its holder"


def test_a_second_client_is_refused_while_a_run_holds_the_place(lab: Lab, tmp_path: Path) -> None:
    lab.add_bench("bench-a")
    rig = place_rig(tmp_path, "bench-a")
    run = start_file(lab, tmp_path, "def test_hold(rig):\n    print('HOLDING', flush=True)\n    input()\n", rig,
                     until="HOLDING")  # holds the place until told to end
    try:
        assert lab.holder("bench-a") is not None

        refused = lab.client("-p", "bench-a", "acquire", user="bob", check=False)

        assert refused.returncode != 0
        assert "already acquired" in refused.stdout + refused.stderr
        assert not lab.holder("bench-a").endswith("/bob")
    finally:
        run.communicate("\n", timeout=RUN_TIMEOUT_S)
    assert run.returncode == 0
    assert lab.holder("bench-a") is None


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
def test_a_run_ended_by_a_signal_releases_the_place_and_keeps_its_evidence(lab: Lab, tmp_path: Path, how: str) -> None:
    lab.add_bench("bench-a")
    rig = place_rig(tmp_path, "bench-a")
    evidence = tmp_path / "evidence.json"
    run = start_file(lab, tmp_path, "def test_first(rig):\n    pass\n\n\n" + STUCK, rig, evidence=evidence, until="STUCK")
    assert lab.holder("bench-a") is not None

    run.send_signal(getattr(signal, how))
    try:
        output = run.communicate(timeout=STOP_TIMEOUT_S)[0]
    except subprocess.TimeoutExpired:
        run.kill()
        pytest.fail(f"the run did not end within {STOP_TIMEOUT_S} s of {how}: {run.communicate()[0][-2000:]}")

    assert lab.holder("bench-a") is None, output
    tests = {test["nodeid"].split("::")[-1]: test["outcome"] for test in json.loads(evidence.read_text())["tests"]}
    assert tests == {"test_first": "passed", "test_stuck": None}, "the finished test's evidence is kept"


def test_after_a_killed_run_the_place_says_it_is_yours_and_labgrid_client_releases_it(lab: Lab, tmp_path: Path) -> None:
    lab.add_bench("bench-a")
    rig = place_rig(tmp_path, "bench-a")
    run = start_file(lab, tmp_path, STUCK, rig, until="STUCK")
    run.kill()  # SIGKILL: nothing in the run can release the place
    run.communicate(timeout=RUN_TIMEOUT_S)
    assert lab.holder("bench-a") is not None

    again = harness(lab, "rig", "check", str(rig))
    assert again.returncode != 0
    refused = next(line for line in again.stdout.splitlines() if "radio port" in line)
    assert "is already held by you" in refused and f"labgrid-client -x {lab.address} -p bench-a release" in refused

    lab.client("-p", "bench-a", "release")   # what the line tells the engineer to type
    assert harness(lab, "rig", "check", str(rig)).returncode == 0


def test_a_missing_place_an_absent_exporter_and_an_unreachable_coordinator_each_stop_the_run_with_one_line(
        lab: Lab, tmp_path: Path) -> None:
    lab.add_bench("bench-a")
    lab.client("-p", "bench-z", "create")
    lab.client("-p", "bench-z", "add-match", "bench-z-host/radio/NetworkSerialPort")   # its exporter never started
    missing = place_rig(tmp_path, "nowhere", place="no-such-bench")
    no_exporter = place_rig(tmp_path, "bench-z")
    dead = tmp_path / "dead"
    dead.mkdir()
    unreachable = place_rig(dead, "dead", place="bench-a", coordinator="127.0.0.1:1")

    for rig, expected in ((missing, "labgrid place 'no-such-bench' (coordinator "),
                          (no_exporter, "has no matching remote resource (is the bench's labgrid-exporter running?)"),
                          (unreachable, "labgrid coordinator 127.0.0.1:1 (rig key radio.coordinator) is not reachable")):
        result = pytest_run(lab, "tests/conformance", f"--rig={rig}", evidence=tmp_path / "e.json")
        assert result.returncode == pytest.ExitCode.INTERRUPTED, last_lines(result)
        lines = [line for line in result.stdout.splitlines() if expected in line]
        assert len(lines) == 1, last_lines(result)
        assert "Traceback" not in result.stdout + result.stderr
    assert "does not exist (places there: bench-a, bench-z)" in result_line(missing, lab, tmp_path)
    assert lab.holder("bench-z") is None


def result_line(rig: Path, lab: Lab, tmp_path: Path) -> str:
    result = harness(lab, "rig", "check", str(rig))
    return next(line for line in result.stdout.splitlines() if "radio port" in line)


def test_a_radio_withdrawn_mid_run_fails_the_next_test_clearly_and_keeps_the_evidence(lab: Lab, tmp_path: Path) -> None:
    lab.add_bench("bench-a")
    rig = place_rig(tmp_path, "bench-a")
    evidence = tmp_path / "evidence.json"
    # The hub gives a lost radio 30 s to come back (real USB radios re-enumerate); this bench's never
    # does, so the run's hub waits 3 s: how long it waits is not what this test is about.
    source = ("import asyncio\n\n"
              "async def test_before(hub):\n    assert hub.radio_facts()['radio']\n"
              "    hub.settings = hub.settings.replace(reconnect_timeout_s=3.0)\n\n\n"
              "def test_the_bench_goes_away():\n    print('WITHDRAW', flush=True)\n    input()\n\n\n"
              "async def test_after(hub):\n"
              "    async with asyncio.timeout(120):\n"
              "        while hub.radio_gone is None:  # the hub tries to get its radio back, within its bounds\n"
              "            await asyncio.sleep(0.2)\n"
              "    hub.radio_facts()\n")
    run = start_file(lab, tmp_path, source, rig, evidence=evidence, until="WITHDRAW")

    lab.withdraw_radio("bench-a")   # the bench machine's exporter and ser2net stop
    output = run.communicate("\n", timeout=RUN_TIMEOUT_S)[0]

    assert run.returncode == pytest.ExitCode.TESTS_FAILED, output[-3000:]
    assert "withdrew the serial radio bench-a-host/radio/NetworkSerialPort/NetworkSerialPort" in output, output[-3000:]
    tests = {test["nodeid"].split("::")[-1]: test["outcome"] for test in json.loads(evidence.read_text())["tests"]}
    assert tests["test_before"] == "passed" and tests["test_after"] == "failed"


def test_power_through_the_place_switches_labgrid_s_power_resource_off_then_on(lab: Lab, tmp_path: Path) -> None:
    bench = lab.add_bench("bench-a", power=True)
    rig = place_rig(tmp_path, "bench-a", power='\n[power]\nkind = "place"\n')

    result = run_file(lab, tmp_path, REJOIN, rig)

    assert result.returncode == 0, last_lines(result, 40)
    assert bench.power is not None and bench.power.switched == [(0, 0), (0, 1)]   # off, then on, by labgrid's driver


def test_power_through_a_place_without_a_power_resource_fails_the_test_saying_so(lab: Lab, tmp_path: Path) -> None:
    lab.add_bench("bench-a")
    rig = place_rig(tmp_path, "bench-a", power='\n[power]\nkind = "place"\n')

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
    rigs = [place_rig(tmp_path, name) for name in ("bench-a", "bench-b", "bench-c")]  # no place bench-c exists
    html = tmp_path / "signoff.html"

    result = harness(lab, "signoff", *(f"--rig={rig}" for rig in rigs), "--html", str(html),
                     "--", "-k", "test_rig_ready or test_key_establishment", *UNUSED_PLUGINS)

    assert result.returncode == 2, last_lines(result)   # a bench did not complete
    said = dict(line.split(": ", 1) for line in result.stdout.splitlines() if line.startswith("bench-") and "test(s)" in line)
    assert said["bench-a"].startswith("completed;") and said["bench-b"].startswith("completed;"), said
    assert said["bench-c"].startswith("stopped (rig 'bench-c' is not ready: radio port: labgrid place 'bench-c'"), said
    assert "does not exist (places there: bench-a, bench-b)" in said["bench-c"]
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
