"""Fixtures of the device conformance suite: one hub per session, devices x images from the rig.

The suite runs unchanged on every rig. It never asks "am I emulated?": what only an emulator can
do (inject faults, re-flash a device between tests) comes from :class:`EmulatorBench`, chosen by
the rig's ``fault_injection`` capability, and a real bench gets :class:`OperatorBench`, which
asks the operator -- or, where nobody can answer (CI), skips or fails as the rig's
``[operator]`` policy says.

Parametrisation comes from the rig, not from the tests: a test that takes ``dut`` runs once per
device under test; a test marked ``@pytest.mark.ota_image("wrong-hardware")`` that takes ``dut``
and ``image`` runs once per (device, image) pair the rig assigns for that purpose
(``rig.images_for(dev, purpose)``), and is reported as skipped, with the reason, when the rig
assigns none.

Timing: the hub (the plugin's ``hub`` fixture: NCP start, joins) is started once per session, and
every async test and fixture of the suite runs on that session's event loop; the plugin hands each
test's records to the evidence log at its teardown. Windows in which a device must act default to its
profile; ``--patience`` caps them for a run where a silent device should fail fast (the
defect-proof run), and ``--quiet-window`` (else the rig's ``[hub] quiet_window_s``, else 3 s) is
how long a test watches for something a device must NOT do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from harness.evidence import CheckRecord, Outcome
from harness.hub.run import HubRun
from harness.plugin import SELECTION_KEY
from harness.rig import DeviceUnderTest, Rig
from tests.fixtures.conformance_bench import EmulatorBench, OperatorBench, version_text
from tests.fixtures.conformance_helpers import read_version

PATIENCE_HELP = ("cap, in seconds, on every window in which a conformance test waits for a device to act "
                 "(the CH's OTA stall and query timeouts, the activation window, the SECMP0056 read window). "
                 "Default: each device profile's own values.")
#: A client that takes up an offered image asks for its first block straight after the Query Next
#: Image Response (ZCL OTA 11.13.4); a few seconds of silence is a refusal on any bench we know of.
DEFAULT_QUIET_WINDOW_S = 3.0
QUIET_HELP = ("how long, in seconds, a conformance test watches for something a device must NOT do (ask for a "
              "block of an image it must refuse). Default: the rig's [hub] quiet_window_s, else "
              f"{DEFAULT_QUIET_WINDOW_S:g}.")

OTA_IMAGE_MARKER = ("ota_image(*purposes): run once per (device, image) pair the rig assigns for one of these "
                    "purposes (rig.images_for(dev, purpose)); the test takes `dut` and `image`.")


# -- options and markers ---------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness")
    group.addoption("--patience", type=float, default=None, metavar="SECONDS", help=PATIENCE_HELP)
    group.addoption("--quiet-window", type=float, default=None, metavar="SECONDS", help=QUIET_HELP)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", OTA_IMAGE_MARKER)


def _session_rig(config: pytest.Config) -> Rig | None:
    selection = config.stash.get(SELECTION_KEY, None)
    return selection.rig if selection is not None else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``dut`` (and ``image``) from the rig: one test per device, or per (device, image) pair."""
    if "dut" not in metafunc.fixturenames:
        return
    rig = _session_rig(metafunc.config)
    if rig is None:
        return  # the `rig` fixture stops the session with the reason
    marker = metafunc.definition.get_closest_marker("ota_image")
    if marker is None:
        metafunc.parametrize("dut", rig.devices, ids=[d.name for d in rig.devices])
        return
    purposes = marker.args
    if not purposes or marker.kwargs or not all(isinstance(p, str) for p in purposes):
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: expected @pytest.mark.{OTA_IMAGE_MARKER.split(':')[0]}")
    pairs = [(dut, image) for dut in rig.devices for purpose in purposes for image in rig.images_for(dut, purpose)]
    if pairs:
        metafunc.parametrize(("dut", "image"), pairs, ids=[f"{d.name}-{i.name}" for d, i in pairs])
    else:
        wanted = " or ".join(repr(p) for p in purposes)
        reason = f"rig {rig.name!r} assigns no {wanted} image to any device"
        metafunc.parametrize(("dut", "image"), [pytest.param(None, None, marks=pytest.mark.skip(reason=reason))],
                             ids=[f"no-{'-'.join(purposes)}-image"])


