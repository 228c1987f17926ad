"""Fixtures shared by the emulator's device and air tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fixtures.emulator_device_fakes import Air


@pytest.fixture
async def air() -> AsyncIterator[Air]:
    """A virtual air with a fake coordinator on it, closed after the test."""
    air = Air()
    yield air
    await air.han.close()
