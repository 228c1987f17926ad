"""Evidence records: what the hub observed, in a form the report can render without the hub.

The hub (``harness.hub``) produces these records; the report (``harness.report``) renders them.
Neither imports the other: both import this module, and the JSON written by :class:`EvidenceLog`
is the hand-over for anyone who renders later (a sign-off reviewer never runs the hub).

Three properties hold for every record type here, because the report's credibility rests on them:

* **Frozen.** A record is a statement of what happened; nobody edits it after the fact. A
  transfer that is still running is re-recorded as a new snapshot with the same ``transfer_id``
  and :meth:`TestEvidence.add` keeps the newest one.
* **Redacted on creation.** Every text field is passed through :func:`redact` in ``__post_init__``
  and a :class:`~harness.secret.Secret` placed in any field is replaced by a redacted marker, so
  the JSON, the HTML and any log line built from a record cannot disagree about what was shown.
* **Plain data.** Integers, strings, floats, booleans, ``None``, tuples and string-keyed mappings
  only, so ``to_json`` is a total function and the report needs no domain knowledge to parse it.

Times are UTC wall-clock seconds since the Unix epoch (``time.time()``), as floats; a transfer's
timeline is read as ``event.t - record.started``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import re
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from harness.secret import REDACTED, Secret

#: Identifies the JSON layout; bump when a field changes meaning or is removed.
SCHEMA = "han-harness-evidence/1"

def _default_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


#: Permissions of the evidence file: what a plain ``open(..., "w")`` would give.
_FILE_MODE = _default_file_mode()

# --------------------------------------------------------------------------------------------
# Redaction
# --------------------------------------------------------------------------------------------

_registry_lock = threading.Lock()
_secret_patterns: dict[str, re.Pattern[str]] = {}
#: Length of the shortest text any registered pattern can match: shorter text needs no scan
#: (most record fields -- statuses, empty details -- are short, and records are made per block).
_shortest_match = 0

#: Shortest byte secret worth scrubbing from free text; shorter values would match ordinary data.
_MIN_SECRET_BYTES = 4


def _pattern_for_bytes(raw: bytes) -> re.Pattern[str]:
    """Hex digits of ``raw`` in any case, with or without one separator (``:``, ``-``, space) per byte.

    Install codes and keys turn up as ``83FED340...``, ``83:fe:d3:40...`` or ``83 FE D3 40``
    depending on who printed them; all of those must go.
    """
    pairs = [f"{b:02x}" for b in raw]
    return re.compile(r"[:\- ]?".join(pairs), re.IGNORECASE)


def register_secret(secret: Secret | bytes | str) -> None:
    """Make :func:`redact` scrub this value (and its hex spellings) from any text it is given.

    Call it where a secret enters the run (the hub registers the rig's network key, install codes
    and the link keys it derives). Values shorter than 4 bytes are ignored: they would scrub
    ordinary data.
    """
    value = secret.reveal() if isinstance(secret, Secret) else secret
    patterns: list[tuple[str, re.Pattern[str]]] = []
    if isinstance(value, str):
        if len(value) >= _MIN_SECRET_BYTES:
            patterns.append(("s:" + value, re.compile(re.escape(value), re.IGNORECASE)))
            hexish = re.fullmatch(r"(?:[0-9A-Fa-f]{2}[:\- ]?)+", value.strip())
            if hexish:
                raw = bytes.fromhex(re.sub(r"[:\- ]", "", value.strip()))
                if len(raw) >= _MIN_SECRET_BYTES:
                    patterns.append(("b:" + raw.hex(), _pattern_for_bytes(raw)))
    else:
        raw = bytes(value)
        if len(raw) >= _MIN_SECRET_BYTES:
            patterns.append(("b:" + raw.hex(), _pattern_for_bytes(raw)))
            # A key that is printable text (the well-known 'ZigBeeAlliance09') can appear as text too.
            try:
                text = raw.decode("ascii")
            except UnicodeDecodeError:
                text = ""
            if text.isprintable() and text:
                patterns.append(("s:" + text, re.compile(re.escape(text))))
    global _shortest_match
    with _registry_lock:
        for key, pattern in patterns:
            _secret_patterns.setdefault(key, pattern)
        # Keys are "s:<text>" or "b:<hex>": the part after the prefix is the shortest match.
        _shortest_match = min((len(key) - 2 for key in _secret_patterns), default=0)


def clear_registered_secrets() -> None:
    """Forget every registered secret (between runs, and in tests of redaction itself)."""
    global _shortest_match
    with _registry_lock:
        _secret_patterns.clear()
        _shortest_match = 0


def redact(text: str) -> str:
    """``text`` with every registered secret value replaced by the redaction marker."""
    if not _secret_patterns or len(text) < _shortest_match:
        return text
    with _registry_lock:
        patterns = list(_secret_patterns.values())
    for pattern in patterns:
        text = pattern.sub(REDACTED, text)
    return text


def _scrub(value: Any) -> Any:
    """Redact one field value recursively: Secrets become markers, strings are scrubbed."""
    if isinstance(value, Secret):
        return f"{REDACTED} ({value.fingerprint()})"
    if isinstance(value, enum.Enum):  # before str: Outcome and friends are str enums
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (bytes, bytearray)):
        return redact(bytes(value).hex())
    if isinstance(value, tuple):
        return tuple(_scrub(v) for v in value)
    if isinstance(value, list):
        return tuple(_scrub(v) for v in value)
    if isinstance(value, Mapping):
        return {str(k): _scrub(v) for k, v in value.items()}
    return value


class _Redacted:
    """Mixin for frozen dataclasses: scrub every field once, at construction."""

    __slots__ = ()

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            current = getattr(self, f.name)
            cleaned = _scrub(current)
            if cleaned is not current:
                object.__setattr__(self, f.name, cleaned)


# --------------------------------------------------------------------------------------------
# Record types
# --------------------------------------------------------------------------------------------


class Outcome(str, enum.Enum):
    """The verdict of one check. NOT_OBSERVED (nothing arrived in time) is not FAIL (wrong value)."""

    PASS = "PASS"
    FAIL = "FAIL"
    NOT_OBSERVED = "NOT_OBSERVED"
    SKIPPED = "SKIPPED"


class TransferEventKind(str, enum.Enum):
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


class TransferOutcome(str, enum.Enum):
    """How a transfer ended, from the CH's point of view."""

    IN_PROGRESS = "in_progress"
    TRANSFERRED = "transferred"  # Upgrade End Request SUCCESS after the whole image
    FAILED = "failed"  # device reported INVALID_IMAGE / ABORT / REQUIRE_MORE_IMAGE
    STALLED = "stalled"  # no progress within the stall timeout
    REFUSED = "refused"  # no block sent: hardware mismatch, image discarded, nothing to offer
    ABORTED = "aborted"  # the CH stopped it (test ended, shutdown)


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferEvent(_Redacted):
    """One request or response on a transfer's timeline.

    ``offset`` and ``size`` are the file offset and byte count the event concerns (the device's
    requested offset and maximum size for a request; the offset and data length actually sent for
    a response). ``status`` is the ZCL status name (``SUCCESS``, ``WAIT_FOR_DATA``...) where the
    frame has one. ``wait_s`` is the delay the CH asked for (WAIT_FOR_DATA, Upgrade End "at time").
    ``minimum_block_period`` is the MinimumBlockPeriod a WAIT_FOR_DATA carried (raw, in the
    device's unit), so a check can hold the device's later pacing to it.
    """

    t: float
    kind: TransferEventKind
    offset: int | None = None
    size: int | None = None
    status: str | None = None
    wait_s: float | None = None
    detail: str = ""
    minimum_block_period: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferRecord(_Redacted):
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
class AlertRecord(_Redacted):
    """One GBCS alert: raised by the CH itself (CCS08) or the device's outcome (CS09 facts).

    ``raised_by`` is ``"CH"`` for the CH's own alerts, or the device name when the fact comes from
    the device. ``observed_how`` says how the harness knows (which frame, which attribute read),
    because on a bench the CS09 alert itself travels to the supplier, not to the CH.
    ``response_code`` is set on CCS08 (0-3); ``activation_result`` on CS09 (0 success, 1 failure).
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


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributeRead(_Redacted):
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
class CheckRecord(_Redacted):
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
class StageRecord(_Redacted):
    """A device entering a firmware-distribution stage (notified, transferring, ... activated, failed)."""

    device: str
    stage: str
    t: float
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRecord(_Redacted):
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
class TenancyRead(_Redacted):
    """A device reading the CH's tenancy/supplier attributes (SECMP0056): which ones, when, what it got."""

    device: str
    cluster: int
    attributes: tuple[int, ...]
    t: float
    values: Mapping[str, Any] = field(default_factory=dict)
    trigger: str = ""


