"""What we know about each GPU provider: one row of pricing_data/providers.csv, each fact with its source, and
the provider's quirks, read through its `Provider`.

WHY one model: the planner decides what can be chosen (can the pinned SkyPilot launch this provider, spot, several
nodes?) and what a run risks (preemption rate, checkpoint write speed, interconnect), the launcher writes the task
(how GPUs are named in the `ordered` entry), the price refresh reads the catalog (how its rows are laid out), and
the plan's cost and the bill round the hours (billing rule). Each of them used to keep its own list.

The quirks stay in tables of their own, keyed by the same `provider` column (preemption.csv, checkpoint_storage.csv,
interconnect.csv): a provider has several preemption classes and many interconnect rows, and each figure's long
source sits on its own row next to it. The row `*` is what a provider with no row of its own gets (one lookup:
`own_or_any`). So adding a provider is one row here; without quirk rows it gets the `*` figures, said so.

A user adds or corrects providers in $TUNECOST_HOME/providers.csv (same columns; a row replaces the shipped row of
the same name). tests/planner/test_providers.py checks the shipped rows against the installed SkyPilot's cloud
registry, so an upgrade that adds or drops a cloud fails loudly.
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tunecost.planner.errors import UserError
from tunecost.planner.home import tunecost_home
from tunecost.planner.market.billing import BillingRule
from tunecost.planner.market.csv_file import shipped_rows
from tunecost.planner.market.interconnect import Interconnect, lookup

YesNo = Literal["yes", "no"]
SKYPILOT_PIN = "0.14.1"  # the SkyPilot the `launchable`, `sky_spot` and `sky_multi_node` columns were read from
ANY = "*"  # the quirk tables' row for every provider without one of its own
TABLE = "providers.csv"
NOT_LISTED = "not in pricing_data/providers.csv"


class Storage(BaseModel):
    """How fast one node writes a checkpoint, and on what basis (pricing_data/checkpoint_storage.csv)."""

    model_config = ConfigDict(frozen=True)

    write_gb_per_s: float
    basis: str
    source: str


def own_or_any(rows: list[dict[str, str]], provider: str) -> list[dict[str, str]]:
    """The provider's own rows among `rows`, else the `*` rows: the one wildcard rule of every quirk table."""
    name = provider.lower()
    return [r for r in rows if r["provider"].lower() == name] or [r for r in rows if r["provider"] == ANY]


