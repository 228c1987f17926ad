"""The CH's Key Establishment server: Smart Energy CBKE, Crypto Suite 2, on the CH's SE endpoint.

A GB IHD or PPMID joins with its install-code key, then runs Certificate-Based Key Establishment
(Key Establishment cluster 0x0800; SE 1.x 07-5356 Annex C.3) with the trust centre to get a
trust-centre link key. If the trust centre does not answer, the device gives up and leaves. zigpy
and bellows declare the EZSP CBKE frames but drive none of it; this module does:

* :class:`KeyEstablishmentSession` -- one device's exchange as a state machine
  (:class:`KeState`, :data:`TRANSITIONS`). It checks the device's offer (suite, certificate
  issuer and fields), answers with the CH's certificate read from the NCP, drives the NCP through
  the 283k1 frames (:mod:`harness.hub.ke_ncp`), compares MACU with what the NCP computed, and
  ends with a Confirm Key Response and the link key stored in the NCP's key table -- or with
  Terminate and the status the specification gives for each failure.
* :class:`KeyEstablishmentCore` -- the sessions of every device, independent of zigpy: frames in,
  frames out through a ``send`` callable, outcomes to a callback. Unit tests run it against the
  emulated device's client in-process.
* :class:`KeyEstablishmentServer` -- the zigpy side: an application listener that hands KE frames
  addressed to the SE endpoint to the core (from the first frame, even while zigpy is still
  interviewing the device), sends the answers from the SE endpoint, records evidence, and lets
  :meth:`CommsHub.join <harness.hub.commshub.CommsHub.join>` await a device's outcome.

Failure statuses (Terminate Key Establishment, SE Annex C.3.1.2.3):

=============================================  ==========================  ==================
what went wrong                                 status the CH sends          stage
=============================================  ==========================  ==================
offered suites lack Crypto Suite 2              UNSUPPORTED_SUITE            initiate
certificate issuer is not the CH's CA           UNKNOWN_ISSUER               initiate
certificate type/curve/hash/key usage/subject   INVALID_CERTIFICATE          initiate
certificate of the wrong length, bad sequence   BAD_MESSAGE                  any
MACU does not match                             BAD_KEY_CONFIRM              confirm_key
another exchange holds the NCP too long         NO_RESOURCES                 ephemeral_data
the NCP cannot store the key (key table full)   NO_RESOURCES                 confirm_key
the device stops answering                      none (see below)             where it stopped
=============================================  ==========================  ==================

A timeout sends no Terminate: the SE specification's partner simply stops (Silicon Labs' KE
plugin and zsmartsystems' server both end silently on a timeout, and the device, which has
stopped talking, would not read it). The outcome says TIMEOUT, at the stage that was waiting.

Timings are settings (:class:`KeyEstablishmentSettings`): the generate times the CH advertises,
the margin it adds to the device's advertised times, how long it waits for a device to begin.
Secrets: the link key and the private keys never leave the NCP; the host sees certificates,
ephemeral public keys and MACs only, and outcomes and evidence carry no key material at all.

Devices that fail are not asked to join again in the same run (the run's hub admits every device
during the rig check, and the outcomes are the run's, :class:`KeOutcomeLog`): the device left and
holds off for the Terminate's Wait Time, and its failure is reported once, by the
key-establishment test. ``CommsHub.establish_again`` makes a device run it afresh on purpose.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import zigpy.device
import zigpy.exceptions
import zigpy.types
from zigpy.zcl import foundation

from harness.crypto.cbke import check_peer_certificate
from harness.crypto.ecqv import CryptoSuite, Cs2Certificate
from harness.crypto.errors import CertificateError
from harness.evidence import CheckRecord, Outcome, Record, StageRecord, eui64_text
from harness.hub.errors import CbkeRadioError, HubError, KeStateError
from harness.hub.ke_ncp import CbkeRadio, EzspCbke
from harness.rig import HubOptions, Rig
from harness.zcl_se import (
    KEY_ESTABLISHMENT_CLUSTER,
    SE_PROFILE,
    Command,
    KeFrame,
    KeFrameError,
    KeStage,
    KeyEstablishmentSuite,
    TerminateStatus,
    decode,
    encode,
)

if TYPE_CHECKING:
    from bellows.ezsp import EZSP

    from harness.hub.radio import HubApplication

LOGGER = logging.getLogger(__name__)

S2C = foundation.Direction.Server_to_Client

#: Where the rule comes from, for evidence.
SPEC_SOURCE: Final = ("ZigBee Smart Energy 1.x (07-5356) Annex C.3 Key Establishment cluster; GB HAN: devices run CBKE "
                      "with the CH as trust centre, Crypto Suite 2")
CS2_CERTIFICATE_LENGTH: Final = CryptoSuite.CS2.certificate_length


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyEstablishmentSettings:
    """Every CBKE timing of the CH, named so a bench can stretch them and CI can shrink them.

    ``ephemeral_data_generate_time_s`` / ``confirm_key_generate_time_s``: what the CH advertises in
    its Initiate Key Establishment Response (whole seconds, uint8): how long the device should allow
    the CH for generateCbkeKeys283k1 + calculateSmacs283k1 and for the key confirmation. An EFR32
    NCP takes well under a second per operation; the defaults leave a wide margin.
    ``response_margin_s``: added to the device's advertised generate times before the CH gives up
    on its next message (Silicon Labs' KE plugin adds a 10 s base). ``initiate_timeout_s``: how
    long after the device's announcement the CH waits for its Initiate Key Establishment Request
    when the rig says it requires CBKE. ``terminate_wait_time_s``: the Wait Time put in a
    Terminate (seconds before the device may try again). ``ncp_timeout_s``: each NCP operation.
    """

    ephemeral_data_generate_time_s: int = 11
    confirm_key_generate_time_s: int = 16
    response_margin_s: float = 10.0
    initiate_timeout_s: float = 30.0
    terminate_wait_time_s: int = 30
    ncp_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for name in ("ephemeral_data_generate_time_s", "confirm_key_generate_time_s", "terminate_wait_time_s"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFE:
                raise ValueError(f"{name}: must be 0..254 whole seconds (uint8 on the wire), got {value!r}")
        for name in ("response_margin_s", "initiate_timeout_s", "ncp_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)!r}")


def with_rig_timings(settings: KeyEstablishmentSettings, timings: HubOptions) -> KeyEstablishmentSettings:
    """``settings`` with the CBKE waits and advertised generate times a rig's ``[hub]`` table sets."""
    changes: dict[str, Any] = {
        field: value for field, value in (
            ("initiate_timeout_s", timings.cbke_initiate_wait_s),
            ("response_margin_s", timings.cbke_response_margin_s),
            ("ephemeral_data_generate_time_s", timings.cbke_ephemeral_data_generate_time_s),
            ("confirm_key_generate_time_s", timings.cbke_confirm_key_generate_time_s),
        ) if value is not None
    }
    return dataclasses.replace(settings, **changes) if changes else settings


class KeState(enum.Enum):
    """What a session waits for (the server's side)."""

    AWAIT_INITIATE = "await_initiate"
    AWAIT_EPHEMERAL_DATA = "await_ephemeral_data"
    AWAIT_CONFIRM_KEY = "await_confirm_key"
    ESTABLISHED = "established"
    FAILED = "failed"


class KeInput(enum.Enum):
    INITIATE_ACCEPTED = "initiate_accepted"  # Initiate request checked, response sent
    EPHEMERAL_ANSWERED = "ephemeral_answered"  # QEU in, NCP done, QEV sent
    CONFIRMED = "confirmed"  # MACU matched, key stored, MACV sent
    FAIL = "fail"


_S, _I = KeState, KeInput
TRANSITIONS: Final[dict[tuple[KeState, KeInput], KeState]] = {
    (_S.AWAIT_INITIATE, _I.INITIATE_ACCEPTED): _S.AWAIT_EPHEMERAL_DATA,
    (_S.AWAIT_EPHEMERAL_DATA, _I.EPHEMERAL_ANSWERED): _S.AWAIT_CONFIRM_KEY,
    (_S.AWAIT_CONFIRM_KEY, _I.CONFIRMED): _S.ESTABLISHED,
    (_S.AWAIT_INITIATE, _I.FAIL): _S.FAILED,
    (_S.AWAIT_EPHEMERAL_DATA, _I.FAIL): _S.FAILED,
    (_S.AWAIT_CONFIRM_KEY, _I.FAIL): _S.FAILED,
}

#: The stage a failure is reported at: the exchange under way in that state.
STAGE_OF: Final[dict[KeState, KeStage]] = {
    _S.AWAIT_INITIATE: KeStage.INITIATE,
    _S.AWAIT_EPHEMERAL_DATA: KeStage.EPHEMERAL_DATA,
    _S.AWAIT_CONFIRM_KEY: KeStage.CONFIRM_KEY,
}


@dataclass(frozen=True, slots=True)
class Peer:
    """The device on the other side: its name (rig device or EUI-64), EUI-64 and KE endpoint."""

    name: str
    eui64: bytes  # 8 bytes, display order = the certificate subject's order
    endpoint: int

    @property
    def eui64_text(self) -> str:
        return eui64_text(self.eui64)


@dataclass(frozen=True, slots=True)
class KeOutcome:
    """How one device's key establishment ended, from the CH's side.

    ``status``: SUCCESS, the Terminate status name (sent by either side), TIMEOUT, or NOT_STARTED
    (the device never sent Initiate Key Establishment Request). ``by``: who ended it ("CH",
    "device", or "" on success). ``stage``: established, or the exchange under way when it failed.
    """

    device: str
    eui64: str
    established: bool
    stage: KeStage
    status: str
    by: str
    reason: str
    started: float
    ended: float

    @property
    def seconds(self) -> float:
        return round(self.ended - self.started, 3)

    def describe(self) -> str:
        """One line: what happened, where and why (used in evidence, errors and assertions)."""
        if self.established:
            return f"{self.device} ({self.eui64}): CBKE established in {self.seconds:g} s; TC link key stored on the NCP"
        who = {"CH": "the CH sent Terminate", "device": "the device sent Terminate"}.get(self.by, "")
        status = f"{who} {self.status}" if who and self.status not in ("TIMEOUT", "NOT_STARTED") else self.status
        return (f"{self.device} ({self.eui64}): CBKE failed at {self.stage.spec_name}: "
                f"{status}: {self.reason}")

    def evidence(self) -> CheckRecord:
        observed = self.describe().split(": ", 1)[1]
        outcome = Outcome.PASS if self.established else (
            Outcome.NOT_OBSERVED if self.status in ("TIMEOUT", "NOT_STARTED") else Outcome.FAIL)
        return CheckRecord(
            name="CBKE key establishment", device=self.device,
            rule="the device completes Smart Energy key establishment (Crypto Suite 2, sect283k1) with the CH as "
                 "trust centre and gets a trust-centre link key",
            observed=observed, outcome=outcome, source=SPEC_SOURCE, confidence="high",
            detail=f"stage {self.stage}, status {self.status}" + (f", ended by {self.by}" if self.by else ""),
        )


class _Failure(Exception):
    def __init__(self, status: TerminateStatus | None, reason: str, *, by: str = "CH", result: str | None = None):
        super().__init__(reason)
        self.status, self.reason, self.by = status, reason, by
        self.result = result or (status.name if status is not None else "TIMEOUT")


Send = Callable[[Peer, bytes], Awaitable[None]]


class KeyEstablishmentSession:
    """One device's key establishment with the CH, from its Initiate request to its outcome."""

    def __init__(
        self, peer: Peer, *, radio: CbkeRadio, send: Send, settings: KeyEstablishmentSettings,
        ncp_lock: asyncio.Lock, clock: Callable[[], float], stage: Callable[[Peer, KeStage, str], None],
    ) -> None:
        self.peer = peer
        self.state = KeState.AWAIT_INITIATE
        self._radio, self._send_frame, self.settings = radio, send, settings
        self._ncp_lock, self._clock, self._stage = ncp_lock, clock, stage
        self._inbox: asyncio.Queue[KeFrame] = asyncio.Queue()
        self._holds_ncp = False
        self._tsn = 0
        self.started = clock()

    def _fire(self, event: KeInput) -> None:
        try:
            new = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise KeStateError(f"{self.peer.name}: key establishment session in state {self.state.value!r} "
                               f"cannot take {event.value!r}") from None
        LOGGER.debug("%s: KE %s -> %s (%s)", self.peer.name, self.state.value, new.value, event.value)
        self.state = new

    def deliver(self, frame: KeFrame) -> None:
        self._inbox.put_nowait(frame)

    async def _send(self, command: Command, args: dict[str, Any]) -> None:
        payload = encode(command, args, direction=S2C, tsn=self._tsn, disable_default_response=True)
        try:
            await self._send_frame(self.peer, payload)
        except (zigpy.exceptions.DeliveryError, OSError, TimeoutError) as exc:
            raise _Failure(None, f"could not deliver {command.name.lower()} to the device: {exc}",
                           result="DELIVERY_FAILED") from None

    async def _next(self, wanted: Command, timeout: float) -> KeFrame:
        try:
            frame = await asyncio.wait_for(self._inbox.get(), timeout)
        except TimeoutError:
            raise _Failure(None, f"no {wanted.name.lower()} request from the device within {timeout:g} s") from None
        self._tsn = frame.tsn
        command = int(frame.header.command_id)
        if command == Command.TERMINATE_KEY_ESTABLISHMENT:
            raise _Failure(TerminateStatus(int(frame.args.status_code)),
                           f"the device ended it (wait time {int(frame.args.wait_time)} s)", by="device")
        if command != wanted:
            raise _Failure(TerminateStatus.BAD_MESSAGE,
                           f"expected {wanted.name.lower()} request, got {frame.command.name}")
        return frame

    async def run(self, initiate: KeFrame) -> KeOutcome:
        """The whole exchange; never raises for a device's fault (that is the outcome)."""
        self._tsn = initiate.tsn
        try:
            await self._exchange(initiate)
        except _Failure as failure:
            return await self._failed(failure)
        except CbkeRadioError as exc:
            return await self._failed(_Failure(TerminateStatus.NO_RESOURCES, f"the NCP failed: {exc}"))
        finally:
            await self._release_ncp(store=False)
        self._fire(KeInput.CONFIRMED)
        self._stage(self.peer, KeStage.ESTABLISHED, "trust-centre link key stored in the NCP's key table")
        return KeOutcome(device=self.peer.name, eui64=self.peer.eui64_text, established=True, stage=KeStage.ESTABLISHED,
                         status="SUCCESS", by="", reason="MACU and MACV verified; link key stored on the NCP",
                         started=self.started, ended=self._clock())

    async def _failed(self, failure: _Failure) -> KeOutcome:
        stage = STAGE_OF[self.state]  # a failure ends a waiting state (a KeStateError otherwise)
        if failure.status is not None and failure.by == "CH":
            try:
                await self._send(Command.TERMINATE_KEY_ESTABLISHMENT, {
                    "status_code": failure.status, "wait_time": self.settings.terminate_wait_time_s,
                    "key_establishment_suite": KeyEstablishmentSuite.CRYPTO_SUITE_2,
                })
            except _Failure as undelivered:
                LOGGER.info("%s: Terminate not delivered: %s", self.peer.name, undelivered.reason)
        self._fire(KeInput.FAIL)
        self._stage(self.peer, KeStage.FAILED, f"at {stage.spec_name}: {failure.result}: {failure.reason}")
        return KeOutcome(device=self.peer.name, eui64=self.peer.eui64_text, established=False, stage=stage,
                         status=failure.result, by=failure.by if failure.status is not None else "",
                         reason=failure.reason, started=self.started, ended=self._clock())

    async def _release_ncp(self, *, store: bool) -> None:
        """Clear the NCP's temporary data, storing the link key when asked; a failed store raises."""
        if not self._holds_ncp:
            return
        self._holds_ncp = False
        try:
            await self._radio.clear(store)
        except CbkeRadioError as exc:
            if store:  # the device would use a key the trust centre does not hold: not established
                raise _Failure(TerminateStatus.NO_RESOURCES,
                               f"the NCP could not store the link key ({exc}); with a full key table raise "
                               "CONFIG_KEY_TABLE_SIZE in the rig's [radio.ezsp_config]") from None
            LOGGER.warning("%s: clearing the NCP's CBKE data failed: %s", self.peer.name, exc)
        finally:
            self._ncp_lock.release()

    async def _exchange(self, initiate: KeFrame) -> None:
        settings, peer = self.settings, self.peer
        request = initiate.args
        self._stage(peer, KeStage.INITIATE, f"suite 0x{int(request.key_establishment_suite):04X}")

        # Initiate Key Establishment: suite, issuer, certificate fields -- in the order SE C.3.1.2.3 checks them.
        offered = KeyEstablishmentSuite(int(request.key_establishment_suite))
        if not offered & KeyEstablishmentSuite.CRYPTO_SUITE_2:
            raise _Failure(TerminateStatus.UNSUPPORTED_SUITE,
                           f"the device offered suite 0x{int(offered):04X}; the CH supports Crypto Suite 2 (0x0002) only")
        identity = bytes(request.identity)
        if len(identity) != CS2_CERTIFICATE_LENGTH:
            raise _Failure(TerminateStatus.BAD_MESSAGE,
                           f"its certificate is {len(identity)} bytes; a Crypto Suite 2 certificate is 74")
        own = await self._radio.certificate()
        issuer, own_issuer = (Cs2Certificate.read_field(cert, "issuer") for cert in (identity, own))
        if issuer != own_issuer:
            raise _Failure(TerminateStatus.UNKNOWN_ISSUER,
                           f"certificate issuer {issuer.hex().upper()} is not the CH's CA {own_issuer.hex().upper()}")
        try:
            check_peer_certificate(identity, suite=CryptoSuite.CS2, partner_eui64=peer.eui64)
        except CertificateError as exc:
            raise _Failure(TerminateStatus.INVALID_CERTIFICATE, str(exc)) from None
        await self._send(Command.INITIATE_KEY_ESTABLISHMENT, {
            "key_establishment_suite": KeyEstablishmentSuite.CRYPTO_SUITE_2,
            "ephemeral_data_generate_time": settings.ephemeral_data_generate_time_s,
            "confirm_key_generate_time": settings.confirm_key_generate_time_s,
            "identity": own,
        })
        self._fire(KeInput.INITIATE_ACCEPTED)

        # Ephemeral Data: QEU in; the NCP makes QEV, which goes out at once -- a Silicon Labs
        # responder answers from its key-generation callback and computes the MACs afterwards,
        # while the device computes its own (reference §2) -- then the NCP computes both MACs.
        frame = await self._next(Command.EPHEMERAL_DATA,
                                 int(request.ephemeral_data_generate_time) + settings.response_margin_s)
        self._stage(peer, KeStage.EPHEMERAL_DATA, "QEU received")
        try:
            await asyncio.wait_for(self._ncp_lock.acquire(), settings.ncp_timeout_s)
        except TimeoutError:
            raise _Failure(TerminateStatus.NO_RESOURCES,
                           "the NCP's CBKE temporary data is in use by another device's key establishment") from None
        self._holds_ncp = True
        qev = await self._radio.generate_keys()
        await self._send(Command.EPHEMERAL_DATA, {"ephemeral_data": qev})
        macu, macv = await self._radio.calculate_smacs(identity, bytes(frame.args.ephemeral_data))
        self._fire(KeInput.EPHEMERAL_ANSWERED)

        # Confirm Key: MACU in and compared; on a match the key is stored, then MACV goes out.
        frame = await self._next(Command.CONFIRM_KEY_DATA,
                                 int(request.confirm_key_generate_time) + settings.response_margin_s)
        self._stage(peer, KeStage.CONFIRM_KEY, "MACU received")
        if bytes(frame.args.secure_message_authentication_code) != macu:
            raise _Failure(TerminateStatus.BAD_KEY_CONFIRM, "the device's MACU does not match the MACU the NCP computed")
        await self._release_ncp(store=True)
        await self._send(Command.CONFIRM_KEY_DATA, {"secure_message_authentication_code": macv})


Outcomes = Callable[[KeOutcome], None]


class KeyEstablishmentCore:
    """Every device's session, independent of zigpy: KE frames in, frames and outcomes out."""

    def __init__(
        self, *, radio: CbkeRadio, send: Send, settings: KeyEstablishmentSettings | None = None,
        clock: Callable[[], float] = time.time, on_outcome: Outcomes | None = None,
        on_stage: Callable[[Peer, KeStage, str], None] | None = None,
    ) -> None:
        self.radio = radio
        self.settings = settings or KeyEstablishmentSettings()
        self._send = send
        self._clock = clock
        self._on_outcome = on_outcome
        self._on_stage = on_stage
        self._ncp_lock = asyncio.Lock()
        self.sessions: dict[bytes, KeyEstablishmentSession] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._session_tasks: dict[bytes, asyncio.Task[Any]] = {}
        self.outcomes: list[KeOutcome] = []
        self._started: dict[bytes, list[asyncio.Future[None]]] = {}
        self._waiters: dict[bytes, list[asyncio.Future[KeOutcome]]] = {}

    def frame_received(self, peer: Peer, payload: bytes) -> None:
        """A Key Establishment frame from ``peer`` to the CH's KE server."""
        try:
            frame = decode(payload)
        except KeFrameError as exc:
            LOGGER.info("%s: malformed Key Establishment frame: %s", peer.name, exc)
            return
        if frame is None or frame.header.direction == S2C:
            return  # general commands, and responses to a KE client the CH does not run
        session = self.sessions.get(peer.eui64)
        active = session is not None and session.state not in (KeState.ESTABLISHED, KeState.FAILED)
        if int(frame.header.command_id) == Command.INITIATE_KEY_ESTABLISHMENT:
            if active:
                LOGGER.info("%s: a new Initiate Key Establishment replaces the exchange in progress", peer.name)
            self._start(peer, frame)
        elif active:
            assert session is not None
            session.deliver(frame)
        else:
            LOGGER.info("%s: %s outside a key establishment; ignored", peer.name, frame.command.name)

    def _start(self, peer: Peer, initiate: KeFrame) -> None:
        old_task = self._session_tasks.pop(peer.eui64, None)
        if old_task is not None and not old_task.done():
            old_task.cancel()  # the device started over (after its own timeout, say): the new run counts
        session = KeyEstablishmentSession(
            peer, radio=self.radio, send=self._send, settings=self.settings, ncp_lock=self._ncp_lock,
            clock=self._clock, stage=self._stage,
        )
        self.sessions[peer.eui64] = session
        for future in self._started.pop(peer.eui64, []):
            if not future.done():
                future.set_result(None)
        task = asyncio.get_running_loop().create_task(self._run(session, initiate), name=f"cbke:{peer.name}")
        self._session_tasks[peer.eui64] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, session: KeyEstablishmentSession, initiate: KeFrame) -> None:
        outcome = await session.run(initiate)
        self.outcomes.append(outcome)
        if self._on_outcome is not None:
            self._on_outcome(outcome)
        for future in self._waiters.pop(session.peer.eui64, []):
            if not future.done():
                future.set_result(outcome)

    def _stage(self, peer: Peer, stage: KeStage, detail: str) -> None:
        if self._on_stage is not None:
            self._on_stage(peer, stage, detail)

    def expect(self, eui64: bytes) -> tuple[asyncio.Future[None], asyncio.Future[KeOutcome]]:
        """(started, outcome) of the device's NEXT key establishment; register before it can begin."""
        loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = loop.create_future()
        outcome: asyncio.Future[KeOutcome] = loop.create_future()
        self._started.setdefault(bytes(eui64), []).append(started)
        self._waiters.setdefault(bytes(eui64), []).append(outcome)
        return started, outcome

    def not_started(self, peer_name: str, eui64: bytes, since: float, waited_s: float) -> KeOutcome:
        outcome = KeOutcome(
            device=peer_name, eui64=eui64_text(eui64), established=False, stage=KeStage.INITIATE, status="NOT_STARTED",
            by="", reason=f"it never sent Initiate Key Establishment Request within {waited_s:g} s of joining",
            started=since, ended=self._clock())
        self.outcomes.append(outcome)
        if self._on_outcome is not None:
            self._on_outcome(outcome)
        return outcome

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class KeOutcomeLog:
    """The latest key-establishment outcome of each device under test, for one run.

    Owned by the run (:class:`harness.hub.run.HubRun`), not by a hub: a hub started again in the
    same run (after the radio check, say) still knows which devices failed, and does not ask them
    to join again. A hub made on its own gets a log of its own.
    """

    def __init__(self) -> None:
        self._latest: dict[str, KeOutcome] = {}

    def record(self, outcome: KeOutcome) -> None:
        self._latest[outcome.device] = outcome

    def latest(self, device: str) -> KeOutcome | None:
        return self._latest.get(device)

    def __len__(self) -> int:
        return len(self._latest)


