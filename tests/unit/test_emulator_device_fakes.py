"""Test doubles for the emulated HAN: a fake coordinator (the NCP's side of the air contract), a
tiny configurable OTA server, a GPF serving tenancy attributes, and image builders.

Not a test module: the emulator's device and air tests import from here. Images are built with
zigpy's OTA classes and cryptography -- never with the harness's own codec.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import pytest
import zigpy.types as t
import zigpy.util
import zigpy.zdo.types as zdo_t
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from zigpy.ota.image import ElementTagId, FieldControl, HeaderString, OTAImage, OTAImageHeader, SubElement
from zigpy.zcl import foundation
from zigpy.zcl.clusters.general import Ota

from harness.emulator.air import SE_PROFILE, ZDO_PROFILE, AirFrame, needs_aps_security
from harness.emulator.coordinator_zdo import CoordinatorZdo, Endpoint
from harness.emulator.devices import DeviceSettings, DeviceTimings, EmulatedDevice
from harness.emulator.han import VirtualHan
from harness.secret import Secret

Status = foundation.Status
UpgradeStatus = Ota.ImageUpgradeStatus
MFR, IMAGE_TYPE, HW = 0x121D, 0x0084, 0x1111
OLD, NEW = 0x00000101, 0x00000102
CH_EP, GPF_EP = 0x0A, 0x0B
#: Install code IC-5 of the security reference (published test vector).
INSTALL_CODE = bytes.fromhex("83FED3407A939723A5C639B269161802AEBB")
OTHER_INSTALL_CODE = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")  # IC-1
FAST = DeviceTimings(
    reboot_s=0.01,
    response_timeout_s=0.1,
    request_retries=2,
    join_retry_s=0.02,
    after_join_s=0.0,
    page_timeout_s=0.05,
    time_scale=0.05,
)


# ------------------------------------------------------------------------------------------------
# Images, built here with zigpy's classes and cryptography (never with the harness's own codec)
# ------------------------------------------------------------------------------------------------
def _header(payload_len: int, *, manufacturer=MFR, image_type=IMAGE_TYPE, version=NEW, hw=(0x1111, 0x1211)) -> OTAImageHeader:
    control = FieldControl.HARDWARE_VERSIONS_PRESENT if hw else FieldControl(0)
    length = 56 + (4 if hw else 0)
    return OTAImageHeader(
        upgrade_file_id=OTAImageHeader.MAGIC_VALUE,
        header_version=0x0100,
        header_length=length,
        field_control=control,
        manufacturer_id=manufacturer,
        image_type=image_type,
        file_version=version,
        stack_version=0x0002,
        header_string=HeaderString("test image"),
        image_size=length + payload_len,
        minimum_hardware_version=hw[0] if hw else None,
        maximum_hardware_version=hw[1] if hw else None,
    )


def tagged_image(size: int = 700, **header: Any) -> bytes:
    body = bytes((i * 7) % 251 for i in range(size))
    element = SubElement(tag_id=ElementTagId.UPGRADE_IMAGE, data=body)
    hdr = _header(len(element.serialize()), **header)
    return OTAImage(header=hdr, subelements=[element]).serialize()


def supplier_keys() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, pem


def gbcs_signed_image(private: ec.EllipticCurvePrivateKey, size: int = 500, *, tamper: bool = False) -> bytes:
    manufacturer_image = bytes((i * 13) % 256 for i in range(size))
    r, s = decode_dss_signature(private.sign(manufacturer_image, ec.ECDSA(hashes.SHA256())))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if tamper:
        manufacturer_image = bytes([manufacturer_image[0] ^ 0xFF]) + manufacturer_image[1:]
    upgrade_image = manufacturer_image + b"\x00" + b"\x40" + signature
    return _header(len(upgrade_image)).serialize() + upgrade_image


# ------------------------------------------------------------------------------------------------
# Fakes: the coordinator (the NCP's side of the air contract) and a tiny OTA server + GPF
# ------------------------------------------------------------------------------------------------
#: The CH's endpoints as a hub registers them: what the coordinator's ZDO answers Match_Desc_req from.
CH_ENDPOINTS = {
    CH_EP: Endpoint(CH_EP, SE_PROFILE, 0x0500, 0, (0x0019, 0x0800), (0x0800,)),
    GPF_EP: Endpoint(GPF_EP, SE_PROFILE, 0x0500, 0, (0x0000, 0x0708), ()),
}


class FakeCoordinator:
    eui64 = bytes.fromhex("000D6F0000AABBCC")

    def __init__(self) -> None:
        self.keys: dict[bytes, bytes] = {}
        self.policy = True
        self.joins: list[tuple[int, bytes, bool, str]] = []
        self.left: list[tuple[int, bytes]] = []
        self.frames: list[AirFrame] = []
        self.listeners: list[Any] = []
        #: Answers the devices' Match_Desc_req, as the NCP's stack does (the real ZDO code).
        self.endpoints = dict(CH_ENDPOINTS)
        self.zdo = CoordinatorZdo(nwk=0, eui64=self.eui64, endpoints=self.endpoints)
        self.han: VirtualHan | None = None
        self._answers: set[asyncio.Task[Any]] = set()

    def frame_from_device(self, frame: AirFrame, lqi: int, rssi: int) -> None:
        self.frames.append(frame)
        if frame.profile_id == ZDO_PROFILE and frame.cluster_id == 0x0006 and self.han is not None:
            cluster, payload = self.zdo.answer(frame.cluster_id, frame.payload)
            task = asyncio.get_running_loop().create_task(
                self.han.unicast(AirFrame(0, frame.src_nwk, ZDO_PROFILE, cluster, 0, 0, payload)))
            self._answers.add(task)
            task.add_done_callback(self._answers.discard)
        for listener in list(self.listeners):
            listener(frame)

    def trust_centre_join(self, nwk: int, eui64: bytes, *, rejoin: bool, decision: str) -> None:
        self.joins.append((nwk, eui64, rejoin, decision))

    def device_left(self, nwk: int, eui64: bytes) -> None:
        self.left.append((nwk, eui64))

    def transient_key_for(self, eui64: bytes) -> bytes | None:
        return self.keys.get(eui64)

    def install_code_policy(self) -> bool:
        return self.policy

    async def wait_frames(self, predicate, count: int = 1, timeout: float = 1.0) -> list[AirFrame]:
        """Await until ``count`` device frames match ``predicate`` (frames already seen count)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def matching() -> list[AirFrame]:
            return [f for f in self.frames if predicate(f)]

        def listener(_frame: AirFrame) -> None:
            if len(matching()) >= count and not done.done():
                done.set_result(None)

        if len(matching()) < count:
            self.listeners.append(listener)
            try:
                await asyncio.wait_for(done, timeout)
            finally:
                self.listeners.remove(listener)
        return matching()

    def zcl(self, cluster: int | None = None, command: int | None = None, general: bool | None = None) -> list[tuple[AirFrame, Any]]:
        """Device-sent ZCL frames (decoded header) filtered by cluster / command id / frame type."""
        out = []
        for frame in self.frames:
            if frame.profile_id == ZDO_PROFILE:
                continue
            hdr, _ = foundation.ZCLHeader.deserialize(frame.payload)
            if cluster is not None and frame.cluster_id != cluster:
                continue
            if command is not None and hdr.command_id != command:
                continue
            if general is not None and hdr.frame_control.is_general != general:
                continue
            out.append((frame, hdr))
        return out


