"""The rig keys of a bench behind a labgrid place: what loads, and the one-line errors for what does not."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import bellows.config
import bellows.ezsp
import pytest

from harness import places
from harness.places import DEFAULT_COORDINATOR, ExportedSerial, coordinator_address
from harness.rig import RigError, load_rig
from tests.fixtures.rigfiles import make_tree, real_rig_text


def place_rig(tmp_path: Path, radio: str, extra: str = "") -> Path:
    """A real-bench rig whose [radio] is ``radio`` (replacing its port line)."""
    root = make_tree(tmp_path, rigs={})
    text = real_rig_text().replace('port = "tcp://127.0.0.1:9999"\n', radio) + extra
    path = root / "rigs" / "bench.toml"
    path.write_text(text)
    return path


def test_a_rig_names_a_place_a_coordinator_and_power_through_the_place(tmp_path: Path) -> None:
    rig = load_rig(place_rig(tmp_path, 'place = "bench1"\ncoordinator = "lab-coord.example:20408"\n',
                             '\n[power]\nkind = "place"\nresource = "mains"\n'))

    assert rig.radio.port is None and rig.radio.emulated is None
    assert (rig.radio.place.name, rig.radio.place.coordinator) == ("bench1", "lab-coord.example:20408")
    assert (rig.power.kind, rig.power.resource) == ("place", "mains")
    assert "power_control" in rig.capabilities


@pytest.mark.parametrize(("radio", "extra", "key", "fragment"), [
    ('port = "/dev/ttyUSB0"\nplace = "bench1"\n', "", "radio.place", "set either 'port' or 'place', not both"),
    ('place = ""\n', "", "radio.place", "is empty; name the labgrid place"),
    ('place = "   "\n', "", "radio.place", "is empty"),
    ('coordinator = "127.0.0.1:20408"\n', "", "radio.coordinator", "only applies with 'place'"),
    ('place = "bench1"\ncoordinator = "http://x/"\n', "", "radio.coordinator", "expected HOST or HOST:PORT"),
    ('port = "/dev/ttyUSB0"\n', '\n[power]\nkind = "place"\n', "power.kind", "[radio] names no place"),
    ('place = "b"\n', '\n[power]\nkind = "command"\non_command = ["a"]\noff_command = ["b"]\nresource = "x"\n',
     "power.resource", "only applies with kind = 'place'"),
])
def test_bad_place_keys_are_one_line_errors_naming_the_key(tmp_path: Path, radio: str, extra: str, key: str,
                                                            fragment: str) -> None:
    with pytest.raises(RigError) as caught:
        load_rig(place_rig(tmp_path, radio, extra))
    assert caught.value.key_path == key
    assert fragment in caught.value.problem
    assert "\n" not in str(caught.value)


def test_the_coordinator_comes_from_the_rig_then_lg_coordinator_then_labgrid_s_default() -> None:
    assert coordinator_address("a:1", {"LG_COORDINATOR": "b:2"}) == ("a:1", "rig key radio.coordinator")
    assert coordinator_address(None, {"LG_COORDINATOR": "b:2"}) == ("b:2", "$LG_COORDINATOR")
    assert coordinator_address(None, {}) == (DEFAULT_COORDINATOR, "labgrid's default")


@pytest.mark.parametrize(("protocol", "url"), [("rfc2217", "rfc2217://10.0.0.5:4001"), ("raw", "tcp://10.0.0.5:4001")])
def test_the_exported_radio_opens_as_labgrid_describes_it(protocol: str, url: str) -> None:
    serial = ExportedSerial(exporter="bench-pc", group="radio", name="ezsp", host="10.0.0.5", port=4001,
                            protocol=protocol, speed=115200)
    assert serial.url == url
    assert serial.describe() == f"{url} (exporter bench-pc/radio/NetworkSerialPort/ezsp, 115200 baud)"
    # bellows' own reading of the URL: not zigbeed, so no 2 s wait for a reset ser2net never sends
    assert not bellows.ezsp.EZSP({bellows.config.CONF_DEVICE_PATH: serial.url}).is_tcp_serial_port


class _StuckSwitch:
    """A power driver whose switch never answers: ``cycle`` blocks until the test lets it go."""

    delay = 0.2

    def __init__(self) -> None:
        self.release = threading.Event()

    def cycle(self) -> None:
        self.release.wait(30)


def test_a_power_switch_that_stops_answering_fails_the_power_cycle_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(places, "POWER_SWITCH_TIMEOUT_S", 0.3)
    lease = places.PlaceLease("bench-a", coordinator="lab:20408", origin="rig key radio.coordinator")
    switch = _StuckSwitch()
    lease._power_driver = lambda wanted: (switch, f"NetworkPowerPort {wanted} of {lease.where}")  # type: ignore[method-assign]
    try:
        started = time.monotonic()
        with pytest.raises(places.PlaceError) as caught:
            lease.power_cycle(resource="mains")
        assert time.monotonic() - started < 5, "the run must not wait on the switch beyond the bound"
    finally:
        switch.release.set()
        lease.close()
    assert str(caught.value) == ("NetworkPowerPort mains of labgrid place 'bench-a' (coordinator lab:20408, from rig "
                                 "key radio.coordinator): the power switch did not finish switching off and on within "
                                 "0.5 s")


def test_a_power_driver_s_own_error_reaches_the_caller() -> None:
    class Refusing:
        delay = 0.0

        def cycle(self) -> None:
            raise ConnectionRefusedError("pdu1.lab.example:80 refused the connection")

    lease = places.PlaceLease("bench-a", coordinator="lab:20408", origin="rig key radio.coordinator")
    lease._power_driver = lambda wanted: (Refusing(), "NetworkPowerPort mains")  # type: ignore[method-assign]
    try:
        with pytest.raises(ConnectionRefusedError, match="pdu1.lab.example:80"):
            lease.power_cycle()
    finally:
        lease.close()
