"""A small labgrid lab on this machine, made of the real parts a lab runs: for the place tests.

A coordinator (``labgrid-coordinator``), and per bench: the emulated radio served on a pty
(``harness emulator serve``, as CI's radio), ser2net from Debian serving that pty on a TCP port,
and a ``labgrid-exporter`` publishing it as the bench's ``NetworkSerialPort`` (and, where asked, a
``NetworkPowerPort`` on a switch that speaks labgrid's "simplerest" protocol). Places are made
and matched with ``labgrid-client``, as a lab administrator does.

Everything listens on loopback, on ports the kernel picks, in a temporary directory; every wait is
bounded, and every process is stopped (by its own id) when the lab closes.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EMULATED_RIG = REPO / "rigs" / "emulated.toml"
SER2NET = shutil.which("ser2net") or ("/usr/sbin/ser2net" if Path("/usr/sbin/ser2net").exists() else None)
BIN = Path(sys.executable).parent
#: How long any one part may take to come up before the test fails saying which.
START_TIMEOUT_S = 30.0


def missing_parts() -> str | None:
    """Why the lab cannot be built here (one line with the install command), or None."""
    try:
        import labgrid.remote.client  # noqa: F401
    except ImportError:
        return "labgrid is not installed: pip install labgrid (pip install -e '.[test]' brings it)"
    if SER2NET is None:
        return "ser2net is not installed: apt-get install ser2net"
    if not (BIN / "labgrid-coordinator").exists():
        return f"labgrid-coordinator is not in {BIN}: pip install labgrid"
    return None


def skip_without_lab() -> None:
    reason = missing_parts()
    if reason is not None:
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, ready: Callable[[], bool], timeout: float = START_TIMEOUT_S) -> None:
    """Poll ``ready`` (each poll is a real check: a connection, a client call) until true or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not ready within {timeout:g} s", pytrace=False)
        time.sleep(0.1)


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
        return True
    except OSError:
        return False


class PowerSwitch(http.server.ThreadingHTTPServer):
    """A network power switch speaking labgrid's "simplerest" protocol: GET /relay/INDEX/VALUE sets, GET /relay/INDEX reads."""

    def __init__(self) -> None:
        self.switched: list[tuple[int, int]] = []   # (index, value) in the order the driver set them
        self.state: dict[int, int] = {}
        switch = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 -- http.server's name
                match = re.fullmatch(r"/relay/(\d+)(?:/([01]))?", self.path)
                if match is None:
                    self.send_error(404)
                    return
                index = int(match.group(1))
                if match.group(2) is not None:
                    switch.state[index] = int(match.group(2))
                    switch.switched.append((index, int(match.group(2))))
                body = str(switch.state.get(index, 1)).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/relay/{{index}}/{{value}}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


@dataclass
class Bench:
    """One bench machine's parts: the emulated radio, ser2net on its pty, the exporter."""

    name: str
    emulator: subprocess.Popen[str]
    pty: str
    ser2net: subprocess.Popen[bytes]
    serial_port: int
    exporter: subprocess.Popen[bytes]
    power: PowerSwitch | None = None


