"""Rigs as labgrid places: acquire the place, open its exported radio, release the place.

A lab's benches are shared between engineers and spread over machines. labgrid already does
that job -- a coordinator that knows every place and who holds it, an exporter on each bench
machine that serves the bench's serial radio (through ser2net) and power switch -- so a rig may
name a place (``[radio] place = "bench1"``) instead of a port. This module is the harness's use of
labgrid's own client (:class:`labgrid.remote.client.ClientSession`): no scheduling of its own.

Life of a lease, once per process and place:

* :func:`lease_for` connects to the coordinator (the rig's ``coordinator``, else ``$LG_COORDINATOR``,
  else labgrid's default), refuses a place that does not exist or that someone holds (saying who
  and since when), acquires it, and finds the place's ``NetworkSerialPort``: the host and TCP
  port where the exporter serves the radio. bellows opens that as ``rfc2217://host:port`` (or
  ``tcp://host:port`` for a raw TCP export; see :attr:`ExportedSerial.url`).
* The place is released by :func:`release_all` (the pytest plugin calls it as the session ends,
  also after a failure or Ctrl-C), by an ``atexit`` hook, and on SIGTERM / SIGHUP, which are
  turned into a KeyboardInterrupt so that pytest ends the run as after Ctrl-C (evidence written,
  then the release). A SIGKILL runs nothing: the place stays acquired by ``host/user`` until
  someone releases it -- the next run by the same user says so, and ``labgrid-client -p NAME
  release`` (or, for another user's place, ``release --kick``) frees it.

labgrid's client is asyncio code; it runs here on a private thread with its own loop, so neither
the rig check's loop nor pytest-asyncio's session loop (where the hub lives) ever shares it.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import concurrent.futures
import os
import signal
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from harness.ports import PortError

#: The environment variable labgrid's own tools read for the coordinator's address.
COORDINATOR_ENV = "LG_COORDINATOR"
#: labgrid's default coordinator address (and its default port, when an address has none).
DEFAULT_COORDINATOR = "127.0.0.1:20408"
DEFAULT_COORDINATOR_PORT = 20408
#: Bounds on every exchange with the coordinator, so an unreachable one stops the run, never hangs it.
CONNECT_TIMEOUT_S = 10.0
CALL_TIMEOUT_S = 15.0
#: How long a power switch may take to switch off and on again, beyond the time it stays off.
#: labgrid's power drivers talk to the switch themselves (HTTP, SNMP, a serial line), most with no
#: timeout of their own, so a switch that stops answering would hold the run for ever.
POWER_SWITCH_TIMEOUT_S = 30.0
#: The resource classes labgrid's client drives with a power driver, and the driver for each.
POWER_DRIVERS = {
    "NetworkPowerPort": "NetworkPowerDriver",
    "PDUDaemonPort": "PDUDaemonDriver",
    "TasmotaPowerPort": "TasmotaPowerDriver",
    "NetworkUSBPowerPort": "USBPowerDriver",
    "NetworkYKUSHPowerPort": "YKUSHPowerDriver",
}
INSTALL_HINT = "install labgrid (pip install labgrid; it is a dependency of the harness)"

T = TypeVar("T")


class PlaceError(PortError):
    """The rig's labgrid place cannot give this run its radio; one line saying why and what to do."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportedSerial:
    """Where a place's exporter serves the radio: labgrid's NetworkSerialPort, as bellows opens it."""

    exporter: str
    group: str
    name: str
    host: str
    port: int
    protocol: str          # "rfc2217" (ser2net's telnet/RFC 2217 server) or "raw" (plain TCP)
    speed: int

    @property
    def url(self) -> str:
        """The URL bellows opens: ``rfc2217://``, or ``tcp://`` for a raw export.

        A raw export is plain TCP, which serialx opens the same way as ``tcp://`` or ``socket://``.
        But bellows takes ``socket://`` for zigbeed (a host stack that resets itself when a client
        connects) and waits 2 s for that reset before each of its own; an NCP behind ser2net never
        sends one, so every hub start would wait 2 s per reset for nothing (three a first start).
        """
        scheme = "tcp" if self.protocol == "raw" else "rfc2217"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def path(self) -> str:
        return f"{self.exporter}/{self.group}/NetworkSerialPort/{self.name}"

    def describe(self) -> str:
        return f"{self.url} (exporter {self.path}, {self.speed} baud)"


