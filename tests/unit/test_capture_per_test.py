"""Per-test capture bookkeeping: which file a test's frames go to, and frame numbers for its events."""

from __future__ import annotations

import logging
from pathlib import Path

from harness.capture.ezsp_log import EZSP_LOGGER, EzspFrameLog
from harness.capture.pcapng import PcapngWriter, read_frame_times
from harness.capture.per_test import RunCaptures, frame_marks
from harness.evidence import CaptureRecord, StageRecord, TestEvidence
from harness.report.capture_view import capture_section, link_base, timeline_moments


def test_frame_numbers_are_the_last_frame_written_by_each_moment(tmp_path: Path) -> None:
    with PcapngWriter(tmp_path / "a.pcapng") as writer:
        for t in (10.0, 10.5, 11.0):
            writer.write(t, b"\x02\x00\x01" + b"\x00\x00")
    times = read_frame_times(tmp_path / "a.pcapng")
    assert times == [10.0, 10.5, 11.0]
    assert frame_marks(times, [9.0, 10.0, 10.7, 12.0]) == {9.0: 0, 10.0: 1, 10.7: 2, 12.0: 3}


def test_a_source_that_appears_mid_test_captures_into_that_tests_file(tmp_path: Path) -> None:
    captures = RunCaptures(tmp_path / "captures")
    assert captures.begin_test("tests/a.py::test_first") == []  # nothing captures yet
    frame_log = EzspFrameLog(lambda text: text)
    captures.attach(frame_log, format=frame_log.format, name=frame_log.source, keys=False)
    try:
        logging.getLogger(EZSP_LOGGER).debug("Sending command  %s: %s %s", "formNetwork", (), {})
        (first,) = captures.end_test()
        captures.begin_test("tests/a.py::test_second")
        (second,) = captures.end_test()
    finally:
        captures.close()
    assert first.path.name == "tests-a.py-test_first.ezsp.log" and len(first.times) == 1
    assert second.path.name == "tests-a.py-test_second.ezsp.log" and second.times == ()
    assert first.keys_file is None


def test_the_report_links_the_capture_and_numbers_the_events(tmp_path: Path) -> None:
    ev = TestEvidence("tests/a.py::test_x")
    ev.add(StageRecord(device="ppmid1", stage="notified", t=100.0), StageRecord(device="ppmid1", stage="failed", t=101.0))
    assert timeline_moments(ev) == [100.0, 101.0]
    ev.add(CaptureRecord(file="captures/tests-a.py-test_x.pcapng", format="802.15.4 pcapng", source="emulated HAN air",
                         frames=40, keys_file="captures/zigbee-keys.txt", mark_times=(100.0, 101.0), mark_frames=(0, 37)))
    html = str(capture_section(ev, link_base="../reports/"))
    assert 'href="../reports/captures/tests-a.py-test_x.pcapng"' in html
    assert 'href="../reports/captures/zigbee-keys.txt"' in html
    assert "before frame 1" in html and ">37<" in html
    assert capture_section(TestEvidence("tests/a.py::test_y")) is None
    assert link_base(tmp_path / "page" / "r.html", tmp_path / "reports" / "evidence.json") == "../reports/"
    assert link_base(tmp_path / "reports" / "uit.html", tmp_path / "reports" / "evidence.json") == ""
