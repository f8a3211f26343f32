"""The jinja2 environment every HTML and Markdown page is rendered with (expense reports, the plan's page).

WHY here: rendering is the views' concern; the expense report's page (expense_view.py) and the plan's page
(plan_html.py) both render through it.
"""

from __future__ import annotations

import re
from importlib.resources import files

from tunecost.launcher.views.safe_text import finalize

MD_PUNCTUATION = re.compile(r"([\\`*_\[\]!~|#])")


def _md_escape(value: object) -> str:
    """Text safe inside Markdown: no pipe breaks a table row, no raw HTML reaches a renderer, and no link,
    image, emphasis or code syntax in a tag or name takes effect (backslash-escaped, so it reads as typed)."""
    text = "" if value is None else str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", " ").replace("\n", " ")
    return MD_PUNCTUATION.sub(r"\\\1", text)


def template_env():
    """jinja2 environment over the templates/ package; autoescape on for every *.html.j2 template."""
    import jinja2

    def load(name: str) -> str:
        return files("tunecost.templates").joinpath(name).read_text(encoding="utf-8")

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2", "html"), default_for_string=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        finalize=finalize,  # every {{ expression }} without control or bidi characters (launcher/views/safe_text)
    )
    env.filters["md"] = _md_escape
    env.filters["hours"] = lambda v: "n/a" if v is None else f"{v:,.4f}"
    return with_places(env, 2)


def with_places(env, places: int):
    """Every amount of one report (prices, costs, totals, differences) to the same number of decimal places."""
    env.filters["money"] = lambda v: "n/a" if v is None else f"{v:,.{places}f}"
    env.filters["signed_money"] = lambda v: "n/a" if v is None else f"{v:+,.{places}f}"
    return env
