"""Proof that the conformance suite catches defects, each with the test meant to catch it.

rigs/emulated-defects.toml puts one emulated PPMID per defect the emulator offers
(``harness.emulator.devices.behaviours.BEHAVIOURS``) plus conformant controls (one of them
downloading with Image Page Requests) on one HAN. The
whole conformance suite runs against it ONCE (in a subprocess, as a lab would run it), and the
failures are read back per device from the JUnit XML. :data:`EXPECTED` is the map the suite is
designed to: defect -> the conformance tests it must fail. A defect that fails fewer tests is a
gap in the suite; one that fails more means a test is judging something it was not written for.
Either way the test fails with the whole map as a table; the table is printed on success too
(``pytest -s`` shows it, and it is in the test's captured output in the HTML report).
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.emulator.devices.behaviours import BEHAVIOURS
from harness.rig import load_rig

pytest_plugins = ("pytester",)

REPO = Path(__file__).resolve().parents[2]
DEFECTS_RIG = REPO / "rigs" / "emulated-defects.toml"
SUITE = REPO / "tests" / "conformance"

#: Windows for the run: emulated devices answer within milliseconds, so a silent one may fail fast.
RUN_OPTIONS = ("--patience=1", "--quiet-window=1")

# Conformance tests, by function name.
GOOD_IMAGE = "test_good_image_is_transferred_activated_and_read_back"
FORCED_DOWNGRADE = "test_forced_downgrade_is_installed"
DOWNGRADE_REFUSED = "test_downgrade_is_refused_unless_forced"
WAIT_FOR_DATA = "test_wait_for_data_is_honoured"
RESUME = "test_interrupted_transfer_resumes_from_its_offset"
WRONG_HARDWARE = "test_image_for_other_hardware_is_never_transferred"
OTHER_MANUFACTURER = "test_image_for_another_manufacturer_is_not_taken"
DEVICE_REJECTS_BAD_IMAGE = "test_device_rejects_a_bad_image_with_invalid_image"
TENANCY_AFTER_JOIN = "test_device_reads_tenancy_after_joining"
TENANCY_AFTER_COT = "test_device_reads_tenancy_again_after_a_change_of_tenancy"
KEY_ESTABLISHMENT = "test_device_completes_key_establishment_with_the_ch"
PAGE_REQUESTS = "test_page_requests_are_served_where_the_device_uses_them"
SE_ENCRYPTED = "test_device_se_traffic_is_aps_encrypted"
UNENCRYPTED_OTA_IGNORED = "test_device_ignores_an_unencrypted_ota_server_command"
TIME_FROM_CH = "test_device_takes_its_time_from_the_ch"

#: Every test that needs a complete, good download: a device that cannot finish one fails them all.
NEEDS_A_GOOD_DOWNLOAD = {GOOD_IMAGE, FORCED_DOWNGRADE, WAIT_FOR_DATA, RESUME}

#: defect -> the conformance tests it must fail (and no others). The conformant control fails none.
EXPECTED: dict[str, set[str]] = {
    "conformant": set(),
    # No query, no transfer: every test that needs the device to ask, including the CH's refusals
    # (the CH decides on what the query says) -- but not the CH discarding a badly signed image,
    # which happens before the device is asked anything.
    "never_queries_image": NEEDS_A_GOOD_DOWNLOAD | {WRONG_HARDWARE, DOWNGRADE_REFUSED, OTHER_MANUFACTURER,
                                                    DEVICE_REJECTS_BAD_IMAGE},
    # Aborts (status ABORT) half-way: no good download, and a bad image is not rejected with INVALID_IMAGE.
    "aborts_mid_transfer": NEEDS_A_GOOD_DOWNLOAD | {DEVICE_REJECTS_BAD_IMAGE},
    # Rejects everything: fine for bad images, wrong for every good one.
    "rejects_good_image": NEEDS_A_GOOD_DOWNLOAD,
    # Asks for, and installs, an image for another manufacturer.
    "accepts_foreign_image": {OTHER_MANUFACTURER},
    "ignores_wait_for_data": {WAIT_FOR_DATA},
    # Downloads fine; the activation tests (good image, forced downgrade) see it still runs the old image.
    "activation_fails": {GOOD_IMAGE, FORCED_DOWNGRADE},
    "reports_old_version": {GOOD_IMAGE, FORCED_DOWNGRADE},
    "never_reads_tenancy": {TENANCY_AFTER_JOIN, TENANCY_AFTER_COT},
    # Leaves half-way through every transfer: like an abort, but silent (the CH's stall timer ends it).
    "leaves_han": NEEDS_A_GOOD_DOWNLOAD | {DEVICE_REJECTS_BAD_IMAGE},
    # Key establishment (CBKE, Crypto Suite 2) with the CH as trust centre: each way of getting it wrong.
    "cbke_suite1_only": {KEY_ESTABLISHMENT},
    "cbke_foreign_issuer": {KEY_ESTABLISHMENT},
    "cbke_bad_confirm_key": {KEY_ESTABLISHMENT},
    "cbke_never_finishes": {KEY_ESTABLISHMENT},
    # Never reads the CH's KeyEstablishmentSuite, so offers Crypto Suite 1, which the CH refuses.
    "cbke_skips_suite_read": {KEY_ESTABLISHMENT},
    # Smart Energy security and registration (reference/real-device-behaviour.md §1, §3).
    # Its unencrypted requests are refused by the CH as by any SE node: its tenancy and time reads
    # go unanswered too, as they would on a bench.
    "sends_se_unencrypted": {SE_ENCRYPTED, TENANCY_AFTER_JOIN, TENANCY_AFTER_COT, TIME_FROM_CH},
    "acts_on_unencrypted_ota": {UNENCRYPTED_OTA_IGNORED},
    "ignores_time_server": {TIME_FROM_CH},
}


@dataclass(frozen=True)
class SuiteRun:
    """The conformance suite's outcome per device: test name -> outcomes of its parametrisations."""

    outcomes: dict[str, dict[str, list[str]]]  # device -> test -> ["passed" | "failed" | "skipped" ...]
    seconds: float
    output: str

    def failed(self, device: str) -> set[str]:
        return {test for test, results in self.outcomes.get(device, {}).items()
                if any(r in ("failed", "error") for r in results)}

    def ran(self, device: str) -> set[str]:
        return set(self.outcomes.get(device, {}))


