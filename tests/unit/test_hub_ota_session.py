"""The OTA server session: what the CH answers to each request, and what it records."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

from harness.evidence import TransferEventKind, TransferOutcome
from harness.hub.images import ImageFacts, OfferedImage, Refusal, SignatureStatus
from harness.hub.ota_session import (
    TRANSITIONS,
    OtaSession,
    SessionError,
    SessionEvent,
    SessionState,
)
from harness.hub.settings import UPGRADE_TIME_WAIT, OtaServeSettings, zcl_utc

Status = foundation.Status
MFR, TYPE, OLD, NEW = 0x121D, 0x0084, 0x00000101, 0x00000102
DATA = bytes(range(256)) * 2 + b"tail"  # 516 bytes


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def image(*, size: int | None = None, version: int = NEW, hw=(0x1111, 0x1211), signature=SignatureStatus.NOT_CHECKED):
    data = DATA if size is None else DATA[:size]
    facts = ImageFacts(
        manufacturer_code=MFR,
        image_type=TYPE,
        file_version=version,
        total_image_size=len(data),
        min_hardware_version=hw[0] if hw else None,
        max_hardware_version=hw[1] if hw else None,
    )
    return OfferedImage.from_bytes("ppmid-next", facts, data, signature=signature)


def session(clock=None, **settings) -> OtaSession:
    return OtaSession(
        device="ppmid1",
        device_eui64="00:0D:6F:00:0B:12:34:51",
        settings=OtaServeSettings(**settings),
        transfer_id="ppmid1#1",
        clock=clock or Clock(),
    )


def query(version=OLD, hw: int | None = 0x1111, mfr=MFR):
    fc = Ota.QueryNextImageCommand.FieldControl(1 if hw is not None else 0)
    kw = dict(field_control=fc, manufacturer_code=mfr, image_type=TYPE, current_file_version=version)
    if hw is not None:
        kw["hardware_version"] = hw
    return Ota.QueryNextImageCommand(**kw)


def block(offset: int, size: int = 64, version=NEW):
    return Ota.ImageBlockCommand(
        field_control=Ota.ImageBlockCommand.FieldControl(0),
        manufacturer_code=MFR,
        image_type=TYPE,
        file_version=version,
        file_offset=offset,
        maximum_data_size=size,
    )


def page(offset: int, page_size: int, spacing_ms: int = 20, size: int = 64):
    return Ota.ImagePageCommand(
        field_control=0,
        manufacturer_code=MFR,
        image_type=TYPE,
        file_version=NEW,
        file_offset=offset,
        maximum_data_size=size,
        page_size=page_size,
        response_spacing=spacing_ms,
    )


def end(status=Status.SUCCESS):
    return Ota.ServerCommandDefs.upgrade_end.schema(
        status=status, manufacturer_code=MFR, image_type=TYPE, file_version=NEW
    )


def offered(clock=None, **settings) -> OtaSession:
    s = session(clock, **settings)
    s.offer(image())
    return s


def run_to_end(s: OtaSession, size: int = 64) -> None:
    offset = 0
    while offset < s.image.size:
        step = s.on_block(1, block(offset, size))
        offset += len(step.responses[0].fields["image_data"])


def test_conformant_exchange_serves_every_byte_in_capped_blocks_and_says_upgrade_now():
    s = offered()
    step = s.on_query(7, query())
    (rsp,) = step.responses
    assert rsp.command == "query_next_image_response" and rsp.tsn == 7
    assert rsp.fields == {
        "status": Status.SUCCESS, "manufacturer_code": MFR, "image_type": TYPE,
        "file_version": NEW, "image_size": len(DATA),
    }
    received = b""
    while len(received) < len(DATA):
        step = s.on_block(8, block(len(received), size=64))
        (rsp,) = step.responses
        assert rsp.fields["file_offset"] == len(received)
        assert len(rsp.fields["image_data"]) <= 40, "device asked for 64; the CH caps at 40"
        received += rsp.fields["image_data"]
    assert received == DATA
    step = s.on_upgrade_end(9, end())
    (rsp,) = step.responses
    assert rsp.command == "upgrade_end_response"
    assert (rsp.fields["current_time"], rsp.fields["upgrade_time"]) == (0, 0)
    assert step.finished and s.outcome is TransferOutcome.TRANSFERRED
    record = s.record()
    assert record.bytes_sent == len(DATA) and record.retries == 0
    kinds = [e.kind for e in record.events]
    assert kinds[:2] == [TransferEventKind.QUERY, TransferEventKind.QUERY_RESPONSE]
    assert kinds[-2:] == [TransferEventKind.UPGRADE_END, TransferEventKind.UPGRADE_END_RESPONSE]


@pytest.mark.parametrize(
    ("payload_type", "extra"),
    [
        (0, {}),
        (1, {"manufacturer_code": MFR}),
        (2, {"manufacturer_code": MFR, "image_type": TYPE}),
        (3, {"manufacturer_code": MFR, "image_type": TYPE, "new_file_version": NEW}),
    ],
)
def test_image_notify_carries_the_fields_of_its_payload_type(payload_type, extra):
    s = offered(query_jitter=50)
    (rsp,) = s.notify(payload_type).responses
    assert rsp.command == "image_notify" and rsp.tsn is None
    fields = dict(rsp.fields)
    assert int(fields.pop("payload_type")) == payload_type
    assert fields == {"query_jitter": 50, **extra}
    # It must serialise with zigpy's own schema (the optional fields follow the payload type).
    Ota.ClientCommandDefs.image_notify.schema(**rsp.fields).serialize()


def test_hardware_outside_the_header_range_gets_no_image_and_no_block():
    s = offered()
    step = s.on_query(1, query(hw=0x2000))
    assert step.responses[0].fields == {"status": Status.NO_IMAGE_AVAILABLE}
    assert s.state is SessionState.REFUSED and s.refusal is Refusal.HARDWARE_MISMATCH
    assert s.refusal.ccs08_response_code == 2
    step = s.on_block(2, block(0))
    assert step.responses[0].fields == {"status": Status.ABORT}
    assert s.record().bytes_sent == 0


def test_downgrade_is_refused_unless_asked_for():
    s = session()
    s.offer(image(version=0x100))
    s.on_query(1, query(version=OLD))
    assert s.refusal is Refusal.NOT_NEWER

    s = session(allow_downgrade=True)
    s.offer(image(version=0x100))
    assert s.on_query(1, query(version=OLD)).responses[0].fields["status"] == Status.SUCCESS


def test_unsigned_image_is_discarded_when_the_profile_requires_a_signature():
    s = session(require_signature=True)
    step = s.offer(image(signature=SignatureStatus.INVALID))
    assert step.finished and s.refusal is Refusal.SIGNATURE_FAILED
    assert s.refusal.ccs08_response_code == 1
    assert s.on_query(1, query()).responses[0].fields["status"] == Status.NO_IMAGE_AVAILABLE

    served = session(require_signature=True, serve_unverified=True)
    served.offer(image(signature=SignatureStatus.INVALID))
    assert served.state is SessionState.OFFERED


def test_a_fractional_wait_is_rounded_up_to_whole_seconds():
    clock = Clock(1_800_000_000.6)
    s = offered(clock, wait_for_data=((0, 0.3),))
    s.on_query(1, query())
    (rsp,) = s.on_block(2, block(0, 40)).responses
    assert rsp.fields["request_time"] - rsp.fields["current_time"] == 1


def test_wait_for_data_window_tells_the_device_when_to_come_back():
    clock = Clock()
    s = offered(clock, wait_for_data=((80, 5.0),), minimum_block_period_ms=250, stall_timeout_s=10)
    s.on_query(1, query())
    s.on_block(2, block(0, 40))
    s.on_block(3, block(40, 40))
    step = s.on_block(4, block(80, 40))
    (rsp,) = step.responses
    assert rsp.fields == {
        "status": Status.WAIT_FOR_DATA,
        "current_time": zcl_utc(clock.t),
        "request_time": zcl_utc(clock.t + 5),
        "minimum_block_period": 250,
    }
    assert step.stall_after_s == 15.0, "the stall window starts after the wait"
    Ota.ClientCommandDefs.image_block_response.schema(**rsp.fields).serialize()
    # The window is used once: the request after the wait is served.
    assert s.on_block(5, block(80, 40)).responses[0].fields["file_offset"] == 80


def test_resume_from_the_devices_offset_records_the_gap_and_the_retry():
    clock = Clock()
    s = offered(clock)
    s.on_query(1, query())
    for offset in (0, 40, 80):
        s.on_block(2, block(offset, 40))
    assert s.link_lost("NCP reset").stall_after_s is None
    clock.t += 3.5
    back = s.link_back()
    assert back.stall_after_s == 30.0
    (gap,) = back.events
    assert gap.kind is TransferEventKind.GAP and gap.wait_s == 3.5
    # The device lost our last response and asks for offset 80 again.
    step = s.on_block(3, block(80, 40))
    assert step.responses[0].fields["file_offset"] == 80
    assert [e.kind for e in step.events][1] is TransferEventKind.RETRY
    record = s.record()
    assert (record.gaps, record.retries) == (1, 1)


def test_stall_timeout_fails_the_transfer_and_names_the_device():
    s = offered()
    s.on_query(1, query())
    s.on_block(2, block(0, 40))
    step = s.stall()
    assert step.finished and s.outcome is TransferOutcome.STALLED
    assert "ppmid1" in s.reason and "offset 40" in s.reason
    assert s.stall().events == (), "a stale timer after the end changes nothing"


def test_stall_is_ignored_while_the_radio_is_away():
    s = offered()
    s.on_query(1, query())
    s.link_lost("port lost")
    assert not s.stall().finished


@pytest.mark.parametrize("status", [Status.INVALID_IMAGE, Status.ABORT, Status.REQUIRE_MORE_IMAGE])
def test_device_ending_with_an_error_fails_the_transfer_with_a_default_response(status):
    s = offered()
    s.on_query(1, query())
    run_to_end(s)
    step = s.on_upgrade_end(5, end(status))
    assert s.outcome is TransferOutcome.FAILED and status.name in s.reason
    (rsp,) = step.responses
    assert rsp.command == "default_response" and rsp.fields["command_id"] == 0x06


def test_success_claimed_before_the_whole_image_is_a_failure():
    s = offered()
    s.on_query(1, query())
    s.on_block(2, block(0, 40))
    s.on_upgrade_end(3, end())
    assert s.outcome is TransferOutcome.FAILED and "40 of 516" in s.reason


@pytest.mark.parametrize(
    ("policy", "delay", "expected"),
    [("at", 120, lambda now: (zcl_utc(now), zcl_utc(now + 120))), ("wait", 0, lambda now: (zcl_utc(now), UPGRADE_TIME_WAIT))],
)
def test_upgrade_end_response_follows_the_profile_policy(policy, delay, expected):
    clock = Clock()
    s = offered(clock, upgrade_time=policy, upgrade_delay_s=delay)
    s.on_query(1, query())
    run_to_end(s)
    (rsp,) = s.on_upgrade_end(2, end()).responses
    assert (rsp.fields["current_time"], rsp.fields["upgrade_time"]) == expected(clock.t)


def test_activation_after_wait_sends_upgrade_now():
    s = offered(upgrade_time="wait")
    s.on_query(1, query())
    run_to_end(s)
    s.on_upgrade_end(2, end())
    (rsp,) = s.activate().responses
    assert rsp.tsn is None and (rsp.fields["current_time"], rsp.fields["upgrade_time"]) == (0, 0)


def test_page_request_sends_spaced_blocks_covering_the_page():
    s = offered()
    s.on_query(1, query())
    step = s.on_page(2, page(0, 100, spacing_ms=50))
    offsets = [(r.fields["file_offset"], len(r.fields["image_data"]), r.delay_s) for r in step.responses]
    assert offsets == [(0, 40, 0.0), (40, 40, 0.05), (80, 20, 0.05)]
    assert step.stall_after_s == pytest.approx(30.0 + 0.15)


def test_block_for_an_image_that_was_not_offered_is_aborted():
    s = offered()
    s.on_query(1, query())
    step = s.on_block(2, block(0, version=0x999))
    assert step.responses[0].fields == {"status": Status.ABORT}
    assert "0x00000999" in step.events[-1].detail


def test_offset_past_the_end_is_malformed():
    s = offered()
    s.on_query(1, query())
    assert s.on_block(2, block(len(DATA))).responses[0].fields == {"status": Status.MALFORMED_COMMAND}


def test_query_after_a_completed_upgrade_gets_no_image():
    s = offered()
    s.on_query(1, query())
    run_to_end(s)
    s.on_upgrade_end(2, end())
    assert s.on_query(3, query(version=NEW)).responses[0].fields == {"status": Status.NO_IMAGE_AVAILABLE}


def test_a_device_that_resumes_without_querying_is_served():
    s = offered()
    step = s.on_block(1, block(120, 40))
    assert s.state is SessionState.TRANSFERRING and step.responses[0].fields["file_offset"] == 120


def test_events_the_table_does_not_allow_name_device_state_and_event():
    s = session()
    with pytest.raises(SessionError, match=r"ppmid1.*'notify'.*'idle'"):
        s.notify()
    with pytest.raises(SessionError, match="activate"):
        offered().activate()


def test_every_state_answers_every_device_request():
    """A device can send anything at any time; the table must never turn that into a crash."""
    device_and_link_events = [
        SessionEvent.QUERY, SessionEvent.BLOCK, SessionEvent.PAGE, SessionEvent.UPGRADE_END,
        SessionEvent.LINK_LOST, SessionEvent.LINK_BACK, SessionEvent.CANCEL, SessionEvent.STALL,
    ]
    missing = [
        (state.value, event.value)
        for state in SessionState
        for event in device_and_link_events
        if (state, event) not in TRANSITIONS
    ]
    assert missing == []


def test_responses_serialise_with_zigpys_schemas():
    s = offered()
    steps = [s.on_query(1, query())]
    steps.append(s.on_block(2, block(0, 40)))
    steps.append(s.on_block(3, block(0, 40, version=1)))
    for step in steps:
        for rsp in step.responses:
            getattr(Ota.ClientCommandDefs, rsp.command).schema(**rsp.fields).serialize()


# -- properties ---------------------------------------------------------------------------------

requests = st.lists(
    st.one_of(
        st.tuples(st.just("block"), st.integers(0, len(DATA) + 10), st.integers(0, 255)),
        st.tuples(st.just("page"), st.integers(0, len(DATA) + 10), st.integers(1, 600)),
        st.tuples(st.just("query"), st.integers(0, 0x200), st.sampled_from([None, 0x1111, 0x9999])),
        st.tuples(st.just("end"), st.sampled_from(list(Status)), st.just(0)),
        st.tuples(st.just("stall"), st.just(0), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(requests)
def test_any_request_sequence_gets_answers_and_never_wrong_bytes(seq):
    """Whatever a device sends in whatever order, every answer is well-formed and no byte is wrong."""
    s = offered(max_block_size=40)
    for kind, a, b in seq:
        if kind == "block":
            step = s.on_block(1, block(a, b))
        elif kind == "page":
            step = s.on_page(1, page(a, b, spacing_ms=0))
        elif kind == "query":
            step = s.on_query(1, query(version=a, hw=b))
        elif kind == "end":
            step = s.on_upgrade_end(1, end(a))
        else:
            step = s.stall()
        for rsp in step.responses:
            if rsp.command != "default_response":
                getattr(Ota.ClientCommandDefs, rsp.command).schema(**rsp.fields).serialize()
            if rsp.command == "image_block_response" and rsp.fields["status"] == Status.SUCCESS:
                offset, data = rsp.fields["file_offset"], rsp.fields["image_data"]
                assert 0 < len(data) <= 40
                assert data == DATA[offset : offset + len(data)]
    record = s.record()
    assert record.outcome.value in {"in_progress", "transferred", "failed", "stalled", "refused"}
    if record.outcome.value == "transferred":
        assert s.progress.high_water == len(DATA)


def test_image_selection_rules():
    from harness.hub.images import QueryFacts, select_image

    img = image()
    base = dict(manufacturer_code=MFR, image_type=TYPE, current_file_version=OLD)
    assert select_image(QueryFacts(**base, hardware_version=0x1111), img).offered
    other = select_image(QueryFacts(**{**base, "manufacturer_code": 0x1234}), img)
    assert other.refusal is Refusal.NOT_APPLICABLE and "0x1234" in other.detail
    unchecked = select_image(QueryFacts(**base), img)
    assert unchecked.offered and "range not checked" in unchecked.detail
    from_profile = select_image(QueryFacts(**base), img, known_hardware_version=0x2000)
    assert from_profile.refusal is Refusal.HARDWARE_MISMATCH, "the CH's own knowledge of the hardware counts"
    wildcard = OfferedImage.from_bytes(
        "any", ImageFacts(manufacturer_code=0xFFFF, image_type=0xFFFF, file_version=NEW, total_image_size=len(DATA)), DATA
    )
    assert select_image(QueryFacts(**base), wildcard).offered
    same = select_image(QueryFacts(**{**base, "current_file_version": NEW}), img)
    assert same.refusal is Refusal.NOT_NEWER
    assert select_image(QueryFacts(**{**base, "current_file_version": NEW}), img, allow_same_version=True).offered


def test_header_size_must_match_the_data():
    facts = ImageFacts(manufacturer_code=MFR, image_type=TYPE, file_version=NEW, total_image_size=10)
    with pytest.raises(ValueError, match="image bad: header total_image_size 10 disagrees with the file size 516"):
        OfferedImage.from_bytes("bad", facts, DATA)
