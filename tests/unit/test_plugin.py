"""The pytest plugin, through whole pytest runs in a scratch project (pytester)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.fixtures.inner_runs import UNUSED_PLUGINS, runpytest_subprocess
from tests.fixtures.rigfiles import emulated_rig_text, make_tree, real_rig_text

pytest_plugins = ("pytester",)

REPO = Path(__file__).resolve().parents[2]

#: A test that reports which rig it got, so the rig choice shows in the output.
SHOW_RIG = """
def test_rig(rig):
    print("RIG-IS", rig.name)
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A scratch project with rigs emulated, alpha and beta (all complete) and the test above."""
    monkeypatch.delenv("HARNESS_RIG", raising=False)
    make_tree(pytester.path, {name: emulated_rig_text(name) for name in ("emulated", "alpha", "beta")})
    pytester.makepyfile(test_show=SHOW_RIG)
    return pytester


#: The inner runs leave out the plugins none of them uses (see inner_runs), and asyncio's: no test here is async.
QUIET = (*UNUSED_PLUGINS, "-p", "no:asyncio")


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest(*QUIET, *args)


def rig_used(result: pytest.RunResult) -> str:
    result.assert_outcomes(passed=1)
    found = re.search(r"RIG-IS (\S+)", result.stdout.str())
    assert found, result.stdout.str()
    return found.group(1)


def one_line(text_lines: list[str]) -> str:
    lines = [line for line in text_lines if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


# -- choosing the rig ------------------------------------------------------------------------------


def test_default_rig_is_emulated_and_shown_in_the_header(project: pytest.Pytester) -> None:
    result = run(project, "-s")
    assert rig_used(result) == "emulated"
    result.stdout.fnmatch_lines(["rig: emulated (*emulated.toml, from default)"])


def test_rig_by_name(project: pytest.Pytester) -> None:
    assert rig_used(run(project, "-s", "--rig", "alpha")) == "alpha"


def test_rig_by_path(project: pytest.Pytester) -> None:
    # A rig kept outside rigs/ names its profiles directory (relative to itself).
    (project.path / "elsewhere").mkdir()
    (project.path / "elsewhere" / "mine.toml").write_text('profiles_dir = "../profiles"\n' + emulated_rig_text("mine"))
    assert rig_used(run(project, "-s", "--rig=elsewhere/mine.toml")) == "mine"


def test_rig_by_ini(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nrig = beta\n")
    assert rig_used(run(project, "-s")) == "beta"


def test_rig_by_env(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_RIG", "alpha")
    result = run(project, "-s")
    assert rig_used(result) == "alpha"
    result.stdout.fnmatch_lines(["rig: alpha (*, from HARNESS_RIG)"])


@pytest.mark.parametrize(("option", "ini", "env", "expected"), [
    ("alpha", "beta", "emulated", "alpha"),     # option beats ini and env
    (None, "beta", "alpha", "beta"),            # ini beats env
    (None, None, "beta", "beta"),               # env beats the default
])
def test_rig_precedence(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, option, ini, env, expected) -> None:
    if ini is not None:
        project.makeini(f"[pytest]\nrig = {ini}\n")
    monkeypatch.setenv("HARNESS_RIG", env)
    args = ["-s"] + ([f"--rig={option}"] if option else [])
    assert rig_used(run(project, *args)) == expected


def test_unknown_rig_stops_before_collection_with_one_line(project: pytest.Pytester) -> None:
    result = runpytest_subprocess(project, "-p", "no:asyncio", "--rig", "nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    line = one_line(result.errlines)
    assert line.startswith("ERROR: ") and line.endswith("unknown rig 'nope'; available rigs: alpha, beta, emulated")
    assert "collected" not in result.stdout.str()


def test_malformed_rig_stops_with_its_key_path(project: pytest.Pytester) -> None:
    path = project.path / "rigs" / "alpha.toml"
    path.write_text(path.read_text().replace("channel = 15", "channel = 99"))
    result = run(project, "--rig", "alpha")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert one_line(result.errlines) == "ERROR: rigs/alpha.toml: han.channel: 99 is out of range 11..26"


# -- the session rig check -------------------------------------------------------------------------


def test_a_failing_rig_check_stops_the_session_once(project: pytest.Pytester) -> None:
    (project.path / "images" / "ppmid-next.ota").unlink()
    project.makepyfile(test_many="\n".join(f"def test_{i}(rig):\n    pass\n" for i in range(40)))
    result = run(project)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes()  # nothing ran, nothing failed
    assert result.stdout.str().count("file not found") == 1
    result.stdout.fnmatch_lines(["*rig 'emulated' is not ready: referenced files: *images/ppmid-next.ota*"])


def test_tests_without_the_rig_run_even_if_the_rig_is_not_ready(project: pytest.Pytester) -> None:
    (project.path / "images" / "ppmid-next.ota").unlink()
    project.makepyfile(test_show="def test_plain():\n    pass\n")
    run(project).assert_outcomes(passed=1)


def test_a_project_without_rigs_is_left_alone(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_RIG", raising=False)
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n", test_needs_rig=SHOW_RIG)
    result = run(pytester, "test_plain.py")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["rig: none (no --rig given and no rigs/ directory in *)"])
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*these tests need a rig*pass --rig NAME|PATH or set HARNESS_RIG*"])


# -- markers ---------------------------------------------------------------------------------------

NEEDS = """
import pytest

