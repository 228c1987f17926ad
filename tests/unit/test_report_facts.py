"""Run facts (commit, operator) and device facts (firmware before/after) as the report header shows them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness.evidence import (
    AlertRecord,
    AttributeRead,
    Outcome,
    TestEvidence,
    TransferOutcome,
    TransferRecord,
)
from harness.report import samples
from harness.report.facts import UNKNOWN, device_facts, git_commit, operator_name, session_facts
from harness.report.junit import suite_properties

EUI = "00:0D:6F:00:0B:12:34:51"


def version_read(device: str, value: int, t: float) -> AttributeRead:
    return AttributeRead(device=device, endpoint=1, cluster=0x0019, attribute=0x0002, name="CurrentFileVersion",
                         expected="any", value=value, status="SUCCESS", outcome=Outcome.PASS, t=t)


def transfer(device: str, started: float) -> TransferRecord:
    return TransferRecord(transfer_id=device, device=device, device_eui64=EUI, image_name="next", image_sha256="0" * 64,
                          image_size=10, image_version=0x102, started=started, outcome=TransferOutcome.TRANSFERRED)


def test_firmware_before_and_after_are_what_the_device_reported_around_its_first_transfer() -> None:
    ev = TestEvidence(nodeid="t")
    ev.add(version_read("ppmid1", 0x100, 1.0), version_read("ppmid1", 0x101, 2.0), transfer("ppmid1", 5.0),
           AlertRecord(code=0x8F8B, name="CS09", use_case="CS09", raised_by="ppmid1", entity_eui64=EUI,
                       firmware_version=0x102, time=9.0, observed_how="query", activation_result=0))
    (facts,) = device_facts({"devices": [{"name": "ppmid1", "role": "PPMID", "eui64": EUI, "profile": "p"}]}, [ev])
    assert (facts.firmware_before, facts.firmware_after) == (0x101, 0x102)
    assert (facts.role, facts.eui64, facts.profile) == ("PPMID", EUI, "p")


def test_no_read_after_the_transfer_leaves_after_unknown_rather_than_guessing() -> None:
    ev = TestEvidence(nodeid="t")
    ev.add(version_read("ppmid1", 0x101, 1.0), transfer("ppmid1", 5.0))
    (facts,) = device_facts({}, [ev])
    assert (facts.firmware_before, facts.firmware_after) == (0x101, None)
    assert facts.eui64 == EUI  # known from the transfer when the rig list does not say


def test_manufacturer_and_model_come_from_basic_cluster_reads() -> None:
    log = samples.demo_evidence_log()
    facts = {f.name: f for f in device_facts(log.run_info, log.tests.values())}
    assert (facts["ppmid1"].manufacturer, facts["ppmid1"].model) == ("Example Meters Ltd", "PPMID-GEN")
    assert facts["ihd2"].manufacturer is None  # a rig device never read
    assert list(facts) == ["ppmid1", "ihd1", "ihd2"]  # rig order


def test_operator_is_the_option_then_user_then_unknown() -> None:
    assert operator_name(" Jane ", {"USER": "bench"}) == "Jane"
    assert operator_name(None, {"USER": "bench"}) == "bench"
    assert operator_name("", {}) == UNKNOWN


def test_commit_outside_a_checkout_is_unknown(tmp_path: Path) -> None:
    assert git_commit(tmp_path) == UNKNOWN


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_commit_is_head_and_says_when_the_tree_is_modified(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    (tmp_path / "f").write_text("1")
    git("add", "f")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "one")
    head = git("rev-parse", "HEAD").strip()
    assert git_commit(tmp_path) == head
    (tmp_path / "f").write_text("2")
    assert git_commit(tmp_path) == f"{head} (modified)"


def test_session_facts_date_is_utc() -> None:
    facts = session_facts(operator="op", checkout=Path("/nonexistent"), now=0.0)
    assert facts["date"] == "1970-01-01 00:00:00 UTC"
    assert facts["operator"] == "op" and facts["commit"] == UNKNOWN


def test_junit_properties_carry_the_run_facts_and_each_image_sha256() -> None:
    log = samples.demo_evidence_log()
    props = dict(suite_properties(log.run_info, log.tests.values()))
    assert props["rig"] == "demo" and props["ezsp_version"] == "13" and props["commit"] == samples.demo_run_info()["commit"]
    assert props["image.ppmid-next.sha256"] == samples.PPMID_SHA256
    assert props["image.ihd-wrong-hw.sha256"] == samples.IHD_SHA256
    assert dict(suite_properties({}, []))["harness_version"] == UNKNOWN
