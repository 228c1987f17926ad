"""NCP state, the coordinator's ZDO, fault stages, the frame log, transports and the CLI parsing."""

from __future__ import annotations

import asyncio
import json
import os
import random
import struct
from pathlib import Path

import pytest
import zigpy.zdo.types as zdo_t

from harness.cli.emulator import parse_tcp
from harness.emulator.ash import (
    AckFrame,
    AshNcp,
    DataFrame,
    LinkState,
    LinkStateError,
    RstAckFrame,
    encode_frame,
)
from harness.emulator.coordinator import WILDCARD_EUI64, EmulatedNcp
from harness.emulator.coordinator_zdo import CoordinatorZdo, Endpoint
from harness.emulator.faults import (
    FrameCorruption,
    FrameLoss,
    Latency,
    LinkStage,
    UartThrottle,
    chain,
    garbage_bytes,
)
from harness.emulator.frame_log import HOST_TO_NCP, NCP_TO_HOST, FrameLog
from harness.emulator.ncp import Nvram
from harness.emulator.server import EmulatedRadio, RadioOptions
from harness.emulator.testing import write_formed_nvram
from harness.emulator.transport import PtyTransport, require_loopback

NCP_EUI64 = bytes.fromhex("000d6f00ffee0001")


# --- NVRAM ---------------------------------------------------------------------------------------


def test_nvram_round_trips_through_its_json_file(tmp_path: Path) -> None:
    path = write_formed_nvram(tmp_path / "nvram.json", channel=20, pan_id=0x1234, seed=7)
    loaded = Nvram.load(path, default_eui64=b"\x00" * 8)
    assert loaded.eui64 == NCP_EUI64
    assert (loaded.network.channel, loaded.network.pan_id) == (20, 0x1234)
    assert len(loaded.network.network_key) == 16
    shown = repr(loaded.network)
    assert "network_key=" not in shown and loaded.network.network_key.hex() not in shown  # keys stay out of logs


def test_missing_nvram_file_is_a_blank_ncp(tmp_path: Path) -> None:
    nvram = Nvram.load(tmp_path / "absent.json", default_eui64=NCP_EUI64)
    assert nvram.network is None and nvram.eui64 == NCP_EUI64


def test_corrupt_nvram_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nvram.json"
    path.write_text(json.dumps({"network": None}))
    with pytest.raises(ValueError, match="nvram.json"):
        Nvram.load(path, default_eui64=NCP_EUI64)


async def test_network_survives_a_link_reset_but_runtime_state_does_not(tmp_path: Path) -> None:
    ncp = EmulatedNcp(ezsp_version=13, nvram=Nvram.load(write_formed_nvram(tmp_path / "n.json"), default_eui64=NCP_EUI64), write=lambda b: None)
    ncp.state.network_up = True
    ncp.state.transient_keys[WILDCARD_EUI64] = b"ZigBeeAlliance09"
    ncp.link.data_received(bytes([0x1A] * 32) + bytes.fromhex("C0 38 BC 7E"))  # host RST
    assert ncp.nvram.network is not None
    assert ncp.state.network_up is False and ncp.state.transient_keys == {}


async def test_transient_key_lookup_prefers_the_device_then_the_wildcard() -> None:
    ncp = EmulatedNcp(ezsp_version=14, nvram=Nvram(eui64=NCP_EUI64), write=lambda b: None)
    device = bytes.fromhex("000d6f000b123451")
    assert ncp.transient_key_for(device) is None
    ncp.state.transient_keys[WILDCARD_EUI64] = b"ZigBeeAlliance09"
    assert ncp.transient_key_for(device) == b"ZigBeeAlliance09"
    ncp.state.transient_keys[device] = bytes(16)
    assert ncp.transient_key_for(device) == bytes(16)


async def test_under_the_install_code_policy_only_a_key_for_the_device_counts() -> None:
    import bellows.types as t

    ncp = EmulatedNcp(ezsp_version=14, nvram=Nvram(eui64=NCP_EUI64), write=lambda b: None)
    ncp.state.transient_keys[WILDCARD_EUI64] = b"ZigBeeAlliance09"
    ncp.state.policies[t.EzspPolicyId.TRUST_CENTER_POLICY] = 0x11  # ALLOW_JOINS | JOINS_USE_INSTALL_CODE_KEY
    assert ncp.transient_key_for(bytes.fromhex("000d6f000b123452")) is None


