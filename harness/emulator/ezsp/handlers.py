"""Command handlers: what the NCP does for each EZSP command bellows sends.

Each handler takes the NCP and the decoded parameters (canonical names, see
:mod:`.versions`) and returns the response values; anything it leaves out is encoded as zero
(a zero status is success). Handlers are synchronous so that nothing can slip between a
command and its response; work that finishes later (air deliveries, loopbacks) is spawned and
reports through callbacks.

:data:`STUB_COMMANDS` is the explicit allow-list of commands answered with an all-zero
("OK, nothing to report") response because nothing the harness observes depends on them.
Every other command without a handler is refused with ``invalidCommand`` and recorded.

:func:`handler_table` builds the table for one version: the handlers whose command exists in
that version's command table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import bellows.types as t

from harness.secret import Secret

from ..air import COORDINATOR_NWK, AirFrame
from ..coordinator_zdo import Endpoint, eui64_from_display, eui64_to_display
from ..ncp import FREE_BUFFERS, NetworkSettings
from .status import Status
from .versions import VersionProfile

if TYPE_CHECKING:
    from ..coordinator import EmulatedNcp

Request = dict[str, Any]
Result = dict[str, Any]

HANDLERS: dict[str, Callable[[EmulatedNcp, Request], Result]] = {}

#: Commands answered with an all-zero response (status OK, empty data). Each is here because
#: bellows sends it and the harness depends on nothing it would change.
STUB_COMMANDS: frozenset[str] = frozenset(
    {
        "nop",
        "setConcentrator",  # many-to-one routing: no routes on the virtual air
        "setSourceRouteDiscoveryMode",
        "setSourceRoute",
        "gpSinkTableClearAll",  # Green Power: no GP devices
        "gpClearProxyTable",  # (v19; listed so the table reads the same for every version)
        "setExtendedTimeout",  # the air has no timing tiers
        "replaceAddressTableEntry",
        "setMulticastTableEntry",
        "setManufacturerCode",
        "setRadioPower",
        "setChildData",  # restored child tables: the air keeps its own membership
        "eraseKeyTableEntry",
        "sendReply",  # APS fragment ACKs: the virtual air does not fragment
    }
)


def handles(*names: str) -> Callable:
    def register(fn: Callable[[EmulatedNcp, Request], Result]):
        for name in names:
            HANDLERS[name] = fn
        return fn

    return register


def _stub(ncp: EmulatedNcp, request: Request) -> Result:
    return {}


def handler_table(profile: VersionProfile) -> Mapping[str, Callable[[EmulatedNcp, Request], Result]]:
    """The handlers for one version: semantic handlers first, then the stub allow-list."""
    table: dict[str, Callable[[EmulatedNcp, Request], Result]] = {}
    for name in profile.commands:
        if name in HANDLERS:
            table[name] = HANDLERS[name]
        elif name in STUB_COMMANDS:
            table[name] = _stub
    return table


# --- identity, values, configuration -----------------------------------------------------------


@handles("getEui64")
def get_eui64(ncp: EmulatedNcp, request: Request) -> Result:
    return {"eui64": eui64_from_display(ncp.nvram.eui64)}


@handles("getNodeId")
def get_node_id(ncp: EmulatedNcp, request: Request) -> Result:
    return {"nodeId": COORDINATOR_NWK if ncp.state.network_up else 0xFFFE}


def _token(text: str, size: int = 16) -> bytes:
    return text.encode()[:size].ljust(size, b"\xff")


@handles("getMfgToken")
def get_mfg_token(ncp: EmulatedNcp, request: Request) -> Result:
    token = request["tokenId"]
    if token == t.EzspMfgTokenId.MFG_STRING:
        return {"tokenData": _token(ncp.identity.manufacturer)}
    if token == t.EzspMfgTokenId.MFG_BOARD_NAME:
        return {"tokenData": _token(ncp.identity.board_name)}
    if token == t.EzspMfgTokenId.MFG_CUSTOM_EUI_64:
        return {"tokenData": b"\xff" * 8}  # not burnt: the factory EUI-64 is in use
    return {"tokenData": b"\xff" * 16}


@handles("getValue")
def get_value(ncp: EmulatedNcp, request: Request) -> Result:
    value_id = request["valueId"]
    if value_id == t.EzspValueId.VALUE_VERSION_INFO:
        major, minor, patch, special = ncp.identity.stack_version_parts()
        # build (u16), major, minor, patch, special, type (0xAA = GA release)
        return {"status": Status.OK, "value": bytes((0, 0, major, minor, patch, special, 0xAA))}
    if value_id == t.EzspValueId.VALUE_FREE_BUFFERS:
        return {"status": Status.OK, "value": bytes((FREE_BUFFERS,))}
    if value_id in ncp.state.values:
        return {"status": Status.OK, "value": ncp.state.values[value_id]}
    return {"status": Status.ERROR_INVALID_ID, "value": b""}


@handles("setValue")
def set_value(ncp: EmulatedNcp, request: Request) -> Result:
    ncp.state.values[request["valueId"]] = bytes(request["value"])
    return {"status": Status.OK}


@handles("getConfigurationValue")
def get_configuration_value(ncp: EmulatedNcp, request: Request) -> Result:
    config_id = request["configId"]
    if config_id not in ncp.state.configuration:
        return {"status": Status.ERROR_INVALID_ID, "value": 0}
    return {"status": Status.OK, "value": ncp.state.configuration[config_id]}


@handles("setConfigurationValue")
def set_configuration_value(ncp: EmulatedNcp, request: Request) -> Result:
    if ncp.state.network_up:  # EmberZNet fixes its configuration once the stack runs
        return {"status": Status.INVALID_CALL}
    ncp.state.configuration[request["configId"]] = int(request["value"])
    return {"status": Status.OK}


@handles("setPolicy")
def set_policy(ncp: EmulatedNcp, request: Request) -> Result:
    ncp.state.policies[request["policyId"]] = int(request["decisionId"])
    return {"status": Status.OK}


@handles("getPolicy")
def get_policy(ncp: EmulatedNcp, request: Request) -> Result:
    return {"status": Status.OK, "decisionId": ncp.state.policies.get(request["policyId"], 0)}


@handles("addEndpoint")
def add_endpoint(ncp: EmulatedNcp, request: Request) -> Result:
    """Register an endpoint; its cluster lists split by the counts, as the frame lays them out.

    The two lists follow each other with no length prefix of their own, so a schema decode puts
    every cluster in the first; ``inputClusterCount`` says where the outputs begin.
    """
    clusters = [*request["inputClusterList"], *request["outputClusterList"]]
    inputs, outputs = request["inputClusterCount"], request["outputClusterCount"]
    if len(clusters) != inputs + outputs:
        return {"status": Status.INVALID_PARAMETER}  # the counts and the lists disagree
    endpoint = Endpoint(
        endpoint=request["endpoint"],
        profile_id=request["profileId"],
        device_id=request["deviceId"],
        device_version=request["deviceVersion"],
        input_clusters=tuple(clusters[:inputs]),
        output_clusters=tuple(clusters[inputs:]),
    )
    ncp.endpoints[endpoint.endpoint] = endpoint
    return {"status": Status.OK}


@handles("readCounters", "readAndClearCounters")
def read_counters(ncp: EmulatedNcp, request: Request) -> Result:
    return {"values": [0] * len(t.EmberCounterType)}


@handles("customFrame")
def custom_frame(ncp: EmulatedNcp, request: Request) -> Result:
    # No XNCP extensions: bellows reads a non-OK status as "firmware features: none".
    return {"status": Status.LIBRARY_NOT_PRESENT, "reply": b""}


@handles("getTokenData")
def get_token_data(ncp: EmulatedNcp, request: Request) -> Result:
    # No NV3 token interface: bellows then skips EUI-64 rewriting and NWK-update-id writes.
    return {"status": Status.NOT_FOUND}


@handles("tokenFactoryReset")
def token_factory_reset(ncp: EmulatedNcp, request: Request) -> Result:
    ncp.nvram.network = None
    ncp.persist()
    return {}


@handles("clearKeyTable")
def clear_key_table(ncp: EmulatedNcp, request: Request) -> Result:
    return {"status": Status.OK}


# --- network ------------------------------------------------------------------------------------


@handles("networkState")
def network_state(ncp: EmulatedNcp, request: Request) -> Result:
    up = ncp.state.network_up
    return {"status": t.EmberNetworkStatus.JOINED_NETWORK if up else t.EmberNetworkStatus.NO_NETWORK}


@handles("networkInit")
def network_init(ncp: EmulatedNcp, request: Request) -> Result:
    if ncp.nvram.network is None:
        return {"status": Status.NOT_JOINED}
    if ncp.state.network_up:
        return {"status": Status.INVALID_CALL}
    ncp.bring_network_up()
    return {"status": Status.OK}


@handles("setInitialSecurityState")
def set_initial_security_state(ncp: EmulatedNcp, request: Request) -> Result:
    if ncp.state.network_up:
        return {"status": Status.INVALID_CALL}
    ncp.state.initial_security = request["state"]
    return {"status": Status.OK}


@handles("formNetwork")
def form_network(ncp: EmulatedNcp, request: Request) -> Result:
    security = ncp.state.initial_security
    if ncp.state.network_up or security is None:
        return {"status": Status.INVALID_CALL}
    params = request["parameters"]
    ncp.nvram.network = NetworkSettings(
        channel=params.radioChannel,
        pan_id=params.panId,
        extended_pan_id=eui64_to_display(params.extendedPanId),
        tx_power=params.radioTxPower,
        nwk_update_id=params.nwkUpdateId,
        nwk_manager_id=params.nwkManagerId,
        channel_mask=int(params.channels),
        security_bitmask=int(security.bitmask),
        network_key_sequence=security.networkKeySequenceNumber,
        network_key=bytes(security.networkKey),
        tc_link_key=bytes(security.preconfiguredKey),
        nwk_frame_counter=_counter(ncp, t.EzspValueId.VALUE_NWK_FRAME_COUNTER),
        aps_frame_counter=_counter(ncp, t.EzspValueId.VALUE_APS_FRAME_COUNTER),
    )
    ncp.persist()
    ncp.bring_network_up()
    return {"status": Status.OK}


def _counter(ncp: EmulatedNcp, value_id: int) -> int:
    raw = ncp.state.values.get(value_id, b"")
    return int.from_bytes(raw[:4], "little") if raw else 0


@handles("leaveNetwork")
def leave_network(ncp: EmulatedNcp, request: Request) -> Result:
    if not ncp.state.network_up:
        return {"status": Status.INVALID_CALL}
    ncp.state.network_up = False
    ncp.nvram.network = None
    ncp.persist()
    ncp.emit("stackStatusHandler", status=Status.NETWORK_DOWN)
    return {"status": Status.OK}


@handles("getNetworkParameters")
def get_network_parameters(ncp: EmulatedNcp, request: Request) -> Result:
    network = ncp.nvram.network
    if network is None or not ncp.state.network_up:
        return {"status": Status.NOT_JOINED, "nodeType": t.EmberNodeType.UNKNOWN_DEVICE}
    return {
        "status": Status.OK,
        "nodeType": t.EmberNodeType.COORDINATOR,
        "parameters": t.EmberNetworkParameters(
            extendedPanId=eui64_from_display(network.extended_pan_id),
            panId=network.pan_id,
            radioTxPower=network.tx_power,
            radioChannel=network.channel,
            joinMethod=t.EmberJoinMethod.USE_MAC_ASSOCIATION,
            nwkManagerId=network.nwk_manager_id,
            nwkUpdateId=network.nwk_update_id,
            channels=t.Channels(network.channel_mask),
        ),
    }


@handles("permitJoining")
def permit_joining(ncp: EmulatedNcp, request: Request) -> Result:
    if not ncp.state.network_up:
        return {"status": Status.NETWORK_DOWN}
    duration = int(request["duration"])
    ncp.state.permit_joining_s = duration
    if ncp.air is not None:
        ncp.air.permit_joining(duration)
    return {"status": Status.OK}


# --- security ------------------------------------------------------------------------------------


@handles("exportKey")
def export_key(ncp: EmulatedNcp, request: Request) -> Result:
    network = ncp.nvram.network
    context = request["context"]
    if network is None:
        return {"status": Status.NOT_FOUND, "context": context}
    if context.core_key_type == t.SecurityManagerKeyType.NETWORK:
        key = network.network_key
    elif context.core_key_type == t.SecurityManagerKeyType.TC_LINK:
        key = network.tc_link_key
    else:
        return {"status": Status.NOT_FOUND, "context": context}
    return {"status": Status.OK, "key": t.KeyData(key), "context": context}


@handles("getNetworkKeyInfo")
def get_network_key_info(ncp: EmulatedNcp, request: Request) -> Result:
    network = ncp.nvram.network
    return {
        "status": Status.OK,
        "network_key_info": t.SecurityManagerNetworkKeyInfo(
            network_key_set=network is not None,
            alternate_network_key_set=False,
            network_key_sequence_number=network.network_key_sequence if network else 0,
            alt_network_key_sequence_number=0,
            network_key_frame_counter=network.nwk_frame_counter if network else 0,
        ),
    }


@handles("getCurrentSecurityState")
def get_current_security_state(ncp: EmulatedNcp, request: Request) -> Result:
    network = ncp.nvram.network
    if network is None or not ncp.state.network_up:
        return {"status": Status.NOT_JOINED}
    bitmask = t.EmberCurrentSecurityBitmask.HAVE_TRUST_CENTER_LINK_KEY
    hashed = int(t.EmberInitialSecurityBitmask.TRUST_CENTER_USES_HASHED_LINK_KEY)
    bitmask |= t.EmberCurrentSecurityBitmask(network.security_bitmask & hashed)
    return {
        "status": Status.OK,
        "state": t.EmberCurrentSecurityState(
            bitmask=bitmask, trustCenterLongAddress=eui64_from_display(ncp.nvram.eui64)
        ),
    }


@handles("importTransientKey")
def import_transient_key(ncp: EmulatedNcp, request: Request) -> Result:
    ncp.state.transient_keys[eui64_to_display(request["eui64"])] = bytes(request["plaintext_key"])
    return {"status": Status.OK}


@handles("addTransientLinkKey")  # EZSP v5-v12's name for the same thing
def add_transient_link_key(ncp: EmulatedNcp, request: Request) -> Result:
    ncp.state.transient_keys[eui64_to_display(request["partner"])] = bytes(request["transientKey"])
    return {"status": Status.OK}


@handles("clearTransientLinkKeys")
def clear_transient_link_keys(ncp: EmulatedNcp, request: Request) -> Result:
    """Forget every transient key, the wildcard well-known one that zigpy's start-up installs included."""
    ncp.state.transient_keys.clear()
    return {}


