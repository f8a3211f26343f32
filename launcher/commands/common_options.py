"""Flags that several commands share, declared once so they are spelled and read the same everywhere:
`--providers` (filter), `--top` (how many rows or offers), and `--since`/`--until` (a UTC date range); and the
one rule for every number flag of every command (`checked_number_flags`): finite, within the flag's
min/max.

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

from tunecost.job.numbers import MAX_COUNT
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
    return typer.Option(default, "--top", min=1, help=help, **{"max": MAX_COUNT, **kw})


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


def _number_parser(ge: Optional[float], le: Optional[float], whole: bool = False) -> Any:
    def parse(text: str) -> Any:
        from tunecost.job.numbers import bounded, bounded_int, check  # here, not at start-up: `--help` stays fast

        kind = bounded_int(ge, le) if whole else bounded(ge, le)  # type: ignore[arg-type]
        return check(text, kind)  # pydantic's reason ("Input should be a finite number") is the line

    return parse


FLOAT_TYPES = (float, Optional[float], Union[float, None])
INT_TYPES = (int, Optional[int], Union[int, None])


def checked_number_flags(app: typer.Typer) -> None:
    """Give every number flag of every command (and sub-app) the shared check of tunecost.job.numbers, for flags
    added later too: a float is finite (typer parses a bare float with pydantic's float, which takes 'nan' and
    'inf' as numbers), and a float or an int stays within the flag's declared min/max. An int flag declares its
    max (job/numbers.py's bounds) unless the model it fills bounds it (the workload flags: TrainSpec)."""
    for group in app.registered_groups:
        if group.typer_instance is not None:
            checked_number_flags(group.typer_instance)
    for command in app.registered_commands:
        for param in inspect.signature(command.callback, eval_str=True).parameters.values():
            info = param.default
            if not isinstance(info, ParameterInfo) or info.parser is not None:
                continue
            if param.annotation in FLOAT_TYPES:
                info.parser = _number_parser(info.min, info.max)
                info.metavar = info.metavar or "FLOAT"
            elif param.annotation in INT_TYPES and (info.min is not None or info.max is not None):
                info.parser = _number_parser(info.min, info.max, whole=True)
                info.metavar = info.metavar or "INTEGER"
