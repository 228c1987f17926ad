"""The rig check strategy: run once, in order, stop at and keep the first failure."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.fixtures.rigfiles import make_tree

from harness.rig import Rig, load_rig
from harness.rigcheck import (RigCheck, RigChecker, RigCheckFailed, State, check_referenced_files,
                              registered_checks)


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return load_rig(make_tree(tmp_path) / "rigs" / "emulated.toml")


def test_checks_run_in_order_and_stop_at_the_first_failure(rig: Rig) -> None:
    calls: list[str] = []

    def passing(name: str) -> RigCheck:
        return RigCheck(name, lambda r: calls.append(name) or f"{name} fine")

    def failing(r: Rig) -> str:
        calls.append("radio")
        raise RigCheckFailed("no answer from the radio")

    checker = RigChecker(rig, [passing("files"), RigCheck("radio", failing), passing("joined")])
    outcomes = checker.run()

    assert calls == ["files", "radio"]
    assert [o.line for o in outcomes] == ["ok   files: files fine", "FAIL radio: no answer from the radio"]
    assert checker.state is State.BROKEN
    assert checker.first_failure == outcomes[1]


def test_a_broken_rig_is_not_checked_again(rig: Rig) -> None:
    calls: list[int] = []

    def failing(r: Rig) -> str:
        calls.append(1)
        raise OSError("port busy")

    checker = RigChecker(rig, [RigCheck("radio", failing)])
    for _ in range(3):
        with pytest.raises(RigCheckFailed, match="rig 'emulated' is not ready: radio: port busy"):
            checker.ensure_ready()
    assert calls == [1]


def test_a_bug_in_a_check_is_not_disguised_as_a_failed_check(rig: Rig) -> None:
    checker = RigChecker(rig, [RigCheck("buggy", lambda r: r.no_such_attribute)])
    with pytest.raises(AttributeError):
        checker.run()
    assert checker.state is State.BROKEN
    with pytest.raises(RigCheckFailed, match="buggy: the check crashed: AttributeError"):
        checker.ensure_ready()


def test_builtin_checks_pass_on_a_complete_rig(rig: Rig) -> None:
    checker = RigChecker(rig)
    checker.ensure_ready()
    assert checker.state is State.READY
    assert [o.name for o in checker.outcomes] == [c.name for c in registered_checks()]


def test_missing_image_is_named(rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "images" / "ppmid-next.ota").unlink()
    with pytest.raises(RigCheckFailed) as caught:
        check_referenced_files(rig)
    assert str(caught.value) == ("rigs/emulated.toml: file not found: images[0] 'ppmid-next': images/ppmid-next.ota "
                                 "(build them with `harness image build-samples`)")
