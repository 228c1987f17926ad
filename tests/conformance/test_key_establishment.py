"""Smart Energy key establishment: the device runs CBKE (Crypto Suite 2) with the CH as trust centre.

A GB IHD or PPMID joins with its install-code key and must then replace that key with a
trust-centre link key through the Key Establishment cluster (0x0800). The CH answers as the KE
server from its SE endpoint, with the certificate in its NCP's tokens; a device that offers the
wrong suite, presents a certificate from another CA, sends a wrong key confirmation or never
finishes fails, with the stage and the Terminate status (or the timeout) in the report.

Which devices must do it is the rig's call (``cbke_required``); the others are skipped, saying so.
"""

from __future__ import annotations

import pytest


@pytest.mark.spec("ZigBee SE 1.x (07-5356) Annex C.3: Key Establishment cluster, CBKE Crypto Suite 2",
                  "GBCS: the CH is the HAN's trust centre")
async def test_device_completes_key_establishment_with_the_ch(hub, rig, dut):
    if not dut.cbke_required:
        pytest.skip(f"rig {rig.name!r}: {dut.name} does not require CBKE (cbke_required = false)")
    # Seen when the device joined (the run's hub, at the rig check); otherwise make it join afresh now.
    outcome = hub.key_establishment.outcome(dut.name)
    if outcome is None:
        outcome = await hub.establish_again(dut.name)
    hub.evidence.add(outcome.evidence())
    assert outcome.established, outcome.describe()
