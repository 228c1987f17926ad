"""Per-test captures next to the evidence: what the pytest plugin starts and ends around each test.

A run's :class:`RunCaptures` knows the directory (``captures/`` beside the evidence file), the
test being run, and the sources that capture: the emulated radio of an emulated rig, a bench's
sniffer stick, or -- on a bench without a sniffer -- the host-side EZSP frame log
(:mod:`.ezsp_log`). A source may appear after its test began (the emulator starts, and the
hub joins the devices, during the first test's setup): it then captures into that test's file
at once, so the first test's joins are in the first test's capture.

Each test's frames go to ``<evidence dir>/captures/<test id>.pcapng`` (``.ezsp.log`` for the
frame log). The keys file ``zigbee-keys.txt`` beside them is written only when ``keys`` is true:
always on the emulated rig (its keys are test keys), on a real bench only if its rig opts in.

When the test ends, :meth:`RunCaptures.end_test` closes its files and says, for each, which frame
was the last one written at each of the test's timeline moments (:func:`frame_marks`), so the
report can print frame numbers beside its events without reading the capture again.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from . import ezsp_log, pcapng
from .keys_file import KEYS_FILE_NAME

CAPTURES_DIRECTORY = "captures"


class CaptureSource(Protocol):
    """Anything that captures into per-test files (``EmulatedRadio``, ``Sniffer``, ``EzspFrameLog``)."""

    def start_capture(self, directory: Path, test_id: str, *, keys: bool = True) -> Path: ...

    def stop_capture(self) -> None: ...


def captures_directory(evidence_path: Path) -> Path:
    """Where a run's captures go: ``captures/<evidence file's stem>/`` beside its evidence file.

    One folder per evidence file, because runs that share a reports folder -- pytest-xdist's
    workers (``evidence-gw0.json``, ``evidence-gw1.json``), the benches of ``harness signoff`` --
    run the same tests on different radios with different keys: each needs its own files and its
    own keys file.
    """
    return evidence_path.parent / CAPTURES_DIRECTORY / evidence_path.stem


def begin_test_capture(source: CaptureSource | None, evidence_path: Path, nodeid: str, *, keys: bool) -> Path | None:
    """Start the capture file of test ``nodeid``; its path, or None when nothing can capture the air."""
    if source is None:
        return None
    return source.start_capture(captures_directory(evidence_path), nodeid, keys=keys)


def frame_times(path: Path) -> list[float]:
    """The time of each frame of a capture file (pcapng or EZSP frame log), in file order."""
    if path.name.endswith(ezsp_log.EZSP_LOG_SUFFIX):
        return ezsp_log.read_frame_times(path)
    return pcapng.read_frame_times(path)


def frame_marks(times: list[float], moments: Iterable[float]) -> dict[float, int]:
    """For each moment, the number of the last frame written by then (0: none yet).

    Frame numbers count from 1 as Wireshark shows them. The capture's clock and the hub's are
    the same wall clock (the emulator anchors its loop time to it; a sniffer stamps with it).
    """
    ordered = sorted(times)
    return {moment: bisect.bisect_right(ordered, moment) for moment in moments}


@dataclass(frozen=True, slots=True)
class CaptureFile:
    """One file a test's traffic went to, as :meth:`RunCaptures.end_test` reports it."""

    path: Path
    format: str
    source: str
    keys_file: Path | None
    times: tuple[float, ...]

    def marks(self, moments: Iterable[float]) -> dict[float, int]:
        return frame_marks(list(self.times), moments)


@dataclass(slots=True)
class _Attached:
    source: CaptureSource
    format: str
    name: str
    keys: bool


class RunCaptures:
    """The captures of one run: where they go, the current test, and the sources that write them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.test_id: str | None = None
        self._sources: list[_Attached] = []
        self._files: list[tuple[_Attached, Path]] = []

    @property
    def keys_file(self) -> Path:
        return self.directory / KEYS_FILE_NAME

    def attach(self, source: CaptureSource, *, format: str, name: str, keys: bool) -> None:
        """Capture with ``source`` from now on (into the current test's file at once, if a test runs).

        ``keys``: the source writes the keys file beside its captures (the emulated air only; a
        bench's is written from its rig). Every pcapng of the directory is read with that one file.
        """
        attached = _Attached(source, format, name, keys)
        self._sources.append(attached)
        if self.test_id is not None:
            self._start(attached, self.test_id)

    def detach(self, source: CaptureSource) -> None:
        """Stop capturing with ``source`` (its current file is closed and still reported for the test)."""
        for attached in [a for a in self._sources if a.source is source]:
            source.stop_capture()
            self._sources.remove(attached)

    def begin_test(self, test_id: str) -> list[Path]:
        """Start test ``test_id``'s file on every source; the paths (none when nothing captures)."""
        self.end_test()
        self.test_id = test_id
        return [self._start(attached, test_id) for attached in self._sources]

    def _start(self, attached: _Attached, test_id: str) -> Path:
        path = attached.source.start_capture(self.directory, test_id, keys=attached.keys)
        self._files.append((attached, path))
        return path

    def end_test(self) -> list[CaptureFile]:
        """Close the current test's files; each with its frame times (empty when no test ran)."""
        for attached in self._sources:
            attached.source.stop_capture()
        files = [
            CaptureFile(path, attached.format, attached.name,
                        self.keys_file if path.suffix == ".pcapng" and self.keys_file.exists() else None,
                        tuple(frame_times(path)))
            for attached, path in self._files if path.exists()
        ]
        self._files = []
        self.test_id = None
        return files

    def close(self) -> None:
        """Close every file and let every source go."""
        self.end_test()
        for attached in list(self._sources):
            self.detach(attached.source)
