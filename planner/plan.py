"""Plan: the one contract from `tunecost plan` to `launch`, the ledger and the reports; saved as plan.json.

WHY a schema version: a plan file outlives the code that wrote it. A file from another version (or another tool)
gets one line saying so, instead of a KeyError deep in the launcher; run records keep the plan they ran, so old
ledger rows still load (a plan without a version is version 1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, Field, ValidationError, field_validator

from tunecost.job.numbers import loads
from tunecost.planner.disk import disk_gb
from tunecost.planner.errors import UserError
from tunecost.planner.fallbacks import Fallback, fallback_order
from tunecost.planner.managed import ManagedQuote
from tunecost.planner.model.cpu_speed import LocalQuote
from tunecost.planner.model.memory import MemoryEstimate
from tunecost.planner.quote import Infeasible, Quote
from tunecost.planner.model.shapes import ModelShape, resolve_shape
from tunecost.planner.model.speed import SpeedEstimate
from tunecost.planner.spec import TrainSpec
from tunecost.planner.sweep_grid import label

PLAN_SCHEMA = 3  # 3: each quote holds its offer, the fallback order in the plan; 2: typed memory/speed, sweep in
                 # the plan (plans saved before 2 carry no version at all)
SweepOffers = Literal["one", "each"]


class SweepPoint(BaseModel):
    """One point of the grid: its settings, the spec it trains, and its quotes (the first is the one priced)."""

    index: int
    params: dict[str, Any] = Field(description="sweep key -> value, e.g. {'rank': 8, 'learning-rate': 0.0001}")
    spec: TrainSpec
    job: dict[str, Any] = Field(default_factory=dict, description="job-only settings (learning_rate)")
    quotes: list[Quote] = Field(default_factory=list, description="the priced offer first, then fallbacks "
                                "(none for a local sweep: this machine is not priced)")
    fallbacks: list[Fallback] = Field(default_factory=list, description="the point's fallback order, as Plan's")
    local: Optional[LocalQuote] = Field(default=None, description="the point's quote for this machine, as Plan's")

    @property
    def quote(self) -> Quote:
        return self.quotes[0]

    @property
    def label(self) -> str:
        return label(self.params)


class Sweep(BaseModel):
    """The grid, its points and the totals the budget is checked against."""

    offers: SweepOffers = "one"
    axes: dict[str, list[Any]] = Field(default_factory=dict)
    points: list[SweepPoint]
    total_cost: float = 0.0
    total_hours: float = Field(default=0.0, description="one point after another")
    offer: str = Field(default="", description="the shared offer (offers='one')")


class Plan(BaseModel):
    """What `tunecost plan` decided and why. A sweep's plan is its first point's plan plus the whole sweep."""

    schema_version: int = Field(description=f"{PLAN_SCHEMA} for plans this version writes")
    spec: TrainSpec
    shape: Optional[ModelShape] = Field(default=None, description="the model as resolved when planning (layers, "
                                        "hidden, vocabulary, parameters): the launcher sizes the VM from it")
    chosen: Optional[Quote] = None
    quotes: list[Quote] = Field(default_factory=list, description="ranked by cost")
    fallbacks: list[Fallback] = Field(default_factory=list, description="the offers a managed job may run on, in "
                                      "the order they were picked (planner/fallbacks.py): `launch --top N` takes "
                                      "the first N; empty when nothing launchable is chosen")
    infeasible: list[Infeasible] = Field(default_factory=list)
    prices_as_of: str = ""
    memory: Optional[MemoryEstimate] = Field(default=None, description="of the chosen topology (with a "
                                             "'learned_correction' component when a calibrated factor applied)")
    speed: Optional[SpeedEstimate] = Field(default=None, description="of the chosen GPU")
    assumptions: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    created_at: str = ""
    managed: list[ManagedQuote] = Field(default_factory=list, description="hosted fine-tuning services that "
                                        "can train this model and method, cheapest first (not launchable)")
    managed_verdict: str = Field(default="", description="renting the chosen offer vs the cheapest open-weight "
                                 "managed service, and the break-even size")
    multi_node: str = Field(default="", description="a cheaper or much faster multi-node option than the "
                            "chosen one, in one line; empty when none")
    sweep: Optional[Sweep] = None
    local: Optional[LocalQuote] = Field(default=None, description="for `launch --local`: the quote for this "
                                        "machine (planner/local_quote.py, on its CPU probe); never saved by `plan`")

    @field_validator("memory", "speed", mode="before")
    @classmethod
    def _none_if_empty(cls, value: Any) -> Any:
        """Schema-1 plans stored `{}` for an estimate they did not make (old run records keep such plans)."""
        return None if value == {} else value

    def model_shape(self) -> ModelShape:
        """The shape the plan was priced on; a plan saved before plans carried it resolves it again."""
        return self.shape if self.shape is not None else resolve_shape(self.spec)

    def disk_gb(self, dataset_bytes: int = 0) -> int:
        """The VM disk this plan's run needs (planner/disk.py), from the model it resolved, not the one typed."""
        return disk_gb(self.spec, self.model_shape(), dataset_bytes)

    def point(self, point: SweepPoint) -> "Plan":
        """The plan one sweep point runs: this plan with the point's spec and offers, no sweep."""
        return self.model_copy(update={"spec": point.spec, "chosen": next(iter(point.quotes), None),
                                       "quotes": point.quotes, "fallbacks": point.fallbacks, "local": point.local,
                                       "sweep": None})

    def fallback_order(self, top_k: int) -> list[Fallback]:
        """The offers a run with `launch --top top_k` tries, the choice first; UserError when there is none."""
        return fallback_order(self.fallbacks, self.chosen, top_k)


