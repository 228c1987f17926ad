"""Proof that the conformance suite catches defects, each with the test meant to catch it.

rigs/emulated-defects.toml puts one emulated PPMID per emulated behaviour (the package's own and
any a lab registered, see ``harness.emulator.devices.behaviours``) plus conformant controls (one of
them downloading with Image Page Requests) on one HAN. The whole conformance suite runs against it
once per device, the devices dealt into :data:`SHARDS` rig files run side by side (subprocesses, as a
lab would run the suite, each with its own emulated NCP), and the failures are read back per device
from their JUnit XML into one map. The map the suite is designed to -- defect -> the conformance tests it must fail, controls
failing none -- is data: tests/conformance/defect-map.toml, extended by a lab's own map files named in
``$HARNESS_DEFECT_MAPS`` (and its own defects rig in ``$HARNESS_DEFECTS_RIG``). A defect that fails
fewer tests is a gap in the suite; one that fails more means a test is judging something it was not
written for. Either way the test fails with the whole map as a table; the table is printed on success
too (``pytest -s`` shows it, and it is in the test's captured output in the HTML report).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.emulator.devices.behaviours import available_behaviours
from harness.emulator.devices.settings import DeviceTimings
from harness.rig import RigError, load_rig
from harness.tomlread import ConfigError, Table, load_toml
from tests.fixtures.inner_runs import UNUSED_PLUGINS

pytest_plugins = ("pytester",)

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "tests" / "conformance"
#: The map of the package's own behaviours; a lab adds files with :data:`MAPS_ENV`.
DEFECT_MAP = SUITE / "defect-map.toml"
MAPS_ENV = "HARNESS_DEFECT_MAPS"
RIG_ENV = "HARNESS_DEFECTS_RIG"
DEFECTS_RIG = Path(os.environ.get(RIG_ENV) or REPO / "rigs" / "emulated-defects.toml")

#: Windows for the run, from the emulated devices' own timings (the rig leaves them at their
#: defaults): a conformant device acts within its longest own pause, so a device silent for that
#: long fails, and one that has not misbehaved within it is not going to.
WINDOW_S = DeviceTimings().longest_own_pause_s
#: Waiting for a device to act (``--patience``: the CH's stall and query timeouts) also allows for
#: carrying the frames: with the runs side by side on a loaded 2-core machine, a conformant paged
#: device's next Image Page Request was seen to reach the CH more than 1 s after its page. Only a
#: silent defect waits the whole of it; the quiet window (waiting for what must NOT happen) stays
#: the device's own pause, since every conformance run pays it.
CARRY_ALLOWANCE_S = 1.5
RUN_OPTIONS = (f"--patience={WINDOW_S + CARRY_ALLOWANCE_S:g}", f"--quiet-window={WINDOW_S:g}")

#: The one conformance test a device with Image Page Requests must pass (the controls prove the page path).
PAGE_REQUESTS = "test_page_requests_are_served_where_the_device_uses_them"
SE_ENCRYPTED = "test_device_se_traffic_is_aps_encrypted"
UNENCRYPTED_OTA_IGNORED = "test_device_ignores_an_unencrypted_ota_server_command"
TIME_FROM_CH = "test_device_takes_its_time_from_the_ch"


class DefectMapError(ConfigError):
    """A defect map is wrong: ``<file>: <key.path>: <what was wrong>``."""


def map_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The package's map, then each file a lab names in ``$HARNESS_DEFECT_MAPS``."""
    extra = (os.environ if environ is None else environ).get(MAPS_ENV, "")
    return [DEFECT_MAP, *(Path(item) for item in extra.split(os.pathsep) if item.strip())]


