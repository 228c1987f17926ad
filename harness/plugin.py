"""pytest face of the harness: ``--rig``, the ``rig`` and ``hub`` fixtures, markers, the session rig
check, and the run's evidence (``--evidence``).

Registered through the ``pytest11`` entry point, so it is active in every pytest run of an
environment where the package is installed. The hooks stay thin: choosing and loading a rig is
:mod:`harness.rig`, checking it is :mod:`harness.rigcheck`; this module parses options, keeps
the results in ``config.stash`` and adapts them to fixtures and markers.

Under pytest-xdist (``-n``), each worker has its own run and evidence file, and the process that
started them makes the run's evidence file from theirs (:mod:`harness.plugin_workers`).

The session's run environment (:class:`harness.hub.run.HubRun`: the rig's check, the one hub,
the key-establishment outcomes, the secret redactor) is made here and kept in ``config.stash``
under :data:`RUN_KEY`, nothing at module level; it is closed when pytest unconfigures.

When no rig is asked for (no ``--rig``, ini ``rig`` or ``HARNESS_RIG``) and the rootdir has no
``rigs/`` directory, the plugin stays out of the way: such a project is not a harness test
project, and a run that uses no rig must not be stopped for lack of one. A test that does use
the ``rig`` fixture then stops the session with a message saying how to name a rig.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.capture.per_test import CaptureFile, captures_directory
from harness.evidence import CaptureRecord, EvidenceLog, TestEvidence, TransferRecord
from harness.hub.run import HubRun
from harness.plugin_workers import (
    RunEvidenceFromWorkers,
    attach_entry,
    refuse_shared_radio,
    worker_evidence_path,
    worker_id,
    workers_requested,
)
from harness.report.pytest_hooks import add_report_options
from harness.rig import (
    CAPABILITIES,
    DEFAULT_RIG,
    RIG_ENV,
    Rig,
    RigError,
    choose_rig,
    find_rig,
    load_rig,
    looks_like_path,
)
from harness.rigcheck import RigCheckFailed, rig_check  # noqa: F401  (rig_check: for later layers)
from harness.tomlread import display_path

if TYPE_CHECKING:
    from harness.emulator.server import EmulatedRadio
    from harness.hub.commshub import CommsHub

try:  # the hub lives in pytest-asyncio's session loop; without the package only the `hub` fixture is missing
    import pytest_asyncio
except ImportError:  # pragma: no cover
    pytest_asyncio = None  # type: ignore[assignment]  # an optional import: the module, or None

RIG_HELP = (f"rig to run against: a NAME (rigs/NAME.toml under the rootdir) or a path to a rig file. "
            f"Default: ini option 'rig', then ${RIG_ENV}, then '{DEFAULT_RIG}'.")

#: Markers: name -> (signature, sentence). Registered in pytest_configure unless the ini file
#: already declares them (pyproject.toml does, for readers of that file).
MARKERS = {
    "spec": ("spec(*items)", "spec items this test evidences, e.g. spec('SECMP0007 CCS08')."),
    "needs": ("needs(capability)", "skip unless the rig has the capability: "
              + "; ".join(f"'{name}' ({why})" for name, why in CAPABILITIES.items()) + "."),
    "long": ("long", "a long hypothesis or soak run; deselected by default (addopts -m 'not long'), run with -m long."),
}


@dataclass(frozen=True, slots=True)
class RigSelection:
    """The rig of this session and where the choice came from."""

    rig: Rig | None
    origin: str                     # "--rig", "ini option 'rig'", "HARNESS_RIG", "default", or why there is none


SELECTION_KEY = pytest.StashKey[RigSelection]()
#: The session's run environment, present when a rig was selected (see harness.hub.run).
RUN_KEY = pytest.StashKey[HubRun]()


# -- options ---------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "HAN harness (plays the Communications Hub)")
    group.addoption("--rig", action="store", default=None, metavar="NAME|PATH", help=RIG_HELP)
    add_report_options(group)  # --operator, for the report header
    group.addoption("--evidence", action="store", default=None, metavar="PATH", help=EVIDENCE_HELP)
    parser.addini("rig", help=RIG_HELP, type="string", default=None)


# -- hooks -----------------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    declared = {line.split(":", 1)[0].split("(", 1)[0].strip() for line in config.getini("markers")}
    for name, (signature, sentence) in MARKERS.items():
        if name not in declared:
            config.addinivalue_line("markers", f"{signature}: {sentence}")
    if config.option.help:
        return
    selection = config.stash[SELECTION_KEY] = select_rig(config)
    refuse_shared_radio(config, selection.rig)
    if selection.rig is not None:
        config.stash[RUN_KEY] = HubRun(selection.rig)
    config.stash[EVIDENCE_KEY] = open_evidence(config, selection)
    if workers_requested(config):  # pytest -n: this process runs no test; the workers' evidence comes here
        config.pluginmanager.register(RunEvidenceFromWorkers(lambda: config.stash[EVIDENCE_KEY]),
                                      RunEvidenceFromWorkers.NAME)


def select_rig(config: pytest.Config) -> RigSelection:
    """Choose and load the session's rig; a rig that cannot be found or loaded is a usage error."""
    rigs_dir = config.rootpath / "rigs"
    ini = config.getini("rig")
    base = config.inipath.parent if config.inipath else config.rootpath
    if ini is not None and looks_like_path(ini):
        ini = str(base / ini)
    try:
        choice, origin = choose_rig(option=config.option.rig, ini=ini)
        if origin == "default" and not rigs_dir.is_dir():
            return RigSelection(None, f"none (no --rig given and no rigs/ directory in {config.rootpath})")
        rig = load_rig(find_rig(choice, rigs_dir))
    except RigError as exc:
        raise pytest.UsageError(str(exc)) from None
    return RigSelection(rig, origin)


