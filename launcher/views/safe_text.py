"""Text on its way out of the program, made inert: one sanitizer, applied where text leaves, not where it enters.

WHY at the exits: tags, run notes, model names, paths and provider names from a user's price CSV reach the
terminal, Markdown, HTML and CSV through dozens of fields. A terminal obeys control characters (ESC sequences
clear the screen or rewrite a title, OSC 8 adds links, BEL rings), bidi overrides (U+202E) reorder what a reader
sees, and a spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula. So every rich console
(`console()`), every jinja2 template (`finalize`), every CSV of ours (`csv_cells`) and every `error:` line passes
its text through `clean`; the data (ledger, plan.json, --json) keeps what the user typed.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Optional

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment

# C0 controls but tab and newline, DEL, C1 controls; the bidi embeddings, overrides and isolates, and the marks.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP "CSV injection": a spreadsheet evaluates these


def clean(text: str) -> str:
    """`text` without control characters or bidi controls (tab and newline kept); they take no cell width, so a
    table lays out as before."""
    return UNSAFE.sub("", text)


class SafeConsole(Console):
    """A rich Console whose every printed segment of text is cleaned; rich's own control segments (cursor moves)
    and its styles, rendered after this, are untouched."""

    def render(self, renderable: RenderableType, options: Optional[ConsoleOptions] = None) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            yield segment if segment.control else Segment(clean(segment.text), segment.style)


def console(**kwargs: Any) -> Console:
    """The console every command prints through (the arguments of rich's Console)."""
    return SafeConsole(**kwargs)


def finalize(value: Any) -> Any:
    """jinja2's `finalize`: each {{ expression }} of a template, cleaned before it is escaped and written."""
    return type(value)(clean(value)) if isinstance(value, str) else value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_cell(value: Any) -> Any:
    """A cleaned cell; text a spreadsheet would run as a formula gets a leading `'` (OWASP), numbers stay."""
    if not isinstance(value, str):
        return value
    text = value if value.startswith(("\t", "\r")) else clean(value)
    if text.startswith(FORMULA_START) and not _is_number(text):
        return "'" + clean(text)
    return text


def csv_cells(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every cell of these rows through csv_cell: what any CSV we write is built from."""
    return [{key: csv_cell(value) for key, value in row.items()} for row in rows]
