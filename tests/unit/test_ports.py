"""Radio ports: paths, URLs, and USB matches resolved against what pyserial lists."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import serial.tools.list_ports

from harness.ports import PortError, PortSpec, UsbMatch, check_port_present, parse_port_text, resolve_port


@dataclass
class FakePort:
    device: str
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None


SILABS = dict(vid=0x10C4, pid=0xEA60)


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> list[FakePort]:
    """The ports pyserial will list; tests append to it."""
    ports: list[FakePort] = [FakePort("/dev/ttyS0")]
    monkeypatch.setattr(serial.tools.list_ports, "comports", lambda: list(ports))
    return ports


def test_one_match_resolves_to_its_device(listed: list[FakePort]) -> None:
    listed += [FakePort("/dev/ttyUSB0", **SILABS, serial_number="A1"), FakePort("/dev/ttyUSB1", 0x0403, 0x6015, "B2")]
    assert resolve_port(PortSpec(usb=UsbMatch(vid=0x10C4, pid=0xEA60))) == "/dev/ttyUSB0"


def test_serial_number_picks_one_of_several(listed: list[FakePort]) -> None:
    listed += [FakePort("/dev/ttyUSB0", **SILABS, serial_number="A1"), FakePort("/dev/ttyUSB1", **SILABS, serial_number="A2")]
    assert resolve_port(PortSpec(usb=UsbMatch(vid=0x10C4, pid=0xEA60, serial="A2"))) == "/dev/ttyUSB1"


def test_no_match_lists_what_was_found(listed: list[FakePort]) -> None:
    listed.append(FakePort("/dev/ttyUSB1", 0x0403, 0x6015, "B2"))
    with pytest.raises(PortError) as caught:
        resolve_port(PortSpec(usb=UsbMatch(vid=0x10C4, pid=0xEA60, serial="A1")))
    assert str(caught.value) == (
        "no serial port matches usb vid=0x10C4 pid=0xEA60 serial='A1'; found: /dev/ttyS0 (not USB); "
        "/dev/ttyUSB1 (vid=0x0403 pid=0x6015 serial='B2')")


def test_no_ports_at_all(listed: list[FakePort]) -> None:
    listed.clear()
    with pytest.raises(PortError, match="found: no serial ports at all"):
        resolve_port(PortSpec(usb=UsbMatch(vid=1, pid=2)))


def test_several_matches_are_an_error_listing_them(listed: list[FakePort]) -> None:
    listed += [FakePort("/dev/ttyUSB0", **SILABS, serial_number="A1"), FakePort("/dev/ttyUSB1", **SILABS, serial_number="A2")]
    with pytest.raises(PortError) as caught:
        resolve_port(PortSpec(usb=UsbMatch(vid=0x10C4, pid=0xEA60)))
    assert str(caught.value).startswith("2 serial ports match usb vid=0x10C4 pid=0xEA60 (add or correct 'serial'")
    assert "/dev/ttyUSB0" in str(caught.value) and "/dev/ttyUSB1" in str(caught.value)
    assert "/dev/ttyS0" not in str(caught.value)


@pytest.mark.parametrize("text", ["/dev/serial/by-id/usb-X-if00", "tcp://192.0.2.1:6638", "rfc2217://host:2217",
                                  "socket://localhost:9999"])
def test_paths_and_urls_pass_through(text: str) -> None:
    assert resolve_port(parse_port_text(text)) == text


@pytest.mark.parametrize(("text", "message"), [
    ("http://host:80", "unsupported port URL scheme 'http'"),
    ("tcp://host", "needs a host and a port number"),
    ("tcp://:99", "needs a host and a port number"),
    ("   ", "must not be empty"),
])
def test_bad_port_text(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_port_text(text)


def test_presence_check(tmp_path: Path, listed: list[FakePort]) -> None:
    device = tmp_path / "ttyFAKE"
    device.touch()
    assert check_port_present(PortSpec(path=str(device))) == str(device)
    assert "reachability is checked when the radio opens" in check_port_present(PortSpec(path="tcp://192.0.2.1:1"))
    with pytest.raises(PortError, match="does not exist"):
        check_port_present(PortSpec(path=str(tmp_path / "ttyGONE")))


def test_a_port_spec_is_one_thing() -> None:
    with pytest.raises(ValueError):
        PortSpec()
    with pytest.raises(ValueError):
        PortSpec(path="/dev/x", usb=UsbMatch(vid=1, pid=2))
