"""The GPF attribute table (profiles/gpf.toml): loading, serving reads, CoT events."""

from __future__ import annotations

import asyncio
import textwrap
from datetime import UTC, datetime

import pytest
import zigpy.types as t
from zigpy.zcl import foundation

from harness.evidence import TenancyRead
from harness.hub.gpf import DEFAULT_GPF_FILE, GpfDataError, GpfServer, load_gpf

Status = foundation.Status


class Clock:
    t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


def server(clock=None) -> tuple[GpfServer, list[TenancyRead]]:
    sink: list[TenancyRead] = []
    return GpfServer(load_gpf(), sink=sink.append, clock=clock or Clock()), sink


def test_shipped_file_serves_the_tenancy_and_supplier_attributes():
    data = load_gpf(DEFAULT_GPF_FILE)
    assert data.cluster == 0x0708
    assert {0x0200, 0x0201, 0x0100, 0x0101} <= set(data.attributes)
    assert "not available" in data.confidence


def test_read_answers_known_attributes_and_records_the_read():
    gpf, sink = server()
    gpf.note_cause("ppmid1", "joined")
    records = gpf.read("ppmid1", [0x0200, 0x0201, 0x0999])
    assert [r.status for r in records] == [Status.SUCCESS, Status.SUCCESS, Status.UNSUPPORTED_ATTRIBUTE]
    cot = records[0].value
    assert cot.type == foundation.DataTypeId.UTC
    assert t.UTCTime(cot.value).to_datetime() == datetime(2026, 1, 1, tzinfo=UTC)
    (read,) = sink
    assert read.attributes == (0x0200, 0x0201, 0x0999)
    assert read.values == {"0x0200": "2026-01-01T00:00:00Z", "0x0201": 0, "0x0999": "UNSUPPORTED_ATTRIBUTE"}
    assert read.trigger == "joined"
    # The records serialise as a Read Attributes Response with zigpy's own schema.
    schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp].schema
    schema(status_records=records).serialize()


def test_change_of_tenancy_changes_the_date_and_builds_a_report():
    gpf, _ = server()
    changed = gpf.change_of_tenancy(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    assert changed.shown() == "2026-06-01T12:00:00Z"
    report = gpf.report_payload([0x0200])
    (attribute,) = report.attribute_reports
    assert attribute.attrid == 0x0200
    assert report.serialize()[:2] == b"\x00\x02"
    with pytest.raises(ValueError, match="time zone"):
        gpf.change_of_tenancy(datetime(2026, 6, 1))


async def test_wait_for_read_is_registered_before_the_read_arrives():
    clock = Clock()
    gpf, _ = server(clock)
    gpf.read("ppmid1", [0x0200])
    clock.t += 5
    waiting = gpf.wait_for_read("ppmid1", after=clock.t)
    assert not waiting.done(), "an older read does not count"
    gpf.read("ihd1", [0x0200])
    assert not waiting.done()
    gpf.read("ppmid1", [0x0201])
    got = await asyncio.wait_for(waiting, 1)
    assert got.attributes == (0x0201,)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("[[attribute]]\nid=0x0200\nname='x'\ntype='utc_time'\nvalue=5\nsource='s'\nconfidence='c'\n", "attribute[0].value: a utc_time is written as text"),
        ("[[attribute]]\nid=0x0200\nname='x'\ntype='utc_time'\nvalue='2026-01-01T00:00:00'\nsource='s'\nconfidence='c'\n", "attribute[0].value: time '2026-01-01T00:00:00' has no zone"),
        ("[[attribute]]\nid=0x0201\nname='x'\ntype='uint8'\nvalue=300\nsource='s'\nconfidence='c'\n", "attribute[0].value: 300 does not fit in a uint8"),
        ("[[attribute]]\nid=0x0201\nname='x'\ntype='float'\nvalue=1\nsource='s'\nconfidence='c'\n", "attribute[0].type: expected one of"),
        ("[[attribute]]\nid=0x0201\nname='x'\ntype='uint8'\nvalue=1\nsource='s'\n", "attribute[0].confidence: missing"),
    ],
)
def test_bad_gpf_file_names_file_and_field(tmp_path, body, where):
    path = tmp_path / "gpf.toml"
    path.write_text("cluster = 0x0708\nsource = 's'\nconfidence = 'c'\n" + textwrap.dedent(body))
    with pytest.raises(GpfDataError) as info:
        load_gpf(path)
    assert "gpf.toml" in str(info.value) and where in str(info.value)
