"""The top of the report: the sign-off header a reviewer reads before any test row.

In order: the run facts (what ran, on what, by whom), the verdict matrix (devices x images), the
devices with the firmware they reported before and after, and the images with their SHA-256 and
signature status. All of it is derived from the evidence log (its ``run`` section and its
records) by pure functions, so the HTML header and the JSON evidence cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.evidence import ImageRecord, TestEvidence, TransferRecord, redact
from harness.report.facts import UNKNOWN, device_facts
from harness.report.markup import Html, hex_code, join, mono, section, table, tag, text, verdict
from harness.report.requirements import matrix_from_run, requirement_table
from harness.report.style import style_element
from harness.report.tables import devices_table, run_table, signature_badge, verdict_table
from harness.report.verdicts import verdict_matrix

TITLE = "HAN device conformance report"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageSummary:
    """One image as the run knew it: from its ImageRecord if one was made, else from its transfers."""

    name: str
    sha256: str
    size: int | None
    version: int | None
    signature: str | None


def run_images(tests: Iterable[TestEvidence]) -> list[ImageSummary]:
    """Every image named in the evidence, first appearance first; an ImageRecord wins over a transfer's copy."""
    found: dict[str, ImageSummary] = {}
    for ev in tests:
        for image in ev.of(ImageRecord):
            version = image.header.get("file_version")
            found[image.name] = ImageSummary(
                name=image.name, sha256=image.sha256, size=image.size,
                version=version if isinstance(version, int) else None, signature=image.signature,
            )
        for tr in ev.of(TransferRecord):
            if tr.image_name and tr.image_name not in found:
                found[tr.image_name] = ImageSummary(
                    name=tr.image_name, sha256=tr.image_sha256, size=tr.image_size, version=tr.image_version,
                    signature=None,
                )
    return list(found.values())


def images_table(images: Sequence[ImageSummary]) -> Html:
    """Images of the run: file version, size, SHA-256 and supplier-signature status."""
    rows = []
    for image in images:
        rows.append([
            mono(image.name), mono(hex_code(image.version, 8)),
            text(f"{image.size:,} bytes" if image.size is not None else None), mono(image.sha256),
            signature_badge(image.signature),
        ])
    return table(["Image", "File version", "Size", "SHA-256", "Supplier signature"], rows, cls="hh-images",
                 empty="no image in this run")


def report_title(run: Mapping[str, Any]) -> str:
    rig = run.get("rig")
    return redact(f"{TITLE} — rig {rig}" if rig else TITLE)


def summary_html(run: Mapping[str, Any], tests: Iterable[TestEvidence]) -> str:
    """The whole header block (stylesheet included), redacted as a last guard."""
    tests = list(tests)
    rig_devices = [str(d["name"]) for d in run.get("devices") or () if isinstance(d, Mapping) and d.get("name")]
    matrix = verdict_matrix(tests, rig_devices)
    overall = matrix.overall().verdict.value
    head = tag("p", join([
        tag("strong", "Overall verdict "), verdict(overall, title="every device and image of the run, worst first"),
        f"  ·  {len(tests)} tests with evidence  ·  operator {run.get('operator', UNKNOWN)}  ·  "
        f"{run.get('date', UNKNOWN)}",
    ]), cls="hh-subtitle")
    body = join([
        head,
        section("Run", run_table(run), cls="hh-sec-run"),
        section("Verdicts: device × image", verdict_table(matrix), cls="hh-sec-verdicts",
                note="Each cell combines the tests that sent that image to that device, worst first "
                     "(FAIL, NOT OBSERVED, INCOMPLETE, PASS, SKIPPED); hover a badge for the tests behind it."),
        section("Requirements: spec item × device", requirement_table(matrix_from_run(run, tests)),
                cls="hh-sec-requirements",
                note="One row per spec item the tests name (@pytest.mark.spec); each cell is the worst verdict of the "
                     "tests behind it, listed. Items with no test on this rig, or only skipped ones, are marked."),
        section("Devices under test", devices_table(device_facts(run, tests)), cls="hh-sec-devices",
                note="Firmware as the device reported it, before its first transfer and after it."),
        section("Firmware images", images_table(run_images(tests)), cls="hh-sec-run-images"),
    ])
    return redact(style_element() + str(tag("div", body, cls="hh-report", id="hh-report")))