@handles("exportLinkKeyByIndex")
def export_link_key_by_index(ncp: EmulatedNcp, request: Request) -> Result:
    """A key-table entry (v12+): the link keys CBKE stored (joins use transient keys, not this table).

    An entry CBKE wrote is marked KEY_IS_AUTHORIZED, as EmberZNet marks a key that has been through
    CBKE (reference §1)."""
    from .cbke import cbke_state

    entries = list(cbke_state(ncp).key_table.items())
    index = int(request["index"])
    if index >= len(entries):
        return {"eui64": t.EUI64.convert("00:00:00:00:00:00:00:00"), "plaintext_key": t.KeyData(bytes(16)),
                "key_data": _key_metadata(authorized=False), "status": Status.NOT_FOUND}
    eui64, key = entries[index]
    return {"eui64": eui64_from_display(eui64), "plaintext_key": t.KeyData(key.reveal_bytes()),
            "key_data": _key_metadata(authorized=eui64 in cbke_state(ncp).authorized), "status": Status.OK}


def _key_metadata(*, authorized: bool) -> t.SecurityManagerAPSKeyMetadata:
    bitmask = t.EmberKeyStructBitmask.KEY_HAS_PARTNER_EUI64
    if authorized:
        bitmask |= t.EmberKeyStructBitmask.KEY_IS_AUTHORIZED
    return t.SecurityManagerAPSKeyMetadata(bitmask=bitmask, outgoing_frame_counter=0, incoming_frame_counter=0,
                                           ttl_in_seconds=0)