def load_defect_maps(paths: Iterable[Path]) -> dict[str, frozenset[str]]:
    """defect -> the conformance tests it must fail, from every map file in order.

    ``[groups]`` name sets of tests, used as ``"@name"`` (a group may be used by a later file);
    ``[defects.NAME] must_fail = [...]``, with an optional ``why``. A defect in two files, a group
    defined twice, an unknown group or a name that is no test function is a one-line error.
    """
    groups: dict[str, tuple[frozenset[str], Path]] = {}
    expected: dict[str, frozenset[str]] = {}
    where_defined: dict[str, Path] = {}
    for path in paths:
        top = Table(load_toml(path, DefectMapError), file=path, error=DefectMapError)
        table = top.table("groups") if top.has("groups") else None
        if table is not None:
            for name in table.keys():
                if name in groups:
                    table.fail(name, f"group {name!r} is already defined in {groups[name][1]}")
                tests = table.texts(name)
                for index, test in enumerate(tests):
                    _check_test_name(table, f"{name}[{index}]", test)
                groups[name] = (frozenset(tests), path)
            table.finish()
        defects = top.table("defects")
        for defect in defects.keys():
            entry = defects.table(defect)
            if defect in where_defined:
                defects.fail(defect, f"defect {defect!r} is already mapped in {where_defined[defect]}")
            tests: set[str] = set()
            for index, item in enumerate(entry.texts("must_fail", allow_empty_list=True)):
                if item.startswith("@"):
                    if item[1:] not in groups:
                        entry.fail(f"must_fail[{index}]", f"unknown group {item!r}; groups: {', '.join(groups) or 'none'}")
                    tests |= groups[item[1:]][0]
                else:
                    _check_test_name(entry, f"must_fail[{index}]", item)
                    tests.add(item)
            entry.text("why", "")
            entry.finish()
            expected[defect], where_defined[defect] = frozenset(tests), path
        defects.finish()
        top.finish()
    return expected


def _check_test_name(table: Table, key: str, name: str) -> None:
    if not re.fullmatch(r"test_\w+", name):
        table.fail(key, f"expected a conformance test function name (test_...), got {name!r}")


def coverage_problems(expected: Mapping[str, frozenset[str]], behaviour_by_device: Mapping[str, str],
                      registered: Iterable[str]) -> list[str]:
    """What keeps the proof from being complete: a behaviour without a map entry or without its one device.

    Every registered behaviour (the package's and a lab's) must be mapped, every mapped one must be
    registered, and the rig must hold exactly one device per defect (controls may have several).
    """
    registered = list(registered)
    problems = [f"behaviour {name!r} is registered but in no defect map (add it to {DEFECT_MAP.name} or a "
                f"${MAPS_ENV} file)" for name in registered if name not in expected]
    problems += [f"defect map entry {name!r} names no registered behaviour" for name in expected
                 if name not in registered]
    playing = list(behaviour_by_device.values())
    for name in expected:
        count = playing.count(name)
        if count == 0:
            problems.append(f"{DEFECTS_RIG.name}: no device plays {name!r}")
        elif count > 1 and expected[name]:
            problems.append(f"{DEFECTS_RIG.name}: {count} devices play the defect {name!r}; one is enough")
    problems += [f"{DEFECTS_RIG.name}: device {device!r} plays {name!r}, which no defect map names"
                 for device, name in behaviour_by_device.items() if name not in expected]
    return problems


@dataclass(frozen=True)
class SuiteRun:
    """The conformance suite's outcome per device: test name -> outcomes of its parametrisations."""

    outcomes: dict[str, dict[str, list[str]]]  # device -> test -> ["passed" | "failed" | "skipped" ...]
    seconds: float
    outputs: dict[str, str]  # device -> the output of the run it was in
    runs: int = 1
    reasons: dict[tuple[str, str], str] = field(default_factory=dict)  # (device, test) -> why it failed

    def failed(self, device: str) -> set[str]:
        return {test for test, results in self.outcomes.get(device, {}).items()
                if any(r in ("failed", "error") for r in results)}

    def ran(self, device: str) -> set[str]:
        return set(self.outcomes.get(device, {}))

    def output(self, device: str | None = None, tail: int = 3000) -> str:
        """The end of ``device``'s run output (every run's, without a device)."""
        texts = [self.outputs[device]] if device in self.outputs else list(dict.fromkeys(self.outputs.values()))
        return "\n".join(text[-tail:] for text in texts)


