"""`harness image` sub-commands (placeholder until its layer lands)."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser("image", help="(not available yet)")
    parser.set_defaults(func=lambda args: parser.error("'harness image' is not available yet"))
