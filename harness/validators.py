"""Attribute-value rules from profiles, as objects whose ``str()`` is the rule itself.

A profile entry names a check (``in_range``, ``one_of``, ...) and its arguments. It becomes one
of these objects when the profile loads, so a wrong entry (min > max, a bad regex) fails at
load time, where it was written, and the report can print ``0x1111 <= value <= 0x1211`` next
to the observed value without re-deriving the rule.

Integers are shown in hex (``0x0084``): attribute values checked here are codes, ids and
versions, which the specifications and device labels write in hex.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol


def show(value: Any) -> str:
    """A value as a rule shows it: ints in hex (at least 4 digits), everything else as repr."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"0x{value:04X}" if value >= 0 else f"-0x{-value:04X}"
    return repr(value)


class Validator(Protocol):
    """``validator(value) -> bool``; ``str(validator)`` reads as the rule."""

    def __call__(self, value: Any) -> bool: ...


@dataclass(frozen=True, slots=True)
class Present:
    """The attribute exists and was read (``None`` stands for "not read / unsupported")."""

    def __call__(self, value: Any) -> bool:
        return value is not None

    def __str__(self) -> str:
        return "value is present"


@dataclass(frozen=True, slots=True)
class Equals:
    expected: Any

    def __call__(self, value: Any) -> bool:
        return _same_kind(value, self.expected) and value == self.expected

    def __str__(self) -> str:
        return f"value == {show(self.expected)}"


@dataclass(frozen=True, slots=True)
class InRange:
    """``minimum <= value <= maximum``; either bound may be omitted, not both."""

    minimum: int | float | None = None
    maximum: int | float | None = None

    def __post_init__(self) -> None:
        if self.minimum is None and self.maximum is None:
            raise ValueError("in_range needs min, max or both")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"in_range min {show(self.minimum)} is greater than max {show(self.maximum)}")

    def __call__(self, value: Any) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        return (self.minimum is None or value >= self.minimum) and (self.maximum is None or value <= self.maximum)

    def __str__(self) -> str:
        if self.minimum is None:
            return f"value <= {show(self.maximum)}"
        if self.maximum is None:
            return f"value >= {show(self.minimum)}"
        return f"{show(self.minimum)} <= value <= {show(self.maximum)}"


@dataclass(frozen=True, slots=True)
class OneOf:
    choices: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.choices:
            raise ValueError("one_of needs at least one value")

    def __call__(self, value: Any) -> bool:
        return any(_same_kind(value, choice) and value == choice for choice in self.choices)

    def __str__(self) -> str:
        return f"value is one of {', '.join(show(c) for c in self.choices)}"


@dataclass(frozen=True, slots=True)
class Matches:
    """The whole text value matches ``pattern`` (``re.fullmatch``: no accidental partial match)."""

    pattern: str

    def __post_init__(self) -> None:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"matches pattern {self.pattern!r} is not a valid regular expression: {exc}") from None

    def __call__(self, value: Any) -> bool:
        return isinstance(value, str) and re.fullmatch(self.pattern, value) is not None

    def __str__(self) -> str:
        return f"value matches {self.pattern!r}"


def _same_kind(value: Any, expected: Any) -> bool:
    """1 == True in Python; an attribute rule must not accept a boolean for a number."""
    return isinstance(value, bool) == isinstance(expected, bool)
