"""The rig check strategy: run once, in order, stop at and keep the first failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.ota import GbcsUpgradeImage, OtaImage
from harness.rig import Rig, load_rig
from harness.rigcheck import (
    RigCheck,
    RigChecker,
    RigCheckFailed,
    State,
    check_referenced_files,
    registered_checks,
)
from tests.fixtures.rigfiles import make_tree


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


# -- the files check reads what it names -----------------------------------------------------------

SAMPLES = Path(__file__).resolve().parents[2] / "firmware_images"
SUPPLIER_KEY = SAMPLES / "keys" / "TEST-ONLY-supplier-public.pem"


def rig_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, supplier_key: Path | None = SUPPLIER_KEY,
           purpose: str = "upgrade", require_signature: bool = False) -> Rig:
    """The test rig (one image, ``ppmid-next``), with the supplier key and the image's purpose given."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(tmp_path)
    root = make_tree(tmp_path)
    path = root / "rigs" / "emulated.toml"
    text = path.read_text().replace('purpose = "upgrade"', f'purpose = "{purpose}"')
    if supplier_key is not None:
        text += f'\n[supplier]\nverification_key = "{supplier_key}"\n'
    path.write_text(text)
    if require_signature:
        profile = root / "profiles" / "ppmid-generic.toml"
        profile.write_text(profile.read_text().replace("[ota]\n", "[ota]\nrequire_signature = true\n"))
    return load_rig(path)


def failure(rig: Rig) -> str:
    with pytest.raises(RigCheckFailed) as caught:
        check_referenced_files(rig)
    return str(caught.value)


def test_good_images_are_parsed_and_their_signatures_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rig = rig_in(tmp_path, monkeypatch)
    assert check_referenced_files(rig) == ("1 image(s) parsed, 1 signature(s) verified, supplier key, "
                                           "2 profile(s): ihd-generic, ppmid-generic")


def test_a_signature_that_does_not_verify_is_named_with_its_offset(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    rig = rig_in(tmp_path, monkeypatch)
    image = (SAMPLES / "ppmid-bad-signature.ota").read_bytes()
    (tmp_path / "images" / "ppmid-next.ota").write_bytes(image)
    assert failure(rig) == (f"rigs/emulated.toml: images[0] 'ppmid-next' (purpose upgrade): images/ppmid-next.ota: "
                            f"signature at byte {len(image) - 64}: does not verify with the supplier key {SUPPLIER_KEY}")


def test_a_truncated_image_is_named_with_the_field_and_offset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rig = rig_in(tmp_path, monkeypatch)
    (tmp_path / "images" / "ppmid-next.ota").write_bytes((SAMPLES / "ppmid-truncated.ota").read_bytes())
    line = failure(rig)
    assert line.startswith("rigs/emulated.toml: images[0] 'ppmid-next' (purpose upgrade): images/ppmid-next.ota: "
                           "header.total_image_size at byte 52: "), line
    assert "\n" not in line


@pytest.mark.parametrize("purpose", ["corrupted", "bad-signature"])
def test_images_meant_to_be_bad_are_only_checked_to_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          purpose: str) -> None:
    rig = rig_in(tmp_path, monkeypatch, purpose=purpose)
    (tmp_path / "images" / "ppmid-next.ota").write_bytes(b"not an OTA file at all")
    assert check_referenced_files(rig).startswith("0 image(s) parsed, 0 signature(s) verified, 1 meant to be bad (present)")
    (tmp_path / "images" / "ppmid-next.ota").unlink()
    assert "file not found: images[0] 'ppmid-next'" in failure(rig)


def test_an_unsigned_image_fails_only_where_its_devices_profile_requires_a_signature(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unsigned = OtaImage.build(GbcsUpgradeImage(bytes(300)), manufacturer_code=0x121D, image_type=0x0084,
                              file_version=0x00000102, hardware_range=(0x1111, 0x1211)).to_bytes()
    lenient = rig_in(tmp_path / "lenient", monkeypatch)
    (tmp_path / "lenient" / "images" / "ppmid-next.ota").write_bytes(unsigned)
    assert check_referenced_files(lenient).startswith("1 image(s) parsed")
    strict = rig_in(tmp_path / "strict", monkeypatch, require_signature=True)
    (tmp_path / "strict" / "images" / "ppmid-next.ota").write_bytes(unsigned)
    assert failure(strict) == ("rigs/emulated.toml: images[0] 'ppmid-next' (purpose upgrade): images/ppmid-next.ota: "
                               "no supplier signature, and profile(s) ppmid-generic require one (ota.require_signature)")


def test_a_supplier_key_that_is_no_public_key_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n")
    line = failure(rig_in(tmp_path, monkeypatch, supplier_key=key))
    assert line.startswith("rigs/emulated.toml: supplier.verification_key: key.pem: not a PEM public key"), line