@dataclass
class Lab:
    root: Path
    coordinator_port: int = 0
    processes: list[subprocess.Popen] = field(default_factory=list)
    benches: dict[str, Bench] = field(default_factory=dict)
    switches: list[PowerSwitch] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.coordinator_port}"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a client here: this lab's coordinator, no terminal, nobody to prompt."""
        env = {**os.environ, "LG_COORDINATOR": self.address, "CI": "true", **extra}
        env.pop("PYTEST_ADDOPTS", None)
        return env

    def _start(self, argv: list[str], name: str, **kwargs) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 -- closed with the process's lifetime
        process = subprocess.Popen(argv, stdout=kwargs.pop("stdout", log), stderr=log, cwd=kwargs.pop("cwd", self.root),
                                   stdin=subprocess.DEVNULL, **kwargs)
        self.processes.append(process)
        return process

    def start_coordinator(self) -> None:
        self.coordinator_port = free_port()
        self._start([str(BIN / "labgrid-coordinator"), "-l", self.address], "coordinator")
        wait_until("labgrid-coordinator", lambda: self.client("places", check=False).returncode == 0)

    def client(self, *args: str, check: bool = True, user: str | None = None) -> subprocess.CompletedProcess[str]:
        """``labgrid-client -x ADDRESS ARGS...`` (as ``user``, through LG_USERNAME, when given)."""
        env = self.env(**({"LG_USERNAME": user} if user else {}))
        result = subprocess.run([str(BIN / "labgrid-client"), "-x", self.address, *args], env=env, text=True,
                                capture_output=True, timeout=START_TIMEOUT_S)
        if check and result.returncode != 0:
            pytest.fail(f"labgrid-client {' '.join(args)}: {result.stdout}{result.stderr}", pytrace=False)
        return result

    def add_bench(self, name: str, *, power: bool = False) -> Bench:
        """An emulated radio on a pty, ser2net serving it, an exporter publishing it, and place ``name``."""
        emulator = self._start([str(BIN / "harness"), "emulator", "serve", "--rig", str(EMULATED_RIG),
                                "--pty-link", str(self.root / f"{name}-radio")], f"{name}-emulator",
                               stdout=subprocess.PIPE, text=True)
        assert emulator.stdout is not None
        first = _read_line(emulator, START_TIMEOUT_S)
        pty = os.path.realpath(first.strip())
        serial_port = free_port()
        ser2net = self._start([SER2NET, "-d", "-n", "-Y", "connection: &radio", "-Y", f"  accepter: tcp,127.0.0.1,{serial_port}",
                               "-Y", f"  connector: serialdev(nouucplock=true),{pty},115200n81,local"], f"{name}-ser2net")
        wait_until(f"ser2net for {name}", lambda: accepts(serial_port))
        switch = PowerSwitch() if power else None
        if switch is not None:
            self.switches.append(switch)
        config = self.root / f"{name}-exporter.yaml"
        config.write_text(exporter_config(serial_port, switch.url if switch else None), encoding="utf-8")
        exporter = self._start([str(BIN / "labgrid-exporter"), "-c", self.address, "--name", f"{name}-host",
                                "--hostname", "127.0.0.1", str(config)], f"{name}-exporter")
        wait_until(f"labgrid-exporter for {name}",
                   lambda: f"{name}-host/radio/NetworkSerialPort" in self.client("resources", check=False).stdout)
        self.client("-p", name, "create")
        self.client("-p", name, "add-match", f"{name}-host/radio/NetworkSerialPort")
        if switch is not None:
            self.client("-p", name, "add-match", f"{name}-host/power/NetworkPowerPort")
        bench = self.benches[name] = Bench(name, emulator, pty, ser2net, serial_port, exporter, switch)
        return bench

    def holder(self, place: str) -> str | None:
        """Who holds ``place`` now, as the coordinator says (``host/user``), or None."""
        shown = self.client("-p", place, "show").stdout
        match = re.search(r"^\s*acquired: (\S+)", shown, flags=re.M)
        return match.group(1) if match and match.group(1) != "None" else None

    def withdraw_radio(self, name: str) -> None:
        """The bench's exporter and ser2net go away (machine shut down, cable pulled)."""
        bench = self.benches[name]
        for process in (bench.exporter, bench.ser2net):
            stop(process)

    def close(self) -> None:
        for process in reversed(self.processes):
            stop(process)
        for switch in self.switches:
            switch.close()


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The first line a process prints, or a failure naming it (its own thread: readline has no timeout)."""
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    if not line or not line[0]:
        pytest.fail(f"{process.args!r} printed no port within {timeout:g} s", pytrace=False)
    return line[0]


def exporter_config(serial_port: int, power_url: str | None) -> str:
    """The exporter's resources: the radio, served by ser2net as raw TCP, and the power switch if any."""
    text = ("radio:\n  NetworkSerialPort:\n    host: 127.0.0.1\n"
            f"    port: {serial_port}\n    protocol: raw\n    speed: 115200\n")
    if power_url is not None:
        text += f"power:\n  NetworkPowerPort:\n    model: simplerest\n    host: '{power_url}'\n    index: 0\n"
    return text


def place_rig(directory: Path, name: str, *, place: str | None = None, coordinator: str | None = None,
              extra_radio: str = "", power: str = "") -> Path:
    """rigs/emulated.toml as a lab would write it for a bench behind a labgrid place: the same devices
    and images, the radio named by its place instead of being emulated here."""
    text = EMULATED_RIG.read_text(encoding="utf-8")
    text = re.sub(r'^name = "emulated"', f'name = "{name}"', text, count=1, flags=re.M)
    text = text.replace('"../firmware_images/', f'"{REPO}/firmware_images/')
    text = re.sub(r"^\[radio\.emulated\]\n(?:[^\[\n].*\n|\n)*", "", text, flags=re.M)
    text = re.sub(r"^\[devices\.emulation\]\n(?:[^\[\n].*\n|\n)*", "", text, flags=re.M)
    # A bench nobody attends: a manual step (re-flash, power-cycle by hand) skips its test.
    text = re.sub(r"^\[operator\]\n(?:[^\[\n].*\n|\n)*", "[operator]\nnon_interactive = \"skip\"\n\n", text, flags=re.M)
    radio = f'place = "{place if place is not None else name}"\n'
    if coordinator is not None:
        radio += f'coordinator = "{coordinator}"\n'
    text = re.sub(r"^\[radio\]\n", f"[radio]\n{radio}{extra_radio}", text, count=1, flags=re.M)
    text = f'profiles_dir = "{REPO}/profiles"\n' + text + power
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path
