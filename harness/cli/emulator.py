"""`harness emulator` sub-commands (placeholder until its layer lands)."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser("emulator", help="(not available yet)")
    parser.set_defaults(func=lambda args: parser.error("'harness emulator' is not available yet"))
