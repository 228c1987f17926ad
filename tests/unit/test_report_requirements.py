"""The requirement matrix: spec items x devices from the evidence alone, in the report, JUnit and JSON."""

from __future__ import annotations

from harness.evidence import CheckRecord, EvidenceLog, Outcome, TestEvidence
from harness.report.junit import suite_properties
from harness.report.requirements import NO_DEVICE, matrix_from_run, requirement_matrix, requirement_table
from harness.report.standalone import render_page
from harness.report.verdicts import Verdict


def evidence(nodeid: str, outcome: str, specs: tuple[str, ...], *checks: tuple[str, Outcome]) -> TestEvidence:
    ev = TestEvidence(nodeid=nodeid, started=1.0, finished=2.0, outcome=outcome, spec_items=specs)
    for device, result in checks:
        ev.add(CheckRecord(name="c", rule="r", observed="o", outcome=result, source="s", confidence="high", device=device))
    return ev


TESTS = [
    evidence("t.py::test_a[ppmid1]", "passed", ("ZCL OTA", "SECMP0007"), ("ppmid1", Outcome.PASS)),
    evidence("t.py::test_b[ppmid1]", "failed", ("SECMP0007",), ("ppmid1", Outcome.FAIL)),
    evidence("t.py::test_a[ihd1]", "passed", ("ZCL OTA", "SECMP0007"), ("ihd1", Outcome.PASS)),
    evidence("t.py::test_skip", "skipped", ("Image Page Request",)),
]


def test_each_cell_is_the_worst_verdict_of_the_tests_behind_it_with_those_tests_listed() -> None:
    matrix = requirement_matrix(TESTS, catalogue=("SECMP0007", "ZCL OTA", "Image Page Request", "CS08"),
                                devices=("ihd1", "ppmid1"))
    assert matrix.items == ("SECMP0007", "ZCL OTA", "Image Page Request", "CS08")
    assert matrix.devices == ("ihd1", "ppmid1", NO_DEVICE)
    cell = matrix.cell("SECMP0007", "ppmid1")
    assert cell.verdict is Verdict.FAIL
    assert [nodeid for nodeid, _ in cell.tests] == ["t.py::test_a[ppmid1]", "t.py::test_b[ppmid1]"]
    assert matrix.cell("ZCL OTA", "ppmid1").verdict is Verdict.PASS
    assert matrix.cell("ZCL OTA", "ihd1").verdict is Verdict.PASS
    assert matrix.item_verdict("SECMP0007").verdict is Verdict.FAIL
    # A requirement with no test on this rig, and one with only skipped tests, are both called out.
    assert matrix.untested() == ["Image Page Request", "CS08"]
    html = requirement_table(matrix)
    assert "(no test on this rig)" in html and "(only skipped tests on this rig)" in html
    assert html.count("<tr") == 1 + 4


def test_junit_carries_each_requirement_and_render_draws_the_same_matrix_from_evidence(tmp_path) -> None:
    run = {"rig": "emulated", "spec_items": ["SECMP0007", "ZCL OTA", "Image Page Request", "CS08"],
           "devices": [{"name": "ihd1"}, {"name": "ppmid1"}]}
    properties = dict(suite_properties(run, TESTS))
    assert properties["requirement.SECMP0007"] == "FAIL: test_a[ihd1], test_a[ppmid1], test_b[ppmid1]"  # device order
    assert properties["requirement.CS08"] == "NOT_TESTED: no test on this rig"

    log = EvidenceLog(tmp_path / "evidence.json", run_info=run)
    for ev in TESTS:
        log.tests[ev.nodeid] = ev
    log.write()
    loaded = EvidenceLog.load(tmp_path / "evidence.json")
    assert loaded.tests["t.py::test_a[ppmid1]"].spec_items == ("ZCL OTA", "SECMP0007")
    assert matrix_from_run(loaded.run_info, loaded.tests.values()) == matrix_from_run(run, TESTS)
    page = render_page(loaded, source="evidence.json")
    assert "Requirements: spec item × device" in page
    assert str(requirement_table(matrix_from_run(run, TESTS))) in page
