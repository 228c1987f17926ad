"""The GPF side of SECMP0056: serve tenancy and supplier attributes, and watch devices read them.

The CH hosts the Gas Proxy Function; SECMP0056 requires IHDs and PPMIDs to read Change-of-Tenancy
(CoT) data from it and from the ESME. So here the harness is the *server*: it answers a device's
Read Attributes on the Device Management cluster (0x0708) from ``profiles/gpf.toml``, records
every read (which attributes, when, what was returned, and what prompted it), and on a CoT event
changes the CoT date and sends the device a Report Attributes so it reads again.

zigpy dispatches a device's Read Attributes to the *sender's* cluster object (the device's own
client-side 0x0708 on the endpoint it sent from), so :func:`install` puts a
:class:`GpfDeviceManagement` instance there, for that device only (``_skip_registry`` keeps it
out of zigpy's global cluster registry). Its answer leaves from the CH's GPF endpoint.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zigpy.types as t
from zigpy.zcl import Cluster, foundation

from harness.evidence import CheckRecord, Outcome, TenancyRead
from harness.tomlread import ConfigError, Table, load_toml

#: The shipped data file (relative to the repository root).
DEFAULT_GPF_FILE = Path(__file__).resolve().parents[2] / "profiles" / "gpf.toml"

DEVICE_MANAGEMENT = 0x0708
#: The CoT date attribute a Change-of-Tenancy event changes (ZSE Device Management, Tenancy Control).
COT_DATE_ATTRIBUTE = 0x0200

#: Attribute value types the data file may name, as zigpy types (the ZCL type id follows from them).
TYPES: dict[str, type] = {
    "uint8": t.uint8_t,
    "uint16": t.uint16_t,
    "uint32": t.uint32_t,
    "bitmap8": t.bitmap8,
    "bitmap16": t.bitmap16,
    "bitmap32": t.bitmap32,
    "utc_time": t.UTCTime,
    "octet_string": t.LVBytes,
    "char_string": t.CharacterString,
}


class GpfDataError(ConfigError):
    """The GPF data file is wrong: ``<file>: <key.path>: <what was wrong>``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GpfAttribute:
    id: int
    name: str
    type_name: str
    value: int | str | datetime
    source: str
    confidence: str

    @property
    def zigpy_type(self) -> type:
        return TYPES[self.type_name]

    @property
    def zcl_type_id(self) -> int:
        return int(foundation.DataType.from_python_type(self.zigpy_type).type_id)

    def zcl_value(self) -> Any:
        """The value as the zigpy type that goes on the air."""
        kind = self.zigpy_type
        if isinstance(self.value, datetime):
            return t.UTCTime.from_datetime(self.value)
        if kind is t.LVBytes:
            return t.LVBytes(str(self.value).encode("utf-8"))
        return kind(self.value)

    def shown(self) -> Any:
        """The value as plain data for evidence (times as RFC 3339 text)."""
        if isinstance(self.value, datetime):
            return self.value.strftime("%Y-%m-%dT%H:%M:%SZ")
        return self.value


@dataclass(frozen=True, slots=True)
class GpfData:
    file: Path
    cluster: int
    attributes: dict[int, GpfAttribute]
    source: str
    confidence: str


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"expected an RFC 3339 UTC time like '2026-01-01T00:00:00Z', got {text!r}") from None
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} has no zone; write it in UTC with a trailing 'Z'")
    return value.astimezone(UTC)


def _attribute(table: Table) -> GpfAttribute:
    attr_id = table.integer("id", min=0, max=0xFFFF, hex_width=4)
    name = table.text("name")
    type_name = table.text("type", choices=tuple(TYPES))
    raw = table.raw("value")
    if type_name == "utc_time":
        if not isinstance(raw, str):
            table.fail("value", f"a utc_time is written as text like '2026-01-01T00:00:00Z', got {raw!r}")
        value: Any = table.convert("value", raw, _parse_time)
    elif type_name in ("octet_string", "char_string"):
        if not isinstance(raw, str):
            table.fail("value", f"expected text for a {type_name}, got {raw!r}")
        value = raw
    else:
        if not isinstance(raw, int) or isinstance(raw, bool):
            table.fail("value", f"expected an integer for a {type_name}, got {raw!r}")
        bits = int(type_name.removeprefix("uint").removeprefix("bitmap"))
        if not 0 <= raw < 1 << bits:
            table.fail("value", f"{raw} does not fit in a {type_name}")
        value = raw
    attribute = GpfAttribute(
        id=attr_id,
        name=name,
        type_name=type_name,
        value=value,
        source=table.text("source"),
        confidence=table.text("confidence"),
    )
    table.finish()
    return attribute


