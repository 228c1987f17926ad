"""Shared parts of the OTA benchmarks: the emulated rig, the image, the two OTA servers, the clocks.

Not a test module and not part of the package: the scripts in ``bench/`` import it by name (they
run as ``python bench/<script>.py``, which puts ``bench/`` on ``sys.path``).

What a benchmark run looks like, for either OTA server:

* a fresh emulated radio (blank NCP, so bellows forms the network as CI does) hosting N emulated
  PPMIDs built from ``rigs/emulated.toml``'s PPMID with the block size and page settings asked for;
* the host: the harness's :class:`~harness.hub.CommsHub` (its own OTA server, its own
  application), or :class:`ZigpyApplication` -- the hub's application with bellows' own EZSP class,
  same zigpy configuration -- driving zigpy's own ``update_firmware``: plain zigpy drops every Smart
  Energy frame, so zigpy's OTA cannot be measured against an SE device without the SE parsing;
* every device joined with its install code, then the transfer.

What is timed is the *block phase*, seen by the device: from its first Image Block (or Page)
Request to its Upgrade End Request. Both servers then do things this leaves out on purpose: zigpy
sleeps ``AFTER_OTA_ATTR_READ_DELAY`` (10 s) and re-interviews, the hub watches for the activation.
CPU time is read per thread over the same phase seen by the host (first request received to
Upgrade End received): the host loop's thread (zigpy + bellows + the hub's OTA server) and the
emulator's thread (NCP + virtual devices), so what the host costs can be told from what the
emulated hardware costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import statistics
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import bellows.ezsp
import zigpy.device
from zigpy.ota import OtaImageWithMetadata
from zigpy.ota.image import OTAImage
from zigpy.ota.providers import BaseOtaImageMetadata
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

import harness.hub
from harness.crypto.aes_mmo import add_install_code_crc
from harness.emulator.frame_log import HOST_TO_NCP
from harness.emulator.server import EmulatedRadio
from harness.emulator.transport import PtyTransport, TcpTransport
from harness.hub.images import OfferedImage
from harness.hub.joins import admit
from harness.hub.radio import HubApplication, NetworkIdentity, zigpy_config
from harness.hub.settings import HubSettings
from harness.ota import OtaImage, SubElement
from harness.rig import DeviceUnderTest, Rig, load_rig
from harness.secret import Secret

REPO = Path(__file__).resolve().parents[1]
RIG_FILE = REPO / "rigs" / "emulated.toml"
TEMPLATE_DEVICE = "ppmid1"

#: The PPMID identity of rigs/emulated.toml and profiles/ppmid-generic.toml.
MANUFACTURER_CODE = 0x121D
IMAGE_TYPE = 0x0084
HARDWARE_RANGE = (0x1111, 0x1211)
NEXT_VERSION = 0x00000102

HUB_SETTINGS = HubSettings(join_timeout_s=20, interview_timeout_s=20)
#: How long zigpy's ``update_firmware`` may take before the bench gives up on it (the harness's
#: transfers end on their own: the hub's stall timer).
ZIGPY_TRANSFER_LIMIT_S = 120.0

#: UART framing used for the wire limit: start + 8 data + stop bits.
BITS_PER_BYTE = 10


# ------------------------------------------------------------------------------------------------
# The rig and the image
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceShape:
    """How the emulated devices ask for the image."""

    max_data_size: int = 64
    uses_page_requests: bool = False
    page_size: int = 256
    response_spacing_ms: int = 0

    def describe(self) -> str:
        if self.uses_page_requests:
            return f"pages of {self.page_size} B, max data {self.max_data_size} B, spacing {self.response_spacing_ms} ms"
        return f"block requests, max data {self.max_data_size} B"


def bench_rig(count: int, shape: DeviceShape, *, seed: int = 1, cbke: bool = False) -> Rig:
    """rigs/emulated.toml with ``count`` PPMIDs shaped as asked (and no IHD).

    ``cbke``: the devices run key establishment after joining, as the rig's PPMID does. Off by
    default: it is a join-time cost the OTA figures must not carry, and zigpy alone has no Key
    Establishment server, so a CBKE device would leave the HAN 10 s after joining zigpy.

    EUI-64s, install codes (with a valid CRC), network key and extended PAN id come from ``seed``.
    """
    rig = load_rig(RIG_FILE)
    template = rig.device(TEMPLATE_DEVICE)
    assert template.emulation is not None
    emulation = replace(
        template.emulation,
        max_data_size=shape.max_data_size,
        uses_page_requests=shape.uses_page_requests,
        page_size=shape.page_size,
        response_spacing_ms=shape.response_spacing_ms,
    )
    rng = random.Random(f"bench-rig:{seed}")
    devices: list[DeviceUnderTest] = []
    for index in range(count):
        eui64 = bytes.fromhex("000D6F000B12") + (0x4000 + index).to_bytes(2, "big")
        code = add_install_code_crc(rng.randbytes(16))
        devices.append(
            replace(template, name=f"ppmid{index + 1}", eui64=eui64, install_code=Secret(code), emulation=emulation,
                    cbke_required=cbke)
        )
    # The network key and extended PAN id too, which the rig leaves to be generated per run.
    han = replace(rig.han, network_key=Secret(rng.randbytes(16)), extended_pan_id=rng.randbytes(8))
    # One CBKE link key per device in the NCP's key table (the emulated NCP, like EmberZNet,
    # defaults to 4), as rigs/emulated-defects.toml does for its devices.
    ezsp_config = {**rig.radio.ezsp_config, "CONFIG_KEY_TABLE_SIZE": max(16, count)}
    radio = replace(rig.radio, ezsp_config=ezsp_config)
    return replace(rig, radio=radio, han=han, devices=tuple(devices), images=())


def build_image(path: Path, payload_size: int, *, seed: int = 1) -> bytes:
    """A tagged OTA image for the PPMID identity, ``payload_size`` bytes of seeded payload.

    Tagged (one Upgrade Image sub-element) rather than GBCS, because zigpy's ``OTAImage`` parses
    only the tagged layout and both servers must send the very same bytes.
    """
    body = random.Random(f"bench-image:{seed}").randbytes(payload_size)
    image = OtaImage.build(
        (SubElement(tag=0x0000, data=body),),
        manufacturer_code=MANUFACTURER_CODE,
        image_type=IMAGE_TYPE,
        file_version=NEXT_VERSION,
        header_string="TEST-ONLY bench image",
        hardware_range=HARDWARE_RANGE,
    )
    data = image.to_bytes()
    path.write_bytes(data)
    return data


def zigpy_image(data: bytes) -> OtaImageWithMetadata:
    firmware, rest = OTAImage.deserialize(data)
    if rest:
        raise ValueError(f"zigpy parsed the bench image with {len(rest)} bytes left over")
    metadata = BaseOtaImageMetadata(file_version=NEXT_VERSION, manufacturer_id=MANUFACTURER_CODE, image_type=IMAGE_TYPE)
    return OtaImageWithMetadata(metadata=metadata, firmware=firmware)


# ------------------------------------------------------------------------------------------------
# Measuring
# ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class LineCount:
    """Bytes that crossed the pty, per direction (counted on the emulator's side of it)."""

    to_ncp: int = 0
    to_host: int = 0
    ezsp_to_ncp: int = 0  # EZSP frame bytes inside the ASH DATA frames (no retransmissions)
    ezsp_to_host: int = 0

    def minus(self, earlier: LineCount) -> LineCount:
        return LineCount(
            self.to_ncp - earlier.to_ncp,
            self.to_host - earlier.to_host,
            self.ezsp_to_ncp - earlier.ezsp_to_ncp,
            self.ezsp_to_host - earlier.ezsp_to_host,
        )

    def copy(self) -> LineCount:
        return LineCount(self.to_ncp, self.to_host, self.ezsp_to_ncp, self.ezsp_to_host)


class CountingRadio(EmulatedRadio):
    """The emulated radio, counting every byte the pty carries in each direction.

    Counted where the bytes enter and leave the emulator: what the host wrote into the pty, and
    what the NCP's ASH engine writes out (before any UART throttle, which delays but never
    changes bytes). Benchmark use only: it reaches into the radio's wiring after it is built.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line = LineCount()

    def _build(self) -> PtyTransport | TcpTransport:
        transport = super()._build()
        line = self.line
        from_host = self._receive_from_host

        def counted_from_host(data: bytes) -> None:
            line.to_ncp += len(data)
            from_host(data)

        self._receive_from_host = counted_from_host  # type: ignore[method-assign]
        link = self.ncp.link
        to_host = link._write

        def counted_to_host(data: bytes) -> None:
            line.to_host += len(data)
            to_host(data)

        link._write = counted_to_host
        deliver, send = link._on_data, link.send

        def counted_delivery(frame: bytes) -> None:
            line.ezsp_to_ncp += len(frame)
            deliver(frame)

        def counted_send(frame: bytes) -> None:
            line.ezsp_to_host += len(frame)
            send(frame)

        link._on_data = counted_delivery
        link.send = counted_send  # type: ignore[method-assign]
        return transport


def emulator_thread() -> threading.Thread:
    for thread in threading.enumerate():
        if thread.name == "emulated-ncp":
            return thread
    raise RuntimeError("the emulated radio's thread is not running")


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    process: float
    host_thread: float  # the thread running the asyncio loop (zigpy, bellows, the hub)
    emulator_thread: float
    wall: float

    @classmethod
    def take(cls, emulator: threading.Thread) -> CpuSnapshot:
        ident = emulator.ident
        assert ident is not None
        return cls(
            process=time.process_time(),
            host_thread=time.thread_time(),
            emulator_thread=time.clock_gettime(time.pthread_getcpuclockid(ident)),
            wall=time.perf_counter(),
        )

    def minus(self, earlier: CpuSnapshot) -> CpuSnapshot:
        return CpuSnapshot(
            process=self.process - earlier.process,
            host_thread=self.host_thread - earlier.host_thread,
            emulator_thread=self.emulator_thread - earlier.emulator_thread,
            wall=self.wall - earlier.wall,
        )


@dataclass(slots=True)
class DeviceResult:
    """One device's block phase, from its own event log."""

    name: str
    image_size: int
    started: float  # device clock (time.monotonic): first block/page request
    ended: float  # Upgrade End Request sent
    block_gaps: list[float]  # seconds between consecutive blocks received
    blocks: int

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def kib_per_s(self) -> float:
        return self.image_size / 1024 / self.seconds

    @property
    def longest_gap(self) -> float:
        return max(self.block_gaps) if self.block_gaps else 0.0


@dataclass(slots=True)
class RunResult:
    server: str  # "harness" | "zigpy"
    devices: list[DeviceResult]
    cpu: CpuSnapshot  # over the host-seen block phase (all devices)
    line: LineCount | None = None
    startup_s: float = 0.0  # fresh NCP + bellows start (formation) + joins
    extra: dict[str, Any] = field(default_factory=dict)
    commands: dict[str, int] = field(default_factory=dict)  # EZSP commands the NCP received, by name

    @property
    def commands_per_block(self) -> float:
        return sum(self.commands.values()) / self.blocks

    @property
    def blocks(self) -> int:
        return sum(d.blocks for d in self.devices)

    @property
    def bytes(self) -> int:
        return sum(d.image_size for d in self.devices)

    @property
    def span_s(self) -> float:
        return max(d.ended for d in self.devices) - min(d.started for d in self.devices)

    @property
    def aggregate_kib_s(self) -> float:
        return self.bytes / 1024 / self.span_s

    @property
    def cpu_ms_per_block(self) -> float:
        return self.cpu.process * 1000 / self.blocks


def device_result(radio: EmulatedRadio, name: str, image_size: int, since: int) -> DeviceResult:
    """Read the device's event log (on the emulator's loop) for the transfer that began at ``since``."""

    def collect() -> tuple[list[tuple[float, str]], int]:
        events = radio.han.device(name).events
        return [(e.time, e.name) for e in list(events)[since:]], 0

    events, _ = radio.call(collect)
    starts = [t for t, n in events if n in ("block_requested", "page_requested")]
    ends = [t for t, n in events if n == "upgrade_end_sent"]
    received = [t for t, n in events if n == "block_received"]
    if not starts or not ends:
        raise RuntimeError(f"{name}: no complete block phase in the device's event log")
    gaps = [b - a for a, b in itertools.pairwise(received)]
    return DeviceResult(name, image_size, starts[0], ends[-1], gaps, len(received))


def commands_since(radio: EmulatedRadio, mark: int) -> dict[str, int]:
    """EZSP commands the NCP received from the host after frame-log record ``mark`` (no retransmissions)."""
    records = radio.call(lambda: list(radio.frame_log.records)[mark:])
    counts: dict[str, int] = {}
    for r in records:
        if r.direction == HOST_TO_NCP and r.ezsp and not r.re_tx:
            counts[r.ezsp] = counts.get(r.ezsp, 0) + 1
    return counts


def frame_mark(radio: EmulatedRadio) -> int:
    return int(radio.call(lambda: len(radio.frame_log.records)))


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); the p99 of 100 samples is the 99th largest."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


