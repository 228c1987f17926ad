"""Expected alert sequences, loaded from a data file with provenance.

The sequences are spec knowledge, so they live in ``profiles/expectations/*.toml`` where a lab can
correct them without touching code (see the header of the shipped file for what each key means
and why the CHTS text could not be used). The loader is strict: an unknown key, a missing
``source`` or ``confidence``, or a value of the wrong kind fails here, naming the file and the
field -- not later, in the middle of a check.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.gbcs.codes import CCS08_RESPONSES, CS09_RESULTS
from harness.hub.alerts import alert_label
from harness.tomlread import ConfigError, Table, load_toml

#: Where the shipped expectations live (relative to the repository root).
DEFAULT_EXPECTATIONS = Path(__file__).resolve().parents[2] / "profiles" / "expectations" / "secmp0007-alert-sequences.toml"

#: Where the OTA client rules live (rules of the device's behaviour, each with its provenance).
DEFAULT_CLIENT_RULES = DEFAULT_EXPECTATIONS.with_name("ota-client-rules.toml")

ROLES = ("PPMID", "IHD", "HCALCS")


class ExpectationsError(ConfigError):
    """An expectations file is wrong: ``<file>: <key.path>: <what was wrong>``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectedAlert:
    """One alert a sequence expects. ``firmware_version``: "image", "previous" or an integer."""

    code: int
    response_code: int | None = None
    activation_result: int | None = None
    entity: str | None = "device"
    firmware_version: str | int | None = None
    within_s: float | None = None

    def describe(
        self, *, image_version: int | None = None, previous_version: int | None = None, short: bool = False
    ) -> str:
        """The expectation as text; ``short`` for table cells (``0x8F8A CCS08 SUCCESS, resp 0, v0x00000102``)."""
        parts = [alert_label(self.code, short=short)]
        if self.response_code is not None:
            parts.append(
                f"resp {self.response_code}" if short
                else f"response {self.response_code} ({CCS08_RESPONSES.get(self.response_code, '?')})"
            )
        if self.activation_result is not None:
            parts.append(
                f"{CS09_RESULTS.get(self.activation_result, '?')}" if short
                else f"activateImage {self.activation_result} ({CS09_RESULTS.get(self.activation_result, '?')})"
            )
        version = self.resolve_version(image_version=image_version, previous_version=previous_version)
        if version is not None:
            parts.append(f"v0x{version:08X}" if short else f"version 0x{version:08X}")
        elif self.firmware_version is not None:
            parts.append(f"version = {self.firmware_version}")
        return ", ".join(parts)

    def resolve_version(self, *, image_version: int | None, previous_version: int | None) -> int | None:
        if isinstance(self.firmware_version, int):
            return self.firmware_version
        if self.firmware_version == "image":
            return image_version
        if self.firmware_version == "previous":
            return previous_version
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectedSequence:
    name: str
    description: str
    roles: tuple[str, ...]
    alerts: tuple[ExpectedAlert, ...]
    forbid: tuple[int, ...]
    forbid_blocks: bool
    source: str
    confidence: str
    file: str

    @property
    def provenance(self) -> str:
        return f"source: {self.source}; confidence: {self.confidence}"


@dataclass(frozen=True, slots=True)
class Expectations:
    """All sequences of one file, by name."""

    file: Path
    sequences: dict[str, ExpectedSequence]

    def __getitem__(self, name: str) -> ExpectedSequence:
        try:
            return self.sequences[name]
        except KeyError:
            raise KeyError(
                f"{self.file}: no sequence named {name!r} (known: {', '.join(self.sequences)})"
            ) from None

    def __iter__(self) -> Iterator[ExpectedSequence]:
        return iter(self.sequences.values())


def _alert(table: Table) -> ExpectedAlert:
    code = table.integer("code", min=0, max=0xFFFF, hex_width=4)
    response = table.integer("response_code", None, min=0, max=3)
    result = table.integer("activation_result", None, min=0, max=1)
    if response is not None and result is not None:
        table.fail("activation_result", "an alert has a response_code (CCS08) or an activation_result (CS09), not both")
    entity = table.text("entity", "device", choices=("device",))
    version_raw = table.raw("firmware_version", None)
    if version_raw is not None and not (
        version_raw in ("image", "previous") or (isinstance(version_raw, int) and not isinstance(version_raw, bool))
    ):
        table.fail("firmware_version", f"expected \"image\", \"previous\" or an integer, got {version_raw!r}")
    within = table.number("within_s", None, min=0.0)
    table.finish()
    return ExpectedAlert(
        code=code,
        response_code=response,
        activation_result=result,
        entity=entity,
        firmware_version=version_raw,
        within_s=within,
    )


def load_expectations(path: Path | str = DEFAULT_EXPECTATIONS) -> Expectations:
    """Read and check an expectations file."""
    path = Path(path)
    top = Table(load_toml(path, ExpectationsError), file=path, error=ExpectationsError)
    top.integer("schema", min=1, max=1)
    sequences: dict[str, ExpectedSequence] = {}
    for table in top.tables("sequence"):
        name = table.text("name")
        if name in sequences:
            table.fail("name", f"duplicate sequence name {name!r}")
        roles = table.texts("roles")
        for i, role in enumerate(roles):
            if role not in ROLES:
                table.fail(f"roles[{i}]", f"expected one of {', '.join(ROLES)}, got {role!r}")
        forbid_raw = table.raw("forbid", [])
        if not isinstance(forbid_raw, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in forbid_raw):
            table.fail("forbid", f"expected an array of alert codes (integers), got {forbid_raw!r}")
        alerts = tuple(_alert(t) for t in table.tables("alert"))
        sequence = ExpectedSequence(
            name=name,
            description=table.text("description"),
            roles=roles,
            alerts=alerts,
            forbid=tuple(forbid_raw),
            forbid_blocks=table.flag("forbid_blocks", False),
            source=table.text("source"),
            confidence=table.text("confidence"),
            file=str(path),
        )
        if not alerts and not sequence.forbid:
            table.fail("alert", "a sequence must expect at least one alert or forbid one")
        table.finish()
        sequences[name] = sequence
    if not sequences:
        top.fail("sequence", "the file defines no [[sequence]]")
    top.finish()
    return Expectations(path, sequences)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientRule:
    """One rule an OTA client is held to, with where it comes from (a spec, or the real-device reference)."""

    name: str
    rule: str
    source: str
    confidence: str


def load_client_rules(path: Path | str = DEFAULT_CLIENT_RULES) -> dict[str, ClientRule]:
    """The ``[rules.NAME]`` entries of an OTA client rules file, by name; a wrong entry names file and key."""
    path = Path(path)
    root = Table(load_toml(path, ExpectationsError), file=path, error=ExpectationsError)
    rules_table = root.table("rules")
    rules: dict[str, ClientRule] = {}
    for name in rules_table.keys():
        entry = rules_table.table(name)
        rules[name] = ClientRule(name=name, rule=entry.text("rule"), source=entry.text("source"),
                                 confidence=entry.text("confidence"))
        entry.finish()
    rules_table.finish()
    root.finish()
    return rules
