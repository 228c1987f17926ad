"""How the host reaches the emulated NCP: a pty (the default) or TCP on 127.0.0.1.

Either way bellows opens a real serial device or URL through serialx, exactly as it would a
USB dongle; the emulator sits on the other end. Each transport calls ``on_data(bytes)`` with
what the host wrote and offers ``write(bytes)`` towards the host. Both must be created and used
on the emulator's event loop.

pty notes: the master is in raw mode and non-blocking. The emulator keeps its own handle on the
slave open for the transport's whole life, so a host that closes and reopens the port (a
reconnect) never leaves the master in the hang-up state where every read fails with EIO. The
price: bytes the NCP writes while no host has the port open wait in the pty for the next host
(a USB dongle would lose them). The backlog is bounded -- the NCP gives up after its ACK
timeouts with one ERROR frame -- and bellows copes, because it resets the link before it
believes anything it reads.

The host never gets the bare ``/dev/pts/N``: pty numbers are one namespace for the whole machine
and the kernel hands a freed number to the next pty at once, so a host still retrying a stopped
emulator's ``/dev/pts/N`` (a hub waiting for its radio to come back, say) could open another
process's emulator and reset its NCP. The port is a symlink to the slave, as a USB dongle is
``/dev/serial/by-id/...``: the caller's ``link_path``, else a fresh one in a directory of its own,
and it goes when the pty goes -- a late open fails with "no such file" instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import os
import shutil
import tempfile
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

LOGGER = logging.getLogger(__name__)

READ_SIZE = 4096


class Transport(Protocol):
    #: What to hand to bellows as ``device.path``.
    port: str

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class PtyTransport:
    """A pseudo-terminal pair; the host opens the slave (``port``), the NCP owns the master."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_data: Callable[[bytes], None],
        *,
        link_path: Path | None = None,
    ) -> None:
        self._loop = loop
        self._on_data = on_data
        self.link_path = link_path
        #: Without a ``link_path``: where this transport's own links live (one per plug-in).
        self._own_links = Path(tempfile.mkdtemp(prefix="harness-ncp-")) if link_path is None else None
        self._plugs = 0
        self._pending = bytearray()
        self._writer_armed = False
        self._closed = False
        self.plugged = False
        self._open_pair()
        self.port = str(self._link)

    def _open_pair(self) -> None:
        """A fresh pty pair (and the link pointed at its slave), read by the loop."""
        self._master, self._slave = os.openpty()
        self._plugs += 1
        # The caller's link is stable across plug-ins; an own link is new each time, as a USB
        # device without a /dev/serial/by-id name comes back under another name.
        if self._own_links is None:
            assert self.link_path is not None
            self._link = self.link_path
        else:
            self._link = self._own_links / f"ttyEZSP{self._plugs}"
        try:
            tty.setraw(self._master)
            tty.setraw(self._slave)  # no echo or line editing before the host configures the port
            os.set_blocking(self._master, False)
            self.device_path = os.ttyname(self._slave)
            _replace_symlink(self._link, self.device_path)
        except BaseException:
            os.close(self._master)
            os.close(self._slave)
            raise
        self._loop.add_reader(self._master, self._read)
        self.plugged = True

    def _close_pair(self) -> None:
        self._loop.remove_reader(self._master)
        if self._writer_armed:
            self._loop.remove_writer(self._master)
            self._writer_armed = False
        self._pending.clear()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            if self._link.is_symlink() and os.readlink(self._link) == self.device_path:
                self._link.unlink()
        self.plugged = False

    def unplug(self) -> None:
        """The USB cable is pulled: the pty goes away, so the host's next read or write fails
        with a real I/O error, and the device path (the stable link) no longer exists.

        Bytes the NCP writes meanwhile are lost, as they would be on a dongle with no host.
        """
        if self._closed or not self.plugged:
            return
        self._close_pair()

    def replug(self) -> None:
        """The cable is back: a new pty appears at the same stable link (``link_path``).

        Without a ``link_path`` the device path changes (a new link to a new /dev/pts/N), as a
        re-enumerated USB device without a /dev/serial/by-id name would; ``port`` keeps the old
        value then, which no longer opens.
        """
        if self._closed or self.plugged:
            return
        self._open_pair()

    def _read(self) -> None:
        try:
            data = os.read(self._master, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:  # no slave open (cannot happen while we hold one)
                return
            raise
        if data:
            self._on_data(data)

    def write(self, data: bytes) -> None:
        if self._closed or not self.plugged:
            return
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        while self._pending:
            try:
                written = os.write(self._master, self._pending)
            except BlockingIOError:
                break
            except OSError as exc:
                LOGGER.debug("pty write failed: %s", exc)
                self._pending.clear()
                break
            del self._pending[:written]
        if self._pending and not self._writer_armed:
            self._loop.add_writer(self._master, self._on_writable)
            self._writer_armed = True

    def _on_writable(self) -> None:
        self._loop.remove_writer(self._master)
        self._writer_armed = False
        self._flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.plugged:
            self._close_pair()
        if self._own_links is not None:
            shutil.rmtree(self._own_links, ignore_errors=True)


def _replace_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target``; an existing symlink is replaced, any other file is an error."""
    if link.exists() or link.is_symlink():
        if not link.is_symlink():
            raise FileExistsError(f"--pty-link {link}: exists and is not a symlink; refusing to replace it")
        link.unlink()
    link.symlink_to(target)


class TcpTransport:
    """A TCP listener on 127.0.0.1 for hosts that use ``tcp://127.0.0.1:PORT``.

    One host at a time: a new connection replaces the previous one (as a host that reopens a
    serial port would). Only loopback addresses are accepted: the NCP has no authentication.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, on_data: Callable[[bytes], None]) -> None:
        self._loop = loop
        self._on_data = on_data
        self._server: asyncio.base_events.Server | None = None
        self._client: asyncio.Transport | None = None
        self.host = "127.0.0.1"
        self.tcp_port = 0
        self.port = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        require_loopback(host)
        self._server = await self._loop.create_server(lambda: _TcpClient(self), host, port)
        self.host, self.tcp_port = self._server.sockets[0].getsockname()[:2]
        self.port = f"tcp://{self.host}:{self.tcp_port}"

    def _attach(self, client: asyncio.Transport) -> None:
        if self._client is not None and self._client is not client:
            self._client.close()
        self._client = client

    def _detach(self, client: asyncio.Transport) -> None:
        if self._client is client:
            self._client = None

    def write(self, data: bytes) -> None:
        if self._client is not None and not self._client.is_closing():
            self._client.write(data)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._server is not None:
            self._server.close()


class _TcpClient(asyncio.Protocol):
    def __init__(self, owner: TcpTransport) -> None:
        self._owner = owner
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # a TCP server's connections are stream transports
        self._transport = transport
        self._owner._attach(transport)

    def data_received(self, data: bytes) -> None:
        if self._owner._client is self._transport:
            self._owner._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._owner._detach(self._transport)


def require_loopback(host: str) -> None:
    """Refuse any address that is not loopback: the emulator must not be reachable from outside."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"TCP host {host!r}: give a loopback IP address such as 127.0.0.1") from None
    if not address.is_loopback:
        raise ValueError(f"TCP host {host}: only loopback addresses are allowed")