class Provider(BaseModel):
    """One provider's row. `launchable`: the pinned SkyPilot has this cloud; `sky_spot` / `sky_multi_node`: it
    can launch spot / several nodes there. Billing: seconds ran -> seconds billed (planner/market/billing.py)."""

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
    listed: bool = Field(True, description="False: a provider no table names (a user's own price CSV); "
                         "every fact about it is an assumption")

    @field_validator("launchable", "sky_spot", "sky_multi_node", "refresh_default", mode="before")
    @classmethod
    def _yes_no(cls, value: object) -> object:
        return {"yes": True, "no": False}.get(str(value).strip().lower(), value)

    @field_validator("spot_notice_seconds", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return None if value == "" else value

    @classmethod
    def unlisted(cls, name: str) -> "Provider":
        """What is assumed of a provider no table names: not launchable, billed per second, no minimum."""
        return cls(provider=name, display_name=name or "unknown", launchable=False, sky_spot=False,
                   sky_multi_node=False, launch_source=NOT_LISTED, spot="unknown", spot_source=NOT_LISTED,
                   billing_granularity_seconds=1, billing_minimum_seconds=0, billing_rounding="up",
                   billing_as_of="", billing_notes="unknown: assumed per-second", refresh_default=False,
                   catalog_layout="instance", listed=False)

    @property
    def billing(self) -> BillingRule:
        """Seconds ran -> seconds billed (planner/market/billing.py): read by the plan's cost and the bill."""
        return BillingRule(provider=self.provider, granularity_seconds=self.billing_granularity_seconds,
                           minimum_seconds=self.billing_minimum_seconds, rounding=self.billing_rounding,
                           source_url=self.billing_source, as_of=self.billing_as_of, notes=self.billing_notes,
                           known=self.listed)

    def preemption_row(self, market: str, gpus: int) -> dict[str, str]:
        """pricing_data/preemption.csv: this provider's (else `*`) row for the market and the largest instance
        class (min_gpus) that `gpus` per instance reaches."""
        fits = [r for r in shipped_rows("preemption.csv") if r["market"] == market and int(r["min_gpus"]) <= gpus]
        mine = own_or_any(fits, self.provider)
        if not mine:
            raise LookupError(f"pricing_data/preemption.csv has no {market} row for {self.provider}")
        return max(mine, key=lambda r: int(r["min_gpus"]))

    @property
    def checkpoint_storage(self) -> Storage:
        """pricing_data/checkpoint_storage.csv: how fast a node writes a checkpoint here (else the `*` row)."""
        row = own_or_any(list(shipped_rows("checkpoint_storage.csv")), self.provider)[0]
        return Storage(write_gb_per_s=float(row["write_gb_per_s"]), basis=row["basis"], source=row["source"])

    def interconnect(self, instance_type: str, gpu: str) -> Interconnect:
        """pricing_data/interconnect.csv: the most specific row for this instance; the GPU's or the conservative
        default where the provider has none (planner/market/interconnect.py)."""
        return lookup(self.provider, instance_type, gpu)

    def can_launch(self, *, spot: bool, nodes: int) -> bool:
        """Can the pinned SkyPilot launch this offer: the cloud, and spot / several nodes where asked for?"""
        return not self.why_not(spot=spot, nodes=nodes)

    def why_not(self, *, spot: bool, nodes: int) -> str:
        """'' when launchable; else why not, in a few words."""
        if not self.listed:
            return f"{self.provider or 'an unnamed provider'} is {NOT_LISTED}"
        if not self.launchable:
            return f"SkyPilot {SKYPILOT_PIN} has no {self.provider} cloud"
        if spot and not self.sky_spot:
            return f"SkyPilot {SKYPILOT_PIN} cannot launch spot on {self.provider}"
        if nodes > 1 and not self.sky_multi_node:
            return f"SkyPilot {SKYPILOT_PIN} cannot launch several nodes on {self.provider}"
        return ""


def _read(text: str, where: str) -> dict[str, Provider]:
    rows: dict[str, Provider] = {}
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in Provider.model_fields if c != "listed" and c not in (reader.fieldnames or [])
               and Provider.model_fields[c].is_required()]
    if missing:
        raise UserError(f"{where}: missing columns {', '.join(missing)} (copy the header of pricing_data/{TABLE})")
    for line, row in enumerate(reader, start=2):
        try:
            found = Provider.model_validate({k: v for k, v in row.items() if k and k != "listed"})
        except ValueError as err:
            first = err.errors()[0] if hasattr(err, "errors") else {}
            what = f"{'.'.join(map(str, first.get('loc', ())))}: {first.get('msg', err)}" if first else str(err)
            raise UserError(f"{where} line {line}: {what}; fix the row (columns as in pricing_data/{TABLE})") from None
        rows[found.provider.lower()] = found
    return rows


@lru_cache(maxsize=1)
def _shipped() -> dict[str, Provider]:
    return _read(files("tunecost.pricing_data").joinpath(TABLE).read_text(encoding="utf-8"), f"pricing_data/{TABLE}")


@lru_cache(maxsize=8)
def _with_user(path: Path, stamp: tuple[int, int]) -> dict[str, Provider]:
    text = path.read_text(encoding="utf-8-sig")
    return {**_shipped(), **_read(text, str(path))}


def user_table(home: Optional[Path] = None) -> Path:
    """$TUNECOST_HOME/providers.csv: the user's rows, over the shipped ones."""
    return tunecost_home(home) / TABLE


def load_providers(home: Optional[Path] = None) -> dict[str, Provider]:
    """Every provider by lower-case name: the shipped rows, then $TUNECOST_HOME/providers.csv's over them; a
    broken row names its file and line."""
    path = user_table(home)
    try:
        stat = path.stat()
    except OSError:
        return _shipped()
    return _with_user(path, (stat.st_mtime_ns, stat.st_size))


def find_provider(name: str) -> Optional[Provider]:
    """The provider's row (case-insensitive), or None for one no table names (a user's own CSV)."""
    return load_providers().get((name or "").strip().lower())


def provider_of(name: str) -> Provider:
    """The provider's row, or what is assumed of one no table names (`Provider.unlisted`)."""
    return find_provider(name) or Provider.unlisted((name or "").strip())


def launch_problem(provider: str, *, spot: bool, nodes: int = 1) -> str:
    """'' when the pinned SkyPilot can launch this offer, else why not; an unlisted provider cannot be launched."""
    return provider_of(provider).why_not(spot=spot, nodes=nodes)


def refresh_defaults() -> tuple[str, ...]:
    """The providers `tunecost prices refresh` rebuilds when none are named."""
    return tuple(p.provider for p in load_providers().values() if p.refresh_default)
