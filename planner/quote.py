"""Quote: one priced way to run the fine-tune (an offer x spot/on-demand), and the hours it will bill.

Hours are what the provider bills, not only the training loop: the VM boots, installs the job, downloads the
model, writes checkpoints, and loses work to interruptions (spot preemptions, hardware failures). Every one of
those terms is a stated assumption with a source (`Overheads`, planner/market/preemption.py, planner/model/checkpointing.py),
so a user who knows their setup can correct it.
"""

from __future__ import annotations

import math
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field

from tunecost.job import contract
from tunecost.job.numbers import NonNegative, Usd
from tunecost.planner.market.billing import SECONDS_PER_HOUR, BillingRule, billed_seconds
from tunecost.planner.model.checkpointing import daly_interval, expected_time
from tunecost.planner.market.offer import Offer
from tunecost.planner.market.preemption import Rate
from tunecost.planner.spec import TrainSpec

GB = 1e9  # network and disk bandwidths are quoted in decimal GB/s
BILLING = "billing"  # the hours part the provider's billing rule adds (or, rounding down, takes off)

class Overheads(BaseModel):
    """Fixed time costs around the training loop, and the user's overrides of the interruption model; each is
    shown to the user as an assumption.

    Interruptions are per offer (planner/market/preemption.py: per provider and instance class for spot, a failure rate
    per GPU on demand) and the checkpoint interval is chosen per offer from them and the write time
    (planner/model/checkpointing.py); --preemption-rate and --checkpoint-minutes replace them for every spot offer."""

    model_config = ConfigDict(frozen=True)

    provisioning_hours: float = Field(0.1, ge=0, description="VM request to SSH-ready, incl. image boot")
    setup_hours: float = Field(0.1, ge=0, description="pip install of the job's pinned requirements (torch etc.)")
    download_gb_per_s: float = Field(0.1, gt=0, description="model download from the hub, decimal GB/s")
    preemption_rate_per_hour: Optional[float] = Field(None, ge=0, description="spot preemptions per instance-hour "
                                                      "for every provider (--preemption-rate); None: the table's")
    checkpoint_interval_hours: Optional[float] = Field(None, gt=0, description="time between checkpoints "
                                                       "(--checkpoint-minutes); None: chosen per offer")

    def assumptions(self) -> list[str]:
        rate = (f"{self.preemption_rate_per_hour:g} spot preemptions per instance-hour (--preemption-rate)"
                if self.preemption_rate_per_hour is not None else
                "spot preemptions per provider and instance class (pricing_data/preemption.csv: measured traces, "
                "published figures, or the recoveries of your own runs once learned with `calibrate --apply`); each "
                "quote states "
                "its rate, range and source")
        interval = (f"checkpoint every {self.checkpoint_interval_hours * 60:.0f} min (--checkpoint-minutes)"
                    if self.checkpoint_interval_hours is not None else
                    "checkpoint interval per offer: Daly's optimum for its interruption rate and write time "
                    "(Young/Daly; on demand, for hardware failures only)")
        return [
            f"provisioning {self.provisioning_hours * 60:.0f} min and setup (pip install) "
            f"{self.setup_hours * 60:.0f} min per start, billed",
            f"model download at {self.download_gb_per_s:g} GB/s (bf16 weights from the hub) per start",
            f"{interval}; checkpoint size = what the job saves (job/contract.py checkpoint_bytes_per_param), written "
            "at the provider's disk speed per node (pricing_data/checkpoint_storage.csv)",
            f"{rate}; on demand: hardware failures per GPU-hour (Llama 3's 16k-GPU run); each interruption costs a "
            "restart (provisioning + setup + download) and the work since the last checkpoint (Daly's exponential "
            "model); a spot quote's pessimistic hours use the high rate, and --deadline is checked against them",
            "several nodes: FSDP traffic crosses the instance's network (pricing_data/interconnect.csv); an "
            "interruption of any node stops all",
        ]


class Quote(BaseModel):
    """One offer priced for this fine-tune. Money in USD, time in hours, memory in GiB."""

    offer: Offer
    hours: NonNegative
    cost: Usd = Field(description="billed hours x the offer's price for all nodes")
    peak_gib_per_gpu: NonNegative
    peak_band_gib: tuple[float, float] = Field((0.0, 0.0), description="where published runs like it measured "
                                               "(planner/model/bands.py); the fit is judged by its upper edge")
    pareto: bool = False
    parallelism: str
    tokens_per_sec: NonNegative = Field(description="total across GPUs")
    hours_breakdown: dict[str, float]
    interconnect: str = Field("", description="GPU-to-GPU link (and network across nodes) the hours assume")
    interconnect_assumed: bool = Field(False, description="the interconnect is assumed, not the provider's statement")
    communication_hours: float = Field(0.0, description="all GPU-to-GPU traffic time; the part not overlapped "
                                       "with compute is hours_breakdown['communication']")
    corrections: dict[str, float] = Field(default_factory=dict, description="learned factors applied to 'hours' "
                                          "and 'memory' (tunecost calibrate --apply); empty when none")
    checkpoint_interval_hours: Optional[float] = Field(None, description="hours of training between checkpoints "
                                                       "the job is given; None: none before the end")
    checkpoint_gb: float = Field(0.0, description="size of one checkpoint, all nodes together")
    checkpoint_write_hours: float = Field(0.0, description="time to write one checkpoint (nodes write in parallel)")
    preemption_rate_per_hour: float = Field(0.0, description="expected interruptions per hour of the run, all "
                                            "nodes: spot preemptions, or on demand hardware failures")
    preemption_rate_low: float = 0.0
    preemption_rate_high: float = 0.0
    preemption_source: str = ""
    preemption_label: str = Field("", description="the source in a few words")
    pessimistic_hours: Optional[float] = Field(None, description="hours at the high interruption rate (the same "
                                               "checkpoint interval); the deadline is checked against these")
    pessimistic_cost: Optional[float] = None

    @property
    def worst_hours(self) -> float:
        return self.pessimistic_hours if self.pessimistic_hours is not None else self.hours

    launchable: bool = Field(True, description="the pinned SkyPilot can launch it (pricing_data/providers.csv); "
                             "others are priced for comparison, never chosen nor fallen back to")
    not_launchable_why: str = Field("", description="why SkyPilot cannot launch it; '' when it can")
    speed_assumed: str = Field("", description="why the GPU's peak TFLOPS is assumed (no sourced figure in "
                               "pricing_data/gpus.csv); '' when sourced")


