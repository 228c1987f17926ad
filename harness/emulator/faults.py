"""Line conditions and faults, as stages between the serial line and the NCP's ASH engine.

Each stage is a wrapper with two directions: ``from_host`` (bytes the host wrote, travelling
towards the NCP) and ``from_ncp`` (the NCP's frames, travelling towards the host). Stages are
chained by :func:`chain`, host side first. Every random decision comes from a
``random.Random`` the caller seeds, so a run with the same seed drops the same frames.

Frame-level faults (loss, corruption) work on whole ASH frames (bytes up to and including a
FLAG). They spare the reset handshake (RST, RSTACK, ERROR): losing those exercises bellows'
2.5 s reset timeout, not the link's recovery, and a separate fault (``reset_ncp``) covers resets.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence

from .ash import Reserved

FLAG = bytes((Reserved.FLAG,))
_RESET_CONTROLS = frozenset({0xC0, 0xC1, 0xC2})
#: UART framing: start bit + 8 data bits + stop bit.
BITS_PER_BYTE = 10
#: How late, on average, an asyncio timer fires on Linux: epoll_wait() takes whole milliseconds
#: and asyncio rounds the wait up, so a timer runs 0-1 ms after its time. Scheduled deliveries
#: aim this much early so that they arrive on time on average instead of ~0.5 ms late each --
#: which, on a stop-and-wait link such as bellows' ASH, added up to several ms per OTA block
#: (bench/README.md, "UART limit").
EPOLL_LATENESS_S = 0.0005

#: Reports a fault: direction ("to-ncp"/"to-host") and what happened ("lost", "corrupted").
FaultReporter = Callable[[str, str], None]


class LinkStage:
    """A pass-through stage; subclasses change one direction or both."""

    def __init__(self) -> None:
        self.to_host: Callable[[bytes], None] = _unwired
        self.to_ncp: Callable[[bytes], None] = _unwired

    def from_host(self, data: bytes) -> None:
        self.to_ncp(data)

    def from_ncp(self, data: bytes) -> None:
        self.to_host(data)


def _unwired(data: bytes) -> None:
    raise RuntimeError("link stage used before chain() wired it")


def chain(
    stages: Sequence[LinkStage],
    *,
    host_write: Callable[[bytes], None],
    ncp_receive: Callable[[bytes], None],
) -> tuple[Callable[[bytes], None], Callable[[bytes], None]]:
    """Wire ``stages`` (host side first). Returns (NCP's write, transport's on_data)."""
    if not stages:
        return host_write, ncp_receive
    for index, stage in enumerate(stages):
        stage.to_host = stages[index - 1].from_ncp if index > 0 else host_write
        stage.to_ncp = stages[index + 1].from_host if index + 1 < len(stages) else ncp_receive
    return stages[-1].from_ncp, stages[0].from_host


class _FrameStage(LinkStage):
    """Cuts both directions into whole frames (through FLAG) before deciding their fate."""

    def __init__(self) -> None:
        super().__init__()
        self._partial = {"to-ncp": bytearray(), "to-host": bytearray()}

    def from_host(self, data: bytes) -> None:
        for frame in self._frames("to-ncp", data):
            self.to_ncp(self.treat("to-ncp", frame))

    def from_ncp(self, data: bytes) -> None:
        for frame in self._frames("to-host", data):
            self.to_host(self.treat("to-host", frame))

    def _frames(self, direction: str, data: bytes) -> list[bytes]:
        buffer = self._partial[direction]
        buffer += data
        frames = []
        while (end := buffer.find(FLAG)) >= 0:
            frames.append(bytes(buffer[: end + 1]))
            del buffer[: end + 1]
        return frames

    def treat(self, direction: str, frame: bytes) -> bytes:
        return frame

    @staticmethod
    def is_reset_handshake(frame: bytes) -> bool:
        body = frame.lstrip(bytes((Reserved.CANCEL,)))
        return bool(body) and body[0] in _RESET_CONTROLS


class FrameLoss(_FrameStage):
    """Drops whole frames with probability ``rate`` in both directions."""

    def __init__(self, rate: float, rng: random.Random, report: FaultReporter | None = None) -> None:
        super().__init__()
        _check_rate("frame_loss", rate)
        self.rate = rate
        self.rng = rng
        self.report = report
        self.lost = 0

    def treat(self, direction: str, frame: bytes) -> bytes:
        if self.is_reset_handshake(frame) or self.rng.random() >= self.rate:
            return frame
        self.lost += 1
        if self.report:
            self.report(direction, "lost")
        return b""


class FrameCorruption(_FrameStage):
    """Flips one bit of a frame with probability ``rate`` (never the closing FLAG)."""

    def __init__(self, rate: float, rng: random.Random, report: FaultReporter | None = None) -> None:
        super().__init__()
        _check_rate("frame_corruption", rate)
        self.rate = rate
        self.rng = rng
        self.report = report
        self.corrupted = 0

    def treat(self, direction: str, frame: bytes) -> bytes:
        if len(frame) < 2 or self.is_reset_handshake(frame) or self.rng.random() >= self.rate:
            return frame
        damaged = bytearray(frame)
        index = self.rng.randrange(len(frame) - 1)
        damaged[index] ^= 1 << self.rng.randrange(8)
        self.corrupted += 1
        if self.report:
            self.report(direction, "corrupted")
        return bytes(damaged)


class _Scheduled(LinkStage):
    """Delivers each chunk at a computed time, in order, per direction."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = loop
        self._free_at = {"to-ncp": 0.0, "to-host": 0.0}

    def delay_for(self, data: bytes) -> tuple[float, float]:
        """(time the line is busy with ``data``, extra delay after it)."""
        raise NotImplementedError

    def _schedule(self, direction: str, data: bytes, deliver: Callable[[bytes], None]) -> None:
        if not data:
            return
        busy, extra = self.delay_for(data)
        now = self._loop.time()
        start = max(now, self._free_at[direction])
        self._free_at[direction] = start + busy
        due = start + busy + extra
        if due - EPOLL_LATENESS_S <= now:
            deliver(data)
        else:
            self._loop.call_at(due - EPOLL_LATENESS_S, deliver, data)

    def from_host(self, data: bytes) -> None:
        self._schedule("to-ncp", data, lambda d: self.to_ncp(d))

    def from_ncp(self, data: bytes) -> None:
        self._schedule("to-host", data, lambda d: self.to_host(d))


