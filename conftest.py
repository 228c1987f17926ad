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

Its third: a run with no hypothesis test in it does not import hypothesis at its end
(:class:`HypothesisSummaryGuard`).
"""

from __future__ import annotations

import faulthandler
import os
import sys

import pytest

_STDERR = pytest.StashKey[int]()
#: The name hypothesis' pytest plugin is registered under (its ``pytest11`` entry point).
HYPOTHESIS_PLUGIN = "hypothesispytest"


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.has_plugin(HYPOTHESIS_PLUGIN):
        config.pluginmanager.register(HypothesisSummaryGuard(config))
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



class HypothesisSummaryGuard:
    """Unregisters hypothesis' pytest plugin at the end of a run that held no hypothesis test.

    Its terminal summary imports hypothesis whole to see whether any test wrote observations
    (``hypothesis.internal.observability``): 0.7-0.9 s of CPU at the end of every run, in every
    pytest-xdist process, even one that never imported hypothesis -- 5 % of the conformance suite's
    run, and three times over under ``-n 2``. Without a hypothesis test it has nothing to report.
    A hypothesis test is known by its import (at collection) or, in the process that started
    pytest-xdist's workers and collects nothing, by the ``hypothesis`` keyword on its reports.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.saw_hypothesis_test = False

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if "hypothesis" in report.keywords:
            self.saw_hypothesis_test = True

    def pytest_sessionfinish(self) -> None:
        """Runs before the terminal summary, which pytest writes after every ``pytest_sessionfinish``."""
        if "hypothesis" not in sys.modules and not self.saw_hypothesis_test:
            self.config.pluginmanager.unregister(name=HYPOTHESIS_PLUGIN)