Record = Union[
    TransferRecord, AlertRecord, AttributeRead, CheckRecord, StageRecord, ImageRecord, TenancyRead
]

#: JSON key under which each record type is listed in a test's entry.
SECTION_BY_TYPE: dict[type, str] = {
    AlertRecord: "alerts",
    TransferRecord: "transfers",
    AttributeRead: "attribute_reads",
    CheckRecord: "checks",
    StageRecord: "stages",
    ImageRecord: "images",
    TenancyRead: "tenancy_reads",
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


def _from_json_obj(cls: type, data: Mapping[str, Any]) -> Any:
    """Rebuild one record from its JSON form (the inverse of :func:`to_json_obj`)."""
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.name == "events":
            value = tuple(_from_json_obj(TransferEvent, e) for e in value)
        elif f.name == "kind":
            value = TransferEventKind(value)
        elif f.name == "outcome":
            value = TransferOutcome(value) if cls is TransferRecord else Outcome(value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


@dataclass(slots=True)
class TestEvidence:
    """The records gathered during one test (mutable while the test runs; records are frozen).

    Records keep the order they were added in, per section. A :class:`TransferRecord` with a
    ``transfer_id`` already present replaces the earlier snapshot in place.
    """

    __test__ = False  # not a pytest test class despite the name

    nodeid: str
    started: float = field(default_factory=time.time)
    finished: float | None = None
    outcome: str | None = None
    #: The spec items the test evidences (its ``@pytest.mark.spec``), for the requirement matrix.
    spec_items: tuple[str, ...] = ()
    records: dict[str, list[Any]] = field(
        default_factory=lambda: {section: [] for section in TYPE_BY_SECTION}
    )
    #: (what the entry was made from, the entry): see :meth:`to_json_obj`.
    _json_cache: tuple[Any, dict[str, Any]] | None = field(default=None, init=False, repr=False, compare=False)
    _json_text: tuple[dict[str, Any], str] | None = field(default=None, init=False, repr=False, compare=False)

    def add(self, *records: Record) -> None:
        """File each record under its section (replacing an older snapshot of the same transfer)."""
        for record in records:
            section = SECTION_BY_TYPE.get(type(record))
            if section is None:
                raise TypeError(
                    f"evidence for {self.nodeid}: {type(record).__name__} is not an evidence record"
                )
            bucket = self.records[section]
            if isinstance(record, TransferRecord):
                for i, old in enumerate(bucket):
                    if old.transfer_id == record.transfer_id:
                        bucket[i] = record
                        break
                else:
                    bucket.append(record)
            else:
                bucket.append(record)

    def extend(self, records: Iterable[Record]) -> None:
        self.add(*records)

    def of(self, record_type: type) -> list[Any]:
        """The records of one type, in order (a copy)."""
        return list(self.records[SECTION_BY_TYPE[record_type]])

    def to_json_obj(self) -> dict[str, Any]:
        # The log rewrites its file after every test with every test in it; converting the
        # finished, unchanged tests again each time made a run quadratic in its number of tests
        # (bench/README.md, "Suite time"). Records are frozen, so equal inputs give equal output.
        key = (self.nodeid, self.started, self.finished, self.outcome, self.spec_items,
               tuple(tuple(self.records[section]) for section in TYPE_BY_SECTION))
        if self._json_cache is not None and self._json_cache[0] == key:
            return self._json_cache[1]
        entry: dict[str, Any] = {
            "nodeid": redact(self.nodeid),
            "started": self.started,
            "finished": self.finished,
            "outcome": self.outcome,
            "spec": [redact(item) for item in self.spec_items],
        }
        for section in TYPE_BY_SECTION:
            entry[section] = [to_json_obj(r) for r in self.records[section]]
        self._json_cache = (key, entry)
        return entry

    def to_json_text(self) -> str:
        """This entry as :meth:`EvidenceLog.write` lays it out: indent 2, nested in the tests list."""
        entry = self.to_json_obj()
        if self._json_text is None or self._json_text[0] is not entry:
            self._json_text = (entry, textwrap.indent(json.dumps(entry, indent=2, sort_keys=False), "    "))
        return self._json_text[1]

    @classmethod
    def from_json_obj(cls, data: Mapping[str, Any]) -> TestEvidence:
        ev = cls(
            nodeid=data["nodeid"],
            started=data.get("started", 0.0),
            finished=data.get("finished"),
            outcome=data.get("outcome"),
            spec_items=tuple(str(item) for item in data.get("spec", ())),
        )
        for section, record_type in TYPE_BY_SECTION.items():
            for item in data.get(section, ()):
                ev.add(_from_json_obj(record_type, item))
        return ev


class EvidenceLog:
    """All tests' evidence for a run, rewritten to ``path`` atomically after each test.

    Rewriting the whole file (to a temporary file in the same directory, then ``os.replace``)
    means a crash mid-run leaves a complete, parseable file holding every finished test, never a
    half-written one.
    """

    def __init__(self, path: Path | str | None, *, run_info: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.run_info: dict[str, Any] = dict(_scrub(dict(run_info or {})))
        self.tests: dict[str, TestEvidence] = {}
        self._lock = threading.Lock()

    def begin(self, nodeid: str) -> TestEvidence:
        """Start (or restart, for a rerun) the evidence of one test.

        The file is rewritten at once, with this test's outcome ``null``: if the process dies
        before :meth:`finish` (killed, power cut), the file says the test began and never
        finished -- INCOMPLETE in the report -- rather than leaving it out.
        """
        with self._lock:
            ev = TestEvidence(nodeid=nodeid)
            self.tests[nodeid] = ev
        self.write()
        return ev

    def get(self, nodeid: str) -> TestEvidence | None:
        return self.tests.get(nodeid)

    def finish(self, nodeid: str, outcome: str | None) -> None:
        """Close one test's evidence and rewrite the file."""
        with self._lock:
            ev = self.tests.get(nodeid) or TestEvidence(nodeid=nodeid)
            self.tests[nodeid] = ev
            ev.finished = time.time()
            ev.outcome = outcome
        self.write()

    def to_json_obj(self) -> dict[str, Any]:
        with self._lock:
            tests = [ev.to_json_obj() for ev in self.tests.values()]
        return {**self.to_json_obj_header(), "tests": tests}

    def to_json_obj_header(self) -> dict[str, Any]:
        """The file's fields before its ``tests`` list."""
        return {"schema": SCHEMA, "written": time.time(), "run": to_json_obj(self.run_info)}

    def write(self) -> Path | None:
        """Rewrite the file atomically. Returns the path written, or None when no path was set."""
        if self.path is None:
            return None
        # The same text as json.dumps(self.to_json_obj(), indent=2), but each test's entry is
        # encoded once, not again at every rewrite (bench/README.md, "Suite time").
        with self._lock:
            entries = [ev.to_json_text() for ev in self.tests.values()]
        head = json.dumps({**self.to_json_obj_header(), "tests": []}, indent=2, sort_keys=False)
        assert head.endswith('"tests": []\n}')
        text = head[: -len("[]\n}")] + ("[\n" + ",\n".join(entries) + "\n  ]\n}" if entries else "[]\n}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; the evidence is for reviewers to read
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        return self.path

    @classmethod
    def load(cls, path: Path | str) -> EvidenceLog:
        """Read an evidence file back into records (for the report and for tests)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a readable evidence file: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{path}: not an evidence file: the top level is a {type(data).__name__}, not an object")
        if data.get("schema") != SCHEMA:
            raise ValueError(f"{path}: schema: expected {SCHEMA!r}, got {data.get('schema')!r}")
        run = data.get("run") or {}
        if not isinstance(run, dict):
            raise ValueError(f"{path}: run: expected an object, got a {type(run).__name__}")
        log = cls(path, run_info=run)
        for index, entry in enumerate(data.get("tests") or ()):
            try:
                ev = TestEvidence.from_json_obj(entry)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ValueError(f"{path}: tests[{index}]: not a test's evidence: {exc!r}") from None
            log.tests[ev.nodeid] = ev
        return log


def eui64_text(eui64: bytes) -> str:
    """EUI-64 bytes (display order) as ``00:0D:6F:...`` -- the form used in every record."""
    if len(eui64) != 8:
        raise ValueError(f"EUI-64 must be 8 bytes, got {len(eui64)}: {eui64.hex()}")
    return ":".join(f"{b:02X}" for b in eui64)
