"""A run split over pytest-xdist workers (``-n N``): one evidence file and one report for the whole run.

``pytest tests/conformance --rig=emulated -n 2`` runs the suite in two worker processes. Each starts
its own emulated radio and HAN (the emulator is the process's own, on its own pty), so the devices of
one worker never hear the other's; the waits of one device's tests then overlap another's. Each
worker keeps its own evidence file (``evidence-gw0.json``, with its captures beside it) as it always
did, and the process the user started, which runs no test, makes the run's evidence file at
``--evidence`` from them:

* every test's entry rides on its teardown report to that process, which adopts it as it arrives,
  so the pytest-html report (its Devices column, its sign-off header) and the JUnit properties are
  computed over every test of the run, as in a run without ``-n``;
* when a worker ends -- finished or crashed -- its own file is read once more and is the last word
  on its tests: a test it never finished arrives that way, INCOMPLETE, never lost; and its run facts
  (the radio and HAN it formed) join the run's, a fact on which the workers differ shown per worker.

A rig whose radio is real (a serial port, a labgrid place) has one radio: two processes cannot both
drive it, so ``-n`` is refused with one line before any worker starts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.evidence import EvidenceLog, TestEvidence
from harness.report.facts import is_scalar_fact
from harness.rig import Rig
from harness.tomlread import display_path

#: The attribute of a worker's teardown report that carries the test's evidence entry (JSON form).
REPORT_ATTRIBUTE = "harness_evidence"
#: The run fact that says how the run was split.
PROCESSES_FACT = "processes"


def worker_id(config: pytest.Config) -> str | None:
    """This process's pytest-xdist worker id (``gw0``...), None in the process the user started."""
    workerinput = getattr(config, "workerinput", None)
    return workerinput.get("workerid") if workerinput else None


def workers_requested(config: pytest.Config) -> int:
    """How many workers pytest-xdist starts for this run (0 without distribution, or in a worker).

    Counted from xdist's ``--tx`` specs, which ``-n N`` becomes (``N`` times ``popen``) and which a
    user may give alone (``--tx 2*popen --dist load``); xdist distributes only with a ``--dist``
    mode and at least one spec.
    """
    if worker_id(config) is not None or getattr(config.option, "dist", "no") == "no":
        return 0
    return sum(_spec_workers(str(spec)) for spec in getattr(config.option, "tx", None) or ())


def _spec_workers(spec: str) -> int:
    """The workers one ``--tx`` spec starts: ``3*popen`` three, ``popen`` one."""
    count, star, _ = spec.partition("*")
    return int(count) if star and count.strip().isdigit() else 1


def refuse_shared_radio(config: pytest.Config, rig: Rig | None) -> None:
    """Stop a distributed run on a rig with a real radio: every worker would open the one radio."""
    count = workers_requested(config)
    if rig is None or rig.radio.emulated is not None or count < 1:
        return
    where = f"labgrid place {rig.radio.place.name!r}" if rig.radio.place is not None else "its serial port"
    raise pytest.UsageError(
        f"rig {rig.name!r} ({display_path(rig.path)}): its radio is real and reached through {where}; "
        f"pytest-xdist's {count} workers (-n {count}) would have {count} processes drive it at once. "
        "Run without -n or --tx (only an emulated rig, where each worker gets its own emulated radio, "
        "runs with -n)."
    )


def worker_evidence_path(path: Path, worker: str) -> Path:
    """Where worker ``worker`` writes its evidence when the run's file is ``path``."""
    return path.with_name(f"{path.stem}-{worker}{path.suffix}")


def attach_entry(report: pytest.TestReport, entry: TestEvidence) -> None:
    """In a worker: send the test's finished evidence with its teardown report.

    As the UTF-8 JSON the worker's own file holds (made once, for that file): the records' values
    include zigpy's integer types, which JSON writes as numbers but pytest-xdist's channel refuses.
    """
    setattr(report, REPORT_ATTRIBUTE, entry.to_json_bytes())


class RunEvidenceFromWorkers:
    """In the process the user started: the run's evidence log, made from what the workers send.

    ``log`` is asked for each time (a conftest may have put its own log in place at session start).
    """

    NAME = "harness-worker-evidence"

    def __init__(self, log: Callable[[], EvidenceLog]) -> None:
        self._log = log
        self._facts: dict[str, Mapping[str, Any]] = {}
        self._own_facts: frozenset[str] | None = None

    @pytest.hookimpl(tryfirst=True)  # before pytest-html and the report plugin read the log for this test's row
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entry = report.__dict__.pop(REPORT_ATTRIBUTE, None)
        if entry is not None:
            self._log().adopt(TestEvidence.from_json_obj(json.loads(entry)))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object | None) -> None:
        """A worker ended: its own file is the last word on its tests, and its run facts join the run's."""
        log = self._log()
        if log.path is None:
            return
        worker = str(node.workerinput["workerid"])
        path = worker_evidence_path(log.path, worker)
        if self._own_facts is None:
            self._own_facts = frozenset(log.run_info)
        own: EvidenceLog | None = None
        try:
            own = EvidenceLog.load(path)
        except ValueError as exc:  # never written (the worker died at start) or damaged
            self._facts[worker] = {}
            log.run_info[f"{worker}_evidence"] = f"not read: {exc}"
        else:
            self._facts[worker] = own.run_info
        merged = merge_worker_facts(self._facts)
        log.run_info.update((key, value) for key, value in merged.items() if key not in self._own_facts)
        log.adopt(*(own.tests.values() if own is not None else ()))


def merge_worker_facts(facts: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The run facts of several workers as one: a value they agree on once; a plain value on which they
    differ (each formed its own HAN: its channel, its PAN) as ``value (gw0); value (gw1)``."""
    workers = sorted(facts, key=lambda worker: (len(worker), worker))
    merged: dict[str, Any] = {}
    for key in dict.fromkeys(key for worker in workers for key in facts[worker]):
        values = [(worker, facts[worker][key]) for worker in workers if key in facts[worker]]
        distinct = [value for index, (_, value) in enumerate(values) if value not in [v for _, v in values[:index]]]
        if len(distinct) == 1 or not all(is_scalar_fact(value) for _, value in values):
            merged[key] = distinct[0]
        else:
            merged[key] = "; ".join(f"{value} ({worker})" for worker, value in values)
    merged[PROCESSES_FACT] = (f"{len(workers)} pytest-xdist workers ({', '.join(workers)}), each with its own "
                              "emulated radio and HAN")
    return merged


__all__ = ["PROCESSES_FACT", "REPORT_ATTRIBUTE", "RunEvidenceFromWorkers", "attach_entry", "merge_worker_facts",
           "refuse_shared_radio", "worker_evidence_path", "worker_id", "workers_requested"]
