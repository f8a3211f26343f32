"""Flags that several commands share, declared once so they are spelled and read the same everywhere:
`--providers` (filter), `--top` (how many rows or offers), and `--since`/`--until` (a UTC date range); and the
one rule for every float flag of every command (`finite_float_flags`): finite, within the flag's min/max.

Dates are typer datetime options (click parses and refuses them; cli.py words the refusal as one line). A bare
day in `--until` includes that whole day; a time is an exact, exclusive bound. Nothing heavy is imported here.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Optional, Union

import typer
from typer.core import TyperCommand
from typer.models import ParameterInfo

from tunecost.planner.errors import UserError


def plain_flags(params: list[Any]) -> list[Any]:
    """An on/off flag shows no `<bool>` type tag in --help: it takes no value, so the tag reads as if it did. And a
    help text shows as written: typer reads it as rich markup, where a hand-written "[default: 0]" is a tag that
    vanishes (escaped once per parameter: this runs at every help and parse)."""
    from rich.markup import escape

    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
        if getattr(param, "help", None) and not getattr(param, "help_escaped", False):
            param.help, param.help_escaped = escape(param.help), True
    return params


class PlainFlagsCommand(TyperCommand):
    """Every command's class (see _register): its --help lists flags without a type tag."""

    def get_params(self, ctx: Any) -> list[Any]:
        return plain_flags(super().get_params(ctx))


DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]
DATE_HINT = "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS (UTC)"


def providers_option(help: str, **kw: Any) -> Any:
    """`--providers aws,gcp` or repeated `--providers aws --providers gcp` (a list; split with split_names)."""
    return typer.Option(None, "--providers", help=help, **kw)


def top_option(default: Optional[int], help: str, **kw: Any) -> Any:
    return typer.Option(default, "--top", min=1, help=help, **kw)


def since_option(help: str = "Only runs created at or after this day or time (UTC).") -> Any:
    return typer.Option(None, "--since", formats=DATE_FORMATS, metavar="DATE", help=help)


def until_option(help: str = "Only runs created up to this day (inclusive) or before this time (UTC).") -> Any:
    return typer.Option(None, "--until", formats=DATE_FORMATS, metavar="DATE", help=help)


@dataclass(frozen=True)
class DateRange:
    """--since/--until as days (for a report's period line) and as the ledger's [since, until) bounds."""

    first: Optional[date] = None
    last: Optional[date] = None
    since: Optional[datetime] = None
    until: Optional[datetime] = None


def _shown(value: datetime) -> str:
    return value.date().isoformat() if value.time() == time.min else value.isoformat(timespec="seconds")


def date_range(since: Optional[datetime], until: Optional[datetime]) -> DateRange:
    """UTC bounds from the parsed flags; an --until at midnight (a bare day) reaches to the end of that day."""
    start = since.replace(tzinfo=timezone.utc) if since is not None and since.tzinfo is None else since
    end = None
    if until is not None:
        end = until.replace(tzinfo=timezone.utc) if until.tzinfo is None else until
        if end.time() == time.min:  # the last day there is (9999-12-31) has no next day: no upper bound then
            end = end + timedelta(days=1) if end.date() < date.max else None
    if start is not None and end is not None and end <= start:
        raise UserError(f"--until {_shown(until)} is before --since {_shown(since)}; swap them")  # type: ignore[arg-type]
    return DateRange(first=since.date() if since else None, last=until.date() if until else None,
                     since=start, until=end)


def _number_parser(ge: Optional[float], le: Optional[float]) -> Any:
    def parse(text: str) -> float:
        from tunecost.job.numbers import bounded, check  # here, not at start-up: `tunecost --help` stays fast

        return check(text, bounded(ge, le))  # pydantic's reason ("Input should be a finite number") is the line

    return parse


def finite_float_flags(app: typer.Typer) -> None:
    """Give every float flag of every command (and sub-app) the shared number check of tunecost.job.numbers: no
    `nan` or `inf` gets past the command line, and the flag's declared min/max hold, for flags added later too.
    Typer parses a bare float with pydantic's float, which takes 'nan' and 'inf' as numbers."""
    for group in app.registered_groups:
        if group.typer_instance is not None:
            finite_float_flags(group.typer_instance)
    for command in app.registered_commands:
        for param in inspect.signature(command.callback, eval_str=True).parameters.values():
            info = param.default
            if isinstance(info, ParameterInfo) and info.parser is None and \
                    param.annotation in (float, Optional[float], Union[float, None]):
                info.parser = _number_parser(info.min, info.max)
                info.metavar = info.metavar or "FLOAT"
