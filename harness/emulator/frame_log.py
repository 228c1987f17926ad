"""A log of every ASH frame on the emulated line, for tests and reports.

Each record says when, which way, what ASH frame it was, and for DATA frames which EZSP command
or callback it carried. Frame *contents* are not recorded: EZSP frames carry the network key
(``exportKey``) and link keys (``importTransientKey``), and the log ends up in reports.

Thread-safe: the emulator's thread appends, a test thread reads. Optionally also written to a
JSON Lines file as it grows.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from .ash import AshFrame, AshParseError, DataFrame, frame_type_name

#: Directions as recorded.
HOST_TO_NCP = "host->ncp"
NCP_TO_HOST = "ncp->host"

_DIRECTIONS = {"rx": HOST_TO_NCP, "tx": NCP_TO_HOST, "to-ncp": HOST_TO_NCP, "to-host": NCP_TO_HOST}


@dataclass(frozen=True, slots=True)
class FrameRecord:
    time: float  # seconds since the log started (monotonic)
    wall_time: float  # UNIX time
    direction: str  # HOST_TO_NCP or NCP_TO_HOST
    frame_type: str  # DATA, ACK, NAK, RST, RSTACK, ERROR, INVALID, or a fault: LOST, CORRUPTED
    frm_num: int | None = None
    ack_num: int | None = None
    re_tx: bool | None = None
    ezsp: str | None = None  # EZSP command/callback name of a DATA frame
    detail: str | None = None  # parse error or fault description

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None})


class FrameLog:
    def __init__(self, jsonl_path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._appended = threading.Condition(self._lock)
        self._records: list[FrameRecord] = []
        self._start = time.monotonic()
        self._file: IO[str] | None = jsonl_path.open("a", encoding="utf-8") if jsonl_path else None
        #: Names the EZSP frame inside a DATA frame; set by the radio once the NCP exists.
        self.ezsp_namer: Callable[[bytes], str | None] = lambda payload: None

    # -- writers (emulator thread) --------------------------------------------------------------

    def observe(self, direction: str, item: AshFrame | AshParseError) -> None:
        """ASH engine observer: ``direction`` is "rx" (from host) or "tx" (to host)."""
        if isinstance(item, AshParseError):
            self._append(_DIRECTIONS[direction], "INVALID", detail=str(item))
            return
        fields: dict = {}
        if isinstance(item, DataFrame):
            fields = dict(
                frm_num=item.frm_num,
                ack_num=item.ack_num,
                re_tx=item.re_tx,
                ezsp=self.ezsp_namer(item.payload),
            )
        elif hasattr(item, "ack_num"):
            fields = dict(ack_num=item.ack_num)
        elif hasattr(item, "code"):
            fields = dict(detail=f"code 0x{item.code:02X}")
        self._append(_DIRECTIONS[direction], frame_type_name(item), **fields)

    def fault(self, direction: str, what: str) -> None:
        """A fault stage's report: ``direction`` is "to-ncp" or "to-host"."""
        self._append(_DIRECTIONS[direction], what.upper())

    def note(self, direction: str, frame_type: str, detail: str) -> None:
        self._append(_DIRECTIONS[direction], frame_type, detail=detail)

    def _append(self, direction: str, frame_type: str, **fields) -> None:
        record = FrameRecord(
            time=round(time.monotonic() - self._start, 6),
            wall_time=time.time(),
            direction=direction,
            frame_type=frame_type,
            **fields,
        )
        with self._lock:
            self._records.append(record)
            if self._file is not None:
                self._file.write(record.to_json() + "\n")
                self._file.flush()
            self._appended.notify_all()

    # -- readers (any thread) --------------------------------------------------------------------

    @property
    def records(self) -> list[FrameRecord]:
        with self._lock:
            return list(self._records)

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def ezsp_names(self, direction: str = HOST_TO_NCP) -> list[str]:
        """EZSP names of the DATA frames in one direction, retransmissions excluded."""
        return [
            r.ezsp
            for r in self.records
            if r.direction == direction and r.frame_type == "DATA" and not r.re_tx and r.ezsp
        ]

    def count(self, frame_type: str, direction: str | None = None) -> int:
        return sum(
            1
            for r in self.records
            if r.frame_type == frame_type and (direction is None or r.direction == direction)
        )

    def wait_for(
        self, predicate: Callable[[FrameRecord], bool], *, timeout: float, start: int = 0
    ) -> FrameRecord:
        """Block until a record from index ``start`` on matches; TimeoutError names what was awaited.

        From async code: ``await asyncio.to_thread(log.wait_for, predicate, timeout=5)``.
        """
        deadline = time.monotonic() + timeout
        with self._appended:
            while True:
                for record in self._records[start:]:
                    if predicate(record):
                        return record
                start = len(self._records)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no frame matching {getattr(predicate, '__name__', predicate)} within {timeout} s")
                self._appended.wait(remaining)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
