"""`harness rig` sub-commands (placeholder until its layer lands)."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser("rig", help="(not available yet)")
    parser.set_defaults(func=lambda args: parser.error("'harness rig' is not available yet"))
