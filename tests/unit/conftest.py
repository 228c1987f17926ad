"""Fixtures shared by the emulator's device and air tests, and the order the planted run's checks run in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fixtures.conformance_run import planted_run
from tests.fixtures.emulator_device_fakes import Air


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "longest: a test far longer than any other (the defect proof); under "
                            "pytest-xdist's worksteal it starts at once, at the head of a share of its own.")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests of modules that read the planted conformance run go first, in their usual order;
    the ``longest`` test heads the second share.

    Each process makes the planted run once (15-20 s of CPU), for the first of its tests that runs
    there. pytest-xdist's worksteal deals the collection out in contiguous shares and an idle
    worker steals from the end of a busy one's share; from the middle of the collection these
    tests were stolen piecemeal, and three workers made three runs. At the front of the first
    share, the first worker runs them all before anything is stolen from it.

    The defect proof (about 90 s of one worker) was in the middle of a share and started a minute
    into the run, so the run waited half a minute for it alone after the others had finished.
    A test at the head of a share starts as the run does. Every other test keeps its place.
    """
    items.sort(key=lambda item: getattr(getattr(item, "module", None), "planted_run", None) is not planted_run)
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    longest = [item for item in items if item.get_closest_marker("longest")]
    if workers < 2 or not longest:
        return
    for item in longest:
        items.remove(item)
    head = first_share_size(len(items) + len(longest), workers)
    items[head:head] = longest


def first_share_size(tests: int, workers: int) -> int:
    """How many tests worksteal gives the first worker at the start: an equal share, rounded down.

    (``WorkStealingScheduling.check_schedule``: each idle worker in turn gets ``pending //
    idle workers left``, and at the start every worker is idle.)
    """
    return tests // workers


@pytest.fixture
async def air() -> AsyncIterator[Air]:
    """A virtual air with a fake coordinator on it, closed after the test."""
    air = Air()
    yield air
    await air.han.close()
