"""The emulated device's Key Establishment client: CBKE (Crypto Suite 2) with the trust centre.

A GB IHD or PPMID joins with its install-code key and then, as the initiator U, runs
Certificate-Based Key Establishment with the trust centre's Key Establishment server (the CH,
at the endpoint the device found with Match_Desc_req, :mod:`.discovery`) to replace that key with a trust-centre link key (SE 1.x
07-5356 Annex C.3; security test-vector notes §5). If the trust centre refuses, or does not
answer in time, the device gives up and leaves the HAN.

The exchange is a state machine (:class:`KeState`, :data:`TRANSITIONS`): the client waits for
one server command at a time, and every input the current state does not allow is an error
naming both. The cryptography is real (:mod:`harness.crypto`): the certificate comes from the
emulator's test CA (:mod:`harness.emulator.cbke_ca`), the partner's certificate is checked the
way SE §C.3.1.2.3.1.2 asks (type, curve, hash, key usage, issuer, subject = the trust centre), and
the MACs are HMAC-AES-MMO over the ECMQV-derived MacKey. A defect therefore fails where it would
on a bench, not where a flag says so.

What the device does wrong, if anything, comes from its behaviour (:mod:`.behaviours`), asked at
four hook points: which suites it offers (``cbke_suites``), which CA issued its certificate
(``cbke_certificate_authority``), what MACU it sends (``cbke_confirm_key``), and whether it stops
half way (``cbke_stops_before_confirm_key``). The four defects are ``cbke_suite1_only``,
``cbke_foreign_issuer``, ``cbke_bad_confirm_key`` and ``cbke_never_finishes``.

Events the client records on the device's timeline (never a key, only a fingerprint):
``cbke_started`` (suite, issuer), ``cbke_sent`` / ``cbke_received`` (command), ``cbke_established``
(key_fingerprint, seconds), ``cbke_failed`` (stage, status, by, reason), ``cbke_stalled`` (stage),
``cbke_abandoned`` (why).
"""

from __future__ import annotations

import asyncio
import enum
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from zigpy.zcl import foundation

from harness.crypto.cbke import (
    KeyEstablishmentKeys,
    Role,
    calculate_keys,
    check_peer_certificate,
    generate_ephemeral_key,
)
from harness.crypto.ecqv import CryptoSuite, DeviceCredentials, KeyPair
from harness.crypto.errors import CertificateError, CryptoError, KeyEstablishmentError
from harness.emulator.air import AirFrame
from harness.emulator.cbke_ca import EmulatorCa, default_ca
from harness.emulator.devices.zcl import GeneralCommand, general_frame
from harness.secret import Secret
from harness.zcl_se import (
    KEY_ESTABLISHMENT_CLUSTER,
    MAC_LENGTH,
    Command,
    KeFrame,
    KeFrameError,
    KeStage,
    KeyEstablishmentSuite,
    TerminateStatus,
    decode,
    encode,
    status_name,
)

if TYPE_CHECKING:
    from .device import EmulatedDevice

C2S = foundation.Direction.Client_to_Server

#: KeyEstablishmentSuite, the Key Establishment server's attribute 0x0000.
SUITE_ATTRIBUTE = 0x0000
#: The data types a Silicon Labs device accepts for it: enum16 (0x31) and bitmap16 (0x19).
SUITE_TYPES = (0x31, 0x19)


