"""A lab's own defect device, registered from outside the package, seen by the rig, the CLI and pytest.

The lab's code lives in a scratch directory, never in the package: a module ``lab_defects`` that
calls ``register_behaviour``, announced by an installed distribution's entry point in the group
``han_harness.behaviours`` (a ``.dist-info`` directory on ``PYTHONPATH``, which is what ``pip
install`` of the lab's package leaves behind). Without that directory on the path the same rig
is refused at load with one line, so it is the entry point that makes the behaviour known.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import main
from harness.emulator.devices import behaviours
from harness.emulator.devices.behaviours import (
    ENTRY_POINT_GROUP,
    BehaviourError,
    Conformant,
    UnknownBehaviourError,
    available_behaviours,
    behaviour_class,
    register_behaviour,
)
from harness.rig import RigError, load_rig
from tests.fixtures.inner_runs import runpytest_subprocess
from tests.fixtures.rigfiles import emulated_rig_text, make_tree

pytest_plugins = ("pytester",)

LAB_BEHAVIOUR = "lab_aborts_after_last_block"

#: The lab's module, as a lab would write it (the README shows the same).
LAB_MODULE = f'''\
from harness.emulator.devices.behaviours import BlockAction, BlockProgress, Conformant, register_behaviour


@register_behaviour
class AbortsAfterLastBlock(Conformant):
    name = "{LAB_BEHAVIOUR}"
    description = "Takes in every block, then sends Upgrade End ABORT instead of SUCCESS."

    def on_block(self, progress: BlockProgress) -> BlockAction:
        return BlockAction.ABORT if progress.complete else BlockAction.CONTINUE
'''

#: Beyond what every inner run leaves out (tests/fixtures/inner_runs.py): these runs hold no async test.
QUIET = ("-p", "no:asyncio")


def install_lab_package(where: Path, entry_point: str = "lab = lab_defects") -> Path:
    """``lab_defects.py`` and its distribution's metadata in ``where``; returns ``where`` for PYTHONPATH."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "lab_defects.py").write_text(LAB_MODULE)
    info = where / "lab_defects-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lab-defects\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_point}\n")
    return where


def rig_with_behaviour(name: str) -> str:
    """The test rig with ppmid1 (its second device) playing ``name``."""
    text = emulated_rig_text()
    marker = 'model = "PPMID-GEN"\n'
    assert text.count(marker) == 1
    return text.replace(marker, f'{marker}behaviour = "{name}"\n')


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A copy of the registry (and of the entry points loaded) that the test may change."""
    monkeypatch.setattr(behaviours, "BEHAVIOURS", dict(behaviours.BEHAVIOURS))
    monkeypatch.setattr(behaviours, "_LOADED_ENTRY_POINTS", set(behaviours._LOADED_ENTRY_POINTS))
    yield


@pytest.fixture
def lab_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: None) -> Path:
    """The lab's package importable in this process and in every child (PYTHONPATH)."""
    site = install_lab_package(tmp_path / "lab-site")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    monkeypatch.delitem(sys.modules, "lab_defects", raising=False)
    return site


# -- the registration function ---------------------------------------------------------------------


def test_a_registered_behaviour_is_available_and_made_by_name(registry: None) -> None:
    @register_behaviour
    class Grumpy(Conformant):
        name = "grumpy"
        description = "Never queries on a Monday (or ever)."

    assert available_behaviours()["grumpy"] is Grumpy
    assert behaviour_class("grumpy") is Grumpy
    assert register_behaviour(Grumpy) is Grumpy, "registering the same class again is harmless"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("name = 'conformant'\n    description = 'x'", "behaviour 'conformant' is already registered by "
                                                          "harness.emulator.devices.behaviours.Conformant"),
        ("description = 'no name of its own'", "give it its own `name`"),
        ("name = 'Has Spaces'\n    description = 'x'", "give it its own `name`"),
        ("name = 'two_lines'\n    description = 'a\\nb'", "`description` must be one non-empty line"),
    ],
    ids=["name-taken", "no-name", "bad-name", "two-line-description"],
)
def test_a_behaviour_that_cannot_be_registered_says_why(registry: None, body: str, message: str) -> None:
    namespace: dict[str, object] = {"Conformant": Conformant}
    exec(f"class Odd(Conformant):\n    {body}\n", namespace)
    with pytest.raises(BehaviourError, match=re.escape(message)):
        register_behaviour(namespace["Odd"])  # type: ignore[arg-type]


def test_something_else_is_not_a_behaviour(registry: None) -> None:
    with pytest.raises(BehaviourError, match="is not a behaviour: subclass"):
        register_behaviour(dict)  # type: ignore[type-var]


def test_an_unknown_name_lists_what_is_available() -> None:
    with pytest.raises(UnknownBehaviourError) as caught:
        behaviour_class("foo")
    assert str(caught.value).startswith("unknown behaviour 'foo'; available: conformant, never_queries_image, ")


# -- entry points ----------------------------------------------------------------------------------


