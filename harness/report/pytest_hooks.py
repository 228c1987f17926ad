"""pytest face of the report: attach each test's evidence to pytest-html and the run facts to JUnit.

``harness/plugin.py`` owns the options group and the evidence log; it wires this module in with
two calls:

    add_report_options(group)                          # in pytest_addoption: --operator
    register_report(config, evidence_log, rig_info)    # in pytest_configure, once the log exists

:func:`register_report` registers a :class:`ReportPlugin` in every session: its pytest-html hooks
only run when pytest-html writes a report (``--html``), its JUnit properties only when junitxml
does (``--junitxml``), and its redaction of captured output protects the terminal too. The hooks
here only adapt: what is
shown is decided by the pure functions of :mod:`harness.report.extras`,
:mod:`harness.report.summary` and :mod:`harness.report.junit`, which render from the evidence
log alone (its ``run`` section and its records), exactly what the JSON evidence file holds.

Redaction is applied once more here, on whatever reaches the HTML from outside the evidence
(captured logs, tracebacks, other plugins' extras): records are redacted when made, but a
traceback is not a record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from harness.evidence import EvidenceLog, redact
from harness.report.capture_view import link_base
from harness.report.extras import to_extras
from harness.report.facts import harness_checkout, session_facts
from harness.report.junit import suite_properties
from harness.report.markup import join, tag
from harness.report.summary import report_title, summary_html
from harness.report.verdicts import devices_in

try:  # the object record_testsuite_property writes to; a hook has no fixture to ask for it
    from _pytest.junitxml import LogXML, xml_key
except ImportError:  # pragma: no cover - a pytest without it simply gets no JUnit properties
    _JUNIT_XML_KEY: pytest.StashKey[LogXML] | None = None
else:
    _JUNIT_XML_KEY = xml_key

OPERATOR_HELP = "who ran the session, shown in the report header. Default: $USER."

#: Extra formats whose content is text that reaches the page (json content may be any object).
_TEXT_FORMATS = ("html", "text", "url")


def add_report_options(group: Any) -> None:
    """Add ``--operator`` to the harness option group (``parser.getgroup("harness")``).

    The harness plugin adds it for every run; a project conftest that also calls this (the demo
    project) finds it there already, which is fine.
    """
    try:
        group.addoption("--operator", action="store", default=None, dest="harness_operator", metavar="NAME",
                        help=OPERATOR_HELP)
    except ValueError:  # "option names {'--operator'} already added"
        pass


def register_report(config: pytest.Config, evidence_log: EvidenceLog,
                    rig_info: Mapping[str, Any] | None = None) -> ReportPlugin:
    """Register (and return) the report plugin for this session; call once, from ``pytest_configure``."""
    plugin = ReportPlugin(evidence_log, rig_info)
    config.pluginmanager.register(plugin, ReportPlugin.NAME)
    return plugin


def install_log_redaction() -> Callable[..., logging.LogRecord]:
    """Redact registered secrets in every log record as it is made; returns the factory it replaced.

    Live logging (``--log-cli-level``), ``--log-file`` and any handler a lab adds write records
    straight out, never through a test report: bellows logs the network key (exportKey) and the
    install-code link keys (importTransientKey) at DEBUG. A record is made only when its level is
    enabled, so a run without DEBUG logging pays nothing.
    """
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 -- a record that cannot format is the logging module's to report
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return record

    logging.setLogRecordFactory(factory)
    return previous


class ReportPlugin:
    """Renders an :class:`EvidenceLog` into the pytest-html report and the JUnit XML.

    ``rig_info`` holds run facts the caller knows (rig, radio, EZSP version, NCP firmware, the
    rig's device list as ``devices``); they are merged into the log's ``run`` section without
    overwriting what the log already holds, together with the facts this plugin establishes
    (harness version, git commit, date, operator), so the JSON carries the same header as the HTML.
    """

    NAME = "harness-report"

    def __init__(self, evidence_log: EvidenceLog, rig_info: Mapping[str, Any] | None = None) -> None:
        self.log = evidence_log
        self._rig_info = dict(rig_info or {})

    @property
    def run(self) -> Mapping[str, Any]:
        return self.log.run_info

    # -- session ---------------------------------------------------------------------------------

    @pytest.hookimpl
    def pytest_configure(self, config: pytest.Config) -> None:
        facts = session_facts(operator=config.getoption("harness_operator", None),
                              checkout=harness_checkout(), now=time.time())
        incoming = EvidenceLog(None, run_info={**facts, **self._rig_info}).run_info  # scrubbed like the log's own
        for key, value in incoming.items():
            self.log.run_info.setdefault(key, value)
        self._log_factory = install_log_redaction()

    @pytest.hookimpl
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        previous = getattr(self, "_log_factory", None)
        if previous is not None:
            logging.setLogRecordFactory(previous)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Add the JUnit properties before the junitxml plugin writes its file."""
        xml = session.config.stash.get(_JUNIT_XML_KEY, None) if _JUNIT_XML_KEY is not None else None
        if xml is None:
            return
        for name, value in suite_properties(self.run, self.log.tests.values()):
            xml.add_global_property(name, value)

    # -- per test --------------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]):
        """Attach the evidence to the teardown report: by then every fixture has recorded its last snapshot.

        Only when pytest-html writes a report (``--html``): a run without one would render every
        test's sections to HTML for nobody.

        pytest-html gathers the extras of all three phases into the test's one row, so extras on
        the teardown report show under the test even when setup failed and there was no call.
        """
        report = yield
        html_path = getattr(item.config.option, "htmlpath", None)
        if report.when == "teardown" and html_path:  # only pytest-html renders them
            base = link_base(html_path, self.log.path)
            report.extras = [*getattr(report, "extras", []), *to_extras(self.log.get(item.nodeid), link_base=base)]
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Redact what a report carries from outside the evidence before anyone renders it.

        Runs before pytest-html, junitxml and the terminal summary read the report: captured
        output sections, the failure text, and every extra (ours and other plugins').
        """
        report.sections = [(header, redact(content)) for header, content in report.sections]
        if report.longrepr is not None and not isinstance(report.longrepr, tuple):
            shown = str(report.longrepr)
            cleaned = redact(shown)
            if cleaned != shown:  # keep pytest's structured traceback unless it holds a secret
                report.longrepr = cleaned
        for extra in getattr(report, "extras", ()):
            if extra.get("format_type") in _TEXT_FORMATS and isinstance(extra.get("content"), str):
                extra["content"] = redact(extra["content"])

    # -- pytest-html -----------------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        report.title = report_title(self.run)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: list[str], postfix: list[str],
                                    session: pytest.Session) -> None:
        prefix.append(summary_html(self.run, self.log.tests.values()))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(2, "<th>Devices</th>")

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        ev = self.log.get(report.nodeid)
        devices = devices_in(ev) if ev is not None else []
        cells.insert(2, str(tag("td", join(devices, ", "), cls="col-devices")))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report: pytest.TestReport, data: list[str]) -> None:
        """Captured output and tracebacks are not records: redact them before they reach the page."""
        data[:] = [redact(line) for line in data]


__all__ = ["OPERATOR_HELP", "ReportPlugin", "add_report_options", "install_log_redaction", "register_report"]