# ------------------------------------------------------------------------------------------------
# The two servers
# ------------------------------------------------------------------------------------------------


class _FirstRequest:
    """CPU snapshot at the first Image Block/Page Request the host receives from any device.

    Its zigpy listeners go once that request is seen (from the next turn of the loop, not from
    inside zigpy's listener loop): a listener left in place would stay on every block's path for
    both servers, and keep the harness's OTA server on zigpy's parser (a request listener it does
    not own makes the hub hand the frame to zigpy).
    """

    def __init__(self, emulator: threading.Thread) -> None:
        self.emulator = emulator
        self.at: CpuSnapshot | None = None
        self._cancels: list[Callable[[], None]] = []

    def __call__(self, hdr: Any, cmd: Any) -> None:
        if self.at is None:
            self.at = CpuSnapshot.take(self.emulator)
            asyncio.get_running_loop().call_soon(self._stop)

    def _stop(self) -> None:
        for cancel in self._cancels:
            cancel()
        self._cancels.clear()

    def listen(self, app: Any, devices: list[zigpy.device.Device]) -> Callable[[], None]:
        self._cancels = [
            app.register_callback_listener(src=device, filters=[schema()], callback=self)
            for device in devices
            for schema in (Ota.ServerCommandDefs.image_block.schema, Ota.ServerCommandDefs.image_page.schema)
        ]
        return self._stop


