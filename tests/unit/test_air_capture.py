"""The air codec, the pcapng writer and the keys file, checked without tshark.

Wireshark's own verdict on the same captures is in test_capture_tshark.py; these tests pin what
can be checked by hand: the FCS, CCM* round trips with the nonce and AAD the notes give, the
pcapng block layout, the keys file's format and errors, and the order of a join on the air.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from harness.capture.keys_file import KeysFileError, add_key, read_keys, tshark_key_options
from harness.capture.pcapng import LINKTYPE_IEEE802_15_4_WITHFCS, PcapngWriter
from harness.capture.per_test import begin_test_capture
from harness.emulator import air_frames as f
from harness.emulator.air import SE_PROFILE, AirFrame
from harness.emulator.air_capture import AirCapture, Endpoint, aps_secured
from harness.emulator.server import EmulatedRadio, capture_file_stem

KEY = bytes(range(16))
TC = bytes.fromhex("000d6f00ffee0001")
DEVICE = bytes.fromhex("000d6f000b123451")


def test_fcs_is_crc16_kermit() -> None:
    assert f.fcs(b"123456789") == struct.pack("<H", 0x2189)  # the catalogue check value


def test_nwk_security_round_trips_with_the_documented_nonce_and_aad() -> None:
    security = f.Security(key=KEY, frame_counter=0x01020304, source_eui64=DEVICE, key_id=f.KEY_ID_NETWORK, key_sequence=7)
    frame = f.nwk_frame(dst=0x0000, src=0x1234, sequence=9, payload=b"aps-frame", security=security)
    header, aux, sealed = frame[:8], frame[8:22], frame[22:]
    assert aux[0] == 0x28  # key id 1, extended nonce, level zeroed on air
    assert aux[1:5] == bytes((4, 3, 2, 1)) and aux[5:13] == DEVICE[::-1] and aux[13] == 7
    nonce = DEVICE[::-1] + bytes((4, 3, 2, 1)) + bytes((0x2D,))
    aad = header + bytes((0x2D,)) + aux[1:]
    assert AESCCM(KEY, tag_length=4).decrypt(nonce, sealed, aad) == b"aps-frame"
    assert len(sealed) == len(b"aps-frame") + 4


def test_se_rules_decide_aps_security() -> None:
    def frame(cluster: int, payload: bytes = b"\x01\x01\x01", *, broadcast: bool = False, profile: int = SE_PROFILE) -> AirFrame:
        return AirFrame(0, 0xFFFD if broadcast else 0x1234, profile, cluster, 1, 1, payload, broadcast=broadcast)

    assert aps_secured(frame(0x0019)) and aps_secured(frame(0x000A)) and aps_secured(frame(0x0708))
    assert not aps_secured(frame(0x0800))  # Key Establishment runs under network security only
    assert not aps_secured(frame(0x0000)) and not aps_secured(frame(0x0019, profile=0))
    assert not aps_secured(frame(0x0019, b"\x19\x01\x00", broadcast=True))  # a broadcast Image Notify
    assert aps_secured(frame(0x0019, b"\x19\x01\x02"))  # a unicast Query Next Image Response


def read_blocks(path: Path) -> list[tuple[int, bytes]]:
    data, blocks, offset = path.read_bytes(), [], 0
    while offset < len(data):
        block_type, length = struct.unpack_from("<II", data, offset)
        assert struct.unpack_from("<I", data, offset + length - 4)[0] == length
        blocks.append((block_type, data[offset + 8 : offset + length - 4]))
        offset += length
    return blocks


def test_pcapng_has_a_section_an_802154_interface_and_one_block_per_frame(tmp_path: Path) -> None:
    with PcapngWriter(tmp_path / "a.pcapng", comment="test") as writer:
        assert writer.write(1_700_000_000.25, f.mac_ack(5)) == 1
        assert writer.write(1_700_000_000.5, f.beacon_request(6)) == 2
    (shb, _), (idb, interface), (epb1, first), (epb2, _) = read_blocks(tmp_path / "a.pcapng")
    assert (shb, idb, epb1, epb2) == (0x0A0D0D0A, 1, 6, 6)
    assert struct.unpack_from("<H", interface)[0] == LINKTYPE_IEEE802_15_4_WITHFCS
    _, high, low, captured, original = struct.unpack_from("<IIIII", first)
    assert (high << 32 | low) == 1_700_000_000_250_000 and captured == original == 5
    assert first[20:25] == f.mac_ack(5)


def test_keys_file_lists_each_key_once_and_names_a_bad_line(tmp_path: Path) -> None:
    keys = tmp_path / "zigbee-keys.txt"
    assert add_key(keys, KEY, "network key")
    assert not add_key(keys, KEY, "network key again")
    assert add_key(keys, bytes(16), "link key ppmid1 (install code)")
    assert read_keys(keys) == [(KEY, "network key"), (bytes(16), "link key ppmid1 (install code)")]
    assert tshark_key_options(keys)[:2] == ["-o", f'uat:zigbee_pc_keys:"{KEY.hex()}","Normal","network key"']
    keys.write_text(keys.read_text() + "not a key\n")
    with pytest.raises(KeysFileError, match=r"zigbee-keys.txt:5: expected"):
        read_keys(keys)


def mac_types(path: Path) -> list[int]:
    frames = [body for kind, body in read_blocks(path) if kind == 6]
    return [body[20] & 0x07 for body in frames]


def test_a_join_is_association_then_transport_key_with_acks(tmp_path: Path) -> None:
    capture = AirCapture(clock=lambda: 1.0)
    capture.start(tmp_path / "join.pcapng", keys_path=tmp_path / "zigbee-keys.txt")
    capture.network_formed(15, 0x1A62, bytes(8), KEY, TC)
    capture.join(Endpoint(0x1234, DEVICE, "ppmid1"), tc_link_key=bytes(16), key_label="link key ppmid1 (install code)")
    capture.stop()
    # beacon request, beacon, association request + ACK, data request + ACK, association response + ACK,
    # Transport-Key + ACK
    assert mac_types(tmp_path / "join.pcapng") == [3, 0, 3, 2, 3, 2, 3, 2, 1, 2]
    assert [label for _, label in read_keys(tmp_path / "zigbee-keys.txt")] == [
        "network key", "link key ppmid1 (install code)"
    ]


def test_a_new_file_per_test_keeps_the_counters_running(tmp_path: Path) -> None:
    capture = AirCapture(clock=lambda: 1.0)
    capture.network_formed(15, 0x1A62, bytes(8), KEY, TC)
    frame = AirFrame(0, 0x1234, 0, 0x0005, 0, 0, b"\x01\x34\x12")
    tc, device = Endpoint(0, TC), Endpoint(0x1234, DEVICE, "ppmid1")
    capture.start(tmp_path / "one.pcapng", keys_path=None)
    capture.aps_frame(frame, src=tc, dst=device, link_key=None, delivered=True)
    capture.start(tmp_path / "two.pcapng", keys_path=None)
    capture.aps_frame(frame, src=tc, dst=device, link_key=None, delivered=False)
    capture.stop()
    first = [b for k, b in read_blocks(tmp_path / "one.pcapng") if k == 6][0][20:]
    second = [b for k, b in read_blocks(tmp_path / "two.pcapng") if k == 6]
    assert len(second) == 1  # lost: no MAC ACK, no APS ACK
    assert second[0][20 + 2] == first[2] + 1  # the coordinator's MAC sequence number goes on
    assert not (tmp_path / "zigbee-keys.txt").exists()  # keys only where asked for


def test_capture_file_names_are_safe_and_readable() -> None:
    assert capture_file_stem("tests/conformance/test_ota.py::test_x[ppmid1-13]") == (
        "tests-conformance-test_ota.py-test_x-ppmid1-13"
    )


def test_each_test_gets_its_own_capture_beside_the_evidence(tmp_path: Path) -> None:
    evidence = tmp_path / "reports" / "evidence.json"
    with EmulatedRadio(ezsp_version=13) as radio:
        first = begin_test_capture(radio, evidence, "tests/a.py::test_one", keys=True)
        second = begin_test_capture(radio, evidence, "tests/a.py::test_two", keys=True)
        radio.stop_capture()
    assert first == tmp_path / "reports" / "captures" / "evidence" / "tests-a.py-test_one.pcapng"
    assert second is not None and second.exists() and first.exists()
    assert begin_test_capture(None, evidence, "tests/a.py::test_three", keys=False) is None