def suite_record_problem(records: list[Any]) -> str | None:
    """Why a Read Attributes Response for the suite would be ignored by a real device, or None."""
    if len(records) != 1:
        return f"{len(records)} records, exactly one expected"
    record = records[0]
    if int(record.attrid) != SUITE_ATTRIBUTE:
        return f"attribute 0x{int(record.attrid):04X}, 0x0000 expected"
    if record.status != foundation.Status.SUCCESS:
        return f"status {foundation.Status(record.status).name}"
    if int(record.value.type) not in SUITE_TYPES:
        return f"type 0x{int(record.value.type):02X}, enum16 (0x31) or bitmap16 (0x19) expected"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyEstablishmentTimings:
    """The device's own CBKE timings, named so tests scale them.

    The two generate times are what the device advertises in Initiate Key Establishment Request
    (whole seconds on the wire); the trust centre adds them to its own timeouts.
    ``tc_answer_timeout_s`` is how long the device waits for the trust centre to answer its
    Initiate request before it gives up and leaves (a CH without a KE server never answers).
    ``margin_s`` is added to the trust centre's advertised generate times while the device waits
    for each later response. The defaults are Silicon Labs' (``DEFAULT_*_TIME_SECONDS`` 11 s and
    16 s, ``KEY_ESTABLISHMENT_TIMEOUT_BASE_SECONDS`` 10 s; reference §2): every stage waits 10 s
    plus the partner's advertised time, and a timeout ends the run without a Terminate.
    """

    ephemeral_data_generate_time_s: int = 11
    confirm_key_generate_time_s: int = 16
    tc_answer_timeout_s: float = 10.0
    margin_s: float = 10.0
    #: Hold-off after a failure that came with no Wait Time (a timeout, or the device's own refusal).
    retry_after_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("ephemeral_data_generate_time_s", "confirm_key_generate_time_s"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFE:
                raise ValueError(f"{name}: must be 0..254 whole seconds (uint8 on the wire), got {value!r}")


class KeState(enum.Enum):
    """What the client waits for."""

    IDLE = "idle"
    AWAIT_INITIATE_RESPONSE = "await_initiate_response"
    AWAIT_EPHEMERAL_RESPONSE = "await_ephemeral_response"
    AWAIT_CONFIRM_RESPONSE = "await_confirm_response"
    STALLED = "stalled"  # the cbke_never_finishes defect: it stops talking
    ESTABLISHED = "established"
    FAILED = "failed"


class KeInput(enum.Enum):
    START = "start"
    INITIATE_RESPONSE = "initiate_response"  # accepted (suite and certificate checked)
    EPHEMERAL_RESPONSE = "ephemeral_response"  # QEV received, keys derived
    CONFIRM_RESPONSE = "confirm_response"  # MACV verified
    STALL = "stall"
    FAIL = "fail"  # Terminate from the server, a refused message, a timeout


S, I = KeState, KeInput
_WAITING = (S.AWAIT_INITIATE_RESPONSE, S.AWAIT_EPHEMERAL_RESPONSE, S.AWAIT_CONFIRM_RESPONSE)

TRANSITIONS: Final[dict[tuple[KeState, KeInput], KeState]] = {
    **{(state, I.START): S.AWAIT_INITIATE_RESPONSE for state in (S.IDLE, S.ESTABLISHED, S.FAILED, S.STALLED)},
    (S.AWAIT_INITIATE_RESPONSE, I.INITIATE_RESPONSE): S.AWAIT_EPHEMERAL_RESPONSE,
    (S.AWAIT_EPHEMERAL_RESPONSE, I.EPHEMERAL_RESPONSE): S.AWAIT_CONFIRM_RESPONSE,
    (S.AWAIT_CONFIRM_RESPONSE, I.STALL): S.STALLED,
    (S.AWAIT_CONFIRM_RESPONSE, I.CONFIRM_RESPONSE): S.ESTABLISHED,
    **{(state, I.FAIL): S.FAILED for state in _WAITING},
}

#: The stage a failure is reported at: the exchange that was under way.
STAGE_OF: Final[dict[KeState, KeStage]] = {
    S.AWAIT_INITIATE_RESPONSE: KeStage.INITIATE,
    S.AWAIT_EPHEMERAL_RESPONSE: KeStage.EPHEMERAL_DATA,
    S.AWAIT_CONFIRM_RESPONSE: KeStage.CONFIRM_KEY,
}

#: The response command the client waits for in each state.
EXPECTED: Final[dict[KeState, Command]] = {
    S.AWAIT_INITIATE_RESPONSE: Command.INITIATE_KEY_ESTABLISHMENT,
    S.AWAIT_EPHEMERAL_RESPONSE: Command.EPHEMERAL_DATA,
    S.AWAIT_CONFIRM_RESPONSE: Command.CONFIRM_KEY_DATA,
}


class KeStateError(RuntimeError):
    """An input the client's state does not allow (a bug in the client, not a device defect)."""


@dataclass(frozen=True, slots=True)
class KeResult:
    """How one run ended, from the device's side."""

    established: bool
    stage: KeStage  # established, or where it failed (discovery, or the exchange under way)
    status: str  # SUCCESS, a Terminate status name, TIMEOUT, STALLED, ABANDONED, NO_SERVER
    by: str  # who ended it: "device", "trust centre", or "" on success
    reason: str


class _Failure(Exception):
    """Ends a run: the status to send in Terminate (None: send none) and why."""

    def __init__(self, status: TerminateStatus | None, reason: str, *, by: str = "device", result: str | None = None,
                 wait_time_s: int | None = None):
        super().__init__(reason)
        self.status, self.reason, self.by, self.wait_time_s = status, reason, by, wait_time_s
        self.result = result or (status.name if status is not None else "TIMEOUT")


class KeyEstablishmentClient:
    """The device's KE client. One run at a time; the device calls :meth:`after_join`."""

    def __init__(self, device: EmulatedDevice, *, timings: KeyEstablishmentTimings | None = None) -> None:
        self.device = device
        self.timings = timings or KeyEstablishmentTimings()
        #: The CA that provisions this device; None = the emulator's default test CA.
        self.ca: EmulatorCa | None = None
        self.state = KeState.IDLE
        self.link_key: Secret | None = None  # the trust-centre link key from the last successful run
        self.results: list[KeResult] = []
        self._waiting: asyncio.Future[KeFrame] | None = None
        self._suite_answer: asyncio.Future[int] | None = None
        self._suite_tsn: int | None = None
        self._hold_off_until = 0.0

    # -- state machine ------------------------------------------------------------------------
    def _fire(self, event: KeInput, **details: Any) -> None:
        try:
            new = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise KeStateError(
                f"{self.device.name}: key establishment in state {self.state.value!r} cannot take {event.value!r}"
            ) from None
        self.device.events.record("cbke_state", old=self.state.value, new=new.value, input=event.value, **details)
        self.state = new

    # -- what the device does after a join -------------------------------------------------------
    def may_join(self) -> bool:
        """False while the device holds off after a failed CBKE.

        After Terminate the device waits the trust centre's Wait Time (SE Annex C.3.1.2.3; scaled
        like every server-dictated wait by ``DeviceTimings.time_scale``), after a failure without
        one its own ``retry_after_s``; then it joins again the next time it sees a join window.
        Without this a refused device would rejoin in every window the CH opens for others.
        """
        return self.device.clock() >= self._hold_off_until

    @property
    def required(self) -> bool:
        return bool(getattr(self.device.settings, "cbke_required", False))

    async def after_join(self, rejoin: bool) -> bool:
        """Run CBKE if this join needs it; True when the device may go on (no CBKE needed, or done).

        A fresh join needs it; a secure rejoin with a trust-centre link key already held does not
        (the device kept its key, as a real one keeps it in flash). On failure the device leaves
        the HAN and False is returned; a stalled run (``cbke_never_finishes``) also returns False,
        with the device left hanging on the network.
        """
        if not self.required or (rejoin and self.link_key is not None):
            return True
        if self.device.services.endpoint(KEY_ESTABLISHMENT_CLUSTER) is None:
            return self._no_server()
        result = await self.run()
        if result.established:
            return True
        if result.status not in ("STALLED", "ABANDONED") and self.device.joined:
            self.device.leave_after_failed_key_establishment(f"CBKE failed at {result.stage}: {result.reason}")
        return False

    def _no_server(self) -> bool:
        """No Key Establishment server was found: the device cannot run CBKE, so it leaves."""
        reason = "no Key Establishment server found: the coordinator's Match_Desc_rsp named none"
        self.results.append(KeResult(False, KeStage.DISCOVERY, "NO_SERVER", "device", reason))
        self.device.events.record("cbke_failed", stage=KeStage.DISCOVERY, status="NO_SERVER", by="device", reason=reason)
        self._hold_off_until = self.device.clock() + self.timings.retry_after_s
        if self.device.joined:
            self.device.leave_after_failed_key_establishment(reason)
        return False

    async def run(self) -> KeResult:
        """One Key Establishment run with the trust centre; the result is also kept in :attr:`results`."""
        device, behaviour = self.device, self.device.behaviour
        self.link_key = None
        offered = behaviour.cbke_suites()
        if behaviour.cbke_reads_suite():
            trust_centre_suites = await self._read_trust_centre_suites()
            if trust_centre_suites is None:
                return self._suite_read_failed()
            # 283k1 if both sides have it, else 163k1 (Silicon Labs' ReadAttributesCallback; 0 counts as 163k1).
            chosen = 0x0002 if offered & trust_centre_suites & 0x0002 else 0x0001
        else:
            chosen = 0x0001  # never asked what the trust centre supports: the old default, Crypto Suite 1
        suites = KeyEstablishmentSuite(chosen)
        suite = CryptoSuite.CS2 if suites & KeyEstablishmentSuite.CRYPTO_SUITE_2 else CryptoSuite.CS1
        authority = behaviour.cbke_certificate_authority() if suite is CryptoSuite.CS2 else "cs1"
        ca = self.ca or default_ca()
        credentials = await asyncio.to_thread(ca.credentials, device.eui64, authority=authority)
        self._fire(KeInput.START, suite=int(suites))
        started = device.clock()
        device.events.record("cbke_started", suite=f"0x{int(suites):04X}", issuer=credentials.certificate.issuer.hex().upper())
        try:
            keys = await self._exchange(suites, suite, credentials, ca)
        except _Failure as failure:
            return self._end_failed(failure)
        except asyncio.CancelledError:
            raise
        self.link_key = Secret(keys.key_data.reveal(), origin=f"{device.name} trust-centre link key (CBKE)")
        self._fire(KeInput.CONFIRM_RESPONSE)
        seconds = round(device.clock() - started, 3)
        device.events.record("cbke_established", key_fingerprint=self.link_key.fingerprint(), seconds=seconds)
        result = KeResult(True, KeStage.ESTABLISHED, "SUCCESS", "", f"trust-centre link key established in {seconds:g} s")
        self.results.append(result)
        return result

    async def _read_trust_centre_suites(self) -> int | None:
        """Read the trust centre's KeyEstablishmentSuite attribute (0x0800 / 0x0000) before Initiate.

        Accepted only as exactly one record for attribute 0x0000 with SUCCESS and type enum16 or
        bitmap16 (Silicon Labs ``process-global-message.c``); anything else is ignored and the
        stage timer runs out, after which the device gives up without a Terminate (reference §2.3).
        """
        device = self.device
        loop = asyncio.get_running_loop()
        self._suite_answer = loop.create_future()
        tsn = device.next_tsn()
        self._suite_tsn = tsn
        device.events.record("cbke_suite_read_sent")
        device.send_zcl(KEY_ESTABLISHMENT_CLUSTER, general_frame(
            tsn, GeneralCommand.Read_Attributes, {"attribute_ids": [SUITE_ATTRIBUTE]}, direction=C2S))
        try:
            return await asyncio.wait_for(self._suite_answer, self.timings.tc_answer_timeout_s)
        except TimeoutError:
            return None
        finally:
            self._suite_answer = None

    def on_suite_response(self, tsn: int, records: list[Any]) -> None:
        """A Read Attributes Response on the Key Establishment cluster (the suite read's answer)."""
        waiting = self._suite_answer
        if waiting is None or waiting.done() or tsn != self._suite_tsn:
            self.device.events.record("cbke_unexpected", command="Read_Attributes_rsp", state=self.state.value)
            return
        problem = suite_record_problem(records)
        if problem is not None:
            self.device.events.record("cbke_suite_read_refused", problem=problem)
            return  # ignored: the stage timer decides
        self.device.events.record("cbke_suite_read", suites=f"0x{int(records[0].value.value):04X}")
        waiting.set_result(int(records[0].value.value))

    def _suite_read_failed(self) -> KeResult:
        reason = (f"no usable KeyEstablishmentSuite from the trust centre within {self.timings.tc_answer_timeout_s:g} s "
                  "(one record, enum16 or bitmap16, expected); no Terminate sent")
        result = KeResult(False, KeStage.SUITE_READ, "TIMEOUT", "device", reason)
        self.results.append(result)
        self.device.events.record("cbke_failed", stage="suite_read", status="TIMEOUT", by="device", reason=reason)
        self._hold_off_until = self.device.clock() + self.timings.retry_after_s
        return result

    def _end_failed(self, failure: _Failure) -> KeResult:
        stage = STAGE_OF[self.state]  # run() fires START first: a failure always ends a waiting state
        if failure.result == "STALLED":
            self._fire(KeInput.STALL)
            self.device.events.record("cbke_stalled", stage=stage)
        elif failure.result == "ABANDONED":
            self.device.events.record("cbke_abandoned", why=failure.reason)
            if self.state in _WAITING:
                self._fire(KeInput.FAIL, status="ABANDONED")
        else:
            if failure.status is not None and failure.by == "device":
                self._send(Command.TERMINATE_KEY_ESTABLISHMENT, {
                    "status_code": failure.status, "wait_time": 10,
                    "key_establishment_suite": KeyEstablishmentSuite.CRYPTO_SUITE_2,
                })
            self._fire(KeInput.FAIL, status=failure.result)
            self.device.events.record("cbke_failed", stage=stage, status=failure.result, by=failure.by, reason=failure.reason)
        result = KeResult(False, stage, failure.result, failure.by, failure.reason)
        self.results.append(result)
        if failure.result not in ("STALLED", "ABANDONED"):
            hold_off = (failure.wait_time_s * self.device.timings.time_scale if failure.wait_time_s is not None
                        else self.timings.retry_after_s)
            self._hold_off_until = self.device.clock() + hold_off
        return result

    async def _exchange(
        self, suites: KeyEstablishmentSuite, suite: CryptoSuite, credentials: DeviceCredentials, ca: EmulatorCa
    ) -> KeyEstablishmentKeys:
        device, timings, behaviour = self.device, self.timings, self.device.behaviour
        scale = device.timings.time_scale

        # 1. Initiate Key Establishment: our suite, our generate times, our certificate.
        response = await self._request(
            Command.INITIATE_KEY_ESTABLISHMENT,
            {"key_establishment_suite": suites,
             "ephemeral_data_generate_time": timings.ephemeral_data_generate_time_s,
             "confirm_key_generate_time": timings.confirm_key_generate_time_s,
             "identity": credentials.certificate.to_bytes()},
            timeout=timings.tc_answer_timeout_s,
        )
        answer = response.args
        if int(answer.key_establishment_suite) != int(KeyEstablishmentSuite.CRYPTO_SUITE_2) or suite is not CryptoSuite.CS2:
            raise _Failure(TerminateStatus.UNSUPPORTED_SUITE,
                           f"the trust centre chose suite 0x{int(answer.key_establishment_suite):04X}; this device "
                           f"offered 0x{int(suites):04X}")
        tc_certificate = bytes(answer.identity)
        try:
            tc_issuer = check_peer_certificate(
                tc_certificate, suite=CryptoSuite.CS2, partner_eui64=device.coordinator_eui64).issuer
        except CertificateError as exc:
            raise _Failure(TerminateStatus.INVALID_CERTIFICATE, f"the trust centre's certificate: {exc}") from None
        if tc_issuer != credentials.certificate.issuer:
            raise _Failure(TerminateStatus.UNKNOWN_ISSUER,
                           f"the trust centre's certificate issuer {tc_issuer.hex().upper()} is not this "
                           f"device's CA {credentials.certificate.issuer.hex().upper()}")
        ephemeral_wait = int(answer.ephemeral_data_generate_time) * scale + timings.margin_s
        confirm_wait = int(answer.confirm_key_generate_time) * scale + timings.margin_s
        self._fire(KeInput.INITIATE_RESPONSE)

        # 2. Ephemeral data: QEU out, QEV back; then the shared secret and both MACs.
        ephemeral: KeyPair = await asyncio.to_thread(
            generate_ephemeral_key, suite, random.Random(device.rng.getrandbits(64)))
        await asyncio.sleep(device.timings.cbke_compute_s)  # a real device's ECC takes seconds
        self._check_still_joined()
        response = await self._request(Command.EPHEMERAL_DATA, {"ephemeral_data": ephemeral.public_bytes},
                                       timeout=ephemeral_wait)
        try:
            keys = await asyncio.to_thread(
                calculate_keys, own=credentials, own_ephemeral=ephemeral, role=Role.INITIATOR,
                peer_certificate=tc_certificate, peer_ephemeral_public=bytes(response.args.ephemeral_data))
        except CryptoError as exc:
            raise _Failure(TerminateStatus.BAD_MESSAGE, f"the trust centre's ephemeral data: {exc}") from None
        await asyncio.sleep(device.timings.cbke_compute_s)
        self._fire(KeInput.EPHEMERAL_RESPONSE)

        # 3. Key confirmation: MACU out, MACV back and checked.
        if behaviour.cbke_stops_before_confirm_key():
            raise _Failure(None, "the device stopped before sending Confirm Key Data Request", result="STALLED")
        self._check_still_joined()
        macu = behaviour.cbke_confirm_key(keys.own_mac())
        response = await self._request(
            Command.CONFIRM_KEY_DATA, {"secure_message_authentication_code": macu}, timeout=confirm_wait)
        macv = bytes(response.args.secure_message_authentication_code)
        if len(macv) != MAC_LENGTH:
            raise _Failure(TerminateStatus.BAD_MESSAGE, f"MACV is {len(macv)} bytes, expected {MAC_LENGTH}")
        try:
            keys.check_peer_mac(macv)
        except KeyEstablishmentError as exc:
            raise _Failure(TerminateStatus.BAD_KEY_CONFIRM, str(exc)) from None
        return keys

    # -- frames ---------------------------------------------------------------------------------
    def _check_still_joined(self) -> None:
        if not self.device.joined:
            raise _Failure(None, f"the device is no longer on the network (link {self.device.link.value})",
                           result="ABANDONED")

    def _send(self, command: Command, args: dict[str, Any]) -> int:
        tsn = self.device.next_tsn()
        payload = encode(command, args, direction=C2S, tsn=tsn, disable_default_response=True)
        self.device.events.record("cbke_sent", command=command.name.lower())
        self.device.send_zcl(KEY_ESTABLISHMENT_CLUSTER, payload)
        return tsn

    async def _request(self, command: Command, args: dict[str, Any], *, timeout: float) -> KeFrame:
        """Send one request and await the trust centre's answer (registered before the send)."""
        self._check_still_joined()
        waiting = asyncio.get_running_loop().create_future()
        self._waiting = waiting
        self._send(command, args)
        try:
            frame = await asyncio.wait_for(waiting, timeout)
        except TimeoutError:
            raise _Failure(None, f"the trust centre did not answer {command.name.lower()} within {timeout:g} s",
                           by="device", result="TIMEOUT") from None
        finally:
            self._waiting = None
        if int(frame.header.command_id) == Command.TERMINATE_KEY_ESTABLISHMENT:
            status = frame.args.status_code
            raise _Failure(TerminateStatus(int(status)), f"the trust centre sent Terminate {status_name(status)} "
                           f"(wait {int(frame.args.wait_time)} s)", by="trust centre",
                           wait_time_s=int(frame.args.wait_time))
        if int(frame.header.command_id) != EXPECTED[self.state]:
            raise _Failure(TerminateStatus.BAD_MESSAGE,
                           f"expected {EXPECTED[self.state].name.lower()} response, got {frame.command.name}")
        return frame

    def on_frame(self, frame: AirFrame) -> bytes | None:
        """A Key Establishment frame from the coordinator (called by the device's dispatcher).

        Responses go to the run waiting for them; anything else is recorded and dropped (the KE
        cluster answers nothing it did not ask for).
        """
        try:
            parsed = decode(frame.payload)
        except KeFrameError as exc:
            self.device.events.record("malformed_frame", cluster=KEY_ESTABLISHMENT_CLUSTER, error=str(exc))
            return None
        if parsed is None or parsed.header.direction == C2S:
            return None  # general commands and requests to the device's own KE server: not emulated
        self.device.events.record("cbke_received", command=parsed.command.name)
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_result(parsed)
        else:
            self.device.events.record("cbke_unexpected", command=parsed.command.name, state=self.state.value)
        return None


__all__ = [
    "EXPECTED",
    "KeInput",
    "KeResult",
    "KeState",
    "KeStateError",
    "KeyEstablishmentClient",
    "KeyEstablishmentTimings",
    "STAGE_OF",
    "TRANSITIONS",
]
