"""The emulated radio, in-process: an EZSP NCP and its virtual HAN on their own thread and loop.

    with EmulatedRadio(rig) as radio:            # or EmulatedRadio(ezsp_version=14, ...)
        config = {"device": {"path": radio.port, ...}, ...}
        app = await ControllerApplication.new(config, auto_form=True)

The radio runs on a private thread with its own asyncio loop, so the test's loop (where zigpy
and bellows run) and the NCP never share a loop: the only way between them is the serial line,
as with a USB dongle. The control surface below is thread-safe.

Public API: ``port``, ``han``, ``frame_log``, ``unknown_commands``, ``reset_ncp()``,
``inject_garbage()``, ``unplug()`` / ``replug()``, ``call()`` / ``acall()``, ``start()``,
``stop()``, and use as a context manager. ``options`` holds what it was built from.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import inspect
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.capture.pcapng import capture_file_stem

from .air import Air
from .ash import AshTimings, NcpResetCode
from .coordinator import EmulatedNcp
from .ezsp.dispatcher import UnknownCommand
from .ezsp.versions import SUPPORTED_VERSIONS
from .faults import (
    ChunkSplitter,
    DropCallbacks,
    FrameCorruption,
    FrameLoss,
    Latency,
    LinkStage,
    UartThrottle,
    chain,
    garbage_bytes,
)
from .frame_log import FrameLog
from .ncp import NcpIdentity, Nvram
from .transport import PtyTransport, TcpTransport

if TYPE_CHECKING:
    from harness.rig import Rig

LOGGER = logging.getLogger(__name__)

#: The NCP's EUI-64 unless told otherwise (display order; Silicon Labs OUI 00:0D:6F).
DEFAULT_NCP_EUI64 = bytes.fromhex("000d6f00ffee0001")

#: How long a thread-safe control call may wait for the emulator's loop.
CALL_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RadioOptions:
    """Everything an :class:`EmulatedRadio` is built from.

    The first group mirrors ``harness.rig.EmulatorSettings`` (``frame_loss`` and
    ``frame_corruption`` act on the serial line's ASH frames; the rig's ``latency_ms`` and
    ``air_loss`` become ``air_latency_ms`` and ``air_loss``); the rest are knobs the rig file does not carry.
    """

    ezsp_version: int = 13
    transport: str = "pty"  # "pty" | "tcp"
    uart_baud: int = 0  # 0 = unthrottled
    frame_loss: float = 0.0  # probability an ASH frame is lost (either direction)
    frame_corruption: float = 0.0  # probability an ASH frame has a bit flipped
    seed: int = 1
    stack_version: str = "7.4.4.0"

    air_latency_ms: float = 0.0  # one-way latency of one hop on the virtual air (VirtualHan)
    air_loss: float = 0.0  # probability one transmission attempt on the air is lost (VirtualHan)
    serial_latency_ms: float = 0.0  # per-frame latency on the serial line
    eui64: bytes = DEFAULT_NCP_EUI64
    nvram_path: Path | None = None  # persist the NCP's NVRAM as JSON here
    pty_link: Path | None = None  # a stable symlink to the pty
    tcp_host: str = "127.0.0.1"
    tcp_port: int = 0  # 0 = any free port
    frame_log_path: Path | None = None  # also write the frame log as JSON Lines
    split_writes: int = 0  # >0: cut every write into random pieces of at most this many bytes
    drop_callbacks: frozenset[str] = frozenset()  # EZSP callbacks the NCP withholds (a defect)
    drop_callback_rate: float = 1.0  # ... with this probability each
    ash_timings: AshTimings = field(default_factory=AshTimings)

    def __post_init__(self) -> None:
        if self.ezsp_version not in SUPPORTED_VERSIONS:
            raise ValueError(f"ezsp_version {self.ezsp_version}: emulated versions are {SUPPORTED_VERSIONS}")
        if self.transport not in ("pty", "tcp"):
            raise ValueError(f"transport {self.transport!r}: expected 'pty' or 'tcp'")
        if len(self.eui64) != 8:
            raise ValueError(f"eui64 must be 8 bytes, got {len(self.eui64)}")

    @classmethod
    def from_rig(cls, rig: Rig, **overrides: Any) -> RadioOptions:
        """Options for a rig whose radio is emulated (``[radio.emulated]``)."""
        settings = rig.radio.emulated
        if settings is None:
            raise ValueError(f"{rig.path}: radio.emulated: this rig's radio is not emulated")
        values: dict[str, Any] = dict(
            ezsp_version=settings.ezsp_version,
            transport=settings.transport,
            uart_baud=settings.uart_baud,
            frame_loss=settings.frame_loss,
            frame_corruption=settings.frame_corruption,
            seed=settings.seed,
            stack_version=settings.stack_version,
            air_latency_ms=settings.latency_ms,
            air_loss=settings.air_loss,
        )
        values.update(overrides)
        return cls(**values)


class EmulatedRadio:
    """An emulated EZSP radio reachable through a real pty (or TCP on 127.0.0.1)."""

    def __init__(
        self,
        rig: Rig | None = None,
        *,
        options: RadioOptions | None = None,
        air_factory: Callable[[EmulatedNcp, asyncio.AbstractEventLoop, random.Random], Air] | None = None,
        **option_overrides: Any,
    ) -> None:
        if options is not None and option_overrides:
            options = replace(options, **option_overrides)
        elif options is None:
            options = (
                RadioOptions.from_rig(rig, **option_overrides)
                if rig is not None
                else RadioOptions(**option_overrides)
            )
        self.options = options
        self.rig = rig
        self._air_factory = air_factory
        self.frame_log = FrameLog(options.frame_log_path)
        self._garbage_rng = self._rng_for("garbage")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ncp: EmulatedNcp | None = None
        self._transport: PtyTransport | TcpTransport | None = None
        self._stages: list[LinkStage] = []
        # Both ends of the link are wired in _build; until then using either is a bug.
        self._write_to_host: Callable[[bytes], None] = self._not_built
        self._receive_from_host: Callable[[bytes], None] = self._not_built
        self.han: Any = None
        self.port: str = ""

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> EmulatedRadio:
        if self._thread is not None:
            raise RuntimeError("the emulated radio is already running")
        loop = asyncio.new_event_loop()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                if loop.run_until_complete(self._setup(ready)):
                    loop.run_forever()
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="emulated-ncp", daemon=True)
        self._thread.start()
        try:
            ready.result(timeout=CALL_TIMEOUT_S)
        except BaseException:
            self._thread.join(timeout=CALL_TIMEOUT_S)
            self._loop = self._thread = None
            raise
        return self

    async def _setup(self, ready: concurrent.futures.Future[None]) -> bool:
        try:
            transport = self._build()
            if isinstance(transport, TcpTransport):
                await transport.start(self.options.tcp_host, self.options.tcp_port)
            self.port = transport.port
        except BaseException as exc:
            if self._transport is not None:
                self._transport.close()
            ready.set_exception(exc)
            return False
        ready.set_result(None)
        return True

    def _rng_for(self, part: str) -> random.Random:
        """A generator of its own for each random part, derived from the seed and the part's name,
        so that turning one fault on does not change the choices another one makes."""
        return random.Random(f"{self.options.seed}:{part}")

    def _build(self) -> PtyTransport | TcpTransport:
        """Wire transport, link stages, NCP and air together; returns the transport the host opens."""
        loop = asyncio.get_running_loop()
        options = self.options
        nvram = Nvram.load(options.nvram_path, default_eui64=options.eui64)

        def receive(data: bytes) -> None:
            self._receive_from_host(data)

        transport: PtyTransport | TcpTransport
        if options.transport == "pty":
            transport = PtyTransport(loop, receive, link_path=options.pty_link)
        else:
            transport = TcpTransport(loop, receive)
        self._transport = transport

        # Host side first: how the host's reads are cut, the UART, serial latency, then the
        # frame faults, and how the NCP's reads are cut.
        stages: list[LinkStage] = []
        if options.split_writes:
            stages.append(ChunkSplitter(self._rng_for("split-to-host"), options.split_writes, direction="to-host"))
        if options.uart_baud:
            stages.append(UartThrottle(loop, options.uart_baud))
        if options.serial_latency_ms:
            stages.append(Latency(loop, options.serial_latency_ms / 1000))
        if options.frame_loss:
            stages.append(FrameLoss(options.frame_loss, self._rng_for("frame-loss"), self.frame_log.fault))
        if options.frame_corruption:
            stages.append(
                FrameCorruption(options.frame_corruption, self._rng_for("frame-corruption"), self.frame_log.fault)
            )
        if options.split_writes:
            stages.append(ChunkSplitter(self._rng_for("split-to-ncp"), options.split_writes, direction="to-ncp"))
        self._stages = stages

        ncp_holder: list[EmulatedNcp] = []
        ncp_write, host_receive = chain(
            stages,
            host_write=transport.write,
            ncp_receive=lambda data: ncp_holder[0].link.data_received(data),
        )
        self._receive_from_host = host_receive
        self._write_to_host = transport.write
        ncp = EmulatedNcp(
            ezsp_version=options.ezsp_version,
            nvram=nvram,
            write=ncp_write,
            identity=NcpIdentity(stack_version=options.stack_version),
            timings=options.ash_timings,
            observer=self.frame_log.observe,
        )
        ncp_holder.append(ncp)
        if options.drop_callbacks:
            ncp.dispatcher.callback_filter = DropCallbacks(
                frozenset(options.drop_callbacks),
                options.drop_callback_rate,
                self._rng_for("drop-callbacks"),
                lambda name: self.frame_log.note("to-host", "WITHHELD", name),
            )
        self.frame_log.ezsp_namer = ncp.dispatcher.frame_name
        ncp.note = self.frame_log.note
        self._ncp = ncp
        air = self._make_air(ncp, loop)
        if air is not None:
            ncp.attach_air(air)
        self.han = air
        return transport

    def _not_built(self, data: bytes) -> None:
        raise RuntimeError("radio not built")

    def _make_air(self, ncp: EmulatedNcp, loop: asyncio.AbstractEventLoop) -> Air | None:
        air_rng = self._rng_for("air")
        if self._air_factory is not None:
            return self._air_factory(ncp, loop, air_rng)
        return build_virtual_han(
            ncp, loop, air_rng, self.rig, latency_s=self.options.air_latency_ms / 1000, loss=self.options.air_loss
        )

    def stop(self) -> None:
        """Stop the devices and the NCP, close the port and end the thread. Safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            done = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            try:
                done.result(timeout=CALL_TIMEOUT_S)
            except Exception:  # a failing close must not keep the thread alive
                LOGGER.exception("emulated radio did not shut down cleanly")
                loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=CALL_TIMEOUT_S)
        self._loop = self._thread = None
        self.frame_log.close()

    async def _shutdown(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            close_air = getattr(self.han, "close", None)
            if close_air is not None:
                await close_air()
            if self._ncp is not None:
                self._ncp.close()
            if self._transport is not None:
                self._transport.close()
            current = asyncio.current_task()
            others = [task for task in asyncio.all_tasks() if task is not current]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
        finally:
            # stop() gives up on a shutdown slower than CALL_TIMEOUT_S (a loaded machine) and stops
            # the loop itself; the loop is then closed with this coroutine still pending, and
            # closing it runs this block on a closed loop.
            if not loop.is_closed():
                loop.call_soon(loop.stop)

    def __enter__(self) -> EmulatedRadio:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- control surface (thread-safe) ------------------------------------------------------------

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = CALL_TIMEOUT_S) -> Any:
        """Run ``fn(*args)`` on the emulator's loop and return its result (awaited if a coroutine).

        Blocks the calling thread; from async test code prefer :meth:`acall`.
        """
        return self._submit(fn, *args).result(timeout=timeout)

    async def acall(self, fn: Callable[..., Any], *args: Any) -> Any:
        """:meth:`call` for async code: awaits without blocking the caller's loop."""
        return await asyncio.wrap_future(self._submit(fn, *args))

    def _submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        loop = self._require_loop()

        async def run() -> Any:
            result = fn(*args)
            if inspect.isawaitable(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), loop)

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or not self._loop.is_running():
            raise RuntimeError("the emulated radio is not running (use start() or a with block)")
        return self._loop

    @property
    def ncp(self) -> EmulatedNcp:
        """The NCP object. Touch it only through :meth:`call` (it lives on the emulator's loop)."""
        if self._ncp is None:
            raise RuntimeError("the emulated radio is not running")
        return self._ncp

    @property
    def unknown_commands(self) -> list[UnknownCommand]:
        """Commands the NCP answered with invalidCommand, oldest first (a snapshot).

        Readable after :meth:`stop` too, so a test can check it once the radio is gone.
        """
        if self._loop is None:
            return list(self._ncp.unknown_commands) if self._ncp is not None else []
        return self.call(lambda: list(self.ncp.unknown_commands))

    def reset_ncp(self, code: int = NcpResetCode.RESET_WATCHDOG) -> None:
        """The NCP reboots on its own (unsolicited RSTACK): bellows reports connection lost."""
        self.call(self.ncp.link.unsolicited_reset, code)

    def unplug(self) -> None:
        """The serial port vanishes (a USB radio pulled out): the host sees a real I/O error.

        pty transport only. With ``pty_link`` set, :meth:`replug` brings a new pty back at the
        same path, as a dongle re-enumerating under its /dev/serial/by-id name.
        """
        transport = self._require_pty("unplug")

        def pull_out() -> None:
            self.frame_log.note("to-host", "UNPLUGGED", transport.port)
            transport.unplug()

        self.call(pull_out)

    def replug(self) -> None:
        """The serial port is back (see :meth:`unplug`); the NCP kept its state, the host resets it."""
        transport = self._require_pty("replug")

        def plug_in() -> None:
            transport.replug()
            self.frame_log.note("to-host", "REPLUGGED", transport.port)

        self.call(plug_in)

    def _require_pty(self, what: str) -> PtyTransport:
        if not isinstance(self._transport, PtyTransport):
            raise RuntimeError(f"{what}: only the pty transport can be unplugged (this radio uses {self.options.transport})")
        return self._transport

    def start_capture(self, directory: Path, test_id: str, *, keys: bool = True) -> Path:
        """Capture the air into a new pcapng file for ``test_id`` in ``directory``; returns its path.

        The file is named after the test id (a pytest nodeid is made file-safe); the previous file
        is closed. With ``keys`` the keys needed to decode it go to ``zigbee-keys.txt`` beside it
        (the emulated rig's test keys only). Frames are written as they happen, so a capture is
        readable while the run goes on and after a killed run.
        """
        from .air_capture import AirCapture

        path = Path(directory) / f"{capture_file_stem(test_id)}.pcapng"
        keys_path = AirCapture.keys_path_for(Path(directory)) if keys else None

        def start() -> Path:
            capture = getattr(self.han, "capture", None)
            if capture is None:
                raise RuntimeError("this emulated radio has no virtual air to capture")
            return capture.start(path, keys_path=keys_path, comment=f"emulated HAN air: {test_id}")

        started: Path = self.call(start)
        return started

    def sniff(self, other: EmulatedRadio) -> None:
        """Place this radio's NCP as a sniffer stick on ``other``'s air.

        Every frame rendered on that air reaches this NCP (on its own loop), which reports it to
        its host with ``mfglibRxHandler`` while in mfglib test mode on the same channel: the way
        a bench's second stick serves bellows' packet capture.
        """
        from .ezsp.mfglib import heard

        loop = self._require_loop()

        def forward(channel: int, frame: bytes) -> None:
            if not loop.is_closed():  # a sniffer that was stopped hears nothing more
                loop.call_soon_threadsafe(heard, self.ncp, channel, frame)

        def attach() -> None:
            capture = getattr(other.han, "capture", None)
            if capture is None:
                raise RuntimeError("the other emulated radio has no virtual air to sniff")
            capture.listeners.append(forward)

        other.call(attach)

    def stop_capture(self) -> None:
        """Close the current capture file (the next :meth:`start_capture` opens another)."""
        capture = getattr(self.han, "capture", None)
        if capture is not None:
            self.call(capture.stop)

    def capture_frame_count(self) -> int:
        """Frames written so far to the current capture file (the last frame's number)."""
        capture = getattr(self.han, "capture", None)
        return self.call(lambda: capture.frame_count) if capture is not None else 0

    def inject_garbage(self, count: int = 32, data: bytes | None = None) -> bytes:
        """Put line noise on the wire towards the host; returns the bytes sent."""
        noise = data if data is not None else garbage_bytes(self._garbage_rng, count)

        def inject() -> None:
            self.frame_log.note("to-host", "GARBAGE", f"{len(noise)} bytes")
            self._write_to_host(noise)

        self.call(inject)
        return noise