def server_frame(tsn: int, command: str, **args: Any) -> bytes:
    definition = getattr(Ota.ClientCommandDefs, command)
    hdr = foundation.ZCLHeader.cluster(tsn, definition.id, direction=foundation.Direction.Server_to_Client)
    return hdr.serialize() + definition.schema(**args).serialize()


@dataclass
class OtaServer:
    """Answers OTA requests like a (configurable) CH; records every request with its loop time."""

    han: VirtualHan
    image: bytes
    block_cap: int = 40
    wait_for_data: int = 0  # answer this many block (or page) requests with WAIT_FOR_DATA first
    wait_s: int = 2  # request_time - current_time in those answers
    wait_block_period_ms: int = 100
    upgrade_time: str | tuple[str, int] = "now"  # "now" | "wait" | ("at", seconds)
    silent_from_offset: int | None = None
    abort_at_offset: int | None = None
    drop_page_offsets: set[int] = field(default_factory=set)
    offer: dict[str, int] | None = None
    requests: list[tuple[float, str, Any, AirFrame]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.header, _ = OTAImageHeader.deserialize(self.image)
        self.han.coordinator.listeners.append(self._on_frame)  # type: ignore[attr-defined]

    def named(self, name: str) -> list[Any]:
        return [args for _, n, args, _ in self.requests if n == name]

    async def received(self, name: str, count: int = 1) -> list[Any]:
        """Await the ``count``-th request called ``name`` reaching the server (it crosses the air)."""
        command_id = getattr(Ota.ServerCommandDefs, name).id

        def is_it(frame: AirFrame) -> bool:
            if frame.cluster_id != 0x0019:
                return False
            hdr, _ = foundation.ZCLHeader.deserialize(frame.payload)
            return hdr.frame_control.is_cluster and hdr.command_id == command_id

        await self.han.coordinator.wait_frames(is_it, count)  # type: ignore[attr-defined]
        return self.named(name)

    def _send(self, to: AirFrame, payload: bytes) -> None:
        reply = AirFrame(0x0000, to.src_nwk, SE_PROFILE, to.cluster_id, to.dst_ep, to.src_ep, payload,
                         aps_encrypted=needs_aps_security(SE_PROFILE, to.cluster_id))
        asyncio.get_running_loop().create_task(self.han.unicast(reply))

    def notify(self, device: EmulatedDevice, *, broadcast: bool = False) -> None:
        hdr = foundation.ZCLHeader.cluster(0x40, 0x00, direction=foundation.Direction.Server_to_Client)
        payload = hdr.serialize() + Ota.ImageNotifyCommand(
            payload_type=Ota.ImageNotifyCommand.PayloadType.QueryJitter, query_jitter=100
        ).serialize()
        frame = AirFrame(0x0000, device.nwk, SE_PROFILE, 0x0019, CH_EP, 1, payload, broadcast=broadcast,
                         aps_encrypted=not broadcast)
        loop = asyncio.get_running_loop()
        loop.create_task(self.han.broadcast(frame) if broadcast else self.han.unicast(frame))

    def send_upgrade_end_response(self, device: EmulatedDevice, upgrade_time: int, current_time: int = 0) -> None:
        payload = server_frame(
            0x41,
            "upgrade_end_response",
            manufacturer_code=MFR,
            image_type=IMAGE_TYPE,
            file_version=self.header.file_version,
            current_time=current_time,
            upgrade_time=upgrade_time,
        )
        asyncio.get_running_loop().create_task(
            self.han.unicast(AirFrame(0x0000, device.nwk, SE_PROFILE, 0x0019, CH_EP, 1, payload, aps_encrypted=True))
        )

    def _on_frame(self, frame: AirFrame) -> None:
        if frame.cluster_id != 0x0019:
            return
        hdr, body = foundation.ZCLHeader.deserialize(frame.payload)
        if hdr.frame_control.is_general:
            return
        definition = {d.id: d for d in Ota.ServerCommandDefs}[hdr.command_id]
        args, _ = definition.schema.deserialize(body)
        self.requests.append((asyncio.get_running_loop().time(), definition.name, args, frame))
        getattr(self, f"_on_{definition.name}")(hdr, args, frame)

    def _on_query_next_image(self, hdr, args, frame) -> None:
        offer = self.offer or dict(
            manufacturer_code=self.header.manufacturer_id,
            image_type=self.header.image_type,
            file_version=self.header.file_version,
            image_size=len(self.image),
        )
        self._send(frame, server_frame(hdr.tsn, "query_next_image_response", status=Status.SUCCESS, **offer))

    def _block(self, tsn: int, offset: int, size: int) -> bytes:
        return server_frame(
            tsn,
            "image_block_response",
            status=Status.SUCCESS,
            manufacturer_code=self.header.manufacturer_id,
            image_type=self.header.image_type,
            file_version=self.header.file_version,
            file_offset=offset,
            image_data=self.image[offset : offset + size],
        )

    def _on_image_block(self, hdr, args, frame) -> None:
        offset = int(args.file_offset)
        if self.silent_from_offset is not None and offset >= self.silent_from_offset:
            return
        if self.abort_at_offset is not None and offset >= self.abort_at_offset:
            self._send(frame, server_frame(hdr.tsn, "image_block_response", status=Status.ABORT))
            return
        if self._told_to_wait(hdr, frame):
            return
        self._send(frame, self._block(hdr.tsn, offset, min(self.block_cap, int(args.maximum_data_size))))

    def _told_to_wait(self, hdr, frame) -> bool:
        if self.wait_for_data <= 0:
            return False
        self.wait_for_data -= 1
        payload = server_frame(
            hdr.tsn,
            "image_block_response",
            status=Status.WAIT_FOR_DATA,
            current_time=1_000_000,
            request_time=1_000_000 + self.wait_s,
            minimum_block_period=self.wait_block_period_ms,
        )
        self._send(frame, payload)
        return True

    def _on_image_page(self, hdr, args, frame) -> None:
        if self._told_to_wait(hdr, frame):
            return
        asyncio.get_running_loop().create_task(self._serve_page(hdr, args, frame))

    async def _serve_page(self, hdr, args, frame) -> None:
        offset = int(args.file_offset)
        end = min(offset + int(args.page_size), len(self.image))
        size = min(self.block_cap, int(args.maximum_data_size))
        while offset < end:
            if offset in self.drop_page_offsets:
                self.drop_page_offsets.discard(offset)  # lost once on the air
            else:
                self._send(frame, self._block(hdr.tsn, offset, min(size, end - offset)))
            offset += min(size, end - offset)
            await asyncio.sleep(int(args.response_spacing) / 1000 * 0.05)

    def _on_upgrade_end(self, hdr, args, frame) -> None:
        if args.status != Status.SUCCESS:
            return
        if self.upgrade_time == "now":
            current, upgrade = 0, 0
        elif self.upgrade_time == "wait":
            current, upgrade = 0, 0xFFFFFFFF
        else:
            current, upgrade = 1_000_000, 1_000_000 + self.upgrade_time[1]
        payload = server_frame(
            hdr.tsn,
            "upgrade_end_response",
            manufacturer_code=args.manufacturer_code,
            image_type=args.image_type,
            file_version=args.file_version,
            current_time=current,
            upgrade_time=upgrade,
        )
        self._send(frame, payload)


class Gpf:
    """Serves the Device Management tenancy attributes on the GPF endpoint and counts the reads."""

    def __init__(self, han: VirtualHan) -> None:
        self.han = han
        self.reads: list[tuple[AirFrame, list[int]]] = []
        han.coordinator.listeners.append(self._on_frame)  # type: ignore[attr-defined]

    def _on_frame(self, frame: AirFrame) -> None:
        if frame.cluster_id != 0x0708:
            return
        hdr, body = foundation.ZCLHeader.deserialize(frame.payload)
        if not hdr.frame_control.is_general or hdr.command_id != foundation.GeneralCommand.Read_Attributes:
            return
        schema = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes].schema
        args, _ = schema.deserialize(body)
        ids = [int(a) for a in args.attribute_ids]
        self.reads.append((frame, ids))
        records = []
        for attr in ids:
            if attr == 0x0200:
                records.append(foundation.ReadAttributeRecord(attr, Status.SUCCESS, foundation.TypeValue(0xE2, t.UTCTime(700_000_000))))
            elif attr == 0x0201:
                records.append(foundation.ReadAttributeRecord(attr, Status.SUCCESS, foundation.TypeValue(0x18, t.bitmap8(1))))
            else:
                records.append(foundation.ReadAttributeRecord(attr, Status.UNSUPPORTED_ATTRIBUTE))
        rsp_hdr = foundation.ZCLHeader.general(hdr.tsn, foundation.GeneralCommand.Read_Attributes_rsp, direction=foundation.Direction.Server_to_Client)
        rsp = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp].schema(status_records=records)
        reply = AirFrame(0, frame.src_nwk, SE_PROFILE, 0x0708, GPF_EP, frame.src_ep, rsp_hdr.serialize() + rsp.serialize(),
                         aps_encrypted=True)
        asyncio.get_running_loop().create_task(self.han.unicast(reply))


