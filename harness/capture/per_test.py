"""Per-test air captures next to the evidence: the hook the pytest plugin calls for each test.

The plugin calls :func:`begin_test_capture` as each test starts (after its fixtures are set up,
so the radio exists), with the run's capture source -- the emulated radio of an emulated rig, or
None on a bench without a sniffer. Each test's frames then go to
``<evidence dir>/captures/<test id>.pcapng``; the keys file ``zigbee-keys.txt`` beside them is
written only when ``keys`` is true: always on the emulated rig (its keys are test keys), on a
real bench only if its rig opts in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

CAPTURES_DIRECTORY = "captures"


class CaptureSource(Protocol):
    """Anything that captures the air into per-test files (``harness.emulator.server.EmulatedRadio``)."""

    def start_capture(self, directory: Path, test_id: str, *, keys: bool = True) -> Path: ...


def captures_directory(evidence_path: Path) -> Path:
    """Where a run's captures go: ``captures/`` beside its evidence file."""
    return evidence_path.parent / CAPTURES_DIRECTORY


def begin_test_capture(source: CaptureSource | None, evidence_path: Path, nodeid: str, *, keys: bool) -> Path | None:
    """Start the capture file of test ``nodeid``; its path, or None when nothing can capture the air."""
    if source is None:
        return None
    return source.start_capture(captures_directory(evidence_path), nodeid, keys=keys)
