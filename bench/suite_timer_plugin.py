"""A pytest plugin, loaded only by bench/suite_time.py (``-p suite_timer_plugin``), never by the suite.

Records, into the JSON file named by $HARNESS_SUITE_TIMES: when the session started, how long
collection plus the rig check took (the rig check runs in ``pytest_collection_finish``), each
test's setup / call / teardown durations and outcome (and the worker that ran it, with when it
started and stopped), the session's end, and the process's CPU
time. With $HARNESS_SUITE_PROFILE set, the main thread also runs under cProfile from session start
to finish and the stats are dumped to that path.
"""

from __future__ import annotations

import cProfile
import json
import os
import resource
import time
from typing import Any

import pytest

_state: dict[str, Any] = {"tests": {}}
_profile: cProfile.Profile | None = None


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pytest_sessionstart(session: pytest.Session) -> None:
    global _profile
    _state["session_start"] = time.perf_counter()
    _state["session_start_epoch"] = time.time()  # reports' start and stop are epoch seconds
    _state["cpu_at_start"] = _cpu_s()
    if os.environ.get("HARNESS_SUITE_PROFILE"):
        _profile = cProfile.Profile()
        _profile.enable()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection_finish(session: pytest.Session):
    started = time.perf_counter()
    try:
        return (yield)
    finally:
        _state["rig_check_s"] = time.perf_counter() - started  # the harness plugin's rig check runs here
        _state["collected_at"] = started


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _state["tests"].setdefault(report.nodeid, {"setup": 0.0, "call": 0.0, "teardown": 0.0, "outcome": "passed"})
    entry[report.when] = report.duration
    # Under pytest-xdist the first process sees every worker's reports: which worker ran the test,
    # and when (seconds from session start), so a run's critical path can be read afterwards.
    node = getattr(report, "node", None)
    entry["worker"] = node.gateway.id if node is not None else "main"
    entry["start"] = min(entry.get("start", float("inf")), report.start - _state["session_start_epoch"])
    entry["stop"] = max(entry.get("stop", 0.0), report.stop - _state["session_start_epoch"])
    if report.outcome != "passed" and not (report.when == "teardown" and report.outcome == "skipped"):
        entry["outcome"] = report.outcome if entry["outcome"] == "passed" else entry["outcome"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _state["session_end"] = time.perf_counter()
    _state["cpu_s"] = _cpu_s() - _state["cpu_at_start"]
    _state["exitstatus"] = int(exitstatus)
    if _profile is not None:
        _profile.disable()
        _profile.dump_stats(os.environ["HARNESS_SUITE_PROFILE"])
    path = os.environ.get("HARNESS_SUITE_TIMES")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(_state, out)
