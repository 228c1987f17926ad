"""`harness report render EVIDENCE.json [MORE.json ...]`: the report page made from evidence files alone.

For a run whose pytest-html page was never written (the process was killed) or is out of date,
and for a reviewer who was sent only the JSON. Several files (one per bench, as ``harness signoff``
writes them) make one sign-off page: the verdict matrix across rigs, devices and images and each
rig's run header (:mod:`harness.report.benches`). Exit 0 when the page is written, 2 when an
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
    render.add_argument("evidence", type=Path, metavar="EVIDENCE.json", nargs="+",
                        help="the file pytest wrote with --evidence (default reports/evidence.json); "
                             "several files (one per bench) make one merged sign-off page")
    render.add_argument("-o", "--output", type=Path, default=None, metavar="OUT.html",
                        help="where to write the page (default: next to the first evidence file, .html)")
    render.set_defaults(func=run_render)


def run_render(args: argparse.Namespace) -> int:
    from harness.report.benches import load_bench, write_benches_page
    from harness.report.standalone import write_page

    files: list[Path] = args.evidence
    out = args.output or files[0].with_suffix(".html")
    try:
        if len(files) == 1:
            written = write_page(files[0], out)
        else:
            written = write_benches_page([load_bench(path) for path in files], out)
    except ValueError as exc:
        print(f"harness report render: {exc}")
        return EXIT_BAD_EVIDENCE
    except OSError as exc:
        print(f"harness report render: {out}: cannot write the page: {exc.strerror or exc}")
        return EXIT_BAD_EVIDENCE
    print(f"report written: {written}")
    return EXIT_WRITTEN
