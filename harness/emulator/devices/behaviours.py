"""What an emulated device does at each decision point: conformant, or one named defect.

Each behaviour is a small strategy object; the device and its OTA client ask it at a handful of
hook points (may I query? what now that this block arrived? is this image acceptable? ...). The
conformant answers live in :class:`Conformant`; every defect overrides exactly the hooks it
corrupts, so a defect is one readable class, not a flag sprinkled through the device. The
conformance suite's defect-proof test iterates :data:`BEHAVIOURS` and expects the suite to fail
on every entry except ``conformant``.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING, ClassVar

from .cs09 import Cs09Draft, Cs09Moment, replayed
from .image_check import Verdict

if TYPE_CHECKING:
    from .device import EmulatedDevice


class BlockAction(enum.Enum):
    CONTINUE = "continue"
    ABORT = "abort"  # send Upgrade End ABORT and stop
    LEAVE = "leave"  # vanish from the HAN


class Conformant:
    """Does what the ZCL OTA cluster and SECMP0056 ask of a client."""

    name: ClassVar[str] = "conformant"
    description: ClassVar[str] = "Behaves as the ZCL OTA cluster spec and SECMP0056 require."

    def on_activate(self, device: EmulatedDevice) -> None:
        """Called when the behaviour is switched on (at start or at run time)."""

    def sends_queries(self) -> bool:
        """Whether the device sends Query Next Image (and reacts to Image Notify)."""
        return True

    def on_block(self, offset: int, image_size: int) -> BlockAction:
        """After each received block, with the new FileOffset."""
        return BlockAction.CONTINUE

    def accepts_offer_from_elsewhere(self) -> bool:
        """Whether a Query Next Image Response for another manufacturer / image type is taken up."""
        return False

    def accepts(self, verdict: Verdict) -> bool:
        """Install the downloaded image? (Upgrade End SUCCESS if True, INVALID_IMAGE if False.)"""
        return verdict.ok

    def honours_wait_for_data(self) -> bool:
        """Wait until the server's request time (and adopt its MinimumBlockPeriod) before re-requesting."""
        return True

    def activation_succeeds(self) -> bool:
        """After the activation reboot: does the new image run?"""
        return True

    def reported_file_version(self, running: int, previous: int) -> int:
        """The OTA CurrentFileVersion attribute after activation."""
        return running

    def reads_tenancy(self) -> bool:
        return True

    def cs09(self, draft: Cs09Draft, last_counter: int | None) -> Cs09Draft | None:
        """The CS09 the device sends about an activation (None: it sends none).

        ``draft`` is what a conformant device says after it rebooted into the image;
        ``last_counter`` is the originator counter of its previous alert.
        """
        return draft

    # Key Establishment (CBKE) hooks, asked by devices/key_establishment.py.
    def cbke_suites(self) -> int:
        """KeyEstablishmentSuite bits offered in Initiate Key Establishment (0x0002 = Crypto Suite 2, GB)."""
        return 0x0002

    def cbke_certificate_authority(self) -> str:
        """Which of the emulator's CAs issued the device's certificate ("cs2" = the HAN's own)."""
        return "cs2"

    def cbke_confirm_key(self, macu: bytes) -> bytes:
        """The MACU sent in Confirm Key Data Request."""
        return macu

    def cbke_stops_before_confirm_key(self) -> bool:
        """Stop talking after the ephemeral data exchange (never send Confirm Key Data Request)."""
        return False


class NeverQueriesImage(Conformant):
    name = "never_queries_image"
    description = "Never sends Query Next Image and ignores Image Notify."

    def sends_queries(self) -> bool:
        return False


class AbortsMidTransfer(Conformant):
    name = "aborts_mid_transfer"
    description = "Sends Upgrade End ABORT about half way through the download."

    def on_block(self, offset: int, image_size: int) -> BlockAction:
        return BlockAction.ABORT if offset * 2 >= image_size else BlockAction.CONTINUE


class RejectsGoodImage(Conformant):
    name = "rejects_good_image"
    description = "Reports INVALID_IMAGE even for a valid image."

    def accepts(self, verdict: Verdict) -> bool:
        return False


class AcceptsForeignImage(Conformant):
    name = "accepts_foreign_image"
    description = "Takes up and installs an image for another manufacturer or outside its hardware range."

    def accepts_offer_from_elsewhere(self) -> bool:
        return True

    def accepts(self, verdict: Verdict) -> bool:
        return verdict.ok or verdict.only_foreign


class IgnoresWaitForData(Conformant):
    name = "ignores_wait_for_data"
    description = "Re-requests immediately after WAIT_FOR_DATA, hammering the server."

    def honours_wait_for_data(self) -> bool:
        return False


class ActivationFails(Conformant):
    name = "activation_fails"
    description = "Downloads and reports Upgrade End SUCCESS, but still runs the old version after the reboot."

    def activation_succeeds(self) -> bool:
        return False


class ReportsOldVersion(Conformant):
    name = "reports_old_version"
    description = "Runs the new image (Basic SWBuildID shows it) but OTA CurrentFileVersion still reports the old one."

    def reported_file_version(self, running: int, previous: int) -> int:
        return previous


