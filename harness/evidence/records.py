"""Evidence record types: frozen, redacted-on-creation plain data the hub produces and the report renders.

See :mod:`harness.evidence` for the properties every record type keeps.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from harness.evidence.redaction import Redacted
from harness.secret import REDACTED, Secret


class Outcome(enum.StrEnum):
    """The verdict of one check. NOT_OBSERVED (nothing arrived in time) is not FAIL (wrong value)."""

    PASS = "PASS"
    FAIL = "FAIL"
    NOT_OBSERVED = "NOT_OBSERVED"
    SKIPPED = "SKIPPED"


class TransferEventKind(enum.StrEnum):
    """One step on a transfer's timeline, named after the OTA cluster exchange it records."""

    NOTIFY = "notify"  # Image Notify sent by the CH
    QUERY = "query"  # Query Next Image Request from the device
    QUERY_RESPONSE = "query_response"
    BLOCK_REQUEST = "block_request"
    BLOCK_RESPONSE = "block_response"
    PAGE_REQUEST = "page_request"
    WAIT_FOR_DATA = "wait_for_data"  # an Image Block Response with status WAIT_FOR_DATA
    UPGRADE_END = "upgrade_end"  # Upgrade End Request from the device
    UPGRADE_END_RESPONSE = "upgrade_end_response"
    RETRY = "retry"  # the device asked again for an offset it had already been sent
    GAP = "gap"  # the CH lost contact with its radio (NCP reset, port lost) and came back
    STALL = "stall"  # no request within the stall timeout
    ABORT = "abort"  # the transfer ended without an Upgrade End (either side)


