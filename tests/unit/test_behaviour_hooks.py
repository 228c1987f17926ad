"""Behaviour hooks see what a real device knows at that moment, and can end a download every way a real one can.

Each test registers a small defect of its own (as a lab would, through ``register_behaviour``),
plays it against the fake OTA server on the virtual air, and checks what the server observes:
the Upgrade End statuses it receives (or none), the blocks asked for, the tenancy reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import zigpy.types as t
from zigpy.zcl import foundation

from harness.emulator.air import SE_PROFILE, AirFrame
from harness.emulator.devices import behaviours
from harness.emulator.devices.behaviours import (
    Activation,
    BlockAction,
    BlockProgress,
    CompletedDownload,
    Conformant,
    DownloadEnd,
    ReadReason,
    WaitForData,
    register_behaviour,
)
from tests.fixtures.emulator_device_fakes import GPF_EP, NEW, OLD, Air, Gpf, OtaServer, Status, tagged_image

#: The fake coordinator and OTA server, with their ``air`` fixture.

Register = Callable[[type[Conformant]], type[Conformant]]


@pytest.fixture
def register(monkeypatch: pytest.MonkeyPatch) -> Iterator[Register]:
    """``register_behaviour`` on a copy of the registry, so a test's defect does not outlive it."""
    monkeypatch.setattr(behaviours, "BEHAVIOURS", dict(behaviours.BEHAVIOURS))
    yield register_behaviour


async def test_a_device_can_abort_after_the_last_block(air: Air, register: Register) -> None:
    @register
    class AbortsAfterLastBlock(Conformant):
        name = "aborts_after_last_block"
        description = "Takes in every block, then sends Upgrade End ABORT instead of verifying."

        def on_block(self, progress: BlockProgress) -> BlockAction:
            return BlockAction.ABORT if progress.complete else BlockAction.CONTINUE

    device = await air.joined(behaviour="aborts_after_last_block")
    image = tagged_image(200)
    server = OtaServer(air.han, image)
    server.notify(device)
    ends = await server.received("upgrade_end")
    assert [end.status for end in ends] == [Status.ABORT]
    blocks = server.named("image_block")
    assert max(int(b.file_offset) + int(b.maximum_data_size) for b in blocks) == len(image), "every byte was asked for"
    (abort,) = [e for e in device.events.named("ota_state") if e.details["input"] == "client_abort"]
    assert abort.details["when"] == "after the last block"
    assert not device.received_images and device.current_file_version == OLD


@pytest.mark.parametrize(
    ("end", "statuses"),
    [(DownloadEnd.ABORT, [Status.ABORT]), (DownloadEnd.REQUIRE_MORE_IMAGE, [Status.REQUIRE_MORE_IMAGE]),
     (DownloadEnd.INVALID_IMAGE, [Status.INVALID_IMAGE])],
)
async def test_a_complete_download_can_end_with_any_upgrade_end_status(
    air: Air, register: Register, end: DownloadEnd, statuses: list[int]
) -> None:
    @register
    class EndsThisWay(Conformant):
        name = "ends_this_way"
        description = "Verifies the image, then ends the download with a status chosen by the test."

        def end_download(self, download: CompletedDownload) -> DownloadEnd:
            assert download.verdict.ok and len(download.data) == download.offer.image_size
            return end

    device = await air.joined(behaviour="ends_this_way")
    server = OtaServer(air.han, tagged_image(120))
    server.notify(device)
    assert [e.status for e in await server.received("upgrade_end")] == statuses
    (received,) = device.received_images
    assert received.end is end and received.verdict.ok
    assert device.current_file_version == OLD


async def test_a_complete_download_can_end_in_silence(air: Air, register: Register) -> None:
    @register
    class SaysNothing(Conformant):
        name = "says_nothing_at_the_end"
        description = "Downloads the whole image and never sends Upgrade End."

        def end_download(self, download: CompletedDownload) -> DownloadEnd:
            return DownloadEnd.SILENCE

    device = await air.joined(behaviour="says_nothing_at_the_end")
    server = OtaServer(air.han, tagged_image(120))
    server.notify(device)
    await device.wait_for("upgrade_end_withheld", timeout=3)
    assert device.ota.state.value == "idle" and device.ota.pending is None
    server.notify(device)  # the device is free to ask again; its next query follows anything it sent before
    await server.received("query_next_image", count=2)
    assert not server.named("upgrade_end")


