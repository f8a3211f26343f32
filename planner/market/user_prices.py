"""The user's own price CSV (`--prices FILE`), checked cell by cell so a typo is named by file, line and column.

A user CSV holds negotiated or fresher prices; a wrong cell would silently change which offer wins, so every
cell is parsed here and the first bad one stops the run with one line saying what to write instead.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path
from typing import Callable

import pandas as pd

from tunecost.job.numbers import MAX_GPUS
from tunecost.planner.market.csv_file import csv_rows, data_rows, read_text
from tunecost.planner.errors import UserError
from tunecost.planner.market.gpus import get_gpu
from tunecost.planner.market.offer_table import OFFER_COLUMNS, conform

REQUIRED = ["provider", "instance_type", "gpu", "gpu_count"]
PRICES = ["price_per_hour", "spot_price_per_hour"]


class CellError(ValueError):
    """A bad cell; the message says what was expected."""


def _text(value: str) -> str:
    return value.strip()


def _required_text(value: str) -> str:
    if not value.strip():
        raise CellError("is empty (expected a name, e.g. runpod)")
    return value.strip()


def _provider(value: str) -> str:
    return _required_text(value).lower()


def _number(expected: str) -> Callable[[str], float]:
    def parse(value: str) -> float:
        if not value.strip():
            return math.nan
        try:
            number = float(value)
        except ValueError:
            raise CellError(f"{value.strip()!r} is not a number (expected {expected})") from None
        if not math.isfinite(number) or number < 0:
            raise CellError(f"{value.strip()!r} is not a non-negative number (expected {expected})")
        return number

    return parse


def _price(expected: str) -> Callable[[str], float]:
    """A price: empty (no such price), or above 0; a 0 would make the offer free and win every plan."""
    number = _number(expected)

    def parse(value: str) -> float:
        price = number(value)
        if price == 0:
            raise CellError(f"0 is not a price (expected {expected}); leave the cell empty when there is no "
                            "such price")
        return price

    return parse


def _count(value: str) -> int:
    try:
        count = int(value.strip())
    except ValueError:
        raise CellError(f"{value.strip()!r} is not a whole number (expected GPUs per instance, e.g. 1)") from None
    if not 1 <= count <= MAX_GPUS:
        raise CellError(f"{value.strip()!r} is not between 1 and {MAX_GPUS} (expected GPUs per instance, e.g. 1)")
    return count


def _gpu(value: str) -> str:
    try:
        return get_gpu(_required_text(value)).name
    except UserError as err:
        raise CellError(str(err)) from None


def _as_of(value: str) -> str:
    if not value.strip():
        return ""
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise CellError(f"{value.strip()!r} is not a date (expected YYYY-MM-DD, e.g. 2026-11-23)") from None


PARSERS: dict[str, Callable[[str], object]] = {
    "provider": _provider,
    "region": _text,
    "zone": _text,
    "instance_type": _required_text,
    "gpu": _gpu,
    "gpu_count": _count,
    "gpu_memory_gib": _number("GiB per GPU, e.g. 80"),
    "vcpus": _number("vCPUs per instance, e.g. 16"),
    "memory_gib": _number("host memory in GiB, e.g. 128"),
    "price_per_hour": _price("USD per hour, e.g. 1.29"),
    "spot_price_per_hour": _price("USD per hour, e.g. 0.65"),
    "as_of": _as_of,
    "source": _text,
    "flag": _text,
}


def _check_header(where: str, header: list[str] | None) -> list[str]:
    if not header:
        raise UserError(f"{where}: empty file (expected a header line: {','.join(REQUIRED + PRICES)})")
    names = [h.strip() for h in header]
    unknown = [h for h in names if h not in PARSERS]
    if unknown:
        raise UserError(f"{where} line 1: unknown column {unknown[0]!r} (known: {', '.join(PARSERS)})")
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise UserError(f"{where} line 1: missing column {missing[0]!r} (required: {', '.join(REQUIRED)}, "
                        "plus price_per_hour and/or spot_price_per_hour)")
    if not any(p in names for p in PRICES):
        raise UserError(f"{where} line 1: no price column (add price_per_hour and/or spot_price_per_hour)")
    return names


def read_user_prices(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """Parse and check a user price CSV; rows come back in OFFER_COLUMNS, undated rows dated by the file, with
    warnings for what is legal but likely a mistake (spot dearer than on-demand, no rows at all)."""
    where = str(path)
    text = read_text(path, where, "a CSV of prices with --prices FILE")
    modified = datetime.fromtimestamp(path.stat().st_mtime).date().isoformat()
    reader = csv_rows(text, where)
    names = _check_header(where, next(reader, (1, None))[1])
    rows, seen, warnings = [], {}, []
    for line, fields in data_rows(reader, where, len(names)):
        row: dict[str, object] = {col: "" for col in OFFER_COLUMNS}
        row.update({c: math.nan for c in ("gpu_memory_gib", "vcpus", "memory_gib", *PRICES)})
        for col, value in zip(names, fields):
            try:
                row[col] = PARSERS[col](value)
            except CellError as err:
                raise UserError(f"{where} line {line}, column {col}: {err}") from None
        if all(math.isnan(row[p]) for p in PRICES):  # type: ignore[arg-type]
            raise UserError(f"{where} line {line}: no price (fill price_per_hour or spot_price_per_hour, "
                            "USD per hour for the whole instance)")
        key = (row["provider"], row["region"], row["zone"], row["instance_type"])
        if key in seen:
            raise UserError(f"{where} line {line}: same provider, region, zone and instance_type as line "
                            f"{seen[key]} (keep one row per offer)")
        seen[key] = line
        if float(row["spot_price_per_hour"]) > float(row["price_per_hour"]):  # NaN compares False
            warnings.append(f"{where} line {line}: spot price {row['spot_price_per_hour']:g} is above the on-demand "
                            f"price {row['price_per_hour']:g}; swapped columns?")
        row["as_of"] = row["as_of"] or modified
        row["source"] = row["source"] or f"user file {path.name}"
        rows.append(row)
    if not rows:
        warnings.append(f"{where} has a header but no offers; nothing from it is priced")
    return conform(pd.DataFrame(rows, columns=OFFER_COLUMNS)), warnings