@handles("importLinkKey")
def import_link_key(ncp: EmulatedNcp, request: Request) -> Result:
    """A key-table entry from the host (v12+): an SE trust centre keeps each device's install-code key
    here, and CBKE later overwrites it (reference §5). Not authorised until CBKE has run."""
    from .cbke import cbke_state

    state = cbke_state(ncp)
    eui64 = eui64_to_display(request["address"])
    size = ncp.state.configuration.get(t.EzspConfigId.CONFIG_KEY_TABLE_SIZE, 0)
    if eui64 not in state.key_table and (len(state.key_table) >= size or int(request["index"]) >= size):
        return {"status": Status.TABLE_FULL}
    state.key_table[eui64] = Secret(bytes(request["key"]), origin=f"imported link key for {eui64.hex(':').upper()}")
    state.authorized.discard(eui64)
    return {"status": Status.OK}


@handles("findKeyTableEntry")
def find_key_table_entry(ncp: EmulatedNcp, request: Request) -> Result:
    from .cbke import cbke_state

    wanted = eui64_to_display(request["address"])
    for index, eui64 in enumerate(cbke_state(ncp).key_table):
        if eui64 == wanted:
            return {"index": index}
    return {"index": 0xFF}  # not found


# --- tables ----------------------------------------------------------------------------------------


