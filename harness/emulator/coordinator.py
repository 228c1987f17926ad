"""The emulated NCP: ASH link + EZSP dispatcher + state, and the coordinator of the virtual air.

:class:`EmulatedNcp` implements :class:`harness.emulator.air.Coordinator`: the air reports device
frames, joins and leaves through it, and it turns them into EZSP callbacks. Everything runs on
the emulator's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import bellows.types as t

from .air import COORDINATOR_NWK, ZDO_PROFILE, Air, AirFrame, JoinDecision
from .ash import AshNcp, AshTimings, FrameObserver
from .coordinator_zdo import CoordinatorZdo, Endpoint, eui64_from_display
from .ezsp.cbke import cbke_state
from .ezsp.dispatcher import EzspDispatcher, UnknownCommand
from .ezsp.handlers import handler_table
from .ezsp.status import Status
from .ezsp.versions import profile_for
from .ncp import NcpIdentity, Nvram, RuntimeState
from .zdo_frames import Cmd

LOGGER = logging.getLogger(__name__)

#: ZDO Match_Desc_req: the one device request to the coordinator that its stack answers itself.
MATCH_DESC_REQ = Cmd.Match_Desc_req

#: The wildcard EUI-64 under which a host installs a transient key for "any device".
WILDCARD_EUI64 = b"\xff" * 8


def aps_encrypted(aps_frame: t.EmberApsFrame) -> bool:
    """Whether the host asked for APS encryption with the destination's link key (EmberApsOption
    ENCRYPTION, 0x0020): on the air the frame is then APS-secured, and the device sees it so."""
    return t.EmberApsOption.APS_OPTION_ENCRYPTION in t.EmberApsOption(aps_frame.options)


class EmulatedNcp:
    """An EmberZNet NCP: ASH link + EZSP dispatcher + state, and the coordinator of the air."""

    def __init__(
        self,
        *,
        ezsp_version: int,
        nvram: Nvram,
        write: Callable[[bytes], None],
        identity: NcpIdentity = NcpIdentity(),
        timings: AshTimings = AshTimings(),
        observer: FrameObserver | None = None,
    ) -> None:
        self.profile = profile_for(ezsp_version)
        self.identity = identity
        self.nvram = nvram
        self.state = RuntimeState()
        self.endpoints: dict[int, Endpoint] = {}
        self.known_devices: dict[int, bytes] = {}  # nwk -> display EUI-64, from trust-centre joins
        self.air: Air | None = None
        #: Device frames dropped because they did not decrypt with the NCP's key for the device.
        self.undecryptable_frames: list[AirFrame] = []
        #: Where the NCP notes what it drops (direction, kind, detail): the radio's frame log.
        self.note: Callable[[str, str, str], None] = lambda direction, kind, detail: None
        self._aps_counter = 0
        self._tasks: set[asyncio.Task] = set()
        self.zdo = CoordinatorZdo(nwk=COORDINATOR_NWK, eui64=nvram.eui64, endpoints=self.endpoints)
        self.dispatcher = EzspDispatcher(
            self.profile, handler_table(self.profile), ncp=self, send=self._send_ezsp
        )
        self.link = AshNcp(
            write=write,
            on_data=self.dispatcher.frame_received,
            on_reset=self._on_link_reset,
            timings=timings,
            observer=observer,
        )

    # -- wiring ---------------------------------------------------------------------------------

    def attach_air(self, air: Air) -> None:
        self.air = air

    @property
    def unknown_commands(self) -> list[UnknownCommand]:
        return self.dispatcher.unknown_commands

    def _send_ezsp(self, frame: bytes) -> None:
        self.link.send(frame)

    def _on_link_reset(self) -> None:
        """The NCP rebooted (host RST or its own watchdog): run-time state is gone.

        Kept: NVRAM, and the endpoints from addEndpoint -- bellows registers them once per
        connection, not again after the resets inside a formation, yet interviews the
        coordinator afterwards; the coordinator ZDO must still describe them.
        """
        self.state = RuntimeState()
        self.dispatcher.reset()
        for task in list(self._tasks):
            task.cancel()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run work that completes after the command's response (deliveries, loopbacks, scans).

        A reset cancels it."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            LOGGER.error("NCP task %s failed", task.get_name(), exc_info=task.exception())

    def emit(self, callback_name: str, **values: Any) -> None:
        """Send an EZSP callback (after any response in progress)."""
        self.dispatcher.send_callback(callback_name, values)

    def next_aps_counter(self) -> int:
        self._aps_counter = (self._aps_counter + 1) & 0xFF
        return self._aps_counter

    def persist(self) -> None:
        self.nvram.save()

    # -- network -------------------------------------------------------------------------------

    def bring_network_up(self) -> None:
        """The network is running: tell the host (after the response) and the air."""
        network = self.nvram.network
        assert network is not None
        self.state.network_up = True
        self.emit("stackStatusHandler", status=Status.NETWORK_UP)
        if self.air is not None:
            self.air.network_formed(
                network.channel, network.pan_id, network.extended_pan_id, network.network_key
            )

    # -- traffic from the host -----------------------------------------------------------------

    async def deliver_unicast(
        self, *, destination: int, aps_frame: t.EmberApsFrame, tag: int, message: bytes, message_type: Any
    ) -> None:
        """Carry a sendUnicast, then report it with messageSentHandler (matched on nwk + tag).

        An APS-encrypted frame is secured with this NCP's key for the destination (its key-table
        entry, else the transient key), which the device must hold to decrypt it.
        """
        secured = aps_encrypted(aps_frame)
        eui64 = self.known_devices.get(destination)
        frame = AirFrame(
            src_nwk=COORDINATOR_NWK,
            dst_nwk=destination,
            profile_id=aps_frame.profileId,
            cluster_id=aps_frame.clusterId,
            src_ep=aps_frame.sourceEndpoint,
            dst_ep=aps_frame.destinationEndpoint,
            payload=bytes(message),
            aps_encrypted=secured,
            aps_key=self.aps_link_key_for(eui64) if secured and eui64 is not None else None,
        )
        if destination == COORDINATOR_NWK:
            delivered = True
        elif self.air is None:
            delivered = False
        else:
            delivered = await self.air.unicast(frame)
        self.emit(
            "messageSentHandler",
            status=Status.OK if delivered else Status.DELIVERY_FAILED,
            message_type=message_type,
            nwk=destination,
            aps_frame=aps_frame,
            message_tag=tag,
            message=b"",
        )
        if destination == COORDINATOR_NWK:
            self._loop_back(frame)

    def _loop_back(self, frame: AirFrame) -> None:
        """A frame the host sent to itself: ZDO is answered by our ZDO, anything else returns."""
        if frame.profile_id == ZDO_PROFILE and frame.dst_ep == 0:
            answer = self.zdo.answer(frame.cluster_id, frame.payload)
            if answer is None:
                return
            cluster, payload = answer
            frame = AirFrame(
                src_nwk=COORDINATOR_NWK,
                dst_nwk=COORDINATOR_NWK,
                profile_id=ZDO_PROFILE,
                cluster_id=cluster,
                src_ep=0,
                dst_ep=0,
                payload=payload,
            )
        self.frame_from_device(frame, lqi=255, rssi=0, sender_eui64=self.nvram.eui64)

    async def deliver_broadcast(self, frame: AirFrame) -> None:
        if self.air is not None:
            await self.air.broadcast(frame)

    # -- Coordinator protocol (called by the air) ----------------------------------------------

    @property
    def eui64(self) -> bytes:
        return self.nvram.eui64

    def frame_from_device(
        self, frame: AirFrame, lqi: int, rssi: int, *, sender_eui64: bytes | None = None
    ) -> None:
        if not self.state.network_up:
            LOGGER.debug("network down: dropping frame from 0x%04X", frame.src_nwk)
            return
        if self._answered_by_the_stack(frame):
            return
        eui = sender_eui64 or self.known_devices.get(frame.src_nwk, WILDCARD_EUI64)
        if not self._decrypts(frame, eui):
            return
        self.emit(
            "incomingMessageHandler",
            message_type=(
                t.EmberIncomingMessageType.INCOMING_BROADCAST
                if frame.broadcast
                else t.EmberIncomingMessageType.INCOMING_UNICAST
            ),
            aps_frame=t.EmberApsFrame(
                profileId=frame.profile_id,
                clusterId=frame.cluster_id,
                sourceEndpoint=frame.src_ep,
                destinationEndpoint=frame.dst_ep,
                options=(
                    t.EmberApsOption.APS_OPTION_ENCRYPTION if frame.aps_encrypted else t.EmberApsOption.APS_OPTION_NONE
                ),
                groupId=0,
                sequence=self.next_aps_counter(),
            ),
            nwk=frame.src_nwk,
            eui64=eui64_from_display(eui),
            binding_index=0xFF,
            address_index=0xFF,
            lqi=lqi,
            rssi=rssi,
            timestamp=0,
            message=frame.payload,
        )

    def aps_link_key_for(self, eui64: bytes) -> bytes | None:
        """The link key this NCP secures a device's APS frames with: the device's key-table entry
        (its install-code key as the host imported it, or the key CBKE wrote over it), else the
        transient key the host set for its join; None when the NCP holds neither."""
        entry = cbke_state(self).link_key_for(eui64)
        if entry is not None:
            return entry.reveal_bytes()
        return self.state.transient_keys.get(bytes(eui64))

    def _decrypts(self, frame: AirFrame, eui64: bytes) -> bool:
        """Whether an APS-secured frame from a device decrypts with the key this NCP holds for it.

        A real APS layer drops a frame whose MIC does not verify and tells the host nothing: after
        CBKE a device still securing with its install-code key (a stale key) is not heard. The drop
        is kept in the frame log (``APS-UNDECRYPTABLE``) so a test or a reader of the log sees it.
        """
        if not frame.aps_encrypted or frame.aps_key is None:
            return True
        expected = self.aps_link_key_for(eui64)
        if expected is None or expected == frame.aps_key:
            return True
        self.undecryptable_frames.append(frame)
        self.note("to-host", "APS-UNDECRYPTABLE",
                  f"cluster 0x{frame.cluster_id:04X} from 0x{frame.src_nwk:04X} ({eui64.hex(':').upper()}): "
                  "secured with a key other than the NCP's key-table entry for the device; dropped")
        return False

    def _answered_by_the_stack(self, frame: AirFrame) -> bool:
        """A device's Match_Desc_req to us is answered by the NCP's own ZDO, as EmberZNet does,
        from the endpoints the host registered. True when the host is not to see it.

        The host's CONFIG_APPLICATION_ZDO_FLAGS decide the rest, as on a real NCP:
        APP_HANDLES_ZDO_ENDPOINT_REQUESTS leaves the answer to the host; APP_RECEIVES_SUPPORTED_ZDO_REQUESTS
        (which bellows sets) passes the request on to the host as well -- where zigpy would answer
        it again, so the host must not contradict the stack.
        """
        if not (frame.profile_id == ZDO_PROFILE and frame.dst_ep == 0
                and frame.cluster_id == MATCH_DESC_REQ and frame.src_nwk != COORDINATOR_NWK):
            return False
        flags = t.EmberZdoConfigurationFlags(
            self.state.configuration.get(t.EzspConfigId.CONFIG_APPLICATION_ZDO_FLAGS, 0))
        if t.EmberZdoConfigurationFlags.APP_HANDLES_ZDO_ENDPOINT_REQUESTS in flags:
            return False
        answer = self.zdo.answer(frame.cluster_id, self._as_addressed_to_us(frame))
        # A broadcast Match_Desc_req is answered only by a node that matches (Zigbee 2.4.4.2.7).
        matched = answer is not None and len(answer[1]) > 4 and answer[1][4] > 0
        if answer is not None and self.air is not None and (matched or not frame.broadcast):
            cluster, payload = answer
            reply = AirFrame(COORDINATOR_NWK, frame.src_nwk, ZDO_PROFILE, cluster, 0, 0, payload)
            self.spawn(self.air.unicast(reply), name=f"zdo-answer:0x{frame.src_nwk:04X}")
        return t.EmberZdoConfigurationFlags.APP_RECEIVES_SUPPORTED_ZDO_REQUESTS not in flags

    def _as_addressed_to_us(self, frame: AirFrame) -> bytes:
        """A broadcast Match_Desc_req asks about NWKAddrOfInterest 0xFFFD (everyone): answer for ourselves."""
        if not frame.broadcast or len(frame.payload) < 3:
            return frame.payload
        return frame.payload[:1] + COORDINATOR_NWK.to_bytes(2, "little") + frame.payload[3:]

    def trust_centre_join(
        self, nwk: int, eui64: bytes, *, rejoin: bool, decision: JoinDecision
    ) -> None:
        allowed = decision == "allowed"
        if allowed:
            self.known_devices[nwk] = bytes(eui64)
        self.emit(
            "trustCenterJoinHandler",
            newNodeId=nwk,
            newNodeEui64=eui64_from_display(eui64),
            status=(
                t.EmberDeviceUpdate.STANDARD_SECURITY_SECURED_REJOIN
                if rejoin
                else t.EmberDeviceUpdate.STANDARD_SECURITY_UNSECURED_JOIN
            ),
            policyDecision=(
                t.EmberJoinDecision.USE_PRECONFIGURED_KEY if allowed else t.EmberJoinDecision.DENY_JOIN
            ),
            parentOfNewNodeId=COORDINATOR_NWK,
        )

    def device_left(self, nwk: int, eui64: bytes) -> None:
        self.known_devices.pop(nwk, None)
        self.emit(
            "trustCenterJoinHandler",
            newNodeId=nwk,
            newNodeEui64=eui64_from_display(eui64),
            status=t.EmberDeviceUpdate.DEVICE_LEFT,
            policyDecision=t.EmberJoinDecision.NO_ACTION,
            parentOfNewNodeId=COORDINATOR_NWK,
        )

    def transient_key_for(self, eui64: bytes) -> bytes | None:
        keys = self.state.transient_keys
        own = keys.get(bytes(eui64))
        if own is not None or self.install_code_policy():
            return own  # JOINS_USE_INSTALL_CODE_KEY: the wildcard (well-known key) does not count
        return keys.get(WILDCARD_EUI64)

    def install_code_policy(self) -> bool:
        decision = self.state.policies.get(t.EzspPolicyId.TRUST_CENTER_POLICY, 0)
        return bool(decision & t.EzspDecisionBitmask.JOINS_USE_INSTALL_CODE_KEY)

    # -- faults --------------------------------------------------------------------------------

    def watchdog_reset(self) -> None:
        """The NCP reboots by itself: unsolicited RSTACK(watchdog); the host must reconnect."""
        self.link.unsolicited_reset()

    def close(self) -> None:
        self.link.close()
        for task in list(self._tasks):
            task.cancel()