def device_of(case_name: str, devices: list[str]) -> tuple[str, str] | None:
    """``test_x[ppmid_a-ppmid-next]`` -> (``test_x``, ``ppmid_a``) for the rig's device names."""
    match = re.fullmatch(r"(\w+)\[(.+)\]", case_name)
    if match is None:
        return None
    test, param = match.groups()
    owners = [d for d in devices if param == d or param.startswith(f"{d}-")]
    return (test, max(owners, key=len)) if owners else None


def read_junit(path: Path, devices: list[str],
               reasons: dict[tuple[str, str], str] | None = None) -> dict[str, dict[str, list[str]]]:
    """Outcomes per device and test; with ``reasons``, each failure's message goes there too."""
    outcomes: dict[str, dict[str, list[str]]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        found = device_of(case.get("name", ""), devices)
        if found is None:
            continue
        test, device = found
        problem = case.find("error") if case.find("error") is not None else case.find("failure")
        result = ("error" if case.find("error") is not None else "failed" if case.find("failure") is not None
                  else "skipped" if case.find("skipped") is not None else "passed")
        outcomes.setdefault(device, {}).setdefault(test, []).append(result)
        if reasons is not None and problem is not None:
            reasons.setdefault((device, test), problem.get("message", "").strip())
    return outcomes


def unexpected_failures(expected: Mapping[str, set[str]], run: SuiteRun, behaviours: Mapping[str, str]) -> str:
    """Why each test a device failed outside its defect's map failed, as its run said: load, a
    changed check or a changed device reads differently, and the run's files are gone with its tmp."""
    lines = [f"{device} {test}: {run.reasons.get((device, test), '(no message)')[:600]}"
             for device, behaviour in sorted(behaviours.items())
             for test in sorted(run.failed(device) - expected.get(behaviour, set()))]
    return "\n".join(["tests failed outside the map, and why:", *lines]) if lines else ""


def behaviour_by_device() -> dict[str, str]:
    rig = load_rig(DEFECTS_RIG)
    return {d.name: d.emulation.behaviour for d in rig.devices if d.emulation is not None}


# -- the run, in shards ------------------------------------------------------------------------------

#: How many conformance runs the defects rig is split into, run side by side. A run waits on its
#: devices' windows about half its time, so runs overlap well even on two cores; each costs its own
#: interpreter, collection and hub start. Four beat two and three on this 2-core machine, alone and
#: loaded (bench/README.md, "The test run").
SHARDS = 4
#: The longest the shards together may take before they are stopped and the proof fails with their output.
RUN_TIMEOUT_S = 600.0


def deal_devices(weights: Mapping[str, float], count: int) -> list[list[str]]:
    """The devices dealt into at most ``count`` non-empty shards of about equal weight, each in rig order.

    Heaviest first, each to the lightest shard so far, so that the devices that keep a run waiting
    longest (the silent defects, see :func:`device_weights`) do not end up in one run.
    """
    hands: list[list[str]] = [[] for _ in range(count)]
    loads = [0.0] * count
    for device in sorted(weights, key=lambda name: -weights[name]):  # stable: ties keep rig order
        lightest = loads.index(min(loads))
        hands[lightest].append(device)
        loads[lightest] += weights[device]
    order = list(weights)
    return [sorted(hand, key=order.index) for hand in hands if hand]


def device_weights(expected: Mapping[str, Iterable[str]]) -> dict[str, float]:
    """How long each device keeps a conformance run busy, roughly: a test per image it is assigned
    (its transfers), and a wait for each test its defect must fail (a failing device is mostly a
    silent one, and the CH waits its patience for it)."""
    rig = load_rig(DEFECTS_RIG)
    behaviours = behaviour_by_device()
    return {device: 1 + len(rig.images_for(device)) + 2 * len(list(expected.get(behaviour, ())))
            for device, behaviour in behaviours.items()}


def toml_value(value: object) -> str:
    """``value`` (as :mod:`tomllib` reads it) as one line of TOML: tables and arrays of tables inline."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(key)} = {toml_value(item)}" for key, item in value.items()) + "}"
    raise TypeError(f"not a TOML value: {value!r}")


def _absolute(text: str, base: Path) -> str:
    return str((base / os.path.expanduser(text)).resolve())


def _absolute_secret(text: str, base: Path) -> str:
    return f"file:{_absolute(text[5:], base)}" if text.startswith("file:") else text


def write_shard_rig(source: Path, devices: Iterable[str], path: Path) -> Path:
    """``source`` with only ``devices`` (and their image assignments), written to ``path``.

    Everything else -- the radio, the HAN, the hub's waits -- is kept; file paths and ``file:``
    secrets, which the rig reader resolves against the rig's own directory, are made absolute so
    the shard reads the same files from elsewhere, and the name follows the file's (the reader insists).
    """
    keep = set(devices)
    document = load_toml(source, RigError)
    base = source.resolve().parent
    document["name"] = path.stem
    document["profiles_dir"] = _absolute(document.get("profiles_dir", "../profiles"), base)
    if "persistence" in document.get("han", {}):
        document["han"]["persistence"] = _absolute(document["han"]["persistence"], base)
    if "verification_key" in document.get("supplier", {}):
        document["supplier"]["verification_key"] = _absolute(document["supplier"]["verification_key"], base)
    for table in (document.get("radio", {}), document.get("han", {})):
        for key, value in table.items():
            if isinstance(value, str):
                table[key] = _absolute_secret(value, base)
    document["devices"] = [device for device in document.get("devices", []) if device.get("name") in keep]
    for device in document["devices"]:
        for key, value in device.items():
            if key == "signing_certificate":
                device[key] = _absolute(value, base)
            elif isinstance(value, str):
                device[key] = _absolute_secret(value, base)
    images = []
    for image in document.get("images", []):
        assigned = [name for name in image.get("devices", []) if name in keep]
        if assigned:
            images.append({**image, "devices": assigned, "file": _absolute(image["file"], base)})
    document["images"] = images
    path.write_text("".join(f"{json.dumps(key)} = {toml_value(value)}\n" for key, value in document.items()))
    return path


@dataclass(frozen=True)
class Shard:
    """One conformance run over some of the defects rig's devices, in its own directory."""

    devices: tuple[str, ...]
    directory: Path

    @property
    def rig(self) -> Path:
        return self.directory / f"{DEFECTS_RIG.stem}-shard.toml"

    @property
    def junit(self) -> Path:
        return self.directory / "junit.xml"

    @property
    def log(self) -> Path:
        return self.directory / "output.txt"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "pytest", str(SUITE), f"--rootdir={REPO}", "-c", str(REPO / "pyproject.toml"),
                f"--rig={self.rig}", *RUN_OPTIONS, f"--junitxml={self.junit}", f"--basetemp={self.directory / 'tmp'}",
                f"--evidence={self.directory / 'evidence' / 'evidence.json'}", "-q", *UNUSED_PLUGINS]