# -- run-scoped fixtures ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Windows:
    """How long the suite waits: for a device to act (capped by --patience) and for it NOT to act."""

    patience: float | None
    quiet: float
    #: The rig's ``[hub] ota_stall_s``, None when the rig leaves it to each profile.
    ota_stall_s: float | None = None

    def cap(self, seconds: float) -> float:
        return seconds if self.patience is None else min(seconds, self.patience)

    def ota_overrides(self, profile: Any) -> dict[str, float]:
        """OtaServeSettings overrides: the profile's timeouts, capped by --patience.

        The stall window is the rig's ``[hub] ota_stall_s`` where the rig sets it (a bench's own
        measure of its HAN beats a profile's), else the profile's ``block_timeout_s``; --patience
        caps either, as it caps every wait of the suite (README, "Real benches").
        """
        ota = profile.ota
        stall = ota.block_timeout_s if self.ota_stall_s is None else self.ota_stall_s
        return {
            "stall_timeout_s": self.cap(stall),
            "query_timeout_s": self.cap(ota.block_timeout_s),
            "final_block_timeout_s": self.cap(ota.block_timeout_s),
            "activation_timeout_s": self.cap(ota.activation_timeout_s),
        }


def quiet_window(option: float | None, rig: Rig | None) -> float:
    """The quiet window of the run: ``--quiet-window``, else the rig's ``[hub] quiet_window_s`` (a
    bench's own measure of how soon its devices act), else the default for real devices."""
    if option is not None:
        return option
    if rig is not None and rig.hub.quiet_window_s is not None:
        return rig.hub.quiet_window_s
    return DEFAULT_QUIET_WINDOW_S


@pytest.fixture(scope="session")
def windows(pytestconfig: pytest.Config) -> Windows:
    rig = _session_rig(pytestconfig)
    return Windows(pytestconfig.getoption("patience"), quiet_window(pytestconfig.getoption("quiet_window"), rig),
                   ota_stall_s=None if rig is None else rig.hub.ota_stall_s)


@pytest.fixture(scope="session", autouse=True)
def join_records_of_the_session(hub: Any, pytestconfig: pytest.Config) -> list[Any]:
    """What the session's joins produced (tenancy reads at join, key establishment), taken from the
    hub once, right after it started -- so it is not handed to whichever test happens to run first.
    ``join_records`` gives each device its share."""
    records = hub.collect_evidence()
    pytestconfig.stash[JOIN_RECORDS_KEY] = records
    return records


JOIN_RECORDS_KEY = pytest.StashKey[list]()
PREVIOUS_TEST_KEY = pytest.StashKey[str]()


@pytest.fixture(autouse=True)
def _late_records_go_to_their_test(hub: Any, evidence_log: Any, request: pytest.FixtureRequest) -> None:
    """Records that arrived between two tests belong to the earlier one, not to this one.

    A device's last words after a test ended (the tenancy read after its activation reboot, the
    final snapshot of a transfer still running at teardown) reach the hub after the plugin has
    handed that test its records; without this they would be filed under the next test, about
    another device. They go to the earlier test's entry in the evidence file.
    """
    late = hub.collect_evidence()
    config = request.config
    previous = config.stash.get(PREVIOUS_TEST_KEY, None)
    entry = evidence_log.get(previous) if previous is not None else None
    if late and entry is not None:
        entry.add(*late)
        evidence_log.write()
    config.stash[PREVIOUS_TEST_KEY] = request.node.nodeid


@pytest.fixture(scope="session")
def bench(rig: Rig, hub_run: HubRun, pytestconfig: pytest.Config) -> OperatorBench | EmulatorBench:
    if "fault_injection" in rig.capabilities:
        return EmulatorBench(rig, hub_run)
    return OperatorBench(rig, pytestconfig)


# -- per-test fixtures -----------------------------------------------------------------------------


