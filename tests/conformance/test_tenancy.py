"""SECMP0056: the device reads the GPF's change-of-tenancy attributes after joining and after a CoT.

The harness, as the CH's GPF, serves the tenancy attributes (profiles/gpf.toml) and watches the
device read them; which attributes, and how soon, come from the device's profile ([tenancy]).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from harness.evidence import Outcome, TenancyRead
from harness.hub.gpf import COT_DATE_ATTRIBUTE
from tests.fixtures.conformance_helpers import check, expect, failure


def tenancy_of(profile):
    if profile.tenancy is None:
        pytest.skip(f"profile {profile.name!r} has no [tenancy] expectations")
    return profile.tenancy


@pytest.mark.spec("SECMP0056")
async def test_device_reads_tenancy_after_joining(hub, bench, dut, profile, windows, present, join_records):
    tenancy = tenancy_of(profile)
    joined = [r for r in hub.gpf.reads_by(dut.name) if r.trigger == "joined"]
    if joined:
        read, trigger = joined[0], "joining the HAN"
        for record in join_records:
            if isinstance(record, TenancyRead):
                hub.evidence.add(record)
        missing = [a for a in tenancy.attributes if a not in read.attributes]
        record = check(hub, name="SECMP0056 tenancy read", device=dut.name,
                       rule=f"{dut.name} reads {', '.join(f'0x{a:04X}' for a in tenancy.attributes)} from the GPF "
                            f"(0x{tenancy.cluster:04X}) after {trigger}",
                       observed="read " + ", ".join(f"0x{a:04X}" for a in read.attributes)
                                + (f"; not read: {', '.join(f'0x{a:04X}' for a in missing)}" if missing else ""),
                       ok=not missing, source=tenancy.source, confidence=tenancy.confidence)
    else:
        # This hub did not see the device join (an earlier hub of the run admitted it): make it join again.
        t = time.time()
        await bench.rejoin(dut)
        record = await hub.expect_tenancy_read(dut.name, after=t, trigger="rejoining the HAN",
                                               within_s=windows.cap(tenancy.read_within_s))
    assert record.outcome is Outcome.PASS, failure(record)


@pytest.mark.spec("SECMP0056")
async def test_device_reads_tenancy_again_after_a_change_of_tenancy(hub, dut, profile, windows, present):
    tenancy = tenancy_of(profile)
    # A CoT date the device has not seen yet (every run and every device gets its own).
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1 + len(hub.gpf.reads))
    t = await hub.change_of_tenancy(when, devices=[dut.name])
    record = await hub.expect_tenancy_read(dut.name, after=t, trigger="the change-of-tenancy event",
                                           within_s=windows.cap(tenancy.read_within_s))
    assert record.outcome is Outcome.PASS, failure(record)
    served = hub.gpf.attributes[COT_DATE_ATTRIBUTE].shown()
    read = next(r for r in hub.gpf.reads_by(dut.name) if r.t >= t)
    key = f"0x{COT_DATE_ATTRIBUTE:04X}"
    expect(check(hub, name="new CoT date served", device=dut.name,
                 rule=f"the read after the CoT returns the new ChangeOfTenancyUpdateDateTime {served}",
                 observed=f"{key} = {read.values.get(key, 'not read')}", ok=read.values.get(key) == served,
                 source="SECMP0056: devices clear the previous occupant's data from the new CoT date",
                 confidence=tenancy.confidence))
