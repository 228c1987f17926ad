"""pytest face of the harness: ``--rig``, the ``rig`` fixture, markers, the session rig check.

Registered through the ``pytest11`` entry point, so it is active in every pytest run of an
environment where the package is installed. The hooks stay thin: choosing and loading a rig is
:mod:`harness.rig`, checking it is :mod:`harness.rigcheck`; this module parses options, keeps
the results in ``config.stash`` and adapts them to fixtures and markers.

When no rig is asked for (no ``--rig``, ini ``rig`` or ``HARNESS_RIG``) and the rootdir has no
``rigs/`` directory, the plugin stays out of the way: such a project is not a harness test
project, and a run that uses no rig must not be stopped for lack of one. A test that does use
the ``rig`` fixture then stops the session with a message saying how to name a rig.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from harness.rig import CAPABILITIES, DEFAULT_RIG, RIG_ENV, Rig, RigError, choose_rig, find_rig, load_rig, looks_like_path
from harness.rigcheck import RigChecker, RigCheckFailed, rig_check  # noqa: F401  (rig_check: for later layers)
from harness.report.pytest_hooks import add_report_options
from harness.tomlread import display_path

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
    """The rig of this session, where the choice came from, and its checker."""

    rig: Rig | None
    origin: str                     # "--rig", "ini option 'rig'", "HARNESS_RIG", "default", or why there is none
    checker: RigChecker | None


SELECTION_KEY = pytest.StashKey[RigSelection]()


# -- options ---------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "HAN harness (plays the Communications Hub)")
    group.addoption("--rig", action="store", default=None, metavar="NAME|PATH", help=RIG_HELP)
    add_report_options(group)  # --operator, for the report header
    parser.addini("rig", help=RIG_HELP, type="string", default=None)


# -- hooks -----------------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    declared = {line.split(":", 1)[0].split("(", 1)[0].strip() for line in config.getini("markers")}
    for name, (signature, sentence) in MARKERS.items():
        if name not in declared:
            config.addinivalue_line("markers", f"{signature}: {sentence}")
    if config.option.help:
        return
    config.stash[SELECTION_KEY] = select_rig(config)


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
            return RigSelection(None, f"none (no --rig given and no rigs/ directory in {config.rootpath})", None)
        rig = load_rig(find_rig(choice, rigs_dir))
    except RigError as exc:
        raise pytest.UsageError(str(exc)) from None
    return RigSelection(rig, origin, RigChecker(rig))


def pytest_report_header(config: pytest.Config) -> str | None:
    selection = config.stash.get(SELECTION_KEY, None)
    if selection is None:
        return None
    if selection.rig is None:
        return f"rig: {selection.origin}"
    return f"rig: {selection.rig.name} ({display_path(selection.rig.path)}, from {selection.origin})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selection = config.stash[SELECTION_KEY]
    for item in items:
        for mark in item.iter_markers("spec"):
            spec_items(mark)
        for mark in item.iter_markers("needs"):
            reason = missing_capability(needed_capability(mark), selection)
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=reason))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Check the rig once, before the first test -- only if a collected test uses it."""
    if session.config.option.collectonly or not any("rig" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    require_ready_rig(session.config)


def require_ready_rig(config: pytest.Config) -> Rig:
    """The session's rig, checked; stops the whole session with one message if it is not ready."""
    selection = config.stash[SELECTION_KEY]
    if selection.rig is None or selection.checker is None:
        pytest.exit(f"these tests need a rig, but there is {selection.origin}: pass --rig NAME|PATH "
                    f"or set {RIG_ENV}", returncode=pytest.ExitCode.USAGE_ERROR)
    try:
        selection.checker.ensure_ready()
    except RigCheckFailed as exc:
        pytest.exit(str(exc), returncode=pytest.ExitCode.INTERRUPTED)
    return selection.rig


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


__all__ = ["MARKERS", "SELECTION_KEY", "RigSelection", "rig", "rig_check", "require_ready_rig", "select_rig"]
