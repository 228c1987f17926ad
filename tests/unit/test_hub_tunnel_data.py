"""The CH's end of a GBCS tunnel: what it does with each Tunneling frame, and how it keeps the tunnel up."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import zigpy.exceptions
import zigpy.types as t
from zigpy.zcl import foundation

from harness.emulator.devices.cs09 import AlertOriginator, build_cs09
from harness.emulator.devices.signing import default_authority
from harness.evidence import AlertRecord, CheckRecord, Outcome, StageRecord
from harness.hub.alerts import AlertLog
from harness.hub.cs09_receipt import Cs09Inbox
from harness.hub.tunnel import TunnelOutcome, keep_gbcs_tunnel
from harness.hub.tunnel_data import TunnelEnds
from harness.zcl_se import (
    CLOSE_TUNNEL,
    REQUEST_TUNNEL,
    TRANSFER_DATA_ERROR_TO_CLIENT,
    TRANSFER_DATA_ERROR_TO_SERVER,
    TRANSFER_DATA_TO_CLIENT,
    TUNNELING_CLUSTER,
    RequestTunnel,
    RequestTunnelResponse,
    TransferDataError,
    TransferDataStatus,
    TunnelStatus,
    transfer_data,
)

PPMID = bytes.fromhex("000D6F000B123451")


@dataclass
class Packet:
    """The parts of a zigpy ZigbeePacket the tunnel end reads."""

    payload: bytes
    src_ep: int = 1
    cluster_id: int = TUNNELING_CLUSTER
    profile_id: int = 0x0109

    @property
    def data(self) -> Any:
        return t.SerializableBytes(self.payload)


def frame(command: int, body: bytes, *, to_client: bool) -> Packet:
    direction = foundation.Direction.Server_to_Client if to_client else foundation.Direction.Client_to_Server
    return Packet(foundation.ZCLHeader.cluster(7, command, direction=direction).serialize() + body)


@dataclass
class Rig:
    alerts: AlertLog = field(default_factory=AlertLog)
    records: list[Any] = field(default_factory=list)
    replies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    timing_problem: str = ""

    def ends(self) -> TunnelEnds:
        inbox = Cs09Inbox("ppmid1", PPMID, default_authority().credentials(PPMID).public_key_pem)
        return TunnelEnds(inboxes={"ppmid1": inbox}, alerts=self.alerts, sink=self.records.append, clock=time.time,
                          reply=lambda name, fields: self.replies.append((name, fields)),
                          reopen=lambda name, why: self.reopened.append(why),
                          cs09_timing=lambda name, alert, executed: self.timing_problem)


def cs09() -> bytes:
    credentials = default_authority().credentials(PPMID)
    return build_cs09(AlertOriginator().draft(offered=0x102, running=0x102, previous=0x101), originator=PPMID,
                      key=credentials.private_key)


def open_tunnel(ends: TunnelEnds, tunnel_id: int = 3) -> None:
    ends.opened(TunnelOutcome("ppmid1", True, "open", TunnelStatus.SUCCESS, tunnel_id, 1))


def test_a_cs09_on_the_open_tunnel_becomes_the_devices_alert_and_evidence() -> None:
    rig = Rig()
    ends = rig.ends()
    open_tunnel(ends)
    assert ends.frame("ppmid1", frame(TRANSFER_DATA_TO_CLIENT, transfer_data(3, cs09()), to_client=True))
    (alert,) = rig.alerts.records
    assert alert.code == 0x8F8B and alert.rejected == ""
    assert any(isinstance(r, StageRecord) and r.detail == "open: tunnel 3, opened by the CH" for r in rig.records)
    assert any(isinstance(r, CheckRecord) and r.outcome is Outcome.PASS for r in rig.records)


def test_a_cs09_sent_before_the_reboot_is_kept_but_rejected_with_the_timing_rule() -> None:
    rig = Rig(timing_problem="sent before the device rebooted into the image")
    ends = rig.ends()
    open_tunnel(ends)
    ends.frame("ppmid1", frame(TRANSFER_DATA_TO_CLIENT, transfer_data(3, cs09()), to_client=True))
    (alert,) = rig.alerts.records
    assert alert.rejected == "sent before the device rebooted into the image"


def test_data_on_a_tunnel_the_ch_does_not_hold_is_answered_no_such_tunnel_and_kept() -> None:
    rig = Rig()
    ends = rig.ends()
    open_tunnel(ends, 3)
    ends.frame("ppmid1", frame(TRANSFER_DATA_TO_CLIENT, transfer_data(9, b"\x01\x02"), to_client=True))
    ((name, reply),) = rig.replies
    assert name == "ppmid1" and reply["command_id"] == TRANSFER_DATA_ERROR_TO_SERVER
    assert reply["payload"].transfer_data_status == TransferDataStatus.NO_SUCH_TUNNEL
    assert not rig.alerts.records
    assert any(isinstance(r, StageRecord) and "0102" in r.detail for r in rig.records)


def test_garbage_in_the_tunnel_is_a_failed_check_with_its_bytes_not_an_exception() -> None:
    rig = Rig()
    ends = rig.ends()
    open_tunnel(ends)
    ends.frame("ppmid1", frame(TRANSFER_DATA_TO_CLIENT, transfer_data(3, b"\xDF\x09\x03"), to_client=True))
    ends.frame("ppmid1", frame(TRANSFER_DATA_TO_CLIENT, b"\x03", to_client=True))
    checks = [r for r in rig.records if isinstance(r, CheckRecord)]
    assert [c.outcome for c in checks] == [Outcome.FAIL, Outcome.FAIL]
    assert "DF0903" in checks[0].detail and "names no tunnel id" in checks[1].observed


def test_no_such_tunnel_from_the_device_makes_the_ch_ask_again() -> None:
    rig = Rig()
    ends = rig.ends()
    open_tunnel(ends, 3)
    error = TransferDataError(tunnel_id=3, transfer_data_status=TransferDataStatus.NO_SUCH_TUNNEL).serialize()
    ends.frame("ppmid1", frame(TRANSFER_DATA_ERROR_TO_CLIENT, error, to_client=True))
    assert rig.reopened == ["TransferDataError NO_SUCH_TUNNEL for tunnel 3"]
    assert "ppmid1" not in ends.ends


def test_the_ch_accepts_a_gbcs_tunnel_the_device_opens_and_refuses_another_protocol() -> None:
    rig = Rig()
    ends = rig.ends()
    gbcs = RequestTunnel(protocol_id=6, manufacturer_code=0xFFFF, flow_control_support=t.Bool.false,
                         maximum_incoming_transfer_size=1500).serialize()
    ends.frame("ppmid1", frame(REQUEST_TUNNEL, gbcs, to_client=False))
    other = RequestTunnel(protocol_id=2, manufacturer_code=0xFFFF, flow_control_support=t.Bool.false,
                          maximum_incoming_transfer_size=1500).serialize()
    ends.frame("ppmid1", frame(REQUEST_TUNNEL, other, to_client=False))
    statuses = [reply["payload"].tunnel_status for _name, reply in rig.replies]
    assert statuses == [TunnelStatus.SUCCESS, TunnelStatus.PROTOCOL_NOT_SUPPORTED]
    assert ends.ends["ppmid1"].opened_by == "device"
    opened = ends.ends["ppmid1"].tunnel_id
    ends.frame("ppmid1", frame(0x02, transfer_data(opened, cs09()), to_client=False))
    assert [a.code for a in rig.alerts.records] == [0x8F8B]


class FakeZdo:
    async def Match_Desc_req(self, *args: Any) -> tuple[int, int, list[int]]:
        return 0, 0x1234, [1]


class FakeDevice:
    """Answers each RequestTunnel with the next status in ``statuses``."""

    def __init__(self, statuses: list[TunnelStatus]) -> None:
        self.zdo = FakeZdo()
        self.nwk = 0x1234
        self.statuses = statuses
        self.sent: list[int] = []
        self._tsn = 0

    def get_sequence(self) -> int:
        self._tsn += 1
        return self._tsn


@pytest.mark.parametrize(("first", "wait"), [(TunnelStatus.BUSY, 180.0), (TunnelStatus.NO_MORE_TUNNEL_IDS, 5.0)])
async def test_the_ch_retries_a_refused_tunnel_after_the_chfs_wait(monkeypatch: pytest.MonkeyPatch,
                                                                   first: TunnelStatus, wait: float) -> None:
    device = FakeDevice([first, TunnelStatus.SUCCESS])
    waits: list[float] = []
    notes: list[str] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", no_sleep)
    answers: dict[int, asyncio.Future[bytes]] = {}

    async def send(**kwargs: Any) -> int:
        device.sent.append(kwargs["command_id"])
        if kwargs["command_id"] == REQUEST_TUNNEL:
            status = device.statuses.pop(0)
            body = RequestTunnelResponse(tunnel_id=5, tunnel_status=status, maximum_incoming_transfer_size=1500)
            header = foundation.ZCLHeader.cluster(kwargs["tsn"], REQUEST_TUNNEL,
                                                  direction=foundation.Direction.Server_to_Client)
            answers.setdefault(kwargs["tsn"], asyncio.get_running_loop().create_future()).set_result(
                header.serialize() + body.serialize())
        return int(kwargs["tsn"])

    async def wait_response(tsn: int) -> bytes:
        return await answers.setdefault(tsn, asyncio.get_running_loop().create_future())

    outcome = await keep_gbcs_tunnel("ppmid1", device, send=send, wait_response=wait_response,  # type: ignore[arg-type]
                                     timeout_s=1.0, open_ids=lambda: [4], note=notes.append)
    assert outcome.opened and outcome.tunnel_id == 5
    assert waits == [wait] and len(notes) == 1 and first.name in notes[0]
    closes = [c for c in device.sent if c == CLOSE_TUNNEL and first == TunnelStatus.NO_MORE_TUNNEL_IDS]
    assert device.sent == [REQUEST_TUNNEL, *closes, REQUEST_TUNNEL]


async def test_a_request_tunnel_the_radio_cannot_deliver_is_the_outcome_not_an_exception() -> None:
    # A device that does not acknowledge the RequestTunnel (out of range, or dropping frames it
    # cannot decrypt): the NCP reports it undelivered, and that is the tunnel's outcome.
    device = FakeDevice([])

    async def send(**kwargs: Any) -> int:
        raise zigpy.exceptions.DeliveryError("Failed to deliver message: ZIGBEE_DELIVERY_FAILED")

    async def wait_response(tsn: int) -> bytes:
        return await asyncio.get_running_loop().create_future()

    outcome = await keep_gbcs_tunnel("ppmid1", device, send=send, wait_response=wait_response,  # type: ignore[arg-type]
                                     timeout_s=1.0, open_ids=list, note=lambda text: None)
    assert not outcome.opened
    assert outcome.observed == "the RequestTunnel was not delivered (Failed to deliver message: ZIGBEE_DELIVERY_FAILED)"


def test_alert_records_carry_no_rejection_by_default() -> None:
    assert AlertRecord(code=1, name="", use_case="", raised_by="", entity_eui64=None, firmware_version=None,
                       time=0.0, observed_how="").rejected == ""


def test_a_cs09_dated_in_the_future_of_its_arrival_is_rejected() -> None:
    import dataclasses
    from datetime import UTC, datetime

    inbox = Cs09Inbox("ppmid1", PPMID, default_authority().credentials(PPMID).public_key_pem)
    credentials = default_authority().credentials(PPMID)
    late = dataclasses.replace(AlertOriginator().draft(offered=0x102, running=0x102, previous=0x101),
                               execution_time=datetime(2099, 1, 1, tzinfo=UTC))
    receipt = inbox.receive(build_cs09(late, originator=PPMID, key=credentials.private_key), t=1_800_000_000.0)
    assert receipt.alert is not None and "execution date-time 2099-01-01T00:00:00Z is" in receipt.alert.rejected
