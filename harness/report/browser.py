"""Open a generated report in headless Chromium: the DOM after scripts ran, console errors, a screenshot.

pytest-html builds its results table in the browser, with JavaScript, from the page's
``data-jsonblob``; a report whose script fails shows a summary and no results at all. Reading
the HTML file therefore proves little. This module drives Chromium's own command line (no Python
browser library): ``--dump-dom`` prints the DOM after the scripts have run, and
``--enable-logging=stderr`` carries console messages, where a script error shows as ``Uncaught``.

Each run gets a fresh profile directory and the flags that keep Chromium off the network, so it
behaves the same on a bench PC and in CI and never phones home.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: Debian ships ``chromium``; other distributions and images use one of the others.
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: No network, no first-run UI, no GPU (there is none in CI), no sandbox (CI runs as root in a container).
QUIET_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

#: Generous: a cold Chromium start on a loaded 2-core CI runner takes a few seconds.
TIMEOUT_S = 60.0


class BrowserError(RuntimeError):
    """Chromium could not render the page (not installed, crashed, timed out)."""


def find_chromium() -> str | None:
    """The path of a Chromium-family browser on PATH, or None."""
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass(frozen=True, slots=True)
class Rendered:
    """What Chromium made of a page: the DOM after scripts ran, and the console log."""

    dom: str
    log: str

    @property
    def script_errors(self) -> list[str]:
        """Console lines reporting an uncaught script error (Chromium writes ``Uncaught ...``)."""
        return [line for line in self.log.splitlines() if "Uncaught" in line]


def _run(page: str, *extra: str, chromium: str | None = None) -> subprocess.CompletedProcess[str]:
    exe = chromium or find_chromium()
    if exe is None:
        raise BrowserError(f"no Chromium found on PATH (looked for {', '.join(CANDIDATES)})")
    with tempfile.TemporaryDirectory(prefix="hh-chromium-") as profile:
        cmd = [exe, *QUIET_FLAGS, f"--user-data-dir={profile}", *extra, page]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise BrowserError(f"{exe}: no result for {page} within {TIMEOUT_S:g} s") from exc
    if done.returncode != 0:
        raise BrowserError(f"{exe} exited with {done.returncode} rendering {page}: {done.stderr[-2000:]}")
    return done


def page_url(report: Path, query: str = "") -> str:
    """``file://`` URL of ``report``; ``query`` is appended (``collapsed=`` opens every test's details)."""
    url = report.resolve().as_uri()
    return f"{url}?{query}" if query else url


def render(report: Path, *, query: str = "collapsed=", chromium: str | None = None) -> Rendered:
    """Load ``report`` and return its DOM after scripts ran, with the console log.

    The default query ``collapsed=`` is pytest-html's switch for "show every test's details", so
    the per-test evidence is in the visible DOM and not only in hidden rows.
    """
    done = _run(page_url(report, query), "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
                "--dump-dom", chromium=chromium)
    return Rendered(dom=done.stdout, log=done.stderr)


def screenshot(report: Path, png: Path, *, width: int = 1400, height: int = 2000, query: str = "collapsed=",
               chromium: str | None = None) -> Path:
    """Render ``report`` to ``png`` at ``width`` x ``height`` CSS pixels; returns ``png``."""
    png = png.resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    _run(page_url(report, query), f"--screenshot={png}", f"--window-size={width},{height}",
         "--hide-scrollbars", "--virtual-time-budget=5000", chromium=chromium)
    if not png.is_file():
        raise BrowserError(f"Chromium reported success but wrote no screenshot at {png}")
    return png