FIRST_SEEN_KEY = pytest.StashKey[dict]()


def baseline_version(rig: Rig, dut: DeviceUnderTest, hub: Any, first_seen: int | None) -> int | None:
    """The firmware a device starts each OTA test on: its 'current' image's version, else the
    rig's emulated firmware, else what the device ran when the session first asked it."""
    current = rig.images_for(dut, "current")
    if current:
        return hub.image(current[0].name).version
    if dut.emulation is not None:
        return dut.emulation.firmware_version
    return first_seen


def require_admitted(hub: Any, dut: DeviceUnderTest) -> None:
    """Skip a device test when the trust centre did not keep the device: it failed key establishment.

    That failure is the key-establishment test's to report, once; every other test of the device
    would only fail again for the same reason (as labgrid skips tests of a target in a broken state).
    """
    if not dut.cbke_required:
        return
    outcome = hub.key_establishment.outcome(dut.name)
    if outcome is not None and not outcome.established:
        pytest.skip(f"{dut.name} did not complete key establishment with the CH, so it is not on the HAN "
                    f"(test_device_completes_key_establishment_with_the_ch reports it): {outcome.describe()}")


@pytest_asyncio.fixture(loop_scope="session")
async def baseline(hub: Any, rig: Rig, bench: Any, dut: DeviceUnderTest, request: pytest.FixtureRequest) -> int:
    """The device is on its baseline firmware, idle and on the network; returns that version.

    Every OTA test starts here, so no test depends on what an earlier one left behind.
    """
    require_admitted(hub, dut)
    running = await hub.current_version(dut.name)
    first_seen = request.config.stash.setdefault(FIRST_SEEN_KEY, {}).setdefault(dut.name, running)
    version = baseline_version(rig, dut, hub, first_seen)
    if version is None:
        pytest.fail(f"{dut.name}: no baseline firmware: the rig gives it no 'current' image and it did not "
                    "answer a read of its CurrentFileVersion", pytrace=False)
    await bench.restore(dut, version, running=running)
    now = await read_version(hub, dut.name, expected=version, why="baseline before the test")
    ok = now == version
    hub.evidence.add(CheckRecord(
        name="baseline firmware", rule=f"{dut.name} runs {version_text(version)} before the test",
        observed=f"CurrentFileVersion {version_text(now)}", outcome=Outcome.PASS if ok else Outcome.FAIL,
        source="conformance suite: tests start from a known firmware", confidence="high", device=dut.name,
    ))
    if not ok:
        pytest.fail(f"{dut.name}: expected baseline firmware {version_text(version)} before the test, "
                    f"the device reports {version_text(now)}", pytrace=False)
    return version


@pytest_asyncio.fixture(loop_scope="session")
async def present(hub: Any, bench: Any, dut: DeviceUnderTest) -> DeviceUnderTest:
    """The device is on the network (for tests that do not need a particular firmware)."""
    require_admitted(hub, dut)
    await bench.ensure_present(dut)
    await read_version(hub, dut.name, expected=None, why="read for the report (firmware the device runs)")
    return dut


@pytest.fixture
def fault_injection(rig: Rig, bench: Any) -> EmulatorBench:
    """Fault injection into devices (reboot mid-transfer...); skips on a rig that cannot do it."""
    if "fault_injection" not in rig.capabilities:
        pytest.skip(f"needs fault_injection; rig {rig.name!r} cannot inject faults into its devices")
    return bench


@pytest.fixture
def join_records(hub: Any, dut: DeviceUnderTest, pytestconfig: pytest.Config) -> list[Any]:
    """The records the session's joins produced about ``dut`` (collected when the hub started)."""
    return [r for r in pytestconfig.stash.get(JOIN_RECORDS_KEY, []) if getattr(r, "device", None) == dut.name]


@pytest.fixture
def profile(rig: Rig, dut: DeviceUnderTest) -> Any:
    return rig.profile_for(dut)


@pytest.fixture
def started() -> float:
    """When the test body began (wall clock, as the evidence records are stamped)."""
    return time.time()