def coordinator_address(written: str | None, environ: dict[str, str] | None = None) -> tuple[str, str]:
    """The coordinator to ask and where that came from: the rig's key, ``$LG_COORDINATOR``, labgrid's default."""
    environ = dict(os.environ) if environ is None else environ
    if written:
        return written, "rig key radio.coordinator"
    if environ.get(COORDINATOR_ENV, "").strip():
        return environ[COORDINATOR_ENV].strip(), f"${COORDINATOR_ENV}"
    return DEFAULT_COORDINATOR, "labgrid's default"


def _finish_within(work: Callable[[], object], seconds: float, problem: str) -> None:
    """Run ``work`` on a thread of its own and wait ``seconds`` for it; else :class:`PlaceError`.

    A daemon thread, so that a call stuck in a driver cannot hold the interpreter's exit either
    (a thread pool's workers are joined at exit).
    """
    done = threading.Event()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 -- raised again on the caller's thread
            failures.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name="labgrid-power", daemon=True).start()
    if not done.wait(seconds):
        raise PlaceError(problem)
    if failures:
        raise failures[0]


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


class PlaceLease:
    """One acquired labgrid place: its client session, its exported radio, and its release."""

    def __init__(self, place: str, *, coordinator: str, origin: str, serial: str | None = None) -> None:
        self.place = place
        self.coordinator = coordinator
        self.origin = origin
        self.serial_name = serial
        self.serial: ExportedSerial | None = None
        self.acquired_at: float | None = None
        self._session: Any = None
        self._target: Any = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"labgrid-place-{place}", daemon=True)
        self._thread.start()

    # -- running labgrid's client on its own loop -------------------------------------------------

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT_S) -> T:
        if self._loop.is_closed() or not self._thread.is_alive():
            coroutine.close()
            raise PlaceError(f"{self.where} was already released by this run")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except (TimeoutError, concurrent.futures.TimeoutError):
            future.cancel()
            raise PlaceError(f"labgrid coordinator {self.coordinator} ({self.origin}) did not answer within "
                             f"{timeout:g} s (place {self.place!r})") from None

    def _call(self, function: Callable[[], T]) -> T:
        async def call() -> T:
            return function()

        return self._run(call())

    @property
    def where(self) -> str:
        return f"labgrid place {self.place!r} (coordinator {self.coordinator}, from {self.origin})"

    # -- acquire ----------------------------------------------------------------------------------

    def acquire(self) -> ExportedSerial:
        """Connect, check the place is there and free, acquire it and find its serial radio."""
        try:
            self._run(self._connect(), CONNECT_TIMEOUT_S + 1.0)
            self.serial = self._run(self._acquire())
        except BaseException:
            self.close()
            raise
        return self.serial

    async def _connect(self) -> None:
        from labgrid.remote.client import ClientSession, Error
        from labgrid.util.proxy import proxymanager

        address = proxymanager.get_grpc_address(self.coordinator, default_port=DEFAULT_COORDINATOR_PORT)
        session = ClientSession(address, asyncio.get_running_loop(),
                                args=argparse.Namespace(place=self.place, allow_unmatched=False, kick=False))
        try:
            await asyncio.wait_for(session.start(), CONNECT_TIMEOUT_S)
        except (Error, TimeoutError) as exc:
            await session.close()
            why = "no answer" if isinstance(exc, TimeoutError) else "connection refused or lost"
            raise PlaceError(f"labgrid coordinator {self.coordinator} ({self.origin}) is not reachable ({why}); "
                             f"is labgrid-coordinator running there? (place {self.place!r})") from None
        self._session = session

    async def _acquire(self) -> ExportedSerial:
        from labgrid.remote.client import Error
        from labgrid.remote.generated import labgrid_coordinator_pb2

        session = self._session
        place = session.places.get(self.place)
        if place is None:
            known = ", ".join(sorted(session.places)) or "none"
            raise PlaceError(f"{self.where} does not exist (places there: {known})")
        if place.acquired:
            raise PlaceError(self._held_message(place))
        try:
            session.check_matches(place)
        except Error as exc:
            raise PlaceError(f"{self.where}: {' '.join(exc.args)} (is the bench's labgrid-exporter running?)") from None
        try:
            await session.stub.AcquirePlace(labgrid_coordinator_pb2.AcquirePlaceRequest(placename=place.name))
            await session.sync_with_coordinator()
        except Exception as exc:  # noqa: BLE001 -- grpc's error: someone was quicker, a resource is in use
            details = exc.details() if hasattr(exc, "details") else str(exc)
            raise PlaceError(f"{self.where} could not be acquired: {details}") from None
        self.acquired_at = time.time()
        try:
            return self._find_serial(place)
        except BaseException:
            await self._release()
            raise

    def _held_message(self, place: Any) -> str:
        holder = place.acquired
        mine = holder == f"{self._session.gethostname()}/{self._session.getuser()}"
        since = _when(place.changed)
        if mine:
            return (f"{self.where} is already held by you ({holder}) since {since}: by another run of yours, or "
                    f"one that was killed; if none is using it: labgrid-client -x {self.coordinator} -p {self.place} release")
        return f"{self.where} is held by {holder} since {since}; wait for them to release it"

    def _find_serial(self, place: Any) -> ExportedSerial:
        serials = []
        for resource_path in place.acquired_resources:
            exporter, group, cls, name = resource_path
            if cls != "NetworkSerialPort":
                continue
            match = place.getmatch(resource_path)
            shown = match.rename if match is not None and match.rename else name
            serials.append((shown, exporter, group, name))
        if self.serial_name is not None:
            serials = [s for s in serials if self.serial_name in (s[0], s[3])]
        if len(serials) != 1:
            problem = "has no NetworkSerialPort (the radio)" if not serials else (
                f"has {len(serials)} NetworkSerialPorts ({', '.join(s[0] for s in serials)}); "
                f"name the radio's with radio.place_serial")
            if self.serial_name is not None and not serials:
                problem = f"has no NetworkSerialPort named {self.serial_name!r} (radio.place_serial)"
            raise PlaceError(f"{self.where} {problem}")
        shown, exporter, group, name = serials[0]
        entry = self._session.resources[exporter][group][name]
        if not entry.data.get("avail"):
            raise PlaceError(f"{self.where}: exporter {exporter} reports its serial radio {group}/{name} "
                             f"as unavailable (is the radio plugged in at the bench?)")
        params = entry.args
        return ExportedSerial(exporter=exporter, group=group, name=shown, host=str(params["host"]),
                              port=int(params["port"]), protocol=str(params.get("protocol") or "rfc2217"),
                              speed=int(params.get("speed") or 115200))

    # -- while held -------------------------------------------------------------------------------

    def serial_problem(self) -> str | None:
        """Why the place's serial radio cannot be reached now (its exporter withdrew it), else None."""
        serial = self.serial
        if serial is None or self._session is None:
            return None

        def look() -> str | None:
            if self._session.stopping.is_set():
                return f"the connection to the labgrid coordinator {self.coordinator} was lost"
            entry = self._session.resources.get(serial.exporter, {}).get(serial.group, {}).get(serial.name)
            if entry is None or not entry.data:
                return f"exporter {serial.exporter} withdrew the serial radio {serial.path} of {self.where}"
            if not entry.data.get("avail"):
                return f"exporter {serial.exporter} reports the serial radio {serial.path} of {self.where} unavailable"
            return None

        try:
            return self._call(look)
        except PlaceError as exc:
            return str(exc)

    def power_cycle(self, *, resource: str | None = None, off_s: float | None = None) -> str:
        """Switch the place's power off and on again with labgrid's power driver; says what it switched.

        ``off_s``: how long the power stays off (default: the driver's own, 2 s for most).
        """
        driver, description = self._call(lambda: self._power_driver(resource))
        if off_s is not None:
            driver.delay = float(off_s)
        bound = float(getattr(driver, "delay", 0.0) or 0.0) + POWER_SWITCH_TIMEOUT_S
        _finish_within(driver.cycle, bound,  # blocking: off, wait, on
                       f"{description}: the power switch did not finish switching off and on within {bound:g} s")
        return description

    def _power_driver(self, wanted: str | None) -> tuple[Any, str]:
        from labgrid import Target
        from labgrid.resource.remote import RemotePlace, RemotePlaceManager

        if self._target is None:
            manager = RemotePlaceManager.get()
            manager.session = self._session
            manager.loop = self._loop
            self._target = Target(self.place, env=None)
            RemotePlace(self._target, name=self.place)
        target = self._target
        found = [r for r in target.resources if type(r).__name__ in POWER_DRIVERS
                 and (wanted is None or r.name == wanted)]
        if len(found) != 1:
            names = ", ".join(f"{type(r).__name__} {r.name}" for r in found) or "none"
            which = f" named {wanted!r}" if wanted else ""
            raise PlaceError(f"{self.where} needs exactly one power resource{which} for [power] kind = 'place' "
                             f"(found: {names}){'; name one with power.resource' if len(found) > 1 else ''}")
        resource = found[0]
        try:
            driver = target.get_driver("PowerProtocol", name=resource.name)
        except Exception:  # noqa: BLE001 -- labgrid's NoDriverFoundError: make the one for this resource
            from labgrid.factory import target_factory

            driver_cls = target_factory.class_from_string(POWER_DRIVERS[type(resource).__name__])
            target.set_binding_map({next(iter(driver_cls.bindings)): resource.name})
            driver = driver_cls(target, name=resource.name)
        target.activate(driver)
        return driver, f"{type(resource).__name__} {resource.name} of {self.where}"

    # -- release ----------------------------------------------------------------------------------

    def release(self) -> None:
        """Release the place (if held) and close the session; safe to call more than once."""
        if self._session is not None:
            try:
                self._run(self._release())
            except PlaceError:
                pass  # the coordinator is gone: nothing holds the place any more that we could release
        self.close()

    async def _release(self) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2

        session, self._session = self._session, None
        if session is None:
            return
        try:
            if self.acquired_at is not None and not session.stopping.is_set():
                await session.stub.ReleasePlace(labgrid_coordinator_pb2.ReleasePlaceRequest(placename=self.place))
                await session.sync_with_coordinator()
        finally:
            self.acquired_at = None
            await session.stop()
            await session.close()

    def close(self) -> None:
        """Stop the client's loop and thread (the session is closed by :meth:`release`)."""
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=CALL_TIMEOUT_S)
        if not self._thread.is_alive():
            self._loop.close()


