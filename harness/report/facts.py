"""The facts at the top of the report: what ran, on what, by whom; and what each device was.

Two kinds of facts live here, kept apart on purpose:

* **Run facts** (rig, radio, EZSP version, NCP firmware, harness version, git commit, date,
  operator) describe the session. The plugin puts them in the evidence log's ``run`` section, so
  the JSON and the HTML carry the same header. :func:`session_facts` gathers the few the report
  itself can know (harness version, commit, operator, date); the rig and radio facts come from
  whoever opened the radio.
* **Device facts** (EUI-64, manufacturer, model, firmware before and after, profile) are derived
  from the evidence records, with the rig's device list (in ``run["devices"]``) supplying what
  only the rig knows (profile, role) and the order of rows. Manufacturer and model come from the
  device's own Basic cluster reads; a ``manufacturer``/``model`` in ``run["devices"]`` (what the
  hub learnt when it interviewed the device) is used only when no read was recorded.

The ``run`` section keys the report reads (all optional; a missing one shows as ``unknown``):
``rig``, ``rig_file``, ``radio`` (e.g. ``"EZSP on /dev/ttyUSB0"``), ``ezsp_version``,
``ncp_firmware`` (the stack version the NCP reports), ``harness_version``, ``commit``, ``date``,
``operator``, and ``devices``: a list of ``{"name", "role", "eui64", "profile"}`` mappings (plus
``manufacturer``/``model`` if the hub learnt them at join), in rig order. Any other scalar key is
shown too, under its own name.

"Firmware before/after" is what the device *reported*, never what it was sent: before is the last
version observed before the device's first transfer started, after is the last one observed
after it. Observations are reads of the OTA client's CurrentFileVersion and the CS09 activation
facts, which both carry the version the device says it runs.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.evidence import AlertRecord, AttributeRead, TestEvidence, TransferRecord

UNKNOWN = "unknown"

#: Run facts in the order a reviewer reads them, with their labels. Keys of the ``run`` section.
RUN_FACT_LABELS: dict[str, str] = {
    "rig": "Rig",
    "rig_file": "Rig file",
    "radio": "Radio",
    "ezsp_version": "EZSP version",
    "ncp_firmware": "NCP firmware",
    "harness_version": "Harness version",
    "commit": "Git commit",
    "date": "Date (UTC)",
    "operator": "Operator",
}

# ZCL identities the device facts are read from (ZCL spec: Basic 0x0000, OTA Upgrade 0x0019).
BASIC_CLUSTER = 0x0000
ATTR_MANUFACTURER_NAME = 0x0004
ATTR_MODEL_IDENTIFIER = 0x0005
OTA_CLUSTER = 0x0019
ATTR_CURRENT_FILE_VERSION = 0x0002
CS09_ALERT = 0x8F8B


# ----------------------------------------------------------------------------------- run facts


def harness_version() -> str:
    """The installed package's version, or ``unknown`` when running from an uninstalled tree."""
    try:
        return metadata.version("han-harness")
    except metadata.PackageNotFoundError:
        return UNKNOWN


def git_commit(checkout: Path) -> str:
    """``git rev-parse HEAD`` of ``checkout``, suffixed `` (modified)`` when tracked files differ.

    A sign-off must name the exact code that produced it; a modified tree is not that commit, so
    it says so. Anything that stops git answering (not a checkout, no git installed) is
    ``unknown`` rather than an error: the report must still be written.
    """
    try:
        head = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    if not head:
        return UNKNOWN
    return f"{head} (modified)" if status else head


def operator_name(option: str | None, environ: Mapping[str, str] | None = None) -> str:
    """``--operator`` if given, else ``$USER`` (then the login name), else ``unknown``."""
    if option and option.strip():
        return option.strip()
    env = os.environ if environ is None else environ
    user = env.get("USER") or env.get("USERNAME")
    if user:
        return user
    if environ is not None:
        return UNKNOWN
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return UNKNOWN


