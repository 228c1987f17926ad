"""Evidence records as HTML tables: run facts, devices, verdicts, alerts, attributes, images, checks.

Each function takes records (or values derived from them) and returns one :class:`Html`
fragment; none reads files, the clock or pytest state, so each is tested on hand-built records.
Every value goes through :mod:`harness.report.markup`, which redacts and escapes it. Codes,
versions, EUI-64s and digests are shown in monospace hex, because a reviewer compares them
character by character with a device label or an image manifest.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.evidence import (
    AlertRecord,
    AttributeRead,
    CheckRecord,
    ImageRecord,
    StageRecord,
    TenancyRead,
    TransferRecord,
)
from harness.gbcs.codes import CCS08_RESPONSES, CS09_RESULTS
from harness.hub.transfer_checks import ending_index, where_it_ended
from harness.ota.header import HEX_DIGITS
from harness.report.facts import DeviceFacts, run_fact_rows
from harness.report.gbcs_view import gbcs_messages
from harness.report.markup import MISSING, Html, facts_table, hex_code, join, mono, table, tag, text, verdict
from harness.report.verdicts import NO_IMAGE, CellVerdict, VerdictMatrix

#: Run facts shown in monospace (identifiers a reviewer copies or compares).
_MONO_FACTS = {"Git commit", "NCP firmware", "EZSP version", "Harness version"}



def utc_time(t: float | None) -> str:
    """``01:23:45.678`` (UTC, milliseconds): the date is in the report header; the time orders events."""
    if t is None:
        return MISSING
    return _dt.datetime.fromtimestamp(t, _dt.UTC).strftime("%H:%M:%S.%f")[:-3]


# ------------------------------------------------------------------------------------ header


def run_table(run: Mapping[str, Any]) -> Html:
    """The run facts (rig, radio, EZSP, NCP firmware, harness version, commit, date, operator)."""
    return facts_table((label, mono(value) if label in _MONO_FACTS else text(value)) for label, value in run_fact_rows(run))


def devices_table(devices: Sequence[DeviceFacts]) -> Html:
    """Devices under test with the firmware they reported before and after their first transfer."""
    rows = []
    for d in devices:
        changed = d.firmware_before is not None and d.firmware_after is not None and d.firmware_before != d.firmware_after
        after = mono(hex_code(d.firmware_after, 8))
        rows.append([
            tag("strong", d.name), text(d.role), mono(d.eui64), text(d.manufacturer), text(d.model),
            mono(hex_code(d.firmware_before, 8)),
            tag("span", after, cls="hh-changed") if changed else after,
            text(d.profile),
        ])
    return table(
        ["Device", "Role", "EUI-64", "Manufacturer", "Model", "Firmware before", "Firmware after", "Profile"],
        rows, cls="hh-devices", empty="no devices recorded",
    )


def _verdict_cell(cell: CellVerdict) -> Html:
    counts = cell.counts()
    tally = ", ".join(f"{n} {v.value.lower().replace('_', ' ')}" for v, n in counts.items())
    tests = "\n".join(f"{v.value}: {nodeid}" for nodeid, v in cell.tests) or "no test involved this pair"
    badge = verdict(cell.verdict.value, title=tests)
    return join([badge, tag("div", tally, cls="hh-tally")]) if tally else badge


def verdict_table(matrix: VerdictMatrix) -> Html:
    """PASS/FAIL per device x image, with the per-device verdict in the last column and per-image in the last row."""
    if not matrix.devices:
        return tag("p", "no device was involved in any test", cls="hh-empty")
    headers: list[Any] = ["Device"]
    headers += [mono(image) if image != NO_IMAGE else "tests without an image" for image in matrix.images]
    headers.append("Device verdict")
    rows: list[list[Any]] = []
    for device in matrix.devices:
        row: list[Any] = [tag("strong", device)]
        row += [_verdict_cell(matrix.cell(device, image)) for image in matrix.images]
        row.append(_verdict_cell(matrix.device_verdict(device)))
        rows.append(row)
    footer: list[Any] = [tag("strong", "Image verdict")]
    footer += [_verdict_cell(matrix.image_verdict(image)) for image in matrix.images]
    footer.append(_verdict_cell(matrix.overall()))
    rows.append(footer)
    return table(headers, rows, cls="hh-verdicts", row_classes=[None] * len(matrix.devices) + ["hh-total"])


# ------------------------------------------------------------------------------------ alerts


@dataclass(frozen=True, slots=True)
class SequenceRow:
    """One line of an alert-sequence check: what was expected, what arrived, and how they compare."""

    expected: str
    observed: str
    verdict: str  # "ok", or what differs: MISSING, UNEXPECTED, WRONG ALERT, DIFFERS

    @property
    def differs(self) -> bool:
        return self.verdict.lower() != "ok"


_TABLE_HEAD = re.compile(r"^\s*#\s+expected\s+observed\s+verdict\s*$")


def parse_sequence_detail(detail: str) -> tuple[list[SequenceRow], list[str]] | None:
    """The rows and differences of an alert-sequence check's ``detail`` text, or None if it has no table.

    The hub writes the comparison as a fixed-width table (``#  expected  observed  verdict``)
    followed by ``differences:`` and one ``  - ...`` line each. Column positions are taken from
    the header line, so cells may contain spaces. Text that is not in that shape is shown as it
    is by the caller, never guessed at.
    """
    lines = detail.splitlines()
    head = next((i for i, line in enumerate(lines) if _TABLE_HEAD.match(line)), None)
    if head is None:
        return None
    header = lines[head]
    at_expected, at_observed, at_verdict = (header.index(w) for w in ("expected", "observed", "verdict"))
    rows: list[SequenceRow] = []
    differences: list[str] = []
    in_differences = False
    for line in lines[head + 1:]:
        if line.strip() == "differences:":
            in_differences = True
            continue
        if in_differences:
            if line.lstrip().startswith("- "):
                differences.append(line.lstrip()[2:])
            continue
        if not line[:at_expected].strip().isdigit():
            continue
        rows.append(SequenceRow(
            expected=line[at_expected:at_observed].strip(),
            observed=line[at_observed:at_verdict].strip(),
            verdict=line[at_verdict:].strip(),
        ))
    return rows, differences


def _sequence_block(check: CheckRecord) -> Html:
    parsed = parse_sequence_detail(check.detail)
    title = join([verdict(check.outcome.value), " ", tag("strong", check.name),
                  f" — {check.device}" if check.device else ""])
    parts: list[Any] = [tag("p", title, cls="hh-check-title"),
                        tag("p", join(["Rule: ", check.rule]), cls="hh-rule")]
    if parsed is None:
        parts.append(tag("pre", check.detail or check.observed, cls="hh-pre"))
    else:
        rows, differences = parsed
        parts.append(table(
            ["#", "Expected", "Observed", "Result"],
            [[str(i), mono(r.expected), mono(r.observed), tag("span", r.verdict, cls="hh-diffword") if r.differs else "ok"]
             for i, r in enumerate(rows, 1)],
            cls="hh-sequence",
            row_classes=["hh-diff" if r.differs else None for r in rows],
            empty="no alert expected and none observed",
        ))
        if differences:
            parts.append(tag("ul", join(tag("li", d) for d in differences), cls="hh-differences"))
    parts.append(tag("p", join(["Source: ", check.source, " · confidence: ", check.confidence]), cls="hh-provenance"))
    return tag("div", join(parts), cls="hh-check")


def is_sequence_check(check: CheckRecord) -> bool:
    """Alert-sequence checks carry the expected-versus-observed table in ``detail``."""
    return parse_sequence_detail(check.detail) is not None


def _alert_payload(alert: AlertRecord) -> str:
    if alert.response_code is not None:
        return f"response {alert.response_code} ({CCS08_RESPONSES.get(alert.response_code, 'unknown')})"
    if alert.activation_result is not None:
        return f"activateImage {alert.activation_result} ({CS09_RESULTS.get(alert.activation_result, 'unknown')})"
    return MISSING


def alerts_table(checks: Sequence[CheckRecord], alerts: Sequence[AlertRecord]) -> Html:
    """Expected versus observed alert sequences (differences highlighted), then every alert observed."""
    parts: list[Any] = [_sequence_block(c) for c in checks if is_sequence_check(c)]
    parts.append(tag("h4", "Alerts observed"))
    parts.append(table(
        ["Time (UTC)", "Code", "Alert", "Raised by", "Entity", "Firmware version", "Payload", "How observed"],
        [[mono(utc_time(a.time)), mono(hex_code(a.code)), join([a.use_case, " ", a.name]), text(a.raised_by),
          mono(a.entity_eui64), mono(hex_code(a.firmware_version, 8)), text(_alert_payload(a)), text(a.observed_how)]
         for a in sorted(alerts, key=lambda a: a.time)],
        cls="hh-alerts", empty="no alert observed",
    ))
    parts.append(gbcs_messages(alerts))
    return join(parts)


# -------------------------------------------------------------------------------- attributes


def _value(value: Any) -> Html:
    if value is None:
        return text(None)
    if isinstance(value, bool) or not isinstance(value, int):
        return text(value)
    return join([mono(hex_code(value, 4 if value <= 0xFFFF else 8)), tag("span", f" ({value})", cls="hh-dec")])


def attributes_table(reads: Sequence[AttributeRead]) -> Html:
    """Each attribute read: the rule it was held to, the value read, the ZCL status and the verdict."""
    return table(
        ["Device", "EP", "Cluster", "Attribute", "Expected", "Read", "Status", "Result", "Source (confidence)"],
        [[text(r.device), text(r.endpoint), mono(hex_code(r.cluster)), join([mono(hex_code(r.attribute)), " ", r.name]),
          text(r.expected), _value(r.value), mono(r.status), verdict(r.outcome.value),
          join([r.source or MISSING, f" ({r.confidence})" if r.confidence else ""])]
         for r in reads],
        cls="hh-attributes",
        row_classes=[None if r.outcome.value == "PASS" else "hh-diff" for r in reads],
        empty="no attribute read",
    )


# ------------------------------------------------------------------------------------ images

#: Supplier signature status -> badge colour: only VALID is green; ABSENT is amber (not checkable).
_SIGNATURE_CLASS = {"VALID": "pass", "INVALID": "fail", "ABSENT": "notobs"}


def signature_badge(status: str | None) -> Html:
    """The supplier-signature status as a badge; None (the run never checked it) shows NOT CHECKED."""
    word = status or "NOT_CHECKED"
    return tag("span", word.replace("_", " "), cls="hh-verdict hh-" + _SIGNATURE_CLASS.get(word, "skip"))


def _header_value(name: str, value: Any) -> Html:
    digits = HEX_DIGITS.get(name)  # OTA header codes and versions; other fields show as decimal/text
    if digits is not None and isinstance(value, int) and not isinstance(value, bool):
        return mono(hex_code(value, digits))
    if isinstance(value, int) and not isinstance(value, bool):
        return text(f"{value:,}")  # sizes and lengths: decimal, grouped
    if isinstance(value, str) and re.fullmatch(r"(?:[0-9A-Fa-f]{2}[:]?){8}", value):
        return mono(value)  # the destination EUI-64
    return text(value)


def image_table(images: Sequence[ImageRecord]) -> Html:
    """Each image as an attachment: identity, size, SHA-256, supplier signature, then its header fields."""
    if not images:
        return tag("p", "no image recorded", cls="hh-empty")
    blocks = []
    for image in images:
        rows: list[tuple[Any, Any]] = [
            ("Image", tag("strong", image.name)),
            ("File", mono(image.path)),
            ("Size", text(f"{image.size:,} bytes")),
            ("SHA-256", mono(image.sha256)),
            ("Supplier signature", signature_badge(image.signature)),
        ]
        rows += [(name.replace("_", " "), _header_value(name, value)) for name, value in image.header.items()]
        blocks.append(facts_table(rows, cls="hh-image"))
    return join(blocks)


# ------------------------------------------------------------------------- checks, transfers


def checks_table(checks: Sequence[CheckRecord]) -> Html:
    """The checks that are not alert sequences: rule, observation, verdict and provenance."""
    plain = [c for c in checks if not is_sequence_check(c)]
    return table(
        ["Check", "Device", "Rule", "Observed", "Result", "Source (confidence)"],
        [[tag("strong", c.name), text(c.device), text(c.rule),
          join([c.observed, tag("pre", c.detail, cls="hh-pre") if c.detail else ""]),
          verdict(c.outcome.value), join([c.source, f" ({c.confidence})" if c.confidence else ""])]
         for c in plain],
        cls="hh-checks",
        row_classes=[None if c.outcome.value == "PASS" else "hh-diff" for c in plain],
        empty="no other check recorded",
    )


def aps_security(transfer: TransferRecord) -> str:
    """How the transfer's frames travelled: all APS-encrypted, or how many in the clear (per frame in the JSON)."""
    frames = [e for e in transfer.events if e.is_frame and e.aps_encrypted is not None]
    if not frames:
        return MISSING
    clear = [e for e in frames if not e.aps_encrypted]
    if not clear:
        return f"all {len(frames)} frames encrypted"
    return f"{len(clear)} of {len(frames)} frames in the clear (first: {clear[0].kind.value})"


def transfer_end_table(transfer: TransferRecord, *, before: int = 6, after: int = 2) -> Html:
    """Where a transfer ended (ABORT, INVALID_IMAGE, a silent device, a stall): the events around that moment.

    A failure near the end of a long download is invisible in its first events; this shows the
    last requests and responses before the end, the ending itself, and what followed.
    """
    index = ending_index(transfer)
    if index is None:
        return table(["+s", "Event", "Offset", "Size", "Status", "Detail"], [], cls="hh-end-events",
                     empty="still running")
    shown = transfer.events[max(0, index - before):index + after + 1]
    rows = [[mono(f"{e.t - transfer.started:.2f}"), text(e.kind.value),
             text(e.offset if e.offset is not None else MISSING), text(e.size if e.size is not None else MISSING),
             text(e.status or MISSING), text(e.detail or MISSING)] for e in shown]
    ending = transfer.events[index] if transfer.events else None
    return table(["+s", "Event", "Offset", "Size", "Status", "Detail"], rows, cls="hh-end-events",
                 row_classes=["hh-diff" if e is ending else None for e in shown], empty="no events")


def transfers_table(transfers: Sequence[TransferRecord]) -> Html:
    """One line per transfer: what was sent, how far it got, and where and how it ended (not a verdict by itself)."""
    rows = []
    for t in transfers:
        duration = f"{t.ended - t.started:.1f} s" if t.ended is not None else "running"
        outcome = tag("span", t.outcome.value, cls="hh-outcome hh-o-" + t.outcome.value)
        rows.append([
            text(t.device), mono(t.device_eui64), mono(t.image_name), mono(hex_code(t.image_version, 8)),
            text(f"{t.bytes_sent:,} / {t.image_size:,}"), text(t.block_size_cap or MISSING), text(t.retries),
            text(t.gaps), text(aps_security(t)), text(duration), outcome, text(where_it_ended(t) or t.reason or MISSING),
        ])
    return table(
        ["Device", "EUI-64", "Image", "Version", "Bytes sent / size", "Block cap", "Retries", "Gaps", "APS security",
         "Duration", "Outcome", "Where and how it ended"],
        rows, cls="hh-transfers", empty="no transfer recorded",
    )


def stages_table(stages: Sequence[StageRecord]) -> Html:
    """Firmware-distribution stages per device, in time order (notified ... activated, or failed)."""
    ordered = sorted(stages, key=lambda s: s.t)
    return table(
        ["Time (UTC)", "Device", "Stage", "Detail"],
        [[mono(utc_time(s.t)), text(s.device), tag("strong", s.stage), text(s.detail or MISSING)] for s in ordered],
        cls="hh-stages", row_classes=["hh-diff" if s.stage == "failed" else None for s in ordered],
        empty="no stage recorded",
    )


def tenancy_table(reads: Sequence[TenancyRead]) -> Html:
    """The device reading the CH's tenancy attributes (SECMP0056): when, what it asked, what it got."""
    return table(
        ["Time (UTC)", "Device", "Cluster", "Attributes", "Values served", "Trigger"],
        [[mono(utc_time(r.t)), text(r.device), mono(hex_code(r.cluster)),
          mono(", ".join(hex_code(a) for a in r.attributes)),
          join((join([mono(k), " = ", text(v)]) for k, v in r.values.items()), ";  ") if r.values else MISSING,
          text(r.trigger or MISSING)]
         for r in sorted(reads, key=lambda r: r.t)],
        cls="hh-tenancy", empty="no tenancy read",
    )


__all__ = [
    "SequenceRow", "alerts_table", "attributes_table", "checks_table", "devices_table", "image_table",
    "is_sequence_check", "parse_sequence_detail", "run_table", "signature_badge", "stages_table", "tenancy_table",
    "transfer_end_table", "transfers_table", "utc_time", "verdict_table",
]
