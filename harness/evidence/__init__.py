"""Evidence: what the hub observed, in a form the report can render without the hub.

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

from harness.evidence.log import SCHEMA, EvidenceLog, TestEvidence
from harness.evidence.records import (
    SECTION_BY_TYPE,
    TYPE_BY_SECTION,
    AlertRecord,
    AttributeRead,
    CaptureRecord,
    CheckRecord,
    ImageRecord,
    Outcome,
    Record,
    StageRecord,
    TenancyRead,
    TransferEvent,
    TransferEventKind,
    TransferOutcome,
    TransferRecord,
    eui64_text,
    to_json_obj,
)
from harness.evidence.redaction import clear_registered_secrets, redact, register_secret

__all__ = [
    "SCHEMA",
    "SECTION_BY_TYPE",
    "TYPE_BY_SECTION",
    "AlertRecord",
    "CaptureRecord",
    "AttributeRead",
    "CheckRecord",
    "EvidenceLog",
    "ImageRecord",
    "Outcome",
    "Record",
    "StageRecord",
    "TenancyRead",
    "TestEvidence",
    "TransferEvent",
    "TransferEventKind",
    "TransferOutcome",
    "TransferRecord",
    "clear_registered_secrets",
    "eui64_text",
    "redact",
    "register_secret",
    "to_json_obj",
]