def run_suite(pytester: pytest.Pytester, shards: int = SHARDS) -> SuiteRun:
    """The whole conformance suite against the defects rig, its devices split into ``shards`` runs.

    The runs are subprocesses (as a lab would run the suite), started together, each with its own
    rig file, emulated NCP and pty, evidence and JUnit XML; their outcomes merge into one.
    """
    devices = list(behaviour_by_device())
    weights = device_weights(load_defect_maps(map_files()))
    plan = [Shard(tuple(hand), pytester.mkdir(f"shard{index}")) for index, hand in
            enumerate(deal_devices(weights, shards), start=1)]
    began = time.monotonic()
    running: list[tuple[Shard, subprocess.Popen[bytes]]] = []
    try:
        for shard in plan:
            write_shard_rig(DEFECTS_RIG, shard.devices, shard.rig)
            with shard.log.open("w") as log:  # the child writes to the file itself
                running.append((shard, pytester.popen(shard.command(), stdout=log, stderr=subprocess.STDOUT)))
        endings = [_await(process, began + RUN_TIMEOUT_S) for _, process in running]
    finally:
        for _, process in running:
            if process.poll() is None:
                process.kill()
                process.wait()
    seconds = time.monotonic() - began
    outcomes: dict[str, dict[str, list[str]]] = {}
    outputs: dict[str, str] = {}
    reasons: dict[tuple[str, str], str] = {}
    for (shard, _), ending in zip(running, endings, strict=True):
        output = (f"== conformance run over {', '.join(shard.devices)}: {ending} ==\n"
                  + shard.log.read_text(errors="replace"))
        assert shard.junit.is_file(), f"the conformance run wrote no JUnit XML ({ending}):\n{output[-4000:]}"
        outcomes.update(read_junit(shard.junit, devices, reasons))
        outputs.update(dict.fromkeys(shard.devices, output))
    return SuiteRun(outcomes, seconds, outputs, runs=len(plan), reasons=reasons)


