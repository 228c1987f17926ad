"""One whole conformance run with planted secrets, shared by the tests that inspect its artefacts.

The rig is rigs/emulated.toml with its secrets replaced by known, planted ones (a pinned network
key, fresh install codes with a correct CRC): same radio, devices and images, so it is the CI run
in every respect a report shows, and every secret that could leak is one the tests know.
The run happens once per process (the first test that asks), in a subprocess, as a lab
runs the suite: ``pytest tests/conformance --rig=... --html=... --junitxml=... --evidence=...``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import zigpy.util

from harness.emulator.devices.settings import DeviceTimings
from harness.keys import crc16_x25

REPO = Path(__file__).resolve().parents[1].parent
EMULATED_RIG = REPO / "rigs" / "emulated.toml"

#: How long a test watches for something a device must NOT do: the emulated devices' longest own
#: pause (the rig leaves their timings at the defaults), not the suite's default for real devices.
QUIET_WINDOW_S = DeviceTimings().longest_own_pause_s

#: Planted: a pinned network key and one install code per device (16 bytes + CRC), all made up.
PLANTED_NETWORK_KEY = bytes.fromhex("5EC2E7A1B0C0FFEE13572468ACE0BDF1")
PLANTED_CODES = {
    "ihd1": bytes.fromhex("6A1D0C0DE5EC2E7000112233445566AB"),
    "ppmid1": bytes.fromhex("99B8D1E0F00DCAFE7766554433221100"),
}


def with_crc(code: bytes) -> bytes:
    return code + crc16_x25(code).to_bytes(2, "little")


def planted_secrets() -> list[bytes]:
    """Every secret of the planted rig: the network key, the install codes and their link keys."""
    secrets = [PLANTED_NETWORK_KEY]
    for code in PLANTED_CODES.values():
        full = with_crc(code)
        secrets += [full, bytes(zigpy.util.convert_install_code(full))]
    return secrets


def write_planted_rig(directory: Path) -> Path:
    """rigs/emulated.toml with the planted secrets and absolute paths, as ``directory/planted.toml``."""
    text = EMULATED_RIG.read_text(encoding="utf-8")
    text = re.sub(r'^name = "emulated"', 'name = "planted"', text, count=1, flags=re.M)
    text = text.replace('"../firmware_images/', f'"{REPO}/firmware_images/')
    text = re.sub(r"^\[han\]\n", f'[han]\nnetwork_key = "{PLANTED_NETWORK_KEY.hex().upper()}"\n', text, count=1, flags=re.M)
    for name, code in PLANTED_CODES.items():
        text, n = re.subn(rf'(name = "{name}"\n(?:.*\n)*?install_code = )"[0-9A-F]+"',
                          rf'\1"{with_crc(code).hex().upper()}"', text, count=1)
        assert n == 1, f"{EMULATED_RIG}: no install_code found for device {name}"
    text = f'profiles_dir = "{REPO}/profiles"\n' + text
    rig = directory / "planted.toml"
    rig.write_text(text, encoding="utf-8")
    return rig


@dataclass(frozen=True)
class ConformanceRun:
    directory: Path
    rig: Path
    html: Path
    junit: Path
    evidence: Path
    log: Path           # the terminal output, with live DEBUG logging
    returncode: int
    seconds: float
    output: str

    @property
    def artefacts(self) -> list[Path]:
        return [self.html, self.junit, self.evidence, self.log]


_RUN: ConformanceRun | None = None


def planted_run(tmp_path_factory) -> ConformanceRun:
    """The run (started by the first caller in this process)."""
    global _RUN
    if _RUN is None:
        directory = tmp_path_factory.mktemp("conformance-run")
        rig = write_planted_rig(directory)
        reports = directory / "reports"
        html, junit, evidence, log = (reports / "uit.html", reports / "junit.xml", reports / "evidence.json",
                                      directory / "terminal.log")
        began = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", str(REPO / "tests" / "conformance"), f"--rootdir={REPO}",
             "-c", str(REPO / "pyproject.toml"), f"--rig={rig}", f"--html={html}", "--self-contained-html",
             f"--junitxml={junit}", f"--evidence={evidence}", "--operator", "CI conformance run",
             f"--quiet-window={QUIET_WINDOW_S:g}",
             "-rA", "--log-level=DEBUG", "-o", "junit_logging=all", "-o", "log_cli=true", "--log-cli-level=DEBUG"],
            cwd=directory, capture_output=True, text=True, timeout=600, check=False,
        )
        output = done.stdout + done.stderr
        log.write_text(output, encoding="utf-8")
        _RUN = ConformanceRun(directory, rig, html, junit, evidence, log, done.returncode,
                              time.monotonic() - began, output)
    return _RUN
