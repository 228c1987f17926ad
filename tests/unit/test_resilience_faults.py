"""Resilience fault matrix: the hub on the emulated rig, through bellows, with the bench's usual faults.

Each test starts an emulated radio (rigs/emulated.toml), starts the hub on its pty exactly as a
bench run would, joins the PPMID with its install code, transfers a small image, and injects one
fault: ASH frames lost or corrupted on the serial line, the NCP resetting, the serial port
vanishing (and coming back, or not), the device rebooting or leaving the HAN, line noise. Each
asserts what a lab engineer would see: the transfer's outcome, the image the device holds (byte
for byte), and the evidence as written to and read back from the JSON evidence file -- a fault
must never cost evidence nor turn into a false verdict about the device.

Timings are scaled down so the file runs in seconds: bellows' ASH retransmit timers
(``bellows.ash.T_RX_ACK_*``, read at run time, named so they can be scaled) and the emulated
NCP's own ASH timings, the hub's reconnect back-off, and the OTA stall timeout where a test waits
for one. (Already covered in test_hub_emulated.py and not repeated here: a single NCP reset
with resume, the radio thread stopping for good, and leaves_han's bare outcome.)
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

import bellows.ash
import pytest

from harness.emulator.ash import AshTimings
from harness.emulator.server import EmulatedRadio
from harness.evidence import (
    AlertRecord,
    EvidenceLog,
    StageRecord,
    TestEvidence,
    TransferEventKind,
    TransferOutcome,
    TransferRecord,
)
from harness.hub import CommsHub
from harness.hub.commshub import HubError
from harness.hub.settings import HubSettings
from harness.report.svg_timeline import timeline_svg
from harness.rig import Rig, load_rig
from tests.fixtures.emulatedhub import PPMID, RIG_FILE, joined_hub

IMAGE = "ppmid-next"  # 4222 bytes: ~106 blocks of 40 bytes, ~700 ASH frames each way

#: Hub timings for a pty on the same machine: fast back-off, a bounded reconnect.
FAST = HubSettings(join_timeout_s=10, interview_timeout_s=10, connect_backoff_s=0.05,
                   reconnect_attempts=6, reconnect_timeout_s=8)
#: ASH retransmit timers on both ends of the line are UG101's divided by this (a pty answers in
#: microseconds; much more than 6 makes the minimum ACK timeout short enough for a loaded CI machine
#: to miss it, which turns into spurious NCP failures).
ASH_SCALE = 6
#: The emulated NCP's ASH timers, scaled like bellows' below.
NCP_ASH = AshTimings().scaled(1 / ASH_SCALE)
#: Upper bound on any single wait in these tests: a hang is a failure, not a stuck CI.
DEADLINE_S = 20.0


@pytest.fixture(scope="module")
def rig() -> Rig:
    return load_rig(RIG_FILE)


@pytest.fixture(autouse=True)
def fast_host_ash(monkeypatch: pytest.MonkeyPatch) -> None:
    """bellows' ASH retransmit timers scaled down (its module constants, read at run time)."""
    for name in ("T_RX_ACK_INIT", "T_RX_ACK_MIN", "T_RX_ACK_MAX"):
        monkeypatch.setattr(bellows.ash, name, getattr(bellows.ash, name) / ASH_SCALE)


def emulated_hub(
    rig: Rig, *, settings: HubSettings = FAST, behaviour: str | None = None, **radio_options: Any
) -> AbstractAsyncContextManager[tuple[EmulatedRadio, CommsHub]]:
    """:func:`tests.fixtures.emulatedhub.joined_hub` with this file's fast timings and its join deadline."""
    radio_options.setdefault("ash_timings", NCP_ASH)
    return joined_hub(rig, settings=settings, behaviour=behaviour, join_deadline_s=DEADLINE_S, **radio_options)


def held_image_sha256(radio: EmulatedRadio) -> str | None:
    """SHA-256 of the last image the emulated PPMID received whole (its own parser's view)."""
    return radio.call(lambda: (lambda got: got[-1].sha256 if got else None)(radio.han.device(PPMID).received_images))


def written_evidence(hub: CommsHub, path: Path, nodeid: str, outcome: str) -> TestEvidence:
    """The hub's records as the run's evidence file keeps them: written, then read back."""
    log = EvidenceLog(path)
    log.begin(nodeid).add(*hub.collect_evidence())
    log.finish(nodeid, outcome)
    return EvidenceLog.load(path).tests[nodeid]


def the_transfer(evidence: TestEvidence) -> TransferRecord:
    (record,) = evidence.of(TransferRecord)
    return record


def kinds(record: TransferRecord, kind: TransferEventKind) -> list[Any]:
    return [e for e in record.events if e.kind is kind]


