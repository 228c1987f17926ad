"""The sample images in ``firmware_images/``, as data plus one pure build function.

Rig files and conformance tests name these files, so their content must be reproducible:
``harness image build-samples`` rebuilds them byte for byte. That needs a fixed payload
(a SHA-256 counter stream from a fixed seed), a fixed key (derived from a published seed:
it is a TEST key and is meant to be public), and deterministic signatures (RFC 6979, see
:mod:`harness.ota.signing`).

Identities (domain-notes §3.5 and the issue): the PPMID values are those of the RTDS SR 11.4
reference sample (manufacturer 0x121D, image type 0x0084, hardware 0x1111-0x1211); the IHD
values (0x1234, 0x0042, hardware 0x0001-0x00FF) are examples, not a real product's.
Emulated devices run file version 0x00000101 ("current").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from harness.ota.gbcs import GbcsUpgradeImage
from harness.ota.image import OtaImage
from harness.ota.signing import key_pair_from_seed, sign

PRIVATE_KEY_FILE = "TEST-ONLY-supplier-private.pem"
PUBLIC_KEY_FILE = "TEST-ONLY-supplier-public.pem"
#: Seed of the TEST-ONLY supplier key. Anyone can derive the private key from it: that is
#: the point. Nothing signed with it may ever be trusted outside a test.
TEST_KEY_SEED = b"han-harness TEST-ONLY supplier signing key; never trust anything it signs"
CH_PRIVATE_KEY_FILE = "TEST-ONLY-ch-private.pem"
CH_PUBLIC_KEY_FILE = "TEST-ONLY-ch-public.pem"
#: Seed of the TEST-ONLY Communications Hub key that signs the CCS08 alerts the harness records
#: as evidence (the CH's digital-signing key on a real installation). Public, like the one above.
CH_KEY_SEED = b"han-harness TEST-ONLY communications hub signing key; never trust anything it signs"

VERSION_PREVIOUS = 0x00000100
VERSION_CURRENT = 0x00000101  # what emulated devices run
VERSION_NEXT = 0x00000102


@dataclass(frozen=True, slots=True)
class Profile:
    """The identity an image is built for."""

    role: str
    manufacturer_code: int
    image_type: int
    hardware_range: tuple[int, int]
    payload_size: int  # bytes of Manufacturer Image; modest, so CI transfers stay quick


PPMID = Profile("PPMID", 0x121D, 0x0084, (0x1111, 0x1211), 4096)  # RTDS SR 11.4 sample identity
IHD = Profile("IHD", 0x1234, 0x0042, (0x0001, 0x00FF), 3072)  # example values
OTHER_MANUFACTURER = 0x1235  # example value: any code other than the PPMID's
OTHER_IMAGE_TYPE = 0x0085  # example value: any image type other than the PPMID's
HARDWARE_OUT_OF_RANGE = (0x2000, 0x20FF)  # excludes every PPMID hardware version above
TRUNCATED_LENGTH = 2048  # bytes kept of the truncated sample: header intact, image cut


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    profile: Profile
    file_version: int
    purpose: str
    manufacturer_code: int | None = None  # override of the profile's
    image_type: int | None = None  # override of the profile's
    hardware_range: tuple[int, int] | None = None  # override of the profile's
    fault: str | None = None  # None, "bad-signature" or "truncated"


SAMPLES: tuple[Sample, ...] = (
    Sample("ihd-current.ota", IHD, VERSION_CURRENT, "the version emulated IHDs run: offered, nothing to do"),
    Sample("ihd-next.ota", IHD, VERSION_NEXT, "a good upgrade for the IHD"),
    Sample("ppmid-current.ota", PPMID, VERSION_CURRENT, "the version emulated PPMIDs run: offered, nothing to do"),
    Sample("ppmid-next.ota", PPMID, VERSION_NEXT, "a good upgrade: CCS08 0x8F8A then CS09 0x8F8B"),
    Sample("ppmid-previous.ota", PPMID, VERSION_PREVIOUS, "a downgrade (older than current)"),
    Sample(
        "ppmid-other-manufacturer.ota",
        PPMID,
        VERSION_NEXT,
        "right image type and version, another manufacturer code: must not be taken",
        manufacturer_code=OTHER_MANUFACTURER,
    ),
    Sample(
        "ppmid-other-image-type.ota",
        PPMID,
        VERSION_NEXT,
        "the PPMID's manufacturer and hardware, another image type: the device must not take it",
        image_type=OTHER_IMAGE_TYPE,
    ),
    Sample(
        "ppmid-hw-out-of-range.ota",
        PPMID,
        VERSION_NEXT,
        "hardware range excludes the PPMID: CCS08 0x8F89 response 2, no block sent",
        hardware_range=HARDWARE_OUT_OF_RANGE,
    ),
    Sample(
        "ppmid-bad-signature.ota",
        PPMID,
        VERSION_NEXT,
        "well-formed, but the signature does not verify (image changed after signing): "
        "CCS08 0x8F89 response 1",
        fault="bad-signature",
    ),
    Sample(
        "ppmid-truncated.ota",
        PPMID,
        VERSION_NEXT,
        f"cut to {TRUNCATED_LENGTH} bytes, short of its header's total_image_size",
        fault="truncated",
    ),
)


def supplier_key_pair() -> tuple[bytes, bytes]:
    """The TEST-ONLY supplier key pair as (private PEM, public PEM), derived from the seed."""
    return key_pair_from_seed(TEST_KEY_SEED)


def ch_key_pair() -> tuple[bytes, bytes]:
    """The TEST-ONLY Communications Hub key pair as (private PEM, public PEM), derived from its seed."""
    return key_pair_from_seed(CH_KEY_SEED)


def payload(profile: Profile, file_version: int) -> bytes:
    """A Manufacturer Image: a readable banner, then a SHA-256 counter stream.

    The banner makes a hex dump self-explanatory and guarantees the body never parses as
    sub-elements (see :func:`harness.ota.image.detect_layout`).
    """
    banner = f"TEST-ONLY {profile.role} firmware {file_version:#010x}, not for real devices\n".encode()
    seed = f"{profile.role}:{profile.manufacturer_code:04x}:{profile.image_type:04x}:{file_version:08x}".encode()
    stream = bytearray(banner)
    counter = 0
    while len(stream) < profile.payload_size:
        stream += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return bytes(stream[: profile.payload_size])


def build_sample(sample: Sample, private_key_pem: bytes) -> bytes:
    """The bytes of one sample file."""
    profile = sample.profile
    manufacturer_image = payload(profile, sample.file_version)
    signature = sign(manufacturer_image, private_key_pem)
    if sample.fault == "bad-signature":
        # Flip the last byte of the image after signing: the structure stays valid.
        manufacturer_image = manufacturer_image[:-1] + bytes([manufacturer_image[-1] ^ 0xFF])
    image = OtaImage.build(
        GbcsUpgradeImage(manufacturer_image, signature),
        manufacturer_code=sample.manufacturer_code or profile.manufacturer_code,
        image_type=sample.image_type if sample.image_type is not None else profile.image_type,
        file_version=sample.file_version,
        header_string=f"TEST-ONLY {profile.role} {sample.file_version:#010x}",
        hardware_range=sample.hardware_range or profile.hardware_range,
    )
    data = image.to_bytes()
    return data[:TRUNCATED_LENGTH] if sample.fault == "truncated" else data


def build_samples(private_key_pem: bytes | None = None) -> dict[str, bytes]:
    """Every sample file and the key pair, as ``{relative path: bytes}``."""
    private_pem, public_pem = supplier_key_pair()
    key = private_key_pem or private_pem
    files = {f"keys/{PRIVATE_KEY_FILE}": private_pem, f"keys/{PUBLIC_KEY_FILE}": public_pem}
    ch_private_pem, ch_public_pem = ch_key_pair()
    files |= {f"keys/{CH_PRIVATE_KEY_FILE}": ch_private_pem, f"keys/{CH_PUBLIC_KEY_FILE}": ch_public_pem}
    for sample in SAMPLES:
        files[sample.name] = build_sample(sample, key)
    return files
