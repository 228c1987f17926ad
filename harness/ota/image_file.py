"""An OTA file on disk, served by offset without loading it whole.

The hub answers Image Block Requests (40 bytes at a time, ~400k of them for a 16 MB image)
from an :class:`ImageFile`. The file is memory-mapped: the OS pages it in and out, reads are
slices of the map, and hashes are computed over the map itself, so no second copy of the
image is ever made. Opening a file checks its header, its size against ``total_image_size``
and its body structure, so a truncated or inconsistent file is rejected before a transfer
starts rather than halfway through one.
"""

from __future__ import annotations

import hashlib
import mmap
import os
from pathlib import Path

from harness.ota import gbcs as _gbcs
from harness.ota.elements import ElementSpan, scan_elements
from harness.ota.errors import OtaError
from harness.ota.header import HEADER, OtaHeader, decode_header
from harness.ota.image import Layout, OtaImage, body_bounds, detect_layout
from harness.wire import Values


class ImageFile:
    """A checked, memory-mapped OTA file. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: Path, mapped: mmap.mmap, *, layout: Layout | None, signed: bool | None) -> None:
        self.path = path
        self._map = mapped
        self._sha256: str | None = None
        self._mi_hash: bytes | None = None
        self.header: OtaHeader
        self.header, start = decode_header(mapped)
        end = body_bounds(self.header, mapped, 0)
        if end != len(mapped):
            raise OtaError(
                "header.total_image_size",
                f"image ends at byte {end}, but the file has {len(mapped) - end} more byte(s)",
                offset=HEADER.offset_of("total_image_size"),
            )
        self.layout = layout or detect_layout(self.header, mapped, start, end)
        self.element_spans: tuple[ElementSpan, ...] = ()
        self._gbcs: _gbcs.GbcsSpans | None = None
        self._trailer: Values | None = None
        if self.layout is Layout.GBCS:
            self._gbcs, self._trailer = _gbcs.locate(mapped, start, end, signed=signed)
        else:
            self.element_spans = tuple(scan_elements(mapped, start, end))

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, layout: Layout | None = None, signed: bool | None = None) -> ImageFile:
        """Open and check ``path``. Errors are :class:`OtaError` naming the file, or OSError."""
        path = Path(path)
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                raise OtaError("header.magic", "the file is empty", offset=0, source=str(path))
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            return cls(path, mapped, layout=layout, signed=signed)
        except OtaError as exc:
            mapped.close()
            raise exc.in_file(str(path)) from None

    def close(self) -> None:
        self._map.close()

    def __enter__(self) -> ImageFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        h = self.header
        return (
            f"ImageFile({str(self.path)!r}, mfr={h.manufacturer_code:#06x}, type={h.image_type:#06x}, "
            f"version={h.file_version:#010x}, size={self.size}, layout={self.layout.value})"
        )

    # -- serving ------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.header.total_image_size

    def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset`` (fewer at the end; ``b""`` at ``size``).

        An offset outside the file is a caller's (or a device's) mistake, not a file
        problem, so it is a ValueError naming the file.
        """
        if not 0 <= offset <= len(self._map) or size < 0:
            raise ValueError(f"{self.path}: read({offset}, {size}) outside a {len(self._map)}-byte image")
        return self._map[offset : offset + size]

    # -- hashes and GBCS parts ----------------------------------------------------------

    def _hash_range(self, start: int, length: int) -> bytes:
        with memoryview(self._map) as whole, whole[start : start + length] as part:
            return hashlib.sha256(part).digest()

    @property
    def sha256(self) -> str:
        """SHA-256 of the whole file, hex; computed over the map once, then cached."""
        if self._sha256 is None:
            self._sha256 = self._hash_range(0, len(self._map)).hex()
        return self._sha256

    @property
    def manufacturer_image_hash(self) -> bytes | None:
        """GBCS: SHA-256 of the Manufacturer Image (32 bytes); ``None`` for tagged images."""
        if self._gbcs is None:
            return None
        if self._mi_hash is None:
            self._mi_hash = self._hash_range(self._gbcs.manufacturer_offset, self._gbcs.manufacturer_length)
        return self._mi_hash

    @property
    def manufacturer_image_span(self) -> tuple[int, int] | None:
        """GBCS: (offset, length) of the Manufacturer Image in the file."""
        return (self._gbcs.manufacturer_offset, self._gbcs.manufacturer_length) if self._gbcs else None

    @property
    def manufacturer_image(self) -> bytes | None:
        """GBCS: the Manufacturer Image, copied out (prefer the hash or span for big files)."""
        span = self.manufacturer_image_span
        return self._map[span[0] : span[0] + span[1]] if span else None

    @property
    def signature(self) -> bytes | None:
        return self._trailer.octets("signature") if self._trailer else None

    @property
    def force_replace(self) -> int | None:
        return self._trailer.uint("force_replace") if self._trailer else None

    def load(self) -> OtaImage:
        """The whole file decoded in memory, with the layout already determined."""
        return OtaImage.from_bytes(self._map[:], layout=self.layout, signed=self.signature is not None)
