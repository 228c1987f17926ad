"""The host-side EZSP frame log: what a bench without a sniffer writes per test instead of the air.

bellows logs every EZSP frame it sends and every frame it receives, decoded, on its
``bellows.ezsp.protocol`` logger at DEBUG (``Sending command  <name>: <args>``, ``Received command
<name>: <result>``). :class:`EzspFrameLog` listens there through a logger filter and writes one
line per frame to the current test's ``<test id>.ezsp.log``::

    1764782400.123456 > sendUnicast: [<EmberOutgoingMessageType...>, 0x1234, ...]
    1764782400.131002 < messageSentHandler: [...]

The filter lowers the logger to DEBUG only so the frames reach it; it passes on a record only if
the logger would have let it through before, so pytest's own log output is unchanged. Every line
goes through the run's redactor (the network key, install codes, the link keys the hub derived),
and any other 16-byte value bellows prints as a key (the trust centre's own link key, keys the
radio exports) is redacted too: the log never carries a key in clear.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from harness.secret import REDACTED

from .pcapng import capture_file_stem

#: bellows' logger for the EZSP frames it sends and receives.
EZSP_LOGGER = "bellows.ezsp.protocol"
EZSP_LOG_SUFFIX = ".ezsp.log"
_DIRECTIONS = (("Sending command", ">"), ("Received command", "<"))
#: A 16-byte value as bellows prints keys (``KeyData``): 16 colon-separated hex pairs.
_KEY_SHAPED = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{2}:){15}[0-9A-Fa-f]{2}(?![0-9A-Fa-f:])")


class EzspFrameLog:
    """Per-test text files of the EZSP frames bellows exchanges with the radio (see the module doc)."""

    format = "EZSP frame log"
    source = "host EZSP frames (bellows)"

    def __init__(self, redact: Callable[[str], str]) -> None:
        self._redact = redact
        self._logger = logging.getLogger(EZSP_LOGGER)
        self._own_level: int | None = None
        self._file: TextIO | None = None
        #: bellows logs from the thread of whichever loop sent or received the frame: one line at a time.
        self._lock = threading.Lock()
        self.path: Path | None = None
        self.frames = 0

    def install(self) -> None:
        """Start listening to bellows (idempotent); frames reach a file once :meth:`start_capture` names one."""
        if self._own_level is None:
            self._own_level = self._logger.level
            self._logger.setLevel(logging.DEBUG)
            self._logger.addFilter(self._frame)

    def uninstall(self) -> None:
        """Stop listening and give the logger back its level."""
        self.stop_capture()
        if self._own_level is not None:
            self._logger.removeFilter(self._frame)
            self._logger.setLevel(self._own_level)
            self._own_level = None

    def _threshold(self) -> int:
        """The level the logger had before we lowered it (its own, else its parents')."""
        if self._own_level:
            return self._own_level
        parent = self._logger.parent
        return parent.getEffectiveLevel() if parent is not None else logging.WARNING

    def _frame(self, record: logging.LogRecord) -> bool:
        if self._file is not None and record.levelno == logging.DEBUG:
            message = record.getMessage()
            for prefix, arrow in _DIRECTIONS:
                if message.startswith(prefix):
                    frame = _KEY_SHAPED.sub(REDACTED, self._redact(message[len(prefix):].strip()))
                    self._write(f"{record.created:.6f} {arrow} {' '.join(frame.splitlines())}\n")
                    break
        return record.levelno >= self._threshold()

    def _write(self, line: str) -> None:
        with self._lock:
            if self._file is not None:
                self._file.write(line)
                self._file.flush()
                self.frames += 1

    def start_capture(self, directory: Path, test_id: str, *, keys: bool = False) -> Path:
        """Log into ``directory/<test id>.ezsp.log`` from now on (the previous file is closed)."""
        if keys:
            raise ValueError("the EZSP frame log holds no keys file: its keys are redacted")
        self.stop_capture()
        self.install()
        self.path = Path(directory) / f"{capture_file_stem(test_id)}{EZSP_LOG_SUFFIX}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = self.path.open("w", encoding="utf-8")
        file.write(f"# EZSP frames between the host and the radio during {self._redact(test_id)}\n"
                   "# <time, s since the epoch> <'>' host to radio | '<' radio to host> <frame>\n")
        file.flush()
        with self._lock:
            self._file = file
        return self.path

    def stop_capture(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_frame_times(path: Path) -> list[float]:
    """The time of every frame line in an EZSP frame log, in order."""
    times = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            times.append(float(line.split(" ", 1)[0]))
    return times
