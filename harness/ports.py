"""Where the radio is: a device path, a network URL, or a USB match resolved at run time.

USB serial adapters re-enumerate (``/dev/ttyUSB0`` today, ``ttyUSB1`` tomorrow), so a bench may
name its radio by USB vendor/product id and serial number instead; :func:`resolve_port` finds
the one port that matches, and refuses to guess when none or several do, listing what it saw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import serial.tools.list_ports

#: URL schemes bellows can open (through pyserial's URL handlers / its own TCP transport).
URL_SCHEMES = ("tcp", "rfc2217", "socket")


class PortError(Exception):
    """The radio's port cannot be resolved; the message lists what was found."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UsbMatch:
    """A USB serial adapter by vendor id, product id and (optionally) serial number."""

    vid: int
    pid: int
    serial: str | None = None

    def __str__(self) -> str:
        serial = f" serial={self.serial!r}" if self.serial is not None else ""
        return f"usb vid=0x{self.vid:04X} pid=0x{self.pid:04X}{serial}"

    def matches(self, port: Any) -> bool:
        return (port.vid == self.vid and port.pid == self.pid
                and (self.serial is None or port.serial_number == self.serial))


@dataclass(frozen=True, slots=True, kw_only=True)
class PortSpec:
    """Exactly one of ``path`` (a device path or URL) and ``usb``."""

    path: str | None = None
    usb: UsbMatch | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.usb is None):
            raise ValueError("a port is either a path/URL or a USB match, not both or neither")

    @property
    def is_url(self) -> bool:
        return self.path is not None and "://" in self.path

    def __str__(self) -> str:
        return self.path if self.path is not None else str(self.usb)


def parse_port_text(text: str) -> PortSpec:
    """A device path or a ``tcp://host:port`` / ``rfc2217://`` / ``socket://`` URL.

    Raises ``ValueError`` for an unsupported scheme or a URL without host and port, so a typo is
    caught when the rig loads rather than when bellows tries to open it.
    """
    text = text.strip()
    if not text:
        raise ValueError("port must not be empty")
    if "://" not in text:
        return PortSpec(path=text)
    parts = urlsplit(text)
    if parts.scheme not in URL_SCHEMES:
        raise ValueError(f"unsupported port URL scheme {parts.scheme!r} in {text!r}; "
                         f"use a device path or one of {', '.join(s + '://' for s in URL_SCHEMES)}")
    try:
        port_number = parts.port
    except ValueError:
        port_number = None
    if not parts.hostname or port_number is None:
        raise ValueError(f"port URL {text!r} needs a host and a port number, e.g. {parts.scheme}://192.0.2.10:6638")
    return PortSpec(path=text)


def describe_port(port: Any) -> str:
    """One listed port in the form a user can copy into a rig file's USB match."""
    if port.vid is None:
        return f"{port.device} (not USB)"
    return f"{port.device} (vid=0x{port.vid:04X} pid=0x{port.pid:04X} serial={port.serial_number!r})"


def resolve_port(spec: PortSpec, *, comports: Callable[[], Iterable[Any]] | None = None) -> str:
    """The path or URL to open for ``spec``; a USB match must match exactly one port.

    ``comports`` defaults to pyserial's ``list_ports.comports`` (looked up at call time, so
    tests can monkeypatch it).
    """
    if spec.path is not None:
        return spec.path
    assert spec.usb is not None
    ports = list((comports or serial.tools.list_ports.comports)())
    matches = [port for port in ports if spec.usb.matches(port)]
    if len(matches) == 1:
        return matches[0].device
    seen = "; ".join(describe_port(port) for port in ports) or "no serial ports at all"
    if not matches:
        raise PortError(f"no serial port matches {spec.usb}; found: {seen}")
    raise PortError(f"{len(matches)} serial ports match {spec.usb} (add or correct 'serial' to pick one): "
                    + "; ".join(describe_port(port) for port in matches))


def check_port_present(spec: PortSpec, **kwargs: Any) -> str:
    """A cheap presence check before any test runs: the device path exists / the USB match resolves.

    Returns a short description for the check line; network URLs are only reachable by trying,
    which is the hub's radio check, so they are reported as not checked here.
    """
    if spec.is_url:
        return f"{spec.path} (network port: reachability is checked when the radio opens)"
    port = resolve_port(spec, **kwargs)
    if spec.usb is None and not Path(port).exists():
        raise PortError(f"serial port {port} does not exist (is the radio plugged in?)")
    return port if spec.usb is None else f"{port} ({spec.usb})"
