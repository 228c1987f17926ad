"""What an emulated device does at each decision point: conformant, or one named defect.

Each behaviour is a small strategy object; the device and its OTA client ask it at a handful of
hook points (may I query? what now that this block arrived? is this image acceptable? ...). The
conformant answers live in :class:`Conformant`; every defect overrides exactly the hooks it
corrupts, so a defect is one readable class, not a flag sprinkled through the device. The
conformance suite's defect-proof test iterates :data:`BEHAVIOURS` and expects the suite to fail
on every entry except ``conformant``.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, ClassVar

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

    def cbke_reads_suite(self) -> bool:
        """Read the trust centre's KeyEstablishmentSuite attribute before Initiate (reference §2.3)."""
        return True

    # Smart Energy security and registration hooks (reference/real-device-behaviour.md §1, §3).
    def aps_encrypts_own_frames(self) -> bool:
        """APS-encrypt the device's own frames on the listed SE clusters."""
        return True

    def acts_on_unsecured(self, cluster: int) -> bool:
        """Act on an unencrypted frame on a listed SE cluster (a conformant device refuses it)."""
        return False

    def reads_time(self) -> bool:
        """Take the time from the CH's Time server after registration."""
        return True


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


class CbkeSkipsSuiteRead(Conformant):
    name = "cbke_skips_suite_read"
    description = ("Never reads the trust centre's KeyEstablishmentSuite attribute and falls back to Crypto "
                   "Suite 1 in Initiate Key Establishment.")

    def cbke_reads_suite(self) -> bool:
        return False


class SendsSeUnencrypted(Conformant):
    name = "sends_se_unencrypted"
    description = "Sends its Smart Energy requests (OTA, Time, Device Management) without APS encryption."

    def aps_encrypts_own_frames(self) -> bool:
        return False


class ActsOnUnencryptedOta(Conformant):
    name = "acts_on_unencrypted_ota"
    description = "Acts on OTA server commands that arrive without APS encryption."

    def acts_on_unsecured(self, cluster: int) -> bool:
        return cluster == 0x0019


class IgnoresTimeServer(Conformant):
    name = "ignores_time_server"
    description = "Never reads the CH's Time server, so it runs on its own clock."

    def reads_time(self) -> bool:
        return False


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
        CbkeSkipsSuiteRead,
        SendsSeUnencrypted,
        ActsOnUnencryptedOta,
        IgnoresTimeServer,
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
