"""Images that must not end up on the device: wrong hardware, another manufacturer, bad signature, corrupted.

Two parties can stop a bad image, and each is tested on its own: the CH (it refuses an image for
the wrong hardware before a single block, and discards one whose supplier signature fails), and
the device (it must refuse an image for another manufacturer, and reject a badly signed or
corrupted one with INVALID_IMAGE). To test the device, the CH is told to serve the image past its
own checks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.evidence import TransferEventKind, TransferOutcome
from harness.hub.images import ImageFacts, OfferedImage
from harness.hub.ota_session import NotifyType
from harness.hub.transfer_checks import where_it_ended
from harness.ota import OtaError
from harness.ota.header import decode_header
from tests.fixtures.conformance_helpers import (
    check,
    client_rule,
    data_blocks,
    events,
    expect,
    expect_outcome,
    expect_sequence,
    read_version,
    timeline,
    version,
)


async def expect_unchanged(hub, dut, baseline: int) -> None:
    running = await read_version(hub, dut.name, expected=baseline, why="unchanged")
    expect(check(hub, name="firmware unchanged", device=dut.name,
                 rule=f"the device still runs its baseline {version(baseline)}",
                 observed=version(running) if running is not None else "no answer", ok=running == baseline,
                 source="ZCL OTA client attribute CurrentFileVersion (0x0019/0x0002)"))


def expect_no_data_sent(hub, dut, record, why: str) -> None:
    blocks = data_blocks(record)
    expect(check(hub, name="no block sent", device=dut.name, rule=f"no Image Block Response carries data ({why})",
                 observed=f"{len(blocks)} data block(s), {record.bytes_sent} bytes", ok=not blocks,
                 source="GBCS CCS08 use case; SECMP0007", detail="" if not blocks else timeline(record)))


@pytest.mark.spec("SECMP0007", "GBCS CCS08 response 2 (Hardware Version Mismatch)")
@pytest.mark.ota_image("wrong-hardware")
async def test_image_for_other_hardware_is_never_transferred(hub, dut, image, profile, windows, baseline):
    transfer = await hub.upgrade(dut.name, image.name, **windows.ota_overrides(profile))
    await transfer.wait()
    record = transfer.record()

    expect_sequence(hub, dut.name, "hardware-mismatch", transfer)
    expect_outcome(record, TransferOutcome.REFUSED)
    expect_no_data_sent(hub, dut, record, "hardware version outside the image header's range")
    await expect_unchanged(hub, dut, baseline)


#: The client rule (profiles/expectations/ota-client-rules.toml) each image purpose tests.
OWN_CHECK_RULE = {"wrong-hardware": "hardware_check", "wrong-image-type": "image_type_check"}


@pytest.mark.spec("ZCL OTA Upgrade 0x0019: OTA header hardware versions (client check)",
                  "ZCL OTA Upgrade 0x0019: OTA header image type (client check)", "ZCL OTA INVALID_IMAGE",
                  "GBCS CCS08 response 3 (File Transfer Failure)")
@pytest.mark.ota_image("wrong-hardware", "wrong-image-type")
async def test_device_refuses_an_image_not_meant_for_it(hub, dut, image, profile, windows, baseline):
    # The CH's own checks are bypassed (offer_unchecked), so the DEVICE must judge the header's hardware
    # range and image type itself: Upgrade End INVALID_IMAGE after the download, or never ask for a block.
    # Image Notify without an image type (payload type 0), so the device asks with its own.
    overrides = {**windows.ota_overrides(profile), "stall_timeout_s": windows.quiet}
    transfer = await hub.upgrade(dut.name, image.name, notify=NotifyType.QueryJitter, offer_unchecked=True, **overrides)
    await transfer.wait()
    record = transfer.record()

    offered = [e for e in events(record, TransferEventKind.QUERY_RESPONSE) if e.status == "SUCCESS"]
    assert offered, (f"{dut.name}: the CH never offered {image.name} (the device did not query after Image Notify)\n"
                     f"{timeline(record)}")
    facts = hub.image(image.name).facts
    asked = events(record, TransferEventKind.BLOCK_REQUEST, TransferEventKind.PAGE_REQUEST)
    ends = events(record, TransferEventKind.UPGRADE_END)
    refused = (not asked and not ends) or [e.status for e in ends] == ["INVALID_IMAGE"]
    if not asked:
        observed = f"no block requested within {windows.quiet:g} s of the offer"
    else:
        observed = (", ".join(f"Upgrade End {e.status} at offset {e.offset}, +{e.t - record.started:.2f} s"
                              for e in ends) or "no Upgrade End") + f"; {where_it_ended(record)}"
    rule = client_rule(OWN_CHECK_RULE[image.purpose])
    expect(check(hub, name=f"device refuses a {image.purpose} image", device=dut.name,
                 rule=(f"{rule.rule} (image type 0x{facts.image_type:04X}, hardware "
                       f"0x{facts.min_hardware_version or 0:04X}-0x{facts.max_hardware_version or 0:04X})"),
                 observed=observed, ok=refused, source=rule.source, confidence=rule.confidence,
                 detail="" if refused else timeline(record)))
    await expect_unchanged(hub, dut, baseline)
    expect_sequence(hub, dut.name, "transfer-failure", transfer)


@pytest.mark.spec("SECMP0007", "ZCL OTA Upgrade 0x0019: Query Next Image")
@pytest.mark.ota_image("wrong-manufacturer")
async def test_image_for_another_manufacturer_is_not_taken(hub, dut, image, profile, windows, baseline):
    # Image Notify without a manufacturer code (payload type 0), so the device asks with its own; the
    # CH then offers the foreign image anyway, and watches for a block request for --quiet-window.
    overrides = {**windows.ota_overrides(profile), "stall_timeout_s": windows.quiet}
    transfer = await hub.upgrade(dut.name, image.name, notify=NotifyType.QueryJitter, offer_unchecked=True, **overrides)
    await transfer.wait()
    record = transfer.record()

    offered = [e for e in events(record, TransferEventKind.QUERY_RESPONSE) if e.status == "SUCCESS"]
    assert offered, (f"{dut.name}: the CH never offered {image.name} (the device did not query after Image Notify)\n"
                     f"{timeline(record)}")
    asked = events(record, TransferEventKind.BLOCK_REQUEST, TransferEventKind.PAGE_REQUEST)
    expect(check(hub, name="foreign image not taken", device=dut.name,
                 rule=f"no Image Block/Page Request for an image of manufacturer "
                      f"0x{hub.image(image.name).facts.manufacturer_code:04X} within {windows.quiet:g} s of the offer",
                 observed=f"{len(asked)} request(s)" + (f", first at offset {asked[0].offset}" if asked else ""),
                 ok=not asked, source="ZCL OTA Upgrade cluster: a client takes only images for its manufacturer and type",
                 detail="" if not asked else timeline(record)))
    expect_sequence(hub, dut.name, "transfer-failure", transfer)
    await expect_unchanged(hub, dut, baseline)


@pytest.mark.spec("SECMP0007", "GBCS CCS08 response 1 (Image Discarded)")
@pytest.mark.ota_image("bad-signature")
async def test_ch_discards_an_image_whose_signature_fails(hub, dut, image, profile, windows, baseline):
    # The GB CH verifies the supplier signature before it offers an image, whatever the device's profile.
    transfer = await hub.upgrade(dut.name, image.name, require_signature=True, **windows.ota_overrides(profile))
    await transfer.wait()
    record = transfer.record()

    expect_sequence(hub, dut.name, "image-discarded", transfer)
    expect_outcome(record, TransferOutcome.REFUSED)
    sent = events(record, TransferEventKind.NOTIFY, TransferEventKind.QUERY_RESPONSE, TransferEventKind.BLOCK_RESPONSE)
    expect(check(hub, name="nothing sent", device=dut.name, rule="no Image Notify and no OTA response for the discarded image",
                 observed=f"{len(sent)} frame(s) sent", ok=not sent, source="GBCS CCS08 case (1)",
                 detail="" if not sent else timeline(record)))
    await expect_unchanged(hub, dut, baseline)


def served_past_the_ch(hub, name: str, path: Path) -> OfferedImage:
    """The image as the CH would hold it, or -- for a file the CH's own codec refuses (truncated) --
    its bytes as they are, with the size the file really has, so the device gets to judge it."""
    try:
        return hub.image(name)
    except OtaError:
        data = path.read_bytes()
        header, _ = decode_header(data)
        facts = ImageFacts(manufacturer_code=header.manufacturer_code, image_type=header.image_type,
                           file_version=header.file_version, total_image_size=len(data),
                           min_hardware_version=header.min_hardware_version,
                           max_hardware_version=header.max_hardware_version)
        return OfferedImage.from_bytes(name, facts, data)


@pytest.mark.spec("SECMP0007", "GBCS CCS08 response 3 (File Transfer Failure)", "ZCL OTA INVALID_IMAGE")
@pytest.mark.ota_image("bad-signature", "corrupted")
async def test_device_rejects_a_bad_image_with_invalid_image(hub, dut, image, profile, windows, baseline):
    served = served_past_the_ch(hub, image.name, image.file)
    transfer = await hub.upgrade(dut.name, served, serve_unverified=True, **windows.ota_overrides(profile))
    await transfer.wait()
    record = transfer.record()

    ends = events(record, TransferEventKind.UPGRADE_END)
    expect(check(hub, name="device rejects the image", device=dut.name,
                 rule="after the whole image the device sends Upgrade End INVALID_IMAGE",
                 observed=(", ".join(f"Upgrade End {e.status} at offset {e.offset}, +{e.t - record.started:.2f} s"
                                     for e in ends) or "no Upgrade End") + f"; {where_it_ended(record)}",
                 ok=[e.status for e in ends] == ["INVALID_IMAGE"] and record.bytes_sent >= served.size,
                 source="ZCL OTA Upgrade cluster, Upgrade End Request status INVALID_IMAGE",
                 detail=timeline(record)))
    expect_sequence(hub, dut.name, "transfer-failure", transfer)
    expect_outcome(record, TransferOutcome.FAILED)
    await expect_unchanged(hub, dut, baseline)