def device_of(case_name: str, devices: list[str]) -> tuple[str, str] | None:
    """``test_x[ppmid_a-ppmid-next]`` -> (``test_x``, ``ppmid_a``) for the rig's device names."""
    match = re.fullmatch(r"(\w+)\[(.+)\]", case_name)
    if match is None:
        return None
    test, param = match.groups()
    owners = [d for d in devices if param == d or param.startswith(f"{d}-")]
    return (test, max(owners, key=len)) if owners else None


def read_junit(path: Path, devices: list[str]) -> dict[str, dict[str, list[str]]]:
    outcomes: dict[str, dict[str, list[str]]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        found = device_of(case.get("name", ""), devices)
        if found is None:
            continue
        test, device = found
        result = ("error" if case.find("error") is not None else "failed" if case.find("failure") is not None
                  else "skipped" if case.find("skipped") is not None else "passed")
        outcomes.setdefault(device, {}).setdefault(test, []).append(result)
    return outcomes


def behaviour_by_device() -> dict[str, str]:
    rig = load_rig(DEFECTS_RIG)
    return {d.name: d.emulation.behaviour for d in rig.devices if d.emulation is not None}


def run_suite(pytester: pytest.Pytester) -> SuiteRun:
    """The whole conformance suite against the defects rig, once, in a subprocess."""
    devices = list(behaviour_by_device())
    junit = pytester.path / "defects.xml"
    began = time.monotonic()
    result = pytester.runpytest_subprocess(
        str(SUITE), f"--rootdir={REPO}", "-c", str(REPO / "pyproject.toml"), f"--rig={DEFECTS_RIG}",
        *RUN_OPTIONS, f"--junitxml={junit}", "-q", timeout=600,
    )
    seconds = time.monotonic() - began
    output = "\n".join(result.outlines + result.errlines)
    assert junit.is_file(), f"the conformance run wrote no JUnit XML (exit {result.ret}):\n{output[-4000:]}"
    return SuiteRun(read_junit(junit, devices), seconds, output)


def map_table(expected: dict[str, set[str]], measured: dict[str, set[str]], behaviours: dict[str, str]) -> str:
    """One block per defect: its device, the verdict, and each test it failed.

    A test it failed but should not have is marked ``+ (not expected)``; one it should have failed
    but passed is marked ``- (expected, passed)``.
    """
    device_for: dict[str, str] = {}
    for d, b in behaviours.items():
        device_for[b] = f"{device_for[b]}, {d}" if b in device_for else d
    defects = sorted(set(expected) | set(measured), key=lambda b: (b != "conformant", b))
    rows: list[tuple[str, str, str, str]] = [("defect", "device", "verdict", "conformance tests failed")]
    for defect in defects:
        want, got = expected.get(defect, set()), measured.get(defect, set())
        lines = [f"  {t}" for t in sorted(got & want)]
        lines += [f"+ {t} (not expected)" for t in sorted(got - want)]
        lines += [f"- {t} (expected, passed)" for t in sorted(want - got)]
        rows.append((defect, device_for.get(defect, "(no device)"), "ok" if want == got else "DIFFERS",
                     lines[0] if lines else "  none"))
        rows.extend(("", "", "", line) for line in lines[1:])
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    out = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3] for row in rows]
    out.insert(1, "-" * max(len(line) for line in out))
    return "\n".join(out)


