"""An emulated PPMID seen through the real bellows + zigpy, over the emulated NCP's pty.

This is the end-to-end proof that the virtual HAN is good enough to stand in for a real device:
the device joins only through ``permit_with_link_key`` with its install-code key, zigpy's own
interview and ``read_attributes`` work, and zigpy's own ``update_firmware`` delivers an image that
arrives byte-identical -- also with 2 % of the ASH frames on the serial line lost.

The application is the hub's ``HubApplication``: bellows' ControllerApplication with one change,
creating devices that parse Smart Energy (0x0109) frames as ZCL. Plain zigpy 2.4.0 drops every
SE-profile frame (``custom_profile_packet_received``), so no GB device could finish an interview
with it; that is zigpy's limitation, not the emulator's.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import zigpy.device
import zigpy.types as zt
import zigpy.util
from zigpy.ota import OtaImageWithMetadata
from zigpy.ota.image import OTAImage
from zigpy.ota.providers import BaseOtaImageMetadata
from zigpy.zcl import foundation

from harness.emulator.devices import DeviceSettings, DeviceTimings, EmulatedDevice
from harness.emulator.han import VirtualHan
from harness.emulator.server import EmulatedRadio
from harness.emulator.testing import bellows_config, write_formed_nvram
from harness.hub.radio import HubApplication as ControllerApplication
from harness.hub.radio import SmartEnergyDevice
from harness.secret import Secret
from tests.fixtures.emulator_device_fakes import HW, IMAGE_TYPE, INSTALL_CODE, MFR, NEW, OLD, tagged_image

EUI64 = bytes.fromhex("000D6F000B123451")
IEEE = zt.EUI64(EUI64[::-1])


def ppmid() -> EmulatedDevice:
    settings = DeviceSettings(
        name="ppmid1",
        role="PPMID",
        eui64=EUI64,
        install_code=Secret(INSTALL_CODE),
        manufacturer_code=MFR,
        image_type=IMAGE_TYPE,
        firmware_version=OLD,
        hardware_version=HW,
        manufacturer_name="Example Meters Ltd",
        model="PPMID-GEN",
    )
    # Retry timers a little above bellows' ASH retransmit time, so a lost frame is retried by
    # ASH before the device itself asks again.
    return EmulatedDevice(settings, timings=DeviceTimings(reboot_s=0.05, response_timeout_s=2.0))


def air_with(device: EmulatedDevice):
    def factory(ncp, loop: asyncio.AbstractEventLoop, rng: random.Random) -> VirtualHan:
        han = VirtualHan(ncp, latency_s=0.0, rng=rng, loop=loop)
        han.add(device)
        return han

    return factory


@asynccontextmanager
async def hub_side(tmp_path: Path, *, frame_loss: float = 0.0) -> AsyncIterator[tuple[EmulatedRadio, ControllerApplication, EmulatedDevice]]:
    device = ppmid()
    nvram = write_formed_nvram(tmp_path / "nvram.json")
    with EmulatedRadio(air_factory=air_with(device), nvram_path=nvram, frame_loss=frame_loss, seed=5) as radio:
        app = ControllerApplication(bellows_config(radio.port))
        await asyncio.wait_for(app.startup(auto_form=False), timeout=30)
        try:
            yield radio, app, device
        finally:
            await app.shutdown()


async def join(app: ControllerApplication, install_code: bytes = INSTALL_CODE) -> zigpy.device.Device:
    initialized: asyncio.Future[zigpy.device.Device] = asyncio.get_running_loop().create_future()

    class Listener:
        def device_initialized(self, device) -> None:
            if device.ieee == IEEE and not initialized.done():
                initialized.set_result(device)

    app.add_listener(Listener())
    await app.permit_with_link_key(IEEE, zigpy.util.convert_install_code(install_code), time_s=60)
    return await asyncio.wait_for(initialized, timeout=20)


def zigpy_image(data: bytes) -> OtaImageWithMetadata:
    firmware, rest = OTAImage.deserialize(data)
    assert rest == b""
    metadata = BaseOtaImageMetadata(file_version=NEW, manufacturer_id=MFR, image_type=IMAGE_TYPE)
    return OtaImageWithMetadata(metadata=metadata, firmware=firmware)


async def upgrade(radio: EmulatedRadio, app: ControllerApplication, device: EmulatedDevice, monkeypatch) -> None:
    # zigpy reads CurrentFileVersion this long after SUCCESS, then retries 10 times at the same
    # interval. At 0 all eleven reads land while the device reboots into the new image (as a real
    # device would be offline then) and update_firmware raises DeliveryError; 0.1 s spans the
    # emulated reboot (0.05 s) with room for ASH retransmissions.
    monkeypatch.setattr(zigpy.device, "AFTER_OTA_ATTR_READ_DELAY", 0.1)
    zdev = await join(app)
    # After SUCCESS zigpy re-interviews through a *plain* ZigbeeDevice it constructs itself
    # (``ZigbeeDevice.reinterview``), which drops Smart Energy frames, so the re-interview stalls
    # for ~30 s and is abandoned. Make zigpy build the SE-aware device for this test.
    monkeypatch.setattr(zigpy.device, "ZigbeeDevice", SmartEnergyDevice)
    image = tagged_image(1500)
    status = await asyncio.wait_for(zdev.update_firmware(zigpy_image(image)), timeout=60)
    assert status == foundation.Status.SUCCESS
    received = await radio.acall(lambda: device.received_images[-1].data)
    assert received == image
    assert await radio.acall(lambda: device.current_file_version) == NEW
    reinterviewed = app.get_device(ieee=IEEE)  # zigpy swapped in the re-interviewed device object
    success, _ = await reinterviewed.endpoints[1].out_clusters[0x0019].read_attributes(["current_file_version"], allow_cache=False)
    assert success["current_file_version"] == NEW


async def test_join_interview_and_attribute_reads(tmp_path: Path) -> None:
    async with hub_side(tmp_path) as (radio, app, device):
        zdev = await join(app)
        assert zdev.manufacturer == "Example Meters Ltd" and zdev.model == "PPMID-GEN"
        endpoint = zdev.endpoints[1]
        assert endpoint.profile_id == 0x0109
        assert set(endpoint.in_clusters) == {0x0000, 0x0003, 0x0800, 0x0704}
        assert set(endpoint.out_clusters) == {0x0019, 0x000A, 0x0708, 0x0705}
        success, failure = await endpoint.basic.read_attributes(["sw_build_id", "power_source", "product_url"], allow_cache=False)
        assert success["sw_build_id"] == "00000101" and success["power_source"] == 1
        assert failure == {"product_url": foundation.Status.UNSUPPORTED_ATTRIBUTE}
        success, _ = await endpoint.out_clusters[0x0019].read_attributes(["current_file_version", "image_type_id"], allow_cache=False)
        assert success == {"current_file_version": OLD, "image_type_id": IMAGE_TYPE}
        assert await radio.acall(lambda: device.events.find("joined") is not None)
        assert radio.unknown_commands == []


async def test_wrong_install_code_key_never_initializes(tmp_path: Path) -> None:
    wrong = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")
    async with hub_side(tmp_path) as (radio, app, device):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(join(app, wrong), timeout=2)
        assert await radio.acall(lambda: device.events.find("join_key_mismatch") is not None)
        assert not await radio.acall(lambda: device.joined)


async def test_zigpy_update_firmware_delivers_the_image(tmp_path: Path, monkeypatch) -> None:
    async with hub_side(tmp_path) as (radio, app, device):
        await upgrade(radio, app, device, monkeypatch)


async def test_zigpy_update_firmware_survives_two_percent_ash_frame_loss(tmp_path: Path, monkeypatch) -> None:
    async with hub_side(tmp_path, frame_loss=0.02) as (radio, app, device):
        await upgrade(radio, app, device, monkeypatch)
        assert radio.frame_log.count("LOST") > 0  # the line really did lose frames


async def test_aps_encryption_travels_both_ways_through_bellows(tmp_path: Path) -> None:
    # Host -> device: bellows turns zigpy's aps_encryption into EmberApsOption ENCRYPTION on
    # sendUnicast, and the device judges the frame by it. Device -> host: the NCP reports the
    # device's APS security in incomingMessageHandler's apsFrame options, which bellows turns into
    # TransmitOptions.APS_Encryption on the packet.
    async with hub_side(tmp_path) as (radio, app, device):
        seen: list[tuple[int, bool]] = []
        app.frame_gates.append(
            lambda packet: seen.append((packet.cluster_id, zt.TransmitOptions.APS_Encryption in packet.tx_options))
            or False)
        zdev = await join(app)
        ota = zdev.endpoints[1].out_clusters[0x0019]
        assert ota.aps_encryption, "the hub marks the device's Smart Energy clusters for APS encryption"
        seen.clear()
        success, _ = await ota.read_attributes(["current_file_version"], allow_cache=False)
        assert success == {"current_file_version": OLD}
        await zdev.endpoints[1].basic.read_attributes(["sw_build_id"], allow_cache=False)
        assert (0x0019, True) in seen, "the device's OTA answer arrived APS-encrypted"
        assert (0x0000, False) in seen, "Basic is not an APS-secured cluster"

        # The same read without APS encryption: not acted on, Default Response FAILURE, unencrypted.
        mark = await radio.acall(lambda: device.events.mark())
        ota.aps_encryption = False
        seen.clear()
        success, failure = await ota.read_attributes(["current_file_version"], allow_cache=False)
        assert success == {} and "current_file_version" in failure  # zigpy's view of a Default Response
        event = await radio.acall(lambda: device.wait_for("unsecured_frame_refused", since=mark, timeout=5))
        assert event.details["cluster"] == 0x0019
        assert (0x0019, False) in seen, "the refusal itself travels without APS encryption"