# -- one lease per place and process ----------------------------------------------------------------

_LEASES: dict[Path, PlaceLease] = {}
_LOCK = threading.Lock()
_HOOKS_INSTALLED = False


def lease_for(rig: Any) -> PlaceLease:
    """The process's lease on ``rig``'s place, acquired on first call; :class:`PlaceError` if it cannot be."""
    place = rig.radio.place
    if place is None:
        raise ValueError(f"rig {rig.name!r} names no labgrid place")
    key = Path(rig.path).resolve()
    with _LOCK:
        lease = _LEASES.get(key)
        if lease is not None:
            return lease
        try:
            import labgrid.remote.client  # noqa: F401
        except ImportError:
            raise PlaceError(f"rig {rig.name!r} names labgrid place {place.name!r}, but labgrid is not installed: "
                             f"{INSTALL_HINT}") from None
        address, origin = coordinator_address(place.coordinator)
        lease = PlaceLease(place.name, coordinator=address, origin=origin, serial=place.serial)
        _install_release_hooks()
        lease.acquire()
        _LEASES[key] = lease
        return lease


def held_lease(rig: Any) -> PlaceLease | None:
    """The lease already taken for ``rig`` in this process, if any (acquires nothing)."""
    return _LEASES.get(Path(rig.path).resolve())


def release_lease(rig: Any) -> None:
    """Release ``rig``'s place if this process holds it (the end of the run that used it)."""
    with _LOCK:
        lease = _LEASES.pop(Path(rig.path).resolve(), None)
    if lease is not None:
        lease.release()


def release_all() -> None:
    """Release every place this process holds (session end, exit, SIGTERM)."""
    while _LEASES:
        _, lease = _LEASES.popitem()
        lease.release()


def _install_release_hooks() -> None:
    """``atexit`` and, on the main thread, SIGTERM/SIGHUP as an interrupt (so the run ends as after Ctrl-C)."""
    global _HOOKS_INSTALLED
    if _HOOKS_INSTALLED:
        return
    _HOOKS_INSTALLED = True
    atexit.register(release_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for number in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(number) in (signal.SIG_DFL, None):
            signal.signal(number, _interrupt)


def _interrupt(number: int, frame: FrameType | None) -> None:
    signal.signal(number, signal.SIG_DFL)  # a second signal ends the process at once
    raise KeyboardInterrupt(f"{signal.Signals(number).name} received; releasing the labgrid place")
