"""Checks read off a transfer's timeline: block pacing in the device's unit, where a transfer ended,
and activation verdicts worded apart."""

from __future__ import annotations

import pytest

from harness.evidence import Outcome, TransferEvent, TransferEventKind, TransferOutcome, TransferRecord
from harness.hub.transfer_checks import (
    check_activation,
    check_minimum_block_period,
    ending_index,
    where_it_ended,
)

K = TransferEventKind


def record(events: list[TransferEvent], *, outcome: TransferOutcome = TransferOutcome.TRANSFERRED,
           ended: float | None = 10.0, reason: str = "") -> TransferRecord:
    return TransferRecord(transfer_id="x", device="ppmid1", device_eui64="00:11", image_name="next", image_sha256="",
                          image_size=400, image_version=2, started=0.0, ended=ended, outcome=outcome, reason=reason,
                          events=tuple(events))


def paced(spacing: float, period: int) -> TransferRecord:
    events = [TransferEvent(t=1.0, kind=K.WAIT_FOR_DATA, offset=240, wait_s=1.0, minimum_block_period=period)]
    events += [TransferEvent(t=2.0 + i * spacing, kind=K.BLOCK_REQUEST, offset=240 + 40 * i) for i in range(4)]
    return record(events)


@pytest.mark.parametrize(("spacing", "period", "unit", "outcome"), [
    (0.15, 150, "ms", Outcome.PASS),
    (0.01, 150, "ms", Outcome.FAIL),  # ignored the new period
    (1.0, 1, "s", Outcome.PASS),
    (0.001, 1, "s", Outcome.FAIL),  # counted seconds as milliseconds
])
def test_minimum_block_period_is_judged_in_the_profiles_unit(spacing, period, unit, outcome) -> None:
    check = check_minimum_block_period(paced(spacing, period), unit)
    assert check.outcome is outcome, check.observed
    assert ("milliseconds" if unit == "ms" else "seconds") in check.rule


def requests_at(*times: float) -> TransferRecord:
    """Block requests seen by the CH at ``times``, after a WAIT_FOR_DATA that set 150 ms."""
    waited = [TransferEvent(t=1.0, kind=K.WAIT_FOR_DATA, offset=240, wait_s=1.0, minimum_block_period=150)]
    return record(waited + [TransferEvent(t=t, kind=K.BLOCK_REQUEST, offset=240 + 40 * i) for i, t in enumerate(times)])


@pytest.mark.parametrize("times", [
    (2.0, 2.205, 2.3, 2.45),   # the second read 55 ms late: its next gap shrinks to 95 ms
    (2.0, 2.15, 2.55, 2.575),  # the third read 250 ms late on a loaded host, answered late, the next sent at once
])
def test_a_request_seen_late_by_the_ch_is_not_a_short_period(times) -> None:
    check = check_minimum_block_period(requests_at(*times), "ms")
    assert check.outcome is Outcome.PASS, check.observed


def test_two_requests_sent_together_after_an_on_time_one_are_not_paced() -> None:
    check = check_minimum_block_period(requests_at(2.0, 2.15, 2.16, 2.5), "ms")
    assert check.outcome is Outcome.FAIL and "closest 0.010 s" in check.observed


def test_no_period_set_is_not_observed() -> None:
    events = [TransferEvent(t=1.0, kind=K.WAIT_FOR_DATA, offset=0, wait_s=1.0, minimum_block_period=0)]
    assert check_minimum_block_period(record(events), "ms").outcome is Outcome.NOT_OBSERVED


def test_where_it_ended_names_the_offset_the_moment_and_how() -> None:
    events = [TransferEvent(t=0.1 * i, kind=K.BLOCK_RESPONSE, offset=40 * i, size=40, status="SUCCESS")
              for i in range(9)]
    events.append(TransferEvent(t=1.5, kind=K.UPGRADE_END, offset=360, status="ABORT"))
    events.append(TransferEvent(t=1.5, kind=K.ABORT, status="ABORT", detail="ppmid1 ended the transfer with ABORT"))
    done = record(events, outcome=TransferOutcome.FAILED, reason="ppmid1 ended the transfer with ABORT")
    assert where_it_ended(done) == ("ended failed at offset 360 of 400, +1.50 s: ppmid1 ended the transfer with ABORT")
    assert ending_index(done) == len(events) - 1
    stalled = record([*events[:5], TransferEvent(t=9.0, kind=K.STALL, offset=200, detail="silent")],
                     outcome=TransferOutcome.STALLED, reason="ppmid1 sent no OTA request after offset 200")
    assert where_it_ended(stalled).startswith("ended stalled at offset 200 of 400, +9.00 s")
    assert where_it_ended(record([], ended=None)) == ""


def test_activation_failures_have_different_checks_and_words() -> None:
    ok = check_activation(device="d", offered=2, previous=1, running=2)
    kept = check_activation(device="d", offered=2, previous=1, running=1)
    other = check_activation(device="d", offered=2, previous=1, running=7)
    assert ok.outcome is Outcome.PASS and kept.outcome is Outcome.FAIL and other.outcome is Outcome.FAIL
    assert kept.name == "activation" and kept.observed.startswith("Activation failed, the previous version")
    assert other.name != kept.name
    assert "neither the previous (0x00000001) nor the offered one (0x00000002)" in other.observed
    assert check_activation(device="d", offered=2, previous=1, running=None).outcome is Outcome.NOT_OBSERVED
