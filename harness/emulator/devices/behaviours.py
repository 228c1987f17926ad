"""What an emulated device does at each decision point: conformant, or one named defect.

Each behaviour is a small strategy object; the device and its OTA client ask it at a handful of
hook points (may I query? what now that this block arrived? how do I end this download? ...).
The conformant answers live in :class:`Conformant`; every defect overrides exactly the hooks it
corrupts, so a defect is one readable class, not a flag sprinkled through the device.

Hooks are handed the context a real device has at that moment (:class:`BlockProgress`,
:class:`WaitForData`, :class:`CompletedDownload`, :class:`UpgradeTime`, :class:`Activation`, :class:`ReadReason`,
:class:`QueryReason`), so a defect can be as particular as a real one ("ignores the second
WAIT_FOR_DATA", "aborts after the last block", "reads tenancy after a join but not after a
change-of-tenancy report").

Behaviours are an open set. A lab adds its own defect device without editing this package:

* :func:`register_behaviour` (usable as a class decorator) from its own code, e.g. a conftest.py;
* or an entry point in the group :data:`ENTRY_POINT_GROUP` naming a behaviour class, or a module
  that calls :func:`register_behaviour` when imported. Entry points are loaded the first time the
  behaviours are listed (:func:`available_behaviours`), so ``harness rig check`` and pytest both
  see them, and a rig naming one loads.

The conformance suite's defect proof (tests/unit/test_conformance_defects.py) expects the suite to
fail on every defect in its map (tests/conformance/defect-map.toml) and on none of the controls.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.metadata
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeVar

from .cs09 import Cs09Draft, Cs09Moment, replayed
from .image_check import Offer, Verdict

if TYPE_CHECKING:
    from .device import EmulatedDevice

#: The entry-point group a lab's package uses to add behaviours (see the module docstring).
ENTRY_POINT_GROUP = "han_harness.behaviours"


class BlockAction(enum.Enum):
    """What the device does after a block arrived (the last one included)."""

    CONTINUE = "continue"
    ABORT = "abort"  # send Upgrade End ABORT, delete the partial image and stop
    LEAVE = "leave"  # vanish from the HAN without a word
    STOP = "stop"  # stop requesting without a word, delete the partial image (a crashed client)


class DownloadEnd(enum.Enum):
    """How the device ends a complete download: the Upgrade End Request it sends, or none."""

    SUCCESS = "success"  # Upgrade End SUCCESS: verified, waiting for the upgrade time
    INVALID_IMAGE = "invalid_image"  # Upgrade End INVALID_IMAGE (0x96): verification failed, image deleted
    REQUIRE_MORE_IMAGE = "require_more_image"  # Upgrade End REQUIRE_MORE_IMAGE (0x99): needs a further image
    ABORT = "abort"  # Upgrade End ABORT (0x95) after the last block, image deleted
    SILENCE = "silence"  # sends no Upgrade End at all, image deleted


class ReadReason(enum.StrEnum):
    """Why the device is about to read the GPF's tenancy attributes (SECMP0056)."""

    JOINED = "joined"
    REJOINED = "rejoined"
    TENANCY_REPORT = "device management report"  # the CH reported Device Management attributes
    TENANCY_WRITE = "device management write"  # the CH wrote Device Management attributes
    POLL = "periodic poll"


class QueryReason(enum.StrEnum):
    """Why the device is about to send Query Next Image."""

    IMAGE_NOTIFY = "image notify"
    PERIODIC = "periodic query"
    RESUME = "resume after rejoin"


@dataclass(frozen=True, slots=True)
class BlockProgress:
    """The download as it stands just after one block was taken in."""

    offer: Offer
    #: FileOffset after this block: the bytes held so far.
    file_offset: int
    #: Blocks taken in during this download, this one included (1 = the first).
    blocks: int
    #: WAIT_FOR_DATA answers received so far in this download.
    waits_for_data: int

    @property
    def image_size(self) -> int:
        return self.offer.image_size

    @property
    def complete(self) -> bool:
        """This was the last block: the whole image is held."""
        return self.file_offset >= self.offer.image_size