async def test_install_code_policy_follows_the_trust_centre_policy() -> None:
    import bellows.types as t

    ncp = EmulatedNcp(ezsp_version=13, nvram=Nvram(eui64=NCP_EUI64), write=lambda b: None)
    assert ncp.install_code_policy() is False
    ncp.state.policies[t.EzspPolicyId.TRUST_CENTER_POLICY] = 0x11  # ALLOW_JOINS | JOINS_USE_INSTALL_CODE_KEY
    assert ncp.install_code_policy() is True
    ncp.state.policies[t.EzspPolicyId.TRUST_CENTER_POLICY] = 0x03
    assert ncp.install_code_policy() is False


# --- the coordinator's ZDO -----------------------------------------------------------------------


def zdo() -> CoordinatorZdo:
    return CoordinatorZdo(
        nwk=0x0000,
        eui64=NCP_EUI64,
        endpoints={1: Endpoint(1, 0x0104, 0x0005, 0, (0x0000, 0x0019), (0x0001,))},
    )


def test_node_descriptor_says_coordinator_and_trust_centre() -> None:
    cluster, payload = zdo().answer(zdo_t.ZDOCmd.Node_Desc_req, bytes.fromhex("07 00 00"))
    assert cluster == zdo_t.ZDOCmd.Node_Desc_rsp
    assert payload[:4] == bytes.fromhex("07 00 00 00")  # tsn, SUCCESS, nwk 0x0000
    descriptor, rest = zdo_t.NodeDescriptor.deserialize(payload[4:])
    assert rest == b""
    assert descriptor.logical_type == zdo_t.LogicalType.Coordinator
    assert descriptor.server_mask & 0x0001  # primary trust centre


def test_active_endpoints_and_simple_descriptor() -> None:
    responder = zdo()
    assert responder.answer(zdo_t.ZDOCmd.Active_EP_req, bytes.fromhex("08 00 00"))[1] == bytes.fromhex("08 00 00 00 01 01")
    _, payload = responder.answer(zdo_t.ZDOCmd.Simple_Desc_req, bytes.fromhex("09 00 00 01"))
    descriptor, _ = zdo_t.SimpleDescriptor.deserialize(payload[5:])
    assert (descriptor.endpoint, descriptor.profile, list(descriptor.input_clusters)) == (1, 0x0104, [0x0000, 0x0019])
    _, missing = responder.answer(zdo_t.ZDOCmd.Simple_Desc_req, bytes.fromhex("0A 00 00 07"))
    assert missing[1] == 0x83  # NOT_ACTIVE: a valid endpoint number with nothing registered (0x82 is INVALID_EP)
    _, invalid = responder.answer(zdo_t.ZDOCmd.Simple_Desc_req, bytes.fromhex("0B 00 00 F5"))
    assert invalid == bytes.fromhex("0B 82 0000 00")  # INVALID_EP, the address, Length 0


def test_match_descriptor_names_the_endpoints_serving_a_cluster_in_the_profile() -> None:
    responder = CoordinatorZdo(nwk=0x0000, eui64=NCP_EUI64, endpoints={
        0x0A: Endpoint(0x0A, 0x0109, 0x0500, 0, (0x0019, 0x0800), (0x0800,)),
        0x0B: Endpoint(0x0B, 0x0109, 0x0500, 0, (0x0000, 0x0708), ()),
    })

    def match(tsn: int, profile: int, inputs: tuple[int, ...], outputs: tuple[int, ...] = (), nwk: int = 0) -> bytes:
        body = struct.pack(f"<BHHB{len(inputs)}HB{len(outputs)}H", tsn, nwk, profile, len(inputs), *inputs,
                           len(outputs), *outputs)
        cluster, payload = responder.answer(zdo_t.ZDOCmd.Match_Desc_req, body)
        assert cluster == zdo_t.ZDOCmd.Match_Desc_rsp
        return payload

    assert match(1, 0x0109, (0x0019,)) == bytes.fromhex("01 00 0000 01 0A")  # OTA server
    assert match(2, 0x0109, (0x0708,)) == bytes.fromhex("02 00 0000 01 0B")  # the GPF's Device Management
    assert match(3, 0x0109, (0x0000, 0x0800)) == bytes.fromhex("03 00 0000 02 0A 0B")  # any of the inputs
    assert match(4, 0x0109, (), (0x0800,)) == bytes.fromhex("04 00 0000 01 0A")  # an output cluster
    assert match(5, 0x0104, (0x0019,)) == bytes.fromhex("05 00 0000 00")  # another profile: none
    assert match(6, 0x0109, (0x0702,)) == bytes.fromhex("06 00 0000 00")  # no Metering server here
    assert match(7, 0x0109, (0x0019,), nwk=0x1234) == bytes.fromhex("07 81 3412 00")  # DEVICE_NOT_FOUND
    assert responder.answer(zdo_t.ZDOCmd.Match_Desc_req, bytes.fromhex("08 00 00 09 01 02"))[1] == bytes.fromhex("08 80")