def _await(process: subprocess.Popen[bytes], deadline: float) -> str:
    """How ``process`` ended, waiting until ``deadline`` (then it is killed)."""
    try:
        return f"exit {process.wait(timeout=max(0.0, deadline - time.monotonic()))}"
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return f"stopped after {RUN_TIMEOUT_S:g} s"


def map_table(expected: Mapping[str, set[str]], measured: dict[str, set[str]], behaviours: dict[str, str]) -> str:
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
    expected = load_defect_maps(map_files())
    problems = coverage_problems(expected, behaviour_by_device(), available_behaviours())
    assert not problems, "the defect proof is incomplete:\n" + "\n".join(problems)


@pytest.mark.longest
def test_each_defect_fails_exactly_the_tests_meant_to_catch_it(pytester: pytest.Pytester) -> None:
    expected = {defect: set(tests) for defect, tests in load_defect_maps(map_files()).items()}
    controls = {defect for defect, tests in expected.items() if not tests}
    run = run_suite(pytester)
    behaviours = behaviour_by_device()
    measured: dict[str, set[str]] = {}
    for device, behaviour in behaviours.items():
        measured.setdefault(behaviour, set()).update(run.failed(device))
    table = map_table(expected, measured, behaviours)
    print(f"\nDefect-to-test map (conformance suite on {DEFECTS_RIG.name} in {run.runs} runs side by side, "
          f"{run.seconds:.1f} s):\n{table}")

    for control in (d for d, b in behaviours.items() if b in controls):
        assert run.outcomes.get(control), f"no test ran for the control {control}:\n{run.output(control)}"
        assert not run.failed(control), (f"the control {control} must pass every test; it failed "
                                         f"{sorted(run.failed(control))}\n{table}\n{run.output(control)}")
    paged = [d for d, b in behaviours.items() if b in controls and "passed" in
             run.outcomes.get(d, {}).get(PAGE_REQUESTS, [])]
    assert paged, f"{PAGE_REQUESTS} passed on no control device: the page-request path went untested"
    uncaught = sorted(b for d, b in behaviours.items() if b not in controls and not run.failed(d))
    assert not uncaught, f"defects the conformance suite does not catch: {uncaught}\n{table}"
    not_run = {b: sorted(expected.get(b, set()) - run.ran(d)) for d, b in behaviours.items()
               if expected.get(b, set()) - run.ran(d)}
    assert not not_run, f"tests the map names never ran for these devices: {not_run}\n{run.output()}"
    assert measured == expected, (f"the defect-to-test map differs from the expected one:\n{table}\n"
                                  f"{unexpected_failures(expected, run, behaviours)}")


# -- the map itself ----------------------------------------------------------------------------------

LAB_MAP = """\
[defects.lab_aborts_after_last_block]
must_fail = ["@needs_a_good_download", "test_device_rejects_a_bad_image_with_invalid_image",
             "test_device_refuses_an_image_not_meant_for_it"]
why = "Takes in every block, then sends Upgrade End ABORT."
"""


