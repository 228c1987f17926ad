"""Firmware distribution tracking, per device: where each device is, and how fast it is going.

Stages follow the life of one image on one device -- notified, transferring, transferred,
activating, activated, or failed (with the reason) -- and each stage change becomes a
:class:`~harness.evidence.StageRecord` for the report. During a transfer the tracker also keeps
percent done and the rate (blocks and bytes per second over a sliding window), and hands a
one-line status to a display callback at most every ``display_interval_s`` so a long transfer
shows live on the terminal without flooding it.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.evidence import StageRecord


class Stage(enum.StrEnum):
    NOTIFIED = "notified"
    TRANSFERRING = "transferring"
    TRANSFERRED = "transferred"
    ACTIVATING = "activating"
    ACTIVATED = "activated"
    FAILED = "failed"


#: Seconds of history the rate is computed over (long enough to smooth WAIT_FOR_DATA pauses).
RATE_WINDOW_S = 10.0


@dataclass(slots=True)
class DeviceProgress:
    """What the tracker knows about one device's current distribution."""

    device: str
    image: str = ""
    stage: Stage | None = None
    size: int = 0
    offset: int = 0
    blocks: int = 0
    reason: str = ""
    started: float = 0.0
    _samples: deque[tuple[float, int, int]] = field(default_factory=deque)  # (t, offset, blocks)

    @property
    def percent(self) -> float:
        return 100.0 * self.offset / self.size if self.size else 0.0

    def rates(self) -> tuple[float, float]:
        """(blocks per second, bytes per second) over the recent window."""
        if len(self._samples) < 2:
            return 0.0, 0.0
        t0, off0, blk0 = self._samples[0]
        t1, off1, blk1 = self._samples[-1]
        span = t1 - t0
        if span <= 0:
            return 0.0, 0.0
        return (blk1 - blk0) / span, (off1 - off0) / span

    def line(self) -> str:
        """A one-line status: ``ppmid1 ppmid-next transferring  42.0% 812 B/s 20.3 blocks/s``."""
        stage = self.stage.value if self.stage else "idle"
        text = f"{self.device} {self.image} {stage}"
        if self.stage is Stage.TRANSFERRING:
            blocks_s, bytes_s = self.rates()
            text += f" {self.percent:5.1f}% {bytes_s:.0f} B/s {blocks_s:.1f} blocks/s"
        if self.reason:
            text += f" ({self.reason})"
        return text


class DistributionTracker:
    """Stages and progress for every device the hub serves."""

    def __init__(
        self,
        *,
        sink: Callable[[StageRecord], None],
        clock: Callable[[], float] = time.time,
        display: Callable[[str], None] | None = None,
        display_interval_s: float = 1.0,
    ) -> None:
        self._sink = sink
        self._clock = clock
        self._display = display
        self._display_interval_s = display_interval_s
        self._last_display = float("-inf")
        self.devices: dict[str, DeviceProgress] = {}
        self.history: list[StageRecord] = []

    def progress(self, device: str) -> DeviceProgress:
        return self.devices.setdefault(device, DeviceProgress(device))

    def stage(self, device: str, stage: Stage, detail: str = "", *, image: str | None = None, size: int | None = None) -> StageRecord:
        """Enter ``stage``; records it (always, even when repeated: the report shows every entry)."""
        p = self.progress(device)
        now = self._clock()
        if image is not None:
            p.image = image
        if size is not None:
            p.size = size
        if stage is Stage.NOTIFIED:
            p.offset, p.blocks, p.reason, p.started = 0, 0, "", now
            p._samples.clear()
        p.stage = stage
        p.reason = detail if stage is Stage.FAILED else ""
        if stage is Stage.TRANSFERRING and detail == "":
            detail = f"{p.percent:.1f}% of {p.size} bytes"
        record = StageRecord(device=device, stage=stage.value, t=now, detail=detail)
        self.history.append(record)
        self._sink(record)
        self._show(p, force=True)
        return record

    def advanced(self, device: str, offset: int, blocks: int) -> None:
        """A block went out: ``offset`` is the device's high-water mark, ``blocks`` the count so far."""
        p = self.progress(device)
        now = self._clock()
        p.offset = max(p.offset, offset)
        p.blocks = blocks
        p._samples.append((now, p.offset, blocks))
        while p._samples and now - p._samples[0][0] > RATE_WINDOW_S:
            p._samples.popleft()
        self._show(p)

    def _show(self, p: DeviceProgress, *, force: bool = False) -> None:
        if self._display is None:
            return
        now = self._clock()
        if force or now - self._last_display >= self._display_interval_s:
            self._last_display = now
            self._display(p.line())

    def stages_of(self, device: str) -> list[str]:
        return [r.stage for r in self.history if r.device == device]
