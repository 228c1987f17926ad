"""Checks read off a transfer's timeline: did the device do what the CH told it to?

The alert sequence says how a transfer ended; these say how the device behaved on the way, from
the :class:`~harness.evidence.TransferRecord` alone (so they can also be re-run on an evidence
file). Each returns a :class:`~harness.evidence.CheckRecord`; NOT_OBSERVED when the situation the
rule is about never arose.
"""

from __future__ import annotations

import itertools

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


#: Seconds per MinimumBlockPeriod unit a profile may name (real-device-behaviour.md section 4:
#: milliseconds in the Gecko SDK client, seconds in EmberZNet 5.7's).
BLOCK_PERIOD_UNIT_S = {"ms": 0.001, "s": 1.0}
#: Two block requests this much closer than the period still count as paced (clock jitter, radio queues).
PERIOD_TOLERANCE_S = 0.05


def check_minimum_block_period(record: TransferRecord, unit: str) -> CheckRecord:
    """After a WAIT_FOR_DATA that set a MinimumBlockPeriod, block requests are at least that far apart.

    A client learns a new MinimumBlockPeriod only from WAIT_FOR_DATA, and counts it in its own
    unit, which the profile names; the rule is judged in that unit, up to the next WAIT_FOR_DATA.

    The CH sees a request when the NCP has handed it over and the host has read it, not when the
    device sent it: a request delayed on the way (a busy serial line or host) shortens the gap to
    the next one by as much as it lengthened the gap before -- and in block mode, where the device
    asks again only once answered, a request read late is answered late, so a paced device's next
    request can follow it at once. So the period is judged on the average gap (first request to
    last, over the gaps), which that delay does not move; and a single gap below half the period
    fails only when it and the gap before it together fall short of two periods: a request seen
    late moves time from one gap to the next but never shortens their sum, while two requests sent
    together after an on-time one do.
    """
    per_unit = BLOCK_PERIOD_UNIT_S[unit]
    events = list(record.events)
    findings: list[str] = []
    short: list[str] = []
    periods = [(i, e) for i, e in enumerate(events)
               if e.kind is TransferEventKind.WAIT_FOR_DATA and e.minimum_block_period]
    for index, wait in periods:
        needed = (wait.minimum_block_period or 0) * per_unit
        requests: list[float] = []
        for later in events[index + 1:]:
            if later.kind is TransferEventKind.WAIT_FOR_DATA:
                break
            if later.kind is TransferEventKind.BLOCK_REQUEST:
                requests.append(later.t)
        gaps = [b - a for a, b in itertools.pairwise(requests)]
        label = f"MinimumBlockPeriod {wait.minimum_block_period} {unit} from offset {wait.offset}"
        if not gaps:
            findings.append(f"{label}: fewer than two block requests followed")
            continue
        closest = min(gaps)
        average = (requests[-1] - requests[0]) / len(gaps)
        line = (f"{label}: {len(gaps) + 1} block requests, {average:.3f} s apart on average, closest "
                f"{closest:.3f} s (needed {needed:g} s)")
        findings.append(line)
        burst = any(gap + PERIOD_TOLERANCE_S < needed / 2 and before + gap + PERIOD_TOLERANCE_S < 2 * needed
                    for before, gap in itertools.pairwise(gaps))
        if average + PERIOD_TOLERANCE_S < needed or burst:
            short.append(line)
    if not periods:
        outcome, observed = Outcome.NOT_OBSERVED, "no WAIT_FOR_DATA in this transfer set a MinimumBlockPeriod"
    elif all("fewer than two" in f for f in findings):
        outcome, observed = Outcome.NOT_OBSERVED, "; ".join(findings)
    else:
        outcome = Outcome.FAIL if short else Outcome.PASS
        observed = "; ".join(findings)
    return CheckRecord(
        name="MinimumBlockPeriod honoured",
        rule=(f"after a WAIT_FOR_DATA carrying a MinimumBlockPeriod, the device's block requests are at least "
              f"that period apart, counted in {'milliseconds' if unit == 'ms' else 'seconds'} as its profile says"),
        observed=observed,
        outcome=outcome,
        source=("ZCL OTA Upgrade cluster, MinimumBlockPeriod attribute (0x0009); its unit differs between clients "
                "(real-device-behaviour.md section 4)"),
        confidence="high for the rule; the unit is the profile's",
        device=record.device,
        detail="; ".join(short),
    )


#: Timeline kinds that end a transfer (or show where it stopped).
_ENDINGS = (TransferEventKind.ABORT, TransferEventKind.STALL, TransferEventKind.UPGRADE_END)


def where_it_ended(record: TransferRecord) -> str:
    """One line: the offset and moment at which the transfer ended, and how; '' while it runs.

    The moment is counted from the start of the transfer, as on the timeline; the offset is the
    CH's high-water mark then (how much of the image the device had been sent).
    """
    if record.ended is None:
        return ""
    ending = next((e for e in reversed(record.events) if e.kind in _ENDINGS), None)
    at = ending.t if ending is not None else record.ended
    offset = ending.offset if ending is not None and ending.offset is not None else None
    if offset is None:
        offset = max(((e.offset or 0) + (e.size or 0) for e in record.events
                      if e.kind is TransferEventKind.BLOCK_RESPONSE and e.status == "SUCCESS"), default=0)
    how = record.reason or record.outcome.value
    if ending is not None and ending.kind is TransferEventKind.UPGRADE_END and ending.status:
        how = f"Upgrade End {ending.status}" + (f" ({record.reason})" if record.reason else "")
    size = f" of {record.image_size}" if record.image_size else ""
    return f"ended {record.outcome.value} at offset {offset}{size}, +{at - record.started:.2f} s: {how}"


def ending_index(record: TransferRecord) -> int | None:
    """Index in ``record.events`` of the event where the transfer ended (None while it runs)."""
    if record.ended is None:
        return None
    for index in range(len(record.events) - 1, -1, -1):
        if record.events[index].kind in _ENDINGS:
            return index
    return len(record.events) - 1 if record.events else None


def check_activation(*, device: str, offered: int, previous: int | None, running: int | None) -> CheckRecord:
    """What the device runs after activation, judged so that each way of failing has its own words.

    Three outcomes a reviewer must tell apart: it runs the offered image; activation failed and
    the previous version still runs; or it reports a version that is neither (a wrong build, a
    corrupted attribute) -- which is a different check, named differently.
    """
    source = "SECMP0007 CS09 (activateImage); ZCL OTA client attribute CurrentFileVersion (0x0019/0x0002)"
    offered_text = f"0x{offered:08X}"
    if running is not None and running not in (offered, previous):
        previous_text = f"0x{previous:08X}" if previous is not None else "unknown"
        return CheckRecord(
            name="reported version is the previous or the offered one",
            rule=f"after activation the device reports the offered {offered_text} (or, if activation failed, "
                 f"the previous {previous_text})",
            observed=(f"reports 0x{running:08X}: a version that is neither the previous ({previous_text}) "
                      f"nor the offered one ({offered_text})"),
            outcome=Outcome.FAIL, source=source, confidence="high", device=device,
        )
    if running == offered:
        observed, outcome = f"runs the offered {offered_text}", Outcome.PASS
    elif running is None:
        observed, outcome = "did not answer a read of CurrentFileVersion", Outcome.NOT_OBSERVED
    else:
        observed, outcome = f"Activation failed, the previous version 0x{running:08X} still runs", Outcome.FAIL
    return CheckRecord(name="activation", rule=f"after activation the device runs the offered {offered_text}",
                       observed=observed, outcome=outcome, source=source, confidence="high", device=device)
