"""`harness emulator serve`: run the emulated EZSP radio standalone, for any EZSP host tool.

    harness emulator serve --rig emulated --pty-link /tmp/ncp
    harness emulator serve --rig emulated --tcp 127.0.0.1:9999

The radio (NCP + the rig's virtual devices) runs until Ctrl-C. The first line on stdout is the
port to give the host (bellows' ``device.path``), alone, so a script can read it; a summary of
the session follows on exit. TCP listens on loopback only: the NCP has no authentication.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from harness.rig import RigError, find_rig, load_rig

EXIT_OK = 0
EXIT_USAGE = 2


def register(subparsers) -> None:
    parser = subparsers.add_parser("emulator", help="run the emulated EZSP radio")
    commands = parser.add_subparsers(dest="emulator_command", metavar="SUBCOMMAND", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve an emulated NCP on a pty or a loopback TCP port until Ctrl-C",
        description="Serve an emulated EZSP NCP with the rig's virtual HAN devices until Ctrl-C.",
    )
    serve.add_argument("--rig", default="emulated", metavar="NAME|PATH",
                       help="rig whose [radio.emulated] and devices to emulate (default: emulated)")
    serve.add_argument("--rigs-dir", type=Path, default=Path("rigs"),
                       help="where rig NAMEs are looked up (default: ./rigs)")
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--pty-link", type=Path, metavar="PATH",
                       help="serve the pty at PATH, a symlink that stays the same across a replug "
                            "(default: a fresh link in a directory of its own, removed on exit)")
    where.add_argument("--tcp", metavar="127.0.0.1:PORT",
                       help="listen on a loopback TCP port instead of a pty (host uses tcp://...; "
                            "PORT 0 picks a free one)")
    serve.add_argument("--ezsp-version", type=int, choices=(13, 14),
                       help="override the rig's EZSP protocol version")
    serve.add_argument("--nvram", type=Path, metavar="FILE",
                       help="keep the NCP's NVRAM (formed network, keys) in this JSON file across runs")
    serve.add_argument("--frame-log", type=Path, metavar="FILE",
                       help="append every ASH frame (JSON Lines) to FILE")
    serve.set_defaults(func=run_serve)


def parse_tcp(value: str) -> tuple[str, int]:
    """``HOST:PORT`` with a loopback HOST; raises ValueError naming what is wrong."""
    from harness.emulator.transport import require_loopback

    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"--tcp {value!r}: expected 127.0.0.1:PORT (PORT 0: any free port)")
    require_loopback(host)
    return host, int(port)


def run_serve(args: argparse.Namespace) -> int:
    from harness.emulator.server import EmulatedRadio

    try:
        rig = load_rig(find_rig(args.rig, args.rigs_dir))
        overrides: dict = {}
        if args.tcp:
            host, port = parse_tcp(args.tcp)
            overrides.update(transport="tcp", tcp_host=host, tcp_port=port)
        elif args.pty_link:
            overrides.update(transport="pty", pty_link=args.pty_link)
        if args.ezsp_version:
            overrides["ezsp_version"] = args.ezsp_version
        if args.nvram:
            overrides["nvram_path"] = args.nvram
        if args.frame_log:
            overrides["frame_log_path"] = args.frame_log
        radio = EmulatedRadio(rig, **overrides)
    except (RigError, ValueError) as exc:
        print(f"harness emulator serve: {exc}", file=sys.stderr)
        return EXIT_USAGE

    # Ctrl-C and SIGTERM both ask for a clean stop. Both are handled from before the port is printed:
    # a host may connect and interrupt while the print itself is still returning.
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        with radio:
            print(radio.port, flush=True)
            stop.wait()
            unknown = radio.unknown_commands
    except (OSError, ValueError) as exc:
        print(f"harness emulator serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(f"stopped after {len(radio.frame_log)} frames; unknown commands: "
          f"{', '.join(map(str, unknown)) or 'none'}", file=sys.stderr)
    return EXIT_OK
