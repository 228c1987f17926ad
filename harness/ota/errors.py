"""The one exception type for malformed OTA files.

Callers (the hub's OTA server, the CLI, the emulator's image fixtures) need to tell "this file
is bad" apart from bugs without listing a dozen exception types, and a lab engineer needs to
know *where* the file is bad. So every decoding problem, whatever its cause (short read, bad
magic, inconsistent sizes), is raised as :class:`OtaError` carrying the field name and the
absolute byte offset in the file.
"""

from __future__ import annotations


class OtaError(Exception):
    """A malformed or inconsistent OTA image.

    ``field`` is a dotted path (``header.total_image_size``, ``elements[1].length``);
    ``offset`` is the absolute byte offset of that field in the file, or ``None`` when the
    problem is with a value built in code rather than read from bytes. ``source`` names the
    file once the error crosses a file boundary (see :meth:`in_file`).
    """

    def __init__(
        self, field: str, problem: str, *, offset: int | None = None, source: str | None = None
    ) -> None:
        self.field = field
        self.problem = problem
        self.offset = offset
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.field} at byte {self.offset}" if self.offset is not None else self.field
        prefix = f"{self.source}: " if self.source else ""
        return f"{prefix}{where}: {self.problem}"

    def in_file(self, source: str) -> OtaError:
        """The same error, naming the file it came from (used once, at the file boundary)."""
        return OtaError(self.field, self.problem, offset=self.offset, source=source)
