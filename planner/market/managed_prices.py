"""The managed fine-tuning price table: shipped pricing_data/managed_prices.csv, overridden by a user CSV.

Each row is one service's published rate for a model bracket (or a named model) and a method, with its own
billing rule (`bills_padding`: unpacked examples billed at full max length), minimum charge and serving terms.
Every row is checked on read, shipped or not, so a typo in a user file stops the plan with one line naming the
file, line and column, instead of silently changing which service looks cheapest.
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tunecost.job.numbers import NonNegative, Usd
from tunecost.planner.market.csv_file import csv_rows, data_rows, read_text
from tunecost.planner.errors import UserError, from_validation

SHIPPED = "managed_prices.csv"
KEY = ("provider", "models", "method")
REQUIRED = ["provider", "models", "method", "open_weights", "status", "source"]
METHODS = ("sft", "sft-lora", "sft-full", "dpo", "dpo-lora", "dpo-full", "rft")
AS_OF = re.compile(r"^$|^\d{4}(-\d{2}(-\d{2})?)?$")  # pages give a day, a month or only a year


def _optional_number(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


class ManagedPrice(BaseModel):
    """One row of the table. Rates in USD; params in billions; empty cells are None."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    provider: str = Field(min_length=1)
    models: str = Field(min_length=1, description="'open models <=16B' (a bracket) or a named model")
    min_params_b: Optional[NonNegative] = None
    max_params_b: Optional[NonNegative] = None
    method: Literal[METHODS]  # type: ignore[valid-type]
    usd_per_million_training_tokens: Optional[Usd] = None
    usd_per_hour: Optional[Usd] = None
    minimum_charge_usd: Optional[Usd] = None
    open_weights: Literal["yes", "no", "partly"]
    status: str = Field(min_length=1, description="active, deprecated, or 'winding down: ...'")
    as_of: str = Field(default="", pattern=AS_OF.pattern)
    source: str = Field(min_length=1)
    source_kind: Literal["primary", "secondary copy", "user"] = "user"
    notes: str = ""
    bills_padding: bool = Field(default=False, description="without packing, each example billed at max length")
    serving: str = ""

    _numbers = field_validator("min_params_b", "max_params_b", "usd_per_million_training_tokens", "usd_per_hour",
                               "minimum_charge_usd", mode="before")(_optional_number)

    @field_validator("provider", mode="after")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("source_kind", mode="before")
    @classmethod
    def _user_by_default(cls, value: object) -> object:
        return "user" if isinstance(value, str) and not value.strip() else value

    @field_validator("bills_padding", mode="before")
    @classmethod
    def _yes_no(cls, value: object) -> object:
        if isinstance(value, str):
            word = value.strip().lower()
            if word in ("", "no"):
                return False
            if word == "yes":
                return True
            raise ValueError(f"{value!r} is not yes or no")
        return value

    @property
    def is_bracket(self) -> bool:
        """A row for every open model within a size bracket, rather than one named model."""
        return self.models.lower().startswith("open models")

    @property
    def winding_down(self) -> bool:
        return self.status.lower() != "active"


def _read_rows(text: str, where: str) -> list[ManagedPrice]:
    reader = csv_rows(text, where)
    header = [h.strip() for h in next(reader, (1, []))[1]]
    if not header or not any(header):
        raise UserError(f"{where}: empty file (expected a header line with {', '.join(REQUIRED)}, ...)")
    unknown = [h for h in header if h not in ManagedPrice.model_fields]
    if unknown:
        raise UserError(f"{where} line 1: unknown column {unknown[0]!r} (known: {', '.join(ManagedPrice.model_fields)})")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise UserError(f"{where} line 1: missing column {missing[0]!r} (required: {', '.join(REQUIRED)})")
    rows, seen = [], {}
    for line, fields in data_rows(reader, where, len(header)):
        try:
            row = ManagedPrice.model_validate(dict(zip(header, fields)))
        except ValidationError as err:
            raise from_validation(err, f"{where} line {line}, column") from None
        if row.usd_per_million_training_tokens is None and row.usd_per_hour is None \
                and row.minimum_charge_usd is None:
            raise UserError(f"{where} line {line}: no price (fill usd_per_million_training_tokens, usd_per_hour "
                            "or minimum_charge_usd)")
        key = tuple(getattr(row, k) for k in KEY)
        if key in seen:
            raise UserError(f"{where} line {line}: same provider, models and method as line {seen[key]} "
                            "(keep one row per service, model and method)")
        seen[key] = line
        rows.append(row)
    return rows


def read_managed_prices(path: Path) -> list[ManagedPrice]:
    """A user's managed price CSV (same columns as the shipped table; rows without source_kind are 'user')."""
    usage = "a CSV of managed fine-tuning prices with --managed-prices FILE"
    text = read_text(Path(path).expanduser(), str(path), usage)
    return _read_rows(text, str(path))


def load_managed_prices(user_csv: Optional[Path] = None) -> list[ManagedPrice]:
    """The shipped table, with a user row replacing the shipped row of the same provider, models and method."""
    shipped = _read_rows(files("tunecost.pricing_data").joinpath(SHIPPED).read_text(encoding="utf-8"),
                         f"tunecost.pricing_data/{SHIPPED}")
    if user_csv is None:
        return shipped
    user = read_managed_prices(user_csv)
    replaced = {tuple(getattr(r, k) for k in KEY) for r in user}
    return [r for r in shipped if tuple(getattr(r, k) for k in KEY) not in replaced] + user