def build_virtual_han(
    ncp: EmulatedNcp,
    loop: asyncio.AbstractEventLoop,
    rng: random.Random,
    rig: Rig | None,
    *,
    latency_s: float,
    loss: float = 0.0,
) -> Air | None:
    """The real ``harness.emulator.han.VirtualHan``, with one emulated device per rig device.

    Returns None while the devices layer is absent: the NCP then reports every unicast to a
    device as DELIVERY_FAILED, as a coordinator alone on its channel would.
    """
    if importlib.util.find_spec("harness.emulator.han") is None:
        LOGGER.info("harness.emulator.han is not available: the NCP runs with an empty air")
        return None
    from harness.emulator.devices import EmulatedDevice, settings_from_rig
    from harness.emulator.devices.settings import timings_from_rig
    from harness.emulator.han import VirtualHan

    han = VirtualHan(ncp, latency_s=latency_s, rng=rng, loop=loop, loss=loss)
    if rig is not None:
        for dut in rig.devices:
            if dut.emulation is None:
                continue
            profile = rig.profile_for(dut)
            settings = settings_from_rig(dut, profile, supplier_key=rig.supplier_key)
            han.add(EmulatedDevice(settings, timings=timings_from_rig(dut, profile)))
    return han


__all__ = ["EmulatedRadio", "RadioOptions", "build_virtual_han", "capture_file_stem"]