@contextlib.asynccontextmanager
async def emulated_rig(
    count: int, shape: DeviceShape, *, uart_baud: int = 0, seed: int = 1, air_latency_ms: float = 0.0, cbke: bool = False
) -> AsyncIterator[tuple[Rig, CountingRadio]]:
    rig = bench_rig(count, shape, seed=seed, cbke=cbke)
    with CountingRadio(rig, uart_baud=uart_baud, seed=seed, air_latency_ms=air_latency_ms) as radio:
        yield rig, radio


async def run_harness(
    rig: Rig, radio: CountingRadio, image_path: Path, *, max_block_size: int, started: float
) -> RunResult:
    """The harness's OTA server: CommsHub.upgrade to every device at once."""
    async with await harness.hub.start(rig, port=radio.port, settings=HUB_SETTINGS) as hub:
        for dut in rig.devices:
            await hub.join(dut.name)
        startup_s = time.perf_counter() - started
        image = OfferedImage.from_file("bench", image_path)
        marks = radio.call(lambda: {d.name: len(d.events) for d in radio.han.devices})
        emulator = emulator_thread()
        first = _FirstRequest(emulator)
        stop_listening = first.listen(hub.app, [hub.device(d.name) for d in rig.devices])
        line_before = radio.line.copy()
        frames_before = frame_mark(radio)
        try:
            transfers = [await hub.upgrade(d.name, image, max_block_size=max_block_size) for d in rig.devices]
            outcomes = await asyncio.gather(*(t.wait() for t in transfers))
            done = CpuSnapshot.take(emulator)
        finally:
            stop_listening()
        bad = [(t.device, o.value, t.record().reason) for t, o in zip(transfers, outcomes, strict=True) if o.value != "transferred"]
        if bad:
            raise RuntimeError(f"harness transfers did not complete: {bad}")
        line = radio.line.minus(line_before)
        assert first.at is not None
        results = [device_result(radio, d.name, image.size, marks[d.name]) for d in rig.devices]
        return RunResult("harness", results, done.minus(first.at), line, startup_s,
                         commands=commands_since(radio, frames_before))


