"""`harness report render EVIDENCE.json`: the report page made from a run's evidence file alone.

For a run whose pytest-html page was never written (the process was killed) or is out of date,
and for a reviewer who was sent only the JSON. Exit 0 when the page is written, 2 when the
evidence file cannot be read (one line naming the file and what is wrong).
"""

from __future__ import annotations

import argparse
from pathlib import Path

EXIT_WRITTEN = 0
EXIT_BAD_EVIDENCE = 2


def register(subparsers) -> None:
    parser = subparsers.add_parser("report", help="render the report from an evidence file")
    commands = parser.add_subparsers(dest="report_command", metavar="SUBCOMMAND", required=True)
    render = commands.add_parser("render", help="write the report page of an evidence JSON file")
    render.add_argument("evidence", type=Path, metavar="EVIDENCE.json",
                        help="the file pytest wrote with --evidence (default reports/evidence.json)")
    render.add_argument("-o", "--output", type=Path, default=None, metavar="OUT.html",
                        help="where to write the page (default: next to the evidence, .html)")
    render.set_defaults(func=run_render)


def run_render(args: argparse.Namespace) -> int:
    from harness.report.standalone import write_page

    out = args.output or args.evidence.with_suffix(".html")
    try:
        written = write_page(args.evidence, out)
    except ValueError as exc:
        print(f"harness report render: {exc}")
        return EXIT_BAD_EVIDENCE
    except OSError as exc:
        print(f"harness report render: {out}: cannot write the page: {exc.strerror or exc}")
        return EXIT_BAD_EVIDENCE
    print(f"report written: {written}")
    return EXIT_WRITTEN