OFFER_FIELDS = ("provider", "region", "zone", "instance_type", "gpu", "gpu_count", "gpu_memory_gib", "spot", "as_of",
                "source")


def nest_offer(flat: dict[str, Any]) -> dict[str, Any]:
    """A quote as plans before schema 3 stored it (the offer's fields flat beside the estimate, price_per_hour
    for all nodes) -> as this version stores it. For run records, which keep the plan they ran."""
    if "offer" in flat or "provider" not in flat:
        return flat
    rest = {k: v for k, v in flat.items() if k not in (*OFFER_FIELDS, "num_nodes", "price_per_hour")}
    nodes = flat.get("num_nodes") or 1
    offer = {k: flat[k] for k in OFFER_FIELDS if k in flat}
    return {**rest, "offer": {**offer, "nodes": nodes, "price_per_hour": (flat.get("price_per_hour") or 0) / nodes}}


class Infeasible(BaseModel):
    """A GPU type x count that cannot hold the job, with how much it lacks and what would make it fit."""

    gpu: str
    gpu_count: int
    needs_gib: float
    has_gib: float
    reason: str
    hint: str
    tight: bool = False  # fits at the expected peak, not at the band's upper edge (the reason gives the odds)


def checkpoint_gb(spec: TrainSpec, trainable_params: int) -> float:
    """Size of one checkpoint as the job writes it (job/contract.py): trainable weights + optimizer state."""
    per_param = contract.checkpoint_bytes_per_param(spec.method.value, spec.precision.value, spec.optimizer.value)
    return trainable_params * per_param / GB


class Risk(BaseModel):
    """What interrupts this offer's run and how it checkpoints: the inputs of the hours' last two parts."""

    rate: Rate
    size_gb: float
    write_hours: float
    interval_hours: float = Field(description="inf: no checkpoint before the end")


def choose_risk(rate: Rate, checkpoint_size_gb: float, write_gb_per_s: float, nodes: int,
                overheads: Overheads) -> Risk:
    """The write time (each node writes its shard), and the interval: the user's, else Daly's for the rate."""
    write = checkpoint_size_gb / (write_gb_per_s * nodes) / 3600
    interval = overheads.checkpoint_interval_hours or daly_interval(write, rate.expected)
    return Risk(rate=rate, size_gb=checkpoint_size_gb, write_hours=write, interval_hours=interval)


def risk_fields(risk: Risk) -> dict[str, object]:
    """The Quote fields that state an offer's interruption rate and checkpoint plan."""
    return dict(checkpoint_interval_hours=risk.interval_hours if math.isfinite(risk.interval_hours) else None,
                checkpoint_gb=round(risk.size_gb, 3), checkpoint_write_hours=round(risk.write_hours, 6),
                preemption_rate_per_hour=risk.rate.expected, preemption_rate_low=risk.rate.low,
                preemption_rate_high=risk.rate.high, preemption_source=risk.rate.source,
                preemption_label=risk.rate.label)


def hours_breakdown(*, train_tokens: int, tokens_per_sec: float, model_gb: float, risk: Risk,
                    overheads: Overheads, time_shares: Optional[dict[str, float]] = None,
                    rate: Optional[float] = None) -> dict[str, float]:
    """Billed hours by cause. The training loop splits by the speed model's time shares (compute, per-step
    overhead, exposed communication); checkpoint writes and the re-work of interruptions follow Daly's
    exponential model (planner/model/checkpointing.py) at `rate` (default: the expected one)."""
    o = overheads
    train = train_tokens / tokens_per_sec / 3600
    shares = time_shares or {"compute": 1.0}
    download = model_gb / o.download_gb_per_s / 3600
    restart = o.provisioning_hours + o.setup_hours + download
    run = expected_time(train, risk.interval_hours, risk.write_hours, restart,
                        risk.rate.expected if rate is None else rate)
    return {
        "compute": train * shares.get("compute", 0.0),
        "step_overhead": train * shares.get("step_overhead", 0.0),
        "communication": train * shares.get("communication", 0.0),
        "provisioning": o.provisioning_hours,
        "setup": o.setup_hours,
        "model_download": download,
        "checkpoints": run.checkpoints,
        "rework": run.rework,
    }


def billed(hours: float, parts: dict[str, float], rule: BillingRule) -> float:
    """The hours the provider bills for a run of `hours` (its minimum and increment; planner/market/billing.py),
    the difference added to `parts` as BILLING when it is a second or more: the plan's cost and the bill read one
    rule. Below a second (per-second billing) the hours stay as modelled."""
    extra = billed_seconds(hours * SECONDS_PER_HOUR, rule) / SECONDS_PER_HOUR - hours
    if abs(extra) * SECONDS_PER_HOUR < 1:
        return hours
    parts[BILLING] = extra
    return hours + extra
