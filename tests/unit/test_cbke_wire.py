"""Key Establishment frames on the wire: pinned against bytes written out from the SE field tables.

Both the CH's server and the emulated devices' client use harness.zcl_se, so a misreading of the
layout would be shared by both ends and pass every end-to-end test. These byte strings are written
by hand from SE 07-5356 Annex C.3.1 (ZCL header, then the fields little-endian in table order).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from zigpy.zcl import foundation

from harness.zcl_se import (
    Command,
    KeFrameError,
    KeyEstablishmentSuite,
    TerminateStatus,
    decode,
    encode,
    status_name,
)

C2S, S2C = foundation.Direction.Client_to_Server, foundation.Direction.Server_to_Client
CERT = bytes(range(74))


def test_initiate_request_layout() -> None:
    frame = encode(Command.INITIATE_KEY_ESTABLISHMENT,
                   {"key_establishment_suite": 0x0002, "ephemeral_data_generate_time": 3,
                    "confirm_key_generate_time": 4, "identity": CERT},
                   direction=C2S, tsn=0x2A)
    # frame control 0x01 (cluster-specific, client->server), TSN, command 0x00, suite LE, times, certificate
    assert frame == bytes.fromhex("01 2A 00 0200 03 04") + CERT


def test_terminate_from_the_server_layout() -> None:
    frame = encode(Command.TERMINATE_KEY_ESTABLISHMENT,
                   {"status_code": TerminateStatus.UNKNOWN_ISSUER, "wait_time": 30, "key_establishment_suite": 2},
                   direction=S2C, tsn=0x2A, disable_default_response=True)
    # 0x19 = cluster-specific | server->client | default response disabled
    assert frame == bytes.fromhex("19 2A 03 01 1E 0200")


@pytest.mark.parametrize(("command", "field", "size"), [
    (Command.EPHEMERAL_DATA, "ephemeral_data", 37),
    (Command.CONFIRM_KEY_DATA, "secure_message_authentication_code", 16),
])
def test_ephemeral_data_and_confirm_key_carry_just_the_value(command: Command, field: str, size: int) -> None:
    value = bytes(range(size))
    frame = encode(command, {field: value}, direction=S2C, tsn=5)
    assert frame == bytes([0x09, 5, int(command)]) + value
    parsed = decode(frame)
    assert parsed is not None and bytes(getattr(parsed.args, field)) == value
    assert parsed.command.name == f"{command.name.lower()}_response"


def test_the_status_codes_are_the_specifications() -> None:
    assert {s.name: int(s) for s in TerminateStatus} == {
        "UNKNOWN_ISSUER": 1, "BAD_KEY_CONFIRM": 2, "BAD_MESSAGE": 3, "NO_RESOURCES": 4,
        "UNSUPPORTED_SUITE": 5, "INVALID_CERTIFICATE": 6,
    }
    assert status_name(0x09) == "undefined_0x09"  # an unknown code is reported, not refused
    parsed = decode(bytes.fromhex("09 01 03 09 00 0200"))
    assert parsed is not None and parsed.args.status_code.name == "undefined_0x09"


def test_bad_frames_are_named_errors() -> None:
    with pytest.raises(KeFrameError, match="unknown command 0x07"):
        decode(bytes.fromhex("01 01 07"))
    with pytest.raises(KeFrameError, match="terminate_key_establishment"):
        decode(bytes.fromhex("01 01 03 01"))  # Terminate cut short
    assert decode(bytes.fromhex("00 01 00 0000")) is None  # a general command (Read Attributes): not ours


@given(suite=st.sampled_from([0x0001, 0x0002, 0x0003]), eph=st.integers(0, 255), confirm=st.integers(0, 255),
       identity=st.binary(min_size=48, max_size=74), tsn=st.integers(0, 255),
       direction=st.sampled_from([C2S, S2C]))
def test_initiate_round_trip(suite: int, eph: int, confirm: int, identity: bytes, tsn: int, direction) -> None:
    frame = encode(Command.INITIATE_KEY_ESTABLISHMENT,
                   {"key_establishment_suite": suite, "ephemeral_data_generate_time": eph,
                    "confirm_key_generate_time": confirm, "identity": identity}, direction=direction, tsn=tsn)
    parsed = decode(frame)
    assert parsed is not None
    assert (parsed.tsn, parsed.header.direction) == (tsn, direction)
    args = parsed.args
    assert (int(args.key_establishment_suite), args.ephemeral_data_generate_time, args.confirm_key_generate_time,
            bytes(args.identity)) == (suite, eph, confirm, identity)
    assert KeyEstablishmentSuite(suite) & KeyEstablishmentSuite.CRYPTO_SUITE_2 == (suite & 2)