class TransferOutcome(enum.StrEnum):
    """How a transfer ended, from the CH's point of view."""

    IN_PROGRESS = "in_progress"
    TRANSFERRED = "transferred"  # Upgrade End Request SUCCESS after the whole image
    FAILED = "failed"  # device reported INVALID_IMAGE / ABORT / REQUIRE_MORE_IMAGE
    STALLED = "stalled"  # no progress within the stall timeout
    REFUSED = "refused"  # no block sent: hardware mismatch, image discarded, nothing to offer
    ABORTED = "aborted"  # the CH stopped it (test ended, shutdown)


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferEvent(Redacted):
    """One request or response on a transfer's timeline.

    ``offset`` and ``size`` are the file offset and byte count the event concerns (the device's
    requested offset and maximum size for a request; the offset and data length actually sent for
    a response). ``status`` is the ZCL status name (``SUCCESS``, ``WAIT_FOR_DATA``...) where the
    frame has one. ``wait_s`` is the delay the CH asked for (WAIT_FOR_DATA, Upgrade End "at time").
    ``minimum_block_period`` is the MinimumBlockPeriod a WAIT_FOR_DATA carried (raw, in the
    device's unit), so a check can hold the device's later pacing to it.
    ``aps_encrypted`` says whether the frame travelled APS-encrypted with the device's link key
    (Smart Energy OTA traffic must; a broadcast Image Notify is the exception); None for an event
    that is not a frame (a retry noticed, a gap, a stall) or where the radio did not say.
    """

    t: float
    kind: TransferEventKind
    offset: int | None = None
    size: int | None = None
    status: str | None = None
    wait_s: float | None = None
    detail: str = ""
    aps_encrypted: bool | None = None
    minimum_block_period: int | None = None

    @property
    def is_frame(self) -> bool:
        return self.kind not in (TransferEventKind.RETRY, TransferEventKind.GAP, TransferEventKind.STALL)


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferRecord(Redacted):
    """Everything the CH did and saw while offering one image to one device.

    ``transfer_id`` is stable for the life of the transfer, so the hub can record snapshots as it
    goes and a crash still leaves the latest one in the evidence file.
    """

    transfer_id: str
    device: str
    device_eui64: str
    image_name: str
    image_sha256: str
    image_size: int
    image_version: int
    started: float
    ended: float | None = None
    outcome: TransferOutcome = TransferOutcome.IN_PROGRESS
    reason: str = ""
    bytes_sent: int = 0
    block_size_cap: int = 0
    retries: int = 0
    gaps: int = 0
    events: tuple[TransferEvent, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRecord(Redacted):
    """One GBCS alert: raised by the CH itself (CCS08) or the device's outcome (CS09 facts).

    ``raised_by`` is ``"CH"`` for the CH's own alerts, or the device name when the fact comes from
    the device. ``observed_how`` says how the harness knows (which frame, which attribute read),
    because on a bench the CS09 alert itself travels to the supplier, not to the CH.
    ``response_code`` is set on CCS08 (0-3); ``activation_result`` on CS09 (0 success, 1 failure).
    ``gbcs_message`` is the alert as a signed GBCS message, in hex (``harness.gbcs`` decodes it):
    for the CH's CCS08, the message the CH would send, signed with the TEST-ONLY CH key; empty
    when none was built. ``rejected`` says which message rule a device's own alert broke (a CS09
    whose signature does not verify, a replayed counter, one sent before the image ran); the
    alert-sequence check fails on it. Empty for an accepted alert.
    """

    code: int
    name: str
    use_case: str
    raised_by: str
    entity_eui64: str | None
    firmware_version: int | None
    time: float
    observed_how: str
    response_code: int | None = None
    activation_result: int | None = None
    detail: str = ""
    gbcs_message: str = ""
    rejected: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributeRead(Redacted):
    """One attribute the CH read from a device, with the rule it was held to and the verdict.

    ``value`` is the decoded value as plain data (int, str, ...), or None when the read failed;
    ``status`` is the ZCL read status name (``SUCCESS``, ``UNSUPPORTED_ATTRIBUTE``...).
    """

    device: str
    endpoint: int
    cluster: int
    attribute: int
    name: str
    expected: str
    value: Any
    status: str
    outcome: Outcome
    t: float
    source: str = ""
    confidence: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckRecord(Redacted):
    """One verdict: the rule as text, what was observed, and where the rule came from."""

    name: str
    rule: str
    observed: str
    outcome: Outcome
    source: str
    confidence: str
    device: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StageRecord(Redacted):
    """A device entering a firmware-distribution stage (notified, transferring, ... activated, failed)."""

    device: str
    stage: str
    t: float
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRecord(Redacted):
    """A firmware image as an attachment: identity, header fields and the supplier-signature verdict.

    ``header`` holds the OTA header fields by name (ints and strings). ``signature`` is one of
    ``VALID``, ``INVALID``, ``ABSENT`` or ``NOT_CHECKED``.
    """

    name: str
    path: str
    header: Mapping[str, Any]
    sha256: str
    size: int
    signature: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TenancyRead(Redacted):
    """A device reading the CH's tenancy/supplier attributes (SECMP0056): which ones, when, what it got."""

    device: str
    cluster: int
    attributes: tuple[int, ...]
    t: float
    values: Mapping[str, Any] = field(default_factory=dict)
    trigger: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureRecord(Redacted):
    """One file a test's traffic was captured into: the air (pcapng) or the host's EZSP frames (text).

    ``file`` and ``keys_file`` are relative to the evidence file's directory (``captures/...``), so
    a report beside the evidence links them wherever the run's directory is copied. ``frames`` is
    the number of frames (pcapng) or logged frames (EZSP log) in the file. ``mark_times`` and
    ``mark_frames`` pair each timeline moment of the test (the ``t`` of its records) with the last
    frame written by then, as Wireshark numbers it, so the report can say where to look.
    """

    file: str
    format: str
    source: str
    frames: int
    keys_file: str = ""
    mark_times: tuple[float, ...] = ()
    mark_frames: tuple[int, ...] = ()

    def frame_at(self, t: float) -> int | None:
        """The last frame written by moment ``t`` (one of the marked moments), or None if unmarked."""
        for when, frame in zip(self.mark_times, self.mark_frames, strict=True):
            if when == t:
                return frame
        return None


Record: TypeAlias = (
    TransferRecord | AlertRecord | AttributeRead | CheckRecord | StageRecord | ImageRecord | TenancyRead
    | CaptureRecord
)

#: JSON key under which each record type is listed in a test's entry.
SECTION_BY_TYPE: dict[type, str] = {
    AlertRecord: "alerts",
    TransferRecord: "transfers",
    AttributeRead: "attribute_reads",
    CheckRecord: "checks",
    StageRecord: "stages",
    ImageRecord: "images",
    TenancyRead: "tenancy_reads",
    CaptureRecord: "captures",
}
TYPE_BY_SECTION: dict[str, type] = {v: k for k, v in SECTION_BY_TYPE.items()}

# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------


def to_json_obj(value: Any) -> Any:
    """A record (or any value inside one) as JSON-ready plain data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json_obj(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [to_json_obj(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_json_obj(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, Secret):  # unreachable for records (scrubbed on creation); belt and braces
        return REDACTED
    return value



def eui64_text(eui64: bytes) -> str:
    """EUI-64 bytes (display order) as ``00:0D:6F:...`` -- the form used in every record."""
    if len(eui64) != 8:
        raise ValueError(f"EUI-64 must be 8 bytes, got {len(eui64)}: {eui64.hex()}")
    return ":".join(f"{b:02X}" for b in eui64)