def test_add_endpoint_splits_the_cluster_lists_by_their_counts() -> None:
    from harness.emulator.ezsp.handlers import add_endpoint
    from harness.emulator.ezsp.status import Status

    ncp = EmulatedNcp(ezsp_version=13, nvram=Nvram(eui64=NCP_EUI64), write=lambda b: None)
    # A schema decode puts every cluster in the first list; the counts say where outputs begin.
    request = {"endpoint": 10, "profileId": 0x0109, "deviceId": 0x0500, "deviceVersion": 0,
               "inputClusterCount": 2, "outputClusterCount": 1,
               "inputClusterList": [0x0019, 0x0800, 0x0800], "outputClusterList": []}
    assert add_endpoint(ncp, request) == {"status": Status.OK}
    assert (ncp.endpoints[10].input_clusters, ncp.endpoints[10].output_clusters) == ((0x0019, 0x0800), (0x0800,))
    assert add_endpoint(ncp, {**request, "endpoint": 11, "outputClusterCount": 3}) == {"status": Status.INVALID_PARAMETER}
    assert 11 not in ncp.endpoints


def test_unsupported_or_malformed_zdo_requests_get_status_not_silence() -> None:
    responder = zdo()
    assert responder.answer(0x0031, bytes.fromhex("0B 00"))[1] == bytes.fromhex("0B 84")  # Mgmt_Lqi: NOT_SUPPORTED
    assert responder.answer(zdo_t.ZDOCmd.Node_Desc_req, bytes.fromhex("0C"))[1] == bytes.fromhex("0C 80")
    assert responder.answer(zdo_t.ZDOCmd.Node_Desc_rsp, bytes.fromhex("0D 00")) is None  # responses: nothing


# --- fault stages ----------------------------------------------------------------------------------

ACK = encode_frame(AckFrame(ack_num=1))
DATA = encode_frame(DataFrame(frm_num=0, re_tx=False, ack_num=0, payload=b"\x00\x80\x00"))
RSTACK = b"\x1a" + encode_frame(RstAckFrame(code=0x0B))


class Ends:
    def __init__(self, stages: list[LinkStage]) -> None:
        self.host: list[bytes] = []
        self.ncp: list[bytes] = []
        self.ncp_write, self.host_receive = chain(stages, host_write=self.host.append, ncp_receive=self.ncp.append)


def test_frame_loss_is_reproducible_from_the_seed_and_spares_resets() -> None:
    def run(seed: int) -> list[bytes]:
        ends = Ends([FrameLoss(0.5, random.Random(seed))])
        for _ in range(20):
            ends.ncp_write(DATA)
            ends.ncp_write(RSTACK)
        return ends.host

    first, again = run(4), run(4)
    assert first == again
    assert first.count(RSTACK) == 20  # the reset handshake always gets through
    assert 0 < first.count(DATA) < 20


def test_loss_works_on_whole_frames_across_split_reads() -> None:
    loss = FrameLoss(0.0, random.Random(1))
    ends = Ends([loss])
    ends.host_receive(DATA[:3])
    assert ends.ncp == []
    ends.host_receive(DATA[3:] + ACK)
    assert ends.ncp == [DATA, ACK]