class Air:
    """The fixture object: a fake coordinator, the virtual HAN, and a device factory."""

    def __init__(self, *, loss: float = 0.0, latency_s: float = 0.0, aps_retries: int = 3, seed: int = 1) -> None:
        self.coordinator = FakeCoordinator()
        self.han = VirtualHan(
            self.coordinator,
            latency_s=latency_s,
            rng=random.Random(seed),
            loop=asyncio.get_running_loop(),
            loss=loss,
            aps_retries=aps_retries,
        )
        self.coordinator.han = self.han
        self.han.network_formed(15, 0x1A62, bytes(8), bytes(range(16)))
        self._count = 0

    def device(self, role: str = "PPMID", *, timings: DeviceTimings = FAST, **overrides: Any) -> EmulatedDevice:
        self._count += 1
        values: dict[str, Any] = dict(
            name=f"{role.lower()}{self._count}",
            role=role,
            eui64=bytes.fromhex("000D6F000B1234") + bytes([0x50 + self._count]),
            install_code=Secret(INSTALL_CODE),
            manufacturer_code=MFR,
            image_type=IMAGE_TYPE,
            firmware_version=OLD,
            hardware_version=HW,
            manufacturer_name="Example Meters Ltd",
            model=f"{role}-GEN",
        )
        values.update(overrides)
        return self.han.add(EmulatedDevice(DeviceSettings(**values), timings=timings))

    def give_key(self, device: EmulatedDevice, install_code: bytes = INSTALL_CODE) -> None:
        """The hub side: the key comes from zigpy's helper, independent of the emulator's AES-MMO."""
        self.coordinator.keys[device.eui64] = bytes(zigpy.util.convert_install_code(install_code))

    async def joined(self, role: str = "PPMID", **overrides: Any) -> EmulatedDevice:
        device = self.device(role, **overrides)
        self.give_key(device)
        self.han.permit_joining(60)
        await device.wait_for("joined", timeout=2)
        return device

    async def request(self, device: EmulatedDevice, cluster: int, payload: bytes, *, profile: int = SE_PROFILE, src_ep: int = 1, dst_ep: int = 1) -> AirFrame:
        """Unicast a frame to the device and return its reply on the same cluster."""
        reply_cluster = cluster | 0x8000 if profile == ZDO_PROFILE else cluster
        got: asyncio.Future[AirFrame] = asyncio.get_running_loop().create_future()

        def listener(frame: AirFrame) -> None:
            if frame.cluster_id == reply_cluster and frame.src_nwk == device.nwk and not got.done():
                got.set_result(frame)

        self.coordinator.listeners.append(listener)
        try:
            assert await self.han.unicast(AirFrame(0, device.nwk, profile, cluster, src_ep, dst_ep, payload,
                                                        aps_encrypted=needs_aps_security(profile, cluster)))
            return await asyncio.wait_for(got, 1)
        finally:
            self.coordinator.listeners.remove(listener)


