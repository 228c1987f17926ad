"""Sign-off verdicts per device and per image, derived from the evidence of every test.

A reviewer signs off devices and images, not pytest node ids, so the top of the report is a
matrix: one row per device, one column per firmware image, each cell the verdict of every test
that transferred that image to that device (tests that involved the device without an image,
such as attribute or tenancy tests, go in a column of their own).

How one test's verdict for one device is decided, and why:

* The pytest outcome decides. The test is where the expectation lives (a test may *expect* a
  refusal or a failing device), so a passed test is a PASS and a failed or errored one is a FAIL
  for every device it involved -- conservative, because a failure cannot always be pinned on one
  device.
* A failed test whose only complaint about this device is NOT_OBSERVED checks (nothing arrived in
  time) and no FAIL check is reported as NOT_OBSERVED: "the device said nothing" and "the device
  said the wrong thing" need different follow-ups on a bench.
* A test with no outcome yet (the run stopped mid-test) is INCOMPLETE, never PASS.

Cells combine their tests worst-first: FAIL, NOT_OBSERVED, INCOMPLETE, PASS, SKIPPED. A skipped
test does not dilute a pass elsewhere; a cell with only skipped tests says SKIPPED, and a cell with
no test at all says NOT_TESTED, so nothing untested can look signed off.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.evidence import (
    AlertRecord,
    AttributeRead,
    CheckRecord,
    ImageRecord,
    Outcome,
    StageRecord,
    TenancyRead,
    TestEvidence,
    TransferRecord,
)

#: Column for tests that involved a device but transferred no image to it.
NO_IMAGE = ""


class Verdict(enum.StrEnum):
    """A sign-off verdict; the order of :data:`SEVERITY` is the order in which they win."""

    PASS = "PASS"
    FAIL = "FAIL"
    NOT_OBSERVED = "NOT_OBSERVED"
    INCOMPLETE = "INCOMPLETE"
    SKIPPED = "SKIPPED"
    NOT_TESTED = "NOT_TESTED"


#: Worst first: the first of these present among a cell's tests is the cell's verdict.
SEVERITY = (Verdict.FAIL, Verdict.NOT_OBSERVED, Verdict.INCOMPLETE, Verdict.PASS, Verdict.SKIPPED)

#: pytest outcome (as the evidence log stores it) -> verdict. xfail is a known failure of the
#: device, so it is a FAIL for sign-off; an xpass did meet the expectation.
_PYTEST_OUTCOME = {
    "passed": Verdict.PASS,
    "xpassed": Verdict.PASS,
    "failed": Verdict.FAIL,
    "error": Verdict.FAIL,
    "xfailed": Verdict.FAIL,
    "skipped": Verdict.SKIPPED,
}


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """The worst of ``verdicts`` by :data:`SEVERITY`; NOT_TESTED when there are none."""
    present = set(verdicts)
    for candidate in SEVERITY:
        if candidate in present:
            return candidate
    return Verdict.NOT_TESTED


def pytest_verdict(outcome: str | None) -> Verdict:
    """The verdict a pytest outcome string stands for; None (test never finished) is INCOMPLETE."""
    if outcome is None:
        return Verdict.INCOMPLETE
    try:
        return _PYTEST_OUTCOME[outcome.lower()]
    except KeyError:
        raise ValueError(f"test outcome: unknown pytest outcome {outcome!r}") from None


def devices_in(ev: TestEvidence) -> list[str]:
    """Every device a test's records name, in order of first mention."""
    names: list[str] = []
    for record in (*ev.of(TransferRecord), *ev.of(AttributeRead), *ev.of(StageRecord), *ev.of(TenancyRead)):
        names.append(record.device)
    names.extend(c.device for c in ev.of(CheckRecord) if c.device)
    names.extend(a.raised_by for a in ev.of(AlertRecord) if a.raised_by != "CH")
    return list(dict.fromkeys(n for n in names if n))


def verdict_of_test(ev: TestEvidence, device: str) -> Verdict:
    """One test's verdict for one device (rules in the module docstring)."""
    verdict = pytest_verdict(ev.outcome)
    if verdict is not Verdict.FAIL:
        return verdict
    mine = [c.outcome for c in ev.of(CheckRecord) if c.device == device]
    if Outcome.NOT_OBSERVED in mine and Outcome.FAIL not in mine:
        return Verdict.NOT_OBSERVED
    return Verdict.FAIL


@dataclass(frozen=True, slots=True)
class CellVerdict:
    """A combined verdict and the tests behind it, so every cell can say where it came from."""

    verdict: Verdict
    tests: tuple[tuple[str, Verdict], ...] = ()

    def counts(self) -> dict[Verdict, int]:
        """How many tests gave each verdict (for "3 passed, 1 skipped" under a badge)."""
        out: dict[Verdict, int] = {}
        for _, v in self.tests:
            out[v] = out.get(v, 0) + 1
        return out


def _cell(tests: Sequence[tuple[str, Verdict]]) -> CellVerdict:
    return CellVerdict(combine(v for _, v in tests), tuple(tests))


@dataclass(frozen=True, slots=True)
class VerdictMatrix:
    """Devices x images, with per-row, per-column and overall verdicts."""

    devices: tuple[str, ...]
    images: tuple[str, ...]  # NO_IMAGE, if present, is last
    cells: Mapping[tuple[str, str], tuple[tuple[str, Verdict], ...]]

    def cell(self, device: str, image: str) -> CellVerdict:
        return _cell(self.cells.get((device, image), ()))

    def device_verdict(self, device: str) -> CellVerdict:
        return _cell([t for image in self.images for t in self.cells.get((device, image), ())])

    def image_verdict(self, image: str) -> CellVerdict:
        return _cell([t for device in self.devices for t in self.cells.get((device, image), ())])

    def overall(self) -> CellVerdict:
        return _cell([t for tests in self.cells.values() for t in tests])


def verdict_matrix(tests: Iterable[TestEvidence], devices: Sequence[str] = ()) -> VerdictMatrix:
    """Build the matrix from every test's evidence.

    ``devices`` (the rig's devices, in rig order) come first so a device no test touched still
    gets a row saying NOT_TESTED; devices only the evidence names follow in order of appearance.
    Images are columns in order of first appearance (transfers, then image records), so an image
    that was inspected but never offered to a device still shows, untested.
    """
    device_order: list[str] = list(devices)
    image_order: list[str] = []
    cells: dict[tuple[str, str], list[tuple[str, Verdict]]] = {}
    for ev in tests:
        involved = devices_in(ev)
        transfers = ev.of(TransferRecord)
        image_order.extend(t.image_name for t in transfers if t.image_name)
        image_order.extend(i.name for i in ev.of(ImageRecord))
        for device in involved:
            device_order.append(device)
            verdict = verdict_of_test(ev, device)
            images = list(dict.fromkeys(t.image_name for t in transfers if t.device == device and t.image_name))
            for image in images or [NO_IMAGE]:
                cells.setdefault((device, image), []).append((ev.nodeid, verdict))
    images = list(dict.fromkeys(image_order))
    if any(image == NO_IMAGE for _, image in cells):
        images.append(NO_IMAGE)
    return VerdictMatrix(
        devices=tuple(dict.fromkeys(device_order)),
        images=tuple(images),
        cells={key: tuple(value) for key, value in cells.items()},
    )