def load_gpf(path: Path | str = DEFAULT_GPF_FILE) -> GpfData:
    """Read and check the GPF data file."""
    path = Path(path)
    top = Table(load_toml(path, GpfDataError), file=path, error=GpfDataError)
    cluster = top.integer("cluster", min=0, max=0xFFFF, hex_width=4)
    attributes: dict[int, GpfAttribute] = {}
    for table in top.tables("attribute"):
        attribute = _attribute(table)
        if attribute.id in attributes:
            table.fail("id", f"attribute 0x{attribute.id:04X} is listed twice")
        attributes[attribute.id] = attribute
    if not attributes:
        top.fail("attribute", "the file serves no [[attribute]]")
    data = GpfData(path, cluster, attributes, top.text("source"), top.text("confidence"))
    top.finish()
    return data


class GpfServer:
    """The attribute table the GPF serves, the log of reads, and CoT events. No radio here."""

    def __init__(
        self,
        data: GpfData,
        *,
        sink: Callable[[TenancyRead], None] = lambda record: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.data = data
        self.attributes = dict(data.attributes)
        self._sink = sink
        self._clock = clock
        self.reads: list[TenancyRead] = []
        self._cause: dict[str, str] = {}
        self._waiters: list[tuple[str, float, asyncio.Future[TenancyRead]]] = []

    def note_cause(self, device: str, cause: str) -> None:
        """What the hub just did that should make ``device`` read (joined, CoT report...)."""
        self._cause[device] = cause

    def read(self, device: str, attribute_ids: Iterable[int]) -> list[foundation.ReadAttributeRecord]:
        """Answer one Read Attributes from ``device``; unknown ids get UNSUPPORTED_ATTRIBUTE."""
        ids = [int(a) for a in attribute_ids]
        records: list[foundation.ReadAttributeRecord] = []
        values: dict[str, Any] = {}
        for attr_id in ids:
            attribute = self.attributes.get(attr_id)
            if attribute is None:
                records.append(
                    foundation.ReadAttributeRecord(attrid=t.uint16_t(attr_id), status=foundation.Status.UNSUPPORTED_ATTRIBUTE)
                )
                values[f"0x{attr_id:04X}"] = "UNSUPPORTED_ATTRIBUTE"
                continue
            records.append(
                foundation.ReadAttributeRecord(
                    attrid=t.uint16_t(attr_id),
                    status=foundation.Status.SUCCESS,
                    value=foundation.TypeValue(type=t.uint8_t(attribute.zcl_type_id), value=attribute.zcl_value()),
                )
            )
            values[f"0x{attr_id:04X}"] = attribute.shown()
        record = TenancyRead(
            device=device,
            cluster=self.data.cluster,
            attributes=tuple(ids),
            t=self._clock(),
            values=values,
            trigger=self._cause.pop(device, "device's own initiative"),
        )
        self.reads.append(record)
        self._sink(record)
        for entry in list(self._waiters):
            name, after, future = entry
            if name == device and record.t >= after and not future.done():
                future.set_result(record)
        self._waiters = [w for w in self._waiters if not w[2].done()]
        return records

    def wait_for_read(self, device: str, *, after: float | None = None) -> asyncio.Future[TenancyRead]:
        """A future for ``device``'s next read at or after ``after`` (default: now, or any past read if 0)."""
        after = self._clock() if after is None else after
        future: asyncio.Future[TenancyRead] = asyncio.get_running_loop().create_future()
        for record in self.reads:
            if record.device == device and record.t >= after:
                future.set_result(record)
                return future
        self._waiters.append((device, after, future))
        return future

    def reads_by(self, device: str) -> list[TenancyRead]:
        return [r for r in self.reads if r.device == device]

    def change_of_tenancy(self, when: datetime) -> GpfAttribute:
        """A CoT event: the CoT date becomes ``when`` (UTC). Returns the changed attribute."""
        if when.tzinfo is None:
            raise ValueError(f"change_of_tenancy: {when!r} has no time zone; pass a UTC datetime")
        current = self.attributes.get(COT_DATE_ATTRIBUTE)
        if current is None:
            raise LookupError(
                f"{self.data.file}: no attribute 0x{COT_DATE_ATTRIBUTE:04X} (CoT date) to change"
            )
        changed = replace(current, value=when.astimezone(UTC))
        self.attributes[COT_DATE_ATTRIBUTE] = changed
        return changed

    def report_payload(self, attribute_ids: Iterable[int]) -> Any:
        """A Report Attributes command for ``attribute_ids`` (zigpy's general command schema)."""
        schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Report_Attributes].schema
        reports = []
        for attr_id in attribute_ids:
            attribute = self.attributes[attr_id]
            reports.append(
                foundation.Attribute(
                    attrid=attr_id,
                    value=foundation.TypeValue(type=t.uint8_t(attribute.zcl_type_id), value=attribute.zcl_value()),
                )
            )
        return schema(attribute_reports=reports)


