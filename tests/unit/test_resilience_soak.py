"""Soak: 50 consecutive OTA transfers to the emulated PPMID with 1% ASH frame loss (``-m long``).

One radio and one hub for the whole run, as on a bench left running overnight. Between
transfers the PPMID is re-flashed to its baseline (what a lab does by hand) so each transfer is
a full upgrade: notify, query, every block, Upgrade End, activation. Every transfer must end
TRANSFERRED with the device holding the image byte for byte, and the evidence file written
after each one must hold every transfer so far. The totals -- transfers, OTA retries, link
recoveries (ASH retransmissions and NAKs, hub reconnects) -- are printed at the end.

    pytest -m long tests/unit/test_resilience_soak.py
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from harness.evidence import EvidenceLog, TransferOutcome, TransferRecord
from tests.unit.test_resilience_faults import (  # noqa: F401
    DEADLINE_S,
    IMAGE,
    PPMID,
    emulated_hub,
    fast_host_ash,
    held_image_sha256,
    rig,
)

TRANSFERS = int(__import__("os").environ.get("SOAK_TRANSFERS", "50"))
FRAME_LOSS = 0.01


@pytest.mark.long
async def test_fifty_transfers_with_one_percent_frame_loss(rig, tmp_path, request):  # noqa: F811
    evidence_path = tmp_path / "evidence.json"
    log = EvidenceLog(evidence_path, run_info={"rig": rig.name, "soak": f"{TRANSFERS} transfers, {FRAME_LOSS:.0%} loss"})
    started = time.monotonic()
    outcomes: list[TransferOutcome] = []
    retries = 0
    async with emulated_hub(rig, frame_loss=FRAME_LOSS, seed=50) as (radio, hub):
        device = radio.han.device(PPMID)
        image = hub.image(IMAGE)
        for index in range(TRANSFERS):
            nodeid = f"soak::transfer[{index}]"
            evidence = log.begin(nodeid)
            transfer = await hub.upgrade(PPMID, image)
            outcome = await asyncio.wait_for(transfer.wait(), DEADLINE_S)
            outcomes.append(outcome)
            activation = await asyncio.wait_for(transfer.wait_activation(), DEADLINE_S)
            record = transfer.record()
            retries += record.retries
            evidence.add(*hub.collect_evidence())
            log.finish(nodeid, "passed" if outcome is TransferOutcome.TRANSFERRED else "failed")
            assert outcome is TransferOutcome.TRANSFERRED, f"transfer {index}: {outcome.value}: {record.reason}"
            assert held_image_sha256(radio) == image.sha256, f"transfer {index}: image differs"
            assert activation is not None and activation.activation_result == 0, f"transfer {index}: not activated"
            await radio.acall(lambda: device.restore_firmware())
        counters = radio.call(lambda: radio.ncp.link.counters)
        lost = radio.frame_log.count("LOST")
        reconnects = hub.reconnects
    elapsed = time.monotonic() - started

    kept = EvidenceLog.load(evidence_path)
    records = [ev.of(TransferRecord)[0] for ev in kept.tests.values()]
    assert len(records) == TRANSFERS and all(r.outcome is TransferOutcome.TRANSFERRED for r in records)
    assert {r.image_sha256 for r in records} == {image.sha256}
    assert lost > 0, "no frame was lost: the soak proved nothing about loss"

    summary = (f"soak: {len(outcomes)} transfers ({outcomes.count(TransferOutcome.TRANSFERRED)} transferred) in "
               f"{elapsed:.1f} s with {FRAME_LOSS:.0%} ASH frame loss; OTA retries {retries}; "
               f"recoveries: {lost} frames lost, NCP retransmissions {counters.retransmissions}, "
               f"NAKs received {counters.naks_received}, hub reconnects {reconnects}")
    print(summary)
    _show(request, summary)


def _show(request: pytest.FixtureRequest, line: str) -> None:
    """Write ``line`` to the terminal even with output capture on (the totals are the point)."""
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        reporter.write_line("")
        reporter.write_line(line)