class ReconnectSpy:
    """Counts the hub's attempts to reopen the radio and lets a test await the first failed one.

    Wraps ``startup`` of this one application object (the hub's reconnect calls it per attempt).
    """

    def __init__(self, hub: CommsHub) -> None:
        app = hub.app
        assert app is not None
        self.attempts: list[BaseException | None] = []
        self.first_failure: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()
        original = app.startup

        async def startup(*args: Any, **kwargs: Any) -> Any:
            try:
                result = await original(*args, **kwargs)
            except Exception as exc:
                self.attempts.append(exc)
                if not self.first_failure.done():
                    self.first_failure.set_result(exc)
                raise
            self.attempts.append(None)
            return result

        app.startup = startup  # type: ignore[method-assign]


# -- ASH frame loss and corruption -------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame_loss", "frame_corruption"),
    [(0.01, 0.0), (0.03, 0.0), (0.0, 0.02), (0.0, 0.05), (0.02, 0.02)],
    ids=["loss-1%", "loss-3%", "corruption-2%", "corruption-5%", "loss-2%+corruption-2%"],
)
async def test_transfer_completes_byte_identical_through_ash_frame_faults(rig, tmp_path, frame_loss, frame_corruption):
    async with emulated_hub(rig, frame_loss=frame_loss, frame_corruption=frame_corruption, seed=11) as (radio, hub):
        image = hub.image(IMAGE)
        transfer = await hub.upgrade(PPMID, image)
        assert await asyncio.wait_for(transfer.wait(), DEADLINE_S) is TransferOutcome.TRANSFERRED
        assert held_image_sha256(radio) == image.sha256, "the device holds exactly the image file"

        faults = radio.frame_log.count("LOST") + radio.frame_log.count("CORRUPTED")
        assert faults >= 5, f"the line was clean ({faults} faults): this test would prove nothing"
        assert (radio.frame_log.count("LOST") > 0) == (frame_loss > 0)
        assert (radio.frame_log.count("CORRUPTED") > 0) == (frame_corruption > 0)

        record = the_transfer(written_evidence(hub, tmp_path / "evidence.json", "faults", "passed"))
        assert record.outcome is TransferOutcome.TRANSFERRED
        assert record.image_sha256 == image.sha256 and record.bytes_sent >= image.size
        # ASH hides the faults; only if the link failed outright (possible on a loaded machine, where
        # scaled ACK timers run out) may a response be undelivered -- and then the gap is on record.
        assert record.gaps == hub.reconnects
        if not record.gaps:
            assert not any(e.status == "NOT_DELIVERED" for e in record.events), "ASH recovered every frame itself"


# -- the NCP resetting -------------------------------------------------------------------------


