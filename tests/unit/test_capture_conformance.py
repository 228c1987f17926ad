"""The independent check over a real conformance run: tshark decodes every capture it left.

The run is the one of tests/fixtures/conformance_run.py -- ``pytest tests/conformance`` on the
emulated rig (with planted test secrets), ``--evidence`` beside its report -- so the captures
judged here are exactly those a lab's CI run leaves, one per test, with the keys file beside them.
Wireshark's dissectors (tsharkcheck) then judge each of them, in one tshark pass per capture
shared by the checks below:

* no malformed frame and no expert error;
* every OTA, Time and Device Management frame decodes as that cluster, APS-secured where the Smart
  Energy rules say so, and every Key Establishment frame without APS security;
* the OTA file offsets and sizes on the air of each test equal its evidence's transfer records.

And the evidence and the report say where each test's capture is, with frame numbers.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.capture.keys_file import KEYS_FILE_NAME, read_keys
from harness.capture.per_test import captures_directory
from harness.report.standalone import write_page
from tests.fixtures.conformance_run import ConformanceRun, planted_run
from tests.fixtures.tsharkcheck import (
    DEVICE_MANAGEMENT,
    KEY_ESTABLISHMENT,
    OTA,
    PROBLEM_FRAMES,
    Dissection,
    cluster_violations,
    dissect,
    fields,
    needs_tshark,
    problems,
    recorded_blocks,
)

ASSOCIATION_REQUEST = 0x01


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> ConformanceRun:
    done = planted_run(tmp_path_factory)
    assert done.returncode == 0, f"conformance run failed (exit {done.returncode}):\n{done.output[-3000:]}"
    return done


@pytest.fixture(scope="module")
def tests(run: ConformanceRun) -> list[dict[str, Any]]:
    """The evidence of every test, in run order."""
    entries: list[dict[str, Any]] = json.loads(run.evidence.read_text(encoding="utf-8"))["tests"]
    return entries


@pytest.fixture(scope="module")
def dissections(run: ConformanceRun, tests: list[dict[str, Any]]) -> list[Dissection]:
    """tshark once over each test's capture (in run order), for every check that judges them all."""
    return [dissect(capture_of(run, entry), keys(run)) for entry in tests]


def capture_of(run: ConformanceRun, entry: dict[str, Any]) -> Path:
    (record,) = [c for c in entry["captures"] if c["file"].endswith(".pcapng")]
    return run.evidence.parent / record["file"]


def keys(run: ConformanceRun) -> Path:
    return captures_directory(run.evidence) / KEYS_FILE_NAME


def test_every_test_of_the_rig_has_its_own_capture_beside_the_evidence(run: ConformanceRun, tests) -> None:
    captured = [capture_of(run, entry) for entry in tests]
    assert len(set(captured)) == len(tests) > 20
    assert all(path.is_file() and path.parent == captures_directory(run.evidence) for path in captured)
    assert keys(run).is_file()
    assert sorted(captures_directory(run.evidence).glob("*.pcapng")) == sorted(captured)


@needs_tshark
def test_the_first_tests_capture_holds_every_devices_join(run: ConformanceRun, tests) -> None:
    first = capture_of(run, tests[0])
    joined = {row[0] for row in fields(first, keys(run), f"wpan.cmd == {ASSOCIATION_REQUEST}", "wpan.src64")}
    devices = json.loads(run.evidence.read_text(encoding="utf-8"))["run"]["devices"]
    assert joined == {d["eui64"].lower() for d in devices}, f"{first.name}: association requests from {joined}"


@needs_tshark
def test_every_capture_decodes_without_malformed_frames_or_expert_errors(dissections: list[Dissection]) -> None:
    found = {dissection.capture.name: dissection.problems() for dissection in dissections}
    assert {name: rows[:3] for name, rows in found.items() if rows} == {}


@needs_tshark
def test_smart_energy_clusters_decode_with_the_aps_security_the_rules_require(dissections: list[Dissection]) -> None:
    seen: dict[int, int] = {}
    violations = [v for dissection in dissections for v in dissection.cluster_violations(seen)]
    assert violations == [], f"{len(violations)} frames break the rules, the first: {violations[:5]}"
    assert seen.get(OTA, 0) > 100 and seen.get(KEY_ESTABLISHMENT, 0) >= 12 and seen.get(DEVICE_MANAGEMENT, 0) >= 4


@needs_tshark
def test_ota_offsets_and_sizes_on_the_air_equal_each_tests_transfer_records(tests,
                                                                             dissections: list[Dissection]) -> None:
    compared = 0
    for entry, dissection in zip(tests, dissections, strict=True):
        on_air, recorded = dissection.ota_blocks(), recorded_blocks(entry["transfers"])
        where = entry["nodeid"]
        assert on_air.requests == recorded.requests, f"{where}: Image Block Requests differ"
        assert on_air.responses == recorded.responses, f"{where}: Image Block Responses differ"
        compared += sum(len(blocks) for blocks in recorded.responses.values())
    assert compared > 100


@needs_tshark
def test_the_one_pass_finds_what_each_checks_own_filter_finds_in_a_damaged_capture(run: ConformanceRun, tests,
                                                                                    tmp_path: Path) -> None:
    # The checks above read one tshark pass per capture; here the good-image capture, with bytes
    # flipped at random (seeded), is judged both ways: the problems and cluster rule breaks the one
    # pass reports are exactly those each check's own display filter finds, and there are some.
    upgrade = next(e for e in tests if "test_good_image_is_transferred" in e["nodeid"] and "ppmid1" in e["nodeid"])
    damaged = tmp_path / "damaged.pcapng"
    editcap = shutil.which("editcap")
    assert editcap, "editcap (installed with tshark) not found"
    subprocess.run([editcap, "-E", "0.01", "--seed", "15", str(capture_of(run, upgrade)), str(damaged)],
                   check=True, capture_output=True, timeout=60)
    one_pass = dissect(damaged, keys(run))
    assert [row[0] for row in one_pass.problems()] == [row[0] for row in fields(damaged, keys(run), PROBLEM_FRAMES,
                                                                                  "frame.number")]
    assert one_pass.problems() and len(one_pass.problems()) == len(problems(damaged, keys(run)))
    seen_once: dict[int, int] = {}
    seen_apart: dict[int, int] = {}
    assert one_pass.cluster_violations(seen_once) == cluster_violations(damaged, keys(run), seen_apart)
    assert seen_once == seen_apart and seen_once.get(OTA, 0) > 50


def test_the_report_links_each_capture_with_frame_numbers_beside_the_events(run: ConformanceRun, tests,
                                                                             tmp_path: Path) -> None:
    upgrade = next(e for e in tests if "test_good_image_is_transferred" in e["nodeid"] and "ppmid1" in e["nodeid"])
    (record,) = upgrade["captures"]
    assert record["keys_file"] == keys(run).relative_to(run.evidence.parent).as_posix() and record["frames"] > 100
    frames = record["mark_frames"]
    assert len(frames) >= 5 and frames == sorted(frames) and 0 < frames[-1] <= record["frames"]
    # Rendered from the evidence alone, into another directory: the links lead back to the captures.
    page = write_page(run.evidence, tmp_path / "page" / "report.html").read_text(encoding="utf-8")
    links = re.findall(r'href="([^"]+\.pcapng)"', page)
    assert len(links) == len(tests)
    assert all((tmp_path / "page" / link).resolve().is_file() for link in links)
    assert f">{frames[-1]}<" in page
    assert not [key for key, _ in read_keys(keys(run)) if key.hex() in page.lower()]  # the report embeds no key
