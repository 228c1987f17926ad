"""Device profiles (profiles/NAME.toml): what a kind of device is and what it is expected to do.

A profile holds spec knowledge as data with provenance: identity (role, manufacturer code,
image type, hardware version), the attributes the harness reads from the device and the rule
each must meet, the OTA client behaviour to expect, and the SECMP0056 tenancy attributes the
device should read from the hub. Every expectation carries ``source`` and ``confidence`` so a
lab can see -- and correct, without code -- which ones rest on text that was not available.

The format is described in README.md ("Profile files"); parsing is strict (see
:mod:`harness.tomlread`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.tomlread import ConfigError, Table, load_toml
from harness.validators import Equals, InRange, Matches, OneOf, Present, Validator

ROLES = ("IHD", "PPMID", "HCALCS")
UPGRADE_TIMES = ("now", "wait", "at")


class ProfileError(ConfigError):
    """A profile file is wrong: ``<file>: <key.path>: <what was wrong>``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributeExpectation:
    """One attribute the harness reads from the device, and the rule its value must meet."""

    cluster: int
    attribute: int
    name: str
    check: str                     # "present" | "equals" | "in_range" | "one_of" | "matches"
    args: tuple[Any, ...]          # the check's arguments as written: (value,), (min, max), choices, (pattern,)
    validator: Validator
    source: str
    confidence: str

    @property
    def rule(self) -> str:
        return str(self.validator)

    def validate(self, value: Any) -> tuple[bool, str]:
        """``(ok, rule_text)`` for an observed value; ``None`` means the attribute was not read."""
        return bool(self.validator(value)), self.rule


@dataclass(frozen=True, slots=True, kw_only=True)
class OtaClientExpectations:
    """How the device's OTA client should behave and how long the hub waits on it."""

    max_block_size: int = 40           # bytes per Image Block Response; 40 is safe with APS encryption
    upgrade_time: str = "now"          # Upgrade End Response: "now" | "wait" (0xFFFFFFFF) | "at"
    upgrade_delay_s: int = 0           # with "at": seconds after the Upgrade End Response
    require_signature: bool = False    # the device rejects an image without a valid supplier signature
    block_timeout_s: float = 30.0      # stall timer between block requests
    activation_timeout_s: float = 120.0  # from Upgrade End Response to the device reporting the new version
    query_jitter: int = 100            # Image Notify QueryJitter, 1..100
    page_requests: bool = False        # the device uses Image Page Requests
    #: The unit the device counts MinimumBlockPeriod in: "ms" (Gecko SDK) or "s" (EmberZNet 5.7).
    minimum_block_period_unit: str = "ms"
    #: Upgrade End Response modes the device supports ("now", "at", "wait"); tests of the others skip.
    upgrade_time_modes: tuple[str, ...] = ("now",)
    #: After upgrade time 0xFFFFFFFF the device asks again (Upgrade End Request) after this long.
    upgrade_reask_s: float = 3600.0
    source: str
    confidence: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TenancyAttribute:
    """One SECMP0056 Change-of-Tenancy attribute the hub serves and expects the device to read."""

    attribute: int
    name: str
    source: str
    confidence: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TenancyExpectations:
    """SECMP0056: the tenancy attributes the device must read from the hub's GPF endpoint."""

    cluster: int = 0x0708
    entries: tuple[TenancyAttribute, ...]
    read_within_s: float
    source: str
    confidence: str

    @property
    def attributes(self) -> tuple[int, ...]:
        """The attribute ids, in file order."""
        return tuple(entry.attribute for entry in self.entries)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeepAliveExpectations:
    """The device runs the trust-centre keep-alive (Silicon Labs' optional plugin): it reads the
    CH's Keep-Alive server (Base, Jitter) APS-encrypted and keeps its link while it answers."""

    #: From joining to the device's first Keep-Alive read (a real device: Base + Jitter, 2 min + 60 s).
    first_read_within_s: float
    source: str
    confidence: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    name: str
    path: Path
    description: str
    role: str
    manufacturer_code: int
    image_type: int
    hardware_version: int | None
    source: str                # provenance of the identity values above
    confidence: str
    attributes: tuple[AttributeExpectation, ...]
    ota: OtaClientExpectations
    tenancy: TenancyExpectations | None
    #: None: the device does not run the keep-alive plugin (it is optional), so nothing is expected.
    keep_alive: KeepAliveExpectations | None = None


