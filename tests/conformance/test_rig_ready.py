"""The bench is what the rig says: the radio answers, the HAN is up on the rig's channel, every device
under test has joined with its install code and still answers.

The session's rig check stops a run on a bench that is not ready; these tests put the same facts
in the report, as evidence a reviewer can read.
"""

from __future__ import annotations

import pytest

from harness.rig import EZSP_VERSIONS
from tests.fixtures.conformance_helpers import check, expect

#: ZCL clusters a GB HAN device must be a client of for the CH to serve it (ZSE 1.x).
OTA_CLUSTER = 0x0019
DEVICE_MANAGEMENT = 0x0708
SE_PROFILE = 0x0109


@pytest.mark.spec("harness rig check: radio reachable, EZSP/stack version, HAN on the rig's channel")
async def test_radio_answers_and_han_is_up_on_the_rigs_channel(hub, rig):
    app = hub.app
    ezsp = app.ezsp.ezsp_version  # the version negotiated with the NCP
    stack = str(app.state.node_info.version)
    expect(check(hub, name="radio reachable", device=None,
                 rule=f"the radio answers and speaks an EZSP version bellows supports ({min(EZSP_VERSIONS)}-{max(EZSP_VERSIONS)})",
                 observed=f"EZSP v{ezsp}, stack {stack}", ok=ezsp in EZSP_VERSIONS and bool(stack.strip()),
                 source="bellows 1.2.1 supported EZSP versions"))
    network = app.state.network_info
    rule = f"HAN formed on channel {rig.han.channel}" + (f", PAN 0x{rig.han.pan_id:04X}" if rig.han.pan_id is not None else "")
    ok = network.channel == rig.han.channel and (rig.han.pan_id is None or network.pan_id == rig.han.pan_id)
    expect(check(hub, name="HAN up", device=None, rule=rule,
                 observed=f"channel {network.channel}, PAN 0x{network.pan_id:04X}", ok=ok, source=f"rig file {rig.path.name}"))


@pytest.mark.spec("ZigBee SE 1.x: install-code join", "GBCS: CH is coordinator and trust centre")
async def test_device_is_joined_and_answers(hub, dut, present, join_records):
    for record in join_records:  # what its join produced: tenancy read, key establishment
        hub.evidence.add(record)
    admitted = dut.name in hub.admitted
    device = hub.device(dut.name) if admitted else None
    clients = {cluster for ep_id, ep in (device.endpoints.items() if device else ()) if ep_id
               for cluster in getattr(ep, "out_clusters", {})}
    missing = [f"0x{c:04X}" for c in (OTA_CLUSTER, DEVICE_MANAGEMENT) if c not in clients]
    running = await hub.current_version(dut.name) if admitted else None
    observed = (f"admitted as 0x{device.nwk:04X}; client clusters {', '.join(f'0x{c:04X}' for c in sorted(clients)) or 'none'}"
                f"{'; missing ' + ', '.join(missing) if missing else ''}; "
                f"CurrentFileVersion {'no answer' if running is None else f'0x{running:08X}'}") if admitted else "not admitted"
    expect(check(hub, name="device joined", device=dut.name,
                 rule=f"{dut.name} ({dut.eui64_text}) joined with its install code, is a client of OTA (0x0019) "
                      "and Device Management (0x0708), and answers a read",
                 observed=observed, ok=admitted and not missing and running is not None,
                 source="DESIGN: rig check; ZSE device descriptions"))
