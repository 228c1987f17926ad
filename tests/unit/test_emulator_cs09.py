"""An emulated PPMID's own CS09: signed with its test key after activation, and each CS09 defect."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography import x509

from harness.emulator.devices.behaviours import CS09_DEFECTS, ActivationFails, Conformant
from harness.emulator.devices.cs09 import Cs09Draft, build_cs09
from harness.emulator.devices.signing import SigningAuthority, default_authority
from harness.gbcs import CraFlag, FirmwareActivationAlert, GbcsMessage, decode
from harness.gbcs.codes import RTDS_ACCESS_CONTROL_BROKER
from tests.fixtures.emulator_device_fakes import NEW, OLD, Air, OtaServer, tagged_image

PPMID = bytes.fromhex("00DB1234567890A4")
OTHER = bytes.fromhex("00DB1234567890A5")
WHEN = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
async def han():
    """A virtual HAN with a fake coordinator (the emulator's device tests' set-up)."""
    fake = Air()
    yield fake
    await fake.han.close()


def draft(**changes) -> Cs09Draft:
    values = dict(firmware_version=NEW, activation_result=0, originator_counter=5000, execution_time=WHEN,
                  previous_version=OLD)
    values.update(changes)
    return Cs09Draft(**values)


def test_a_cs09_is_a_signed_alert_from_the_device_that_verifies_with_its_certificate():
    credentials = default_authority().credentials(PPMID)
    message = decode(build_cs09(draft(), originator=PPMID, key=credentials.private_key)).message
    assert message.header.cra_flag is CraFlag.ALERT and message.message_code == 0x012B
    assert (message.header.originator, message.header.recipient) == (PPMID, RTDS_ACCESS_CONTROL_BROKER)
    assert message.header.originator_counter == 5000
    assert message.payload == FirmwareActivationAlert(0x8F8B, WHEN, NEW.to_bytes(4, "big"), 0)
    assert message.verify(credentials.public_key_pem)
    assert not message.verify(default_authority().credentials(OTHER).public_key_pem)


def test_device_certificates_come_from_the_emulators_ca_and_are_the_same_every_run():
    authority = SigningAuthority()
    credentials = authority.credentials(PPMID)
    certificate = x509.load_pem_x509_certificate(credentials.certificate_pem)
    certificate.verify_directly_issued_by(x509.load_pem_x509_certificate(authority.certificate_pem))
    assert PPMID.hex().upper() in certificate.subject.rfc4514_string()
    assert SigningAuthority().credentials(PPMID).certificate_pem == credentials.certificate_pem
    assert "PRIVATE" not in repr(credentials)


def test_a_bad_signature_draft_still_decodes_but_does_not_verify():
    credentials = default_authority().credentials(PPMID)
    message = decode(build_cs09(draft(signature_valid=False), originator=PPMID, key=credentials.private_key)).message
    assert message.payload.activation_result == 0 and not message.verify(credentials.public_key_pem)


async def activate(air: Air, behaviour: Conformant | None = None, *, last_counter: int | None = None):
    """Upgrade a joined PPMID from OLD to NEW; its CS09s (decoded) and its event names, in order."""
    device = await air.joined()
    if behaviour is not None:
        device.behaviour = behaviour
    device.cs09.originator.last_counter = last_counter
    mark = device.events.mark()
    OtaServer(air.han, tagged_image(300), block_cap=40).notify(device)
    await device.wait_for("rebooted", since=mark, timeout=3)
    await device.wait_for("rejoined", since=mark, timeout=1)
    messages: list[GbcsMessage] = [decode(data).message for data in device.cs09.outbox]
    names = [e.name for e in list(device.events)[mark:]]
    return device, messages, names


async def test_a_conformant_ppmid_signs_a_cs09_after_it_runs_the_new_image(han: Air) -> None:
    device, messages, names = await activate(han)
    assert len(messages) == 1
    (message,) = messages
    assert message.header.originator == device.eui64
    assert (message.payload.firmware_version, message.payload.activation_result) == (NEW.to_bytes(4, "big"), 0)
    assert message.verify(device.cs09.credentials.public_key_pem)
    assert names.index("activated") < names.index("cs09_ready")


async def test_a_device_whose_activation_fails_says_so_with_the_version_it_still_runs(han: Air) -> None:
    _device, (message,), _names = await activate(han, ActivationFails())
    assert (message.payload.firmware_version, message.payload.activation_result) == (OLD.to_bytes(4, "big"), 1)


async def test_an_ihd_sends_no_cs09(han: Air) -> None:
    device = await han.joined("IHD")
    mark = device.events.mark()
    OtaServer(han.han, tagged_image(300), block_cap=40).notify(device)
    await device.wait_for("activated", since=mark, timeout=3)
    assert device.cs09.outbox == []


async def test_defect_sends_no_cs09(han: Air) -> None:
    _device, messages, names = await activate(han, CS09_DEFECTS["sends_no_cs09"]())
    assert messages == [] and "cs09_withheld" in names


async def test_defect_cs09_names_the_version_it_ran_before(han: Air) -> None:
    device, (message,), _names = await activate(han, CS09_DEFECTS["cs09_wrong_version"]())
    assert device.running_version == NEW
    assert (message.payload.firmware_version, message.payload.activation_result) == (OLD.to_bytes(4, "big"), 0)
    assert message.verify(device.cs09.credentials.public_key_pem)


async def test_defect_cs09_signature_does_not_verify(han: Air) -> None:
    device, (message,), _names = await activate(han, CS09_DEFECTS["cs09_bad_signature"]())
    assert message.payload.firmware_version == NEW.to_bytes(4, "big")
    assert not message.verify(device.cs09.credentials.public_key_pem)


async def test_defect_cs09_replays_the_counter_of_the_previous_alert(han: Air) -> None:
    _device, (message,), _names = await activate(han, CS09_DEFECTS["cs09_replays_counter"](), last_counter=41_000)
    assert message.header.originator_counter == 41_000


async def test_a_conformant_counter_moves_past_the_previous_alert(han: Air) -> None:
    _device, (message,), _names = await activate(han, last_counter=2**50)
    assert message.header.originator_counter == 2**50 + 1


async def test_defect_cs09_alerts_success_before_the_image_runs(han: Air) -> None:
    device, (message,), names = await activate(han, CS09_DEFECTS["cs09_before_activation"]())
    assert names.index("cs09_ready") < names.index("rebooting") < names.index("activated")
    assert (message.payload.firmware_version, message.payload.activation_result) == (NEW.to_bytes(4, "big"), 0)
    assert message.verify(device.cs09.credentials.public_key_pem)


def test_every_cs09_defect_is_described_and_tested_here():
    tested = {"sends_no_cs09", "cs09_wrong_version", "cs09_bad_signature", "cs09_replays_counter",
              "cs09_before_activation"}
    assert set(CS09_DEFECTS) == tested
    assert all(cls.description for cls in CS09_DEFECTS.values())


# -- the tunnel that carries it -------------------------------------------------------------------

async def request_tunnel(air: Air, device, *, protocol: int = 6, flow_control: bool = False) -> int:
    """The CH's RequestTunnel to the device's Tunneling server; returns the TunnelStatus it answered."""
    import zigpy.types as t
    from zigpy.zcl import foundation

    from harness.emulator.air import SE_PROFILE, AirFrame
    from harness.zcl_se import RequestTunnel, RequestTunnelResponse

    hdr = foundation.ZCLHeader.cluster(0x21, 0x00, direction=foundation.Direction.Client_to_Server)
    body = RequestTunnel(protocol_id=protocol, manufacturer_code=0xFFFF, flow_control_support=t.Bool(flow_control),
                         maximum_incoming_transfer_size=1500).serialize()
    seen = len(air.han.coordinator.zcl(0x0704, 0x00))
    await air.han.unicast(AirFrame(0, device.nwk, SE_PROFILE, 0x0704, 1, device.settings.endpoint,
                                   hdr.serialize() + body, aps_encrypted=True))
    frames = await air.han.coordinator.wait_frames(lambda f: f.cluster_id == 0x0704, count=seen + 1)
    _hdr, rest = foundation.ZCLHeader.deserialize(frames[seen].payload)
    response, _ = RequestTunnelResponse.deserialize(rest)
    return int(response.tunnel_status)


async def test_the_ppmid_sends_its_cs09_through_the_tunnel_once_the_ch_opens_it(han: Air) -> None:
    from harness.zcl_se import split_transfer_data

    device, (message,), _names = await activate(han)
    assert device.tunnel.outbox  # no tunnel yet: the CS09 waits
    assert await request_tunnel(han, device) == 0
    frames = await han.han.coordinator.wait_frames(
        lambda f: f.cluster_id == 0x0704 and f.payload[2] == 0x01, count=1)
    tunnel_id, data = split_transfer_data(frames[0].payload[3:])
    assert tunnel_id == device.tunnel.tunnel.tunnel_id and decode(data).message == message
    assert frames[0].aps_encrypted and device.tunnel.outbox == []


async def test_the_tunnel_server_refuses_other_protocols_and_flow_control(han: Air) -> None:
    device = await han.joined()
    assert await request_tunnel(han, device, protocol=2) == 0x03  # PROTOCOL_NOT_SUPPORTED
    assert await request_tunnel(han, device, flow_control=True) == 0x04  # FLOW_CONTROL_NOT_SUPPORTED
    assert device.tunnel.tunnel is None