# -- loading -------------------------------------------------------------------------------------


def find_profile(name: str, profiles_dir: Path) -> Path:
    """``profiles_dir/NAME.toml``; raises :class:`ProfileError` listing the profiles there."""
    path = profiles_dir / f"{name}.toml"
    if not path.is_file():
        available = ", ".join(available_profiles(profiles_dir)) or "none"
        raise ProfileError(path, "", f"no profile {name!r} in {profiles_dir} (available: {available})")
    return path


def available_profiles(profiles_dir: Path) -> list[str]:
    return sorted(p.stem for p in profiles_dir.glob("*.toml")) if profiles_dir.is_dir() else []


def load_profile(path: Path) -> Profile:
    """Read and check one profile file; every mistake is a :class:`ProfileError`."""
    path = Path(path).resolve()
    top = Table(load_toml(path, ProfileError), file=path, error=ProfileError)
    profile = Profile(
        name=_file_name(top),
        path=path,
        description=top.text("description", ""),
        role=top.text("role", choices=ROLES),
        manufacturer_code=top.integer("manufacturer_code", min=0, max=0xFFFF, hex_width=4),
        image_type=top.integer("image_type", min=0, max=0xFFFF, hex_width=4),
        hardware_version=top.integer("hardware_version", None, min=0, max=0xFFFF, hex_width=4),
        source=top.text("source"),
        confidence=top.text("confidence"),
        attributes=tuple(_read_attribute(entry) for entry in top.tables("attributes")),
        ota=_read_ota(top.table("ota")),
        tenancy=_read_tenancy(top.table("tenancy")) if top.has("tenancy") else None,
        keep_alive=_read_keep_alive(top.table("keep_alive")) if top.has("keep_alive") else None,
    )
    top.finish()
    return profile


def _file_name(top: Table) -> str:
    """``name`` defaults to the file's stem; when written, it must agree with it.

    Rigs refer to profiles by file name, so a copied file whose ``name`` was not updated would
    otherwise show one name in reports and load under another.
    """
    name = top.text("name", top.file.stem)
    if name != top.file.stem:
        top.fail("name", f"{name!r} does not match the file name {top.file.name!r}")
    return name


def _provenance(table: Table) -> tuple[str, str]:
    """Every expectation says where it comes from and how sure we are of it."""
    return table.text("source"), table.text("confidence")


def _read_attribute(table: Table) -> AttributeExpectation:
    cluster = table.integer("cluster", min=0, max=0xFFFF, hex_width=4)
    attribute = table.integer("attribute", min=0, max=0xFFFF, hex_width=4)
    name = table.text("name")
    check = table.text("check", choices=CHECKS)
    args, validator = CHECKS[check](table)
    source, confidence = _provenance(table)
    table.finish()
    return AttributeExpectation(cluster=cluster, attribute=attribute, name=name, check=check, args=args,
                                validator=validator, source=source, confidence=confidence)


def _scalar(table: Table, key: str) -> Any:
    """An attribute value to compare with: integer, float, string or boolean (not a table/array)."""
    value = table.raw(key)
    if isinstance(value, (dict, list)):
        table.fail(key, "expected a number, string or boolean")
    return value


def _check_present(table: Table) -> tuple[tuple[Any, ...], Validator]:
    return (), Present()


def _check_equals(table: Table) -> tuple[tuple[Any, ...], Validator]:
    value = _scalar(table, "value")
    return (value,), Equals(value)


def _check_in_range(table: Table) -> tuple[tuple[Any, ...], Validator]:
    minimum, maximum = _bound(table, "min"), _bound(table, "max")
    key = "min" if table.has("min") else "max"
    return (minimum, maximum), table.convert(key, (minimum, maximum), lambda bounds: InRange(*bounds))


def _bound(table: Table, key: str) -> int | float | None:
    """An in_range bound keeps its TOML type: an integer prints in hex, a float as written."""
    if isinstance(table.raw(key, None), float):
        return table.number(key)
    return table.integer(key, None)


def _check_one_of(table: Table) -> tuple[tuple[Any, ...], Validator]:
    values = table.raw("values")
    if not isinstance(values, list):
        table.fail("values", "expected an array of values")
    for index, value in enumerate(values):
        if isinstance(value, (dict, list)):
            table.fail(f"values[{index}]", "expected a number, string or boolean")
    choices = tuple(values)
    return choices, table.convert("values", choices, OneOf)


