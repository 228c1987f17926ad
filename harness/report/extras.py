"""One test's evidence as pytest-html extras: the sections shown under the test's row.

:func:`to_extras` is pure: records in, a list of ``pytest_html.extras.html(...)`` dicts out. The
plugin attaches them to the test's report; tests call it on hand-built records. A section
appears only when the test recorded something for it, so a reviewer never scrolls past empty
headings, and the sections keep one order in every test (timeline, alerts, attributes, tenancy,
images, checks, stages) so reports of different runs compare side by side.

Each section is its own extra, passed through :func:`harness.evidence.redact` as a last guard:
records are redacted when created, but the markup here is built afterwards and a secret
registered late (a link key derived mid-run) must not slip through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytest_html import extras as html_extras

from harness.evidence import (
    AlertRecord,
    AttributeRead,
    CheckRecord,
    ImageRecord,
    StageRecord,
    TenancyRead,
    TestEvidence,
    TransferOutcome,
    TransferRecord,
    redact,
)
from harness.hub.transfer_checks import where_it_ended
from harness.report.capture_view import capture_section
from harness.report.markup import Html, join, section, tag, text
from harness.report.svg_timeline import timeline_svg
from harness.report.tables import (
    alerts_table,
    attributes_table,
    checks_table,
    image_table,
    is_sequence_check,
    stages_table,
    tenancy_table,
    transfer_end_table,
    transfers_table,
)


def _timeline(ev: TestEvidence) -> Html | None:
    transfers = ev.of(TransferRecord)
    if not transfers:
        return None
    if not any(t.bytes_sent for t in transfers):
        # A refused or discarded image: an empty chart would only suggest a transfer that never was.
        return section("OTA timeline", transfers_table(transfers), cls="hh-sec-timeline",
                       note="No image data was sent, so there is nothing to chart; the outcome and reason are below.")
    ends = [join([tag("h4", text(f"Where {t.device} ← {t.image_name} ended: {where_it_ended(t)}")),
                  transfer_end_table(t)])
            for t in transfers if t.ended is not None and t.outcome is not TransferOutcome.TRANSFERRED]
    body = join([Html(timeline_svg(transfers)), transfers_table(transfers), *ends])
    return section("OTA timeline", body, cls="hh-sec-timeline",
                   note="Offset served against time; hover a mark for the exchange it records. A transfer that "
                        "did not complete shows the events around the moment it ended.")


def _alerts(ev: TestEvidence) -> Html | None:
    checks = [c for c in ev.of(CheckRecord) if is_sequence_check(c)]
    alerts = ev.of(AlertRecord)
    if not checks and not alerts:
        return None
    return section("Alert sequence: expected versus observed", alerts_table(checks, alerts), cls="hh-sec-alerts")


def _attributes(ev: TestEvidence) -> Html | None:
    reads = ev.of(AttributeRead)
    if not reads:
        return None
    return section("Attributes: expected versus read", attributes_table(reads), cls="hh-sec-attributes")


def _tenancy(ev: TestEvidence) -> Html | None:
    reads = ev.of(TenancyRead)
    if not reads:
        return None
    return section("Tenancy attributes read by the device", tenancy_table(reads), cls="hh-sec-tenancy")


def _images(ev: TestEvidence) -> Html | None:
    images = ev.of(ImageRecord)
    if not images:
        return None
    return section("Firmware image", image_table(images), cls="hh-sec-images")


def _checks(ev: TestEvidence) -> Html | None:
    checks = [c for c in ev.of(CheckRecord) if not is_sequence_check(c)]
    if not checks:
        return None
    return section("Checks", checks_table(checks), cls="hh-sec-checks")


def _stages(ev: TestEvidence) -> Html | None:
    stages = ev.of(StageRecord)
    if not stages:
        return None
    return section("Firmware distribution stages", stages_table(stages), cls="hh-sec-stages")


#: Section builders in display order.
SECTIONS: tuple[Callable[[TestEvidence], Html | None], ...] = (
    _timeline, _alerts, _attributes, _tenancy, _images, _checks, _stages,
)


def evidence_sections(ev: TestEvidence, *, link_base: str = "") -> list[str]:
    """The HTML of each non-empty section, redacted, in display order.

    ``link_base``: the way from the page to the evidence file's directory (``""`` when the page is
    beside it), which the links to the test's captures start with.
    """
    out: list[str] = []
    for fragment in [build(ev) for build in SECTIONS] + [capture_section(ev, link_base=link_base)]:
        if fragment is not None:
            out.append(redact(str(tag("div", fragment, cls="hh-evidence"))))
    return out


def to_extras(test_evidence: TestEvidence | None, *, link_base: str = "") -> list[dict[str, Any]]:
    """pytest-html extras for one test: one ``html`` extra per section that has records."""
    if test_evidence is None:
        return []
    return [html_extras.html(fragment) for fragment in evidence_sections(test_evidence, link_base=link_base)]
