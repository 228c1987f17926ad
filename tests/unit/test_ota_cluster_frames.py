"""The OTA server's own per-block frame codec gives exactly zigpy's bytes and fields.

The hub reads Image Block/Page Requests and writes SUCCESS Image Block Responses with
``harness.ota.cluster_frames`` instead of zigpy's ZCL schemas (for speed); a device must not be
able to tell. Each case builds the same frame both ways and compares.
"""

from __future__ import annotations

import pytest
import zigpy.types as t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import ImageBlockCommand, ImagePageCommand, Ota

from harness.ota.cluster_frames import BlockRequest, PageRequest, decode_request, encode_block_response

EUI = t.EUI64.convert("00:0d:6f:00:0a:bc:de:f1")


def zigpy_frame(command_id: int, payload: foundation.CommandSchema, *, tsn: int, server_to_client: bool,
                manufacturer: int | None = None, disable_default_response: bool = True) -> bytes:
    """A ZCL frame serialised by zigpy: header, then the command's schema."""
    header = foundation.ZCLHeader(
        frame_control=foundation.FrameControl(
            frame_type=foundation.FrameType.CLUSTER_COMMAND,
            is_manufacturer_specific=manufacturer is not None,
            direction=foundation.Direction.Server_to_Client if server_to_client else foundation.Direction.Client_to_Server,
            disable_default_response=disable_default_response,
            reserved=0,
        ),
        manufacturer=manufacturer,
        tsn=tsn,
        command_id=command_id,
    )
    return header.serialize() + payload.serialize()


@pytest.mark.parametrize(("offset", "data"), [(0, bytes(range(50))), (16_400, b"\xff" * 50), (0xFFFF_FF00, b"\x00"),
                                              (123, b"")])
def test_an_image_block_response_is_the_bytes_zigpy_serialises(offset: int, data: bytes) -> None:
    fields = {"manufacturer_code": 0x1234, "image_type": 0xFFC1, "file_version": 0x0102_0304,
              "file_offset": offset}
    ours = encode_block_response(tsn=0xA7, image_data=data, **fields)
    schema = Ota.ClientCommandDefs.image_block_response.schema
    theirs = zigpy_frame(0x05, schema(status=foundation.Status.SUCCESS, image_data=data, **fields), tsn=0xA7,
                         server_to_client=True)
    assert ours == theirs


@pytest.mark.parametrize("field_control", [0, 1, 2, 3, 0x80])
def test_an_image_block_request_reads_as_zigpy_reads_it(field_control: int) -> None:
    cmd = ImageBlockCommand(
        field_control=field_control, manufacturer_code=0x1234, image_type=0xFFC1, file_version=0x0102_0304,
        file_offset=16_400, maximum_data_size=50,
        request_node_addr=EUI if field_control & 1 else None,
        minimum_block_period=250 if field_control & 2 else None,
    )
    frame = zigpy_frame(0x03, cmd, tsn=9, server_to_client=False)
    request = decode_request(frame)
    assert isinstance(request, BlockRequest)
    assert request.field_control == field_control
    assert (request.manufacturer_code, request.image_type, request.file_version) == (0x1234, 0xFFC1, 0x0102_0304)
    assert (request.file_offset, request.maximum_data_size) == (16_400, 50)
    assert request.minimum_block_period == (250 if field_control & 2 else None)
    assert request.request_node_addr == (bytes(EUI)[::-1] if field_control & 1 else None)
    # The session's test of the field control bit works on both.
    assert bool(request.field_control & request.FieldControl.MinimumBlockPeriod) == bool(
        cmd.field_control & cmd.FieldControl.MinimumBlockPeriod)


@pytest.mark.parametrize("field_control", [0, 1])
def test_an_image_page_request_reads_as_zigpy_reads_it(field_control: int) -> None:
    cmd = ImagePageCommand(
        field_control=field_control, manufacturer_code=0x1234, image_type=0xFFC1, file_version=0x0102_0304,
        file_offset=512, maximum_data_size=50, page_size=256, response_spacing=20,
        request_node_addr=EUI if field_control & 1 else None,
    )
    request = decode_request(zigpy_frame(0x04, cmd, tsn=200, server_to_client=False))
    assert isinstance(request, PageRequest)
    assert (request.file_offset, request.maximum_data_size, request.page_size, request.response_spacing) == (
        512, 50, 256, 20)
    assert (request.manufacturer_code, request.image_type, request.file_version) == (0x1234, 0xFFC1, 0x0102_0304)


def block_request_frame(**overrides: object) -> bytes:
    cmd = ImageBlockCommand(field_control=0, manufacturer_code=1, image_type=2, file_version=3, file_offset=4,
                            maximum_data_size=50)
    return zigpy_frame(0x03, cmd, tsn=1, server_to_client=False, **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("why", "frame"),
    [
        ("a manufacturer-specific header", block_request_frame(manufacturer=0x1234)),
        ("a server-to-client frame", zigpy_frame(0x03, ImageBlockCommand(
            field_control=0, manufacturer_code=1, image_type=2, file_version=3, file_offset=4, maximum_data_size=50),
            tsn=1, server_to_client=True)),
        ("one byte short", block_request_frame()[:-1]),
        ("a trailing byte", block_request_frame() + b"\x00"),
        ("a flag announcing a field that is not there", bytes((0x11, 1, 0x03, 0x02)) + block_request_frame()[4:]),
        ("another command (Upgrade End Request)", bytes((0x11, 1, 0x06)) + bytes(9)),
        ("a header only", bytes((0x11, 1, 0x03))),
    ],
)
def test_frames_the_fast_path_does_not_read_are_left_to_zigpy(why: str, frame: bytes) -> None:
    assert decode_request(frame) is None, why


def test_a_block_request_with_the_default_response_bit_clear_is_still_read() -> None:
    """The bit asks for a Default Response only on error; zigpy's Ota cluster sends none while the
    hub serves the device (ota_in_progress), so the hub reads it as it reads any other."""
    assert isinstance(decode_request(block_request_frame(disable_default_response=False)), BlockRequest)