def _check_matches(table: Table) -> tuple[tuple[Any, ...], Validator]:
    pattern = table.text("pattern")
    return (pattern,), table.convert("pattern", pattern, Matches)


#: Check name -> reader of its arguments. A new check is one entry here and one class in
#: :mod:`harness.validators`.
CHECKS: dict[str, Callable[[Table], tuple[tuple[Any, ...], Validator]]] = {
    "present": _check_present,
    "equals": _check_equals,
    "in_range": _check_in_range,
    "one_of": _check_one_of,
    "matches": _check_matches,
}


#: MinimumBlockPeriod units a device may count in (real-device-behaviour.md section 4).
BLOCK_PERIOD_UNITS = ("ms", "s")


def _upgrade_time_modes(table: Table, policy: str) -> tuple[str, ...]:
    """The modes the device supports; the policy the CH uses must be one of them."""
    modes = table.texts("upgrade_time_modes", (policy,))
    for index, mode in enumerate(modes):
        if mode not in UPGRADE_TIMES:
            table.fail(f"upgrade_time_modes[{index}]", f"expected one of {', '.join(UPGRADE_TIMES)}, got {mode!r}")
    if policy not in modes:
        table.fail("upgrade_time_modes", f"must include upgrade_time {policy!r}")
    return tuple(dict.fromkeys(modes))


def _read_ota(table: Table) -> OtaClientExpectations:
    upgrade_time = table.text("upgrade_time", "now", choices=UPGRADE_TIMES)
    upgrade_delay_s = table.integer("upgrade_delay_s", 0, min=0)
    if upgrade_delay_s and upgrade_time != "at":
        table.fail("upgrade_delay_s", f"applies only with upgrade_time = 'at' (upgrade_time is {upgrade_time!r})")
    source, confidence = _provenance(table)
    ota = OtaClientExpectations(
        # 64 is a ceiling to catch typos: an APS-encrypted frame leaves 40-49 bytes of block data.
        max_block_size=table.integer("max_block_size", 40, min=1, max=64),
        upgrade_time=upgrade_time,
        upgrade_delay_s=upgrade_delay_s,
        require_signature=table.flag("require_signature", False),
        block_timeout_s=table.number("block_timeout_s", 30.0, min=0.1),
        activation_timeout_s=table.number("activation_timeout_s", 120.0, min=0.1),
        query_jitter=table.integer("query_jitter", 100, min=1, max=100),  # ZCL OTA: QueryJitter 1..100
        page_requests=table.flag("page_requests", False),
        minimum_block_period_unit=table.text("minimum_block_period_unit", "ms", choices=BLOCK_PERIOD_UNITS),
        upgrade_time_modes=_upgrade_time_modes(table, upgrade_time),
        upgrade_reask_s=table.number("upgrade_reask_s", 3600.0, min=0.1),
        source=source,
        confidence=confidence,
    )
    table.finish()
    return ota


def _read_keep_alive(table: Table) -> KeepAliveExpectations:
    first_read_within_s = table.number("first_read_within_s", 180.0, min=0.1)
    source, confidence = _provenance(table)
    table.finish()
    return KeepAliveExpectations(first_read_within_s=first_read_within_s, source=source, confidence=confidence)


def _read_tenancy(table: Table) -> TenancyExpectations:
    cluster = table.integer("cluster", 0x0708, min=0, max=0xFFFF, hex_width=4)
    read_within_s = table.number("read_within_s", min=0.1)
    source, confidence = _provenance(table)
    entries = []
    for entry in table.tables("attributes"):
        entries.append(TenancyAttribute(
            attribute=entry.integer("attribute", min=0, max=0xFFFF, hex_width=4),
            name=entry.text("name"),
            source=entry.text("source"),
            confidence=entry.text("confidence"),
        ))
        entry.finish()
    if not entries:
        table.fail("attributes", "at least one [[tenancy.attributes]] entry is required")
    table.finish()
    return TenancyExpectations(cluster=cluster, entries=tuple(entries), read_within_s=read_within_s,
                               source=source, confidence=confidence)


__all__ = [
    "ROLES", "AttributeExpectation", "OtaClientExpectations", "Profile", "ProfileError",
    "TenancyAttribute", "TenancyExpectations", "available_profiles", "find_profile", "load_profile",
]