class KeyEstablishmentServer:
    """The CH's KE server on zigpy: listener, sender, evidence, and the join's wait for an outcome.

    Registered as a zigpy application listener (``app.add_listener(server)``), it sees every frame
    the application hears -- including those zigpy would drop because the device is still being
    interviewed -- and takes the Key Establishment ones addressed to the SE endpoint. zigpy's own
    ``KeyEstablishment`` stub has no commands, so it parses none of them and answers none.
    """

    def __init__(
        self, *, rig: Rig, app: Callable[[], HubApplication | None], sink: Callable[[Record], None],
        se_endpoint: int, settings: KeyEstablishmentSettings | None = None, clock: Callable[[], float] = time.time,
        radio: CbkeRadio | None = None, outcomes: KeOutcomeLog | None = None,
    ) -> None:
        """``outcomes``: the run's log of outcomes (a fresh one when the hub has no run)."""
        self.rig = rig
        self._app = app
        self._sink = sink
        self.se_endpoint = se_endpoint
        self._clock = clock
        self.run_outcomes = outcomes if outcomes is not None else KeOutcomeLog()
        settings = settings or KeyEstablishmentSettings()
        self.radio: CbkeRadio = radio or EzspCbke(self._current_ezsp, timeout_s=settings.ncp_timeout_s)
        self.core = KeyEstablishmentCore(radio=self.radio, send=self._send, settings=settings, clock=clock,
                                         on_outcome=self._outcome, on_stage=self._stage)
        self._devices: dict[bytes, zigpy.device.Device] = {}  # display EUI-64 -> zigpy device (to answer it)
        self._supported: bool | None = None
        self._again: set[str] = set()  # devices asked to run key establishment again, even after a failure

    def _current_ezsp(self) -> EZSP | None:
        """The application's EZSP connection now (a reconnect replaces it), or None without a radio."""
        app = self._app()
        return app.ezsp if app is not None else None

    @property
    def settings(self) -> KeyEstablishmentSettings:
        return self.core.settings

    @settings.setter
    def settings(self, value: KeyEstablishmentSettings) -> None:
        self.core.settings = value

    @property
    def outcomes(self) -> list[KeOutcome]:
        """Every outcome this hub saw, in order."""
        return list(self.core.outcomes)

    def outcome(self, device: str) -> KeOutcome | None:
        """The latest outcome for a device under test in this run, or None if none was seen."""
        return self.run_outcomes.latest(device)

    def ask_again(self, device: str) -> None:
        """Let the device's next admission run key establishment even if it failed earlier in the run."""
        self._again.add(device)

    # -- zigpy listener -------------------------------------------------------------------------
    def handle_message(self, device: zigpy.device.Device, profile: int, cluster: int, src_ep: int, dst_ep: int,
                       data: bytes) -> None:
        if profile != SE_PROFILE or cluster != KEY_ESTABLISHMENT_CLUSTER or dst_ep != self.se_endpoint:
            return
        eui = bytes(device.ieee)[::-1]
        self._devices[eui] = device
        self.core.frame_received(Peer(self._name_for(eui), eui, src_ep), data)

    def _name_for(self, eui: bytes) -> str:
        for dut in self.rig.devices:
            if bytes(dut.eui64) == eui:
                return str(dut.name)
        return eui64_text(eui)

    async def _send(self, peer: Peer, payload: bytes) -> None:
        device = self._devices[peer.eui64]
        hdr, _ = foundation.ZCLHeader.deserialize(payload)
        await device.request(profile=SE_PROFILE, cluster=KEY_ESTABLISHMENT_CLUSTER, src_ep=self.se_endpoint,
                             dst_ep=peer.endpoint, sequence=hdr.tsn, data=payload, expect_reply=False)

    # -- evidence ---------------------------------------------------------------------------------
    def _stage(self, peer: Peer, stage: KeStage, detail: str) -> None:
        self._sink(StageRecord(device=peer.name, stage=stage.record_label, t=self._clock(), detail=detail))

    def _outcome(self, outcome: KeOutcome) -> None:
        log = LOGGER.info if outcome.established else LOGGER.warning
        log("%s", outcome.describe())
        self.run_outcomes.record(outcome)
        self._sink(outcome.evidence())

    # -- radio support ------------------------------------------------------------------------------
    async def ensure_radio_support(self) -> None:
        """Fail in one line if the radio cannot do CBKE while a device under test requires it.

        Asked once, before the first join of a device with ``cbke_required``: getCertificate283k1
        fails (invalidCommand, LIBRARY_NOT_PRESENT) on an NCP image built without the CBKE library
        or without a Crypto Suite 2 certificate in its manufacturing tokens.
        """
        if self._supported:
            return
        needing = [d.name for d in self.rig.devices if d.cbke_required]
        try:
            await self.radio.certificate()
        except CbkeRadioError as exc:
            self._supported = False
            raise HubError(
                f"radio: no CBKE support ({exc}), but {', '.join(needing) or 'a device'} requires CBKE: use an NCP "
                "image built with the CBKE 283k1 library and a Crypto Suite 2 certificate in its tokens (README, "
                "'Real benches: key establishment')"
            ) from None
        self._supported = True

    # -- joining ------------------------------------------------------------------------------------
    async def admit(self, name: str, eui64: bytes,
                    admission: Callable[[], Awaitable[zigpy.device.Device]]) -> zigpy.device.Device | None:
        """Admit a device that requires CBKE: its join and interview, and its key establishment.

        ``admission()`` is the plain join (install-code key, announce, interview). The waiter for
        the device's key establishment is registered before the join window opens, because a
        device starts CBKE straight after it announces -- often before zigpy's interview ends. A
        device that fails CBKE leaves the HAN, so the join is not awaited any further then.

        Returns zigpy's device on success, None when key establishment failed (the outcome is in
        the evidence and in :meth:`outcome`). A device zigpy already knows (from the run's
        database) is not asked to join again, so no key establishment happens; nor is one that
        failed key establishment earlier in the run (it left, and holds off for the Wait Time of
        the Terminate it got): its failure stands, and is reported once, by the key-establishment
        test. :meth:`ask_again` (``CommsHub.establish_again``) is how to make it try again.
        """
        await self.ensure_radio_support()
        earlier = self.outcome(name)
        if earlier is not None and not earlier.established and name not in self._again:
            LOGGER.info("%s: not asked to join again in this run: %s", name, earlier.describe())
            return None
        self._again.discard(name)
        app = self._app()
        known = app.devices.get(_zigpy_ieee(eui64)) if app is not None else None
        if known is not None and known.is_initialized:
            return await admission()
        started, finished = self.core.expect(eui64)
        joining = asyncio.ensure_future(admission())
        try:
            either: set[asyncio.Future[Any]] = {joining, finished}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if finished.done() and not finished.result().established:
                return None  # it failed and left: its join may never complete
            device = await joining
            since = self._clock()
            try:
                await asyncio.wait_for(asyncio.shield(started), self.settings.initiate_timeout_s)
            except TimeoutError:
                self.core.not_started(name, eui64, since, self.settings.initiate_timeout_s)
                return None
            outcome = await finished
            return device if outcome.established else None
        finally:
            if not joining.done():
                joining.cancel()
                await asyncio.gather(joining, return_exceptions=True)

    async def close(self) -> None:
        await self.core.close()


def _zigpy_ieee(display: bytes) -> zigpy.types.EUI64:
    return zigpy.types.EUI64(bytes(display)[::-1])


__all__ = [
    "KeInput",
    "KeOutcome",
    "KeOutcomeLog",
    "KeState",
    "KeStateError",
    "KeyEstablishmentCore",
    "KeyEstablishmentServer",
    "KeyEstablishmentSession",
    "KeyEstablishmentSettings",
    "Peer",
    "STAGE_OF",
    "TRANSITIONS",
]
