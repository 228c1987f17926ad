"""Small, self-contained rig and profile files for the foundation tests.

The tests do not read the repository's rigs/ and profiles/ (a lab may edit those); they write
these into a temporary tree shaped like the repository: ROOT/rigs/*.toml, ROOT/profiles/*.toml.
"""

from __future__ import annotations

from pathlib import Path

#: The repository's sample OTA images (built by `harness image build-samples`).
SAMPLE_IMAGES = Path(__file__).resolve().parents[2] / "firmware_images"

# Published install-code test vectors (security-test-vectors.md, IC-5 and IC-1) and a made-up
# network key. The secret-leak tests grep every message for these digits.
IHD_INSTALL_CODE = "83FED3407A939723A5C639B269161802AEBB"
PPMID_INSTALL_CODE = "83FED3407A939723A5C639B26916D505C3B5"
NETWORK_KEY = "0F1E2D3C4B5A69788796A5B4C3D2E1F0"
SECRETS = (IHD_INSTALL_CODE, PPMID_INSTALL_CODE, NETWORK_KEY)


def profile_text(name: str, role: str, manufacturer_code: int) -> str:
    return f'''\
name = "{name}"
role = "{role}"
manufacturer_code = 0x{manufacturer_code:04X}
image_type = 0x0084
hardware_version = 0x1111
source = "test"
confidence = "test"

[[attributes]]
cluster = 0x0000
attribute = 0x0004
name = "ManufacturerName"
check = "present"
source = "ZCL Basic"
confidence = "high"

[[attributes]]
cluster = 0x0019
attribute = 0x0007
name = "ManufacturerID"
check = "equals"
value = 0x{manufacturer_code:04X}
source = "sample image"
confidence = "medium"

[[attributes]]
cluster = 0x0019
attribute = 0x0002
name = "CurrentFileVersion"
check = "in_range"
min = 0x00000100
max = 0x00000200
source = "sample image"
confidence = "medium"

[[attributes]]
cluster = 0x0000
attribute = 0x0005
name = "ModelIdentifier"
check = "matches"
pattern = "[A-Z]+-GEN"
source = "example"
confidence = "none"

[[attributes]]
cluster = 0x0019
attribute = 0x0006
name = "ImageUpgradeStatus"
check = "one_of"
values = [0, 1, 2]
source = "ZCL OTA"
confidence = "high"

[ota]
max_block_size = 40
upgrade_time = "now"
block_timeout_s = 30
activation_timeout_s = 120
source = "derived"
confidence = "low"

[tenancy]
read_within_s = 600
source = "SECMP0056"
confidence = "low"

[[tenancy.attributes]]
attribute = 0x0200
name = "ChangeOfTenancyUpdateDateTime"
source = "ZSE Device Management"
confidence = "low"
'''


PROFILES = {
    "ihd-generic": profile_text("ihd-generic", "IHD", 0x1234),
    "ppmid-generic": profile_text("ppmid-generic", "PPMID", 0x121D),
}


def emulated_rig_text(name: str = "emulated") -> str:
    return f'''\
name = "{name}"
description = "test rig: emulated radio, one IHD, one PPMID"

[radio]
kind = "ezsp"
flow_control = "software"

[radio.emulated]
ezsp_version = 13
seed = 1

[han]
channel = 15
pan_id = 0x1A62
network_key = "{NETWORK_KEY}"

[[devices]]
name = "ihd1"
role = "IHD"
eui64 = "00:0D:6F:00:0B:12:34:52"
install_code = "{IHD_INSTALL_CODE}"
profile = "ihd-generic"
[devices.emulation]
firmware_version = 0x00000101
hardware_version = 0x0010
manufacturer_name = "Example Displays Ltd"
model = "IHD-GEN"

[[devices]]
name = "ppmid1"
role = "PPMID"
eui64 = "00:0D:6F:00:0B:12:34:51"
install_code = "{PPMID_INSTALL_CODE}"
profile = "ppmid-generic"
[devices.emulation]
firmware_version = 0x00000101
hardware_version = 0x1111
manufacturer_name = "Example Meters Ltd"
model = "PPMID-GEN"

[[images]]
name = "ppmid-next"
file = "../images/ppmid-next.ota"
devices = ["ppmid1"]
purpose = "upgrade"
'''


def real_rig_text(name: str = "bench", port: str = '"tcp://127.0.0.1:9999"') -> str:
    return f'''\
name = "{name}"

[radio]
port = {port}

[[devices]]
name = "ppmid1"
role = "PPMID"
eui64 = "000D6F000B123451"
install_code = "{PPMID_INSTALL_CODE}"
profile = "ppmid-generic"
'''


def make_tree(root: Path, rigs: dict[str, str] | None = None, *, images: bool = True) -> Path:
    """ROOT/rigs, ROOT/profiles and (optionally) the image the emulated rig names; returns ROOT."""
    (root / "rigs").mkdir(parents=True, exist_ok=True)
    (root / "profiles").mkdir(exist_ok=True)
    for name, text in PROFILES.items():
        (root / "profiles" / f"{name}.toml").write_text(text)
    for name, text in (rigs if rigs is not None else {"emulated": emulated_rig_text()}).items():
        (root / "rigs" / f"{name}.toml").write_text(text)
    if images:
        (root / "images").mkdir(exist_ok=True)
        # A real, well-formed image: the files check parses every image a rig names.
        (root / "images" / "ppmid-next.ota").write_bytes((SAMPLE_IMAGES / "ppmid-next.ota").read_bytes())
    return root
