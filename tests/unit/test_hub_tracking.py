"""Distribution tracking: stages for the report, rate and a rate-limited live line."""

from __future__ import annotations

from harness.evidence import StageRecord
from harness.hub.tracking import DistributionTracker, Stage


class Clock:
    t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_stages_are_recorded_and_progress_shows_rate():
    clock = Clock()
    records: list[StageRecord] = []
    lines: list[str] = []
    tracker = DistributionTracker(sink=records.append, clock=clock, display=lines.append, display_interval_s=1.0)
    tracker.stage("ppmid1", Stage.NOTIFIED, image="ppmid-next", size=4000)
    tracker.stage("ppmid1", Stage.TRANSFERRING)
    for i in range(1, 21):
        clock.t += 0.1
        tracker.advanced("ppmid1", offset=40 * i, blocks=i)
    progress = tracker.progress("ppmid1")
    assert progress.percent == 20.0
    blocks_s, bytes_s = progress.rates()
    assert round(blocks_s, 1) == 10.0 and round(bytes_s) == 400
    assert "20.0% 400 B/s 10.0 blocks/s" in progress.line()
    # Shown live, but not once per block: at most once a second plus every stage change.
    assert 3 <= len(lines) <= 5
    tracker.stage("ppmid1", Stage.FAILED, "ppmid1 ended the transfer with ABORT")
    assert [r.stage for r in records] == ["notified", "transferring", "failed"]
    assert records[-1].detail == "ppmid1 ended the transfer with ABORT"
    assert "(ppmid1 ended the transfer with ABORT)" in lines[-1]
