"""Zigbee OTA files and GBCS firmware images: parse, build, sign, verify.

Pure: bytes in, objects out; the only I/O is :meth:`ImageFile.open` reading a file. Every
malformed input raises :class:`OtaError`, whose message names the field and byte offset.

    image = OtaImage.from_bytes(data)            # strict: whole file, no trailing bytes
    with ImageFile.open(path) as f:              # large files: mmap, served by offset
        block = f.read(offset, 40)
    verify(image_or_file, public_pem)            # SignatureStatus.VALID / INVALID / ABSENT
    hardware_in_range(image.header, 0x1111)
"""

from __future__ import annotations

from harness.ota.elements import SubElement, Tag
from harness.ota.errors import OtaError
from harness.ota.gbcs import GbcsUpgradeImage
from harness.ota.header import FieldControl, OtaHeader, hardware_in_range, make_header
from harness.ota.image import Layout, OtaImage, decode_image, encode_image
from harness.ota.image_file import ImageFile
from harness.ota.signing import SignatureStatus, sign, sign_manufacturer_image, verify

__all__ = [
    "FieldControl",
    "GbcsUpgradeImage",
    "ImageFile",
    "Layout",
    "OtaError",
    "OtaHeader",
    "OtaImage",
    "SignatureStatus",
    "SubElement",
    "Tag",
    "decode_image",
    "encode_image",
    "hardware_in_range",
    "make_header",
    "sign",
    "sign_manufacturer_image",
    "verify",
]