def pytest_report_header(config: pytest.Config) -> str | None:
    selection = config.stash.get(SELECTION_KEY, None)
    if selection is None:
        return None
    if selection.rig is None:
        return f"rig: {selection.origin}"
    return f"rig: {selection.rig.name} ({display_path(selection.rig.path)}, from {selection.origin})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selection = config.stash[SELECTION_KEY]
    catalogue: dict[str, None] = {}
    for item in items:
        for mark in item.iter_markers("spec"):
            catalogue.update(dict.fromkeys(spec_items(mark)))
        for mark in item.iter_markers("needs"):
            reason = missing_capability(needed_capability(mark), selection)
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=reason))
    # Every spec item the collected tests name: the requirement matrix shows those no test covered.
    log = config.stash.get(EVIDENCE_KEY, None)
    if log is not None and catalogue:
        log.run_info["spec_items"] = list(catalogue)
    prepare_hub_tests([item for item in items if uses_hub(item)])


def pytest_collection_finish(session: pytest.Session) -> None:
    """Check the rig's files once, before the first test -- only if a collected test uses the rig.

    The radio check is the session's hub starting (the ``hub`` fixture), at its first use.
    """
    if session.config.option.collectonly or not any("rig" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    require_ready_rig(session.config)


def session_run(config: pytest.Config) -> HubRun:
    """The session's run; stops the session with a usage error when no rig was selected."""
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        origin = config.stash[SELECTION_KEY].origin
        pytest.exit(f"these tests need a rig, but there is {origin}: pass --rig NAME|PATH "
                    f"or set {RIG_ENV}", returncode=pytest.ExitCode.USAGE_ERROR)
    return run


def require_ready_rig(config: pytest.Config) -> Rig:
    """The session's rig, checked; stops the whole session with one message if it is not ready.

    The run keeps a failure (BROKEN): asking again stops with the same message, re-running nothing.
    """
    try:
        return session_run(config).ensure_rig_ready()
    except RigCheckFailed as exc:
        pytest.exit(str(exc), returncode=pytest.ExitCode.INTERRUPTED)


# -- markers ---------------------------------------------------------------------------------------


def _misuse(name: str, mark: pytest.Mark, problem: str) -> pytest.UsageError:
    signature, sentence = MARKERS[name]
    return pytest.UsageError(f"@pytest.mark.{name}: {problem}; expected @pytest.mark.{signature}: {sentence}")


def needed_capability(mark: pytest.Mark) -> str:
    """The capability named by a ``needs`` marker; a malformed marker is a usage error."""
    if mark.kwargs or len(mark.args) != 1 or not isinstance(mark.args[0], str):
        raise _misuse("needs", mark, f"got args={mark.args!r} kwargs={mark.kwargs!r}")
    capability = mark.args[0]
    if capability not in CAPABILITIES:
        raise _misuse("needs", mark, f"unknown capability {capability!r} (known: {', '.join(CAPABILITIES)})")
    return capability


def missing_capability(capability: str, selection: RigSelection) -> str | None:
    """The skip reason when the session's rig lacks ``capability``, else ``None``."""
    if selection.rig is None:
        return f"needs {capability}: no rig in this session"
    if capability in selection.rig.capabilities:
        return None
    return f"needs {capability} ({CAPABILITIES[capability]}); rig {selection.rig.name!r} does not have it"


def spec_items(mark: pytest.Mark) -> tuple[str, ...]:
    """The spec items of a ``spec`` marker; at least one non-empty string, no keywords."""
    if mark.kwargs or not mark.args or not all(isinstance(a, str) and a.strip() for a in mark.args):
        raise _misuse("spec", mark, f"got args={mark.args!r} kwargs={mark.kwargs!r}")
    return mark.args


# -- run-scoped fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def rig(pytestconfig: pytest.Config) -> Rig:
    """The session's rig: loaded once when pytest starts, checked before the first test uses it."""
    return require_ready_rig(pytestconfig)


# -- evidence and the hub --------------------------------------------------------------------------
#
# The hub (harness.hub) produces evidence records; the report (harness.report) renders them. This
# section only wires them to pytest: the run's EvidenceLog (--evidence), each test's entry (opened
# at setup for tests that use the rig, the hub or the `evidence` fixture; the hub's records handed
# over at teardown; closed with the test's outcome, which rewrites the file), and the session's hub.

EVIDENCE_HELP = ("write the run's evidence (alerts, transfers, attribute reads, device stages; per test) as "
                 "JSON to PATH, rewritten after every test. Default: reports/evidence.json under the rootdir.")
DEFAULT_EVIDENCE = Path("reports") / "evidence.json"
#: Tests using one of these fixtures get an entry in the evidence file; others leave no trace in it.
EVIDENCE_FIXTURES = frozenset({"rig", "hub", "evidence"})
#: Outcomes from best to worst; a test's outcome is the worst of its three phases.
OUTCOME_ORDER = ("passed", "skipped", "xfailed", "failed", "error")

EVIDENCE_KEY = pytest.StashKey[EvidenceLog]()
HUB_KEY = pytest.StashKey["CommsHub"]()
#: The nodeid of the last test that used the hub (see :func:`file_hub_records`).
LAST_HUB_TEST_KEY = pytest.StashKey[str]()
OUTCOME_KEY = pytest.StashKey[str]()


def open_evidence(config: pytest.Config, selection: RigSelection) -> EvidenceLog:
    """The run's evidence log at ``--evidence`` (default: reports/evidence.json under the rootdir)."""
    option = config.getoption("evidence", None)
    path = Path(option) if option else config.rootpath / DEFAULT_EVIDENCE
    worker = worker_id(config)
    if worker is not None:  # pytest -n: one file per worker process, so no two processes write one file
        path = worker_evidence_path(path, worker)
    facts: dict[str, Any] = {"rig_origin": selection.origin}
    if selection.rig is not None:
        facts.update(rig=selection.rig.name, rig_file=str(selection.rig.path),
                     devices=[{"name": d.name, "role": d.role, "eui64": d.eui64_text, "profile": d.profile}
                              for d in selection.rig.devices])
    return EvidenceLog(path, run_info=facts)


def pytest_sessionstart(session: pytest.Session) -> None:
    """One evidence log for the run, rendered by the report: ours, or the one a conftest registered.

    Runs after every conftest's ``pytest_configure``: a project that registered the report with
    its own log keeps it, and the plugin's hooks adopt that log, so no two logs write one file.
    """
    from harness.report.pytest_hooks import ReportPlugin, register_report

    config = session.config
    if EVIDENCE_KEY not in config.stash:
        return  # --help
    registered = config.pluginmanager.get_plugin(ReportPlugin.NAME)
    if registered is not None:
        config.stash[EVIDENCE_KEY] = registered.log
    else:
        log = config.stash[EVIDENCE_KEY]
        register_report(config, log, dict(log.run_info))


def uses_hub(item: pytest.Item) -> bool:
    return "hub" in getattr(item, "fixturenames", ())


def prepare_hub_tests(items: list[pytest.Item]) -> None:
    """Tests using the hub run in the session's event loop, where it lives."""
    for item in items:
        mark = item.get_closest_marker("asyncio")
        if mark is None or not (mark.kwargs.get("loop_scope") or mark.kwargs.get("scope")):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Open the test's evidence and, before its fixtures start the radio or the hub, its capture."""
    specs = tuple(dict.fromkeys(i for mark in item.iter_markers("spec") for i in spec_items(mark)))
    # JUnit: each test case carries its spec items as properties.
    item.user_properties.extend(("spec", spec) for spec in specs)
    fixtures = set(getattr(item, "fixturenames", ()))
    if EVIDENCE_FIXTURES & fixtures:
        entry = item.config.stash[EVIDENCE_KEY].begin(item.nodeid)
        entry.spec_items = specs
    if "rig" in fixtures:
        begin_capture(item)


# -- per-test captures -----------------------------------------------------------------------------
#
# Each test that uses the rig gets its own capture beside the evidence (harness.capture.per_test):
# started here before its fixtures run (the first test's setup starts the hub, so its joins are in
# its own file), ended after its teardown, and recorded in its evidence with the frame number at
# each moment of its timeline.


def begin_capture(item: pytest.Item) -> None:
    run = item.config.stash.get(RUN_KEY, None)
    evidence_path = item.config.stash[EVIDENCE_KEY].path
    if run is None or evidence_path is None:
        return
    run.capture_into(captures_directory(evidence_path)).begin_test(item.nodeid)


def file_captures(config: pytest.Config, nodeid: str) -> None:
    """End test ``nodeid``'s capture files and record each in its evidence."""
    run = config.stash.get(RUN_KEY, None)
    if run is None or run.captures is None or run.captures.test_id != nodeid:
        return
    files = run.captures.end_test()
    log = config.stash[EVIDENCE_KEY]
    entry = log.get(nodeid)
    if entry is None or log.path is None:
        return
    entry.add(*(capture_record(file, entry, log.path.parent) for file in files))


def capture_record(file: CaptureFile, entry: TestEvidence, evidence_dir: Path) -> CaptureRecord:
    """The evidence of one capture file: where it is (relative to the evidence), its frame marks."""
    from harness.report.capture_view import timeline_moments

    def relative(path: Path) -> str:
        try:
            return path.resolve().relative_to(evidence_dir.resolve()).as_posix()
        except ValueError:
            return str(path)

    marks = file.marks(timeline_moments(entry))
    return CaptureRecord(
        file=relative(file.path), format=file.format, source=file.source, frames=len(file.times),
        keys_file=relative(file.keys_file) if file.keys_file is not None else "",
        mark_times=tuple(marks), mark_frames=tuple(marks.values()),
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    """Once the test's fixtures are torn down, hand the hub's records to the evidence."""
    # Looked up first: the last test's teardown also tears down the session's hub, which leaves the stash.
    hub = item.config.stash.get(HUB_KEY, None)
    try:
        return (yield)
    finally:
        if hub is not None:
            file_hub_records(item, hub)
        file_captures(item.config, item.nodeid)


def file_hub_records(item: pytest.Item, hub: Any) -> None:
    """File what the hub recorded since the last collection under the test it belongs to.

    A test that uses the hub gets what the hub made during it. When the hub is torn down in the
    teardown of a test that does not use it (the run's last test, say), what it made since the
    last hub test -- the final snapshot of a transfer still open when the hub stopped, among
    others -- goes to that last hub test, whose work it is; otherwise it would be lost.
    """
    config = item.config
    log = config.stash[EVIDENCE_KEY]
    entry = log.get(item.nodeid)
    if entry is not None and uses_hub(item):
        entry.add(*hub_records_for(entry, hub))
        config.stash[LAST_HUB_TEST_KEY] = item.nodeid
        return
    if HUB_KEY in config.stash:
        return  # the hub lives on: the next test that uses it collects what it made meanwhile
    owner = log.get(config.stash.get(LAST_HUB_TEST_KEY, ""))
    if owner is not None:
        owner.add(*hub_records_for(owner, hub))
        log.write()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Close the test's evidence with its outcome after the teardown report (rewrites the file)."""
    report = yield
    log = item.config.stash[EVIDENCE_KEY]
    if log.get(item.nodeid) is not None:
        item.stash[OUTCOME_KEY] = worse(item.stash.get(OUTCOME_KEY, "passed"), phase_outcome(report))
        if report.when == "teardown":
            log.finish(item.nodeid, item.stash[OUTCOME_KEY])
            if worker_id(item.config) is not None:  # pytest -n: the run's evidence file is made from these
                attach_entry(report, log.tests[item.nodeid])
    return report


def phase_outcome(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "passed"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    return "skipped" if report.skipped else "passed"


def worse(a: str, b: str) -> str:
    return max(a, b, key=OUTCOME_ORDER.index)


@pytest.hookimpl(tryfirst=True)  # before the session's fixtures (the hub) are torn down
def pytest_sessionfinish(session: pytest.Session) -> None:
    """A run cut short (Ctrl-C, ``pytest.exit``) never closes the test it was in: write what that
    test had gathered -- the hub's records too -- with its outcome left null (INCOMPLETE), so an
    interrupted test keeps its evidence and can never read as a pass."""
    log = session.config.stash.get(EVIDENCE_KEY, None)
    if log is None:
        return
    unfinished = [entry for entry in log.tests.values() if entry.finished is None]
    hub = session.config.stash.get(HUB_KEY, None)
    if unfinished and hub is not None:
        unfinished[-1].add(*hub_records_for(unfinished[-1], hub))
    if unfinished:
        file_captures(session.config, unfinished[-1].nodeid)
    log.write()


def hub_records_for(entry: TestEvidence, hub: Any) -> list[Any]:
    """The hub's records since the last test, for ``entry``'s test.

    A transfer begun before this test (one still awaiting its activation when its own test
    ended comes back in every collection) belongs to the test that started it: filed here too, it
    would put this test's verdict on a device and image it never touched.
    """
    return [record for record in hub.collect_evidence()
            if not (isinstance(record, TransferRecord) and record.started < entry.started)]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Close the session's run: its emulator stops, its temporary files go and its labgrid place is
    released (the hub stopped with the session's fixtures)."""
    run = config.stash.get(RUN_KEY, None)
    if run is not None:
        run.close()


def live_display(config: pytest.Config) -> Any:
    """Progress lines of long transfers, written to the terminal past pytest's output capture."""
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if terminal is None or config.get_verbosity() < 0:
        return None

    def show(line: str) -> None:
        if capture is None:
            terminal.write_line(f"[hub] {line}")
            return
        with capture.global_and_fixture_disabled():
            terminal.write_line(f"[hub] {line}")

    return show


@pytest.fixture(scope="session")
def evidence_log(pytestconfig: pytest.Config) -> EvidenceLog:
    """The run's evidence log (what ``--evidence`` writes and the report renders)."""
    return pytestconfig.stash[EVIDENCE_KEY]


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> TestEvidence:
    """This test's evidence: records added here reach the evidence file and the report."""
    log = request.config.stash[EVIDENCE_KEY]
    return log.get(request.node.nodeid) or log.begin(request.node.nodeid)


@pytest.fixture(scope="session")
def hub_run(rig: Rig, pytestconfig: pytest.Config) -> HubRun:
    """The session's run environment (harness.hub.run): its hub, radio, outcomes and secrets."""
    return session_run(pytestconfig)


if pytest_asyncio is not None:

    @pytest_asyncio.fixture(scope="session", loop_scope="session")
    async def hub(hub_run: HubRun, pytestconfig: pytest.Config) -> AsyncIterator[CommsHub]:
        """The Communications Hub for the session: radio up, HAN formed, every device under test admitted.

        Starting it is the rig's radio check, on the session's loop; a bench that is not ready
        stops the session with one message, and the run remembers it (no later test retries).
        """
        try:
            started = await hub_run.start_hub(display=live_display(pytestconfig))
        except RigCheckFailed as exc:
            pytest.exit(str(exc), returncode=pytest.ExitCode.INTERRUPTED)
        pytestconfig.stash[HUB_KEY] = started
        pytestconfig.stash[EVIDENCE_KEY].run_info.update(started.radio_facts())
        yield started
        del pytestconfig.stash[HUB_KEY]
        await hub_run.stop_hub()


@pytest.fixture(scope="session")
def emulated_radio(hub_run: HubRun) -> EmulatedRadio:
    """The emulator behind an emulated rig, for fault injection (``reset_ncp``, device behaviours)."""
    if not hub_run.emulated:
        pytest.skip(f"rig {hub_run.rig.name!r} has a real radio; this test needs the emulated one")
    hub_run.port()
    assert hub_run.radio is not None
    return hub_run.radio


__all__ = ["EVIDENCE_KEY", "MARKERS", "RUN_KEY", "SELECTION_KEY", "RigSelection", "emulated_radio", "evidence", "evidence_log",
           "hub", "hub_run", "rig", "rig_check", "require_ready_rig", "select_rig"]
