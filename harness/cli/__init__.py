"""The ``harness`` command: one sub-command group per layer, each in its own module.

Each module in this package exposes ``register(subparsers)``, which adds its group and sets
``func`` on the parsed namespace; ``func(args) -> int`` is the exit code. Errors that the
harness anticipates (a bad rig file, a malformed image) are printed as one line on stderr and
give exit code 2; they never show a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: Sub-command modules, in the order ``harness --help`` lists them.
GROUPS = ("image", "rig", "emulator", "report", "signoff")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="GB smart-metering HAN test harness: plays the Communications Hub.",
    )
    subparsers = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for name in GROUPS:
        module = importlib.import_module(f"harness.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
