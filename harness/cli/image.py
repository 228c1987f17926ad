"""``harness image``: build, inspect and verify OTA images, and rebuild the samples.

Exit codes (scripts may rely on them):

    0  success (built; inspected; signature VALID; samples up to date)
    1  verification failed: signature INVALID or ABSENT, hardware out of range, or
       ``build-samples --check`` found a file that differs
    2  bad input or usage: malformed image, unreadable file, bad key, bad option

Errors are one line on stderr naming the file and the problem; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

from harness.ota import (
    GbcsUpgradeImage,
    ImageFile,
    Layout,
    OtaError,
    OtaImage,
    SignatureStatus,
    SubElement,
    Tag,
    sign_manufacturer_image,
    verify,
)
from harness.ota.header import HEX_DIGITS, FieldControl
from harness.ota.samples import SAMPLES, build_samples
from harness.secret import Secret

EXIT_OK = 0
EXIT_VERIFY_FAILED = 1
EXIT_BAD_INPUT = 2

#: Where ``build-samples`` writes by default: the repository's firmware_images/.
DEFAULT_SAMPLES_DIR = Path(__file__).resolve().parents[2] / "firmware_images"
#: The emulated rigs whose PPMIDs get a TEST-ONLY signing certificate from ``build-samples``.
EMULATED_RIGS = ("emulated.toml", "emulated-defects.toml")


def _emulated_signers() -> list[bytes]:
    """The EUI-64 of every PPMID in the repository's emulated rigs (they sign their CS09)."""
    rigs = DEFAULT_SAMPLES_DIR.parent / "rigs"
    signers: list[bytes] = []
    for name in EMULATED_RIGS:
        try:
            data = tomllib.loads((rigs / name).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InputError(f"{rigs / name}: cannot read the emulated rig: {exc}") from None
        for device in data.get("devices", []):
            if device.get("role") == "PPMID":
                signers.append(_eui64(str(device.get("eui64", ""))))
    return signers


class InputError(Exception):
    """Bad input the user can fix: reported as one line, exit code 2."""


# -- argument types ------------------------------------------------------------------------


def _number(bits: int):
    """An argparse type: decimal or 0x-hex, fitting in ``bits`` bits."""

    def parse(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number (decimal or 0x hex): {text!r}") from None
        if not 0 <= value < 1 << bits:
            raise argparse.ArgumentTypeError(f"{text} does not fit in {bits} bits")
        return value

    parse.__name__ = f"{bits}-bit number"
    return parse


def _eui64(text: str) -> bytes:
    """An EUI-64 as printed (display order): ``00:0D:6F:00:0B:12:34:51`` or 16 hex digits."""
    digits = text.replace(":", "").replace("-", "")
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        raw = b""
    if len(raw) != 8:
        raise argparse.ArgumentTypeError(f"expected an EUI-64 (8 bytes, e.g. 00:0D:6F:00:0B:12:34:51), got {text!r}")
    return raw


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


# -- sub-commands ----------------------------------------------------------------------------


def _build(args: argparse.Namespace) -> int:
    gbcs = args.layout == Layout.GBCS.value
    hw = (args.hw_min, args.hw_max)
    if (args.hw_min is None) != (args.hw_max is None):
        raise InputError("--hw-min and --hw-max go together")
    if args.hw_min is not None and args.hw_min > args.hw_max:
        raise InputError(f"--hw-min {args.hw_min:#06x} is above --hw-max {args.hw_max:#06x}")
    if gbcs:
        if args.hw_min is None:
            raise InputError("--layout gbcs needs --hw-min and --hw-max (GBCS headers carry the hardware range)")
        if args.destination is not None or args.security_credential_version is not None:
            raise InputError(
                "--layout gbcs has a 60-byte header with only the hardware range: "
                "--destination/--security-credential-version need --layout tagged"
            )
    elif args.sign is not None:
        raise InputError("--sign makes a GBCS supplier signature: use --layout gbcs")
    payload = _read(args.payload)
    if gbcs:
        if args.sign is not None:
            key = Secret(_read(args.sign), origin=f"file:{args.sign}")
            try:
                body: GbcsUpgradeImage | tuple[SubElement, ...] = sign_manufacturer_image(
                    payload, key, force_replace=args.force_replace
                )
            except OtaError as exc:
                raise InputError(f"{args.sign}: {exc}") from None
        else:
            body = GbcsUpgradeImage(payload)
    else:
        body = (SubElement(Tag.UPGRADE_IMAGE, payload),)
    try:
        image = OtaImage.build(
            body,
            manufacturer_code=args.manufacturer,
            image_type=args.image_type,
            file_version=args.file_version,
            stack_version=args.stack_version,
            header_string=args.header_string,
            security_credential_version=args.security_credential_version,
            destination=args.destination,
            hardware_range=hw if args.hw_min is not None else None,
        )
    except OtaError as exc:
        raise InputError(str(exc)) from None
    data = image.to_bytes()
    try:
        args.output.write_bytes(data)
    except OSError as exc:
        raise InputError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    print(f"{args.output}: {len(data)} bytes, {image.layout.value}, sha256 {image.sha256}")
    return EXIT_OK


def describe(image: ImageFile) -> dict[str, object]:
    """What ``inspect`` shows, as plain JSON-able values (ints stay ints, bytes become hex)."""
    h = image.header
    info: dict[str, object] = {
        "file": str(image.path),
        "size": image.size,
        "sha256": image.sha256,
        "layout": image.layout.value,
    }
    for name, value in h.as_dict().items():
        info[name] = value.hex() if isinstance(value, bytes) and name != "header_string" else value
    info["header_string"] = h.header_text
    info["header_string_hex"] = h.header_string.hex()
    if image.layout is Layout.GBCS:
        offset, length = image.manufacturer_image_span  # type: ignore[misc]
        info["signed"] = image.signature is not None
        info["manufacturer_image_offset"] = offset
        info["manufacturer_image_length"] = length
        info["manufacturer_image_hash"] = image.manufacturer_image_hash.hex()  # type: ignore[union-attr]
        info["force_replace"] = image.force_replace
        info["signature"] = image.signature.hex() if image.signature else None
    else:
        info["elements"] = [
            {"index": s.index, "tag": s.tag, "name": s.name, "offset": s.offset, "length": s.length}
            for s in image.element_spans
        ]
    return info


#: The header's codes and versions, plus the GBCS force-replace byte.
_HEX_WIDTHS = {**HEX_DIGITS, "force_replace": 2}


def render_table(info: dict[str, object]) -> str:
    lines = []
    for key, value in info.items():
        if key in ("elements", "header_string_hex"):  # listed below / JSON only
            continue
        if value is None:
            continue
        if key in _HEX_WIDTHS and isinstance(value, int):
            text = f"{value:#0{_HEX_WIDTHS[key] + 2}x}"
            if key == "field_control":
                names = [f.name for f in FieldControl if value & f and f.name]
                text += f" ({' | '.join(names) or 'no optional fields'})"
        elif key == "header_string":
            text = repr(value)
        elif key == "destination":
            text = ":".join(f"{b:02X}" for b in bytes.fromhex(str(value)))
        else:
            text = str(value)
        lines.append(f"{key:<28} {text}")
    elements = info.get("elements", [])
    for element in elements if isinstance(elements, list) else []:
        lines.append(
            f"{'element[' + str(element['index']) + ']':<28} {element['name']} (tag {element['tag']:#06x}), "
            f"{element['length']} bytes at offset {element['offset']}"
        )
    return "\n".join(lines)


def _open(path: Path, layout: str | None) -> ImageFile:
    try:
        return ImageFile.open(path, layout=Layout(layout) if layout else None)
    except OtaError as exc:
        raise InputError(str(exc)) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _inspect(args: argparse.Namespace) -> int:
    with _open(args.file, args.layout) as image:
        info = describe(image)
    print(json.dumps(info, indent=2) if args.json else render_table(info))
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    public_pem = _read(args.key)
    with _open(args.file, args.layout) as image:
        try:
            status = verify(image, public_pem)
        except OtaError as exc:
            raise InputError(f"{args.key}: {exc}") from None
        header = image.header
        result = EXIT_OK
        if status is SignatureStatus.VALID:
            print(f"{args.file}: signature VALID with {args.key}")
        elif status is SignatureStatus.INVALID:
            print(f"{args.file}: signature INVALID: does not verify with {args.key}")
            result = EXIT_VERIFY_FAILED
        else:
            print(f"{args.file}: signature ABSENT: the image carries no supplier signature")
            result = EXIT_VERIFY_FAILED
        if args.hardware_version is not None:
            from harness.ota import hardware_in_range

            if hardware_in_range(header, args.hardware_version):
                print(f"{args.file}: hardware {args.hardware_version:#06x} in range")
            else:
                print(
                    f"{args.file}: hardware {args.hardware_version:#06x} OUT OF RANGE "
                    f"{header.min_hardware_version:#06x}-{header.max_hardware_version:#06x}"
                )
                result = EXIT_VERIFY_FAILED
    return result


def _build_samples(args: argparse.Namespace) -> int:
    from harness.emulator.devices.signing import certificate_files

    out: Path = args.out
    files = build_samples() | certificate_files(_emulated_signers())
    if args.check:
        stale = []
        for name, data in files.items():
            path = out / name
            try:
                same = path.read_bytes() == data
            except OSError:
                same = False
            if not same:
                stale.append(name)
        for name in stale:
            print(f"{out / name}: differs from a fresh build (run: harness image build-samples)")
        if not stale:
            print(f"{out}: {len(files)} files up to date")
        return EXIT_VERIFY_FAILED if stale else EXIT_OK
    for name, data in files.items():
        path = out / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except OSError as exc:
            raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
        print(f"{path}: {len(data)} bytes")
    return EXIT_OK


# -- registration ------------------------------------------------------------------------------


def _guarded(func):
    """Turn anticipated errors into one stderr line and exit code 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except InputError as exc:
            print(f"harness image {args.image_command}: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT

    return run


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "image",
        help="build, inspect and verify OTA images",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="image_command", metavar="COMMAND", required=True)
    layouts = [layout.value for layout in Layout]

    build = commands.add_parser(
        "build",
        help="build an OTA image around a payload",
        description="Build an OTA image. Numbers may be decimal or 0x-prefixed hex. The default "
        "layout, gbcs, is a 60-byte header with the hardware range over the payload, followed "
        "by the supplier signature when --sign is given.",
    )
    build.add_argument("--manufacturer", type=_number(16), required=True, help="manufacturer code")
    build.add_argument("--image-type", type=_number(16), required=True)
    build.add_argument("--file-version", type=_number(32), required=True)
    build.add_argument("--stack-version", type=_number(16), default=0x0002, help="default 0x0002 (Zigbee PRO)")
    build.add_argument("--header-string", default="", help="up to 32 bytes of UTF-8")
    build.add_argument("--hw-min", type=_number(16), help="minimum hardware version (with --hw-max)")
    build.add_argument("--hw-max", type=_number(16), help="maximum hardware version (with --hw-min)")
    build.add_argument("--destination", type=_eui64, metavar="EUI64", help="device-specific file (tagged only)")
    build.add_argument("--security-credential-version", type=_number(8), help="(tagged only)")
    build.add_argument("--payload", type=Path, required=True, metavar="FILE", help="manufacturer image / firmware")
    build.add_argument("--sign", type=Path, metavar="KEY.pem", help="supplier private key (P-256 PEM); gbcs only")
    build.add_argument("--force-replace", type=_number(8), default=0, help="GBCS byte before the signature")
    build.add_argument("--layout", choices=layouts, default=Layout.GBCS.value, help="default gbcs")
    build.add_argument("-o", "--output", type=Path, required=True, metavar="OUT")
    build.set_defaults(func=_guarded(_build))

    inspect = commands.add_parser("inspect", help="show an image's header and structure")
    inspect.add_argument("file", type=Path, metavar="FILE")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    inspect.add_argument("--layout", choices=layouts, help="override layout detection")
    inspect.set_defaults(func=_guarded(_inspect))

    verify_ = commands.add_parser("verify", help="check the supplier signature (exit 1 if it fails)")
    verify_.add_argument("file", type=Path, metavar="FILE")
    verify_.add_argument("--key", type=Path, required=True, metavar="PUB.pem", help="supplier public key")
    verify_.add_argument("--hardware-version", type=_number(16), help="also check the header's hardware range")
    verify_.add_argument("--layout", choices=layouts, help="override layout detection")
    verify_.set_defaults(func=_guarded(_verify))

    samples = commands.add_parser(
        "build-samples",
        help="rebuild firmware_images/ (byte-identical every time)",
        description="Samples: " + ", ".join(s.name for s in SAMPLES),
    )
    samples.add_argument("--out", type=Path, default=DEFAULT_SAMPLES_DIR, metavar="DIR")
    samples.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 if stale")
    samples.set_defaults(func=_guarded(_build_samples))