async def test_a_device_can_stop_requesting_without_a_word(air: Air, register: Register) -> None:
    @register
    class Crashes(Conformant):
        name = "crashes_after_two_blocks"
        description = "Stops requesting blocks after the second one, saying nothing."

        def on_block(self, progress: BlockProgress) -> BlockAction:
            return BlockAction.STOP if progress.blocks == 2 else BlockAction.CONTINUE

    device = await air.joined(behaviour="crashes_after_two_blocks")
    server = OtaServer(air.han, tagged_image(400))
    server.notify(device)
    dropped = await device.wait_for("transfer_dropped", timeout=3)
    assert dropped.details == {"file_offset": 80, "when": "part-way through"}
    assert len(server.named("image_block")) == 2 and not server.named("upgrade_end")


async def test_wait_for_data_hook_knows_which_wait_this_is(air: Air, register: Register) -> None:
    seen: list[WaitForData] = []

    @register
    class PatientOnce(Conformant):
        name = "patient_once"
        description = "Honours the first WAIT_FOR_DATA of a transfer and ignores the rest."

        def honours_wait_for_data(self, wait: WaitForData) -> bool:
            seen.append(wait)
            return wait.number == 1

    device = await air.joined(behaviour="patient_once")
    server = OtaServer(air.han, tagged_image(120), wait_for_data=3, wait_s=2)
    server.notify(device)
    await device.wait_for("download_complete", timeout=3)
    assert [(w.number, w.file_offset, w.delay_s) for w in seen] == [(1, 0, 2), (2, 0, 2), (3, 0, 2)]
    assert [e.details["honoured"] for e in device.events.named("wait_for_data")] == [True, False, False]


async def test_activation_hooks_see_the_image_and_its_verdict(air: Air, register: Register) -> None:
    seen: list[Activation] = []

    @register
    class Watches(Conformant):
        name = "watches_activation"
        description = "Activates as a conformant device does, noting what it activates."

        def activation_succeeds(self, activation: Activation) -> bool:
            seen.append(activation)
            return activation.verdict.ok

    device = await air.joined(behaviour="watches_activation")
    server = OtaServer(air.han, tagged_image(100))
    server.notify(device)
    await device.wait_for("activated", timeout=3)
    (activation,) = seen
    assert (activation.previous_version, activation.new_version) == (OLD, NEW)
    assert activation.verdict.ok and device.current_file_version == NEW


async def test_tenancy_hook_knows_why_the_device_would_read(air: Air, register: Register) -> None:
    @register
    class ReadsOnlyOnJoin(Conformant):
        name = "reads_tenancy_only_on_join"
        description = "Reads the GPF's tenancy attributes after joining, but ignores a change-of-tenancy report."

        def reads_tenancy(self, reason: ReadReason) -> bool:
            return reason in (ReadReason.JOINED, ReadReason.REJOINED)

    gpf = Gpf(air.han)
    device = await air.joined(behaviour="reads_tenancy_only_on_join")
    assert (await device.wait_for("tenancy_read", timeout=1)).details["reason"] == "joined"
    hdr = foundation.ZCLHeader.general(7, foundation.GeneralCommand.Report_Attributes,
                                       direction=foundation.Direction.Server_to_Client)
    report = t.List[foundation.Attribute]([foundation.Attribute(0x0200, foundation.TypeValue(0xE2, t.UTCTime(1)))])
    mark = device.events.mark()
    await air.han.unicast(AirFrame(0, device.nwk, SE_PROFILE, 0x0708, GPF_EP, 1, hdr.serialize() + report.serialize(),
                                    aps_encrypted=True))
    suppressed = await device.wait_for("tenancy_read_suppressed", since=mark, timeout=1)
    assert suppressed.details["reason"] == "device management report"
    assert len(gpf.reads) == 1