class NeverReadsTenancy(Conformant):
    name = "never_reads_tenancy"
    description = "Never reads the GPF's change-of-tenancy attributes."

    def reads_tenancy(self) -> bool:
        return False


class LeavesHan(Conformant):
    """Leaves half way through a transfer; switched on while joined and idle, it leaves at once.

    Configured from the rig (before it has joined) it joins and answers the interview, then leaves
    part-way through its first transfer -- otherwise it could never be seen at all.
    """

    name = "leaves_han"
    description = "Stops answering part-way through an OTA transfer (left the HAN); with no transfer, at once."

    def on_activate(self, device: EmulatedDevice) -> None:
        if device.joined and not device.ota.transfer_in_progress:
            device.vanish("switched to leaves_han with no transfer in progress")

    def on_block(self, offset: int, image_size: int) -> BlockAction:
        return BlockAction.LEAVE if offset * 2 >= image_size else BlockAction.CONTINUE


class CbkeSuite1Only(Conformant):
    name = "cbke_suite1_only"
    description = "Offers only Crypto Suite 1 (sect163k1) in Initiate Key Establishment; a GB trust centre needs Suite 2."

    def cbke_suites(self) -> int:
        return 0x0001


class CbkeForeignIssuer(Conformant):
    name = "cbke_foreign_issuer"
    description = "Presents a Crypto Suite 2 certificate from a CA the trust centre does not know."

    def cbke_certificate_authority(self) -> str:
        return "foreign_cs2"


class CbkeBadConfirmKey(Conformant):
    name = "cbke_bad_confirm_key"
    description = "Sends a wrong MACU in Confirm Key Data Request (one bit flipped)."

    def cbke_confirm_key(self, macu: bytes) -> bytes:
        return bytes([macu[0] ^ 0x01]) + macu[1:]


class CbkeNeverFinishes(Conformant):
    name = "cbke_never_finishes"
    description = "Starts key establishment but never sends Confirm Key Data Request."

    def cbke_stops_before_confirm_key(self) -> bool:
        return True


class SendsNoCs09(Conformant):
    name = "sends_no_cs09"
    description = "Activates the image but never sends its CS09 firmware activation alert."

    def cs09(self, draft: Cs09Draft, last_counter: int | None) -> Cs09Draft | None:
        return None


class Cs09WrongVersion(Conformant):
    name = "cs09_wrong_version"
    description = "Runs the new image, but its CS09 names the version it ran before."

    def cs09(self, draft: Cs09Draft, last_counter: int | None) -> Cs09Draft | None:
        return dataclasses.replace(draft, firmware_version=draft.previous_version)


class Cs09BadSignature(Conformant):
    name = "cs09_bad_signature"
    description = "Sends a CS09 whose signature does not verify with its signing certificate."

    def cs09(self, draft: Cs09Draft, last_counter: int | None) -> Cs09Draft | None:
        return dataclasses.replace(draft, signature_valid=False)


class Cs09ReplaysCounter(Conformant):
    name = "cs09_replays_counter"
    description = "Never advances its originator counter: each CS09 carries the counter of its previous alert."

    def cs09(self, draft: Cs09Draft, last_counter: int | None) -> Cs09Draft | None:
        return replayed(draft, last_counter)


class Cs09BeforeActivation(Conformant):
    name = "cs09_before_activation"
    description = "Alerts activation success as soon as it is told to activate, before the new image runs."

    def cs09(self, draft: Cs09Draft, last_counter: int | None) -> Cs09Draft | None:
        return dataclasses.replace(draft, moment=Cs09Moment.BEFORE_REBOOT)


#: Defects of the device's own CS09. The harness can only see them once it receives CS09 over the
#: GBCS tunnel, so they join :data:`BEHAVIOURS` (and so the defect proof) with the tunnel.
CS09_DEFECTS: dict[str, type[Conformant]] = {
    cls.name: cls
    for cls in (SendsNoCs09, Cs09WrongVersion, Cs09BadSignature, Cs09ReplaysCounter, Cs09BeforeActivation)
}


#: Every behaviour by name; ``type.description`` is its one-line meaning.
BEHAVIOURS: dict[str, type[Conformant]] = {
    cls.name: cls
    for cls in (
        Conformant,
        NeverQueriesImage,
        AbortsMidTransfer,
        RejectsGoodImage,
        AcceptsForeignImage,
        IgnoresWaitForData,
        ActivationFails,
        ReportsOldVersion,
        NeverReadsTenancy,
        LeavesHan,
        CbkeSuite1Only,
        CbkeForeignIssuer,
        CbkeBadConfirmKey,
        CbkeNeverFinishes,
    )
}


class UnknownBehaviourError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def make_behaviour(name: str, *, device_name: str = "?") -> Conformant:
    try:
        return BEHAVIOURS[name]()
    except KeyError:
        raise UnknownBehaviourError(
            f"device {device_name!r}: unknown behaviour {name!r}; known: {', '.join(BEHAVIOURS)}"
        ) from None
