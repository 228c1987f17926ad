"""The EZSP dispatcher: version negotiation, one handler per command, callbacks after responses.

Rules that bellows depends on (reference notes §3.1, golden frames §2):

* After every reset the host's first ``version`` arrives in legacy framing and is answered in
  legacy framing; every later frame uses the extended framing.
* bellows tells a response from a callback only by sequence number. A callback therefore
  carries the sequence number of the last command *already answered*, and callbacks raised
  while a command is being handled are held until its response is out.
* A command with no handler gets ``invalidCommand`` (a one-byte EzspStatus reason on v13, a u32
  on v14+, because the schema says so) and is recorded in :attr:`unknown_commands`, so a test
  can fail on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .codec import EzspSchemaError, decode_params, encode_result
from .framing import EzspFrameError, Framing, decode_header, encode_header, sniff_framing
from .status import Status
from .versions import VersionProfile

if TYPE_CHECKING:
    from ..coordinator import EmulatedNcp

LOGGER = logging.getLogger(__name__)

#: A command handler: NCP and decoded parameters (canonical names) in, response values out.
Handler = Callable[["EmulatedNcp", dict[str, Any]], dict[str, Any]]

VERSION_FRAME_ID = 0x0000
INVALID_COMMAND = "invalidCommand"


@dataclass(frozen=True, slots=True)
class UnknownCommand:
    """A command the NCP could not answer semantically."""

    frame_id: int
    name: str | None  # bellows' name for it, if the version's table has one
    params: bytes = field(repr=False)  # may carry key material: not shown in assertion messages
    reason: str

    def __str__(self) -> str:
        label = self.name or f"frame 0x{self.frame_id:04X}"
        return f"{label}: {self.reason}"


class EzspDispatcher:
    def __init__(
        self,
        profile: VersionProfile,
        handlers: Mapping[str, Handler],
        *,
        ncp: EmulatedNcp,
        send: Callable[[bytes], None],
    ) -> None:
        self.profile = profile
        self.handlers = handlers
        self.ncp = ncp
        self._send = send
        self.unknown_commands: list[UnknownCommand] = []
        self.handler_errors: list[str] = []
        #: Fault hook: returns False for a callback the NCP should not send (see faults.DropCallbacks).
        self.callback_filter: Callable[[str], bool] | None = None
        self.reset()

    def reset(self) -> None:
        """A reset: the next ``version`` comes in legacy framing; no callbacks until then."""
        self.framing = Framing.LEGACY
        self._last_sequence: int | None = None
        self._dispatching = False
        self._held_callbacks: list[tuple[str, dict[str, Any]]] = []

    @property
    def negotiated(self) -> bool:
        return self.framing is Framing.EXTENDED

    # -- receive -------------------------------------------------------------------------------

    def frame_received(self, data: bytes) -> None:
        """One EZSP frame from the host. Never raises: bad frames are logged and dropped."""
        framing = self.framing
        if framing is Framing.LEGACY and sniff_framing(data) is Framing.EXTENDED:
            framing = Framing.EXTENDED  # a host that skips the legacy version(4) step
        try:
            header, params = decode_header(data, framing)
        except EzspFrameError as exc:
            LOGGER.warning("dropping malformed EZSP frame: %s", exc)
            return
        self._last_sequence = header.sequence
        self._dispatching = True
        try:
            self._respond(header.sequence, header.frame_id, params, framing)
        except Exception as exc:  # an encoding bug must not take the NCP down
            LOGGER.exception("EZSP frame %s could not be answered", data.hex(" "))
            self.handler_errors.append(f"frame {data.hex(' ')}: {exc!r}")
        finally:
            self._dispatching = False
            held, self._held_callbacks = self._held_callbacks, []
            for name, values in held:
                self.send_callback(name, values)

    def _respond(self, sequence: int, frame_id: int, params: bytes, framing: Framing) -> None:
        if frame_id == VERSION_FRAME_ID:
            self._answer(sequence, "version", self._version(), framing)
            self.framing = Framing.EXTENDED
            return
        if framing is Framing.LEGACY:
            self._reject(sequence, frame_id, None, params, Status.ERROR_VERSION_NOT_SET, "before version", framing)
            return
        name = self.profile.by_id.get(frame_id)
        handler = self.handlers.get(name) if name else None
        if name is None or handler is None:
            self._reject(sequence, frame_id, name, params, Status.ERROR_INVALID_FRAME_ID, "no handler")
            return
        try:
            request = decode_params(self.profile, name, params)
        except EzspSchemaError as exc:
            self._reject(sequence, frame_id, name, params, Status.INVALID_PARAMETER, str(exc))
            return
        try:
            result = handler(self.ncp, request)
            body = encode_result(self.profile, name, result)
        except Exception as exc:  # a handler bug must not take the NCP down
            LOGGER.exception("handler for %s failed", name)
            self.handler_errors.append(f"{name}: {exc!r}")
            self._reject(sequence, frame_id, name, params, Status.INVALID_CALL, f"handler failed: {exc!r}")
            return
        self._send(encode_header(sequence, frame_id, Framing.EXTENDED, callback=False) + body)

    def _version(self) -> dict[str, Any]:
        return {
            "protocolVersion": self.profile.version,
            "stackType": 2,  # mesh stack
            "stackVersion": self.ncp.identity.stack_version_word(),
        }

    def _answer(self, sequence: int, name: str, values: dict[str, Any], framing: Framing) -> None:
        frame_id = self.profile.frame_id(name)
        body = encode_result(self.profile, name, values)
        self._send(encode_header(sequence, frame_id, framing, callback=False) + body)

    def _reject(
        self,
        sequence: int,
        frame_id: int,
        name: str | None,
        params: bytes,
        reason: Status,
        why: str,
        framing: Framing = Framing.EXTENDED,
    ) -> None:
        entry = UnknownCommand(frame_id=frame_id, name=name, params=bytes(params), reason=why)
        self.unknown_commands.append(entry)
        LOGGER.warning("EZSP v%d: answering invalidCommand to %s", self.profile.version, entry)
        self._answer(sequence, INVALID_COMMAND, {"status": reason}, framing)

    # -- send ----------------------------------------------------------------------------------

    def send_callback(self, name: str, values: dict[str, Any]) -> None:
        """Send a callback now, or after the response if a command is being handled."""
        if self._dispatching:
            self._held_callbacks.append((name, values))
            return
        if not self.negotiated or self._last_sequence is None:
            LOGGER.debug("EZSP not negotiated: dropping callback %s", name)
            return
        if self.callback_filter is not None and not self.callback_filter(name):
            LOGGER.debug("fault: callback %s withheld", name)
            return
        frame_id = self.profile.frame_id(name)
        body = encode_result(self.profile, name, values)
        self._send(encode_header(self._last_sequence, frame_id, Framing.EXTENDED, callback=True) + body)

    # -- naming for logs -----------------------------------------------------------------------

    def frame_name(self, data: bytes) -> str | None:
        """The EZSP command or callback name of a frame in either direction, for the frame log."""
        try:
            header, _ = decode_header(data, sniff_framing(data))
        except EzspFrameError:
            return None
        return self.profile.by_id.get(header.frame_id, f"0x{header.frame_id:04X}")