@dataclass(frozen=True, slots=True)
class WaitForData:
    """One Image Block Response WAIT_FOR_DATA (ZCL OTA 11.13.8.2)."""

    offer: Offer
    #: Which WAIT_FOR_DATA of this download this is (1 = the first).
    number: int
    file_offset: int
    current_time: int
    request_time: int
    #: The MinimumBlockPeriod the server sent, counted in ``unit``.
    minimum_block_period: int
    #: Seconds the server asks the device to wait (request time - current time).
    delay_s: float
    #: The unit the device counts MinimumBlockPeriod in: "ms" or "s".
    unit: str = "ms"


@dataclass(frozen=True, slots=True)
class UpgradeTime:
    """An Upgrade End Response for the image the device holds (ZCL OTA 11.13.9.6)."""

    offer: Offer
    current_time: int
    upgrade_time: int
    #: Seconds until the image is applied as the reference client computes it (0 = now), or None:
    #: hold the image and ask again later (upgrade time 0xFFFFFFFF, or a time already past).
    delay_s: float | None

    @property
    def told_to_wait(self) -> bool:
        return self.upgrade_time == 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class CompletedDownload:
    """A whole image held, checked by the device's own verifier, before Upgrade End is sent."""

    offer: Offer
    data: bytes
    verdict: Verdict
    #: Further images the device still needs (from ``DeviceSettings.requires_more_images``).
    more_images_needed: int


@dataclass(frozen=True, slots=True)
class Activation:
    """The activation reboot into a downloaded image."""

    offer: Offer
    verdict: Verdict
    previous_version: int

    @property
    def new_version(self) -> int:
        return self.offer.file_version


class Conformant:
    """Does what the ZCL OTA cluster and SECMP0056 ask of a client.

    Subclass it and override the hooks a defect corrupts; ``name`` is what a rig writes in
    ``[devices.emulation] behaviour``, ``description`` one line for listings and reports.
    """

    name: ClassVar[str] = "conformant"
    description: ClassVar[str] = "Behaves as the ZCL OTA cluster spec and SECMP0056 require."

    def on_activate(self, device: EmulatedDevice) -> None:
        """Called when the behaviour is switched on (at start or at run time)."""

    def sends_queries(self, reason: QueryReason) -> bool:
        """Whether the device sends Query Next Image now (and reacts to Image Notify)."""
        return True

    def on_block(self, progress: BlockProgress) -> BlockAction:
        """After each block taken in, the last one included."""
        return BlockAction.CONTINUE

    def accepts_offer_from_elsewhere(self) -> bool:
        """Whether a Query Next Image Response for another manufacturer / image type is taken up."""
        return False

    def end_download(self, download: CompletedDownload) -> DownloadEnd:
        """How a complete download ends: install a verified image, refuse a bad one."""
        if not download.verdict.ok:
            return DownloadEnd.INVALID_IMAGE
        return DownloadEnd.REQUIRE_MORE_IMAGE if download.more_images_needed else DownloadEnd.SUCCESS

    def honours_wait_for_data(self, wait: WaitForData) -> bool:
        """Wait until the server's request time (and adopt its MinimumBlockPeriod) before re-requesting."""
        return True

    def upgrade_delay_s(self, when: UpgradeTime) -> float | None:
        """Seconds until the held image is applied (0 = now), or None to hold it and ask again later."""
        return when.delay_s

    def activation_succeeds(self, activation: Activation) -> bool:
        """After the activation reboot: does the new image run?"""
        return True

    def reported_file_version(self, activation: Activation) -> int:
        """The OTA CurrentFileVersion attribute after a successful activation."""
        return activation.new_version

    def reads_tenancy(self, reason: ReadReason) -> bool:
        """Whether the device reads the GPF's tenancy attributes now."""
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

    def runs_keep_alive(self) -> bool:
        """Run the trust-centre keep-alive, where the device's timings enable it."""
        return True


class NeverQueriesImage(Conformant):
    name = "never_queries_image"
    description = "Never sends Query Next Image and ignores Image Notify."

    def sends_queries(self, reason: QueryReason) -> bool:
        return False


class AbortsMidTransfer(Conformant):
    name = "aborts_mid_transfer"
    description = "Sends Upgrade End ABORT about half way through the download."

    def on_block(self, progress: BlockProgress) -> BlockAction:
        if progress.file_offset * 2 >= progress.image_size and not progress.complete:
            return BlockAction.ABORT
        return BlockAction.CONTINUE


