"""Named settings of an emulated device: who it is (identity) and how fast it lives (timings).

Identity mirrors what a rig says about a device under test (DeviceUnderTest + its DeviceEmulation
+ the Profile's manufacturer code / image type / tenancy list); :func:`settings_from_rig` builds
it from those objects. Timings are separate so a test can scale them without touching identity.
Defaults keep CI fast (milliseconds); a real device takes seconds, which a test can ask for.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import zigpy.types as t

from harness.secret import Secret

Role = Literal["IHD", "PPMID", "HCALCS"]
#: The unit a client counts MinimumBlockPeriod in: milliseconds (Gecko SDK, ZCL OTA rev 3) or
#: seconds (EmberZNet 5.7); real-device-behaviour.md section 4.
BlockPeriodUnit = Literal["ms", "s"]
#: Seconds per MinimumBlockPeriod unit.
BLOCK_PERIOD_UNIT_S: dict[str, float] = {"ms": 0.001, "s": 1.0}
#: After Upgrade End Response upgrade time 0xFFFFFFFF the client asks again after 1 h, and a
#: concrete upgrade time is waited for no less than 3 s (real-device-behaviour.md section 4,
#: ``upgradeEndResponseParse`` / ``calculateTimer``). Defaults; an emulated rig shortens them.
UPGRADE_REASK_S = 3600.0
UPGRADE_MIN_WAIT_S = 3.0

#: ZCL cluster ids used by the devices (ZCL / ZSE 1.x).
BASIC = 0x0000
IDENTIFY = 0x0003
TIME = 0x000A
OTA = 0x0019
PREPAYMENT = 0x0705
METERING = 0x0702
DEVICE_MANAGEMENT = 0x0708
KEY_ESTABLISHMENT = 0x0800
TUNNELING = 0x0704

#: Server / client clusters on a device's SE endpoint, per role (brief for issue #3; ZSE 1.x device descriptions).
#: Tunneling's server is where the CHF opens its GBCS tunnel after CBKE (reference §7); an IHD holds
#: it too, unused (the CHF asks only PPMIDs and HCALCSs).
SERVER_CLUSTERS: tuple[int, ...] = (BASIC, IDENTIFY, KEY_ESTABLISHMENT, TUNNELING)
CLIENT_CLUSTERS: dict[str, tuple[int, ...]] = {
    "IHD": (OTA, TIME, DEVICE_MANAGEMENT, METERING),
    "PPMID": (OTA, TIME, DEVICE_MANAGEMENT, PREPAYMENT),
    "HCALCS": (OTA, TIME, DEVICE_MANAGEMENT),
}
#: ZSE device ids (Silicon Labs ``ami-devices.xml``; reference/real-device-behaviour.md §6): an IHD is
#: the In-Premises Display 0x0502, a PPMID the Prepayment Terminal 0x0506 (the reference marks the
#: GB choice as inferred), an HCALCS a Load Control device 0x0504.
DEVICE_IDS: dict[str, int] = {"IHD": 0x0502, "PPMID": 0x0506, "HCALCS": 0x0504}

#: How a device reads MinimumBlockPeriod: milliseconds (Gecko SDK builds) or seconds (EmberZNet 5.7),
#: set by the build option ``EMBER_AF_PLUGIN_OTA_CLIENT_MIN_BLOCK_PERIOD_UNITS`` (reference §4).

#: SECMP0056 tenancy attributes of the GPF's Device Management server (domain-notes §2, confidence L).
DEFAULT_TENANCY_ATTRIBUTES: tuple[int, ...] = (0x0200, 0x0201)


#: Silicon Labs' default registration period (ESI discovery, binding, time read), reference §3.
REGISTRATION_PERIOD_S = 3 * 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceTimings:
    """Every delay a device applies, named so tests scale them instead of patching globals."""

    #: Offline time of a reboot (activation or ``device.reboot()``) before the device rejoins.
    reboot_s: float = 0.05
    #: How long a request (Query Next Image, Image Block, Upgrade End, Read Attributes) waits for its answer.
    response_timeout_s: float = 1.5
    #: Re-sends of an unanswered request before the device gives up (ImageUpgradeStatus back to Normal).
    request_retries: int = 4
    #: Pause between join attempts while permit-joining is open and the device is still outside.
    join_retry_s: float = 0.5
    #: Pause after joining/rejoining before the device reads tenancy data and resumes a download.
    after_join_s: float = 0.01
    #: Periodic tenancy re-read (None = off, the default).
    tenancy_poll_s: float | None = None
    #: Periodic Query Next Image (None = off: the device queries when it receives Image Notify).
    query_interval_s: float | None = None
    #: With page requests: silence after which the missing part of a page is re-requested.
    page_timeout_s: float = 0.5
    #: Registration's periodic re-run: ESI discovery (where the device needs one) and the time read
    #: repeat every 3 h on a real device (``..._ESI_DISCOVERY_PERIOD``, reference §3 item 7). Devices
    #: built from a rig take the rig's ``registration_period_s`` (default: that 3 h, see
    #: :func:`timings_from_rig`). None = only after joining.
    time_resync_s: float | None = None
    #: Trust-centre keep-alive (an optional Silicon Labs plugin): the delay before the first check,
    #: None = the device does not run it. A real device waits Base + Jitter (2 min + up to 60 s).
    keep_alive_first_s: float | None = None
    #: How long the device takes to generate its ephemeral key and to compute the shared secret in
    #: CBKE (a real 283k1 device takes seconds; CI keeps it short).
    cbke_compute_s: float = 0.0
    #: Multiplies every wait a SERVER or an attribute dictates (WAIT_FOR_DATA request time, upgrade
    #: time, MinimumBlockPeriod, response spacing): 1.0 = real time; tests use e.g. 0.01.
    time_scale: float = 1.0

    @property
    def longest_own_pause_s(self) -> float:
        """The longest a conformant device waits of its own accord before its next act, on a HAN
        that loses no frames: after joining, while rebooting into a new image, before re-asking
        for the rest of a page. Past it, a device that has not acted is not going to (short of a
        lost frame: ``response_timeout_s`` covers that). What a test watching for an act -- or
        for its absence -- on an emulated HAN need wait, plus the time to carry the frames."""
        return max(self.after_join_s, self.reboot_s, self.page_timeout_s)

    def scaled(self, factor: float) -> DeviceTimings:
        """All own delays multiplied by ``factor`` (server-dictated waits keep ``time_scale``)."""
        return replace(
            self,
            reboot_s=self.reboot_s * factor,
            response_timeout_s=self.response_timeout_s * factor,
            join_retry_s=self.join_retry_s * factor,
            after_join_s=self.after_join_s * factor,
            page_timeout_s=self.page_timeout_s * factor,
            tenancy_poll_s=None if self.tenancy_poll_s is None else self.tenancy_poll_s * factor,
            time_resync_s=None if self.time_resync_s is None else self.time_resync_s * factor,
            keep_alive_first_s=None if self.keep_alive_first_s is None else self.keep_alive_first_s * factor,
            cbke_compute_s=self.cbke_compute_s * factor,
            query_interval_s=None if self.query_interval_s is None else self.query_interval_s * factor,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceSettings:
    """Who the device is and what its firmware does; frozen, so a running device never drifts."""

    name: str
    role: Role
    eui64: bytes  # 8 bytes, display order ("00:0D:6F:..." -> b"\x00\x0d\x6f...")
    install_code: Secret  # the device's OWN install code, with CRC
    manufacturer_code: int
    image_type: int
    firmware_version: int
    hardware_version: int
    manufacturer_name: str
    model: str
    behaviour: str = "conformant"
    stack_version: int = 0x0002  # ZigBee PRO, as in the OTA header
    power_source: int = 0x01  # Basic PowerSource: mains (single phase)
    endpoint: int = 1
    #: The MinimumBlockPeriod attribute's initial raw value, counted in ``min_block_period_unit``.
    min_block_period_ms: int = 0
    #: The unit this device's firmware reads MinimumBlockPeriod in ("ms" or "s").
    min_block_period_unit: BlockPeriodUnit = "ms"
    #: Registration needs an ESI: the device has a Price, DRLC or Messaging client (reference §3).
    needs_esi: bool = False
    #: Upgrade time 0xFFFFFFFF ("wait"): re-send Upgrade End Request after this many seconds.
    upgrade_reask_s: float = UPGRADE_REASK_S
    #: A concrete upgrade time T is applied no sooner than this many seconds after the response.
    upgrade_min_wait_s: float = UPGRADE_MIN_WAIT_S
    max_data_size: int = 64
    uses_page_requests: bool = False
    page_size: int = 256
    response_spacing_ms: int = 0
    #: Further images the device needs after a valid one (answers REQUIRE_MORE_IMAGE that many times).
    requires_more_images: int = 0
    #: PEM of the supplier verification key the device trusts (None = it cannot check supplier signatures).
    supplier_public_key: Path | bytes | None = None
    #: Refuse an image without a valid supplier signature (GBCS supplier-signed layout).
    require_supplier_signature: bool = False
    #: GB devices refuse the well-known key 'ZigBeeAlliance09'.
    accepts_well_known_key: bool = False
    #: Runs CBKE (Key Establishment, Crypto Suite 2) with the trust centre after a fresh join, and
    #: leaves if it fails (rig ``cbke_required``; see devices/key_establishment.py).
    cbke_required: bool = False
    tenancy_attributes: tuple[int, ...] = DEFAULT_TENANCY_ATTRIBUTES
    #: More attributes to hold: {(cluster, is_server, attr_id): (zigpy type, value)}.
    extra_attributes: dict[tuple[int, bool, int], tuple[type, Any]] = field(default_factory=dict)
    lqi: int = 220
    rssi: int = -45

    def __post_init__(self) -> None:
        where = f"device {self.name!r}"
        if len(self.eui64) != 8:
            raise ValueError(f"{where}: eui64 must be 8 bytes, got {len(self.eui64)}")
        if self.role not in CLIENT_CLUSTERS:
            raise ValueError(f"{where}: role must be one of {sorted(CLIENT_CLUSTERS)}, got {self.role!r}")
        if self.min_block_period_unit not in ("ms", "s"):
            raise ValueError(f"{where}: min_block_period_unit must be 'ms' or 's', got {self.min_block_period_unit!r}")
        if not 1 <= self.max_data_size <= 255:
            raise ValueError(f"{where}: max_data_size must be 1..255, got {self.max_data_size}")
        if self.min_block_period_unit not in BLOCK_PERIOD_UNIT_S:
            raise ValueError(f"{where}: min_block_period_unit must be 'ms' or 's', got {self.min_block_period_unit!r}")
        if self.upgrade_reask_s <= 0 or self.upgrade_min_wait_s < 0:
            raise ValueError(f"{where}: upgrade_reask_s must be > 0 and upgrade_min_wait_s >= 0")
        if self.uses_page_requests and self.page_size < self.max_data_size:
            raise ValueError(f"{where}: page_size {self.page_size} is smaller than max_data_size {self.max_data_size}")
        for label, value, bits in (
            ("manufacturer_code", self.manufacturer_code, 16),
            ("image_type", self.image_type, 16),
            ("firmware_version", self.firmware_version, 32),
            ("hardware_version", self.hardware_version, 16),
            ("min_block_period_ms", self.min_block_period_ms, 16),
        ):
            if not 0 <= value < 1 << bits:
                raise ValueError(f"{where}: {label} must fit in {bits} bits, got {value!r}")

    def supplier_key_pem(self) -> bytes | None:
        if self.supplier_public_key is None:
            return None
        if isinstance(self.supplier_public_key, bytes):
            return self.supplier_public_key
        try:
            return Path(self.supplier_public_key).read_bytes()
        except OSError as exc:
            raise ValueError(f"device {self.name!r}: supplier_public_key: cannot read {self.supplier_public_key}: {exc}") from exc


def _value_for(check: str, args: tuple[Any, ...]) -> Any | None:
    """A value that satisfies an expectation (the conformant device passes its own profile)."""
    if check == "equals" and args:
        return args[0]
    if check == "one_of" and args:
        first = args[0]
        return first[0] if isinstance(first, (list, tuple)) and first else first
    if check == "in_range" and len(args) == 2:
        return args[0]
    return None


def attributes_from_profile(profile: Any, role: str) -> dict[tuple[int, bool, int], tuple[type, Any]]:
    """Attributes the profile expects that a device must hold beyond its standard set.

    Standard attributes (Basic identity, OTA client) are defined by the store from the device's
    own identity and take precedence; these fill the gaps so a conformant device answers every
    attribute its profile names. ``present`` checks on unknown attributes give no value to invent,
    so those stay unsupported (and the hub's report says so).
    """
    extras: dict[tuple[int, bool, int], tuple[type, Any]] = {}
    for expectation in getattr(profile, "attributes", ()):
        value = _value_for(expectation.check, tuple(expectation.args))
        if value is None:
            continue
        is_server = expectation.cluster in SERVER_CLUSTERS or expectation.cluster not in CLIENT_CLUSTERS.get(role, ())
        if isinstance(value, str):
            type_: type = t.CharacterString
        elif isinstance(value, bool):
            type_ = t.Bool
        elif isinstance(value, int) and 0 <= value <= 0xFF:
            type_ = t.uint8_t
        elif isinstance(value, int) and 0 <= value <= 0xFFFF:
            type_ = t.uint16_t
        elif isinstance(value, int) and 0 <= value <= 0xFFFFFFFF:
            type_ = t.uint32_t
        else:
            continue
        extras[(expectation.cluster, is_server, expectation.attribute)] = (type_, value)
    return extras


def timings_from_rig(dut: Any, profile: Any) -> DeviceTimings:
    """DeviceTimings from a rig device's ``[devices.emulation]`` and its profile (duck-typed, as
    :func:`settings_from_rig`): the registration period, and the keep-alive client's first check
    for a device whose profile says it runs the (optional) keep-alive plugin."""
    emulation = getattr(dut, "emulation", None)
    runs_keep_alive = getattr(profile, "keep_alive", None) is not None
    return DeviceTimings(
        time_resync_s=float(getattr(emulation, "registration_period_s", REGISTRATION_PERIOD_S)),
        keep_alive_first_s=float(getattr(emulation, "keep_alive_first_s", 120.0)) if runs_keep_alive else None,
    )


def settings_from_rig(dut: Any, profile: Any, *, supplier_key: Path | None = None, **overrides: Any) -> DeviceSettings:
    """DeviceSettings from a rig ``DeviceUnderTest`` (with ``.emulation``) and its ``Profile``.

    Duck-typed on the field names of the rig/profile contract, so it does not import harness.rig.
    The emulated device's own install code is ``emulation.install_code_override`` when set (a device
    whose label is wrong), else the rig's. ``overrides`` replace any field (e.g. ``max_data_size``).
    """
    emulation = getattr(dut, "emulation", None)
    if emulation is None:
        raise ValueError(f"device {dut.name!r}: the rig gives no [devices.emulation] table, so it cannot be emulated")
    install_code = getattr(emulation, "install_code_override", None) or dut.install_code
    ota = getattr(profile, "ota", None)
    tenancy = getattr(profile, "tenancy", None)
    values: dict[str, Any] = dict(
        name=dut.name,
        role=dut.role,
        eui64=bytes(dut.eui64),
        install_code=install_code if isinstance(install_code, Secret) else Secret(bytes(install_code)),
        manufacturer_code=profile.manufacturer_code,
        image_type=profile.image_type,
        firmware_version=emulation.firmware_version,
        hardware_version=emulation.hardware_version,
        manufacturer_name=emulation.manufacturer_name,
        model=emulation.model,
        behaviour=emulation.behaviour,
        min_block_period_ms=emulation.min_block_period_ms,
        min_block_period_unit=getattr(emulation, "min_block_period_unit", "ms"),
        needs_esi=bool(getattr(emulation, "needs_esi", False)),
        upgrade_reask_s=getattr(emulation, "upgrade_reask_s", UPGRADE_REASK_S),
        upgrade_min_wait_s=getattr(emulation, "upgrade_min_wait_s", UPGRADE_MIN_WAIT_S),
        max_data_size=emulation.max_data_size,
        uses_page_requests=emulation.uses_page_requests,
        page_size=emulation.page_size,
        response_spacing_ms=emulation.response_spacing_ms,
        supplier_public_key=supplier_key,
        require_supplier_signature=bool(supplier_key is not None and getattr(ota, "require_signature", False)),
        cbke_required=bool(getattr(dut, "cbke_required", False)),
    )
    if tenancy is not None and getattr(tenancy, "attributes", None):
        values["tenancy_attributes"] = tuple(tenancy.attributes)
    values["extra_attributes"] = attributes_from_profile(profile, dut.role)
    values.update(overrides)
    return DeviceSettings(**values)
