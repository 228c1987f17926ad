"""`harness rig check` and `harness rig list`: one line per check, exit 0 when ready, 2 when not."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from tests.fixtures.rigfiles import make_tree, real_rig_text


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HARNESS_RIG", raising=False)
    return make_tree(tmp_path)


def test_check_a_ready_rig(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rig", "check", "emulated", "--files-only"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "ok   rig loads: rigs/emulated.toml (devices: ihd1, ppmid1)",
        "ok   referenced files: 1 image(s) parsed, 2 profile(s): ihd-generic, ppmid-generic",
        "ok   radio port: emulated radio (EZSP v13, pty); started with the session",
    ]


def test_check_defaults_to_harness_rig_env(tree: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    (tree / "rigs" / "bench.toml").write_text(real_rig_text())
    monkeypatch.setenv("HARNESS_RIG", "bench")
    assert main(["rig", "check", "--files-only"]) == 0
    assert "rigs/bench.toml" in capsys.readouterr().out


def test_a_bad_rig_exits_2_with_one_line(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tree / "rigs" / "emulated.toml"
    path.write_text(path.read_text().replace("channel = 15", "channel = 10"))
    assert main(["rig", "check", "emulated"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "FAIL rig loads: rigs/emulated.toml: han.channel: 10 is out of range 11..26\n"
    assert captured.err == ""


def test_an_unknown_rig_exits_2_listing_the_rigs(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rig", "check", "nope"]) == 2
    assert capsys.readouterr().out == (
        "FAIL rig loads: rigs/nope.toml: unknown rig 'nope'; available rigs: emulated\n")


def test_a_failing_check_stops_the_list(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "images" / "ppmid-next.ota").unlink()
    assert main(["rig", "check", "emulated", "--files-only"]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("FAIL referenced files: rigs/emulated.toml: file not found: ")


@pytest.mark.parametrize("files_only", [True, False], ids=["files-only", "full"])
def test_an_upgrade_image_of_random_bytes_fails_the_files_check_in_one_line(
    tree: Path, capsys: pytest.CaptureFixture[str], files_only: bool
) -> None:
    """100 random bytes named as the upgrade: the check parses it and names image, file and offset."""
    (tree / "images" / "ppmid-next.ota").write_bytes(b"\x00" + random.Random(100).randbytes(99))
    assert main(["rig", "check", "emulated", *(["--files-only"] if files_only else [])]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2, lines
    assert re.fullmatch(r"FAIL referenced files: rigs/emulated\.toml: images\[0\] 'ppmid-next' \(purpose upgrade\): "
                        r"images/ppmid-next\.ota: header\.magic at byte 0: expected 0x0beef11e, got 0x[0-9a-f]{8}",
                        lines[1]), lines[1]


def test_list(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tree / "rigs" / "bench.toml").write_text(real_rig_text())
    assert main(["rig", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["bench", "emulated"]
    assert "test rig: emulated radio" in out[1]


def test_the_console_script(tree: Path) -> None:
    """End to end, as a user types it: the installed `harness` command, in a rig project directory."""
    script = Path(sys.executable).with_name("harness")
    command = [str(script)] if script.exists() else [sys.executable, "-c", "import sys; from harness.cli import main; sys.exit(main())"]
    ready = subprocess.run([*command, "rig", "check", "emulated", "--files-only"],
                           capture_output=True, text=True, timeout=60)
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert [line.split()[0] for line in ready.stdout.splitlines()] == ["ok", "ok", "ok"]

    broken = subprocess.run([*command, "rig", "check", "nope"], capture_output=True, text=True, timeout=60)
    assert broken.returncode == 2
    assert broken.stdout.count("\n") == 1 and broken.stderr == ""


def test_the_full_check_brings_the_radio_up_and_admits_every_device(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --files-only the check is the one pytest runs: radio, HAN and devices too."""
    repo = Path(__file__).resolve().parents[2]
    assert main(["rig", "check", str(repo / "rigs" / "emulated.toml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["ok"] * 4, lines
    assert lines[-1].startswith("ok   radio, HAN and devices under test:")
    assert "ihd1" in lines[-1] and "ppmid1" in lines[-1]
