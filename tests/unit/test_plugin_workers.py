"""A run split over pytest-xdist workers (-n): one evidence file and one report for the whole run,
and no -n on a rig whose radio is real."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.evidence import EvidenceLog, Outcome
from harness.plugin_workers import PROCESSES_FACT, merge_worker_facts
from tests.fixtures.inner_runs import runpytest_subprocess
from tests.fixtures.rigfiles import make_tree, real_rig_text

pytest_plugins = ("pytester",)

REPO = Path(__file__).resolve().parents[2]

#: Three tests dealt to two workers: one records a check, one fails, one kills its worker mid-test.
WORKER_TESTS = """
import os

from harness.evidence import CheckRecord, Outcome


def check(name):
    return CheckRecord(name=name, rule="r", observed="o", outcome=Outcome.PASS, source="s", confidence="c",
                       device="dev1")


def test_records_a_check(evidence):
    evidence.add(check("checked in a worker"))


def test_fails(evidence):
    evidence.add(check("checked before failing"))
    assert False, "meant to fail"


def test_kills_its_worker(evidence):
    os._exit(3)
"""


def test_facts_the_workers_agree_on_appear_once_and_a_difference_per_worker() -> None:
    merged = merge_worker_facts({
        "gw1": {"radio": "emulated EZSP radio on /dev/pts/7", "ezsp_version": 13, "devices": [{"name": "b"}]},
        "gw0": {"radio": "emulated EZSP radio on /dev/pts/6", "ezsp_version": 13, "devices": [{"name": "a"}]},
    })
    assert merged["radio"] == "emulated EZSP radio on /dev/pts/6 (gw0); emulated EZSP radio on /dev/pts/7 (gw1)"
    assert merged["ezsp_version"] == 13
    assert merged["devices"] == [{"name": "a"}], "a list on which workers differ: the first worker's, not a string"
    assert merged[PROCESSES_FACT].startswith("2 pytest-xdist workers (gw0, gw1)")


def test_the_run_s_evidence_file_holds_every_worker_s_tests_and_a_crashed_one_incomplete(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_split=WORKER_TESTS)
    evidence = pytester.path / "reports" / "evidence.json"
    result = runpytest_subprocess(pytester, "-n", "2", "-p", "no:asyncio", f"--evidence={evidence}")
    result.assert_outcomes(passed=1, failed=2)  # the killed worker's test is reported failed by pytest-xdist

    log = EvidenceLog.load(evidence)
    entries = {nodeid.split("::")[-1]: entry for nodeid, entry in log.tests.items()}
    assert set(entries) == {"test_records_a_check", "test_fails", "test_kills_its_worker"}, (
        f"the run's evidence file has {sorted(entries)}; the worker files beside it: "
        f"{sorted(p.name for p in evidence.parent.iterdir())}")
    assert entries["test_records_a_check"].outcome == "passed"
    assert [c.name for c in entries["test_records_a_check"].records["checks"]] == ["checked in a worker"]
    assert entries["test_fails"].outcome == "failed"
    assert [c.outcome for c in entries["test_fails"].records["checks"]] == [Outcome.PASS]
    assert entries["test_kills_its_worker"].outcome is None, "a test its worker never finished reads INCOMPLETE"
    assert "pytest-xdist workers" in log.run_info[PROCESSES_FACT]


@pytest.mark.parametrize("split", [("-n", "2"), ("--tx", "2*popen", "--dist", "load")], ids=["n", "tx"])
def test_a_rig_with_a_real_radio_refuses_workers_before_any_starts(pytester: pytest.Pytester,
                                                                   split: tuple[str, ...]) -> None:
    make_tree(pytester.path, {"bench": real_rig_text("bench")})
    pytester.makepyfile(test_rig="def test_rig(rig):\n    pass\n")
    result = runpytest_subprocess(pytester, *split, "-p", "no:asyncio", "--rig=bench")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    error = result.stderr.str()
    assert "rig 'bench'" in error and "2 workers (-n 2)" in error and "without -n or --tx" in error, error
    assert "gw0" not in result.stdout.str(), "no worker may start on a real radio"


def test_the_conformance_suite_split_over_two_workers_reports_every_test_once(tmp_path: Path,
                                                                            pytester: pytest.Pytester) -> None:
    """The emulated conformance suite under -n 2: each worker its own radio, one evidence file, one report."""
    evidence, html, junit = tmp_path / "evidence.json", tmp_path / "report.html", tmp_path / "junit.xml"
    result = runpytest_subprocess(
        pytester, str(REPO / "tests" / "conformance"), f"--rootdir={REPO}", "-c", str(REPO / "pyproject.toml"),
        "--rig=emulated", "-n", "2", "-k", "identity or wait_for_data", f"--evidence={evidence}",
        f"--html={html}", f"--junitxml={junit}", "-q", timeout=300)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]

    cases = {f"{case.get('classname')}::{case.get('name')}" for case in ET.parse(junit).iter("testcase")}
    log = EvidenceLog.load(evidence)
    assert len(log.tests) == len(cases) >= 4, (sorted(log.tests), sorted(cases))
    assert {entry.outcome for entry in log.tests.values()} == {"passed"}
    facts = log.run_info
    assert "(gw0)" in facts["radio"] and "(gw1)" in facts["radio"], f"each worker's own radio: {facts['radio']!r}"
    assert facts["spec_items"], "the requirement matrix needs the spec items the workers collected"

    captures = [capture.file for entry in log.tests.values() for capture in entry.records["captures"]]
    assert {file.split("/")[1] for file in captures} == {"evidence-gw0", "evidence-gw1"}
    assert all((tmp_path / file).is_file() for file in captures), "every capture the evidence names is on disk"

    page = html.read_text(encoding="utf-8")
    assert f"{len(cases)} tests with evidence" in page, "the sign-off header counts every worker's tests"
    for device in ("ihd1", "ppmid1"):
        assert f"col-devices\\&#34;&gt;{device}" in page, f"the Devices column names {device}"
    assert json.loads(evidence.read_text())["schema"]