def _first_error(err: ValidationError) -> str:
    """The first error that is not the missing version, so a foreign file is named by what it lacks most."""
    first = next((e for e in err.errors() if e["loc"] != ("schema_version",)), err.errors()[0])
    where = ".".join(str(p) for p in first["loc"]) or "the file"
    return f"{where}: {first['msg']}"


def _same_schema(data: Any, path: Path, fix: str) -> None:
    """A plan of another version is named as such before its fields are read (they differ by version)."""
    version = data.get("schema_version") if isinstance(data, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version != PLAN_SCHEMA:
        age = "an older" if version < PLAN_SCHEMA else "a newer"
        raise UserError(f"{path}: a plan of schema {version}, from {age} tunecost (this one reads "
                        f"{PLAN_SCHEMA}); {fix}")


def load_plan(path: Path) -> Plan:
    """Read a plan.json written by `tunecost plan --save`; one clear line if it is not one of this version."""
    fix = f"write it again with `tunecost plan ... --save {path}`"
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"plan file {path} not found; write one with `tunecost plan ... --save {path}`") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"plan file {path}: cannot read it ({err}); {fix}") from None
    try:
        data = loads(text)  # JSON itself, as the standard defines it: no NaN or Infinity (pydantic's parser takes them)
        _same_schema(data, path, fix)
        plan = Plan.model_validate_json(text)
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}); {fix}") from None
    except ValidationError as err:
        if [e["loc"] for e in err.errors()] == [("schema_version",)] and err.errors()[0]["type"] == "missing":
            raise UserError(f"{path}: a plan without a schema version, from an older tunecost (this one reads "
                            f"{PLAN_SCHEMA}); {fix}") from None
        raise UserError(f"{path}: not a tunecost plan ({_first_error(err)}); {fix}") from None
    except (ValueError, RecursionError) as err:  # NaN or Infinity (refused by loads), or nested past the stack
        reason = str(err) if not isinstance(err, RecursionError) else "nested too deeply"
        raise UserError(f"{path}: not a tunecost plan ({reason}); {fix}") from None
    if plan.schema_version != PLAN_SCHEMA:  # a version that is not an int was refused by the model above
        _same_schema({"schema_version": plan.schema_version}, path, fix)
    return plan
