"""What we know about each GPU provider, in one table (pricing_data/providers.csv), each fact with its source.

WHY one table: the planner decides what can be chosen (can the pinned SkyPilot launch this provider, spot, several
nodes?), the launcher writes the task (how GPUs are named in the `ordered` entry), the price refresh reads the
catalog (how its rows are laid out) and the bill rounds the hours (billing rule), and each of them used to keep its
own list. Adding a provider is now one row; tests/planner/test_providers.py checks the rows against the installed
SkyPilot's cloud registry, so an upgrade that adds or drops a cloud fails loudly.
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib.resources import files
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tunecost.planner.errors import UserError

YesNo = Literal["yes", "no"]
SKYPILOT_PIN = "0.14.1"  # the SkyPilot the `launchable`, `sky_spot` and `sky_multi_node` columns were read from


class Provider(BaseModel):
    """One provider's row. `launchable`: the pinned SkyPilot has this cloud; `sky_spot` / `sky_multi_node`: it
    can launch spot / several nodes there. Billing: seconds ran -> seconds billed (launcher/reports/billing.py)."""

    model_config = ConfigDict(frozen=True)

    provider: str
    display_name: str
    sky_cloud: str = ""
    launchable: bool
    sky_spot: bool
    sky_multi_node: bool
    launch_source: str
    spot: Literal["yes", "no", "unknown"]
    spot_notice_seconds: Optional[int] = Field(None, description="warning before a spot VM is taken back")
    spot_source: str
    billing_granularity_seconds: int = Field(gt=0)
    billing_minimum_seconds: int = Field(ge=0)
    billing_rounding: Literal["up", "down"]
    billing_source: str = ""
    billing_as_of: str
    billing_notes: str = ""
    refresh_default: bool = Field(description="refreshed by `tunecost prices refresh` without --providers")
    catalog_layout: Literal["instance", "host+accelerator"] = Field(
        description="how SkyPilot's vms.csv prices a GPU VM: one row, or the host and its accelerator apart")
    attach_accelerators_on: str = Field("", description="instance-type prefix whose GPUs are attached, so the "
                                        "task names them (`accelerators`) besides the instance type")
    layout_source: str = ""

    @field_validator("launchable", "sky_spot", "sky_multi_node", "refresh_default", mode="before")
    @classmethod
    def _yes_no(cls, value: object) -> object:
        return {"yes": True, "no": False}.get(str(value).strip().lower(), value)

    @field_validator("spot_notice_seconds", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return None if value == "" else value

    def can_launch(self, *, spot: bool, nodes: int) -> bool:
        """Can the pinned SkyPilot launch this offer: the cloud, and spot / several nodes where asked for?"""
        return self.launchable and (self.sky_spot or not spot) and (self.sky_multi_node or nodes <= 1)

    def why_not(self, *, spot: bool, nodes: int) -> str:
        """'' when launchable; else why not, in a few words."""
        if not self.launchable:
            return f"SkyPilot {SKYPILOT_PIN} has no {self.provider} cloud"
        if spot and not self.sky_spot:
            return f"SkyPilot {SKYPILOT_PIN} cannot launch spot on {self.provider}"
        if nodes > 1 and not self.sky_multi_node:
            return f"SkyPilot {SKYPILOT_PIN} cannot launch several nodes on {self.provider}"
        return ""


@lru_cache(maxsize=1)
def load_providers() -> dict[str, Provider]:
    """Every row of pricing_data/providers.csv by lower-case provider name; a broken row names its line."""
    text = files("tunecost.pricing_data").joinpath("providers.csv").read_text(encoding="utf-8")
    rows: dict[str, Provider] = {}
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        try:
            found = Provider.model_validate(row)
        except ValueError as err:  # a broken shipped table is our bug, but say where
            raise UserError(f"pricing_data/providers.csv line {line}: {err}") from None
        rows[found.provider.lower()] = found
    return rows


def find_provider(name: str) -> Optional[Provider]:
    """The provider's row (case-insensitive), or None for one we know nothing about (a user's own CSV)."""
    return load_providers().get((name or "").strip().lower())


def launch_problem(provider: str, *, spot: bool, nodes: int = 1) -> str:
    """'' when the pinned SkyPilot can launch this offer, else why not; an unknown provider cannot be launched."""
    row = find_provider(provider)
    if row is None:
        return f"{provider or 'an unnamed provider'} is not in pricing_data/providers.csv"
    return row.why_not(spot=spot, nodes=nodes)


def refresh_defaults() -> tuple[str, ...]:
    """The providers `tunecost prices refresh` rebuilds when none are named."""
    return tuple(p.provider for p in load_providers().values() if p.refresh_default)