def test_the_defects_rig_has_one_device_per_emulated_defect() -> None:
    behaviours = behaviour_by_device()
    counts = {b: list(behaviours.values()).count(b) for b in BEHAVIOURS}
    missing = [b for b, n in counts.items() if n == 0]
    doubled = [b for b, n in counts.items() if n > 1 and b != "conformant"]  # controls may be several
    assert not missing and not doubled, (
        f"{DEFECTS_RIG.name}: needs exactly one device per behaviour; missing: {missing or 'none'}, "
        f"more than one: {doubled or 'none'}")
    assert set(EXPECTED) == set(BEHAVIOURS), (
        f"EXPECTED (this file) and BEHAVIOURS differ: no expectation for {sorted(set(BEHAVIOURS) - set(EXPECTED))}, "
        f"expectation for unknown behaviour(s) {sorted(set(EXPECTED) - set(BEHAVIOURS))}")


def test_each_defect_fails_exactly_the_tests_meant_to_catch_it(pytester: pytest.Pytester) -> None:
    run = run_suite(pytester)
    behaviours = behaviour_by_device()
    measured: dict[str, set[str]] = {}
    for device, behaviour in behaviours.items():
        measured.setdefault(behaviour, set()).update(run.failed(device))
    table = map_table(EXPECTED, measured, behaviours)
    print(f"\nDefect-to-test map (conformance suite on {DEFECTS_RIG.name}, {run.seconds:.1f} s):\n{table}")

    for control in (d for d, b in behaviours.items() if b == "conformant"):
        assert run.outcomes.get(control), f"no test ran for the conformant control {control}:\n{run.output[-3000:]}"
        assert not run.failed(control), (f"the conformant control {control} must pass every test; it failed "
                                         f"{sorted(run.failed(control))}\n{table}\n{run.output[-3000:]}")
    paged = [d for d, b in behaviours.items() if b == "conformant" and "passed" in
             run.outcomes.get(d, {}).get(PAGE_REQUESTS, [])]
    assert paged, f"{PAGE_REQUESTS} passed on no conformant device: the page-request path went untested"
    uncaught = sorted(b for d, b in behaviours.items() if b != "conformant" and not run.failed(d))
    assert not uncaught, f"defects the conformance suite does not catch: {uncaught}\n{table}"
    not_run = {b: sorted(EXPECTED.get(b, set()) - run.ran(d)) for d, b in behaviours.items()
               if EXPECTED.get(b, set()) - run.ran(d)}
    assert not not_run, f"tests the map names never ran for these devices: {not_run}\n{run.output[-3000:]}"
    assert measured == EXPECTED, f"the defect-to-test map differs from the expected one:\n{table}"