def test_the_map_reads_groups_and_controls() -> None:
    expected = load_defect_maps([DEFECT_MAP])
    assert expected["conformant"] == frozenset()
    assert expected["ignores_wait_for_data"] == {"test_wait_for_data_is_honoured"}
    assert "test_interrupted_transfer_resumes_from_its_offset" in expected["rejects_good_image"]


def test_a_lab_map_extends_the_proof_and_its_behaviour_must_then_have_a_device(tmp_path: Path) -> None:
    lab_map = tmp_path / "lab-map.toml"
    lab_map.write_text(LAB_MAP)
    files = map_files({MAPS_ENV: f"{lab_map}{os.pathsep}"})
    assert files == [DEFECT_MAP, lab_map]
    expected = load_defect_maps(files)
    assert expected["lab_aborts_after_last_block"] == expected["aborts_mid_transfer"], "the group came from our map"
    registered = [*available_behaviours(), "lab_aborts_after_last_block"]
    problems = coverage_problems(expected, behaviour_by_device(), registered)
    assert problems == [f"{DEFECTS_RIG.name}: no device plays 'lab_aborts_after_last_block'"]
    unmapped = coverage_problems(load_defect_maps([DEFECT_MAP]), behaviour_by_device(), registered)
    assert unmapped == ["behaviour 'lab_aborts_after_last_block' is registered but in no defect map "
                        f"(add it to defect-map.toml or a ${MAPS_ENV} file)"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (LAB_MAP.replace("@needs_a_good_download", "@nope"),
         "defects.lab_aborts_after_last_block.must_fail[0]: unknown group '@nope'; groups: needs_a_good_download"),
        (LAB_MAP.replace("lab_aborts_after_last_block", "conformant"),
         "defects.conformant: defect 'conformant' is already mapped in "),
        (LAB_MAP.replace('"test_device_rejects', '"rejects'),
         "defects.lab_aborts_after_last_block.must_fail[1]: expected a conformance test function name"),
        (LAB_MAP.replace("must_fail", "must_fial"), "defects.lab_aborts_after_last_block.must_fail: "),
    ],
    ids=["unknown-group", "mapped-twice", "not-a-test", "misspelt-key"],
)
def test_a_wrong_lab_map_is_one_line_naming_file_and_key(tmp_path: Path, text: str, problem: str) -> None:
    lab_map = tmp_path / "lab-map.toml"
    lab_map.write_text(text)
    with pytest.raises(DefectMapError) as caught:
        load_defect_maps([DEFECT_MAP, lab_map])
    message = str(caught.value)
    assert message.startswith(f"{lab_map}: {problem}") and "\n" not in message, message


# -- the shards ----------------------------------------------------------------------------------------


def test_a_shard_rig_holds_its_devices_as_the_defects_rig_describes_them(tmp_path: Path) -> None:
    full = load_rig(DEFECTS_RIG)
    weights = device_weights(load_defect_maps(map_files()))
    hands = deal_devices(weights, SHARDS)
    assert sorted(d for hand in hands for d in hand) == sorted(weights), "every device in exactly one shard"
    for index, hand in enumerate(hands):
        shard = load_rig(write_shard_rig(DEFECTS_RIG, hand, tmp_path / f"shard{index}.toml"))
        assert [d.name for d in shard.devices] == hand
        assert all(shard.device(name) == full.device(name) for name in hand)
        assert all([(i.name, i.file, i.purpose) for i in shard.images_for(name)]
                   == [(i.name, i.file, i.purpose) for i in full.images_for(name)] for name in hand)
        assert (shard.radio, shard.han, shard.hub, shard.supplier_key) == (full.radio, full.han, full.hub,
                                                                           full.supplier_key)


def test_the_silent_defects_are_dealt_to_different_shards() -> None:
    hands = deal_devices({"quiet_a": 30, "quiet_b": 28, "c": 5, "d": 5, "e": 1}, 2)
    assert hands == [["quiet_a", "d"], ["quiet_b", "c", "e"]]
