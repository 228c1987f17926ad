"""One status vocabulary for the handlers, encoded per version by the schema's field type.

EZSP v13 answers most commands with an ``EmberStatus`` byte (and ``getValue``/``setValue``/
``getConfigurationValue``/``setPolicy`` with an ``EzspStatus`` byte); v14+ answers with a u32
``sl_Status``. Handlers speak :class:`Status`; :func:`encode_status` picks the wire value from the
type that the version's schema declares for the field, so no handler needs to know the version.
The numbers are those of ``error-def.h``, ``ezsp-enum.h`` and ``sl_status.h`` (reference notes,
golden frames §4).
"""

from __future__ import annotations

import enum

import bellows.types as t


class Status(enum.Enum):
    """What happened, independent of how a version writes it."""

    OK = "ok"
    FAIL = "fail"
    NOT_FOUND = "not-found"
    NOT_JOINED = "not-joined"
    INVALID_CALL = "invalid-call"
    INVALID_PARAMETER = "invalid-parameter"
    INDEX_OUT_OF_RANGE = "index-out-of-range"
    TABLE_FULL = "table-full"
    DELIVERY_FAILED = "delivery-failed"
    NETWORK_UP = "network-up"
    NETWORK_DOWN = "network-down"
    LIBRARY_NOT_PRESENT = "library-not-present"
    # EzspStatus-only meanings (the invalidCommand reasons)
    ERROR_INVALID_FRAME_ID = "invalid-frame-id"
    ERROR_VERSION_NOT_SET = "version-not-set"
    ERROR_INVALID_ID = "invalid-id"


#: Status -> (EmberStatus, sl_Status, EzspStatus). EzspStatus has no network meanings; the
#: closest error is used where an EzspStatus field must carry one.
_WIRE: dict[Status, tuple[int, int, int]] = {
    Status.OK: (t.EmberStatus.SUCCESS, t.sl_Status.OK, t.EzspStatus.SUCCESS),
    Status.FAIL: (t.EmberStatus.ERR_FATAL, t.sl_Status.FAIL, t.EzspStatus.ERROR_INVALID_CALL),
    Status.NOT_FOUND: (t.EmberStatus.NOT_FOUND, t.sl_Status.NOT_FOUND, t.EzspStatus.ERROR_INVALID_ID),
    Status.NOT_JOINED: (t.EmberStatus.NOT_JOINED, t.sl_Status.NOT_JOINED, t.EzspStatus.ERROR_INVALID_CALL),
    Status.INVALID_CALL: (t.EmberStatus.INVALID_CALL, t.sl_Status.INVALID_STATE, t.EzspStatus.ERROR_INVALID_CALL),
    Status.INVALID_PARAMETER: (
        t.EmberStatus.BAD_ARGUMENT,
        t.sl_Status.INVALID_PARAMETER,
        t.EzspStatus.ERROR_INVALID_VALUE,
    ),
    Status.INDEX_OUT_OF_RANGE: (
        t.EmberStatus.INDEX_OUT_OF_RANGE,
        t.sl_Status.INVALID_INDEX,
        t.EzspStatus.ERROR_INVALID_VALUE,
    ),
    Status.TABLE_FULL: (t.EmberStatus.TABLE_FULL, t.sl_Status.FULL, t.EzspStatus.ERROR_OUT_OF_MEMORY),
    Status.DELIVERY_FAILED: (
        t.EmberStatus.DELIVERY_FAILED,
        t.sl_Status.ZIGBEE_DELIVERY_FAILED,
        t.EzspStatus.ERROR_INVALID_CALL,
    ),
    Status.NETWORK_UP: (t.EmberStatus.NETWORK_UP, t.sl_Status.NETWORK_UP, t.EzspStatus.SUCCESS),
    Status.NETWORK_DOWN: (t.EmberStatus.NETWORK_DOWN, t.sl_Status.NETWORK_DOWN, t.EzspStatus.ERROR_INVALID_CALL),
    Status.LIBRARY_NOT_PRESENT: (
        t.EmberStatus.LIBRARY_NOT_PRESENT,
        t.sl_Status.NOT_AVAILABLE,
        t.EzspStatus.ERROR_INVALID_CALL,
    ),
    # The invalidCommand reason is an EzspStatus; v14+ widens it to u32 with the same number
    # (bellows then names it by the sl_Status table -- golden frames §2.7).
    Status.ERROR_INVALID_FRAME_ID: (
        t.EzspStatus.ERROR_INVALID_FRAME_ID,
        t.EzspStatus.ERROR_INVALID_FRAME_ID,
        t.EzspStatus.ERROR_INVALID_FRAME_ID,
    ),
    Status.ERROR_VERSION_NOT_SET: (
        t.EzspStatus.ERROR_VERSION_NOT_SET,
        t.EzspStatus.ERROR_VERSION_NOT_SET,
        t.EzspStatus.ERROR_VERSION_NOT_SET,
    ),
    Status.ERROR_INVALID_ID: (
        t.EzspStatus.ERROR_INVALID_ID,
        t.EzspStatus.ERROR_INVALID_ID,
        t.EzspStatus.ERROR_INVALID_ID,
    ),
}

STATUS_TYPES = (t.EmberStatus, t.sl_Status, t.EzspStatus)


def is_status_type(field_type: type) -> bool:
    return any(issubclass(field_type, st) for st in STATUS_TYPES)


def encode_status(status: Status, field_type: type) -> object:
    """The value of ``status`` as ``field_type`` (one of EmberStatus, sl_Status, EzspStatus)."""
    ember, sl, ezsp = _WIRE[status]
    if issubclass(field_type, t.sl_Status):
        return field_type(int(sl))
    if issubclass(field_type, t.EmberStatus):
        return field_type(int(ember))
    if issubclass(field_type, t.EzspStatus):
        return field_type(int(ezsp))
    raise TypeError(f"{field_type.__name__} is not a status type")