class ZigpyApplication(HubApplication):
    """zigpy as it ships, over bellows as it ships: the hub's application (without it zigpy drops
    every Smart Energy frame) but with bellows' own EZSP class, which asks the NCP for the
    extended-timeout flag before every unicast (the harness's ``HubEzsp`` asks once per device)."""

    ezsp_class = bellows.ezsp.EZSP


async def run_zigpy(rig: Rig, radio: CountingRadio, image_data: bytes, *, started: float) -> RunResult:
    """zigpy's own ``update_firmware`` on :class:`ZigpyApplication` (the hub's config, no CommsHub).

    Stopped once every device has sent its Upgrade End: what follows in zigpy (a 10 s sleep,
    attribute read, re-interview) is not part of the block phase and would only slow the run.
    """
    network = NetworkIdentity.for_rig(rig.han)
    config = zigpy_config(
        port=radio.port, baudrate=rig.radio.baudrate, flow_control=rig.radio.flow_control, network=network,
        settings=HUB_SETTINGS, database_path=None, ezsp_config=dict(rig.radio.ezsp_config),
    )
    config["watchdog_enabled"] = False  # as the hub runs it
    app = await ZigpyApplication.new(config, auto_form=True, start_radio=True)
    try:
        devices = []
        for dut in rig.devices:
            devices.append(
                await admit(
                    app, name=dut.name, eui64=dut.eui64, install_code=dut.install_code, permit_s=60,
                    join_timeout_s=HUB_SETTINGS.join_timeout_s, interview_timeout_s=HUB_SETTINGS.interview_timeout_s,
                )
            )
        await app.permit_ncp(0)
        startup_s = time.perf_counter() - started
        marks = radio.call(lambda: {d.name: len(d.events) for d in radio.han.devices})
        emulator = emulator_thread()
        first = _FirstRequest(emulator)
        stop_listening = first.listen(app, devices)
        loop = asyncio.get_running_loop()
        ended: dict[Any, asyncio.Future[int]] = {}

        def end_listener(device: Any) -> Callable[[Any, Any], None]:
            future: asyncio.Future[int] = loop.create_future()
            ended[device] = future

            def on_end(hdr: Any, cmd: Any) -> None:
                if not future.done():
                    future.set_result(int(cmd.status))

            return on_end

        cancels = [
            app.register_callback_listener(src=d, filters=[Ota.ServerCommandDefs.upgrade_end.schema()], callback=end_listener(d))
            for d in devices
        ]
        line_before = radio.line.copy()
        frames_before = frame_mark(radio)
        image = zigpy_image(image_data)
        tasks = [loop.create_task(d.update_firmware(image)) for d in devices]
        try:
            try:
                statuses = await asyncio.wait_for(asyncio.gather(*ended.values()), ZIGPY_TRANSFER_LIMIT_S)
            except TimeoutError:
                late = [d.name for d, f in zip(rig.devices, ended.values(), strict=True) if not f.done()]
                raise RuntimeError(f"zigpy's update_firmware: no Upgrade End from {', '.join(late)} within "
                                   f"{ZIGPY_TRANSFER_LIMIT_S:g} s") from None
            done = CpuSnapshot.take(emulator)
            commands = commands_since(radio, frames_before)
        finally:
            stop_listening()
            for cancel in cancels:
                cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if any(s != foundation.Status.SUCCESS for s in statuses):
            raise RuntimeError(f"zigpy transfers ended with {statuses}")
        line = radio.line.minus(line_before)
        assert first.at is not None
        results = [device_result(radio, d.name, len(image_data), marks[d.name]) for d in rig.devices]
        return RunResult("zigpy", results, done.minus(first.at), line, startup_s, commands=commands)
    finally:
        await app.shutdown()


