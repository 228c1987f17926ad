"""What the conformance tests share: starting a transfer, judging it, and saying why it failed.

Every verdict a test reaches is also recorded as a :class:`~harness.evidence.CheckRecord` through
the hub, so the report shows the rule, what was observed and the outcome even for a test that
passed -- and an assertion message is the same text a reviewer reads in the report.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from harness.evidence import AttributeRead, CheckRecord, Outcome, TransferEventKind, TransferOutcome, TransferRecord
from harness.hub.expectations import ClientRule, load_client_rules
from harness.hub.transfer_checks import ending_index, where_it_ended

#: Expected alert sequence of a good image and a good device, per role (profiles/expectations/).
GOOD_IMAGE_SEQUENCE = {"PPMID": "ppmid-good-image"}


def version(value: int | None) -> str:
    return "none" if value is None else f"0x{value:08X}"


def check(hub: Any, *, name: str, device: str | None, rule: str, observed: str, ok: bool,
          source: str, confidence: str = "high", detail: str = "") -> CheckRecord:
    """Record one verdict as evidence and return it (the caller asserts on ``.outcome``)."""
    record = CheckRecord(name=name, rule=rule, observed=observed, outcome=Outcome.PASS if ok else Outcome.FAIL,
                         source=source, confidence=confidence, device=device, detail=detail)
    hub.evidence.add(record)
    return record


_CLIENT_RULES: dict[str, ClientRule] = {}


def client_rule(name: str) -> ClientRule:
    """An OTA client rule of profiles/expectations/ota-client-rules.toml, with its source and confidence."""
    if not _CLIENT_RULES:
        _CLIENT_RULES.update(load_client_rules())
    return _CLIENT_RULES[name]


def record_check(hub: Any, record: CheckRecord) -> CheckRecord:
    """File a check made elsewhere (harness.hub.transfer_checks) as evidence, and return it."""
    hub.evidence.add(record)
    return record


def failure(record: CheckRecord) -> str:
    """An assertion message: rule, observation, detail."""
    text = f"{record.device or 'CH'}: {record.name}: expected {record.rule}; observed {record.observed}"
    return f"{text}\n{record.detail}" if record.detail else text


def expect(record: CheckRecord) -> None:
    assert record.outcome is Outcome.PASS, failure(record)


def expect_sequence(hub: Any, device: str, sequence: str, transfer: Any) -> None:
    """The alerts since the transfer began match the named sequence of the expectations file."""
    result = hub.check_sequence(device, sequence, transfer)
    # A wrong sequence usually means the transfer ended somewhere it should not have: show where.
    assert result.passed, f"{result.report()}\n{timeline(transfer.record())}" if transfer is not None else result.report()


def expect_good_image_alerts(hub: Any, dut: Any, transfer: Any) -> None:
    """The good-image sequence for the device's role; a role with none (IHD: outside the GBCS use
    cases since SECMP0007) must at least raise no failure alert, which is recorded as such."""
    sequence = GOOD_IMAGE_SEQUENCE.get(dut.role)
    if sequence is not None and dut.role in hub.expectations[sequence].roles:
        expect_sequence(hub, dut.name, sequence, transfer)
        return
    failures = [a for a in hub.alerts.for_entity(dut.eui64_text, device=dut.name)
                if a.code == 0x8F89 and a.time >= transfer.session.started]
    expect(check(
        hub, name="no transfer failure alert", device=dut.name,
        rule=f"no CCS08 0x8F89 (no expected sequence for role {dut.role} in {hub.expectations.file.name})",
        observed="; ".join(f"0x{a.code:04X} response {a.response_code}" for a in failures) or "none",
        ok=not failures, source="SECMP0007: IHDs are outside the GBCS firmware use cases; plain Zigbee OTA",
        confidence="derived",
    ))


async def read_version(hub: Any, device: str, *, expected: int | None, why: str) -> int | None:
    """Read the device's OTA CurrentFileVersion over the air and record the read as evidence.

    Recorded as an :class:`AttributeRead`, so the report's devices table (firmware before and
    after) shows what the device said at each point, not what it was sent.
    """
    value = await hub.current_version(device)
    endpoint = next((ep_id for ep_id, ep in hub.device(device).endpoints.items()
                     if ep_id and 0x0019 in getattr(ep, "out_clusters", {})), 0)
    hub.evidence.add(AttributeRead(
        device=device, endpoint=endpoint, cluster=0x0019, attribute=0x0002, name="CurrentFileVersion",
        expected=f"value == 0x{expected:08X} ({why})" if expected is not None else why,
        value=value, status="SUCCESS" if value is not None else "NO_RESPONSE",
        outcome=(Outcome.NOT_OBSERVED if value is None else
                 Outcome.PASS if expected is None or value == expected else Outcome.FAIL),
        t=time.time(), source="ZCL OTA Upgrade cluster, client attribute 0x0002", confidence="high",
    ))
    return value


def events(record: TransferRecord, *kinds: TransferEventKind) -> list[Any]:
    return [e for e in record.events if e.kind in kinds]


def data_blocks(record: TransferRecord) -> list[Any]:
    """Image Block Responses that carried image data to the device."""
    return [e for e in events(record, TransferEventKind.BLOCK_RESPONSE) if e.status == "SUCCESS"]


def _event_line(record: TransferRecord, e: Any) -> str:
    parts = [f"+{e.t - record.started:6.2f}s {e.kind.value}"]
    if e.offset is not None:
        parts.append(f"offset {e.offset}")
    if e.size is not None:
        parts.append(f"size {e.size}")
    if e.status:
        parts.append(e.status)
    if e.detail:
        parts.append(e.detail)
    return "  " + " ".join(parts)


def timeline(record: TransferRecord, limit: int = 12) -> str:
    """A transfer's timeline as text, for a failure message: where it ended, the first events, and
    the events around the end (where an ABORT near the last block, a stall or a silent device shows)."""
    events = record.events
    ended = where_it_ended(record)
    head = [f"  {record.device}: transfer of {record.image_name} {ended}"] if ended else []
    if len(events) <= limit:
        lines = [_event_line(record, e) for e in events]
        return "\n".join(head + lines) or "  (no events)"
    end = ending_index(record)
    end = len(events) - 1 if end is None else end
    first = max(3, limit // 3)
    around_from = max(first, end - (limit - first) + 2)
    around_to = min(len(events), end + 2)
    lines = [_event_line(record, e) for e in events[:first]]
    if around_from > first:
        lines.append(f"  ... {around_from - first} events ...")
    lines.extend(_event_line(record, e) for e in events[around_from:around_to])
    if around_to < len(events):
        lines.append(f"  ... {len(events) - around_to} more events")
    return "\n".join(head + lines)


def expect_outcome(record: TransferRecord, wanted: TransferOutcome | Iterable[TransferOutcome]) -> None:
    allowed = (wanted,) if isinstance(wanted, TransferOutcome) else tuple(wanted)
    assert record.outcome in allowed, (
        f"{record.device}: transfer of {record.image_name} ended {record.outcome.value}"
        f"{' (' + record.reason + ')' if record.reason else ''}; expected "
        f"{' or '.join(o.value for o in allowed)}\n{timeline(record)}"
    )
