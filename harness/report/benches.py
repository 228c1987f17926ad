"""One sign-off page for several benches: each rig's evidence file, merged.

A sign-off across device models runs the conformance suite on several rigs at once (``harness
signoff``), one pytest process and one evidence file per rig. This page puts them together: the
benches and how each run ended, one verdict matrix whose rows are rig · device and whose columns
are every image of every run, then each rig's own run header and tests, as its single-run page
shows them.

A bench whose run did not complete never shrinks the matrix: its devices keep their rows, marked
with how the run ended, and the bench's own verdict is INCOMPLETE (so the overall verdict can
never read PASS while a bench is missing). How a run ended is the ``bench`` entry that
``harness signoff`` writes into the evidence's run facts; an evidence file without one (a single
pytest run) is judged from its tests alone.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.evidence import EvidenceLog, TestEvidence, redact
from harness.report.facts import harness_version
from harness.report.markup import Html, join, mono, section, table, tag, text, verdict
from harness.report.standalone import test_section
from harness.report.style import style_element
from harness.report.summary import TITLE, summary_html
from harness.report.tables import verdict_table
from harness.report.verdicts import NO_IMAGE, Verdict, VerdictMatrix, verdict_matrix

#: The run-facts key where ``harness signoff`` records how a bench's run ended.
BENCH_KEY = "bench"
COMPLETED = "completed"


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchRun:
    """One rig's part of a sign-off: its evidence and how its run ended."""

    rig: str
    source: str                     # the evidence file's name, for the reader
    run: Mapping[str, Any]
    tests: tuple[TestEvidence, ...]
    status: str                     # COMPLETED, or what stopped it ("stopped", "failed to start", ...)
    reason: str = ""                # one line: why it did not complete
    exit_code: int | None = None

    @property
    def completed(self) -> bool:
        return self.status == COMPLETED

    @property
    def devices(self) -> list[str]:
        return [str(d["name"]) for d in self.run.get("devices") or () if isinstance(d, Mapping) and d.get("name")]


def bench_from_log(log: EvidenceLog, source: str) -> BenchRun:
    """The bench a loaded evidence file describes: its ``bench`` entry, else what its tests say."""
    run = log.run_info
    tests = tuple(log.tests.values())
    recorded = run.get(BENCH_KEY) if isinstance(run.get(BENCH_KEY), Mapping) else None
    rig = str(run.get("rig") or (recorded or {}).get("rig") or Path(source).stem)
    if recorded is not None:
        status, reason = str(recorded.get("status") or "unknown"), str(recorded.get("reason") or "")
        exit_code = recorded.get("exit_code") if isinstance(recorded.get("exit_code"), int) else None
    elif not tests:
        status, reason, exit_code = "no test ran", "the evidence holds no test", None
    elif any(ev.finished is None for ev in tests):
        status, reason, exit_code = "stopped mid-test", "a test began and never finished", None
    else:
        status, reason, exit_code = COMPLETED, "", None
    if status == COMPLETED and any(ev.finished is None for ev in tests):
        status, reason = "stopped mid-test", "a test began and never finished"
    return BenchRun(rig=rig, source=source, run=run, tests=tests, status=status, reason=reason, exit_code=exit_code)


def load_bench(path: Path) -> BenchRun:
    """Read one bench's evidence file; ValueError naming the file when it cannot be read."""
    return bench_from_log(EvidenceLog.load(path), path.name)


