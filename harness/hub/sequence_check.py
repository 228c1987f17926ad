"""Compare the alerts a device produced with an expected sequence, and say how they differ.

The verdict is meant for a person signing off a report, so the result carries a side-by-side
table (expected | observed | verdict per row) and a list of differences in plain sentences:
a missing alert, an extra one, the wrong order, a wrong payload field, a window overrun, a
forbidden alert, or a block sent when none should have been.

Alignment uses :class:`difflib.SequenceMatcher` on the alert codes, so one missing alert in the
middle does not make every later row look wrong; aligned rows are then compared field by field.
Outcomes distinguish NOT_OBSERVED (nothing arrived at all) from FAIL (something wrong arrived).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from harness.evidence import AlertRecord, CheckRecord, Outcome, TransferRecord
from harness.gbcs.codes import CCS08_RESPONSES, CS09_RESULTS
from harness.hub.alerts import alert_label
from harness.hub.expectations import ExpectedAlert, ExpectedSequence


@dataclass(frozen=True, slots=True, kw_only=True)
class SequenceContext:
    """What the expected values are resolved against, for one device and one transfer."""

    device: str
    device_eui64: str
    image_version: int | None
    previous_version: int | None
    started: float  # the first alert's window counts from here


@dataclass(frozen=True, slots=True)
class Row:
    expected: str
    observed: str
    verdict: str


@dataclass(frozen=True, slots=True)
class SequenceResult:
    sequence: ExpectedSequence
    outcome: Outcome
    rows: tuple[Row, ...]
    differences: tuple[str, ...]
    observed: tuple[AlertRecord, ...]
    context: SequenceContext

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASS

    def table(self) -> str:
        """Expected versus observed, one alert per row, in a fixed-width table."""
        width_e = max([len("expected"), *(len(r.expected) for r in self.rows)])
        width_o = max([len("observed"), *(len(r.observed) for r in self.rows)])
        lines = [f"  #  {'expected':<{width_e}}  {'observed':<{width_o}}  verdict"]
        for i, row in enumerate(self.rows, 1):
            lines.append(f"  {i:<2} {row.expected:<{width_e}}  {row.observed:<{width_o}}  {row.verdict}")
        return "\n".join(lines)

    def report(self) -> str:
        """The whole verdict as text: header, provenance, table, differences."""
        head = (
            f"alert sequence {self.sequence.name!r} for {self.context.device} "
            f"({self.context.device_eui64}): {self.outcome.value}\n"
            f"  {self.sequence.description}\n  {self.sequence.provenance}"
        )
        body = self.table()
        if self.differences:
            diffs = "\n".join(f"  - {d}" for d in self.differences)
            return f"{head}\n{body}\ndifferences:\n{diffs}"
        return f"{head}\n{body}"

    def __str__(self) -> str:
        return self.report()

    def record(self) -> CheckRecord:
        """This verdict as evidence."""
        observed = "; ".join(describe_observed(a) for a in self.observed) or "no alerts"
        return CheckRecord(
            name=f"alert sequence {self.sequence.name}",
            rule=" then ".join(
                e.describe(image_version=self.context.image_version, previous_version=self.context.previous_version)
                for e in self.sequence.alerts
            )
            + (f"; never {', '.join(f'0x{c:04X}' for c in self.sequence.forbid)}" if self.sequence.forbid else "")
            + ("; no block sent" if self.sequence.forbid_blocks else ""),
            observed=observed,
            outcome=self.outcome,
            source=self.sequence.source,
            confidence=self.sequence.confidence,
            device=self.context.device,
            detail=self.report(),
        )


def describe_observed(alert: AlertRecord, *, short: bool = False) -> str:
    """An observed alert as text, in the same words as :meth:`ExpectedAlert.describe`."""
    parts = [alert_label(alert.code, short=short)]
    if alert.response_code is not None:
        parts.append(
            f"resp {alert.response_code}" if short
            else f"response {alert.response_code} ({CCS08_RESPONSES.get(alert.response_code, '?')})"
        )
    if alert.activation_result is not None:
        parts.append(
            CS09_RESULTS.get(alert.activation_result, "?") if short
            else f"activateImage {alert.activation_result} ({CS09_RESULTS.get(alert.activation_result, '?')})"
        )
    if alert.firmware_version is not None:
        parts.append(f"v0x{alert.firmware_version:08X}" if short else f"version 0x{alert.firmware_version:08X}")
    return ", ".join(parts)


def _field_differences(
    index: int, expected: ExpectedAlert, observed: AlertRecord, ctx: SequenceContext, previous_t: float
) -> list[str]:
    problems: list[str] = []
    label = f"alert #{index} (0x{expected.code:04X})"
    if observed.rejected:
        problems.append(f"{label}: the device's alert is rejected: {observed.rejected}")
    if expected.response_code is not None and observed.response_code != expected.response_code:
        problems.append(
            f"{label}: response code expected {expected.response_code} "
            f"({CCS08_RESPONSES.get(expected.response_code, '?')}), observed {observed.response_code} "
            f"({CCS08_RESPONSES.get(observed.response_code, '?') if observed.response_code is not None else 'none'})"
        )
    if expected.activation_result is not None and observed.activation_result != expected.activation_result:
        problems.append(
            f"{label}: activateImage expected {expected.activation_result} "
            f"({CS09_RESULTS.get(expected.activation_result, '?')}), observed {observed.activation_result}"
        )
    if expected.entity == "device" and observed.entity_eui64 != ctx.device_eui64:
        problems.append(f"{label}: entity expected {ctx.device_eui64} ({ctx.device}), observed {observed.entity_eui64}")
    version = expected.resolve_version(image_version=ctx.image_version, previous_version=ctx.previous_version)
    if version is not None and observed.firmware_version != version:
        shown = f"0x{observed.firmware_version:08X}" if observed.firmware_version is not None else "none"
        problems.append(f"{label}: firmware version expected 0x{version:08X} ({expected.firmware_version}), observed {shown}")
    if expected.within_s is not None:
        late = observed.time - previous_t
        if late > expected.within_s:
            problems.append(
                f"{label}: arrived {late:.1f} s after the previous step; the window is {expected.within_s:g} s"
            )
    return problems


def check_sequence(
    sequence: ExpectedSequence,
    alerts: Sequence[AlertRecord],
    context: SequenceContext,
    *,
    transfers: Sequence[TransferRecord] = (),
) -> SequenceResult:
    """Check ``alerts`` (all alerts of the run; those about other devices are ignored) against ``sequence``."""
    observed = tuple(
        sorted(
            (
                a
                for a in alerts
                if (a.entity_eui64 == context.device_eui64 or a.raised_by == context.device)
                and a.time >= context.started
            ),
            key=lambda a: a.time,
        )
    )
    expected = sequence.alerts
    rows: list[Row] = []
    differences: list[str] = []
    def cell(e: ExpectedAlert) -> str:
        return e.describe(image_version=context.image_version, previous_version=context.previous_version, short=True)

    def describe(e: ExpectedAlert) -> str:
        return e.describe(image_version=context.image_version, previous_version=context.previous_version)


    matcher = difflib.SequenceMatcher(a=[e.code for e in expected], b=[a.code for a in observed], autojunk=False)
    previous_t = context.started
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for k in range(i2 - i1):
                exp_k, obs_k = expected[i1 + k], observed[j1 + k]
                problems = _field_differences(i1 + k + 1, exp_k, obs_k, context, previous_t)
                rows.append(Row(cell(exp_k), describe_observed(obs_k, short=True), "ok" if not problems else "DIFFERS"))
                differences.extend(problems)
                previous_t = obs_k.time
            continue
        exp_part, obs_part = expected[i1:i2], observed[j1:j2]
        for k in range(max(len(exp_part), len(obs_part))):
            exp = exp_part[k] if k < len(exp_part) else None
            obs = obs_part[k] if k < len(obs_part) else None
            if exp is not None and obs is not None:
                rows.append(Row(cell(exp), describe_observed(obs, short=True), "WRONG ALERT"))
                differences.append(
                    f"alert #{i1 + k + 1}: expected {alert_label(exp.code)}, observed {alert_label(obs.code)}"
                    + (f" ({obs.detail})" if obs.detail else "")
                )
                previous_t = obs.time
            elif exp is not None:
                rows.append(Row(cell(exp), "-", "MISSING"))
                differences.append(f"alert #{i1 + k + 1}: expected {describe(exp)}; not observed")
            else:
                assert obs is not None
                rows.append(Row("-", describe_observed(obs, short=True), "UNEXPECTED"))
                differences.append(f"unexpected alert: {describe_observed(obs)}")

    # Out-of-order: every expected code was observed, but not in the expected order.
    if sorted(e.code for e in expected) == sorted(a.code for a in observed) and [e.code for e in expected] != [
        a.code for a in observed
    ]:
        differences.append(
            "order: expected "
            + " -> ".join(f"0x{e.code:04X}" for e in expected)
            + ", observed "
            + " -> ".join(f"0x{a.code:04X}" for a in observed)
        )
    rule_breaks: list[str] = []
    for code in sequence.forbid:
        for alert in observed:
            if alert.code == code:
                rule_breaks.append(f"forbidden alert observed: {describe_observed(alert)}")
    if sequence.forbid_blocks:
        sent = sum(t.bytes_sent for t in transfers if t.device == context.device and t.started >= context.started)
        if sent:
            rule_breaks.append(f"no block should reach {context.device}, but {sent} bytes of image data were sent")
    differences.extend(rule_breaks)

    # Keep each difference once, in order (a forbidden alert is usually also "unexpected").
    differences = list(dict.fromkeys(differences))
    if not differences:
        outcome = Outcome.PASS
    elif not observed and expected and not rule_breaks:
        outcome = Outcome.NOT_OBSERVED
    else:
        outcome = Outcome.FAIL
    return SequenceResult(sequence, outcome, tuple(rows), tuple(differences), observed, context)
