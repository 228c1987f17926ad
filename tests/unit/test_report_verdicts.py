"""Per device x image verdicts: the pytest outcome decides, checks refine, nothing untested looks signed off."""

from __future__ import annotations

import pytest

from harness.evidence import (
    AttributeRead,
    CheckRecord,
    ImageRecord,
    Outcome,
    TestEvidence,
    TransferOutcome,
    TransferRecord,
)
from harness.report.verdicts import (
    NO_IMAGE,
    Verdict,
    combine,
    devices_in,
    pytest_verdict,
    verdict_matrix,
    verdict_of_test,
)


def transfer(device: str, image: str) -> TransferRecord:
    return TransferRecord(transfer_id=f"{device}-{image}", device=device, device_eui64="00:0D:6F:00:0B:12:34:51",
                          image_name=image, image_sha256="00" * 32, image_size=100, image_version=2, started=1.0,
                          outcome=TransferOutcome.TRANSFERRED)


def check(device: str, outcome: Outcome) -> CheckRecord:
    return CheckRecord(name="c", rule="r", observed="o", outcome=outcome, source="s", confidence="c", device=device)


def read(device: str) -> AttributeRead:
    return AttributeRead(device=device, endpoint=1, cluster=0, attribute=4, name="ManufacturerName", expected="present",
                         value="X", status="SUCCESS", outcome=Outcome.PASS, t=1.0)


def evidence_of(nodeid: str, outcome: str | None, *records) -> TestEvidence:
    ev = TestEvidence(nodeid=nodeid, outcome=outcome)
    ev.add(*records)
    return ev


def test_worst_verdict_wins_but_skips_do_not_dilute_a_pass() -> None:
    assert combine([Verdict.PASS, Verdict.FAIL, Verdict.SKIPPED]) is Verdict.FAIL
    assert combine([Verdict.PASS, Verdict.NOT_OBSERVED]) is Verdict.NOT_OBSERVED
    assert combine([Verdict.PASS, Verdict.INCOMPLETE]) is Verdict.INCOMPLETE
    assert combine([Verdict.PASS, Verdict.SKIPPED]) is Verdict.PASS
    assert combine([Verdict.SKIPPED]) is Verdict.SKIPPED
    assert combine([]) is Verdict.NOT_TESTED


@pytest.mark.parametrize(("outcome", "verdict"), [
    ("passed", Verdict.PASS), ("failed", Verdict.FAIL), ("error", Verdict.FAIL), ("skipped", Verdict.SKIPPED),
    ("xfailed", Verdict.FAIL), ("xpassed", Verdict.PASS), (None, Verdict.INCOMPLETE),
])
def test_pytest_outcomes_map_to_sign_off_verdicts(outcome: str | None, verdict: Verdict) -> None:
    assert pytest_verdict(outcome) is verdict


def test_an_unknown_outcome_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="'exploded'"):
        pytest_verdict("exploded")


def test_a_failed_test_with_only_timeouts_for_a_device_is_not_observed_for_it() -> None:
    ev = evidence_of("t", "failed", check("ppmid1", Outcome.NOT_OBSERVED), check("ihd1", Outcome.FAIL),
              check("ihd2", Outcome.PASS))
    assert verdict_of_test(ev, "ppmid1") is Verdict.NOT_OBSERVED
    assert verdict_of_test(ev, "ihd1") is Verdict.FAIL
    assert verdict_of_test(ev, "ihd2") is Verdict.FAIL  # a failed test fails every device it involved


def test_a_passed_test_passes_even_when_it_expected_a_failing_check() -> None:
    assert verdict_of_test(evidence_of("t", "passed", check("ppmid1", Outcome.FAIL)), "ppmid1") is Verdict.PASS


def test_devices_are_named_by_transfers_reads_and_checks_not_by_the_ch() -> None:
    ev = evidence_of("t", "passed", transfer("ppmid1", "img"), read("ihd1"), check("ihd2", Outcome.PASS),
              CheckRecord(name="run", rule="r", observed="o", outcome=Outcome.PASS, source="s", confidence="c"))
    assert devices_in(ev) == ["ppmid1", "ihd1", "ihd2"]


def test_matrix_cells_rows_and_columns() -> None:
    tests = [
        evidence_of("a", "passed", transfer("ppmid1", "next")),
        evidence_of("b", "failed", transfer("ppmid1", "wrong-hw"), check("ppmid1", Outcome.FAIL)),
        evidence_of("c", "passed", transfer("ihd1", "next")),
        evidence_of("d", "passed", read("ihd1")),
        evidence_of("e", "passed", ImageRecord(name="spare", path="p", header={}, sha256="0" * 64, size=1, signature="VALID")),
    ]
    m = verdict_matrix(tests, devices=["ppmid1", "ihd1", "ihd2"])
    assert m.devices == ("ppmid1", "ihd1", "ihd2")
    assert m.images == ("next", "wrong-hw", "spare", NO_IMAGE)
    assert m.cell("ppmid1", "next").verdict is Verdict.PASS
    assert m.cell("ppmid1", "wrong-hw").verdict is Verdict.FAIL
    assert m.cell("ihd1", NO_IMAGE).verdict is Verdict.PASS
    assert m.cell("ihd2", "next").verdict is Verdict.NOT_TESTED
    assert m.device_verdict("ppmid1").verdict is Verdict.FAIL
    assert m.device_verdict("ihd1").verdict is Verdict.PASS
    assert m.device_verdict("ihd2").verdict is Verdict.NOT_TESTED  # a rig device no test touched
    assert m.image_verdict("next").verdict is Verdict.PASS
    assert m.image_verdict("spare").verdict is Verdict.NOT_TESTED  # inspected, never offered
    assert m.overall().verdict is Verdict.FAIL
    assert m.cell("ppmid1", "wrong-hw").tests == (("b", Verdict.FAIL),)


def test_a_run_that_stopped_mid_test_is_incomplete_not_pass() -> None:
    m = verdict_matrix([evidence_of("a", "passed", transfer("ppmid1", "next")), evidence_of("b", None, transfer("ppmid1", "next"))])
    assert m.cell("ppmid1", "next").verdict is Verdict.INCOMPLETE
    assert m.cell("ppmid1", "next").counts() == {Verdict.PASS: 1, Verdict.INCOMPLETE: 1}