class RejectsGoodImage(Conformant):
    name = "rejects_good_image"
    description = "Reports INVALID_IMAGE even for a valid image."

    def end_download(self, download: CompletedDownload) -> DownloadEnd:
        return DownloadEnd.INVALID_IMAGE


class AcceptsForeignImage(Conformant):
    name = "accepts_foreign_image"
    description = "Takes up and installs an image for another manufacturer or outside its hardware range."

    def accepts_offer_from_elsewhere(self) -> bool:
        return True

    def end_download(self, download: CompletedDownload) -> DownloadEnd:
        if download.verdict.only_foreign:
            return DownloadEnd.SUCCESS
        return super().end_download(download)


class IgnoresWaitForData(Conformant):
    name = "ignores_wait_for_data"
    description = "Re-requests immediately after WAIT_FOR_DATA, hammering the server."

    def honours_wait_for_data(self, wait: WaitForData) -> bool:
        return False


class HonoursFirstWaitOnly(Conformant):
    name = "honours_first_wait_only"
    description = "Honours the first WAIT_FOR_DATA of a download; re-requests at once after any later one."

    def honours_wait_for_data(self, wait: WaitForData) -> bool:
        return wait.number == 1


class SkipsHardwareCheck(Conformant):
    name = "skips_hardware_check"
    description = "Installs an image whose hardware range excludes its own hardware version (no hardware check)."

    def end_download(self, download: CompletedDownload) -> DownloadEnd:
        if download.verdict.problems and all(p.about == "hardware" for p in download.verdict.problems):
            return DownloadEnd.SUCCESS
        return super().end_download(download)


class ActivatesEarly(Conformant):
    name = "activates_early"
    description = "Applies an image at once when the Upgrade End Response names a later upgrade time."

    def upgrade_delay_s(self, when: UpgradeTime) -> float | None:
        return 0.0 if when.delay_s is not None else None


class ActivatesOnWait(Conformant):
    name = "activates_on_wait"
    description = "Applies an image at once when told to wait for a further command (upgrade time 0xFFFFFFFF)."

    def upgrade_delay_s(self, when: UpgradeTime) -> float | None:
        return 0.0 if when.told_to_wait else when.delay_s


class ActivationFails(Conformant):
    name = "activation_fails"
    description = "Downloads and reports Upgrade End SUCCESS, but still runs the old version after the reboot."

    def activation_succeeds(self, activation: Activation) -> bool:
        return False


class ReportsOldVersion(Conformant):
    name = "reports_old_version"
    description = "Runs the new image (Basic SWBuildID shows it) but OTA CurrentFileVersion still reports the old one."

    def reported_file_version(self, activation: Activation) -> int:
        return activation.previous_version


class ReportsUnknownVersion(Conformant):
    name = "reports_unknown_version"
    description = "After activation its OTA CurrentFileVersion is neither the previous nor the offered version."

    def reported_file_version(self, activation: Activation) -> int:
        return activation.new_version ^ 0x00010000


class NeverReadsTenancy(Conformant):
    name = "never_reads_tenancy"
    description = "Never reads the GPF's change-of-tenancy attributes."

    def reads_tenancy(self, reason: ReadReason) -> bool:
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

    def on_block(self, progress: BlockProgress) -> BlockAction:
        if progress.file_offset * 2 >= progress.image_size and not progress.complete:
            return BlockAction.LEAVE
        return BlockAction.CONTINUE


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


#: Defects of the device's own CS09, which the harness receives over the GBCS tunnel and verifies.
CS09_DEFECTS: dict[str, type[Conformant]] = {
    cls.name: cls
    for cls in (SendsNoCs09, Cs09WrongVersion, Cs09BadSignature, Cs09ReplaysCounter, Cs09BeforeActivation)
}


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


class SkipsKeepAlive(Conformant):
    name = "skips_keep_alive"
    description = "Built with the trust-centre keep-alive but never checks the CH's Keep-Alive server."

    def runs_keep_alive(self) -> bool:
        return False


# -- the registry ---------------------------------------------------------------------------------

B = TypeVar("B", bound=type[Conformant])

