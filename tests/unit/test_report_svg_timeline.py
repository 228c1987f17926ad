"""The OTA timeline chart: one line per transfer, waits and gaps shaded, marks where they happened."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from harness.evidence import TransferEvent, TransferEventKind, TransferOutcome, TransferRecord
from harness.report.svg_timeline import nice_ticks, progress_points, timeline_svg

K = TransferEventKind
SVG = "{http://www.w3.org/2000/svg}"
T0 = 1_700_000_000.0


def transfer(device: str = "ppmid1", *, start: float = T0, blocks: int = 10, block: int = 40,
             extra: tuple[TransferEvent, ...] = (), image: str = "ppmid-next") -> TransferRecord:
    events = [TransferEvent(t=start + 1 + i, kind=K.BLOCK_RESPONSE, offset=i * block, size=block, status="SUCCESS")
              for i in range(blocks)]
    return TransferRecord(
        transfer_id=f"{device}-1", device=device, device_eui64="00:0D:6F:00:0B:12:34:51", image_name=image,
        image_sha256="ab" * 32, image_size=blocks * block, image_version=0x102, started=start,
        ended=start + blocks + 1, outcome=TransferOutcome.TRANSFERRED, bytes_sent=blocks * block,
        events=tuple(sorted((*events, *extra), key=lambda e: e.t)),
    )


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # also proves the output is well-formed XML


def test_one_polyline_per_transfer_through_every_served_block() -> None:
    root = parse(timeline_svg([transfer("ppmid1"), transfer("ihd1", start=T0 + 2)]))
    lines = root.findall(f".//{SVG}polyline")
    assert len(lines) == 2
    first = [tuple(map(float, p.split(","))) for p in lines[0].get("points").split()]
    assert len(first) == 10
    xs, ys = zip(*first, strict=True)
    assert list(xs) == sorted(xs) and list(ys) == sorted(ys, reverse=True)  # time runs right, offsets climb up
    assert lines[0].get("stroke") != lines[1].get("stroke")


def test_progress_points_are_end_offsets_of_successful_block_responses_only() -> None:
    tr = transfer(blocks=2, extra=(
        TransferEvent(t=T0 + 1.5, kind=K.BLOCK_REQUEST, offset=40, size=40),
        TransferEvent(t=T0 + 1.6, kind=K.BLOCK_RESPONSE, offset=40, status="ABORT"),
    ))
    assert progress_points(tr) == [(T0 + 1, 40), (T0 + 2, 80)]


def test_wait_for_data_is_shaded_for_the_wait_asked_and_gap_for_the_outage() -> None:
    tr = transfer(blocks=20, extra=(
        TransferEvent(t=T0 + 5, kind=K.WAIT_FOR_DATA, offset=160, status="WAIT_FOR_DATA", wait_s=4.0),
        TransferEvent(t=T0 + 12, kind=K.GAP, offset=400, wait_s=2.0, detail="NCP reset"),
    ))
    root = parse(timeline_svg([tr]))
    wait = root.find(f".//{SVG}rect[@class='hh-band hh-band-wait']")
    gap = root.find(f".//{SVG}rect[@class='hh-band hh-band-gap']")
    assert wait is not None and gap is not None

    # The transfer ends at 21 s, so the axis runs 0..25 s over the plot's 856 units starting at x = 84.
    def x(seconds: float) -> float:
        return 84 + seconds / 25 * 856

    assert float(wait.get("x")) == pytest.approx(x(5), abs=0.1)  # from the response ...
    assert float(wait.get("width")) == pytest.approx(x(4) - x(0), abs=0.1)  # ... for the wait asked
    assert float(gap.get("x")) == pytest.approx(x(10), abs=0.1)  # the outage ends where the transfer resumed
    assert float(gap.get("width")) == pytest.approx(x(2) - x(0), abs=0.1)
    assert "NCP reset" in gap.find(f"{SVG}title").text


def test_retries_and_stalls_are_marked_where_they_happened() -> None:
    tr = transfer(blocks=5, extra=(
        TransferEvent(t=T0 + 3.5, kind=K.RETRY, offset=40, detail="asked again for offset 40"),
        TransferEvent(t=T0 + 9, kind=K.STALL, offset=200, detail="no request for 30 s"),
    ))
    root = parse(timeline_svg([tr]))
    retries = root.findall(f".//{SVG}polygon[@class='hh-retry']")
    stops = root.findall(f".//{SVG}path[@class='hh-stop']")
    assert len(retries) == 1 and len(stops) == 1
    assert "offset 40" in retries[0].find(f"{SVG}title").text
    assert "stall" in stops[0].find(f"{SVG}title").text


def test_axes_are_labelled_in_bytes_and_seconds() -> None:
    svg = timeline_svg([transfer(blocks=100)])
    texts = [t.text for t in parse(svg).iter(f"{SVG}text")]
    assert "file offset served (bytes)" in texts
    assert "time since the first transfer started (s)" in texts
    assert "4,000" in texts  # offsets are shown in bytes with thousands separators


def test_output_is_deterministic() -> None:
    records = [transfer(), transfer("ihd1", start=T0 + 1.25)]
    assert timeline_svg(records) == timeline_svg(list(records))


def test_text_from_records_is_escaped() -> None:
    svg = timeline_svg([transfer('<script>alert("x")</script>', image="a&b")])
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg and "a&amp;b" in svg
    parse(svg)


def test_large_transfers_are_thinned_to_what_can_be_seen() -> None:
    big = transfer(blocks=5_000, block=40)
    points = parse(timeline_svg([big])).find(f".//{SVG}polyline").get("points").split()
    assert len(points) < 2_000
    top_of_plot = 16.0  # 200,000 bytes is the top tick, drawn at the top margin
    assert float(points[-1].split(",")[1]) == pytest.approx(top_of_plot, abs=0.1)  # still ends at the last byte


def test_no_transfer_gives_a_small_chart_saying_so() -> None:
    svg = timeline_svg([])
    assert "no transfer recorded" in svg
    parse(svg)


@pytest.mark.parametrize(("maximum", "expected"), [
    (4_000, [0, 1_000, 2_000, 3_000, 4_000]),
    (17.3, [0, 5, 10, 15, 20]),
    (0.9, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
])
def test_ticks_fall_on_round_numbers_covering_the_maximum(maximum: float, expected: list[float]) -> None:
    assert nice_ticks(maximum) == pytest.approx(expected)


def test_coordinates_have_one_decimal() -> None:
    svg = timeline_svg([transfer(start=T0 + 0.123456, blocks=7)])
    geometry = re.findall(r' (?:x|y|x1|x2|y1|y2|width|height|points)="([^"]*)"', svg)
    assert geometry and not any(re.search(r"\.\d\d", value) for value in geometry)
