"""The device is who its profile says: identity and SECMP0056 attributes read over the air.

Every attribute the profile names is read from the device and held to the profile's rule; the
report shows each value beside its rule, its source and how sure that source is.
"""

from __future__ import annotations

import pytest

from harness.evidence import Outcome


def attribute_table(reads) -> str:
    rows = [("attribute", "rule", "value", "status", "outcome")]
    for r in reads:
        value = "-" if r.value is None else (f"0x{r.value:X}" if isinstance(r.value, int) and not isinstance(r.value, bool) else str(r.value))
        rows.append((f"0x{r.cluster:04X}/0x{r.attribute:04X} {r.name}", r.expected, value, r.status, r.outcome.value))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


@pytest.mark.spec("SECMP0056", "ZCL Basic cluster identity", "ZCL OTA Upgrade client attributes")
async def test_identity_and_profile_attributes_match_the_profile(hub, dut, profile, present):
    reads = await hub.read_device(dut.name)
    wrong = [r for r in reads if r.outcome in (Outcome.FAIL, Outcome.NOT_OBSERVED)]
    declared = {(a.cluster, a.attribute) for a in profile.attributes}
    read = {(r.cluster, r.attribute) for r in reads}
    assert declared <= read, f"{dut.name}: attributes of profile {profile.name!r} not read: {sorted(declared - read)}"
    assert not wrong, (f"{dut.name}: {len(wrong)} attribute(s) do not meet profile {profile.name!r}:\n"
                       f"{attribute_table(wrong)}\nall reads:\n{attribute_table(reads)}")
