"""A test's captures in the report: a link to each file and the frame number beside each timeline event.

The events are the moments the test's records carry (stages, alerts, attribute and tenancy reads,
and a transfer's exchanges -- its first and last block request and response rather than every
block). :func:`timeline_moments` lists them for the plugin, which stores in each
:class:`CaptureRecord` the last frame written by each moment; the section here reads them back,
so ``harness report render`` shows the same numbers from the evidence file alone.

Links are relative: ``captures/<test>.pcapng`` beside the evidence file, prefixed with the way
from the page to the evidence's directory (``link_base``). Keys are never shown, only where the
keys file is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.evidence import (
    AlertRecord,
    AttributeRead,
    CaptureRecord,
    StageRecord,
    TenancyRead,
    TestEvidence,
    TransferEvent,
    TransferEventKind,
    TransferRecord,
)
from harness.report.markup import MISSING, Html, join, mono, section, table, tag, text
from harness.report.tables import utc_time

_BLOCKS = (TransferEventKind.BLOCK_REQUEST, TransferEventKind.BLOCK_RESPONSE)


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    t: float
    device: str
    what: str


def _transfer_events(transfer: TransferRecord) -> list[TimelineEvent]:
    """Every exchange but the blocks in between: the first and last block request and response."""
    blocks: dict[TransferEventKind, list[TransferEvent]] = {kind: [] for kind in _BLOCKS}
    for event in transfer.events:
        if event.kind in blocks:
            blocks[event.kind].append(event)
    kept = {id(e) for kind in _BLOCKS for e in (blocks[kind][:1] + blocks[kind][-1:])}
    out = []
    for event in transfer.events:
        if event.kind in blocks and id(event) not in kept:
            continue
        what = event.kind.value.replace("_", " ")
        if event.offset is not None:
            what += f" at offset {event.offset}" + (f", {event.size} bytes" if event.size is not None else "")
        if event.status:
            what += f" ({event.status})"
        out.append(TimelineEvent(event.t, transfer.device, f"OTA {transfer.image_name}: {what}"))
    return out


def timeline_events(ev: TestEvidence) -> list[TimelineEvent]:
    """The test's timeline, in time order."""
    events: list[TimelineEvent] = []
    for transfer in ev.of(TransferRecord):
        events += _transfer_events(transfer)
    events += [TimelineEvent(s.t, s.device, f"stage: {s.stage}") for s in ev.of(StageRecord)]
    events += [TimelineEvent(a.time, a.raised_by, f"alert {a.name} 0x{a.code:04X}") for a in ev.of(AlertRecord)]
    events += [TimelineEvent(r.t, r.device, f"read {r.name} ({r.status})") for r in ev.of(AttributeRead)]
    events += [TimelineEvent(r.t, r.device, f"read tenancy attributes of cluster 0x{r.cluster:04X}")
               for r in ev.of(TenancyRead)]
    return sorted(events, key=lambda e: e.t)


def timeline_moments(ev: TestEvidence) -> list[float]:
    """The moments the report will ask frame numbers for (see :class:`CaptureRecord`)."""
    return sorted({event.t for event in timeline_events(ev)})


def link_base(page: Path | str | None, evidence: Path | None) -> str:
    """The way from the page at ``page`` to the evidence's directory, as a link prefix (``""``: same place)."""
    if page is None or evidence is None:
        return ""
    way = os.path.relpath(Path(evidence).resolve().parent, Path(page).resolve().parent)
    return "" if way == "." else Path(way).as_posix() + "/"


def _files_table(captures: Sequence[CaptureRecord], link_base: str) -> Html:
    return table(
        ["File", "What", "Frames", "Keys file"],
        [[tag("a", mono(c.file), href=link_base + c.file), text(f"{c.format}: {c.source}"), text(c.frames),
          tag("a", mono(c.keys_file), href=link_base + c.keys_file) if c.keys_file else text("none")]
         for c in captures],
        cls="hh-captures",
    )


def capture_section(ev: TestEvidence, *, link_base: str = "") -> Html | None:
    """Links to the test's captures and its timeline events with their frame numbers (None: no capture)."""
    captures = ev.of(CaptureRecord)
    if not captures:
        return None
    events = timeline_events(ev)
    body = [_files_table(captures, link_base)]
    if events:
        body.append(table(
            ["Time (UTC)", "Device", "Event", *(f"Frame in {c.file.rsplit('/', 1)[-1]}" for c in captures)],
            [[mono(utc_time(e.t)), text(e.device), text(e.what),
              *(mono(_frame(c, e.t)) for c in captures)] for e in events],
            cls="hh-capture-events",
        ))
    return section(
        "Captures", join(body), cls="hh-sec-captures",
        note="Frame: Wireshark's number of the last frame on the air by the moment of the event (a frame "
             "the device sent is at or just before it; one the CH sent follows it). Open a capture with "
             "the keys file beside it (README, \"Air captures\").",
    )


def _frame(capture: CaptureRecord, t: float) -> str:
    frame = capture.frame_at(t)
    if frame is None:
        return MISSING
    return str(frame) if frame else "before frame 1"


__all__ = ["TimelineEvent", "capture_section", "link_base", "timeline_events", "timeline_moments"]
