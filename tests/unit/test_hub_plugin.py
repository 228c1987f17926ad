"""The plugin's hub face: ``hub`` fixture, the radio/devices rig check, ``--evidence`` JSON per test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.inner_runs import runpytest_subprocess

pytest_plugins = ("pytester",)

REPO = Path(__file__).resolve().parents[2]
RIG = REPO / "rigs" / "emulated.toml"

TESTS = '''
import pytest

async def test_upgrade(hub):
    transfer = await hub.upgrade("ppmid1", "ppmid-next")
    assert (await transfer.wait()).value == "transferred"
    await transfer.wait_activation()
    assert hub.check_sequence("ppmid1", "ppmid-good-image", transfer).passed

async def test_same_hub_in_the_next_test(hub):
    assert sorted(hub.admitted) == ["ihd1", "ppmid1"]
    assert [hex(a.code) for a in hub.alerts] == ["0x8f8a", "0x8f8b"]

def test_without_the_hub():
    pass
'''


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_ota=TESTS)
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


def test_hub_tests_share_one_hub_and_their_evidence_lands_in_the_json(project: pytest.Pytester) -> None:
    out = project.path / "out" / "evidence.json"
    result = runpytest_subprocess(project, f"--rig={RIG}", f"--evidence={out}", "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*[[]hub] ppmid1 ppmid-next notified*"])  # live progress
    data = json.loads(out.read_text())
    tests = {t["nodeid"].split("::")[-1]: t for t in data["tests"]}
    assert set(tests) == {"test_upgrade", "test_same_hub_in_the_next_test"}, "a test without rig or hub leaves no entry"
    upgrade = tests["test_upgrade"]
    assert upgrade["outcome"] == "passed"
    assert [a["code"] for a in upgrade["alerts"]] == [0x8F8A, 0x8F8B]
    assert [t["outcome"] for t in upgrade["transfers"]] == ["transferred"]
    assert {s["stage"] for s in upgrade["stages"]} >= {"notified", "transferring", "transferred", "activated"}
    assert upgrade["checks"][0]["outcome"] == "PASS"
    assert data["run"]["ezsp_version"] == 13 and data["run"]["rig"] == "emulated"
    assert "83FED3407A939723" not in out.read_text().upper(), "install codes never reach the evidence"


LEFT_RUNNING = '''
async def test_leaves_a_transfer_running(hub):
    transfer = await hub.upgrade("ppmid1", "ppmid-next")
    await transfer.reached(200)

def test_last_and_without_the_hub(evidence):
    pass
'''


def test_what_the_hub_records_as_it_stops_after_the_last_hub_test_goes_to_that_test(pytester: pytest.Pytester) -> None:
    # The hub is torn down in the teardown of the last test, which does not use it; the transfer
    # it closes then is the first test's work and must reach that test's evidence, ended.
    pytester.makepyfile(test_left_running=LEFT_RUNNING)
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    out = pytester.path / "evidence.json"
    result = runpytest_subprocess(pytester, f"--rig={RIG}", f"--evidence={out}")
    result.assert_outcomes(passed=2)
    tests = {t["nodeid"].split("::")[-1]: t for t in json.loads(out.read_text())["tests"]}
    transfers = tests["test_leaves_a_transfer_running"]["transfers"]
    assert [(t["outcome"], t["reason"]) for t in transfers] == [("aborted", "the hub stopped")]
    assert tests["test_last_and_without_the_hub"]["transfers"] == []


CLI_INSIDE = f'''
from harness.cli import main

async def test_the_session_hub_is_up(hub):
    assert sorted(hub.admitted) == ["ihd1", "ppmid1"]

def test_harness_rig_check_meanwhile(capsys):
    assert main(["rig", "check", {str(RIG)!r}]) == 0
    assert capsys.readouterr().out.count("ok   ") == 4

async def test_the_session_hub_still_serves(hub):
    assert await hub.current_version("ppmid1") is not None
'''


def test_harness_rig_check_inside_a_session_brings_up_its_own_run(pytester: pytest.Pytester) -> None:
    # The CLI's check makes a run of its own: its own emulator and hub, never the session's (whose
    # serial port the session's hub holds open), and closing it leaves the session's run alone.
    pytester.makepyfile(test_cli_inside=CLI_INSIDE)
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    result = runpytest_subprocess(pytester, f"--rig={RIG}", f"--evidence={pytester.path / 'evidence.json'}")
    result.assert_outcomes(passed=3)


def test_a_radio_that_does_not_answer_stops_the_session_once(pytester: pytest.Pytester) -> None:
    from tests.fixtures.rigfiles import make_tree, real_rig_text

    make_tree(pytester.path, {"bench": real_rig_text("bench", port='"tcp://127.0.0.1:9"')})
    pytester.makepyfile(test_many="\n".join(f"async def test_{i}(hub):\n    pass\n" for i in range(10)))
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    result = runpytest_subprocess(pytester, "--rig=bench", f"--evidence={pytester.path / 'evidence.json'}")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes()  # nothing ran, nothing failed
    out = result.stdout.str()
    assert out.count("is not ready") == 1, out
    result.stdout.fnmatch_lines(["*rig 'bench' is not ready: radio, HAN and devices under test: radio: *"])