def judge_tenancy_read(
    read: TenancyRead | None,
    *,
    device: str,
    expected: Iterable[int],
    within_s: float,
    after: str,
    source: str,
    confidence: str,
) -> CheckRecord:
    """SECMP0056: did ``device`` read the tenancy attributes its profile names, in time?

    NOT_OBSERVED when no read came within the window; FAIL when a read came but left out some of
    the expected attributes; PASS otherwise.
    """
    wanted = tuple(expected)
    names = ", ".join(f"0x{a:04X}" for a in wanted)
    rule = f"{device} reads {names} from the GPF (0x0708) within {within_s:g} s after {after}"
    if read is None:
        outcome, observed = Outcome.NOT_OBSERVED, f"no read of the GPF within {within_s:g} s"
    else:
        missing = [a for a in wanted if a not in read.attributes]
        observed = "read " + ", ".join(f"0x{a:04X}" for a in read.attributes)
        outcome = Outcome.FAIL if missing else Outcome.PASS
        if missing:
            observed += "; not read: " + ", ".join(f"0x{a:04X}" for a in missing)
    return CheckRecord(
        name="SECMP0056 tenancy read",
        rule=rule,
        observed=observed,
        outcome=outcome,
        source=source,
        confidence=confidence,
        device=device,
    )


class GpfDeviceManagement(Cluster):
    """A device's own Device Management client cluster object, answering its reads as the GPF.

    One instance per device endpoint, installed by :func:`install`; never registered globally.
    """

    cluster_id = t.uint16_t(DEVICE_MANAGEMENT)
    ep_attribute = "gpf_device_management"
    _skip_registry = True

    #: Set by :func:`install`. ``send_read_response`` schedules the Read Attributes Response (it must
    #: not block); not ``reply``, which would hide zigpy's own ``Cluster.reply``.
    gpf: GpfServer
    device_name: str
    send_read_response: Callable[[foundation.ZCLHeader, int, list[foundation.ReadAttributeRecord]], None]

    def handle_cluster_general_request(
        self, hdr: foundation.ZCLHeader, args: Any, *, dst_addressing: Any = None
    ) -> None:
        if hdr.command_id == foundation.GeneralCommand.Read_Attributes:
            records = self.gpf.read(self.device_name, args.attribute_ids)
            self.send_read_response(hdr, self.endpoint.endpoint_id, records)
            return
        super().handle_cluster_general_request(hdr, args, dst_addressing=dst_addressing)


def make_cluster(
    endpoint: Any,
    *,
    gpf: GpfServer,
    device_name: str,
    reply: Callable[[foundation.ZCLHeader, int, list[foundation.ReadAttributeRecord]], None],
) -> GpfDeviceManagement:
    """The GPF's Device Management cluster object for one endpoint of one device."""
    cluster = GpfDeviceManagement(endpoint, is_server=False)
    cluster.gpf = gpf
    cluster.device_name = device_name
    cluster.send_read_response = reply
    return cluster


def install(
    device: Any,
    *,
    gpf: GpfServer,
    device_name: str,
    reply: Callable[[foundation.ZCLHeader, int, list[foundation.ReadAttributeRecord]], None],
) -> int:
    """Serve ``device``'s Device Management reads on each of its application endpoints.

    For a device zigpy already knew (its endpoints were created before the hub served it).
    Returns how many endpoints were set up. The cluster goes on every endpoint, not only those
    that declare 0x0708 as a client: a device that reads without declaring it should be heard
    (and its omission is a finding for the report, not a dropped frame).
    """
    count = 0
    for endpoint_id, endpoint in device.endpoints.items():
        if endpoint_id == 0:
            continue
        if not isinstance(endpoint.out_clusters.get(DEVICE_MANAGEMENT), GpfDeviceManagement):
            endpoint.add_output_cluster(
                DEVICE_MANAGEMENT, make_cluster(endpoint, gpf=gpf, device_name=device_name, reply=reply)
            )
        count += 1
    return count
