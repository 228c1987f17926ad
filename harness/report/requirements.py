"""The requirement matrix: one row per spec item, one column per device, for sign-off per requirement.

A UIT reviewer signs off requirements, not tests. Every conformance test names the spec items it
evidences (``@pytest.mark.spec``); the evidence records them per test, and the run records every
item the collected tests name. Each cell is the worst verdict (:mod:`harness.report.verdicts`) of
the tests behind that item for that device, with those tests listed, so a reviewer sees which
tests a requirement rests on. An item whose tests were all skipped, or that no test on this rig
exercised, says so in its own words: nothing untested can look signed off.

Built from the evidence alone, so ``harness report render`` draws the same matrix as the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.evidence import TestEvidence
from harness.report.markup import Html, join, mono, table, tag, text, verdict
from harness.report.verdicts import CellVerdict, Verdict, combine, devices_in, pytest_verdict, verdict_of_test

#: Column for tests that name a spec item but involved no device (skipped before any record, CH-only checks).
NO_DEVICE = ""


@dataclass(frozen=True, slots=True)
class RequirementMatrix:
    """Spec items x devices; each cell the tests behind it with their verdicts."""

    items: tuple[str, ...]
    devices: tuple[str, ...]  # NO_DEVICE, if present, is last
    cells: Mapping[tuple[str, str], tuple[tuple[str, Verdict], ...]]

    def cell(self, item: str, device: str) -> CellVerdict:
        tests = self.cells.get((item, device), ())
        return CellVerdict(combine(v for _, v in tests), tests)

    def item_verdict(self, item: str) -> CellVerdict:
        tests = tuple(t for device in self.devices for t in self.cells.get((item, device), ()))
        return CellVerdict(combine(v for _, v in tests), tests)

    def untested(self) -> list[str]:
        """Items no test exercised on this rig: none ran, or every one was skipped."""
        return [item for item in self.items
                if self.item_verdict(item).verdict in (Verdict.NOT_TESTED, Verdict.SKIPPED)]


def requirement_matrix(tests: Iterable[TestEvidence], *, catalogue: Sequence[str] = (),
                       devices: Sequence[str] = ()) -> RequirementMatrix:
    """Build the matrix from every test's evidence.

    ``catalogue`` (every spec item the run's collected tests name) comes first, so an item whose
    tests never ran still has a row; items only the evidence names follow. ``devices`` (the rig's,
    in rig order) come first among the columns for the same reason.
    """
    item_order: list[str] = list(catalogue)
    device_order: list[str] = list(devices)
    cells: dict[tuple[str, str], list[tuple[str, Verdict]]] = {}
    for ev in tests:
        if not ev.spec_items:
            continue
        item_order.extend(ev.spec_items)
        involved = devices_in(ev)
        device_order.extend(involved)
        for item in ev.spec_items:
            if involved:
                for device in involved:
                    cells.setdefault((item, device), []).append((ev.nodeid, verdict_of_test(ev, device)))
            else:
                cells.setdefault((item, NO_DEVICE), []).append((ev.nodeid, pytest_verdict(ev.outcome)))
    columns = [d for d in dict.fromkeys(device_order) if d != NO_DEVICE]
    if any(device == NO_DEVICE for _, device in cells):
        columns.append(NO_DEVICE)
    return RequirementMatrix(items=tuple(dict.fromkeys(item_order)), devices=tuple(columns),
                             cells={key: tuple(value) for key, value in cells.items()})


def matrix_from_run(run: Mapping[str, Any], tests: Iterable[TestEvidence]) -> RequirementMatrix:
    """The matrix for a run: its catalogue of spec items and its rig's devices from the ``run`` section."""
    catalogue = [str(item) for item in run.get("spec_items") or () if isinstance(item, str)]
    devices = [str(d["name"]) for d in run.get("devices") or () if isinstance(d, Mapping) and d.get("name")]
    return requirement_matrix(tests, catalogue=catalogue, devices=devices)


def _short(nodeid: str) -> str:
    return nodeid.rsplit("::", 1)[-1]


def _cell(cell: CellVerdict) -> Html:
    if not cell.tests:
        return verdict(Verdict.NOT_TESTED.value, title="no test of this requirement involved this device")
    listed = tag("ul", join(tag("li", join([mono(_short(nodeid)), " ", verdict(v.value)])) for nodeid, v in cell.tests),
                 cls="hh-req-tests")
    return join([verdict(cell.verdict.value, title=f"worst of {len(cell.tests)} test(s)"), listed])


def requirement_table(matrix: RequirementMatrix) -> Html:
    """The matrix as HTML: a row per spec item, a column per device, and the item's own verdict."""
    if not matrix.items:
        return tag("p", "no test named a spec item (@pytest.mark.spec)", cls="hh-empty")
    headers: list[Any] = ["Spec item"]
    headers += [text(device) if device != NO_DEVICE else "no device" for device in matrix.devices]
    headers.append("Requirement verdict")
    rows: list[list[Any]] = []
    untested = set(matrix.untested())
    for item in matrix.items:
        overall = matrix.item_verdict(item)
        note = (" (no test on this rig)" if overall.verdict is Verdict.NOT_TESTED
                else " (only skipped tests on this rig)" if item in untested else "")
        row: list[Any] = [join([tag("strong", text(item)), text(note)])]
        row += [_cell(matrix.cell(item, device)) for device in matrix.devices]
        row.append(verdict(overall.verdict.value, title="worst verdict of every test behind this item"))
        rows.append(row)
    return table(headers, rows, cls="hh-requirements",
                 row_classes=["hh-diff" if item in untested else None for item in matrix.items])


def requirement_properties(matrix: RequirementMatrix) -> list[tuple[str, str]]:
    """JUnit suite properties: ``requirement.<item>`` = its verdict and the tests behind it."""
    out: list[tuple[str, str]] = []
    for item in matrix.items:
        overall = matrix.item_verdict(item)
        tests = ", ".join(dict.fromkeys(_short(nodeid) for nodeid, _ in overall.tests)) or "no test on this rig"
        out.append((f"requirement.{item}", f"{overall.verdict.value}: {tests}"))
    return out


__all__ = ["NO_DEVICE", "RequirementMatrix", "matrix_from_run", "requirement_matrix", "requirement_properties",
           "requirement_table"]
