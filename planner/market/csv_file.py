"""Reading a user's CSV (offer prices, managed prices): the file's text and its data rows, each bad one named by
file and line in one clear line; and the tables shipped in tunecost/pricing_data, read once each. The columns are
each table's own business."""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Iterator

from tunecost.planner.errors import UserError


def read_text(path: Path, where: str, usage: str) -> str:
    """The file as text (a BOM dropped); a missing or unreadable file is one line, `usage` saying what to pass."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{where}: no such file (pass {usage})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{where}: cannot read it as UTF-8 text ({err.__class__.__name__})") from None


def csv_rows(text: str, where: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of every row of a CSV text; a row the csv module cannot read (a cell over its
    131,072-character limit, a NUL byte) stops the read with one line naming it."""
    reader = csv.reader(text.splitlines())
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise UserError(f"{where} line {reader.line_num}: not readable as CSV ({err})") from None
        yield reader.line_num, fields


def data_rows(rows: Iterator[tuple[int, list[str]]], where: str, width: int) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each row after the header (`rows` from csv_rows, header taken), blank rows
    skipped; a row whose field count is not the header's `width` stops the read (an unquoted comma)."""
    for line, fields in rows:
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != width:
            raise UserError(f"{where} line {line}: {len(fields)} fields but the header has {width} "
                            "(quote values that contain commas)")
        yield line, fields


@lru_cache(maxsize=None)
def shipped_rows(table: str) -> tuple[dict[str, str], ...]:
    """Every row of a table shipped in tunecost/pricing_data (gpus.csv, interconnect.csv, preemption.csv, ...)."""
    text = files("tunecost.pricing_data").joinpath(table).read_text(encoding="utf-8")
    return tuple(csv.DictReader(io.StringIO(text)))
