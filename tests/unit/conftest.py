"""Fixtures shared by the emulator's device and air tests, and the order the planted run's checks run in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fixtures.conformance_run import planted_run
from tests.fixtures.emulator_device_fakes import Air


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests of modules that read the planted conformance run go first, in their usual order.

    Each process makes that run once (15-20 s of CPU), for the first of its tests that runs there.
    pytest-xdist's worksteal deals the collection out in contiguous shares and an idle worker
    steals from the end of a busy one's share; from the middle of the collection these tests were
    stolen piecemeal, and three workers made three runs. At the front of the first share, the first
    worker runs them all before anything is stolen from it. Every other test keeps its place.
    """
    items.sort(key=lambda item: getattr(getattr(item, "module", None), "planted_run", None) is not planted_run)


@pytest.fixture
async def air() -> AsyncIterator[Air]:
    """A virtual air with a fake coordinator on it, closed after the test."""
    air = Air()
    yield air
    await air.han.close()
