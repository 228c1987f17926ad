"""A recorded GBCS message shown field by field: offset, bytes, field name, what the bytes mean.

The evidence keeps each signed alert as hex (``AlertRecord.gbcs_message``). A reviewer should not
need a separate parser to see what the CH would have sent, so the report decodes it here with
the harness's own codec and says whether the signature verifies -- for the CH's CCS08, with the
TEST-ONLY CH public key, the only key that could have signed it. A device's own CS09 was verified
when it arrived, with the certificate the rig names for the device: the report shows that verdict,
and a CS09 that failed verification (or broke another message rule) is marked REJECTED with the
rule, opened by default. A message that does not decode is shown as its one-line error and its
raw hex: evidence is never dropped.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from harness.evidence import AlertRecord
from harness.gbcs import GbcsError, decode
from harness.ota.samples import CH_PUBLIC_KEY_FILE, ch_key_pair
from harness.report.markup import Html, join, mono, table, tag, text


@functools.cache
def _ch_public_key() -> bytes:
    return ch_key_pair()[1]


def _bytes_hex(raw: bytes) -> str:
    return " ".join(f"{b:02X}" for b in raw)


def gbcs_message_block(alert: AlertRecord) -> Html:
    """One alert's signed message: a summary line, then the field table (collapsed until opened)."""
    title = f"0x{alert.code:04X} {alert.use_case} {alert.name}"
    if alert.entity_eui64:
        title += f" for {alert.entity_eui64}"
    try:
        raw = bytes.fromhex(alert.gbcs_message)
        decoded = decode(raw)
    except (ValueError, GbcsError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return tag("div", join([
            tag("p", f"{title}: the recorded GBCS message does not decode: {problem}", cls="hh-rule"),
            tag("div", alert.gbcs_message, cls="hh-pre"),
        ]), cls="hh-gbcs")
    message = decoded.message
    if alert.raised_by == "CH":
        valid = message.verify(_ch_public_key())
        signature = (f"signature {'VALID' if valid else 'INVALID'} with the TEST-ONLY CH key "
                     f"(firmware_images/keys/{CH_PUBLIC_KEY_FILE})")
    elif alert.rejected:
        signature = f"REJECTED when received from {alert.raised_by}: {alert.rejected}"
    else:
        signature = (f"received from {alert.raised_by} over the GBCS tunnel; signature VALID with the device's "
                     "signing certificate named in the rig")
    summary = (f"{title}: signed GBCS message, {len(raw)} bytes, originator counter "
               f"{message.header.originator_counter}, {signature}")
    fields = table(
        ["Offset", "Bytes", "Field", "Meaning"],
        [[mono(f.offset), mono(_bytes_hex(f.raw)), text(f.name), text(f.meaning)] for f in decoded.fields],
        cls="hh-gbcs-fields",
    )
    if alert.rejected:
        return tag("details", join([tag("summary", summary), fields]), cls="hh-gbcs hh-gbcs-rejected", open="open")
    return tag("details", join([tag("summary", summary), fields]), cls="hh-gbcs")


def gbcs_messages(alerts: Sequence[AlertRecord]) -> Html:
    """Every alert that carries a signed GBCS message, in time order; nothing when none does."""
    with_message = sorted((a for a in alerts if a.gbcs_message), key=lambda a: a.time)
    if not with_message:
        return Html("")
    return join([tag("h4", "GBCS messages (from the CH as it would send them, from devices as received)"),
                 *(gbcs_message_block(a) for a in with_message)])
