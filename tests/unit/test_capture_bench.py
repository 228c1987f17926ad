"""A bench without a sniffer: each test still gets its host-side EZSP frame log beside the evidence.

The bench here is a rig with a real radio ``port`` -- an emulated NCP served on TCP, hosting the
rig's devices -- so the harness treats it exactly as a bench: no air of its own to capture, no
keys file. What it writes is bellows' EZSP frames, one file per test, with every key redacted.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from harness.capture.ezsp_log import EZSP_LOGGER, EzspFrameLog
from harness.capture.keys_file import read_keys
from harness.capture.per_test import captures_directory
from harness.emulator.server import EmulatedRadio
from harness.report.scan import find_secrets
from harness.rig import load_rig
from tests.fixtures.inner_runs import runpytest_subprocess
from tests.fixtures.rigfiles import NETWORK_KEY, SECRETS, emulated_rig_text, make_tree

pytest_plugins = ("pytester",)

TESTS = '''
async def test_first(hub):
    assert sorted(hub.admitted) == ["ihd1", "ppmid1"]

async def test_second(hub):
    assert await hub.current_version("ppmid1") == 0x00000101
'''


def bench_rig_text(port: str) -> str:
    """The emulated test rig as a bench sees it: the same devices behind a real radio port."""
    text = emulated_rig_text("bench")
    text = text.replace("[radio.emulated]\nezsp_version = 13\nseed = 1\n", "")
    text = text.replace('[radio]\n', f'[radio]\nport = "{port}"\n', 1)
    return re.sub(r"\[devices\.emulation\]\n(?:[a-z_]+ = .*\n)+", "", text)


def test_a_bench_without_a_sniffer_writes_each_tests_ezsp_frames_redacted(pytester: pytest.Pytester) -> None:
    root = make_tree(pytester.path)
    with EmulatedRadio(load_rig(root / "rigs" / "emulated.toml"), transport="tcp") as radio:
        (root / "rigs" / "bench.toml").write_text(bench_rig_text(radio.port))
        pytester.makepyfile(test_bench=TESTS)
        pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
        evidence = root / "reports" / "evidence.json"
        result = runpytest_subprocess(pytester, "--rig=bench", f"--evidence={evidence}", "--log-level=DEBUG")
    result.assert_outcomes(passed=2)
    captures = captures_directory(evidence)
    logs = sorted(captures.iterdir())
    assert [p.name for p in logs] == ["test_bench.py-test_first.ezsp.log", "test_bench.py-test_second.ezsp.log"]
    first, second = (p.read_text() for p in logs)
    assert re.search(r"^\d+\.\d{6} > formNetwork: ", first, re.M), "the first test's log holds the HAN forming"
    assert re.search(r"^\d+\.\d{6} < trustCenterJoinHandler: ", first, re.M), "... and the joins"
    assert "formNetwork" not in second and re.search(r"^\d+\.\d{6} > sendUnicast: ", second, re.M)
    assert find_secrets([captures], [bytes.fromhex(NETWORK_KEY), *SECRETS]) == []
    assert "setInitialSecurityState" in first and "exportKey" in first, "the frames that carry keys are there"
    assert not re.search(r"(?:[0-9a-f]{2}:){15}[0-9a-f]{2}", first + second), "... with no key in clear"
    records = {t["nodeid"]: t["captures"] for t in json.loads(evidence.read_text())["tests"]}
    (record,) = records["test_bench.py::test_second"]
    assert record["file"] == "captures/evidence/test_bench.py-test_second.ezsp.log" and record["keys_file"] == ""
    assert record["format"] == "EZSP frame log" and record["frames"] == second.count("\n") - 2


def test_the_frame_log_passes_on_only_what_the_logger_would_have(tmp_path: Path) -> None:
    logger, parent = logging.getLogger(EZSP_LOGGER), logging.getLogger("bellows")
    heard: list[logging.LogRecord] = []
    listener = logging.Handler()
    listener.emit = heard.append  # type: ignore[method-assign]
    before, parent_before = logger.level, parent.level
    parent.setLevel(logging.INFO)
    parent.addHandler(listener)
    try:
        frame_log = EzspFrameLog(lambda text: text.replace("secret", "[REDACTED]"))
        frame_log.start_capture(tmp_path, "tests/a.py::test_x")
        logger.debug("Sending command  %s: %s %s", "nop", ("secret",), {})
        logger.debug("Received command %s: %s", "nop", [])
        logger.warning("Unknown application frame")
        frame_log.uninstall()
    finally:
        parent.removeHandler(listener)
        parent.setLevel(parent_before)
    assert [r.getMessage() for r in heard] == ["Unknown application frame"]  # DEBUG stays below INFO
    assert logger.level == before and not logger.filters
    lines = (tmp_path / "tests-a.py-test_x.ezsp.log").read_text().splitlines()
    assert [line.split(" ", 2)[1:] for line in lines[2:]] == [[">", "nop: ('[REDACTED]',) {}"], ["<", "nop: []"]]


def test_a_bench_with_a_sniffer_captures_each_tests_air_and_writes_keys_only_when_asked(pytester: pytest.Pytester) -> None:
    root = make_tree(pytester.path)
    with (EmulatedRadio(load_rig(root / "rigs" / "emulated.toml"), transport="tcp") as radio,
          EmulatedRadio(ezsp_version=13, transport="tcp") as stick):
        stick.sniff(radio)
        sniffer = f'\n[radio.sniffer]\nport = "{stick.port}"\nwrite_keys = true\n'
        (root / "rigs" / "bench.toml").write_text(bench_rig_text(radio.port) + sniffer)
        pytester.makepyfile(test_bench=TESTS)
        pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
        evidence = root / "reports" / "evidence.json"
        result = runpytest_subprocess(pytester, "--rig=bench", f"--evidence={evidence}")
    result.assert_outcomes(passed=2)
    captures = captures_directory(evidence)
    assert sorted(p.name for p in captures.iterdir()) == [
        "test_bench.py-test_first.pcapng", "test_bench.py-test_second.pcapng", "zigbee-keys.txt"]
    records = {t["nodeid"]: t["captures"] for t in json.loads(evidence.read_text())["tests"]}
    (first,) = records["test_bench.py::test_first"]
    assert first["format"] == "802.15.4 pcapng" and first["source"] == f"sniffer {stick.port}"
    assert first["frames"] > 50 and first["keys_file"] == "captures/evidence/zigbee-keys.txt"  # the joins
    assert [label for _, label in read_keys(captures / "zigbee-keys.txt")] == [
        "network key", "link key ihd1 (install code)", "link key ppmid1 (install code)"]
