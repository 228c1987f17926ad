"""The device's ZCL attribute store and its answers to the foundation commands.

Attributes are kept per (cluster, side): the OTA attributes live on the device's OTA *client*
cluster, Basic on its *server* cluster, and a Read Attributes frame says which side it addresses
by its direction bit. The store answers Read/Write Attributes exactly as ZCL 2.5 says --
UNSUPPORTED_ATTRIBUTE per unknown id, READ_ONLY for a write to a read-only one -- because a hub that
mishandles those statuses is one of the things the harness exists to catch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import zigpy.types as t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Basic, Ota, PowerSource

from .settings import BASIC, DEVICE_MANAGEMENT, OTA, DeviceSettings

Status = foundation.Status

#: DownloadedFileVersion when no download is held (ZCL OTA 11.10.5).
NO_FILE_VERSION = 0xFFFFFFFF


@dataclass(slots=True)
class StoredAttribute:
    type: type
    value: Any
    writable: bool = False

    def type_value(self) -> foundation.TypeValue:
        data_type = foundation.DataType.from_python_type(self.type)
        return foundation.TypeValue(type=data_type.type_id, value=self.type(self.value))


class AttributeStore:
    """Attributes by (cluster id, is_server) -> attribute id."""

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._clusters: dict[tuple[int, bool], dict[int, StoredAttribute]] = {}
        #: Sides that accept writes of any attribute id (the Device Management client: the GPF writes
        #: tenancy-related values there, and the list is not known -- domain-notes §2).
        self._open_for_writes: set[tuple[int, bool]] = set()

    def define(self, cluster: int, attr_id: int, type_: type, value: Any, *, server: bool, writable: bool = False) -> None:
        self._clusters.setdefault((cluster, server), {})[attr_id] = StoredAttribute(type_, value, writable)

    def accept_any_write(self, cluster: int, *, server: bool) -> None:
        self._clusters.setdefault((cluster, server), {})
        self._open_for_writes.add((cluster, server))

    def has(self, cluster: int, attr_id: int, *, server: bool) -> bool:
        return attr_id in self._clusters.get((cluster, server), {})

    def get(self, cluster: int, attr_id: int, *, server: bool) -> Any:
        try:
            return self._clusters[(cluster, server)][attr_id].value
        except KeyError:
            side = "server" if server else "client"
            raise KeyError(f"{self._owner}: no attribute 0x{attr_id:04X} on {side} cluster 0x{cluster:04X}") from None

    def set(self, cluster: int, attr_id: int, value: Any, *, server: bool) -> None:
        """Update a defined attribute (the device's own doing, not a ZCL write)."""
        try:
            stored = self._clusters[(cluster, server)][attr_id]
        except KeyError:
            side = "server" if server else "client"
            raise KeyError(f"{self._owner}: no attribute 0x{attr_id:04X} on {side} cluster 0x{cluster:04X}") from None
        stored.value = stored.type(value)

    def read(self, cluster: int, attr_ids: list[int], *, server: bool) -> list[foundation.ReadAttributeRecord]:
        attrs = self._clusters.get((cluster, server), {})
        records = []
        for attr_id in attr_ids:
            stored = attrs.get(attr_id)
            if stored is None:
                records.append(foundation.ReadAttributeRecord(t.uint16_t(attr_id), Status.UNSUPPORTED_ATTRIBUTE))
            else:
                records.append(foundation.ReadAttributeRecord(t.uint16_t(attr_id), Status.SUCCESS, stored.type_value()))
        return records

    def write(self, cluster: int, records: list[foundation.Attribute], *, server: bool) -> list[foundation.WriteAttributesStatusRecord]:
        """Apply a ZCL Write Attributes; one status record per attribute (zigpy collapses all-SUCCESS)."""
        attrs = self._clusters.get((cluster, server), {})
        open_side = (cluster, server) in self._open_for_writes
        statuses = []
        for record in records:
            stored = attrs.get(record.attrid)
            if stored is None and open_side:
                value = record.value.value
                attrs[record.attrid] = StoredAttribute(type(value), value, writable=True)
                status = Status.SUCCESS
            elif stored is None:
                status = Status.UNSUPPORTED_ATTRIBUTE
            elif not stored.writable:
                status = Status.READ_ONLY
            else:
                try:
                    stored.value = stored.type(record.value.value)
                    status = Status.SUCCESS
                except (TypeError, ValueError):
                    status = Status.INVALID_DATA_TYPE
            statuses.append(foundation.WriteAttributesStatusRecord(status=status, attrid=record.attrid))
        return statuses


def software_build_id(version: int) -> str:
    """Basic SWBuildID text for a firmware version: what a lab reads on the device's screen."""
    return f"{version:08X}"


def build_store(settings: DeviceSettings) -> AttributeStore:
    """The attributes a fresh device holds: Basic identity, OTA client 0x0000-0x000C, extras."""
    store = AttributeStore(settings.name)
    basic = Basic.AttributeDefs
    for definition, value in (
        (basic.zcl_version, 8),
        (basic.app_version, settings.firmware_version & 0xFF),
        (basic.stack_version, settings.stack_version & 0xFF),
        # Basic HWVersion is 8 bits; the OTA hardware version's high byte is the "version" (zigpy HWVersion).
        (basic.hw_version, settings.hardware_version >> 8),
        (basic.manufacturer, settings.manufacturer_name),
        (basic.model, settings.model),
        (basic.date_code, "20260101"),
        (basic.power_source, PowerSource(settings.power_source)),
        (basic.sw_build_id, software_build_id(settings.firmware_version)),
    ):
        store.define(BASIC, definition.id, definition.type, value, server=True)
    store.define(BASIC, foundation.ZCL_CLUSTER_REVISION_ATTR.id, t.uint16_t, 3, server=True)

    ota = Ota.AttributeDefs
    for definition, initial in (
        # UpgradeServerID is all-FF until a server has answered a query (ZCL OTA 11.10.1).
        (ota.upgrade_server_id, t.EUI64.convert("FF:FF:FF:FF:FF:FF:FF:FF")),
        (ota.file_offset, 0),
        (ota.current_file_version, settings.firmware_version),
        (ota.current_zigbee_stack_version, settings.stack_version),
        (ota.downloaded_file_version, NO_FILE_VERSION),
        (ota.downloaded_zigbee_stack_version, 0xFFFF),
        (ota.image_upgrade_status, Ota.ImageUpgradeStatus.Normal),
        (ota.manufacturer_id, settings.manufacturer_code),
        (ota.image_type_id, settings.image_type),
        (ota.minimum_block_req_delay, settings.min_block_period_ms),
        (ota.image_stamp, 0),
        (ota.upgrade_activation_policy, Ota.UpgradeActivationPolicy.OTA_server_allowed),
        (ota.upgrade_timeout_policy, Ota.UpgradeTimeoutPolicy.Apply_after_timeout),
    ):
        store.define(OTA, definition.id, definition.type, initial, server=False)
    store.define(OTA, foundation.ZCL_CLUSTER_REVISION_ATTR.id, t.uint16_t, 3, server=False)

    store.accept_any_write(DEVICE_MANAGEMENT, server=False)
    for (cluster, is_server, attr_id), (type_, value) in settings.extra_attributes.items():
        if not store.has(cluster, attr_id, server=is_server):  # the device's own identity wins
            store.define(cluster, attr_id, type_, value, server=is_server)
    return store
