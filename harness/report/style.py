"""The report's stylesheet, inlined once at the top of the page.

Inline (a ``<style>`` element in the summary) rather than a ``--css`` file so the report stays a
single self-contained file that can be mailed or archived with a sign-off. Every selector is
prefixed ``hh-`` so nothing here changes pytest-html's own results table; where pytest-html styles
every cell inside ``#results-table`` (our per-test extras live there), the rules below are scoped
under it to win on specificity rather than with ``!important``.

Verdict colours carry the word as well (the badge text), so the report reads the same printed in
black and white or by a colour-blind reviewer.
"""

from __future__ import annotations

CSS = """
.hh-report, .hh-section { color: #1d1d1d; font-family: Helvetica, Arial, sans-serif; font-size: 13px; }
.hh-report { margin: 8px 0 18px; max-width: 1400px; }
.hh-report p.hh-subtitle { font-size: 14px; color: #1d1d1d; margin: 6px 0 12px; }
.hh-section { margin: 10px 0 18px; }
.hh-section h3 { font-size: 15px; color: #0d2b4e; border-bottom: 2px solid #0d2b4e; padding-bottom: 3px; margin: 14px 0 8px; }
.hh-section h4 { font-size: 13px; color: #0d2b4e; margin: 12px 0 6px; }
.hh-note, .hh-provenance, .hh-rule { color: #555; margin: 4px 0; }
.hh-empty { color: #777; font-style: italic; margin: 4px 0; }
.hh-mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, "Courier New", monospace; font-size: 12px; }
.hh-dec { color: #666; font-size: 11px; }
.hh-pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 11px; background: #f6f7f9;
          border: 1px solid #dde1e6; padding: 6px; white-space: pre-wrap; margin: 4px 0; color: #1d1d1d; }
table.hh-table { border-collapse: collapse; margin: 4px 0 10px; color: #1d1d1d; font-size: 12.5px; }
table.hh-table th, table.hh-table td,
#results-table table.hh-table th, #results-table table.hh-table td {
  border: 1px solid #cfd5dc; padding: 4px 8px; text-align: left; vertical-align: top; color: #1d1d1d; }
table.hh-table thead th, #results-table table.hh-table thead th { background: #0d2b4e; color: #ffffff; font-weight: bold; }
table.hh-table tbody tr:nth-child(even) td { background: #f7f9fb; }
table.hh-facts tbody th, #results-table table.hh-facts tbody th { background: #eef2f6; color: #0d2b4e; width: 190px; font-weight: bold; }
table.hh-table tr.hh-diff td, #results-table table.hh-table tr.hh-diff td { background: #fdecea; }
table.hh-table tr.hh-total td, #results-table table.hh-table tr.hh-total td { background: #eef2f6; border-top: 2px solid #0d2b4e; }
.hh-diffword { color: #b3261e; font-weight: bold; }
.hh-changed { background: #e3f4e8; padding: 0 3px; }
.hh-verdict { display: inline-block; min-width: 64px; text-align: center; font-weight: bold; font-size: 11.5px;
              padding: 2px 7px; border-radius: 3px; border: 1px solid; letter-spacing: 0.03em; }
.hh-pass { color: #0f5c2a; background: #dff3e4; border-color: #1b7f3b; }
.hh-fail { color: #8c1d18; background: #fde2e0; border-color: #b3261e; }
.hh-notobs { color: #6b4500; background: #fff0c7; border-color: #c98a00; }
.hh-skip { color: #444; background: #eceff1; border-color: #9aa4ac; }
.hh-none { color: #666; background: #ffffff; border-color: #c4c9ce; border-style: dashed; }
.hh-tally { color: #555; font-size: 11px; margin-top: 2px; }
.hh-check { border-left: 3px solid #0d2b4e; padding: 2px 0 2px 10px; margin: 8px 0 12px; }
.hh-check-title { margin: 2px 0 4px; }
ul.hh-differences { margin: 4px 0 6px; padding-left: 20px; color: #8c1d18; }
ul.hh-req-tests { margin: 4px 0 0; padding-left: 16px; font-size: 11px; }
ul.hh-req-tests .hh-verdict { min-width: 0; font-size: 10px; padding: 0 4px; }
.hh-outcome { font-weight: bold; }
.hh-o-transferred { color: #0f5c2a; }
.hh-o-failed, .hh-o-stalled { color: #8c1d18; }
.hh-o-refused, .hh-o-aborted, .hh-o-in_progress { color: #6b4500; }
svg.hh-timeline { border: 1px solid #cfd5dc; background: #ffffff; max-width: 100%; height: auto; }
.hh-evidence { padding: 4px 2px 10px; }
details.hh-gbcs { margin: 4px 0 8px; }
details.hh-gbcs summary { cursor: pointer; color: #0d2b4e; }
table.hh-gbcs-fields td .hh-mono { word-break: break-all; }
@media print { .hh-section { break-inside: avoid; } }
"""


def style_element() -> str:
    """The stylesheet as one ``<style>`` element (its content is fixed text, not evidence)."""
    return f"<style>{CSS}</style>"
