"""The OTA Upgrade cluster's per-block frames (ZCL OTA 11.13.6-11.13.8) as field lists.

A transfer is hundreds of Image Block (or Page) Requests and as many Image Block Responses; every
other frame of the cluster is sent a handful of times per transfer. These three are declared here
with :mod:`harness.wire`'s field lists, so the CH can read and write them with a few integer
conversions instead of a general ZCL schema machine. The field order and the flag bits are the
cluster's (and zigpy's ``ImageBlockCommand`` / ``ImagePageCommand`` / ``ImageBlockResponseCommand``
declare the same); ``tests/unit/test_ota_cluster_frames.py`` fails if the bytes of any frame here
differ from zigpy's for the same fields.

Only what the fast path needs: a request is decoded only when its ZCL header is the plain one a
client sends (cluster-specific, client to server, no manufacturer code) and its payload has
exactly the length its field control announces; anything else is left to zigpy's own parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from harness.wire import Field, Kind, Record

#: ZCL frame control bits (ZCL 2.4.1.1).
FRAME_TYPE_CLUSTER = 0x01
MANUFACTURER_SPECIFIC = 0x04
SERVER_TO_CLIENT = 0x08
DISABLE_DEFAULT_RESPONSE = 0x10

IMAGE_BLOCK_REQUEST = 0x03
IMAGE_PAGE_REQUEST = 0x04
IMAGE_BLOCK_RESPONSE = 0x05

#: Field control bits of the two requests.
REQUEST_NODE_ADDR = 0x01
MINIMUM_BLOCK_PERIOD = 0x02

_SPEC = "ZCL OTA Upgrade cluster"

_IMAGE_ID = (
    Field("manufacturer_code", 2, spec=_SPEC),
    Field("image_type", 2, spec=_SPEC),
    Field("file_version", 4, spec=_SPEC),
    Field("file_offset", 4, spec=_SPEC),
    Field("maximum_data_size", 1, spec=_SPEC),
)

IMAGE_BLOCK_REQUEST_RECORD = Record(
    "image_block_request",
    (
        Field("field_control", 1, spec=_SPEC),
        *_IMAGE_ID,
        Field("request_node_addr", 8, Kind.EUI64, when_flag=REQUEST_NODE_ADDR, spec=_SPEC),
        Field("minimum_block_period", 2, when_flag=MINIMUM_BLOCK_PERIOD, spec=_SPEC),
    ),
    flags_field="field_control",
)

IMAGE_PAGE_REQUEST_RECORD = Record(
    "image_page_request",
    (
        Field("field_control", 1, spec=_SPEC),
        *_IMAGE_ID,
        Field("page_size", 2, spec=_SPEC),
        Field("response_spacing", 2, spec=_SPEC),
        Field("request_node_addr", 8, Kind.EUI64, when_flag=REQUEST_NODE_ADDR, spec=_SPEC),
    ),
    flags_field="field_control",
)

#: The fixed part of a SUCCESS Image Block Response; the image data follows it.
IMAGE_BLOCK_RESPONSE_RECORD = Record(
    "image_block_response",
    (
        Field("status", 1, const=0x00, spec=_SPEC),  # SUCCESS: the only status with data
        Field("manufacturer_code", 2, spec=_SPEC),
        Field("image_type", 2, spec=_SPEC),
        Field("file_version", 4, spec=_SPEC),
        Field("file_offset", 4, spec=_SPEC),
        Field("data_size", 1, spec=_SPEC),
    ),
)


class FieldControl:
    """The field control bits by the names zigpy's ``ImageBlockCommand.FieldControl`` gives them."""

    RequestNodeAddr = REQUEST_NODE_ADDR
    MinimumBlockPeriod = MINIMUM_BLOCK_PERIOD


@dataclass(frozen=True, slots=True)
class _ImageDataRequest:
    """What an Image Block Request and an Image Page Request both start with, in their order."""

    FieldControl: ClassVar[type[FieldControl]] = FieldControl

    field_control: int
    manufacturer_code: int
    image_type: int
    file_version: int
    file_offset: int
    maximum_data_size: int


@dataclass(frozen=True, slots=True)
class BlockRequest(_ImageDataRequest):
    """An Image Block Request's fields, under the names of zigpy's ``ImageBlockCommand``."""

    request_node_addr: bytes | None = None  # display order
    minimum_block_period: int | None = None


@dataclass(frozen=True, slots=True)
class PageRequest(_ImageDataRequest):
    """An Image Page Request's fields, under the names of zigpy's ``ImagePageCommand``."""

    page_size: int
    response_spacing: int
    request_node_addr: bytes | None = None


def _plain_client_request(frame: bytes) -> bool:
    """Whether ``frame`` has the 3-byte ZCL header of a client's cluster command (no manufacturer
    code, client to server) -- the only header the fast path reads."""
    return len(frame) >= 3 and frame[0] & (0x03 | MANUFACTURER_SPECIFIC | SERVER_TO_CLIENT) == FRAME_TYPE_CLUSTER


def decode_request(frame: bytes) -> BlockRequest | PageRequest | None:
    """An Image Block or Page Request from a whole ZCL frame; None for any other frame, or one whose
    payload is not exactly what its field control announces (left to zigpy, which judges it)."""
    if not _plain_client_request(frame):
        return None
    command = frame[2]
    record = (IMAGE_BLOCK_REQUEST_RECORD if command == IMAGE_BLOCK_REQUEST
              else IMAGE_PAGE_REQUEST_RECORD if command == IMAGE_PAGE_REQUEST else None)
    if record is None or len(frame) < 4 or len(frame) - 3 != record.size(frame[3]):
        return None
    values, _end = record.decode(frame, 3)
    if record is IMAGE_BLOCK_REQUEST_RECORD:
        return BlockRequest(**values.as_kwargs())
    return PageRequest(**values.as_kwargs())


def encode_block_response(
    *, tsn: int, manufacturer_code: int, image_type: int, file_version: int, file_offset: int, image_data: bytes
) -> bytes:
    """A whole ZCL frame: a SUCCESS Image Block Response, as the CH sends it (no default response)."""
    header = bytes((FRAME_TYPE_CLUSTER | SERVER_TO_CLIENT | DISABLE_DEFAULT_RESPONSE, tsn, IMAGE_BLOCK_RESPONSE))
    fixed = IMAGE_BLOCK_RESPONSE_RECORD.encode({
        "manufacturer_code": manufacturer_code,
        "image_type": image_type,
        "file_version": file_version,
        "file_offset": file_offset,
        "data_size": len(image_data),
    })
    return header + fixed + bytes(image_data)
