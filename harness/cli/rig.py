"""`harness rig check [NAME]` and `harness rig list`: the session-start rig check, from a shell.

``check`` runs exactly the checks pytest runs before the first test that uses the rig, printing
one line per check and stopping at the first failure (exit 0 when ready, 2 when not), so a lab
engineer can make a bench ready without starting a test run. It makes a run environment of its
own (:class:`harness.hub.run.HubRun`): called inside a pytest session -- or twice in one
process -- it starts its own emulator and hub, and shares nothing with any other run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tomllib
from pathlib import Path

from harness.hub.run import HubRun
from harness.rig import DEFAULT_RIG, RIG_ENV, RigError, available_rigs, choose_rig, find_rig, load_rig
from harness.rigcheck import CheckOutcome
from harness.tomlread import display_path

EXIT_READY = 0
EXIT_NOT_READY = 2


def register(subparsers) -> None:
    parser = subparsers.add_parser("rig", help="check or list test rigs (rigs/NAME.toml)")
    commands = parser.add_subparsers(dest="rig_command", metavar="SUBCOMMAND", required=True)

    check = commands.add_parser("check", help="run the rig checks pytest runs before the first test")
    check.add_argument("rig", nargs="?", default=None, metavar="NAME|PATH",
                       help=f"rig name or rig file (default: ${RIG_ENV}, then '{DEFAULT_RIG}')")
    check.add_argument("--files-only", action="store_true",
                       help="check the rig file and the files it names (every image parsed, its "
                            "signature verified where it must be valid); do not bring the radio up "
                            "or ask the devices to join")
    _add_rigs_dir(check)
    check.set_defaults(func=run_check)

    listing = commands.add_parser("list", help="list the rigs in the rigs directory")
    _add_rigs_dir(listing)
    listing.set_defaults(func=run_list)


def _add_rigs_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rigs-dir", type=Path, default=Path("rigs"),
                        help="where rig NAMEs are looked up (default: ./rigs)")


def run_check(args: argparse.Namespace) -> int:
    try:
        choice, _origin = choose_rig(option=args.rig, ini=None, environ=os.environ)
        path = find_rig(choice, args.rigs_dir)
        rig = load_rig(path)
    except RigError as exc:
        print(CheckOutcome("rig loads", False, str(exc)).line)
        return EXIT_NOT_READY
    devices = ", ".join(device.name for device in rig.devices) or "none"
    print(CheckOutcome("rig loads", True, f"{display_path(rig.path)} (devices: {devices})").line)
    run = HubRun(rig)
    try:
        for outcome in run.check_rig():
            print(outcome.line)
        if run.failure is None and not args.files_only:
            # Last: radio reachable, HAN up on the rig's channel, every device admitted -- the
            # run's hub brought up on a loop of this command's own, then stopped.
            print(asyncio.run(run.check_hub()).line)
    finally:
        run.close()
    return EXIT_READY if run.failure is None else EXIT_NOT_READY


def run_list(args: argparse.Namespace) -> int:
    names = available_rigs(args.rigs_dir)
    if not names:
        print(f"no rigs in {display_path(args.rigs_dir)}")
        return EXIT_NOT_READY
    for name in names:
        print(f"{name:<16} {_description(args.rigs_dir / f'{name}.toml')}")
    return EXIT_READY


def _description(path: Path) -> str:
    """The rig's ``description`` for the listing, without loading it (its secrets may be absent)."""
    try:
        with open(path, "rb") as handle:
            description = tomllib.load(handle).get("description", "")
    except (OSError, tomllib.TOMLDecodeError):
        return "(unreadable: run `harness rig check` on it)"
    return description if isinstance(description, str) else ""
