"""Strict reading of the harness's TOML files (rigs, profiles) into checked Python values.

Every rig or profile mistake must reach the user as ONE line that names the file, the key path
and what was wrong (``rigs/bench1.toml: devices[1].eui64: expected 8 bytes ...``), never as a
traceback from deep inside. :class:`Table` gives that for free: it walks a parsed TOML table,
remembers the key path it stands at, converts each value with a type check, and in
:meth:`Table.finish` rejects any key nobody asked for -- a misspelt key is an error, not a
silently ignored setting.

Values in error messages: a wrong value is quoted so the user can find it, EXCEPT where the
caller marks the key as secret; those messages say only what kind of value was found.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")

#: Marks an argument that has no default: the key is required.
REQUIRED: Any = object()


class ConfigError(Exception):
    """A file the harness reads is wrong: ``<file>: <key.path>: <what was wrong>``.

    ``file``, ``key_path`` and ``problem`` are kept apart so that tests and tools can check
    each one; ``str()`` joins them in the one-line form users see.
    """

    def __init__(self, file: Path | str, key_path: str, problem: str) -> None:
        self.file = display_path(file)
        self.key_path = key_path
        self.problem = problem
        where = f"{self.file}: {key_path}" if key_path else self.file
        super().__init__(f"{where}: {problem}")


def display_path(path: Path | str) -> str:
    """``path`` relative to the working directory when it lies below it, else as given.

    Users type ``rigs/bench1.toml``; messages should echo that, not a long absolute path.
    """
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def load_toml(path: Path, error: type[ConfigError]) -> dict[str, Any]:
    """Parse ``path``; a missing or unparsable file becomes ``error`` naming the file."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise error(path, "", "file not found") from None
    except IsADirectoryError:
        raise error(path, "", "is a directory, not a TOML file") from None
    except OSError as exc:
        raise error(path, "", f"cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message gives line and column but never echoes the value.
        raise error(path, "", f"not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise error(path, "", "not valid TOML: the file is not UTF-8 text") from None


def _type_name(value: object) -> str:
    """How TOML would call the type of ``value``, for messages."""
    return {
        bool: "a boolean", int: "an integer", float: "a float", str: "a string",
        dict: "a table", list: "an array",
    }.get(type(value), type(value).__name__)


class Table:
    """One TOML table being read, with its key path and the file it came from.

    Each accessor consumes a key; :meth:`finish` then fails on the first key that was not
    consumed. ``where`` is the key path of this table (``""`` for the file's top level).
    """

    def __init__(self, data: dict[str, Any], *, file: Path, error: type[ConfigError], where: str = "") -> None:
        self._data = data
        self._unread = set(data)
        self._asked: set[str] = set()   # every key the reader asked for, present or not
        self.file = file
        self.error = error
        self.where = where

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def base_dir(self) -> Path:
        """Relative paths in the file resolve against the file's own directory."""
        return self.file.parent

    def path_of(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str | None, problem: str) -> NoReturn:
        """Raise the file's error type for ``key`` of this table (``None``: the table itself)."""
        raise self.error(self.file, self.path_of(key) if key is not None else self.where, problem)

    def has(self, key: str) -> bool:
        """Whether ``key`` is written; asking makes it a known key for :meth:`finish`'s message."""
        self._asked.add(key)
        return key in self._data

    def keys(self) -> list[str]:
        return list(self._data)

    def _take(self, key: str, default: Any) -> Any:
        self._unread.discard(key)
        self._asked.add(key)
        if key in self._data:
            return self._data[key]
        if default is REQUIRED:
            self.fail(key, "missing (required)")
        return default

    def _typed(self, key: str, value: Any, kinds: tuple[type, ...], expected: str, *, secret: bool) -> Any:
        # bool is an int in Python; TOML keeps them apart and so do we.
        if isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds):
            return value
        shown = "" if secret or isinstance(value, (dict, list)) else f": {value!r}"
        hint = " (write it without quotes; TOML accepts 0x1A62)" if int in kinds and isinstance(value, str) else ""
        self.fail(key, f"expected {expected}, got {_type_name(value)}{shown}{hint}")

    def finish(self) -> None:
        """Reject keys nobody read: a misspelt key must not be ignored silently."""
        if self._unread:
            key = sorted(self._unread)[0]
            known = ", ".join(sorted(self._asked)) or "none"
            self.fail(key, f"unknown key (known keys here: {known}; see README.md for the format)")

    # -- scalars ----------------------------------------------------------------------------

    def text(self, key: str, default: Any = REQUIRED, *, choices: Iterable[str] | None = None,
             secret: bool = False, allow_empty: bool = False) -> Any:
        value = self._take(key, default)
        if value is default and key not in self._data:
            return value
        value = self._typed(key, value, (str,), "a string", secret=secret)
        if not allow_empty and not value.strip():
            self.fail(key, "must not be empty")
        if choices is not None:
            choices = tuple(choices)
            if value not in choices:
                self.fail(key, f"expected one of {', '.join(repr(c) for c in choices)}, got {value!r}")
        return value

    def integer(self, key: str, default: Any = REQUIRED, *, min: int | None = None, max: int | None = None,
                hex_width: int = 0) -> Any:
        """An int within [min, max]; ``hex_width`` > 0 shows bounds in hex (codes, ids)."""
        value = self._take(key, default)
        if value is default and key not in self._data:
            return value
        value = self._typed(key, value, (int,), "an integer", secret=False)
        fmt = (lambda n: f"0x{n:0{hex_width}X}") if hex_width else str
        if (min is not None and value < min) or (max is not None and value > max):
            low = fmt(min) if min is not None else "-inf"
            high = fmt(max) if max is not None else "inf"
            self.fail(key, f"{fmt(value)} is out of range {low}..{high}")
        return value

    def number(self, key: str, default: Any = REQUIRED, *, min: float | None = None, max: float | None = None) -> Any:
        """A float (an int is accepted: ``timeout = 5``) within [min, max]."""
        value = self._take(key, default)
        if value is default and key not in self._data:
            return value
        value = float(self._typed(key, value, (int, float), "a number", secret=False))
        if (min is not None and value < min) or (max is not None and value > max):
            self.fail(key, f"{value:g} is out of range {min if min is not None else '-inf'}..{max if max is not None else 'inf'}")
        return value

    def flag(self, key: str, default: Any = REQUIRED) -> Any:
        value = self._take(key, default)
        if value is default and key not in self._data:
            return value
        return self._typed(key, value, (bool,), "true or false", secret=False)

    def texts(self, key: str, default: Any = REQUIRED, *, allow_empty_list: bool = False) -> Any:
        """An array of non-empty strings, as a tuple."""
        value = self._take(key, default)
        if value is default and key not in self._data:
            return value
        value = self._typed(key, value, (list,), "an array of strings", secret=False)
        if not value and not allow_empty_list:
            self.fail(key, "must not be empty")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.fail(f"{key}[{index}]", f"expected a non-empty string, got {_type_name(item)}: {item!r}")
        return tuple(value)

    def path(self, key: str, default: Any = REQUIRED) -> Any:
        """A file path; relative paths resolve against the file's own directory."""
        value = self.text(key, default)
        if value is default and key not in self._data:
            return value
        try:
            return (self.base_dir / os.path.expanduser(value)).resolve()
        except (ValueError, OSError) as exc:  # a NUL byte, a symlink loop: the OS cannot use it
            self.fail(key, f"not a usable path ({exc}): {value!r}")

    def raw(self, key: str, default: Any = REQUIRED) -> Any:
        """The value untouched, for callers that accept several shapes (a port: string or table)."""
        return self._take(key, default)

    def convert(self, key: str, value: Any, convert: Callable[[Any], T]) -> T:
        """``convert(value)``; its ``ValueError`` message becomes this file's error at ``key``."""
        try:
            return convert(value)
        except ValueError as exc:
            self.fail(key, str(exc))

    # -- nested tables ----------------------------------------------------------------------

    def table(self, key: str, default: Any = REQUIRED) -> Any:
        value = self._take(key, default)
        if value is default and key not in self._data:
            return value
        value = self._typed(key, value, (dict,), "a table", secret=False)
        return Table(value, file=self.file, error=self.error, where=self.path_of(key))

    def tables(self, key: str) -> list[Table]:
        """An array of tables (``[[devices]]``), each with its index in its path: ``devices[1]``."""
        value = self._take(key, [])
        value = self._typed(key, value, (list,), "an array of tables", secret=False)
        tables = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                self.fail(f"{key}[{index}]", f"expected a table, got {_type_name(item)}")
            tables.append(Table(item, file=self.file, error=self.error, where=f"{self.path_of(key)}[{index}]"))
        return tables