@handles("getChildData")
def get_child_data(ncp: EmulatedNcp, request: Request) -> Result:
    return {"status": Status.NOT_JOINED}  # no children: the air reports joins as they happen


@handles("getAddressTableRemoteNodeId")
def get_address_table_remote_node_id(ncp: EmulatedNcp, request: Request) -> Result:
    return {"nodeId": 0xFFFF}  # unused entry


@handles("getAddressTableInfo")
def get_address_table_info(ncp: EmulatedNcp, request: Request) -> Result:
    return {"status": Status.NOT_FOUND, "nwk": 0xFFFF, "eui64": eui64_from_display(b"\xff" * 8)}


@handles("getMulticastTableEntry")
def get_multicast_table_entry(ncp: EmulatedNcp, request: Request) -> Result:
    return {"status": Status.OK, "value": t.EmberMulticastTableEntry(multicastId=0, endpoint=0, networkIndex=0)}


@handles("getExtendedTimeout")
def get_extended_timeout(ncp: EmulatedNcp, request: Request) -> Result:
    # v13 answers a Bool, v14 a status (FAIL = normal timeout): both mean "not extended".
    return {"extendedTimeout": False, "status": Status.FAIL}


@handles("lookupNodeIdByEui64")
def lookup_node_id_by_eui64(ncp: EmulatedNcp, request: Request) -> Result:
    wanted = eui64_to_display(request["eui64"])
    if wanted == ncp.nvram.eui64 and ncp.state.network_up:
        return {"status": Status.OK, "nodeId": COORDINATOR_NWK}
    for nwk, eui in ncp.known_devices.items():
        if eui == wanted:
            return {"status": Status.OK, "nodeId": nwk}
    return {"status": Status.NOT_FOUND, "nodeId": 0xFFFF}


