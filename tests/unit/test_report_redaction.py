"""No key, install code or passphrase reaches the rendered report, in any spelling; and the scanner that proves it."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from harness import evidence
from harness.evidence import (
    AttributeRead,
    CheckRecord,
    ImageRecord,
    Outcome,
    TestEvidence,
    TransferOutcome,
    TransferRecord,
    register_secret,
)
from harness.report import samples
from harness.report.extras import to_extras
from harness.report.scan import find_secrets
from harness.report.summary import summary_html
from harness.secret import Secret

NETWORK_KEY = bytes.fromhex("C0FFEE0123456789ABCDEF0011223344")
INSTALL_CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")
LINK_KEY = bytes.fromhex("66B6900981E1EE3CA4206B6B861C02BB")  # derived mid-run: registered after the records exist
PASSPHRASE = "hunter2-supplier-key-passphrase"


def spellings(raw: bytes) -> list[str]:
    h = raw.hex()
    return [h, h.upper(), raw.hex(":"), raw.hex(":").upper(), raw.hex(" ").upper(), raw.hex("-")]


@pytest.fixture(autouse=True)
def _fresh_registry():
    evidence.clear_registered_secrets()
    yield
    evidence.clear_registered_secrets()


def leaky_test() -> TestEvidence:
    """Records that mention every secret the ways a careless log line would."""
    register_secret(Secret(NETWORK_KEY, origin="rig"))
    register_secret(PASSPHRASE)
    ev = TestEvidence(nodeid="tests/conformance/test_join.py::test_join[ppmid1]", outcome="failed")
    ev.add(
        CheckRecord(name="join with install code", rule=f"link key derived from {INSTALL_CODE.hex(':')}",
                    observed=Secret(INSTALL_CODE, origin="rig"), outcome=Outcome.FAIL, source="GBCS",
                    confidence="spec", device="ppmid1",
                    detail="\n".join(f"network key {form}" for form in spellings(NETWORK_KEY))
                    + f"\nlink key {LINK_KEY.hex(' ')}\npassphrase {PASSPHRASE.upper()}"),
        AttributeRead(device="ppmid1", endpoint=1, cluster=0x0000, attribute=0x0004, name="ManufacturerName",
                      expected=f"not {LINK_KEY.hex().upper()}", value=Secret(NETWORK_KEY), status="SUCCESS",
                      outcome=Outcome.PASS, t=1.0),
        ImageRecord(name="img", path="firmware_images/img.ota", sha256="00" * 32, size=10, signature="VALID",
                    header={"header_string": f"key {NETWORK_KEY.hex('-')}", "security_credential_version": 1}),
        TransferRecord(transfer_id="x", device="ppmid1", device_eui64="00:0D:6F:00:0B:12:34:51", image_name="img",
                       image_sha256="00" * 32, image_size=10, image_version=1, started=1.0,
                       outcome=TransferOutcome.FAILED, reason=f"APS decrypt failed with {LINK_KEY.hex(':')}"),
    )
    return ev


def test_rendered_html_holds_no_secret_in_any_spelling(tmp_path: Path) -> None:
    ev = leaky_test()
    register_secret(Secret(INSTALL_CODE))
    register_secret(LINK_KEY)  # after the records were made: only the report's last guard can catch it
    run = {**samples.demo_run_info(), "radio": f"ezsp, network key {NETWORK_KEY.hex()}"}
    page = summary_html(run, [ev]) + "".join(e["content"] for e in to_extras(ev))
    out = tmp_path / "report.html"
    out.write_text(page, encoding="utf-8")

    assert find_secrets([out], [NETWORK_KEY, INSTALL_CODE, LINK_KEY, PASSPHRASE]) == []
    lowered = page.lower()
    for raw in (NETWORK_KEY, INSTALL_CODE, LINK_KEY):
        for form in spellings(raw):
            assert form.lower() not in lowered
    assert PASSPHRASE not in lowered
    assert "«redacted»" in page  # the facts are still shown, with the value replaced
    assert "link key derived from" in page


def test_the_check_in_the_test_above_would_see_a_leak(tmp_path: Path) -> None:
    ev = leaky_test()  # LINK_KEY not registered: the report cannot know it, so it shows -- and the scan says so
    out = tmp_path / "report.html"
    out.write_text("".join(e["content"] for e in to_extras(ev)), encoding="utf-8")
    assert find_secrets([out], [LINK_KEY])


# ------------------------------------------------------------------------------ the scanner

SECRET = bytes.fromhex("0123456789ABCDEF")


@pytest.mark.parametrize("spelled", [
    b"0123456789abcdef", b"0123456789ABCDEF", b"01:23:45:67:89:ab:cd:ef", b"01-23-45-67-89-AB-CD-EF",
    b"01 23 45 67 89 AB CD EF", b"efcdab8967452301", b"EF:CD:AB:89:67:45:23:01", SECRET,
])
def test_scanner_finds_hex_in_any_case_separator_or_byte_order_and_raw_bytes(tmp_path: Path, spelled: bytes) -> None:
    (tmp_path / "log.txt").write_bytes(b"line one\nkey=" + spelled + b" end\n")
    findings = find_secrets([tmp_path], [SECRET])
    assert findings and findings[0].startswith(f"{tmp_path / 'log.txt'}:2: ")


@pytest.mark.parametrize("lead", [b"", b"x", b"xy"])
def test_scanner_finds_base64_at_any_alignment(tmp_path: Path, lead: bytes) -> None:
    for name, literal in (("hex", SECRET.hex().encode()), ("raw", SECRET)):
        blob = base64.b64encode(lead + b"key " + literal + b" trailing text")
        (tmp_path / f"{name}.html").write_bytes(b'<a href="data:text/plain;base64,' + blob + b'">log</a>')
    findings = find_secrets([tmp_path], [Secret(SECRET)])
    assert any("hex.html" in f and "base64" in f for f in findings)
    assert any("raw.html" in f and "base64" in f for f in findings)


def test_scanner_finds_text_secrets_and_names_them_only_by_fingerprint(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").write_text(f"<property value='{PASSPHRASE.upper()}'/>")
    (finding,) = find_secrets([tmp_path / "junit.xml"], [Secret(PASSPHRASE)])
    assert PASSPHRASE.lower() not in finding.lower()
    assert Secret(PASSPHRASE).fingerprint() in finding


def test_scanner_reports_nothing_for_clean_files_and_refuses_missing_ones(tmp_path: Path) -> None:
    (tmp_path / "clean.txt").write_text("0123 4567 not the key; 01:23:45:67 is too short to be it")
    assert find_secrets([tmp_path], [SECRET]) == []
    with pytest.raises(FileNotFoundError, match="nowhere.html"):
        find_secrets([tmp_path / "nowhere.html"], [SECRET])