@pytest.mark.needs("fault_injection")
def test_faults():
    pass

@pytest.mark.needs("power_control")
def test_power():
    pass
"""


def test_needs_skips_what_the_rig_cannot_do(project: pytest.Pytester) -> None:
    project.makepyfile(test_show=NEEDS)
    result = run(project, "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*needs power_control (*); rig 'emulated' does not have it"])

    (project.path / "rigs" / "bench.toml").write_text(real_rig_text())
    run(project, "--rig", "bench").assert_outcomes(skipped=2)


@pytest.mark.parametrize("mark", ['needs()', 'needs("fault_injection", "power_control")', 'needs(capability=1)',
                                  'needs("x-ray")', 'spec()', 'spec(3)'])
def test_malformed_marker_is_a_usage_error_quoting_the_signature(project: pytest.Pytester, mark: str) -> None:
    project.makepyfile(test_show=f"import pytest\n\n@pytest.mark.{mark}\ndef test_it():\n    pass\n")
    result = run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    name = mark.split("(")[0]
    signature = {"needs": "needs(capability)", "spec": "spec(*items)"}[name]
    result.stderr.fnmatch_lines([f"ERROR: @pytest.mark.{name}: *; expected @pytest.mark.{signature}: *"])


def test_long_tests_are_deselected_by_default_but_run_with_dash_m_long(project: pytest.Pytester) -> None:
    """Uses this repository's own addopts and markers, so the promise holds for the real config."""
    options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    args = ", ".join(f'"{arg}"' for arg in options["addopts"])
    markers = ", ".join(repr(line) for line in options["markers"])
    project.makepyprojecttoml(f"[tool.pytest.ini_options]\naddopts = [{args}]\nmarkers = [{markers}]\n")
    project.makepyfile(test_show="import pytest\n\n@pytest.mark.long\ndef test_soak():\n    pass\n\n"
                                 "def test_quick():\n    pass\n")
    run(project).assert_outcomes(passed=1, deselected=1)
    run(project, "-m", "long").assert_outcomes(passed=1, deselected=1)
    result = run(project, "-m", "long", "-v")
    result.stdout.fnmatch_lines(["*test_soak PASSED*"])


def test_markers_are_registered(project: pytest.Pytester) -> None:
    result = run(project, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.spec(*items): *", "@pytest.mark.needs(capability): *",
                                 "@pytest.mark.long: *"])


def test_the_option_is_in_the_harness_group(project: pytest.Pytester) -> None:
    result = run(project, "--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["HAN harness*", "*--rig=NAME|PATH*"])
