"""Root conftest: marks the repository root for pytest, and says how a test past ``--timeout`` ends.

The harness plugin (:mod:`harness.plugin`: ``--rig``, the ``rig``/``hub`` fixtures, the markers, the
rig check, the evidence) is active through the ``pytest11`` entry point of the installed package
(``pip install -e '.[test]'``), not from here. This file's first effect is that pytest's default
``prepend`` import mode puts the repository root on ``sys.path``, so ``import harness`` finds this
checkout. Fixtures belong to the plugin (every harness project) or to
``tests/conformance/conftest.py`` (the conformance suite).

Its second: with ``--timeout`` (pytest-timeout; the README's test command gives one), a test past
its bound has every thread's stack written to the run's standard error, then its process ends.
pytest-timeout's own thread method writes the stacks to pytest's terminal, which a pytest-xdist
worker does not show, so a hang in CI would end with no word of where it was. The standard
library's faulthandler writes them from C, to a copy of stderr taken before any capture, however
stuck the threads are.
"""

from __future__ import annotations

import faulthandler
import os
import sys

import pytest

_STDERR = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("timeout"):
        config.stash[_STDERR] = os.dup(sys.__stderr__.fileno() if sys.__stderr__ else 2)


def pytest_unconfigure(config: pytest.Config) -> None:
    fd = config.stash.get(_STDERR, None)
    if fd is not None:
        os.close(fd)


@pytest.hookimpl(optionalhook=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: object) -> bool:
    """Arm the bound: at ``settings.timeout`` s, every thread's stack to stderr and the process ends."""
    faulthandler.dump_traceback_later(settings.timeout, exit=True, file=item.config.stash[_STDERR])  # type: ignore[attr-defined]
    return True


@pytest.hookimpl(optionalhook=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> bool:
    faulthandler.cancel_dump_traceback_later()
    return True