@handles("lookupEui64ByNodeId")
def lookup_eui64_by_node_id(ncp: EmulatedNcp, request: Request) -> Result:
    nwk = request["nodeId"]
    eui = ncp.nvram.eui64 if nwk == COORDINATOR_NWK else ncp.known_devices.get(nwk)
    if eui is None:
        return {"status": Status.NOT_FOUND, "eui64": eui64_from_display(b"\xff" * 8)}
    return {"status": Status.OK, "eui64": eui64_from_display(eui)}


# --- traffic -------------------------------------------------------------------------------------


@handles("sendUnicast")
def send_unicast(ncp: EmulatedNcp, request: Request) -> Result:
    aps_frame = request["aps_frame"]
    if not ncp.state.network_up:
        return {"status": Status.NETWORK_DOWN, "sequence": 0}
    ncp.spawn(
        ncp.deliver_unicast(
            destination=request["nwk"],
            aps_frame=aps_frame,
            tag=request["message_tag"],
            message=request["message"],
            message_type=request["message_type"],
        ),
        name=f"unicast to 0x{request['nwk']:04X}",
    )
    return {"status": Status.OK, "sequence": aps_frame.sequence}


@handles("sendBroadcast")
def send_broadcast(ncp: EmulatedNcp, request: Request) -> Result:
    aps_frame = request["aps_frame"]
    if not ncp.state.network_up:
        return {"status": Status.NETWORK_DOWN, "sequence": 0}
    frame = AirFrame(
        src_nwk=COORDINATOR_NWK,
        dst_nwk=int(request["destination"]),
        profile_id=aps_frame.profileId,
        cluster_id=aps_frame.clusterId,
        src_ep=aps_frame.sourceEndpoint,
        dst_ep=aps_frame.destinationEndpoint,
        payload=bytes(request["message"]),
        broadcast=True,
        aps_encrypted=False,  # an EmberZNet broadcast is never APS-encrypted (no link key to use)
    )
    ncp.spawn(ncp.deliver_broadcast(frame), name=f"broadcast to 0x{frame.dst_nwk:04X}")
    return {"status": Status.OK, "sequence": aps_frame.sequence}


@handles("sendMulticast")
def send_multicast(ncp: EmulatedNcp, request: Request) -> Result:
    # The virtual air has no groups: accepted and dropped, as a multicast nobody subscribed to.
    if not ncp.state.network_up:
        return {"status": Status.NETWORK_DOWN, "sequence": 0}
    return {"status": Status.OK, "sequence": request["aps_frame"].sequence}


# --- CBKE (Crypto Suite 2): handlers in their own module, registered on import -----------------
from . import cbke as _cbke  # noqa: E402,F401
from . import mfglib as _mfglib  # noqa: E402,F401
from . import scanning as _scanning  # noqa: E402,F401
