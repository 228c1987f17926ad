"""`harness image`: build, inspect, verify, build-samples; exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.cli import main
from harness.ota import ImageFile, Layout, OtaImage, SignatureStatus, verify
from harness.ota.samples import build_samples

FILES = build_samples()


@pytest.fixture
def keys(tmp_path):
    private = tmp_path / "TEST-ONLY-supplier-private.pem"
    public = tmp_path / "TEST-ONLY-supplier-public.pem"
    private.write_bytes(FILES["keys/TEST-ONLY-supplier-private.pem"])
    public.write_bytes(FILES["keys/TEST-ONLY-supplier-public.pem"])
    return private, public


@pytest.fixture
def payload(tmp_path):
    path = tmp_path / "firmware.bin"
    path.write_bytes(bytes(range(256)) * 10)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["image", *argv])
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _build_args(payload, out, *extra):
    return ["build", "--manufacturer", "0x121D", "--image-type", "132", "--file-version", "0x00000102",
            "--hw-min", "0x1111", "--hw-max", "0x1211", "--header-string", "lab build",
            "--payload", str(payload), "-o", str(out), *extra]


def test_build_signed_gbcs_then_inspect_and_verify(capsys, tmp_path, payload, keys):
    out = tmp_path / "img.ota"
    code, stdout, _ = run(capsys, *_build_args(payload, out, "--sign", str(keys[0])))
    assert code == 0 and str(out) in stdout
    image = OtaImage.from_bytes(out.read_bytes())
    h = image.header
    assert (h.manufacturer_code, h.image_type, h.file_version) == (0x121D, 0x84, 0x102)
    assert (h.min_hardware_version, h.max_hardware_version, h.header_text) == (0x1111, 0x1211, "lab build")
    assert image.layout is Layout.GBCS and image.manufacturer_image == payload.read_bytes()
    assert verify(image, keys[1].read_bytes()) is SignatureStatus.VALID

    code, stdout, _ = run(capsys, "inspect", str(out), "--json")
    info = json.loads(stdout)
    assert code == 0
    assert info["manufacturer_code"] == 0x121D and info["layout"] == "gbcs" and info["signed"] is True
    assert info["manufacturer_image_hash"] == image.manufacturer_image_hash.hex()

    code, stdout, _ = run(capsys, "inspect", str(out))
    assert code == 0
    assert "0x121d" in stdout and "0x00000102" in stdout and "'lab build'" in stdout

    code, stdout, _ = run(capsys, "verify", str(out), "--key", str(keys[1]))
    assert (code, "VALID" in stdout) == (0, True)


def test_build_tagged_with_destination_is_readable_by_image_file(capsys, tmp_path, payload):
    out = tmp_path / "tagged.ota"
    code, _, err = run(capsys, *_build_args(payload, out, "--layout", "tagged", "--destination",
                                            "00:0D:6F:00:0B:12:34:51", "--security-credential-version", "3"))
    assert code == 0, err
    with ImageFile.open(out) as f:
        assert f.layout is Layout.TAGGED
        assert f.header.destination == bytes.fromhex("000D6F000B123451")
        assert [s.name for s in f.element_spans] == ["UPGRADE_IMAGE"]
    code, stdout, _ = run(capsys, "inspect", str(out))
    assert "00:0D:6F:00:0B:12:34:51" in stdout and "element[0]" in stdout


@pytest.mark.parametrize(
    ("sample", "expected_code", "word"),
    [("ppmid-next.ota", 0, "VALID"), ("ppmid-bad-signature.ota", 1, "INVALID")],
)
def test_verify_exit_codes(capsys, tmp_path, keys, sample, expected_code, word):
    path = tmp_path / sample
    path.write_bytes(FILES[sample])
    code, stdout, _ = run(capsys, "verify", str(path), "--key", str(keys[1]))
    assert code == expected_code and word in stdout


def test_verify_unsigned_is_absent_and_fails(capsys, tmp_path, payload, keys):
    out = tmp_path / "unsigned.ota"
    assert run(capsys, *_build_args(payload, out))[0] == 0
    code, stdout, _ = run(capsys, "verify", str(out), "--key", str(keys[1]))
    assert code == 1 and "ABSENT" in stdout


def test_verify_checks_hardware_range_on_request(capsys, tmp_path, keys):
    path = tmp_path / "hw.ota"
    path.write_bytes(FILES["ppmid-hw-out-of-range.ota"])
    code, stdout, _ = run(capsys, "verify", str(path), "--key", str(keys[1]), "--hardware-version", "0x1111")
    assert code == 1 and "OUT OF RANGE" in stdout


@pytest.mark.parametrize(
    ("argv_for", "words"),
    [
        (lambda p, k, t: ["inspect", str(t / "missing.ota")], "missing.ota: cannot read"),
        (lambda p, k, t: ["inspect", str(t / "truncated.ota")], "truncated.ota: header.total_image_size at byte 52"),
        (lambda p, k, t: ["verify", str(t / "truncated.ota"), "--key", str(k[1])], "truncated.ota: header.total"),
        (lambda p, k, t: ["verify", str(t / "good.ota"), "--key", str(p)], "firmware.bin: signing.public_key"),
        (lambda p, k, t: _build_args(p, t / "o.ota", "--sign", str(p)), "firmware.bin: signing.private_key"),
        (lambda p, k, t: _build_args(p, t / "o.ota", "--layout", "tagged", "--sign", str(k[0])), "--layout gbcs"),
        (lambda p, k, t: ["build", "--manufacturer", "1", "--image-type", "1", "--file-version", "1",
                          "--payload", str(p), "-o", str(t / "o.ota")], "needs --hw-min and --hw-max"),
        (lambda p, k, t: _build_args(p, t / "o.ota", "--header-string", "x" * 33), "header_string: 33 bytes"),
        (lambda p, k, t: _build_args(t / "nope.bin", t / "o.ota"), "nope.bin: cannot read"),
    ],
    ids=["missing", "truncated", "verify-truncated", "bad-public-key", "bad-private-key", "tagged-signed",
         "gbcs-needs-hw", "header-string", "missing-payload"],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(capsys, tmp_path, payload, keys, argv_for, words):
    (tmp_path / "truncated.ota").write_bytes(FILES["ppmid-truncated.ota"])
    (tmp_path / "good.ota").write_bytes(FILES["ppmid-next.ota"])
    code, stdout, stderr = run(capsys, *argv_for(payload, keys, tmp_path))
    assert code == 2
    assert words in stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert "BEGIN" not in stderr  # no key material


def test_numbers_out_of_range_are_usage_errors(capsys, tmp_path, payload):
    code, _, stderr = run(capsys, "build", "--manufacturer", "0x10000", "--image-type", "1", "--file-version",
                          "1", "--payload", str(payload), "-o", str(tmp_path / "o.ota"))
    assert code == 2 and "does not fit in 16 bits" in stderr


def test_build_samples_writes_identical_files_and_check_detects_drift(capsys, tmp_path):
    assert run(capsys, "build-samples", "--out", str(tmp_path))[0] == 0
    assert (tmp_path / "ppmid-next.ota").read_bytes() == FILES["ppmid-next.ota"]
    assert (tmp_path / "keys" / "TEST-ONLY-supplier-public.pem").exists()
    assert run(capsys, "build-samples", "--out", str(tmp_path), "--check")[0] == 0
    (tmp_path / "ihd-next.ota").write_bytes(b"changed")
    code, stdout, _ = run(capsys, "build-samples", "--out", str(tmp_path), "--check")
    assert code == 1 and "ihd-next.ota: differs" in stdout


def test_console_script_exit_code_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.ota"
    bad.write_bytes(b"\x1e\xf1\xee\x0b" + bytes(60))
    entry = "import sys; from harness.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", entry, "image", "inspect", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "bad.ota: header.header_version at byte 4" in proc.stderr