@pytest.fixture
async def air():
    air = Air()
    yield air
    await air.han.close()


def read_request(attrs: list[int], *, direction=foundation.Direction.Client_to_Server, tsn: int = 9) -> bytes:
    hdr = foundation.ZCLHeader.general(tsn, foundation.GeneralCommand.Read_Attributes, direction=direction)
    return hdr.serialize() + t.List[t.uint16_t](attrs).serialize()


def read_response(frame: AirFrame) -> tuple[foundation.ZCLHeader, dict[int, foundation.ReadAttributeRecord]]:
    hdr, body = foundation.ZCLHeader.deserialize(frame.payload)
    assert hdr.command_id == foundation.GeneralCommand.Read_Attributes_rsp
    rsp, _ = foundation.GENERAL_COMMANDS[foundation.GeneralCommand.Read_Attributes_rsp].schema.deserialize(body)
    return hdr, {int(r.attrid): r for r in rsp.status_records}


def ota_attr(device: EmulatedDevice, attr: int) -> Any:
    return device.read_attribute(0x0019, attr, server=False)


# ------------------------------------------------------------------------------------------------
# decoding helpers
# ------------------------------------------------------------------------------------------------
def _zdo(command: zdo_t.ZDOCmd, payload: bytes) -> tuple[int, list[Any]]:
    tsn, rest = t.uint8_t.deserialize(payload)
    _names, types = zdo_t.CLUSTERS[command]
    args, _ = t.deserialize(rest, types)
    return tsn, args
