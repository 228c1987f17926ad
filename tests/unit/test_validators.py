"""Attribute rules: their str() is the rule, and a wrong rule fails when it is built."""

from __future__ import annotations

import pytest

from harness.validators import Equals, InRange, Matches, OneOf, Present


@pytest.mark.parametrize(("validator", "text"), [
    (Present(), "value is present"),
    (Equals(0x121D), "value == 0x121D"),
    (Equals("PPMID"), "value == 'PPMID'"),
    (InRange(0x1111, 0x1211), "0x1111 <= value <= 0x1211"),
    (InRange(minimum=5), "value >= 0x0005"),
    (InRange(maximum=0.5), "value <= 0.5"),
    (OneOf((0, 1)), "value is one of 0x0000, 0x0001"),
    (Matches("[A-Z]+-GEN"), "value matches '[A-Z]+-GEN'"),
])
def test_rule_text(validator, text: str) -> None:
    assert str(validator) == text


@pytest.mark.parametrize(("validator", "good", "bad"), [
    (Present(), [0, "", False], [None]),
    (Equals(1), [1], [2, True, "1", None]),
    (InRange(0x1111, 0x1211), [0x1111, 0x1211, 0x1200], [0x1110, 0x1212, None, "0x1111", True]),
    (OneOf((0, 1, 2)), [0, 2], [3, False, None]),
    (Matches("[A-Z]+-GEN"), ["PPMID-GEN"], ["PPMID-GEN2", "x PPMID-GEN", None, 5]),
])
def test_rule_outcomes(validator, good: list, bad: list) -> None:
    assert all(validator(value) for value in good)
    assert not any(validator(value) for value in bad)


@pytest.mark.parametrize(("build", "message"), [
    (lambda: InRange(0x1211, 0x1111), "in_range min 0x1211 is greater than max 0x1111"),
    (lambda: InRange(), "in_range needs min, max or both"),
    (lambda: OneOf(()), "one_of needs at least one value"),
    (lambda: Matches("("), "not a valid regular expression"),
])
def test_wrong_rules_fail_when_built(build, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        build()