#: Every behaviour by name, the package's own first; ``type.description`` is its one-line meaning.
#: Read it through :func:`available_behaviours`, which first loads the entry points.
BEHAVIOURS: dict[str, type[Conformant]] = {}


class BehaviourError(ValueError):
    """A behaviour cannot be registered, or an entry point naming one does not load."""


class UnknownBehaviourError(KeyError):
    """A name no registered behaviour has; ``str()`` is one line listing those available."""

    def __str__(self) -> str:
        return str(self.args[0])


def register_behaviour(cls: B) -> B:
    """Add a behaviour (a :class:`Conformant` subclass with its own ``name``); returns it, so it decorates.

    Registering the same class twice is harmless (a conftest imported twice); another class under
    a name already taken is refused, so a lab's defect cannot silently replace a built-in one.
    """
    if not (isinstance(cls, type) and issubclass(cls, Conformant)):
        raise BehaviourError(f"{cls!r} is not a behaviour: subclass harness.emulator.devices.behaviours.Conformant")
    name = cls.__dict__.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise BehaviourError(f"behaviour {cls.__qualname__}: give it its own `name`, a lower-case identifier")
    if not isinstance(cls.description, str) or not cls.description.strip() or "\n" in cls.description:
        raise BehaviourError(f"behaviour {name!r}: `description` must be one non-empty line")
    taken = BEHAVIOURS.get(name)
    if taken is not None and taken is not cls:
        raise BehaviourError(f"behaviour {name!r} is already registered by {taken.__module__}.{taken.__qualname__}")
    BEHAVIOURS[name] = cls
    return cls


_BUILTINS: tuple[type[Conformant], ...] = (
    Conformant,
    NeverQueriesImage,
    AbortsMidTransfer,
    RejectsGoodImage,
    AcceptsForeignImage,
    IgnoresWaitForData,
    HonoursFirstWaitOnly,
    SkipsHardwareCheck,
    ActivatesEarly,
    ActivatesOnWait,
    ActivationFails,
    ReportsOldVersion,
    ReportsUnknownVersion,
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
    *CS09_DEFECTS.values(),
    SkipsKeepAlive,
)
for _builtin in _BUILTINS:
    register_behaviour(_builtin)

#: Entry points already loaded (by ``group:name = value``), so each is loaded once per process.
_LOADED_ENTRY_POINTS: set[str] = set()


def _entry_points() -> Iterator[importlib.metadata.EntryPoint]:
    yield from importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


def load_entry_points() -> None:
    """Load every entry point in :data:`ENTRY_POINT_GROUP` not loaded yet.

    An entry point names a behaviour class (registered here) or a module (which registers its
    behaviours when imported). One that fails raises :class:`BehaviourError` naming it.
    """
    for entry in _entry_points():
        key = f"{entry.name} = {entry.value}"
        if key in _LOADED_ENTRY_POINTS:
            continue
        where = f"entry point {key!r} (group {ENTRY_POINT_GROUP})"
        try:
            loaded = entry.load()
        except Exception as exc:  # a lab's module: any failure is its own, reported in one line
            raise BehaviourError(f"{where} does not load: {type(exc).__name__}: {exc}") from exc
        if isinstance(loaded, type):
            try:
                register_behaviour(loaded)
            except BehaviourError as exc:
                raise BehaviourError(f"{where}: {exc}") from None
        elif not isinstance(loaded, types.ModuleType):
            raise BehaviourError(f"{where} names {loaded!r}: name a behaviour class or a module that registers some")
        _LOADED_ENTRY_POINTS.add(key)


def available_behaviours() -> dict[str, type[Conformant]]:
    """Every behaviour by name: the package's own, then those registered by a lab (entry points loaded)."""
    load_entry_points()
    return dict(BEHAVIOURS)


def behaviour_class(name: str) -> type[Conformant]:
    """The behaviour called ``name``; :class:`UnknownBehaviourError` lists those available."""
    known = available_behaviours()
    try:
        return known[name]
    except KeyError:
        raise UnknownBehaviourError(f"unknown behaviour {name!r}; available: {', '.join(known)}") from None


def make_behaviour(name: str, *, device_name: str = "?") -> Conformant:
    try:
        return behaviour_class(name)()
    except UnknownBehaviourError as exc:
        raise UnknownBehaviourError(f"device {device_name!r}: {exc}") from None
