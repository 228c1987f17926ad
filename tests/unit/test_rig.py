"""Rig and profile files: what loads, and the exact message for each kind of mistake."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.profiles import ProfileError, load_profile
from harness.rig import (
    DEFAULT_RIG,
    RigError,
    available_rigs,
    choose_rig,
    find_rig,
    load_rig,
    session_is_interactive,
)
from harness.secret import Secret
from tests.fixtures.rigfiles import (
    IHD_INSTALL_CODE,
    NETWORK_KEY,
    PPMID_INSTALL_CODE,
    PROFILES,
    SECRETS,
    emulated_rig_text,
    make_tree,
    real_rig_text,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path)


# -- what loads ------------------------------------------------------------------------------------


def test_emulated_rig_loads_into_typed_objects(tree: Path) -> None:
    rig = load_rig(tree / "rigs" / "emulated.toml")

    assert rig.name == "emulated"
    assert [d.name for d in rig.devices] == ["ihd1", "ppmid1"]
    ppmid = rig.device("ppmid1")
    assert ppmid.eui64 == bytes.fromhex("000D6F000B123451")
    assert ppmid.eui64_text == "00:0D:6F:00:0B:12:34:51"
    assert ppmid.install_code == Secret(bytes.fromhex(PPMID_INSTALL_CODE))
    assert ppmid.emulation is not None and ppmid.emulation.hardware_version == 0x1111
    assert rig.han.pan_id == 0x1A62 and rig.han.network_key.reveal() == bytes.fromhex(NETWORK_KEY)
    assert rig.radio.emulated is not None and rig.radio.emulated.ezsp_version == 13
    assert rig.profile_for(ppmid).manufacturer_code == 0x121D
    assert rig.capabilities == {"fault_injection"}


def test_relative_paths_resolve_against_the_rig_files_directory(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree / "profiles")  # somewhere else entirely
    rig = load_rig(Path("../rigs/emulated.toml"))

    assert rig.images[0].file == (tree / "images" / "ppmid-next.ota").resolve()
    assert rig.images_for("ppmid1", "upgrade") == rig.images
    assert rig.images_for("ihd1") == ()


def test_rig_objects_are_frozen(tree: Path) -> None:
    rig = load_rig(tree / "rigs" / "emulated.toml")
    with pytest.raises(AttributeError):
        rig.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        rig.radio.ezsp_config["X"] = 1  # type: ignore[index]


def test_secrets_from_env_and_file(tree: Path) -> None:
    (tree / "rigs" / "keys").mkdir()
    (tree / "rigs" / "keys" / "ppmid1.ic").write_text(PPMID_INSTALL_CODE.lower() + "\n")
    text = real_rig_text().replace(f'"{PPMID_INSTALL_CODE}"', '"file:keys/ppmid1.ic"')
    text = text.replace("[radio]", '[han]\nnetwork_key = "env:TEST_NWK"\n\n[radio]')
    (tree / "rigs" / "bench.toml").write_text(text)

    rig = load_rig(tree / "rigs" / "bench.toml", environ={"TEST_NWK": NETWORK_KEY})

    assert rig.device("ppmid1").install_code.reveal() == bytes.fromhex(PPMID_INSTALL_CODE)
    assert rig.device("ppmid1").install_code.origin == "file:keys/ppmid1.ic"
    assert rig.han.network_key.origin == "env:TEST_NWK"
    assert rig.capabilities == frozenset()


def test_usb_port_match(tree: Path) -> None:
    (tree / "rigs" / "bench.toml").write_text(real_rig_text(port='{ vid = 0x10C4, pid = 0xEA60, serial = "0001" }'))
    port = load_rig(tree / "rigs" / "bench.toml").radio.port
    assert port.usb is not None and (port.usb.vid, port.usb.pid, port.usb.serial) == (0x10C4, 0xEA60, "0001")


def test_the_shipped_rigs_and_profiles_load(tmp_path: Path) -> None:
    """rigs/emulated.toml as CI uses it, and bench1.toml as the documented example says."""
    emulated = load_rig(REPO / "rigs" / "emulated.toml")
    assert {d.name: d.role for d in emulated.devices} == {"ihd1": "IHD", "ppmid1": "PPMID"}
    assert {p.name for p in emulated.profiles.values()} == {"ihd-generic", "ppmid-generic"}
    ppmid = emulated.profile_for("ppmid1")
    assert (ppmid.manufacturer_code, ppmid.image_type, ppmid.hardware_version) == (0x121D, 0x0084, 0x1111)
    assert ppmid.tenancy is not None and ppmid.tenancy.cluster == 0x0708
    assert ppmid.tenancy.attributes[:2] == (0x0200, 0x0201) and 0x0100 in ppmid.tenancy.attributes

    # bench1 as a copy beside the real profiles, with its env: and file: secrets provided.
    (tmp_path / "rigs" / "keys").mkdir(parents=True)
    (tmp_path / "rigs" / "bench1.toml").write_text((REPO / "rigs" / "bench1.toml").read_text())
    (tmp_path / "rigs" / "keys" / "ppmid1.install-code").write_text(PPMID_INSTALL_CODE)
    bench = load_rig(tmp_path / "rigs" / "bench1.toml", profiles_dir=REPO / "profiles",
                     environ={"BENCH1_NETWORK_KEY": NETWORK_KEY, "BENCH1_IHD1_INSTALL_CODE": IHD_INSTALL_CODE})
    assert bench.radio.port is not None and bench.radio.port.path.startswith("/dev/serial/by-id/")
    assert bench.operator.action(interactive=False) == "fail"


@pytest.mark.parametrize("name", ["ihd-generic", "ppmid-generic"])
def test_shipped_profiles_carry_provenance_everywhere(name: str) -> None:
    profile = load_profile(REPO / "profiles" / f"{name}.toml")
    entries = [profile, profile.ota, profile.tenancy, *profile.attributes, *profile.tenancy.entries]
    assert all(entry.source.strip() and entry.confidence.strip() for entry in entries)


# -- choosing a rig --------------------------------------------------------------------------------


@pytest.mark.parametrize(("option", "ini", "env", "expected"), [
    ("opt", "ini", "env", ("opt", "--rig")),
    (None, "ini", "env", ("ini", "ini option 'rig'")),
    (None, None, "env", ("env", "HARNESS_RIG")),
    (None, None, None, (DEFAULT_RIG, "default")),
])
def test_rig_choice_precedence(option, ini, env, expected) -> None:
    environ = {} if env is None else {"HARNESS_RIG": env}
    assert choose_rig(option=option, ini=ini, environ=environ) == expected


def test_an_empty_choice_is_an_error_not_a_fall_through() -> None:
    with pytest.raises(RigError, match="--rig: is empty"):
        choose_rig(option="", ini="ini", environ={})


def test_unknown_rig_lists_the_available_ones(tree: Path) -> None:
    (tree / "rigs" / "bench.toml").write_text(real_rig_text())
    assert available_rigs(tree / "rigs") == ["bench", "emulated"]
    with pytest.raises(RigError) as caught:
        find_rig("nope", tree / "rigs")
    assert "unknown rig 'nope'; available rigs: bench, emulated" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_find_rig_by_path(tree: Path) -> None:
    assert find_rig(str(tree / "rigs" / "emulated.toml"), Path("elsewhere")) == tree / "rigs" / "emulated.toml"
    with pytest.raises(RigError, match="rig file not found"):
        find_rig(str(tree / "rigs" / "missing.toml"), tree / "rigs")


def test_operator_policy_is_non_interactive_under_ci() -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    assert session_is_interactive({}, Tty()) is True
    assert session_is_interactive({"CI": "true"}, Tty()) is False


# -- malformed files: one line, the exact key path, no secret --------------------------------------

Edit = Callable[[str], str]


def replace(old: str, new: str) -> Edit:
    def edit(text: str) -> str:
        assert text.count(old) == 1, f"test edit is ambiguous or stale: {old!r}"
        return text.replace(old, new)
    return edit


def prepend(line: str) -> Edit:
    return lambda text: line + "\n" + text


def real(port: str | None = '"tcp://127.0.0.1:9999"', extra: str = "") -> Edit:
    """Replace the emulated rig with a real-radio one (``port=None``: no port line at all)."""
    def edit(_text: str) -> str:
        text = real_rig_text(name="emulated", port=port or "")
        return (text if port else text.replace("port = \n", "")) + extra
    return edit


PPMID_EMULATION_HW = "hardware_version = 0x1111\nmanufacturer_name"

RIG_CASES = [
    ("unknown top-level key", prepend('colour = "red"'), "colour", "unknown key"),
    ("name differs from file", replace('name = "emulated"', 'name = "other"'), "name", "does not match the file name"),
    ("radio kind", replace('kind = "ezsp"', 'kind = "zstack"'), "radio.kind", "expected one of 'ezsp'"),
    ("flow control", replace('flow_control = "software"', 'flow_control = "xon"'), "radio.flow_control", "'xon'"),
    ("port beside emulated", replace('kind = "ezsp"', 'kind = "ezsp"\nport = "/dev/ttyUSB0"'), "radio.port",
     "must not be set with [radio.emulated]"),
    ("ezsp version", replace("ezsp_version = 13", "ezsp_version = 15"), "radio.emulated.ezsp_version", "15 is not"),
    ("frame loss", replace("seed = 1", "seed = 1\nframe_loss = 1.5"), "radio.emulated.frame_loss", "out of range"),
    ("transport", replace("seed = 1", 'seed = 1\ntransport = "serial"'), "radio.emulated.transport", "'serial'"),
    ("stack version", replace("seed = 1", 'seed = 1\nstack_version = "7.4"'), "radio.emulated.stack_version",
     "four numbers"),
    ("unknown emulator key", replace("seed = 1", "sede = 2"), "radio.emulated.sede", "unknown key"),
    ("ezsp config value", replace("seed = 1", 'seed = 1\n[radio.ezsp_config]\nSTACK_PROFILE = "2"'),
     "radio.ezsp_config.STACK_PROFILE", "expected an integer"),
    ("channel", replace("channel = 15", "channel = 27"), "han.channel", "27 is out of range 11..26"),
    ("pan id as string", replace("pan_id = 0x1A62", 'pan_id = "0x1A62"'), "han.pan_id",
     "expected an integer, got a string: '0x1A62'"),
    ("pan id reserved", replace("pan_id = 0x1A62", "pan_id = 0xFFFF"), "han.pan_id", "0xFFFF is out of range"),
    ("extended pan id", replace("pan_id = 0x1A62", 'pan_id = 0x1A62\nextended_pan_id = "0011"'),
     "han.extended_pan_id", "expected 8 bytes (16 hex digits), got 2"),
    ("network key length", replace(NETWORK_KEY, "0011223344"), "han.network_key", "has 5 bytes; expected 16"),
    ("network key env unset", replace(NETWORK_KEY, "env:HARNESS_TEST_UNSET_KEY"), "han.network_key",
     "environment variable HARNESS_TEST_UNSET_KEY is not set"),
    ("network key file missing", replace(NETWORK_KEY, "file:keys/none.hex"), "han.network_key", "key file not found"),
    ("eui64 short", replace('"00:0D:6F:00:0B:12:34:51"', '"00124b0001a2b3"'), "devices[1].eui64",
     "expected 8 bytes (16 hex digits), got 7: '00124b0001a2b3'"),
    ("eui64 not hex", replace('"00:0D:6F:00:0B:12:34:51"', '"00:0D:6F:00:0B:12:34:ZZ"'), "devices[1].eui64",
     "expected hex digits"),
    ("install code CRC", replace(PPMID_INSTALL_CODE, PPMID_INSTALL_CODE[:-4] + "0000"), "devices[1].install_code",
     "install code CRC is wrong"),
    ("install code length", replace(PPMID_INSTALL_CODE, PPMID_INSTALL_CODE[:18]), "devices[1].install_code",
     "install code has 9 bytes; expected 8, 10, 14 or 18"),
    ("install code not hex", replace(PPMID_INSTALL_CODE, PPMID_INSTALL_CODE[:-1] + "G"), "devices[1].install_code",
     "is not hexadecimal"),
    ("install code not a string", replace(f'"{PPMID_INSTALL_CODE}"', "0x83FED3407A939723"),
     "devices[1].install_code", "expected a string, got an integer"),
    ("install code missing", replace(f'install_code = "{IHD_INSTALL_CODE}"\n', ""), "devices[0].install_code",
     "missing (required)"),
    ("role", replace('role = "PPMID"', 'role = "ESME"'), "devices[1].role", "expected one of 'IHD', 'PPMID', 'HCALCS'"),
    ("unknown device key", replace('role = "PPMID"', 'role = "PPMID"\ncolour = "blue"'), "devices[1].colour",
     "unknown key"),
    ("duplicate device", replace('name = "ppmid1"', 'name = "ihd1"'), "devices[1].name", "duplicate name 'ihd1'"),
    ("one EUI-64 for two devices", replace('eui64 = "00:0D:6F:00:0B:12:34:51"', 'eui64 = "00:0D:6F:00:0B:12:34:52"'),
     "devices[1].eui64", "duplicate EUI-64 '00:0D:6F:00:0B:12:34:52' (also devices[0])"),
    ("missing profile", replace('profile = "ppmid-generic"', 'profile = "ppmid-special"'), "devices[1].profile",
     "device 'ppmid1' names profile 'ppmid-special', which is not in"),
    ("profile for another role", replace('profile = "ppmid-generic"', 'profile = "ihd-generic"'),
     "devices[1].profile", "has role PPMID but profile 'ihd-generic' is for role IHD"),
    ("emulated device without emulation", replace(
        '[devices.emulation]\nfirmware_version = 0x00000101\nhardware_version = 0x0010\n'
        'manufacturer_name = "Example Displays Ltd"\nmodel = "IHD-GEN"\n', ""),
     "devices[0].emulation", "needs a [devices.emulation] table"),
    ("emulation hardware version", replace("hardware_version = 0x1111", "hardware_version = 0x10000"),
     "devices[1].emulation.hardware_version", "0x10000 is out of range 0x0000..0xFFFF"),
    ("emulation field missing", replace('manufacturer_name = "Example Meters Ltd"\n', ""),
     "devices[1].emulation.manufacturer_name", "missing (required)"),
    ("install code override CRC", replace(PPMID_EMULATION_HW, PPMID_EMULATION_HW.replace(
        "\nmanufacturer_name", f'\ninstall_code_override = "{IHD_INSTALL_CODE[:-4]}FFFF"\nmanufacturer_name')),
     "devices[1].emulation.install_code_override", "CRC is wrong"),
    ("image purpose", replace('purpose = "upgrade"', 'purpose = "sidegrade"'), "images[0].purpose", "'sidegrade'"),
    ("image for unknown device", replace('devices = ["ppmid1"]', 'devices = ["nobody"]'), "images[0].devices[0]",
     "no device named 'nobody'"),
    ("image without devices", replace('devices = ["ppmid1"]', "devices = []"), "images[0].devices", "must not be empty"),
    ("image file type", replace('file = "../images/ppmid-next.ota"', "file = 3"), "images[0].file",
     "expected a string, got an integer"),
    ("supplier without key", replace("[[images]]", '[supplier]\nkey = "x.pem"\n\n[[images]]'),
     "supplier.verification_key", "missing (required)"),
    ("power command without argv", replace("[[images]]", '[power]\nkind = "command"\n\n[[images]]'),
     "power.on_command", "required with kind = 'command'"),
    ("operator policy", replace("[[images]]", '[operator]\nnon_interactive = "prompt"\n\n[[images]]'),
     "operator.non_interactive", "expected one of 'skip', 'fail'"),
    ("hub join wait past the window", replace("[[images]]", "[hub]\njoin_window_s = 30\njoin_wait_s = 45\n\n[[images]]"),
     "hub.join_wait_s", "45 s is longer than join_window_s (30 s)"),
    ("hub join window", replace("[[images]]", "[hub]\njoin_window_s = 255\n\n[[images]]"), "hub.join_window_s",
     "255 is out of range 1..254"),
    ("hub generate time", replace("[[images]]", "[hub]\ncbke_confirm_key_generate_time_s = 300\n\n[[images]]"),
     "hub.cbke_confirm_key_generate_time_s", "300 is out of range 0..254"),
    ("hub stall", replace("[[images]]", "[hub]\nota_stall_s = 0\n\n[[images]]"), "hub.ota_stall_s", "out of range"),
    ("hub quiet window", replace("[[images]]", "[hub]\nquiet_window_s = 0\n\n[[images]]"), "hub.quiet_window_s",
     "out of range"),
    ("hub esi endpoint", replace("[[images]]", '[hub]\nesi_endpoint = "yes"\n\n[[images]]'), "hub.esi_endpoint",
     "expected true or false"),
    ("hub unknown key", replace("[[images]]", "[hub]\njoin_timeout = 3\n\n[[images]]"), "hub.join_timeout",
     "unknown key"),
    ("emulation block period unit", replace(PPMID_EMULATION_HW, PPMID_EMULATION_HW.replace(
        "\nmanufacturer_name", '\nmin_block_period_unit = "us"\nmanufacturer_name')),
     "devices[1].emulation.min_block_period_unit", "expected one of 'ms', 's'"),
    ("not TOML", replace("seed = 1", "seed = = 1"), "", "not valid TOML"),
    ("real radio without port", real(port=None), "radio", "needs either 'port'"),
    ("port URL scheme", real(port='"http://192.0.2.1:80"'), "radio.port", "unsupported port URL scheme 'http'"),
    ("port URL without port", real(port='"tcp://192.0.2.1"'), "radio.port", "needs a host and a port number"),
    ("usb vid as string", real(port='{ vid = "0x10C4", pid = 0xEA60 }'), "radio.port.vid", "expected an integer"),
    ("usb unknown key", real(port="{ vid = 0x10C4, pid = 0xEA60, baud = 1 }"), "radio.port.baud", "unknown key"),
    ("emulation on a real radio", real(extra="[devices.emulation]\nmodel = \"X\"\n"), "devices[0].emulation",
     "only applies when the radio is emulated"),
]


@pytest.mark.parametrize(("edit", "key_path", "fragment"), [case[1:] for case in RIG_CASES],
                         ids=[case[0] for case in RIG_CASES])
def test_malformed_rig(tree: Path, edit: Edit, key_path: str, fragment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    monkeypatch.delenv("HARNESS_TEST_UNSET_KEY", raising=False)
    path = tree / "rigs" / "emulated.toml"
    path.write_text(edit(emulated_rig_text()))

    with pytest.raises(RigError) as caught:
        load_rig(path)

    message = str(caught.value)
    assert caught.value.key_path == key_path
    assert message.startswith(f"rigs/emulated.toml: {key_path}: " if key_path else "rigs/emulated.toml: ")
    assert fragment in message
    assert "\n" not in message
    assert_no_secret(message)


PROFILE_CASES = [
    ("role", replace('role = "PPMID"', 'role = "ESME"'), "role", "expected one of"),
    ("manufacturer code as string", replace("manufacturer_code = 0x121D", 'manufacturer_code = "0x121D"'),
     "manufacturer_code", "expected an integer, got a string: '0x121D'"),
    ("name differs from file", replace('name = "ppmid-generic"', 'name = "ppmid"'), "name", "does not match"),
    ("unknown top-level key", prepend("colour = 1"), "colour", "unknown key"),
    ("identity without source", replace('source = "test"\n', ""), "source", "missing (required)"),
    ("attribute without source", replace('source = "ZCL Basic"\n', ""), "attributes[0].source", "missing (required)"),
    ("attribute without confidence", replace('confidence = "high"\n\n[[attributes]]\ncluster = 0x0019\nattribute = 0x0007',
                                             "\n[[attributes]]\ncluster = 0x0019\nattribute = 0x0007"),
     "attributes[0].confidence", "missing (required)"),
    ("unknown check", replace('check = "present"', 'check = "approx"'), "attributes[0].check", "'approx'"),
    ("unknown attribute key", replace('check = "present"', 'check = "present"\nunits = "V"'), "attributes[0].units",
     "unknown key"),
    ("equals without value", replace("value = 0x121D\n", ""), "attributes[1].value", "missing (required)"),
    ("in_range min above max", replace("max = 0x00000200", "max = 0x00000001"), "attributes[2].min",
     "in_range min 0x0100 is greater than max 0x0001"),
    ("in_range bound as string", replace("max = 0x00000200", 'max = "0x200"'), "attributes[2].max",
     "expected an integer"),
    ("matches bad regex", replace('pattern = "[A-Z]+-GEN"', 'pattern = "[A-Z"'), "attributes[3].pattern",
     "not a valid regular expression"),
    ("one_of empty", replace("values = [0, 1, 2]", "values = []"), "attributes[4].values", "at least one value"),
    ("attribute id too large", replace("attribute = 0x0004", "attribute = 0x10000"), "attributes[0].attribute",
     "out of range"),
    ("ota upgrade time", replace('upgrade_time = "now"', 'upgrade_time = "later"'), "ota.upgrade_time", "'later'"),
    ("ota delay without 'at'", replace('upgrade_time = "now"', 'upgrade_time = "now"\nupgrade_delay_s = 5'),
     "ota.upgrade_delay_s", "applies only with upgrade_time = 'at'"),
    ("ota block size", replace("max_block_size = 40", "max_block_size = 400"), "ota.max_block_size", "out of range"),
    ("ota block period unit", replace('upgrade_time = "now"', 'upgrade_time = "now"\nminimum_block_period_unit = "us"'),
     "ota.minimum_block_period_unit", "'us'"),
    ("ota unknown upgrade mode", replace('upgrade_time = "now"', 'upgrade_time = "now"\nupgrade_time_modes = ["now", "soon"]'),
     "ota.upgrade_time_modes[1]", "'soon'"),
    ("ota modes without the policy", replace('upgrade_time = "now"', 'upgrade_time = "now"\nupgrade_time_modes = ["wait"]'),
     "ota.upgrade_time_modes", "must include upgrade_time 'now'"),
    ("ota without source", replace('source = "derived"\n', ""), "ota.source", "missing (required)"),
    ("tenancy attribute without confidence", replace('source = "ZSE Device Management"\nconfidence = "low"',
                                                     'source = "ZSE Device Management"'),
     "tenancy.attributes[0].confidence", "missing (required)"),
]


@pytest.mark.parametrize(("edit", "key_path", "fragment"), [case[1:] for case in PROFILE_CASES],
                         ids=[case[0] for case in PROFILE_CASES])
def test_malformed_profile(tree: Path, edit: Edit, key_path: str, fragment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    path = tree / "profiles" / "ppmid-generic.toml"
    path.write_text(edit(PROFILES["ppmid-generic"]))

    with pytest.raises(ProfileError) as caught:
        load_profile(path)

    assert caught.value.key_path == key_path
    assert str(caught.value).startswith(f"profiles/ppmid-generic.toml: {key_path}: ")
    assert fragment in str(caught.value)


def test_a_bad_profile_is_reported_through_the_device_that_names_it(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    (tree / "profiles" / "ppmid-generic.toml").write_text(PROFILES["ppmid-generic"].replace('role = "PPMID"', "role = 5"))

    with pytest.raises(RigError) as caught:
        load_rig(tree / "rigs" / "emulated.toml")

    assert caught.value.key_path == "devices[1].profile"
    assert "device 'ppmid1': profile 'ppmid-generic' is invalid: profiles/ppmid-generic.toml: role:" in str(caught.value)


# -- secrets never shown ---------------------------------------------------------------------------


def secret_fragments() -> list[str]:
    """Every 8-digit window of every planted secret: a partial leak counts too."""
    return [secret[i:i + 8].lower() for secret in SECRETS for i in range(0, len(secret) - 7, 2)]


def assert_no_secret(text: str) -> None:
    flat = re.sub(r"[\s:\-]", "", text).lower()
    leaked = [fragment for fragment in secret_fragments() if fragment in flat]
    assert not leaked, f"secret digits shown: {text}"


def test_no_secret_in_the_loaded_rigs_repr_or_str(tree: Path) -> None:
    rig = load_rig(tree / "rigs" / "emulated.toml")
    for shown in (repr(rig), str(rig), repr(rig.devices), f"{rig.han}", repr(rig.device("ppmid1").install_code)):
        assert_no_secret(shown)
    assert "«redacted»" in repr(rig.device("ppmid1"))


@pytest.mark.parametrize("bad_secret", [
    PPMID_INSTALL_CODE[:-4] + "0000",        # wrong CRC
    PPMID_INSTALL_CODE + "00",               # wrong length
    PPMID_INSTALL_CODE[:-1] + "G",           # not hex
    PPMID_INSTALL_CODE[:-1],                 # odd number of digits
])
def test_a_rejected_install_code_is_described_not_shown(tree: Path, bad_secret: str) -> None:
    path = tree / "rigs" / "emulated.toml"
    path.write_text(emulated_rig_text().replace(PPMID_INSTALL_CODE, bad_secret))
    with pytest.raises(RigError) as caught:
        load_rig(path)
    assert caught.value.key_path == "devices[1].install_code"
    assert_no_secret(str(caught.value))
    assert_no_secret(repr(caught.value))


def test_a_bench_may_name_a_sniffer_radio_and_opt_in_to_a_keys_file(tree: Path) -> None:
    text = real_rig_text().replace(
        "[[devices]]", '[radio.sniffer]\nport = "/dev/ttyUSB1"\nflow_control = "hardware"\n\n[[devices]]'
    )
    (tree / "rigs" / "bench.toml").write_text(text)
    sniffer = load_rig(tree / "rigs" / "bench.toml").radio.sniffer
    assert sniffer is not None and sniffer.port.path == "/dev/ttyUSB1" and sniffer.flow_control == "hardware"
    assert sniffer.write_keys is False  # no keys file unless the rig says so
    (tree / "rigs" / "bench.toml").write_text(text.replace('flow_control = "hardware"', "write_keys = true"))
    assert load_rig(tree / "rigs" / "bench.toml").radio.sniffer.write_keys is True
    emulated = emulated_rig_text().replace("[radio.emulated]", '[radio.sniffer]\nport = "/dev/ttyUSB1"\n\n[radio.emulated]')
    (tree / "rigs" / "emulated.toml").write_text(emulated)
    with pytest.raises(RigError, match=r"radio.sniffer.*is for real radios"):
        load_rig(tree / "rigs" / "emulated.toml")


def test_hub_timings_reach_the_hubs_settings(tree: Path) -> None:
    from harness.hub.key_establishment import KeyEstablishmentSettings
    from harness.hub.key_establishment import with_rig_timings as ke_timings
    from harness.hub.settings import HubSettings, with_rig_timings

    path = tree / "rigs" / "emulated.toml"
    path.write_text(emulated_rig_text().replace(
        "[[images]]", "[hub]\njoin_window_s = 120\ninterview_s = 45\ncbke_response_margin_s = 2.5\n\n[[images]]", 1))
    rig = load_rig(path)
    settings = with_rig_timings(HubSettings(), rig.hub)
    assert (settings.permit_duration_s, settings.join_timeout_s, settings.interview_timeout_s) == (120, 30.0, 45.0)
    ke = ke_timings(KeyEstablishmentSettings(), rig.hub)
    assert ke.response_margin_s == 2.5
    # Unset keys keep the real defaults: the generate times a Silicon Labs node advertises.
    assert (ke.ephemeral_data_generate_time_s, ke.confirm_key_generate_time_s) == (11, 16)