def test_an_entry_point_naming_a_module_registers_its_behaviours(lab_path: Path) -> None:
    cls = behaviour_class(LAB_BEHAVIOUR)
    assert cls.__module__ == "lab_defects" and cls.name == LAB_BEHAVIOUR


def test_an_entry_point_naming_a_class_registers_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   registry: None) -> None:
    site = install_lab_package(tmp_path / "site", "lab = lab_defects:AbortsAfterLastBlock")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "lab_defects", raising=False)
    assert behaviour_class(LAB_BEHAVIOUR).__qualname__ == "AbortsAfterLastBlock"


def test_an_entry_point_that_does_not_load_is_one_rig_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           registry: None) -> None:
    site = install_lab_package(tmp_path / "site", "broken = lab_no_such_module")
    monkeypatch.syspath_prepend(str(site))
    root = make_tree(tmp_path / "tree", {"emulated": rig_with_behaviour("conformant")})
    with pytest.raises(RigError) as caught:
        load_rig(root / "rigs" / "emulated.toml")
    assert caught.value.key_path == "devices[0].emulation.behaviour"
    assert caught.value.problem == (f"entry point 'broken = lab_no_such_module' (group {ENTRY_POINT_GROUP}) does "
                                    "not load: ModuleNotFoundError: No module named 'lab_no_such_module'")


# -- an unknown behaviour in a rig: one line, wherever the rig is loaded ----------------------------

UNKNOWN_LINE = "rigs/emulated.toml: devices[1].emulation.behaviour: unknown behaviour 'foo'; available: conformant, "


@pytest.fixture
def unknown_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HARNESS_RIG", raising=False)
    return make_tree(tmp_path, {"emulated": rig_with_behaviour("foo")})


def test_an_unknown_behaviour_is_a_rig_error_at_load_naming_the_key_path(unknown_tree: Path) -> None:
    with pytest.raises(RigError) as caught:
        load_rig(unknown_tree / "rigs" / "emulated.toml")
    assert str(caught.value).startswith(UNKNOWN_LINE)
    assert "cbke_never_finishes" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("files_only", [True, False], ids=["files-only", "full"])
def test_the_rig_check_reports_an_unknown_behaviour_in_one_line(
    unknown_tree: Path, capsys: pytest.CaptureFixture[str], files_only: bool
) -> None:
    assert main(["rig", "check", "emulated", *(["--files-only"] if files_only else [])]) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith(f"FAIL rig loads: {UNKNOWN_LINE}") and captured.out.count("\n") == 1
    assert captured.err == ""


def test_pytest_reports_an_unknown_behaviour_in_one_line(pytester: pytest.Pytester,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_RIG", raising=False)
    make_tree(pytester.path, {"emulated": rig_with_behaviour("foo")})
    pytester.makepyfile(test_x="def test_x(rig):\n    pass\n")
    result = runpytest_subprocess(pytester, *QUIET)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith(f"ERROR: {UNKNOWN_LINE}"), result.errlines
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


# -- the lab's behaviour, end to end: the CLI and a pytest run both see it -------------------------


def harness_command() -> list[str]:
    script = Path(sys.executable).with_name("harness")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from harness.cli import main; sys.exit(main())"]


def test_harness_rig_check_sees_a_behaviour_from_an_entry_point(tmp_path: Path, lab_path: Path) -> None:
    root = make_tree(tmp_path / "project", {"emulated": rig_with_behaviour(LAB_BEHAVIOUR)})
    check = [*harness_command(), "rig", "check", "emulated", "--files-only"]
    ready = subprocess.run(check, cwd=root, capture_output=True, text=True, timeout=60)
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert ready.stdout.startswith("ok   rig loads: rigs/emulated.toml (devices: ihd1, ppmid1)")

    without_lab = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    refused = subprocess.run(check, cwd=root, capture_output=True, text=True, timeout=60, env=without_lab)
    assert refused.returncode == 2
    assert refused.stdout.startswith(
        f"FAIL rig loads: rigs/emulated.toml: devices[1].emulation.behaviour: unknown behaviour {LAB_BEHAVIOUR!r}")


def test_a_pytest_run_plays_a_behaviour_from_an_entry_point(pytester: pytest.Pytester, lab_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole session: the rig loads, the radio comes up and the emulated PPMID is the lab's defect."""
    monkeypatch.delenv("HARNESS_RIG", raising=False)
    make_tree(pytester.path, {"emulated": rig_with_behaviour(LAB_BEHAVIOUR)})
    pytester.makepyfile(test_lab=f'''
def test_the_rig_names_the_lab_behaviour(rig):
    assert rig.device("ppmid1").emulation.behaviour == "{LAB_BEHAVIOUR}"


def test_the_emulated_device_plays_it(emulated_radio):
    device = emulated_radio.han.device("ppmid1")
    assert type(device.behaviour).__module__ == "lab_defects"
    assert device.behaviour.name == "{LAB_BEHAVIOUR}"
''')
    result = runpytest_subprocess(pytester, *QUIET, timeout=300)
    result.assert_outcomes(passed=2)