def session_facts(*, operator: str | None, checkout: Path, now: float) -> dict[str, str]:
    """The run facts the report can establish itself, as ``run`` section entries."""
    return {
        "harness_version": harness_version(),
        "commit": git_commit(checkout),
        "date": _dt.datetime.fromtimestamp(now, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "operator": operator_name(operator),
    }


def harness_checkout() -> Path:
    """The directory of the harness source tree (the package's parent), for :func:`git_commit`."""
    return Path(__file__).resolve().parents[2]


def run_fact_rows(run: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(label, value) rows for the header: the known facts in order, then any other scalar entries.

    Unknown scalar keys are shown rather than dropped, so a fact the hub adds later reaches the
    report without a change here. Lists and mappings (the device list) have tables of their own.
    """
    rows: list[tuple[str, Any]] = [(label, run.get(key, UNKNOWN)) for key, label in RUN_FACT_LABELS.items()]
    for key in sorted(k for k in run if k not in RUN_FACT_LABELS):
        value = run[key]
        if is_scalar_fact(value):
            rows.append((key.replace("_", " ").capitalize(), value))
    return rows


def is_scalar_fact(value: Any) -> bool:
    """A run fact the header shows as one cell; lists and mappings have tables of their own."""
    return isinstance(value, (str, int, float, bool)) or value is None


# -------------------------------------------------------------------------------- device facts


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceFacts:
    """One row of the devices table."""

    name: str
    role: str | None = None
    eui64: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    profile: str | None = None
    firmware_before: int | None = None
    firmware_after: int | None = None


def _firmware_observations(device: str, eui64: str | None, tests: Iterable[TestEvidence]) -> list[tuple[float, int]]:
    seen: list[tuple[float, int]] = []
    for ev in tests:
        for read in ev.of(AttributeRead):
            if (read.device == device and read.cluster == OTA_CLUSTER and read.attribute == ATTR_CURRENT_FILE_VERSION
                    and isinstance(read.value, int) and not isinstance(read.value, bool)):
                seen.append((read.t, read.value))
        for alert in ev.of(AlertRecord):
            if alert.code == CS09_ALERT and alert.firmware_version is not None and (
                    alert.raised_by == device or (eui64 is not None and alert.entity_eui64 == eui64)):
                seen.append((alert.time, alert.firmware_version))
    return sorted(seen)


def _last_text(device: str, cluster: int, attribute: int, tests: Iterable[TestEvidence]) -> str | None:
    value = None
    for ev in tests:
        for read in ev.of(AttributeRead):
            if read.device == device and read.cluster == cluster and read.attribute == attribute and read.value is not None:
                value = str(read.value)
    return value


def device_facts(run: Mapping[str, Any], tests: Iterable[TestEvidence]) -> list[DeviceFacts]:
    """One :class:`DeviceFacts` per device of the rig (``run["devices"]``), then any others the evidence names."""
    tests = list(tests)
    rig_devices: dict[str, Mapping[str, Any]] = {}
    for entry in run.get("devices") or ():
        if isinstance(entry, Mapping) and entry.get("name"):
            rig_devices[str(entry["name"])] = entry
    names = list(rig_devices)
    transfers = [t for ev in tests for t in ev.of(TransferRecord)]
    names.extend(t.device for t in transfers)
    names.extend(r.device for ev in tests for r in ev.of(AttributeRead))
    out: list[DeviceFacts] = []
    for name in dict.fromkeys(names):
        rig = rig_devices.get(name, {})
        eui64 = rig.get("eui64") or next((t.device_eui64 for t in transfers if t.device == name), None)
        seen = _firmware_observations(name, eui64, tests)
        starts = [t.started for t in transfers if t.device == name]
        before = after = None
        if starts:
            first = min(starts)
            before = next((v for t, v in reversed(seen) if t <= first), None)
            after = next((v for t, v in reversed(seen) if t > first), None)
        elif seen:
            before = seen[0][1]
            after = seen[-1][1] if len(seen) > 1 else None
        out.append(DeviceFacts(
            name=name,
            role=rig.get("role"),
            eui64=eui64,
            manufacturer=_last_text(name, BASIC_CLUSTER, ATTR_MANUFACTURER_NAME, tests) or rig.get("manufacturer"),
            model=_last_text(name, BASIC_CLUSTER, ATTR_MODEL_IDENTIFIER, tests) or rig.get("model"),
            profile=rig.get("profile"),
            firmware_before=before,
            firmware_after=after,
        ))
    return out
