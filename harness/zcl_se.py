"""The Smart Energy Key Establishment cluster (0x0800) on the wire, declared in zigpy's style.

zigpy 2.4.0 declares ``KeyEstablishment`` (``zigpy/zcl/clusters/smartenergy.py``) as a stub with
no attributes and no commands, so it cannot build or parse a single CBKE frame. This module
declares the four commands each way as zigpy ``ZCLCommandDef`` objects with ``CommandSchema`` schemas --
one field list per frame drives both ``serialize`` and ``deserialize`` -- plus the Terminate
status codes and the suite bitmap. It does **not** register a cluster class with zigpy (that
would change zigpy for every user in the process); the hub and the emulated devices build and
parse frames with :func:`encode` and :func:`decode`.

Both parties of the harness use it: the hub's Key Establishment server and the emulated
devices' client. A misreading of the layout would be shared by both, so
``tests/unit/test_cbke_wire.py`` pins every frame against byte strings written out by hand from
the SE specification's field tables (SE 1.x 07-5356 Annex C.3.1, as quoted in the security
test-vector notes §5 and domain notes §4.1).

Field layouts (all little-endian, as ZCL):

=====  ==========================================  =====================================================
 id    client -> server (to the CH's KE server)    server -> client (to the device's KE client)
=====  ==========================================  =====================================================
 0x00  Initiate KE Request: suite (bitmap16),       Initiate KE Response: suite (bitmap16),
       ephemeral data generate time (uint8, s),     ephemeral data generate time, confirm key generate
       confirm key generate time (uint8, s),        time, identity (the CH's certificate)
       identity (certificate: 48 B CS1 / 74 B CS2)
 0x01  Ephemeral Data Request: QEU (22 / 37 B)      Ephemeral Data Response: QEV
 0x02  Confirm Key Data Request: MACU (16 B)        Confirm Key Data Response: MACV (16 B)
 0x03  Terminate KE: status (enum8), wait time      Terminate KE: same fields
       (uint8, s), suite (bitmap16)
=====  ==========================================  =====================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final

import zigpy.types as t
from zigpy.zcl import foundation

#: The Key Establishment cluster id and the Smart Energy profile it lives in.
KEY_ESTABLISHMENT_CLUSTER: Final = 0x0800
SE_PROFILE: Final = 0x0109

#: Length of a key-confirmation MAC (MACU / MACV): one AES-MMO block.
MAC_LENGTH: Final = 16


class KeyEstablishmentSuite(t.bitmap16):
    """KeyEstablishmentSuite bits (SE Annex C.3.1.1.1): one bit per crypto suite."""

    CRYPTO_SUITE_1 = 0x0001  # sect163k1, 48-byte certificates
    CRYPTO_SUITE_2 = 0x0002  # sect283k1, 74-byte certificates (GB)


class TerminateStatus(t.enum8):
    """Status codes of Terminate Key Establishment (SE Annex C.3.1.2.3, Table C-9).

    An unknown code decodes to an ``undefined_0x..`` member rather than raising, so a device
    that sends one is reported with the value it sent.
    """

    UNKNOWN_ISSUER = 0x01  # the certificate's issuer is not a CA this party trusts
    BAD_KEY_CONFIRM = 0x02  # the peer's MAC does not verify
    BAD_MESSAGE = 0x03  # a message out of sequence, malformed or of the wrong length
    NO_RESOURCES = 0x04  # busy with another key establishment: try again after Wait Time
    UNSUPPORTED_SUITE = 0x05  # none of the offered suites is supported
    INVALID_CERTIFICATE = 0x06  # certificate fields wrong (type, curve, hash, key usage, subject)



class KeStage(enum.StrEnum):
    """Where one device's key establishment got to: the single vocabulary of the CH, the emulated
    devices and the evidence (outcomes, stage records, failure events).

    The three exchanges are named after the cluster's commands (Annex C.3.1.2); a failure is
    reported at the exchange that was under way. DISCOVERY is the device's search for the trust
    centre's Key Establishment server (Match_Desc), before any exchange.
    """

    DISCOVERY = "discovery"
    SUITE_READ = "suite_read"
    INITIATE = "initiate"
    EPHEMERAL_DATA = "ephemeral_data"
    CONFIRM_KEY = "confirm_key"
    ESTABLISHED = "established"
    FAILED = "failed"

    @property
    def spec_name(self) -> str:
        """The stage as a reader of the report knows it (the command's name in the specification)."""
        return _KE_STAGE_TITLES[self]

    @property
    def record_label(self) -> str:
        """The ``stage`` of the evidence's stage record for entering this stage."""
        return f"key establishment: {self.value}"


_KE_STAGE_TITLES: Final[dict[KeStage, str]] = {
    KeStage.DISCOVERY: "discovery of the Key Establishment server",
    KeStage.SUITE_READ: "read of the trust centre's KeyEstablishmentSuite attribute",
    KeStage.INITIATE: "Initiate Key Establishment",
    KeStage.EPHEMERAL_DATA: "Ephemeral Data",
    KeStage.CONFIRM_KEY: "Confirm Key",
    KeStage.ESTABLISHED: "established",
    KeStage.FAILED: "failed",
}

# -- schemas ----------------------------------------------------------------------------------


class InitiateKeyEstablishment(foundation.CommandSchema):
    """Initiate Key Establishment Request (client -> server) and Response (server -> client)."""

    key_establishment_suite: KeyEstablishmentSuite
    ephemeral_data_generate_time: t.uint8_t
    confirm_key_generate_time: t.uint8_t
    identity: t.Bytes  # the sender's implicit certificate: the rest of the frame


class EphemeralData(foundation.CommandSchema):
    """Ephemeral Data Request (QEU) and Response (QEV): a compressed point, the rest of the frame."""

    ephemeral_data: t.Bytes


class ConfirmKeyData(foundation.CommandSchema):
    """Confirm Key Data Request (MACU) and Response (MACV)."""

    secure_message_authentication_code: t.Bytes


class TerminateKeyEstablishment(foundation.CommandSchema):
    """Terminate Key Establishment, either way."""

    status_code: TerminateStatus
    wait_time: t.uint8_t  # seconds before the partner may try again
    key_establishment_suite: KeyEstablishmentSuite


class Command(enum.IntEnum):
    """Command ids; the same four ids are used in both directions."""

    INITIATE_KEY_ESTABLISHMENT = 0x00
    EPHEMERAL_DATA = 0x01
    CONFIRM_KEY_DATA = 0x02
    TERMINATE_KEY_ESTABLISHMENT = 0x03


def _defs(direction: foundation.Direction, suffix: str) -> dict[int, foundation.ZCLCommandDef]:
    names = {
        Command.INITIATE_KEY_ESTABLISHMENT: (f"initiate_key_establishment_{suffix}", InitiateKeyEstablishment),
        Command.EPHEMERAL_DATA: (f"ephemeral_data_{suffix}", EphemeralData),
        Command.CONFIRM_KEY_DATA: (f"confirm_key_data_{suffix}", ConfirmKeyData),
        Command.TERMINATE_KEY_ESTABLISHMENT: ("terminate_key_establishment", TerminateKeyEstablishment),
    }
    return {
        int(command): foundation.ZCLCommandDef(
            id=t.uint8_t(command), name=name, schema=schema, direction=direction, is_manufacturer_specific=False
        )
        for command, (name, schema) in names.items()
    }


#: Commands a KE *server* receives (the device's client sends them), by id.
CLIENT_TO_SERVER: Final = _defs(foundation.Direction.Client_to_Server, "request")
#: Commands a KE *client* receives (the CH's server sends them), by id.
SERVER_TO_CLIENT: Final = _defs(foundation.Direction.Server_to_Client, "response")


class KeFrameError(ValueError):
    """A Key Establishment frame that cannot be parsed; the message names the command."""


@dataclass(frozen=True, slots=True)
class KeFrame:
    """One parsed Key Establishment frame: ZCL header, the command's definition and its fields."""

    header: foundation.ZCLHeader
    command: foundation.ZCLCommandDef
    args: Any

    @property
    def tsn(self) -> int:
        return int(self.header.tsn)


def encode(
    command: Command, args: dict[str, Any], *, direction: foundation.Direction, tsn: int,
    disable_default_response: bool = False,
) -> bytes:
    """A cluster-specific KE frame: ZCL header + the command's fields (zigpy serialisation)."""
    table = CLIENT_TO_SERVER if direction == foundation.Direction.Client_to_Server else SERVER_TO_CLIENT
    definition = table[int(command)]
    header = foundation.ZCLHeader.cluster(tsn, int(command), direction=direction)
    # zigpy 2.4 annotates Struct.replace as taking dicts and returning a plain Struct (it returns the same type).
    header.frame_control = header.frame_control.replace(  # type: ignore[assignment]
        disable_default_response=disable_default_response  # type: ignore[arg-type]
    )
    return header.serialize() + definition.schema(**args).serialize()


def decode(payload: bytes) -> KeFrame | None:
    """Parse a KE frame; None for a general (foundation) command, which the caller handles.

    The direction bit picks the table: a frame towards a server is a request, towards a client a
    response. An unknown command id or a short body is a :class:`KeFrameError`.
    """
    try:
        header, body = foundation.ZCLHeader.deserialize(payload)
    except (ValueError, KeyError) as exc:
        raise KeFrameError(f"Key Establishment: bad ZCL header in {bytes(payload).hex()}: {exc}") from exc
    if header.frame_control.is_general:
        return None
    table = CLIENT_TO_SERVER if header.direction == foundation.Direction.Client_to_Server else SERVER_TO_CLIENT
    definition = table.get(int(header.command_id))
    if definition is None:
        raise KeFrameError(f"Key Establishment: unknown command 0x{int(header.command_id):02X} ({header.direction.name})")
    try:
        args, rest = definition.schema.deserialize(body)
    except (ValueError, KeyError, AssertionError) as exc:
        raise KeFrameError(f"Key Establishment {definition.name}: cannot decode {body.hex()}: {exc}") from exc
    if rest:
        raise KeFrameError(f"Key Establishment {definition.name}: {len(rest)} trailing bytes")
    return KeFrame(header, definition, args)


def status_name(status: int | TerminateStatus) -> str:
    """``BAD_KEY_CONFIRM`` for 0x02; ``undefined_0x09`` for a code the specification does not define."""
    return TerminateStatus(int(status)).name


__all__ = [
    "CLIENT_TO_SERVER",
    "Command",
    "ConfirmKeyData",
    "EphemeralData",
    "InitiateKeyEstablishment",
    "KEY_ESTABLISHMENT_CLUSTER",
    "KeFrame",
    "KeFrameError",
    "KeStage",
    "KeyEstablishmentSuite",
    "MAC_LENGTH",
    "SERVER_TO_CLIENT",
    "SE_PROFILE",
    "TerminateKeyEstablishment",
    "TerminateStatus",
    "decode",
    "encode",
    "status_name",
]


# -- Tunneling (0x0704): the GBCS tunnel a CHF opens after CBKE (SE 1.x D.6; GBCS 10.2.2) ------------

TUNNELING_CLUSTER = 0x0704
#: RequestTunnel (client -> server) and RequestTunnelResponse (server -> client) share command id 0x00.
REQUEST_TUNNEL = 0x00
#: The protocol id GBCS uses for its tunnel ("GB-HGM", SE 1.x Table D-108 manufacturer-defined range).
GBCS_TUNNEL_PROTOCOL = 0x06
#: ManufacturerCode "any" in RequestTunnel.
ANY_MANUFACTURER = 0xFFFF
#: The transfer size the CHF asks for (Silicon Labs comms-hub-function tunnel-manager).
GBCS_TUNNEL_TRANSFER_SIZE = 1500


class TunnelStatus(t.enum8):
    SUCCESS = 0x00
    BUSY = 0x01
    NO_MORE_TUNNEL_IDS = 0x02
    PROTOCOL_NOT_SUPPORTED = 0x03
    FLOW_CONTROL_NOT_SUPPORTED = 0x04


class RequestTunnel(t.Struct):
    protocol_id: t.uint8_t
    manufacturer_code: t.uint16_t
    flow_control_support: t.Bool
    maximum_incoming_transfer_size: t.uint16_t


class RequestTunnelResponse(t.Struct):
    tunnel_id: t.uint16_t
    tunnel_status: TunnelStatus
    maximum_incoming_transfer_size: t.uint16_t


#: Tunneling commands after RequestTunnel (SE 1.x D.6.2-D.6.3). The ids differ by direction.
CLOSE_TUNNEL = 0x01  # client -> server
TRANSFER_DATA_TO_SERVER = 0x02  # client -> server
TRANSFER_DATA_ERROR_TO_SERVER = 0x03  # client -> server
TRANSFER_DATA_TO_CLIENT = 0x01  # server -> client
TRANSFER_DATA_ERROR_TO_CLIENT = 0x02  # server -> client
TUNNEL_CLOSURE_NOTIFICATION = 0x06  # server -> client


class TransferDataStatus(t.enum8):
    NO_SUCH_TUNNEL = 0x00
    WRONG_DEVICE = 0x01
    DATA_OVERFLOW = 0x02


class TunnelId(t.Struct):
    tunnel_id: t.uint16_t


class TransferDataError(t.Struct):
    tunnel_id: t.uint16_t
    transfer_data_status: TransferDataStatus


def transfer_data(tunnel_id: int, data: bytes) -> bytes:
    """TransferData's body: the tunnel id, then the data to the end of the frame (no length prefix)."""
    return int(tunnel_id).to_bytes(2, "little") + bytes(data)


def split_transfer_data(body: bytes) -> tuple[int, bytes]:
    """(tunnel id, data) of a TransferData body; ValueError when it is too short to name a tunnel."""
    if len(body) < 2:
        raise ValueError(f"TransferData of {len(body)} bytes names no tunnel id")
    return int.from_bytes(body[:2], "little"), bytes(body[2:])
