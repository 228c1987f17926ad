"""The one exception type for GBCS messages that do not parse or cannot be built.

A GBCS message reaches the harness from outside (a device's tunnel, an evidence file, a lab's hex
dump), so any byte string may arrive. Whatever is wrong with it -- short, an unknown message code,
a field that is not DER -- is raised as :class:`GbcsError` naming the field and the byte offset
from the start of the message, so a lab engineer can find it in a hex dump. Nothing else escapes
:func:`harness.gbcs.decode`.
"""

from __future__ import annotations


class GbcsError(ValueError):
    """A malformed GBCS message, or values that cannot be encoded as one.

    ``field`` names the field (``originator counter``, ``payload.firmware version``);
    ``offset`` is the byte offset of that field from the start of the message, or ``None`` when
    the problem is a value given in code rather than bytes read.
    """

    def __init__(self, field: str, problem: str, *, offset: int | None = None) -> None:
        self.field = field
        self.problem = problem
        self.offset = offset
        where = f"{field} at byte {offset}" if offset is not None else field
        super().__init__(f"GBCS message: {where}: {problem}")
