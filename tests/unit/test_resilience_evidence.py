"""Nothing lost: the evidence file survives a killed pytest, and an interrupted test is never a pass.

Each test runs pytest in a subprocess on a tiny conformance-like project: its first test records a
check and passes, its second blocks the way a hub test awaiting a device does. Once the evidence
file shows the first test finished and the second begun (a bounded poll on the file's content,
not a sleep), the run is killed -- SIGKILL, which no code in the process can answer, or SIGINT,
an engineer's Ctrl-C -- and the file is read back as the report would read it.

The tiny project has no conftest: its evidence is written by the harness plugin itself
(``--evidence PATH`` and the ``evidence`` fixture), as in any conformance run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.evidence import CheckRecord, EvidenceLog, Outcome, TransferOutcome, TransferRecord
from harness.report.standalone import render_page
from harness.report.verdicts import Verdict, pytest_verdict
from tests.fixtures.inner_runs import UNUSED_PLUGINS

pytest_plugins = ("pytester",)

REPO = Path(__file__).resolve().parents[2]
RIG_FILE = REPO / "rigs" / "emulated.toml"

#: How long the subprocess may take to reach each point; a miss fails the test, never hangs it.
DEADLINE_S = 30.0

TESTS = '''
import asyncio
import os
from harness.evidence import CheckRecord, Outcome

def test_first_records_a_check_and_passes(evidence):
    evidence.add(CheckRecord(name="image held", rule="sha256 equal", observed="equal", outcome=Outcome.PASS,
                             source="tiny project", confidence="test", device="ppmid1"))

async def test_second_waits_for_a_device_that_never_answers(evidence):
    # As a hub test awaiting a transfer: an async test on pytest-asyncio's loop.
    evidence.add(CheckRecord(name="waiting", rule="device answers", observed="nothing yet",
                             outcome=Outcome.NOT_OBSERVED, source="tiny project", confidence="test", device="ppmid1"))
    # Tells the outer test the record is in; written whole, then renamed into place, because the
    # outer test parses every read (a file opened for writing is empty until written).
    with open("second-recorded.json.tmp", "w") as marker:
        marker.write('{"recorded": true}')
    os.replace("second-recorded.json.tmp", "second-recorded.json")
    await asyncio.wait_for(asyncio.Event().wait(), 60)  # interrupted long before this returns

def test_third_never_runs():
    pass
'''

FIRST = "test_tiny.py::test_first_records_a_check_and_passes"
SECOND = "test_tiny.py::test_second_waits_for_a_device_that_never_answers"
THIRD = "test_tiny.py::test_third_never_runs"


@pytest.fixture
def tiny(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_tiny=TESTS)
    return pytester


def start_run(project: pytest.Pytester, evidence: Path) -> subprocess.Popen[bytes]:
    """pytest on the tiny project in its own process (the plugins that only cost start-up time left out).

    SIGINT is reset to its default in the child: a CI job started in the background inherits it
    ignored, and Python then never turns it into KeyboardInterrupt.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", *UNUSED_PLUGINS, "-p", "no:cacheprovider",
         "-q", f"--evidence={evidence}", "test_tiny.py"],
        cwd=project.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def await_file_state(path: Path, proc: subprocess.Popen[bytes], ready, what: str) -> dict:
    """Poll the evidence file until ``ready(json)`` holds; bounded by DEADLINE_S and by the process ending.

    Every read must parse: the file is replaced atomically, so a half-written file is a failure.
    """
    deadline = time.monotonic() + DEADLINE_S
    last: dict | None = None
    while time.monotonic() < deadline:
        if path.exists():
            last = json.loads(path.read_text(encoding="utf-8"))
            if ready(last):
                return last
        if proc.poll() is not None:
            returncode, out = output_once_ended(proc, f"it ended before {what}")
            pytest.fail(f"the run ended before {what} (exit {returncode}):\n{out}")
        time.sleep(0.02)  # a bounded poll on the file's content; the file has no change notification
    proc.kill()
    pytest.fail(f"no {what} within {DEADLINE_S} s; last evidence file: {last}")


def output_once_ended(proc: subprocess.Popen[bytes], what: str) -> tuple[int, str]:
    """The exit status and whole output of ``proc`` once it ends, bounded by DEADLINE_S.

    A run that outlives the deadline is killed and the test fails with what it printed, never hangs.
    """
    try:
        out, _ = proc.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=DEADLINE_S)
        pytest.fail(f"the run did not end within {DEADLINE_S} s ({what}):\n{out.decode(errors='replace')[-3000:]}")
    return proc.returncode, out.decode(errors="replace")


def second_running(data: dict) -> bool:
    by_id = {t["nodeid"]: t for t in data["tests"]}
    return by_id.get(FIRST, {}).get("outcome") == "passed" and SECOND in by_id


def kill_when_second_runs(project: pytest.Pytester, sig: signal.Signals) -> tuple[Path, int, str]:
    evidence = project.path / "reports" / "evidence.json"
    proc = start_run(project, evidence)
    try:
        await_file_state(evidence, proc, second_running, "the first test finished and the second begun")
        # The signal must land after the second test recorded its check, not merely after it began.
        await_file_state(project.path / "second-recorded.json", proc, lambda data: data.get("recorded"),
                         "the second test recorded its check")
        proc.send_signal(sig)
        returncode, output = output_once_ended(proc, f"{sig.name} was sent")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=DEADLINE_S)
    return evidence, returncode, output


