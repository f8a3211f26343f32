"""RunRecord: one run in the ledger, from launch to bill. The report and calibrate commands read only this.

Its summary is the job's RunSummary (None when the job wrote none). It is stored as the keys the job wrote, `{}`
for none, as it always was: ledgers written before the model existed load, and `runs --json` reads the same.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, SerializationInfo, field_serializer, field_validator, model_validator

from tunecost.job.numbers import Usd
from tunecost.planner.market.offer import Offer
from tunecost.job.run_summary import RunSummary
from tunecost.launcher.ledger.run_status import RunStatus
from tunecost.planner.plan import Plan
from tunecost.planner.quote import nest_offer

FLAT_OFFER = {"provider", "region", "zone", "instance_type", "gpu", "gpu_count", "spot", "price_per_hour"}


def local_offer(rate: float, *, gpus: int = 1, device: str = "") -> Offer:
    """This machine as the offer a local run ran on: no provider bill, priced at --rate (default 0)."""
    return Offer(provider="local", instance_type="this machine", gpu=device, gpu_count=max(gpus, 1),
                 price_per_hour=rate)


def _nest_fallback(fallback: Any) -> Any:
    """A fallback as main's first schema-3 plans stored it (`offer`: a flat quote) -> `quote`: a nested one."""
    if not isinstance(fallback, dict) or "quote" in fallback or not isinstance(fallback.get("offer"), dict):
        return fallback
    return {**{k: v for k, v in fallback.items() if k != "offer"}, "quote": nest_offer(fallback["offer"])}


def _nest_quotes(part: dict[str, Any]) -> dict[str, Any]:
    """A plan's (or sweep point's) chosen quote, quotes and fallbacks with each quote's offer nested."""
    out = {**part, "quotes": [nest_offer(q) if isinstance(q, dict) else q for q in part.get("quotes", [])]}
    if isinstance(part.get("chosen"), dict):
        out["chosen"] = nest_offer(part["chosen"])
    if "fallbacks" in part:
        out["fallbacks"] = [_nest_fallback(f) for f in part.get("fallbacks") or []]
    return out


def upgrade_plan(plan: Any) -> Any:
    """A stored plan whose quotes keep their offer's fields flat (schemas 1 and 2, and the schema-3 plans written
    before quotes held an Offer, whose fallbacks named their quote `offer`) with each quote's offer nested, as
    schema 3 has it (its version kept). nest_offer leaves a nested quote as it is."""
    if not isinstance(plan, dict) or not isinstance(plan.get("schema_version"), int):
        return plan
    sweep = plan.get("sweep")
    if isinstance(sweep, dict):
        sweep = {**sweep, "points": [_nest_quotes(p) if isinstance(p, dict) else p for p in sweep.get("points", [])]}
    return {**_nest_quotes(plan), "sweep": sweep}


class StatusChange(BaseModel):
    status: RunStatus
    at: datetime
    note: str = ""


class RunRecord(BaseModel):
    """What a run was planned to cost and what it cost. Money in USD, time in hours, memory in GiB."""

    # NaN is stored as NaN, as the job's summary writes a diverged loss: as null it would not read back
    model_config = ConfigDict(ser_json_inf_nan="constants")

    id: str
    status: RunStatus = Field(description="pending | running | succeeded | failed | stopped")
    backend: str = Field(description="local | sky-managed | sky-cluster")
    created_at: datetime
    started_at: Optional[datetime] = None
    ended_at: Optional[datetime] = None
    tag: str = ""
    offer: Optional[Offer] = Field(default=None, description="where it ran (or was to run) and at what price "
                                   "per hour; a local run's is this machine at --rate")
    method: str = ""
    model: str = ""
    estimated_hours: Optional[float] = None
    estimated_cost: Optional[Usd] = None
    estimated_peak_gib: Optional[float] = None
    actual_hours: Optional[float] = None
    actual_cost: Optional[Usd] = None
    recoveries: int = 0
    resumes: list[int] = Field(default_factory=list, description="steps each resume started from")
    plan: Optional[Plan] = Field(default=None, description="the plan the run came from")
    task_yaml: str = ""
    summary: Optional[RunSummary] = Field(default=None, description="the job's run_summary.json")
    history: list[StatusChange] = Field(default_factory=list)
    # Added by the launcher (additive): where the run wrote, what SkyPilot called it, and where the rate came from.
    output_dir: str = Field(default="", description="checkpoints + run_summary.json (local path or bucket path)")
    sky_job_id: Optional[int] = Field(default=None, description="SkyPilot managed job id")
    rate_source: str = Field(default="", description="why the offer's price is what it is (plan offer, --rate, default 0)")
    budget_usd: Optional[Usd] = None
    # A sweep's runs share its id; each knows its point (index and settings) so reports can group and compare them.
    sweep_id: str = ""
    sweep_point: Optional[int] = None
    sweep_params: dict[str, Any] = Field(default_factory=dict, description="sweep key -> value of this point")

    @property
    def rate(self) -> float:
        """USD per hour of the whole run (all nodes): what its running time is billed at."""
        return self.offer.total_per_hour if self.offer else 0.0

    @model_validator(mode="before")
    @classmethod
    def _flat_offer(cls, value: Any) -> Any:
        """Records written before runs held an Offer kept its fields flat (price_per_hour for all nodes): nest
        them, so every ledger record still loads."""
        if not isinstance(value, dict) or "offer" in value or not FLAT_OFFER & set(value):
            return value
        flat = {k: value[k] for k in FLAT_OFFER if k in value}
        rest = {k: v for k, v in value.items() if k not in FLAT_OFFER}
        if not any(flat.values()):
            return rest
        return {**rest, "offer": {"provider": "", **flat, "gpu_count": flat.get("gpu_count") or 1}}

    @field_validator("summary", "plan", mode="before")
    @classmethod
    def _none_if_empty(cls, value: Any) -> Any:
        """`{}` is how a record without a summary was (and is) stored, and one without a plan was."""
        return None if value == {} else value

    @field_validator("plan", mode="before")
    @classmethod
    def _unversioned_plan(cls, value: Any) -> Any:
        """A record written before plans carried a version holds a schema-1 plan: keep reading it (a ledger record
        is never lost), though `launch` refuses such a plan file and `Plan` itself requires the version. Plans before
        schema 3 get their quotes' offers nested (`nest_offer`)."""
        if isinstance(value, dict) and value and "schema_version" not in value:
            value = {**value, "schema_version": 1}
        return upgrade_plan(value)

    @field_serializer("summary")
    def _summary_as_written(self, summary: Optional[RunSummary], info: SerializationInfo) -> dict[str, Any]:
        return {} if summary is None else summary.model_dump(mode=info.mode, exclude_unset=True)
