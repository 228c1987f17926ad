"""The run facts as JUnit ``<testsuite>`` properties, for CI systems that read only the XML.

A CI dashboard that shows nothing but JUnit results can still tell which rig, radio firmware and
harness commit produced a result, and which exact images (by SHA-256) were sent -- the same facts
as the HTML header and the JSON ``run`` section, from the same evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harness.evidence import TestEvidence, redact
from harness.report.facts import UNKNOWN
from harness.report.requirements import matrix_from_run, requirement_properties
from harness.report.summary import run_images

#: ``run`` section keys written as properties, in this order, under the same names.
RUN_PROPERTIES = ("rig", "radio", "ezsp_version", "ncp_firmware", "harness_version", "commit", "operator", "date")


def suite_properties(run: Mapping[str, Any], tests: Iterable[TestEvidence]) -> list[tuple[str, str]]:
    """(name, value) pairs: the run facts, ``image.<name>.sha256`` for every image of the run, then
    ``requirement.<spec item>`` with its verdict and tests (each test case also carries its own
    ``spec`` properties)."""
    tests = list(tests)
    props = [(key, redact(str(run.get(key, UNKNOWN)))) for key in RUN_PROPERTIES]
    props += [(redact(f"image.{image.name}.sha256"), image.sha256 or UNKNOWN) for image in run_images(tests)]
    props += [(redact(name), redact(value)) for name, value in requirement_properties(matrix_from_run(run, tests))]
    return props