class UartThrottle(_Scheduled):
    """A UART at ``baud`` (10 bits a byte): a frame arrives when its last byte would have."""

    def __init__(self, loop: asyncio.AbstractEventLoop, baud: int) -> None:
        super().__init__(loop)
        if baud <= 0:
            raise ValueError(f"uart_baud must be positive, got {baud}")
        self.seconds_per_byte = BITS_PER_BYTE / baud

    def delay_for(self, data: bytes) -> tuple[float, float]:
        return len(data) * self.seconds_per_byte, 0.0


class Latency(_Scheduled):
    """A fixed delay per chunk (the NCP's processing time plus the host's USB latency)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        super().__init__(loop)
        if seconds < 0:
            raise ValueError(f"latency must not be negative, got {seconds}")
        self.seconds = seconds

    def delay_for(self, data: bytes) -> tuple[float, float]:
        return 0.0, self.seconds


class ChunkSplitter(LinkStage):
    """Cuts writes in one direction into random-size pieces, as a USB-serial bridge delivers them.

    Exercises the receiver's reassembly of a frame across reads; changes no byte. Place it next
    to the receiving end (first in the chain for "to-host", last for "to-ncp") so that no
    frame-level stage puts the pieces back together.
    """

    def __init__(self, rng: random.Random, max_chunk: int = 4, *, direction: str = "to-host") -> None:
        super().__init__()
        if max_chunk < 1:
            raise ValueError(f"max_chunk must be at least 1, got {max_chunk}")
        if direction not in ("to-host", "to-ncp"):
            raise ValueError(f"direction must be 'to-host' or 'to-ncp', got {direction!r}")
        self.rng = rng
        self.max_chunk = max_chunk
        self.direction = direction

    def _pieces(self, data: bytes) -> list[bytes]:
        pieces, start = [], 0
        while start < len(data):
            end = start + self.rng.randint(1, self.max_chunk)
            pieces.append(data[start:end])
            start = end
        return pieces

    def from_host(self, data: bytes) -> None:
        for piece in self._pieces(data) if self.direction == "to-ncp" else (data,):
            self.to_ncp(piece)

    def from_ncp(self, data: bytes) -> None:
        for piece in self._pieces(data) if self.direction == "to-host" else (data,):
            self.to_host(piece)


class DropCallbacks:
    """An EZSP-level fault: the NCP "forgets" some callbacks (e.g. ``messageSentHandler``).

    Installed as the dispatcher's ``callback_filter``; returns False for a callback to drop.
    """

    def __init__(
        self, names: frozenset[str], rate: float, rng: random.Random, report: Callable[[str], None] | None = None
    ) -> None:
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"drop_callback_rate must be in (0, 1], got {rate}")
        self.names = names
        self.rate = rate
        self.rng = rng
        self.report = report
        self.dropped: list[str] = []

    def __call__(self, name: str) -> bool:
        if name not in self.names or self.rng.random() >= self.rate:
            return True
        self.dropped.append(name)
        if self.report:
            self.report(name)
        return False


def garbage_bytes(rng: random.Random, count: int) -> bytes:
    """Line noise for injection: random bytes, without XON/XOFF.

    XON/XOFF are left out because with software flow control the pty's line discipline (like
    a USB-serial driver) acts on them itself and would pause the host's output.
    """
    excluded = {Reserved.XON, Reserved.XOFF}
    out = bytearray()
    while len(out) < count:
        byte = rng.randrange(256)
        if byte not in excluded:
            out.append(byte)
    return bytes(out)


def _check_rate(name: str, rate: float) -> None:
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {rate}")
