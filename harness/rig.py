"""Rig files (rigs/NAME.toml): what a test bench is -- radio, HAN, devices under test, images.

A :class:`Rig` is passive, frozen data; the hub and the emulator act on it. Loading is strict
(unknown keys, wrong types and bad values are errors naming file and key path, see
:mod:`harness.tomlread`), secrets are wrapped in :class:`harness.secret.Secret` as they are read,
and the profiles the devices name are loaded with the rig so that a missing one fails here,
naming the device, and not in the middle of a test.

An emulated device's ``behaviour`` must name a registered behaviour (the emulator's own or a
lab's, see :mod:`harness.emulator.devices.behaviours`); an unknown one fails here, naming the key.

Files a rig refers to (images, the supplier key) are build outputs that may be produced after
the rig is written; their existence and contents are a rig CHECK (:mod:`harness.rigcheck`), run
before the first test that uses the rig, not a loading rule.

The format is described in README.md ("Rig files") and rigs/bench1.toml.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, overload

from harness.keys import check_install_code, read_secret
from harness.ports import PortSpec, UsbMatch, parse_port_text
from harness.profiles import ROLES, Profile, ProfileError, available_profiles, load_profile
from harness.secret import Secret
from harness.tomlread import ConfigError, Table, display_path, load_toml

#: The rig used when nothing names one: an emulated radio, no hardware needed.
DEFAULT_RIG = "emulated"
#: Environment variable naming the rig (after --rig and the ini option ``rig``).
RIG_ENV = "HARNESS_RIG"

#: What an image is for; the OTA tests choose images by purpose, never by file name.
IMAGE_PURPOSES = ("upgrade", "current", "wrong-manufacturer", "wrong-image-type", "wrong-hardware",
                  "bad-signature", "corrupted", "downgrade")

#: Capabilities a test may require with ``@pytest.mark.needs(...)``, and what provides each.
CAPABILITIES = {
    "fault_injection": "the radio is emulated, so faults can be injected into the devices",
    "power_control": "the rig switches device power by command or through its labgrid place "
                     "([power] kind = 'command' or 'place')",
}

#: EZSP protocol versions bellows 1.2.1 speaks (v15 does not exist as a release).
EZSP_VERSIONS = (*range(4, 15), *range(16, 20))


class RigError(ConfigError):
    """A rig file is wrong or cannot be found: ``<file>: <key.path>: <what was wrong>``."""


# -- the data ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulatorSettings:
    """How the emulated EZSP radio behaves ([radio.emulated])."""

    ezsp_version: int = 13
    transport: str = "pty"             # "pty" (a real serial device) | "tcp" (tcp://127.0.0.1:PORT)
    uart_baud: int = 0                 # 0 = unthrottled; else bytes are paced as on a UART at this rate
    latency_ms: float = 0.0            # added one-way latency of one hop on the virtual air
    air_loss: float = 0.0              # probability one transmission on the air is lost (APS retries follow)
    frame_loss: float = 0.0            # probability an ASH frame on the serial line is lost
    frame_corruption: float = 0.0      # probability an ASH frame on the serial line is corrupted
    seed: int = 1                      # every random choice of the emulator derives from this
    stack_version: str = "7.4.4.0"     # what VERSION_INFO reports


@dataclass(frozen=True, slots=True, kw_only=True)
class SnifferSettings:
    """A second EZSP stick that captures the HAN's air per test ([radio.sniffer]; real radios only).

    ``write_keys`` is the rig's explicit opt-in to a keys file beside the captures (default: none).
    """

    port: PortSpec
    baudrate: int = 115200
    flow_control: str | None = None
    write_keys: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceRef:
    """A labgrid place that holds the radio ([radio] place = "NAME"); see :mod:`harness.places`."""

    name: str
    coordinator: str | None = None     # host:port; None: $LG_COORDINATOR, else labgrid's default
    serial: str | None = None          # which NetworkSerialPort of the place, when it has several


@dataclass(frozen=True, slots=True, kw_only=True)
class Radio:
    kind: str = "ezsp"
    port: PortSpec | None = None       # None when the radio is emulated or reached through a place
    place: PlaceRef | None = None      # a labgrid place exporting the radio, instead of a port
    baudrate: int = 115200
    flow_control: str | None = None    # "software" | "hardware" | None (bellows' default)
    ezsp_config: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    emulated: EmulatorSettings | None = None
    sniffer: SnifferSettings | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Han:
    channel: int = 15
    pan_id: int | None = None
    extended_pan_id: bytes | None = None
    network_key: Secret | None = None  # None: a fresh key is generated per run
    persistence: Path | None = None    # zigpy database; None: in memory, forgotten after the run


@dataclass(frozen=True, slots=True, kw_only=True)
class HubOptions:
    """The CH's waits a bench may need to change, and its optional ESI endpoint ([hub]).

    A wait left None keeps the hub's default (the real one).
    Defaults (``harness.hub.settings`` / ``harness.hub.key_establishment``) follow Silicon Labs'
    Smart Energy framework (reference/real-device-behaviour.md §2); an emulated rig may shorten them.
    """

    join_window_s: int | None = None            # how long permit-joining stays open (1..254 s)
    join_wait_s: float | None = None            # from opening the window to the device's announce
    interview_s: float | None = None            # from the announce to zigpy having read the descriptors
    cbke_initiate_wait_s: float | None = None   # from the join to the device's Initiate Key Establishment
    cbke_response_margin_s: float | None = None # added to the device's advertised generate times
    cbke_ephemeral_data_generate_time_s: int | None = None  # what the CH advertises (0..254 s)
    cbke_confirm_key_generate_time_s: int | None = None     # what the CH advertises (0..254 s)
    ota_stall_s: float | None = None            # silence after which the CH declares an OTA transfer failed
    #: How long the conformance suite watches for something a device must NOT do (ask for a block of
    #: an image it must refuse, act on an unencrypted command, rejoin while kept alive). None: the
    #: suite's default, meant for real devices; ``--quiet-window`` wins over either.
    quiet_window_s: float | None = None
    esi_endpoint: bool = False                  # an ESI endpoint (DRLC server) for IHDs that need one to register


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceEmulation:
    """How the emulator plays this device ([devices.emulation]; emulated rigs only)."""

    behaviour: str = "conformant"
    firmware_version: int
    hardware_version: int
    manufacturer_name: str
    model: str
    min_block_period_ms: int = 0
    #: The unit the emulated firmware reads MinimumBlockPeriod in: "ms" (Gecko SDK) or "s" (EmberZNet 5.7).
    min_block_period_unit: str = "ms"
    needs_esi: bool = False            # registration needs an ESI (a DRLC server found by broadcast Match_Desc)
    #: The device's own OTA timers (real-device-behaviour.md section 4): re-ask after upgrade time
    #: 0xFFFFFFFF, and the least wait for a concrete upgrade time. An emulated rig shortens them.
    upgrade_reask_s: float = 3600.0
    upgrade_min_wait_s: float = 3.0
    #: Registration's periodic re-run (ESI discovery, time read): 3 h on a real device (reference §3).
    registration_period_s: float = 3 * 3600.0
    #: Delay before the first trust-centre keep-alive check, for a device whose profile runs it
    #: (a real device: Base + Jitter, 2 min + up to 60 s).
    keep_alive_first_s: float = 120.0
    max_data_size: int = 64
    uses_page_requests: bool = False
    page_size: int = 256
    response_spacing_ms: int = 0
    install_code_override: Secret | None = None  # the device's OWN code when its label is wrong


def _holds_private_key(path: Path) -> bool:
    """Whether ``path`` is a PEM private key (a missing file is the rig check's to report)."""
    try:
        return b"PRIVATE KEY-----" in path.read_bytes()[:4096]
    except OSError:
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceUnderTest:
    name: str
    role: str                          # "IHD" | "PPMID" | "HCALCS"
    eui64: bytes                       # 8 bytes, display order ("00:0D:6F:..." -> b"\x00\x0d\x6f...")
    install_code: Secret               # bytes, CRC included, checked at load
    profile: str
    cbke_required: bool = False
    #: The device's GBCS digital-signing certificate (X.509, PEM or DER; never a private key): the
    #: harness verifies the device's signed CS09 with it. None: no CS09 can be verified.
    signing_certificate: Path | None = None
    emulation: DeviceEmulation | None = None

    @property
    def eui64_text(self) -> str:
        return ":".join(f"{b:02X}" for b in self.eui64)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageAssignment:
    name: str
    file: Path                         # absolute; existence is a rig check
    devices: tuple[str, ...]
    purpose: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PowerControl:
    """How device power is switched: by the operator ("manual") or by a command ("command")."""

    kind: str                          # "manual" | "command" | "place" (the labgrid place's power driver)
    on_command: tuple[str, ...] = ()   # argv, for kind = "command"
    off_command: tuple[str, ...] = ()
    settle_s: float = 2.0              # wait after switching on before expecting the device
    resource: str | None = None        # kind = "place": which power resource of the place, when it has several


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorPolicy:
    """What to do when a test needs a manual step (press a button, power-cycle a device).

    ``interactive`` applies when a person is at the terminal; ``non_interactive`` when not (CI,
    no tty), where a prompt would only hang the run.
    """

    interactive: str = "prompt"        # "prompt" | "skip" | "fail"
    non_interactive: str = "skip"      # "skip" | "fail"
    prompt_timeout_s: float = 600.0

    def action(self, *, interactive: bool) -> str:
        return self.interactive if interactive else self.non_interactive


def session_is_interactive(environ: Mapping[str, str] | None = None, stdin=None) -> bool:
    """A person can answer prompts: not under CI (``CI`` set) and stdin is a terminal."""
    environ = os.environ if environ is None else environ
    stdin = sys.stdin if stdin is None else stdin
    return not environ.get("CI") and bool(stdin) and stdin.isatty()


@dataclass(frozen=True, slots=True, kw_only=True)
class Rig:
    name: str
    path: Path
    description: str
    radio: Radio
    han: Han
    devices: tuple[DeviceUnderTest, ...]
    images: tuple[ImageAssignment, ...]
    supplier_key: Path | None
    power: PowerControl | None
    operator: OperatorPolicy
    profiles: Mapping[str, Profile]    # profile name -> Profile, for the profiles the devices name
    hub: HubOptions = HubOptions()

    def device(self, name: str) -> DeviceUnderTest:
        for device in self.devices:
            if device.name == name:
                return device
        raise KeyError(f"rig {self.name!r} has no device {name!r} (devices: {', '.join(d.name for d in self.devices)})")

    def profile_for(self, device: DeviceUnderTest | str) -> Profile:
        device = self.device(device) if isinstance(device, str) else device
        return self.profiles[device.profile]

    def images_for(self, device: DeviceUnderTest | str, purpose: str | None = None) -> tuple[ImageAssignment, ...]:
        name = device if isinstance(device, str) else device.name
        return tuple(image for image in self.images
                     if name in image.devices and (purpose is None or image.purpose == purpose))

    @property
    def capabilities(self) -> frozenset[str]:
        """What this rig can do, for ``@pytest.mark.needs``; see :data:`CAPABILITIES`."""
        found = set()
        if self.radio.emulated is not None:
            found.add("fault_injection")
        if self.power is not None and self.power.kind in ("command", "place"):
            found.add("power_control")
        return frozenset(found)


# -- finding rigs --------------------------------------------------------------------------------


def available_rigs(rigs_dir: Path) -> list[str]:
    return sorted(p.stem for p in Path(rigs_dir).glob("*.toml")) if Path(rigs_dir).is_dir() else []


def looks_like_path(name_or_path: str) -> bool:
    return name_or_path.endswith(".toml") or "/" in name_or_path or os.sep in name_or_path


def find_rig(name_or_path: str, rigs_dir: Path) -> Path:
    """``NAME`` -> ``rigs_dir/NAME.toml``; a path (has a ``/`` or ends in ``.toml``) is used as given.

    An unknown rig raises :class:`RigError` whose one line lists the rigs available.
    """
    if looks_like_path(name_or_path):
        path = Path(os.path.expanduser(name_or_path))
        if not path.is_file():
            raise RigError(path, "", "rig file not found")
        return path
    path = Path(rigs_dir) / f"{name_or_path}.toml"
    if not path.is_file():
        available = ", ".join(available_rigs(rigs_dir)) or f"none (no rig files in {display_path(rigs_dir)})"
        raise RigError(path, "", f"unknown rig {name_or_path!r}; available rigs: {available}")
    return path


def choose_rig(*, option: str | None, ini: str | None, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The rig to use and where that choice came from: ``--rig``, ini ``rig``, ``HARNESS_RIG``, default.

    Each source is skipped only when it is absent (``None``); an empty value is a mistake the
    user should hear about, not a reason to fall through silently.
    """
    environ = os.environ if environ is None else environ
    for value, origin in ((option, "--rig"), (ini, "ini option 'rig'"), (environ.get(RIG_ENV), RIG_ENV)):
        if value is not None:
            if not value.strip():
                raise RigError(origin, "", "is empty; give a rig name (e.g. 'emulated') or a path to a rig file")
            return value.strip(), origin
    return DEFAULT_RIG, "default"


# -- loading -------------------------------------------------------------------------------------


def load_rig(path: Path, *, profiles_dir: Path | None = None, environ: Mapping[str, str] | None = None) -> Rig:
    """Read and check a rig file and the profiles its devices name.

    Profiles come from ``profiles_dir`` when given, else from the file's ``profiles_dir`` key,
    else from ``profiles/`` beside the rig file's directory (``rigs/../profiles``). ``environ``
    (default ``os.environ``) feeds ``env:VAR`` secrets.
    """
    path = Path(path).resolve()
    top = Table(load_toml(path, RigError), file=path, error=RigError)
    reader = _RigReader(top, environ=os.environ if environ is None else environ)
    name = top.text("name", path.stem)
    if name != path.stem:
        top.fail("name", f"{name!r} does not match the file name {path.name!r}")
    description = top.text("description", "")
    written_profiles_dir = top.path("profiles_dir", None)
    profiles_dir = profiles_dir or written_profiles_dir or path.parent.parent / "profiles"
    radio = reader.radio(top.table("radio"))
    han = reader.han(top.table("han") if top.has("han") else Table({}, file=path, error=RigError, where="han"))
    devices = tuple(reader.device(entry, emulated=radio.emulated is not None) for entry in top.tables("devices"))
    _check_unique(top, "devices", [d.name for d in devices])
    _check_unique(top, "devices", [d.eui64_text for d in devices], field="eui64", what="EUI-64")
    images = tuple(reader.image(entry, devices) for entry in top.tables("images"))
    _check_unique(top, "images", [i.name for i in images])
    supplier_key = reader.supplier(top.table("supplier")) if top.has("supplier") else None
    power = reader.power(top.table("power"), radio=radio) if top.has("power") else None
    operator = reader.operator(top.table("operator")) if top.has("operator") else OperatorPolicy()
    hub = reader.hub(top.table("hub")) if top.has("hub") else HubOptions()
    top.finish()
    return Rig(name=name, path=path, description=description, radio=radio, han=han, devices=devices,
               images=images, supplier_key=supplier_key, power=power, operator=operator, hub=hub,
               profiles=MappingProxyType(_load_profiles(top, devices, Path(profiles_dir))))


def _check_unique(top: Table, key: str, values: list[str], *, field: str = "name", what: str = "name") -> None:
    """Each entry's ``field`` differs from every earlier one's (two devices with one EUI-64 are one radio)."""
    seen: dict[str, int] = {}
    for index, value in enumerate(values):
        if value in seen:
            top.fail(f"{key}[{index}].{field}", f"duplicate {what} {value!r} (also {key}[{seen[value]}])")
        seen[value] = index


def _load_profiles(top: Table, devices: tuple[DeviceUnderTest, ...], profiles_dir: Path) -> dict[str, Profile]:
    """Each profile a device names, loaded once; a missing or wrong one names the device."""
    profiles: dict[str, Profile] = {}
    for index, device in enumerate(devices):
        where = f"devices[{index}].profile"
        if device.profile not in profiles:
            candidate = profiles_dir / f"{device.profile}.toml"
            if not candidate.is_file():
                available = ", ".join(available_profiles(profiles_dir)) or "none"
                top.fail(where, f"device {device.name!r} names profile {device.profile!r}, which is not in "
                                f"{display_path(profiles_dir)} (available: {available})")
            try:
                profiles[device.profile] = load_profile(candidate)
            except ProfileError as exc:
                top.fail(where, f"device {device.name!r}: profile {device.profile!r} is invalid: {exc}")
        profile = profiles[device.profile]
        if profile.role != device.role:
            top.fail(where, f"device {device.name!r} has role {device.role} but profile "
                            f"{device.profile!r} is for role {profile.role}")
    return profiles


_EUI64_SEPARATORS = re.compile(r"[:\-\s]")


def parse_eui64(text: str) -> bytes:
    """``00:0D:6F:00:0B:12:34:51`` or ``000D6F000B123451`` -> 8 bytes in display order."""
    digits = _EUI64_SEPARATORS.sub("", text)
    if not re.fullmatch(r"[0-9A-Fa-f]*", digits):
        raise ValueError(f"expected hex digits (e.g. '00:0D:6F:00:0B:12:34:51'), got {text!r}")
    if len(digits) % 2:
        raise ValueError(f"expected 8 bytes (16 hex digits), got an odd number of digits ({len(digits)}): {text!r}")
    if len(digits) != 16:
        raise ValueError(f"expected 8 bytes (16 hex digits), got {len(digits) // 2}: {text!r}")
    return bytes.fromhex(digits)


class _RigReader:
    """The per-section readers of :func:`load_rig`; holds what they share (the environment)."""

    def __init__(self, top: Table, *, environ: Mapping[str, str]) -> None:
        self.top = top
        self.environ = environ

    @overload
    def secret(self, table: Table, key: str, *, length: int | None = None, install_code: bool = False,
               required: Literal[True] = True) -> Secret: ...

    @overload
    def secret(self, table: Table, key: str, *, length: int | None = None, install_code: bool = False,
               required: bool) -> Secret | None: ...

    def secret(self, table: Table, key: str, *, length: int | None = None, install_code: bool = False,
               required: bool = True) -> Secret | None:
        reference = table.text(key, secret=True) if required else table.text(key, None, secret=True)
        if reference is None:
            return None
        try:
            secret = read_secret(reference, base_dir=table.base_dir, length=length, environ=self.environ)
            if install_code:
                check_install_code(secret.reveal_bytes())
        except ValueError as exc:
            table.fail(key, str(exc))
        return secret

    # -- [radio] ----------------------------------------------------------------------------

    def radio(self, table: Table) -> Radio:
        kind = table.text("kind", "ezsp", choices=("ezsp",))
        emulated = self.emulator(table.table("emulated")) if table.has("emulated") else None
        port = self.port(table, "port") if table.has("port") else None
        place = self.place(table)
        if emulated is not None and port is not None:
            table.fail("port", "must not be set with [radio.emulated]: the emulator provides its own port")
        if place is not None and port is not None:
            table.fail("place", "set either 'port' or 'place', not both: a place's radio is reached where "
                                "its exporter serves it")
        if place is not None and emulated is not None:
            table.fail("place", "must not be set with [radio.emulated]: the emulator provides its own port")
        if emulated is None and port is None and place is None:
            table.fail(None, "needs either 'port' (a real radio), 'place' (a labgrid place) or a [radio.emulated] table")
        sniffer = self.sniffer(table.table("sniffer")) if table.has("sniffer") else None
        if sniffer is not None and emulated is not None:
            table.fail("sniffer", "is for real radios: the emulated rig captures its own air")
        config = table.table("ezsp_config", None)
        ezsp_config = {}
        if config is not None:
            for key in config.keys():
                ezsp_config[key] = config.integer(key, min=0, max=0xFFFF)
            config.finish()
        radio = Radio(
            kind=kind,
            port=port,
            baudrate=table.integer("baudrate", 115200, min=1200, max=4_000_000),
            flow_control=table.text("flow_control", None, choices=("software", "hardware")),
            ezsp_config=MappingProxyType(ezsp_config),
            emulated=emulated,
            sniffer=sniffer,
            place=place,
        )
        table.finish()
        return radio

    def sniffer(self, table: Table) -> SnifferSettings:
        settings = SnifferSettings(
            port=self.port(table, "port"),
            baudrate=table.integer("baudrate", 115200, min=1200, max=4_000_000),
            flow_control=table.text("flow_control", None, choices=("software", "hardware")),
            write_keys=table.flag("write_keys", False),
        )
        table.finish()
        return settings

    def place(self, table: Table) -> PlaceRef | None:
        """``place`` (a labgrid place name), with its optional ``coordinator`` and ``place_serial``."""
        if not table.has("place"):
            for key in ("coordinator", "place_serial"):
                if table.has(key):
                    table.fail(key, "only applies with 'place' (a labgrid place)")
            return None
        name = table.text("place", allow_empty=True)
        if not name.strip():
            table.fail("place", "is empty; name the labgrid place that holds this bench's radio "
                                "(`labgrid-client places` lists them)")
        coordinator = table.text("coordinator", None)
        if coordinator is not None and not re.fullmatch(r"[\w.\-\[\]:]+(:\d+)?", coordinator.strip()):
            table.fail("coordinator", f"expected HOST or HOST:PORT of a labgrid coordinator, got {coordinator!r}")
        return PlaceRef(name=name.strip(), coordinator=coordinator.strip() if coordinator else None,
                        serial=table.text("place_serial", None))

    def port(self, table: Table, key: str) -> PortSpec:
        value = table.raw(key)
        if isinstance(value, str):
            return table.convert(key, value, parse_port_text)
        if isinstance(value, dict):
            usb = Table(value, file=table.file, error=table.error, where=table.path_of(key))
            match = UsbMatch(vid=usb.integer("vid", min=0, max=0xFFFF, hex_width=4),
                             pid=usb.integer("pid", min=0, max=0xFFFF, hex_width=4),
                             serial=usb.text("serial", None))
            usb.finish()
            return PortSpec(usb=match)
        table.fail(key, "expected a device path, a tcp:// / rfc2217:// / socket:// URL, "
                        "or a table { vid = 0x10C4, pid = 0xEA60, serial = \"...\" }")

    def emulator(self, table: Table) -> EmulatorSettings:
        version = table.integer("ezsp_version", 13)
        if version not in EZSP_VERSIONS:
            table.fail("ezsp_version", f"{version} is not an EZSP version bellows speaks (4-14, 16-19)")
        stack_version = table.text("stack_version", "7.4.4.0")
        if not re.fullmatch(r"\d+\.\d+\.\d+\.\d+", stack_version):
            table.fail("stack_version", f"expected four numbers like '7.4.4.0', got {stack_version!r}")
        settings = EmulatorSettings(
            ezsp_version=version,
            transport=table.text("transport", "pty", choices=("pty", "tcp")),
            uart_baud=table.integer("uart_baud", 0, min=0),
            latency_ms=table.number("latency_ms", 0.0, min=0.0),
            air_loss=table.number("air_loss", 0.0, min=0.0, max=1.0),
            frame_loss=table.number("frame_loss", 0.0, min=0.0, max=1.0),
            frame_corruption=table.number("frame_corruption", 0.0, min=0.0, max=1.0),
            seed=table.integer("seed", 1),
            stack_version=stack_version,
        )
        table.finish()
        return settings

    # -- [han] ------------------------------------------------------------------------------

    def han(self, table: Table) -> Han:
        extended = table.text("extended_pan_id", None)
        han = Han(
            channel=table.integer("channel", 15, min=11, max=26),
            pan_id=table.integer("pan_id", None, min=0x0000, max=0xFFFE, hex_width=4),
            extended_pan_id=table.convert("extended_pan_id", extended, parse_eui64) if extended is not None else None,
            network_key=self.secret(table, "network_key", length=16, required=False),
            persistence=table.path("persistence", None),
        )
        table.finish()
        return han

    # -- [hub] ------------------------------------------------------------------------------

    def hub(self, table: Table) -> HubOptions:
        timings = HubOptions(
            join_window_s=table.integer("join_window_s", None, min=1, max=254),
            join_wait_s=table.number("join_wait_s", None, min=0.1),
            interview_s=table.number("interview_s", None, min=0.1),
            cbke_initiate_wait_s=table.number("cbke_initiate_wait_s", None, min=0.1),
            cbke_response_margin_s=table.number("cbke_response_margin_s", None, min=0.0),
            cbke_ephemeral_data_generate_time_s=table.integer("cbke_ephemeral_data_generate_time_s", None, min=0,
                                                              max=254),
            cbke_confirm_key_generate_time_s=table.integer("cbke_confirm_key_generate_time_s", None, min=0, max=254),
            ota_stall_s=table.number("ota_stall_s", None, min=0.1),
            quiet_window_s=table.number("quiet_window_s", None, min=0.1),
            esi_endpoint=table.flag("esi_endpoint", False),
        )
        if (timings.join_wait_s is not None and timings.join_window_s is not None
                and timings.join_wait_s > timings.join_window_s):
            table.fail("join_wait_s", f"{timings.join_wait_s:g} s is longer than join_window_s "
                                      f"({timings.join_window_s} s): no device can join once the window has closed")
        table.finish()
        return timings

    # -- [[devices]] ------------------------------------------------------------------------

    def device(self, table: Table, *, emulated: bool) -> DeviceUnderTest:
        name = table.text("name")
        emulation = None
        if table.has("emulation"):
            if not emulated:
                table.fail("emulation", "only applies when the radio is emulated ([radio.emulated])")
            emulation = self.emulation(table.table("emulation"))
        elif emulated:
            table.fail("emulation", f"device {name!r} needs a [devices.emulation] table: the radio is emulated")
        device = DeviceUnderTest(
            name=name,
            role=table.text("role", choices=ROLES),
            eui64=table.convert("eui64", table.text("eui64"), parse_eui64),
            install_code=self.secret(table, "install_code", install_code=True),
            profile=table.text("profile"),
            cbke_required=table.flag("cbke_required", False),
            signing_certificate=table.path("signing_certificate", None),
            emulation=emulation,
        )
        if device.signing_certificate is not None and _holds_private_key(device.signing_certificate):
            table.fail("signing_certificate", f"{device.signing_certificate} holds a private key: name the device's "
                                              "certificate; a private key never belongs in a rig")
        table.finish()
        return device

    def emulation(self, table: Table) -> DeviceEmulation:
        emulation = DeviceEmulation(
            behaviour=self.behaviour(table),
            firmware_version=table.integer("firmware_version", min=0, max=0xFFFFFFFF, hex_width=8),
            hardware_version=table.integer("hardware_version", min=0, max=0xFFFF, hex_width=4),
            manufacturer_name=table.text("manufacturer_name"),
            model=table.text("model"),
            min_block_period_ms=table.integer("min_block_period_ms", 0, min=0, max=0xFFFF),
            min_block_period_unit=table.text("min_block_period_unit", "ms", choices=("ms", "s")),
            needs_esi=table.flag("needs_esi", False),
            upgrade_reask_s=table.number("upgrade_reask_s", 3600.0, min=0.1),
            upgrade_min_wait_s=table.number("upgrade_min_wait_s", 3.0, min=0.0),
            registration_period_s=table.number("registration_period_s", 3 * 3600.0, min=0.01, max=24 * 3600.0),
            keep_alive_first_s=table.number("keep_alive_first_s", 120.0, min=0.0),
            max_data_size=table.integer("max_data_size", 64, min=1, max=255),
            uses_page_requests=table.flag("uses_page_requests", False),
            page_size=table.integer("page_size", 256, min=1, max=0xFFFF),
            response_spacing_ms=table.integer("response_spacing_ms", 0, min=0, max=0xFFFF),
            install_code_override=self.secret(table, "install_code_override", install_code=True, required=False),
        )
        table.finish()
        return emulation

    def behaviour(self, table: Table) -> str:
        """The emulated behaviour's name, which must be registered (the package's own or a lab's)."""
        # Imported here: the registry lives with the emulated devices (and zigpy), which only a rig
        # with emulated devices needs; importing the plugin must not load the radio stack.
        from harness.emulator.devices.behaviours import BehaviourError, UnknownBehaviourError, behaviour_class

        name = table.text("behaviour", "conformant")
        try:
            behaviour_class(name)
        except (UnknownBehaviourError, BehaviourError) as exc:
            table.fail("behaviour", str(exc))
        return name

    # -- [[images]], [supplier], [power], [operator] -----------------------------------------

    def image(self, table: Table, devices: tuple[DeviceUnderTest, ...]) -> ImageAssignment:
        known = [d.name for d in devices]
        image = ImageAssignment(
            name=table.text("name"),
            file=table.path("file"),
            devices=table.texts("devices"),
            purpose=table.text("purpose", choices=IMAGE_PURPOSES),
        )
        for index, device in enumerate(image.devices):
            if device not in known:
                table.fail(f"devices[{index}]", f"no device named {device!r} in this rig (devices: {', '.join(known) or 'none'})")
        table.finish()
        return image

    def supplier(self, table: Table) -> Path:
        key = table.path("verification_key")
        table.finish()
        return key

    def power(self, table: Table, *, radio: Radio) -> PowerControl:
        kind = table.text("kind", choices=("manual", "command", "place"))
        on = table.texts("on_command", ())
        off = table.texts("off_command", ())
        resource = table.text("resource", None)
        if kind == "place" and radio.place is None:
            table.fail("kind", "'place' switches power through the rig's labgrid place; [radio] names no place")
        if kind != "place" and resource is not None:
            table.fail("resource", "only applies with kind = 'place'")
        if kind == "place" and (on or off):
            table.fail("on_command" if on else "off_command", "not used with kind = 'place'")
        if kind == "command" and not (on and off):
            table.fail("on_command" if not on else "off_command", "required with kind = 'command' (an argv array)")
        if kind == "manual" and (on or off):
            table.fail("on_command" if on else "off_command", "not used with kind = 'manual'")
        power = PowerControl(kind=kind, on_command=on, off_command=off,
                             settle_s=table.number("settle_s", 2.0, min=0.0), resource=resource)
        table.finish()
        return power

    def operator(self, table: Table) -> OperatorPolicy:
        policy = OperatorPolicy(
            interactive=table.text("interactive", "prompt", choices=("prompt", "skip", "fail")),
            non_interactive=table.text("non_interactive", "skip", choices=("skip", "fail")),
            prompt_timeout_s=table.number("prompt_timeout_s", 600.0, min=1.0),
        )
        table.finish()
        return policy