def test_corruption_changes_one_bit_and_keeps_the_flag() -> None:
    ends = Ends([FrameCorruption(0.999, random.Random(2))])
    ends.ncp_write(DATA)
    (damaged,) = ends.host
    assert damaged != DATA and damaged.endswith(b"\x7e")
    diff = [a ^ b for a, b in zip(damaged, DATA, strict=True) if a != b]
    assert len(diff) == 1 and bin(diff[0]).count("1") == 1


@pytest.mark.parametrize("rate", [-0.1, 1.0])
def test_rates_outside_zero_to_one_are_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="frame_loss"):
        FrameLoss(rate, random.Random(1))


async def test_uart_throttle_delivers_when_the_last_byte_would_have_arrived() -> None:
    loop = asyncio.get_running_loop()
    arrived = loop.create_future()
    throttle = UartThrottle(loop, 9600)
    _, host_receive = chain([throttle], host_write=lambda d: None, ncp_receive=lambda d: arrived.set_result(loop.time()))
    sent_at = loop.time()
    host_receive(bytes(96))  # 96 bytes * 10 bits at 9600 baud = 100 ms
    assert await asyncio.wait_for(arrived, 2) - sent_at >= 0.099


async def test_latency_keeps_frame_order() -> None:
    loop = asyncio.get_running_loop()
    got: list[bytes] = []
    done = asyncio.Event()

    def receive(data: bytes) -> None:
        got.append(data)
        if len(got) == 3:
            done.set()

    _, host_receive = chain([Latency(loop, 0.01)], host_write=lambda d: None, ncp_receive=receive)
    for chunk in (b"a", b"b", b"c"):
        host_receive(chunk)
    await asyncio.wait_for(done.wait(), 2)
    assert got == [b"a", b"b", b"c"]


def test_garbage_never_contains_flow_control_bytes() -> None:
    noise = garbage_bytes(random.Random(3), 2000)
    assert len(noise) == 2000 and 0x11 not in noise and 0x13 not in noise


# --- frame log -------------------------------------------------------------------------------------


async def test_frame_log_records_direction_type_and_ezsp_name_but_not_contents(tmp_path: Path) -> None:
    jsonl = tmp_path / "frames.jsonl"
    log = FrameLog(jsonl)
    log.ezsp_namer = lambda payload: "version"
    ncp = AshNcp(write=lambda b: None, on_data=lambda p: None, observer=log.observe)
    ncp.data_received(bytes([0x1A] * 32) + bytes.fromhex("C0 38 BC 7E"))
    ncp.data_received(bytes.fromhex("00 42 21 A8 50 ED 2C 7E 00 42 21 A8 50 ED 2D 7E"))
    log.fault("to-host", "lost")
    log.close()
    kinds = [(r.direction, r.frame_type, r.ezsp) for r in log.records]
    assert kinds == [
        (HOST_TO_NCP, "RST", None),
        (NCP_TO_HOST, "RSTACK", None),
        (HOST_TO_NCP, "DATA", "version"),
        (NCP_TO_HOST, "ACK", None),
        (HOST_TO_NCP, "INVALID", None),
        (NCP_TO_HOST, "NAK", None),
        (NCP_TO_HOST, "LOST", None),
    ]
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(lines) == 7 and lines[2]["ezsp"] == "version"
    assert "payload" not in jsonl.read_text()


# --- link state machine ------------------------------------------------------------------------------


async def test_only_rst_or_a_reboot_leaves_the_failed_state() -> None:
    ncp = AshNcp(write=lambda b: None, on_data=lambda p: None)
    ncp.data_received(bytes.fromhex("C0 38 BC 7E"))
    ncp.enter_failed_state(0x51)
    assert ncp.state is LinkState.FAILED
    with pytest.raises(LinkStateError, match="gave-up is not allowed in state failed"):
        ncp.enter_failed_state(0x51)
    ncp.data_received(bytes.fromhex("C0 38 BC 7E"))
    assert ncp.state is LinkState.CONNECTED


# --- transports and options ---------------------------------------------------------------------------


