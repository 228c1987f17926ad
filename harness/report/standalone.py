"""The report as a page of its own, rendered from an evidence file alone.

pytest-html writes its page when the run ends. A run that was killed (SIGKILL, a power cut at the
bench) leaves only the evidence JSON, which is written after every test; and the JSON may also
have been completed after a test's own row was drawn (the hub's last records, filed when it
stopped). This page is made from that file: the same sign-off header as the pytest-html report
(run, verdicts, devices, images) and the same evidence sections per test, so a reviewer can read
a run whose HTML never got written, or re-make the HTML from the kept file.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness.evidence import EvidenceLog, TestEvidence, redact
from harness.report.capture_view import link_base as capture_link_base
from harness.report.extras import evidence_sections
from harness.report.facts import harness_version
from harness.report.markup import Html, join, section, tag, text, verdict
from harness.report.summary import report_title, summary_html
from harness.report.verdicts import pytest_verdict


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def test_section(ev: TestEvidence, *, link_base: str = "") -> Html:
    """One test: its node id, its verdict (INCOMPLETE if it never finished), when, and its evidence."""
    shown = pytest_verdict(ev.outcome).value
    duration = f" ({ev.finished - ev.started:.1f} s)" if ev.finished is not None else " (never finished)"
    head = tag("h3", join([tag("code", text(ev.nodeid)), "  ", verdict(shown, title=f"pytest outcome: {ev.outcome}")]))
    when = tag("p", text(f"started {_when(ev.started)}, finished {_when(ev.finished)}{duration}"), cls="hh-subtitle")
    sections = [Html(fragment) for fragment in evidence_sections(ev, link_base=link_base)]  # markup, already redacted
    body = join(sections) if sections else tag("p", text("no records"))
    return tag("section", join([head, when, body]), cls="hh-section hh-test")


def render_page(log: EvidenceLog, *, source: str, link_base: str = "") -> str:
    """The whole page for ``log``; ``source`` names the evidence file it came from; ``link_base``
    leads from the page to the evidence's directory (links to the captures)."""
    tests = list(log.tests.values())
    title = report_title(log.run_info)
    made = (f"Rendered from {source} by harness {harness_version()} on {_when(time.time())}. "
            "The same header and evidence sections as the pytest-html report of the run.")
    page = join([
        Html('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'),
        tag("title", text(title)),
        Html("</head><body>"),
        tag("h1", text(title)),
        tag("p", text(made), cls="hh-subtitle"),
        Html(summary_html(log.run_info, tests)),  # markup, already redacted
        section(f"Tests ({len(tests)})", join(test_section(ev, link_base=link_base) for ev in tests) if tests else text("no test")),
        Html("</body></html>\n"),
    ])
    return redact(str(page))


def write_page(evidence: Path, out: Path) -> Path:
    """Read ``evidence`` and write its page to ``out``; ValueError (naming the file) if it is unreadable."""
    log = EvidenceLog.load(evidence)
    page = render_page(log, source=evidence.name, link_base=capture_link_base(out, evidence))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