def merged_matrix(benches: Sequence[BenchRun]) -> VerdictMatrix:
    """Rows rig · device, columns every image of every bench; an incomplete bench's devices say why."""
    devices: list[str] = []
    images: list[str] = []
    cells: dict[tuple[str, str], tuple[tuple[str, Verdict], ...]] = {}
    for bench in benches:
        own = verdict_matrix(bench.tests, bench.devices)
        names = list(own.devices) or ([] if bench.completed else ["(no device known)"])
        for device in names:
            label = f"{bench.rig} · {device}" if bench.completed else f"{bench.rig} · {device} — bench {bench.status}"
            devices.append(label)
            for image in own.images:
                if (device, image) in own.cells:
                    cells[(label, image)] = tuple((f"{bench.rig}: {nodeid}", v) for nodeid, v in own.cells[(device, image)])
            if not bench.completed:
                why = f"{bench.rig}: the bench's run did not complete ({bench.status}): {bench.reason or 'no reason recorded'}"
                cells[(label, NO_IMAGE)] = (*cells.get((label, NO_IMAGE), ()), (why, Verdict.INCOMPLETE))
        images.extend(image for image in own.images if image != NO_IMAGE)
    ordered = list(dict.fromkeys(images))
    if any(image == NO_IMAGE for _, image in cells):
        ordered.append(NO_IMAGE)
    return VerdictMatrix(devices=tuple(devices), images=tuple(ordered), cells=cells)


def benches_table(benches: Sequence[BenchRun]) -> Html:
    rows = []
    for bench in benches:
        # A completed run is not a verdict on the devices (the matrix is); only a run that did not complete is flagged.
        shown = text(bench.status) if bench.completed else join([verdict("INCOMPLETE", title=bench.reason), " ",
                                                                  text(bench.status)])
        rows.append([
            tag("strong", bench.rig), shown,
            text("—" if bench.exit_code is None else str(bench.exit_code)),
            text(str(len(bench.tests))), text(bench.run.get("radio") or "—"), text(bench.reason or "—"),
            mono(bench.source),
        ])
    return table(["Rig", "Run", "pytest exit", "Tests", "Radio", "Why it did not complete", "Evidence"], rows,
                 cls="hh-benches", empty="no bench")


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def render_benches_page(benches: Sequence[BenchRun]) -> str:
    """The whole sign-off page for ``benches`` (in the order given), redacted as a last guard."""
    title = f"{TITLE} — sign-off across {len(benches)} rig(s): {', '.join(b.rig for b in benches)}"
    matrix = merged_matrix(benches)
    overall = matrix.overall().verdict.value
    made = (f"Merged from {len(benches)} evidence file(s) by harness {harness_version()} on {_when(time.time())}. "
            "Each rig's own run header and tests follow the merged matrix.")
    incomplete = [b.rig for b in benches if not b.completed]
    head = tag("p", join([
        tag("strong", "Overall verdict "), verdict(overall, title="every rig, device and image, worst first"),
        f"  ·  {sum(len(b.tests) for b in benches)} tests with evidence on {len(benches)} rig(s)",
        f"  ·  did not complete: {', '.join(incomplete)}" if incomplete else "",
    ]), cls="hh-subtitle")
    per_rig = [
        section(f"Rig {bench.rig}: {bench.status}", join([
            Html(summary_html(bench.run, bench.tests)),  # markup, already redacted
            join(test_section(ev) for ev in bench.tests) if bench.tests else tag("p", text("no test ran")),
        ]), cls="hh-sec-bench")
        for bench in benches
    ]
    page = join([
        Html('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'),
        tag("title", text(title)),
        Html("</head><body>"),
        Html(style_element()),
        tag("h1", text(title)),
        tag("p", text(made), cls="hh-subtitle"),
        tag("div", join([
            head,
            section("Benches", benches_table(benches), cls="hh-sec-benches",
                    note="How each rig's run ended. A run that did not complete leaves its devices INCOMPLETE below."),
            section("Verdicts: rig · device × image", verdict_table(matrix), cls="hh-sec-verdicts",
                    note="Each cell combines the tests that sent that image to that device on that rig, worst first; "
                         "hover a badge for the tests behind it."),
        ]), cls="hh-report", id="hh-report"),
        *per_rig,
        Html("</body></html>\n"),
    ])
    return redact(str(page))


def write_benches_page(benches: Sequence[BenchRun], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_benches_page(benches), encoding="utf-8")
    return out
