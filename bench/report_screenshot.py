"""Render an HTML report to a PNG in headless Chromium, to judge the report by eye.

    python bench/report_screenshot.py reports/uit.html                 # -> reports/uit.png
    python bench/report_screenshot.py reports/uit.html -o /tmp/uit.png --height 4000
    python bench/report_screenshot.py --demo /tmp/report-demo          # build the demo report, then shoot it

``--demo DIR`` writes the demonstration project (hand-built evidence, see
``harness.report.samples``) into DIR, runs it with ``--html --self-contained-html --junitxml``
and screenshots the result: the way to look at a rendering change before any suite produces
evidence. Every test's details are expanded (pytest-html's ``?collapsed=``) unless
``--collapsed`` is given.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from harness.report.browser import BrowserError, screenshot
from harness.report.samples import write_demo_project


def build_demo(directory: Path) -> Path:
    """Run the demo project in ``directory``; returns the HTML report it wrote."""
    write_demo_project(directory)
    report = directory / "reports" / "report.html"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--html={report}", "--self-contained-html",
         f"--junitxml={directory / 'reports' / 'junit.xml'}", "--operator", "demo operator"],
        cwd=directory, check=False, capture_output=True, text=True, timeout=300,
    )
    if not report.is_file():
        raise SystemExit(f"demo run in {directory} wrote no report at {report}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?", type=Path, help="the HTML report to render")
    parser.add_argument("--demo", type=Path, metavar="DIR", help="build the demo report in DIR and render that")
    parser.add_argument("-o", "--output", type=Path, help="PNG to write (default: next to the report)")
    parser.add_argument("--width", type=int, default=1400, help="window width in CSS pixels (default 1400)")
    parser.add_argument("--height", type=int, default=2000, help="window height in CSS pixels (default 2000)")
    parser.add_argument("--collapsed", action="store_true", help="keep pytest-html's default collapsed rows")
    args = parser.parse_args(argv)
    if (args.report is None) == (args.demo is None):
        parser.error("give either a REPORT or --demo DIR")
    report = build_demo(args.demo) if args.demo is not None else args.report
    if not report.is_file():
        parser.error(f"{report}: no such file")
    png = args.output or report.with_suffix(".png")
    try:
        screenshot(report, png, width=args.width, height=args.height, query="" if args.collapsed else "collapsed=")
    except BrowserError as exc:
        print(f"report_screenshot: {exc}", file=sys.stderr)
        return 1
    print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