async def one_run(
    server: str,
    count: int,
    shape: DeviceShape,
    image_path: Path,
    image_data: bytes,
    *,
    max_block_size: int,
    uart_baud: int = 0,
    seed: int = 1,
    keep_frames: bool = False,
    cbke: bool = False,
) -> RunResult:
    """A fresh radio and host, ``count`` devices joined, one transfer to each at once.

    ``keep_frames``: keep the frame log's records of the transfer in ``result.extra["frames"]``.
    """
    started = time.perf_counter()
    async with emulated_rig(count, shape, uart_baud=uart_baud, seed=seed, cbke=cbke) as (rig, radio):
        mark = len(radio.frame_log)
        if server == "harness":
            result = await run_harness(rig, radio, image_path, max_block_size=max_block_size, started=started)
        elif server == "zigpy":
            result = await run_zigpy(rig, radio, image_data, started=started)
        else:
            raise ValueError(f"server must be 'harness' or 'zigpy', got {server!r}")
        if radio.unknown_commands:
            raise RuntimeError(f"the emulated NCP saw unknown commands: {radio.unknown_commands}")
        if keep_frames:
            result.extra["frames"] = radio.frame_log.records[mark:]
        return result


def temp_image(payload_size: int, seed: int) -> tuple[tempfile.TemporaryDirectory[str], Path, bytes]:
    tmp = tempfile.TemporaryDirectory(prefix="harness-bench-")
    path = Path(tmp.name) / "bench.ota"
    data = build_image(path, payload_size, seed=seed)
    return tmp, path, data


def quiet_logs() -> None:
    """Benchmarks print tables, not zigpy's INFO chatter (progress per block)."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    for name in ("zigpy", "bellows", "harness"):
        logging.getLogger(name).setLevel(logging.WARNING)


def ignore_closed_connection_noise(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Loop exception handler: drop bellows' "Connection has been closed" from frames in flight
    when a run shuts its application down (zigpy's update task is cancelled mid-exchange by
    design, see :func:`run_zigpy`); everything else goes to the default handler."""
    exc = context.get("exception")
    if isinstance(exc, RuntimeError) and str(exc) == "Connection has been closed":
        return
    if type(exc).__name__ == "NcpFailure" and "Transport is closed" in str(exc):
        return
    loop.default_exception_handler(context)


def machine_line() -> str:
    """CPU count and load: the figures only compare within one run on one machine."""
    import os
    import platform

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"machine: {os.cpu_count()} CPUs, load average {load}; Python {platform.python_version()}"
