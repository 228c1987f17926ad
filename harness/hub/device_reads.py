"""Reading a device's own attributes and holding them to its profile.

Three groups are read: identity (Basic, server side), the OTA client attributes (the device's
*client* 0x0019, read with a server-to-client frame), and every attribute the profile declares.
Each read becomes an :class:`~harness.evidence.AttributeRead` with the profile's rule as text and
an outcome that tells a missing or unreadable attribute (NOT_OBSERVED) apart from a wrong value
(FAIL).

Which side a profile attribute lives on is taken from what the device declared in its simple
descriptor: a cluster it serves (in-cluster) is read there, a cluster it is a client of
(out-cluster, like OTA) is read on the client side.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import zigpy.device
from zigpy.zcl import foundation

from harness.evidence import AttributeRead, Outcome

#: Basic cluster identity attributes read for every device (ZCL Basic, server side).
IDENTITY: tuple[tuple[int, str], ...] = (
    (0x0000, "ZCLVersion"),
    (0x0001, "ApplicationVersion"),
    (0x0003, "HWVersion"),
    (0x0004, "ManufacturerName"),
    (0x0005, "ModelIdentifier"),
    (0x0007, "PowerSource"),
    (0x4000, "SWBuildID"),
)
#: OTA Upgrade client attributes (ZCL OTA, on the device's client cluster).
OTA_CLIENT: tuple[tuple[int, str], ...] = (
    (0x0000, "UpgradeServerID"),
    (0x0001, "FileOffset"),
    (0x0002, "CurrentFileVersion"),
    (0x0003, "CurrentZigBeeStackVersion"),
    (0x0004, "DownloadedFileVersion"),
    (0x0006, "ImageUpgradeStatus"),
    (0x0007, "ManufacturerID"),
    (0x0008, "ImageTypeID"),
    (0x0009, "MinimumBlockPeriod"),
)


@dataclass(frozen=True, slots=True)
class Wanted:
    """One attribute to read and (optionally) the rule it is held to."""

    cluster: int
    attribute: int
    name: str
    rule: str = "read for the report"
    check: Callable[[Any], tuple[bool, str]] | None = None
    source: str = ""
    confidence: str = ""


def wanted_from_profile(profile: Any) -> list[Wanted]:
    """The profile's attribute expectations (``AttributeExpectation``) as read requests."""
    return [
        Wanted(e.cluster, e.attribute, e.name, e.rule, e.validate, e.source, e.confidence)
        for e in getattr(profile, "attributes", ())
    ]


def identity_wanted() -> list[Wanted]:
    return [Wanted(0x0000, a, n) for a, n in IDENTITY] + [Wanted(0x0019, a, n) for a, n in OTA_CLIENT]


def _plain(value: Any) -> Any:
    """A zigpy attribute value as plain evidence data."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    return str(value)


def _find(device: zigpy.device.ZigbeeDevice, cluster_id: int) -> Any | None:
    """The device's cluster object for ``cluster_id``: served clusters first, then client ones."""
    for side in ("in_clusters", "out_clusters"):
        for endpoint_id, endpoint in device.endpoints.items():
            if endpoint_id == 0:
                continue
            cluster = getattr(endpoint, side).get(cluster_id)
            if cluster is not None:
                return cluster
    return None


async def read_attributes(
    device: zigpy.device.ZigbeeDevice,
    name: str,
    wanted: Sequence[Wanted],
    *,
    clock: Callable[[], float] = time.time,
) -> list[AttributeRead]:
    """Read ``wanted`` from ``device`` (one request per cluster) and judge each value."""
    by_cluster: dict[int, list[Wanted]] = {}
    for item in wanted:
        by_cluster.setdefault(item.cluster, []).append(item)
    records: list[AttributeRead] = []
    for cluster_id, items in by_cluster.items():
        cluster = _find(device, cluster_id)
        ids = [w.attribute for w in items]
        success: dict[Any, Any] = {}
        failure: dict[Any, Any] = {}
        problem = ""
        if cluster is None:
            problem = f"{name} declares no cluster 0x{cluster_id:04X}"
        else:
            try:
                success, failure = await cluster.read_attributes(ids, allow_cache=False)
            except Exception as exc:  # noqa: BLE001 -- a device that does not answer is a finding
                problem = f"read of cluster 0x{cluster_id:04X} from {name} failed: {type(exc).__name__}: {exc}"
        records.extend(_judge(name, cluster, cluster_id, items, success, failure, problem, clock()))
    return records


def _judge(
    name: str,
    cluster: Any,
    cluster_id: int,
    items: Iterable[Wanted],
    success: dict[Any, Any],
    failure: dict[Any, Any],
    problem: str,
    t: float,
) -> list[AttributeRead]:
    endpoint = cluster.endpoint.endpoint_id if cluster is not None else 0
    out: list[AttributeRead] = []
    for item in items:
        value = success.get(item.attribute, _MISSING)
        if value is _MISSING and cluster is not None:
            try:
                value = success.get(cluster.find_attribute(item.attribute).name, _MISSING)
            except KeyError:
                pass
        if value is _MISSING:
            status = failure.get(item.attribute)
            status_name = status.name if isinstance(status, foundation.Status) else (problem or "NO_RESPONSE")
            outcome = Outcome.NOT_OBSERVED if item.check is not None else Outcome.SKIPPED
            out.append(
                AttributeRead(
                    device=name, endpoint=endpoint, cluster=cluster_id, attribute=item.attribute, name=item.name,
                    expected=item.rule, value=None, status=status_name, outcome=outcome, t=t,
                    source=item.source, confidence=item.confidence,
                )
            )
            continue
        plain = _plain(value)
        if item.check is None:
            outcome, rule = Outcome.PASS, item.rule
        else:
            ok, rule = item.check(plain)
            outcome = Outcome.PASS if ok else Outcome.FAIL
        out.append(
            AttributeRead(
                device=name, endpoint=endpoint, cluster=cluster_id, attribute=item.attribute, name=item.name,
                expected=rule, value=plain, status="SUCCESS", outcome=outcome, t=t,
                source=item.source, confidence=item.confidence,
            )
        )
    return out


_MISSING = object()
