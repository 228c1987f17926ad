"""Checks read off a transfer's timeline: did the device do what the CH told it to?

The alert sequence says how a transfer ended; these say how the device behaved on the way, from
the :class:`~harness.evidence.TransferRecord` alone (so they can also be re-run on an evidence
file). Each returns a :class:`~harness.evidence.CheckRecord`; NOT_OBSERVED when the situation the
rule is about never arose.
"""

from __future__ import annotations

from harness.evidence import CheckRecord, Outcome, TransferEventKind, TransferRecord

#: A device re-requesting this much earlier than told still counts as honouring the wait
#: (its clock and ours tick independently; UTCTime has whole seconds).
WAIT_TOLERANCE_S = 0.2

_REQUESTS = (TransferEventKind.BLOCK_REQUEST, TransferEventKind.PAGE_REQUEST)


def check_wait_for_data_honoured(record: TransferRecord) -> CheckRecord:
    """After WAIT_FOR_DATA the device's next request must not come before the requested time."""
    rule = f"after an Image Block Response WAIT_FOR_DATA the device waits until the request time (tolerance {WAIT_TOLERANCE_S:g} s)"
    events = list(record.events)
    waits = [e for e in events if e.kind is TransferEventKind.WAIT_FOR_DATA]
    findings: list[str] = []
    early: list[str] = []
    for wait in waits:
        following = next((e for e in events if e.t > wait.t and e.kind in _REQUESTS), None)
        if following is None:
            findings.append(f"no request after the wait at offset {wait.offset}")
            continue
        waited = following.t - wait.t
        line = f"told to wait {wait.wait_s:g} s at offset {wait.offset}, came back after {waited:.2f} s"
        findings.append(line)
        if wait.wait_s is not None and waited + WAIT_TOLERANCE_S < wait.wait_s:
            early.append(line)
    if not waits:
        outcome, observed = Outcome.NOT_OBSERVED, "the CH sent no WAIT_FOR_DATA in this transfer"
    else:
        outcome = Outcome.FAIL if early else Outcome.PASS
        observed = "; ".join(findings)
    return CheckRecord(
        name="WAIT_FOR_DATA honoured",
        rule=rule,
        observed=observed,
        outcome=outcome,
        source="ZCL OTA Upgrade cluster, Image Block Response WAIT_FOR_DATA (current time, request time)",
        confidence="high",
        device=record.device,
        detail="; ".join(early),
    )