async def test_two_ncp_resets_in_one_transfer_show_as_two_gaps_in_the_evidence(rig, tmp_path):
    async with emulated_hub(rig) as (radio, hub):
        image = hub.image(IMAGE)
        transfer = await hub.upgrade(PPMID, image)
        for fraction in (4, 2):
            await asyncio.wait_for(transfer.reached(image.size // fraction), DEADLINE_S)
            gaps_before = transfer.record().gaps
            radio.reset_ncp()
            await asyncio.wait_for(_gap_recorded(transfer, gaps_before + 1), DEADLINE_S)
        assert await asyncio.wait_for(transfer.wait(), DEADLINE_S) is TransferOutcome.TRANSFERRED
        assert held_image_sha256(radio) == image.sha256
        # Two resets, two reconnects. A loaded machine may add one more (the scaled-down ASH timers
        # can give up on a slow frame); that one must then be on record as a gap too.
        assert hub.reconnects >= 2

        record = the_transfer(written_evidence(hub, tmp_path / "evidence.json", "resets", "passed"))
        gaps = kinds(record, TransferEventKind.GAP)
        assert record.gaps == hub.reconnects == len(gaps)
        blocks = [e for e in record.events if e.kind is TransferEventKind.BLOCK_REQUEST]
        lost_at = []
        for gap in gaps:
            assert "radio link lost" in gap.detail and "resumed" in gap.detail
            assert gap.wait_s is not None and 0 <= gap.wait_s < FAST.reconnect_timeout_s
            before = [e.offset for e in blocks if e.t < gap.t]
            after = next(e.offset for e in blocks if e.t > gap.t)
            assert before and after >= max(before), "resumed from the device's offset, not from 0"
            lost_at.append(max(before))
        # The resets came a quarter and a half of the way through; the gaps sit there.
        assert sum(offset >= image.size // 4 - 64 for offset in lost_at) >= 2
        assert any(offset >= image.size // 2 - 64 for offset in lost_at)

        svg = timeline_svg([record])  # what the report draws from the kept record
        assert svg.count('class="hh-band hh-band-gap"') == len(gaps) and f"{len(gaps)} gaps" in svg


async def _gap_recorded(transfer: Any, count: int) -> None:
    """Until the transfer's record shows ``count`` gaps (the hub reconnected after a loss)."""
    # The transfer exposes no event for a gap; its progress is the next best signal: each block
    # after the reconnect moves the high-water mark, and the gap is recorded before that block.
    while transfer.record().gaps < count and not transfer.finished.done():
        await transfer.reached(transfer.session.progress.high_water + 1)


# -- the serial port vanishing -----------------------------------------------------------------


async def test_serial_port_that_vanishes_and_comes_back_at_the_same_path_resumes_the_transfer(rig, tmp_path):
    link = tmp_path / "ttyNCP"
    async with emulated_hub(rig, pty_link=link) as (radio, hub):
        assert radio.port == str(link), "the hub opens the stable link, not the pty behind it"
        spy = ReconnectSpy(hub)
        image = hub.image(IMAGE)
        transfer = await hub.upgrade(PPMID, image)
        await asyncio.wait_for(transfer.reached(image.size // 3), DEADLINE_S)

        radio.unplug()
        assert not link.exists(), "the device path is gone while the radio is unplugged"
        failure = await asyncio.wait_for(spy.first_failure, DEADLINE_S)
        assert isinstance(failure, OSError), f"the hub retried against the vanished port: {failure!r}"
        radio.replug()

        assert await asyncio.wait_for(transfer.wait(), DEADLINE_S) is TransferOutcome.TRANSFERRED
        assert held_image_sha256(radio) == image.sha256
        assert hub.reconnects == 1 and spy.attempts[-1] is None and len(spy.attempts) >= 2

        record = the_transfer(written_evidence(hub, tmp_path / "evidence.json", "replug", "passed"))
        (gap,) = kinds(record, TransferEventKind.GAP)
        assert record.gaps == 1 and "radio link lost" in gap.detail
        assert [a.code for a in hub.alerts] == [0x8F8A], "no failure alert for a CH-side loss"


async def test_serial_port_away_longer_than_the_device_waits_still_resumes_without_blaming_the_device(rig, tmp_path):
    # The PPMID gives up re-requesting while the radio is unplugged (its retries are finite);
    # after the replug the hub must prompt it again rather than let the transfer stall and
    # raise a CCS08 "file transfer failure" against a device that did nothing wrong.
    link = tmp_path / "ttyNCP"
    async with emulated_hub(rig, pty_link=link, settings=replace(FAST, reconnect_attempts=10)) as (radio, hub):
        device = radio.han.device(PPMID)
        radio.call(lambda: setattr(device, "timings", device.timings.scaled(0.1)))  # gives up in ~0.75 s
        image = hub.image(IMAGE)
        transfer = await hub.upgrade(PPMID, image, stall_timeout_s=2.0)
        await asyncio.wait_for(transfer.reached(image.size // 3), DEADLINE_S)
        mark = radio.call(device.events.mark)

        radio.unplug()
        gave_up = await radio.acall(lambda: device.wait_for("transfer_gave_up", since=mark, timeout=DEADLINE_S))
        radio.replug()

        assert await asyncio.wait_for(transfer.wait(), DEADLINE_S) is TransferOutcome.TRANSFERRED
        assert held_image_sha256(radio) == image.sha256
        assert [(a.code, a.response_code) for a in hub.alerts] == [(0x8F8A, 0)]
        record = the_transfer(written_evidence(hub, tmp_path / "evidence.json", "long-unplug", "passed"))
        (gap,) = kinds(record, TransferEventKind.GAP)
        queries = [e for e in kinds(record, TransferEventKind.QUERY) if e.t > gap.t]
        assert queries, "the device was prompted after the gap and asked again"
        resumed = next(e for e in record.events if e.t > queries[0].t and e.kind is TransferEventKind.BLOCK_REQUEST)
        assert resumed.offset == gave_up.details["file_offset"], "resumed from the device's own offset"


async def test_serial_port_that_never_comes_back_fails_clearly_after_bounded_retries_and_keeps_the_evidence(rig, tmp_path):
    settings = replace(FAST, reconnect_attempts=3, reconnect_timeout_s=10)
    link = tmp_path / "ttyNCP"
    async with emulated_hub(rig, pty_link=link, settings=settings) as (radio, hub):
        spy = ReconnectSpy(hub)
        image = hub.image(IMAGE)
        transfer = await hub.upgrade(PPMID, image)
        await asyncio.wait_for(transfer.reached(image.size // 3), DEADLINE_S)
        reached = transfer.record().bytes_sent

        unplugged_at = time.monotonic()
        radio.unplug()
        assert await asyncio.wait_for(transfer.wait(), DEADLINE_S) is TransferOutcome.ABORTED
        given_up_after = time.monotonic() - unplugged_at

        assert len(spy.attempts) == settings.reconnect_attempts, "bounded: exactly the configured attempts"
        assert all(isinstance(a, OSError) for a in spy.attempts)
        assert given_up_after < settings.reconnect_timeout_s
        assert [a.code for a in hub.alerts] == [], "the device did nothing wrong: no CCS08 for a CH-side loss"
        # Stop clearly: no new work that could only end in a stall blamed on the device.
        with pytest.raises(HubError, match="the hub has no radio: the radio did not come back"):
            await hub.upgrade(PPMID, image)
        with pytest.raises(HubError, match="no radio"):
            await hub.read_device(PPMID)

        evidence = written_evidence(hub, tmp_path / "evidence.json", "unplugged", "failed")
        record = the_transfer(evidence)
        assert record.outcome is TransferOutcome.ABORTED
        assert "the radio did not come back" in record.reason and str(link) in record.reason
        assert record.bytes_sent >= reached, "what was sent before the loss is still in the record"
        assert any(s.stage == "failed" for s in evidence.of(StageRecord))


# -- the device rebooting or leaving -----------------------------------------------------------


async def test_device_rebooting_mid_transfer_resumes_from_its_own_offset(rig, tmp_path):
    async with emulated_hub(rig) as (radio, hub):
        image = hub.image(IMAGE)
        transfer = await hub.upgrade(PPMID, image)
        await asyncio.wait_for(transfer.reached(image.size // 2), DEADLINE_S)
        device = radio.han.device(PPMID)
        mark = radio.call(device.events.mark)
        device.reboot()
        assert await asyncio.wait_for(transfer.wait(), DEADLINE_S) is TransferOutcome.TRANSFERRED
        assert held_image_sha256(radio) == image.sha256

        resumed = await radio.acall(lambda: device.wait_for("download_started", since=mark, timeout=1.0))
        assert resumed.details["resume_from"] >= image.size // 2 - 64, "the device kept what it had"

        record = the_transfer(written_evidence(hub, tmp_path / "evidence.json", "reboot", "passed"))
        queries = kinds(record, TransferEventKind.QUERY)
        assert len(queries) == 2, "the device asked again after its reboot"
        after = next(e for e in record.events if e.t > queries[1].t and e.kind is TransferEventKind.BLOCK_REQUEST)
        assert after.offset == resumed.details["resume_from"]
        assert record.retries >= 1 and record.gaps == 0, "a device reboot is no radio gap"


async def test_device_leaving_the_han_fails_the_transfer_after_the_stall_timeout_with_ccs08(rig, tmp_path):
    stall_s = 0.5
    async with emulated_hub(rig, behaviour="leaves_han") as (radio, hub):
        transfer = await hub.upgrade(PPMID, IMAGE, stall_timeout_s=stall_s)
        assert await asyncio.wait_for(transfer.wait(), DEADLINE_S) is TransferOutcome.STALLED

        evidence = written_evidence(hub, tmp_path / "evidence.json", "leaves", "passed")
        record = the_transfer(evidence)
        (alert,) = evidence.of(AlertRecord)
        assert (alert.code, alert.response_code, alert.use_case) == (0x8F89, 3, "CCS08")
        assert alert.entity_eui64 == "00:0D:6F:00:0B:12:34:51"
        last_response = max(e.t for e in record.events if e.kind is TransferEventKind.BLOCK_RESPONSE)
        (stall,) = kinds(record, TransferEventKind.STALL)
        assert stall.t - last_response >= stall_s * 0.95, "failed only after the stall timeout"
        assert alert.time >= stall.t
        assert "within the stall timeout" in record.reason
        assert 0 < record.bytes_sent < hub.image(IMAGE).size


# -- line noise --------------------------------------------------------------------------------


async def test_garbage_bytes_on_the_serial_line_mid_transfer_do_not_corrupt_the_image(rig, tmp_path):
    async with emulated_hub(rig, seed=3) as (radio, hub):
        image = hub.image(IMAGE)
        transfer = await hub.upgrade(PPMID, image)
        noise = 0
        for fraction in (5, 3, 2):
            await asyncio.wait_for(transfer.reached(image.size // fraction), DEADLINE_S)
            noise += len(radio.inject_garbage(96))
        # A burst that looks like frames: FLAGs, CANCEL and SUBSTITUTE around random bytes.
        radio.inject_garbage(data=bytes.fromhex("7e 1a 41 42 43 7e 18 00 ff 7e 7d 7e"))
        assert await asyncio.wait_for(transfer.wait(), DEADLINE_S) is TransferOutcome.TRANSFERRED
        assert held_image_sha256(radio) == image.sha256
        assert radio.frame_log.count("GARBAGE") == 4 and noise == 288

        record = the_transfer(written_evidence(hub, tmp_path / "evidence.json", "noise", "passed"))
        assert record.outcome is TransferOutcome.TRANSFERRED and record.image_sha256 == image.sha256