async def test_pty_carries_bytes_both_ways_in_raw_mode(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    received: asyncio.Queue[bytes] = asyncio.Queue()
    pty = PtyTransport(loop, received.put_nowait, link_path=tmp_path / "ncp")
    try:
        assert os.readlink(tmp_path / "ncp") == pty.device_path
        host = os.open(pty.port, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(host, b"\x7e\x0a\x0d\x03")  # bytes a cooked tty would translate or signal
            assert await asyncio.wait_for(received.get(), 2) == b"\x7e\x0a\x0d\x03"
            pty.write(b"\x0a\x0d\x7e")
            ready = asyncio.Event()
            loop.add_reader(host, ready.set)
            await asyncio.wait_for(ready.wait(), 2)
            loop.remove_reader(host)
            assert os.read(host, 16) == b"\x0a\x0d\x7e"
        finally:
            os.close(host)
    finally:
        pty.close()
    assert not (tmp_path / "ncp").exists()


def test_an_existing_file_is_not_replaced_by_the_pty_link(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.write_text("keep me")
    radio = EmulatedRadio(ezsp_version=13, pty_link=precious)
    with pytest.raises(FileExistsError, match="not a symlink"):
        radio.start()
    assert precious.read_text() == "keep me"


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.org"])
def test_tcp_refuses_anything_but_loopback(host: str) -> None:
    with pytest.raises(ValueError):
        require_loopback(host)
    with pytest.raises(ValueError):
        parse_tcp(f"{host}:9999")


def test_tcp_option_parsing() -> None:
    assert parse_tcp("127.0.0.1:9999") == ("127.0.0.1", 9999)
    with pytest.raises(ValueError, match="127.0.0.1:PORT"):
        parse_tcp("127.0.0.1")


def test_radio_options_reject_unsupported_versions_and_transports() -> None:
    with pytest.raises(ValueError, match="ezsp_version 12"):
        RadioOptions(ezsp_version=12)
    with pytest.raises(ValueError, match="transport 'usb'"):
        RadioOptions(transport="usb")


async def test_control_calls_run_on_the_emulator_loop() -> None:
    with EmulatedRadio(ezsp_version=13) as radio:
        import threading

        names = await radio.acall(lambda: threading.current_thread().name)
        assert names == "emulated-ncp"
        assert radio.call(lambda: 41 + 1) == 42
    with pytest.raises(RuntimeError, match="not running"):
        radio.call(lambda: None)


def test_chunk_splitter_cuts_writes_without_changing_bytes() -> None:
    from harness.emulator.faults import ChunkSplitter

    ends = Ends([ChunkSplitter(random.Random(5), max_chunk=3, direction="to-host")])
    ends.ncp_write(DATA + ACK)
    assert b"".join(ends.host) == DATA + ACK
    assert len(ends.host) > 1 and all(1 <= len(piece) <= 3 for piece in ends.host)
    ends.host_receive(DATA)
    assert ends.ncp == [DATA]  # the other direction is left whole


async def test_cli_serves_until_interrupted_and_prints_the_port_first() -> None:
    import signal
    import sys

    repo = Path(__file__).resolve().parents[2]
    process = await asyncio.create_subprocess_exec(
        # A shell starts a background job with SIGINT ignored and a child inherits that, so
        # Python would install no handler: restore it, so the test means the same however pytest
        # was started.
        sys.executable, "-c", "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                              "from harness.cli import main; sys.exit(main())",
        "emulator", "serve", "--rig", "emulated", "--tcp", "127.0.0.1:0",
        cwd=repo, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        port_line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()
        assert port_line.startswith("tcp://127.0.0.1:")
        host, port = port_line.removeprefix("tcp://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(bytes([0x1A] * 32) + bytes.fromhex("C0 38 BC 7E"))  # RST
        assert await asyncio.wait_for(reader.readuntil(b"\x7e"), 5) == bytes.fromhex("1A C1 02 0B 0A 52 7E")
        writer.close()
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 0
    assert b"unknown commands: none" in stderr


def test_frame_log_wait_for_returns_a_later_record_or_times_out_naming_it() -> None:
    import threading

    log = FrameLog()
    log.note("to-host", "GARBAGE", "4 bytes")
    later = threading.Timer(0.05, lambda: log.fault("to-ncp", "lost"))
    later.start()

    def lost(record) -> bool:
        return record.frame_type == "LOST"

    assert log.wait_for(lost, timeout=5).direction == HOST_TO_NCP
    with pytest.raises(TimeoutError, match="no frame matching lost"):
        log.wait_for(lost, timeout=0.05, start=len(log))
