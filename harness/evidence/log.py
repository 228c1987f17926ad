"""The evidence log: every test's records for a run, kept in a JSON file rewritten after each test."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.evidence.records import (
    SECTION_BY_TYPE,
    TYPE_BY_SECTION,
    Outcome,
    Record,
    TransferEvent,
    TransferEventKind,
    TransferOutcome,
    TransferRecord,
    to_json_obj,
)
from harness.evidence.redaction import redact, scrub

#: Identifies the JSON layout; bump when a field changes meaning or is removed.
SCHEMA = "han-harness-evidence/1"

def _default_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


#: Permissions of the evidence file: what a plain ``open(..., "w")`` would give.
_FILE_MODE = _default_file_mode()

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
    _json_bytes: tuple[dict[str, Any], bytes] | None = field(default=None, init=False, repr=False, compare=False)

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

    def to_json_bytes(self) -> bytes:
        """This entry as :meth:`EvidenceLog.write` lays it out (indent 2, nested in the tests list), in UTF-8."""
        entry = self.to_json_obj()
        if self._json_bytes is None or self._json_bytes[0] is not entry:
            text = textwrap.indent(json.dumps(entry, indent=2, sort_keys=False), "    ")
            self._json_bytes = (entry, text.encode("utf-8"))
        return self._json_bytes[1]

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
        self.run_info: dict[str, Any] = dict(scrub(dict(run_info or {})))
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

    def adopt(self, *entries: TestEvidence) -> None:
        """Take tests' evidence made elsewhere (another process of the run) as this log's own.

        Each replaces any entry of the same test, in its place; the file is rewritten once.
        """
        with self._lock:
            for entry in entries:
                self.tests[entry.nodeid] = entry
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
        # encoded once, not again at every rewrite (bench/README.md, "Suite time"), and written
        # piece by piece: the file grows to megabytes and is rewritten twice per test, so joining
        # it into one text and encoding that again each time was most of the rewrite's CPU.
        with self._lock:
            entries = [ev.to_json_bytes() for ev in self.tests.values()]
        head = json.dumps({**self.to_json_obj_header(), "tests": []}, indent=2, sort_keys=False)
        assert head.endswith('"tests": []\n}')
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; the evidence is for reviewers to read
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(head[: -len("[]\n}")].encode("utf-8"))
                if entries:
                    fh.write(b"[\n")
                    for index, entry in enumerate(entries):
                        if index:
                            fh.write(b",\n")
                        fh.write(entry)
                    fh.write(b"\n  ]\n}\n")
                else:
                    fh.write(b"[]\n}\n")
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