def assert_first_kept_and_second_not_a_pass(evidence: Path) -> EvidenceLog:
    log = EvidenceLog.load(evidence)  # parses and checks the schema
    first = log.tests[FIRST]
    assert first.outcome == "passed" and first.finished is not None and first.finished >= first.started
    (check,) = first.of(CheckRecord)
    assert (check.name, check.outcome, check.device) == ("image held", Outcome.PASS, "ppmid1")

    second = log.tests[SECOND]
    assert second.outcome is None and second.finished is None, "begun, never finished"
    assert pytest_verdict(second.outcome) is Verdict.INCOMPLETE, "never a pass"
    assert THIRD not in log.tests
    return log


def test_sigkilled_run_keeps_the_finished_test_and_shows_the_running_one_incomplete(tiny):
    evidence, returncode, _ = kill_when_second_runs(tiny, signal.SIGKILL)
    assert returncode == -signal.SIGKILL
    assert_first_kept_and_second_not_a_pass(evidence)
    leftovers = [p.name for p in evidence.parent.iterdir() if p.name != evidence.name]
    assert leftovers == [] or all(name.endswith(".tmp") for name in leftovers)
    # pytest-html never wrote its page; the kept file still makes one, with the killed test INCOMPLETE.
    page = render_page(EvidenceLog.load(evidence), source=evidence.name)
    second = page.split(f"<code>{SECOND}</code>", 1)[1].split("</section>", 1)[0]
    assert "INCOMPLETE" in second and "PASS" not in second


def test_interrupted_run_records_the_interrupted_test_as_incomplete_not_passed(tiny):
    evidence, returncode, output = kill_when_second_runs(tiny, signal.SIGINT)
    assert returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output
    log = assert_first_kept_and_second_not_a_pass(evidence)
    (waiting,) = log.tests[SECOND].of(CheckRecord)
    assert waiting.outcome is Outcome.NOT_OBSERVED, "what the interrupted test had recorded is kept"
    assert not list(evidence.parent.glob("*.tmp")), "an orderly stop leaves no temporary file"


def test_evidence_file_is_never_half_written_while_a_run_rewrites_it(tmp_path):
    # A reader polling the file during many rewrites must only ever see complete JSON.
    path = tmp_path / "evidence.json"
    log = EvidenceLog(path)
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        for index in range(60):
            nodeid = f"t.py::test_{index}"
            log.begin(nodeid).add(CheckRecord(name="c", rule="r", observed="o" * 200, outcome=Outcome.PASS,
                                              source="s", confidence="c"))
            log.finish(nodeid, "passed")
    finally:
        (path.parent / "done").write_text("")
        out, _ = reader.communicate(timeout=DEADLINE_S)
    assert reader.returncode == 0, out.decode()
    reads = int(out.decode().split()[-1])
    assert reads > 10, "the reader saw the file often enough to mean something"
    assert len(EvidenceLog.load(path).tests) == 60


_READER = r'''
import json, os, sys
path = sys.argv[1]
done = os.path.join(os.path.dirname(path), "done")
reads = 0
while not os.path.exists(done):
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        continue
    json.loads(text)  # raises on a torn file
    reads += 1
print("reads", reads)
'''


HUB_TESTS = '''
import asyncio
from pathlib import Path
from harness.evidence import TransferOutcome

async def test_first_upgrade_completes(hub):
    transfer = await hub.upgrade("ppmid1", "ppmid-next")
    assert await transfer.wait() is TransferOutcome.TRANSFERRED

async def test_second_upgrade_is_interrupted_mid_transfer(hub):
    # From offset 1000 the CH answers "wait 60 s": the transfer is in progress when the run stops.
    transfer = await hub.upgrade("ihd1", "ihd-next", wait_for_data=((1000, 60.0),))
    await asyncio.wait_for(transfer.reached(1000), 20)
    Path("transfer-in-progress").write_text(transfer.record().transfer_id)
    await asyncio.wait_for(transfer.wait(), 60)
'''

HUB_FIRST = "test_hub.py::test_first_upgrade_completes"
HUB_SECOND = "test_hub.py::test_second_upgrade_is_interrupted_mid_transfer"


def test_interrupted_hub_test_keeps_its_transfer_in_progress_and_is_not_a_pass(pytester: pytest.Pytester):
    # The real thing: the plugin's hub on the emulated rig, a transfer cut short by Ctrl-C.
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_hub=HUB_TESTS)
    evidence = pytester.path / "reports" / "evidence.json"
    marker = pytester.path / "transfer-in-progress"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *UNUSED_PLUGINS, "-p", "no:cacheprovider", "-q",
         f"--rig={RIG_FILE}", f"--evidence={evidence}", "test_hub.py"],
        cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        # The marker's content, not its existence: write_text creates the file before it writes.
        await_file_state(evidence, proc, lambda data: marker.exists() and marker.read_text() != "",
                         "the second test's transfer in progress")
        transfer_id = marker.read_text()
        proc.send_signal(signal.SIGINT)
        returncode, output = output_once_ended(proc, "SIGINT was sent")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=DEADLINE_S)
    assert returncode == pytest.ExitCode.INTERRUPTED, output[-3000:]

    log = EvidenceLog.load(evidence)
    first, second = log.tests[HUB_FIRST], log.tests[HUB_SECOND]
    assert first.outcome == "passed"
    assert [t.outcome for t in first.of(TransferRecord)] == [TransferOutcome.TRANSFERRED]
    assert second.outcome is None and pytest_verdict(second.outcome) is Verdict.INCOMPLETE, "never a pass"
    (kept,) = second.of(TransferRecord)
    assert kept.transfer_id == transfer_id and kept.device == "ihd1"
    assert kept.outcome in (TransferOutcome.IN_PROGRESS, TransferOutcome.ABORTED), kept.outcome
    assert kept.bytes_sent >= 1000, "what was sent before the interrupt is on record"
