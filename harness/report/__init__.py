"""Evidence records rendered for a reviewer: pytest-html extras and header, JUnit properties.

The report renders :mod:`harness.evidence` records and nothing else (it never imports the hub),
so a report can be rebuilt from the JSON evidence file alone. Pure modules, each tested on
hand-built records:

* :mod:`~harness.report.extras` -- ``to_extras(test_evidence)``: one test's sections as extras
* :mod:`~harness.report.summary` -- the header: run facts, verdict matrix, devices, images
* :mod:`~harness.report.svg_timeline` -- ``timeline_svg(transfers)``: the OTA chart, inline SVG
* :mod:`~harness.report.tables` -- alerts, attributes, image, devices, verdict tables
* :mod:`~harness.report.verdicts` -- PASS/FAIL per device x image
* :mod:`~harness.report.facts` -- run facts (commit, operator, versions) and device facts
* :mod:`~harness.report.junit` -- the run facts as JUnit testsuite properties
* :mod:`~harness.report.scan` -- ``find_secrets(paths, secrets)`` for the redaction tests
* :mod:`~harness.report.browser` -- headless Chromium: DOM after scripts, console errors, screenshot

The pytest side (:mod:`~harness.report.pytest_hooks`) only adapts these to pytest-html and
junitxml; ``harness/plugin.py`` registers it. :mod:`~harness.report.samples` holds the
hand-built demo evidence used by the tests and by ``bench/report_screenshot.py --demo``.
"""

from __future__ import annotations

from harness.report.extras import to_extras
from harness.report.scan import find_secrets
from harness.report.summary import summary_html
from harness.report.svg_timeline import timeline_svg
from harness.report.verdicts import Verdict, verdict_matrix

__all__ = ["Verdict", "find_secrets", "summary_html", "timeline_svg", "to_extras", "verdict_matrix"]
