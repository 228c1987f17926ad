"""The few HTML building blocks every report table uses, with escaping that cannot be forgotten.

Everything the report shows comes from evidence records, and record text is written by devices
and by people (a device's model string, a check's rule, a failure reason). Any of it may contain
``<``, ``&`` or quotes, so a value only reaches the page through :func:`text`, which redacts and
escapes it. Markup that is already safe is carried as :class:`Html`; :func:`table` and
:func:`join` escape every plain ``str`` they are given and pass only :class:`Html` through, so
a caller that forgets to escape gets escaped text rather than injected markup.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from harness.evidence import redact

#: Shown where a value is missing (not read, not recorded); never an empty cell a reader could misread.
MISSING = "—"


class Html(str):
    """A string that is already markup: passed through by :func:`join` and :func:`table` unescaped."""

    __slots__ = ()


def text(value: Any) -> Html:
    """Any value as page text: ``None`` becomes the missing sign, everything else is redacted and escaped."""
    if value is None:
        return Html(MISSING)
    return Html(html.escape(redact(str(value)), quote=True))


def cell(value: Any) -> Html:
    """``value`` unchanged when it is already :class:`Html`, else :func:`text` of it."""
    return value if isinstance(value, Html) else text(value)


def join(parts: Iterable[Any], sep: str = "") -> Html:
    """Concatenate markup; plain strings among ``parts`` are escaped."""
    return Html(html.escape(sep).join(cell(p) for p in parts))


def tag(name: str, content: Any = "", *, cls: str | None = None, **attrs: Any) -> Html:
    """``<name class=cls attr=value>content</name>``; attribute values and plain content are escaped.

    Attribute names come from code, never from records, so only their values are escaped. A
    trailing underscore in a keyword (``title_``) is dropped, for names that clash with Python.
    """
    parts = [name]
    if cls:
        parts.append(f'class="{html.escape(cls)}"')
    for key, value in attrs.items():
        if value is None:
            continue
        parts.append(f'{key.rstrip("_").replace("_", "-")}="{html.escape(redact(str(value)), quote=True)}"')
    return Html(f"<{' '.join(parts)}>{cell(content)}</{name}>")


def mono(value: Any) -> Html:
    """Hex, EUI-64s, digests and versions: monospace, so digits line up and are read as identifiers."""
    return tag("span", text(value), cls="hh-mono")


def hex_code(value: int | None, digits: int = 4) -> str:
    """``0x8F8A`` for codes, ``0x00000102`` for versions (``digits=8``); the missing sign for None."""
    if value is None:
        return MISSING
    if isinstance(value, bool) or not isinstance(value, int):
        return str(value)
    return f"0x{value:0{digits}X}"


#: Outcome word -> CSS modifier. Test outcomes from pytest and evidence outcomes share one palette.
_VERDICT_CLASS = {
    "PASS": "pass",
    "PASSED": "pass",
    "FAIL": "fail",
    "FAILED": "fail",
    "ERROR": "fail",
    "NOT_OBSERVED": "notobs",
    "SKIPPED": "skip",
    "INCOMPLETE": "notobs",
    "NOT_TESTED": "none",
}


def verdict(word: str | None, title: str | None = None) -> Html:
    """A coloured verdict badge; the word itself is always shown, so colour is never the only signal."""
    shown = (word or "NOT_TESTED").upper()
    modifier = _VERDICT_CLASS.get(shown, "none")
    return tag("span", shown.replace("_", " "), cls=f"hh-verdict hh-{modifier}", title=title)


def table(
    headers: Sequence[Any],
    rows: Iterable[Sequence[Any]],
    *,
    cls: str = "",
    row_classes: Sequence[str | None] | None = None,
    empty: str = "nothing recorded",
) -> Html:
    """A table with a header row. Cells are escaped unless :class:`Html`; ``empty`` when there are no rows."""
    body: list[str] = []
    for i, row in enumerate(rows):
        row_cls = row_classes[i] if row_classes is not None and i < len(row_classes) else None
        cells = "".join(f"<td>{cell(c)}</td>" for c in row)
        body.append(f'<tr class="{html.escape(row_cls)}">{cells}</tr>' if row_cls else f"<tr>{cells}</tr>")
    if not body:
        return tag("p", empty, cls="hh-empty")
    head = "".join(f"<th>{cell(h)}</th>" for h in headers)
    classes = " ".join(c for c in ("hh-table", cls) if c)
    return Html(f'<table class="{html.escape(classes)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')


def facts_table(rows: Iterable[tuple[Any, Any]], *, cls: str = "") -> Html:
    """A two-column label/value table (run facts, an image's header); both columns escaped unless :class:`Html`."""
    body = "".join(f"<tr><th>{cell(label)}</th><td>{cell(value)}</td></tr>" for label, value in rows)
    classes = " ".join(c for c in ("hh-table hh-facts", cls) if c)
    return Html(f'<table class="{html.escape(classes)}"><tbody>{body}</tbody></table>')


def section(title: str, body: Any, *, cls: str = "", note: Any = None) -> Html:
    """A titled block of the report (``<section>`` with an ``<h3>``), the unit the browser test looks for."""
    parts = [tag("h3", title)]
    if note is not None:
        parts.append(tag("p", note, cls="hh-note"))
    parts.append(cell(body))
    classes = " ".join(c for c in ("hh-section", cls) if c)
    return tag("section", join(parts), cls=classes)
