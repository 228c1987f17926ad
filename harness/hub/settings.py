"""Every timing and size the hub uses, as named, injectable settings.

Protocol delays are settings, not module constants, so an emulated rig can scale them down and a
slow bench can stretch them without patching anything. Each field says where its default comes
from; a profile (``profiles/*.toml`` ``[ota]``) overrides the OTA ones per device.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from harness.profiles import Profile
    from harness.rig import HubOptions

#: Safe block data size with APS + NWK security (ZCL OTA / SE 1.x; zigpy caps Insta/dresden at 40).
DEFAULT_MAX_BLOCK_SIZE = 40

#: Seconds between 1970-01-01 and the ZCL UTCTime epoch 2000-01-01 (ZCL 2.6.2 "UTCTime").
ZIGBEE_EPOCH_OFFSET_S = 946_684_800

#: Upgrade End Response ``upgrade_time`` meaning "wait for a further command" (ZCL OTA 11.13.9.6).
UPGRADE_TIME_WAIT = 0xFFFFFFFF

UpgradeTimePolicy = Literal["now", "at", "wait"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OtaServeSettings:
    """How the CH's OTA server answers one device. Defaults are the GB PPMID behaviour.

    ``max_block_size`` caps the data per Image Block Response whatever the device asks for.
    ``stall_timeout_s`` is the longest silence the CH tolerates between a response and the
    device's next request before it declares the transfer failed (zigpy's default is 30 s; a
    sleepy PPMID may need far longer, so profiles set it). ``final_block_timeout_s`` is the window
    after the last block for the device to verify the image and send Upgrade End.
    ``query_timeout_s`` is how long after Image Notify the device has to send Query Next Image.
    ``wait_for_data`` lists ``(offset, seconds)`` or ``(offset, seconds, minimum_block_period)``
    windows: the first request at or past ``offset`` is answered WAIT_FOR_DATA for ``seconds`` (a
    CH that does not have the data yet); on the wire the wait is whole seconds (ZCL UTCTime), so a
    fraction is rounded up. ``minimum_block_period_ms`` is the MinimumBlockPeriod sent in a
    WAIT_FOR_DATA whose window names none (the raw value: milliseconds or seconds, as the device
    counts it -- the profile's ``minimum_block_period_unit``).
    """

    max_block_size: int = DEFAULT_MAX_BLOCK_SIZE
    upgrade_time: UpgradeTimePolicy = "now"
    upgrade_delay_s: int = 0
    stall_timeout_s: float = 30.0
    final_block_timeout_s: float = 60.0
    query_timeout_s: float = 30.0
    query_jitter: int = 100
    #: From the Upgrade End Response ("now"/"at") or the activation command to the device showing
    #: which version it runs; past it the activation outcome is NOT_OBSERVED.
    activation_timeout_s: float = 120.0
    wait_for_data: tuple[tuple[int, float] | tuple[int, float, int], ...] = ()
    minimum_block_period_ms: int = 0
    require_signature: bool = False
    allow_downgrade: bool = False
    allow_same_version: bool = False
    #: True only in tests that deliberately serve an image that failed verification.
    serve_unverified: bool = False
    #: True only in tests that deliberately offer an image the CH's own identity checks would refuse
    #: (another manufacturer or image type, hardware outside the range), to see the DEVICE refuse it.
    offer_unchecked: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.max_block_size <= 255:
            raise ValueError(f"max_block_size: must be 1..255, got {self.max_block_size}")
        if self.upgrade_time not in ("now", "at", "wait"):
            raise ValueError(f"upgrade_time: must be now|at|wait, got {self.upgrade_time!r}")
        if not 1 <= self.query_jitter <= 100:
            raise ValueError(f"query_jitter: must be 1..100, got {self.query_jitter}")
        for name in ("stall_timeout_s", "final_block_timeout_s", "query_timeout_s", "activation_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")
        for window in self.wait_for_data:
            offset, seconds, *period = window
            if len(window) not in (2, 3) or offset < 0 or seconds <= 0 or any(not 0 <= p <= 0xFFFF for p in period):
                raise ValueError(f"wait_for_data: {window} needs offset >= 0, seconds > 0 and a period of 0..65535")

    def replace(self, **changes: Any) -> OtaServeSettings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_profile(cls, profile: Profile, **overrides: Any) -> OtaServeSettings:
        """Settings from a profile's ``[ota]`` table (``harness.profiles.OtaClientExpectations``)."""
        ota = profile.ota
        values: dict[str, Any] = dict(
            max_block_size=ota.max_block_size,
            upgrade_time=ota.upgrade_time,
            upgrade_delay_s=ota.upgrade_delay_s,
            stall_timeout_s=ota.block_timeout_s,
            query_timeout_s=ota.block_timeout_s,
            query_jitter=ota.query_jitter,
            activation_timeout_s=ota.activation_timeout_s,
            require_signature=ota.require_signature,
        )
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True, slots=True, kw_only=True)
class HubSettings:
    """Radio-side timings of the CommsHub.

    ``connect_attempts``/``connect_backoff_s``: bounded retries when opening the radio (a USB
    dongle re-enumerating after a reset takes a moment to reappear). ``join_timeout_s``: from
    permit-with-link-key to the device's announce; ``interview_timeout_s``: from announce to
    zigpy having read its descriptors. ``permit_duration_s``: how long the join window stays open.
    ``reconnect_timeout_s``: the longest the hub waits for the radio to come back after a lost
    connection before failing the transfers in flight.
    """

    connect_attempts: int = 3
    connect_backoff_s: float = 0.5
    join_timeout_s: float = 30.0
    interview_timeout_s: float = 30.0
    permit_duration_s: int = 60
    reconnect_timeout_s: float = 30.0
    stop_drain_s: float = 2.0  # on stop: how long replies already being sent may take to finish
    reconnect_attempts: int = 10
    #: How long a device asked to leave (to run key establishment afresh) has to answer; zigpy
    #: allows a router the same 7 s.
    leave_timeout_s: float = 7.0
    #: The CH's Smart Energy endpoint (OTA server 0x0019, Key Establishment 0x0800).
    se_endpoint: int = 0x0A
    #: The GPF endpoint (Device Management 0x0708 server, Basic).
    gpf_endpoint: int = 0x0B
    #: An ESI endpoint (DRLC 0x0701 server) for IHDs whose registration needs one; None = none.
    esi_endpoint: int | None = None

    def replace(self, **changes: Any) -> HubSettings:
        return dataclasses.replace(self, **changes)


def zcl_utc(epoch_s: float) -> int:
    """A Unix time as a ZCL UTCTime (seconds since 2000-01-01), clamped to the valid range."""
    value = int(epoch_s) - ZIGBEE_EPOCH_OFFSET_S
    return max(0, min(value, 0xFFFFFFFE))


#: Where the CH puts its ESI endpoint when a rig asks for one.
ESI_ENDPOINT = 0x0C


def with_rig_timings(settings: HubSettings, timings: HubOptions) -> HubSettings:
    """``settings`` with what a rig's ``[hub]`` table sets (join window, join wait, interview, ESI endpoint)."""
    changes = {
        field: value for field, value in (
            ("permit_duration_s", timings.join_window_s),
            ("join_timeout_s", timings.join_wait_s),
            ("interview_timeout_s", timings.interview_s),
            ("esi_endpoint", ESI_ENDPOINT if timings.esi_endpoint else None),
        ) if value is not None
    }
    return settings.replace(**changes) if changes else settings
