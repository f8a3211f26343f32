"""Quote: one priced way to run the fine-tune (an offer x spot/on-demand), and the hours it will bill.

Hours are what the provider bills, not only the training loop: the VM boots, installs the job, downloads the
model, writes checkpoints, and on spot capacity loses work to preemptions. Every one of those terms is a stated,
changeable assumption (`Overheads`), so a user who knows their setup can correct it.
"""

from __future__ import annotations

import math
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

from tunecost.job.numbers import GpuCount, NonNegative, Usd
from tunecost.planner.spec import Method, Optimizer, TrainSpec

GB = 1e9  # network and disk bandwidths are quoted in decimal GB/s

# Bytes of optimizer state per trainable parameter as saved in a checkpoint (m and v for AdamW). Not
# memory.OPTIMIZER_STATE_BYTES, the state held in GPU memory while training (SGD 4 B here, 0 B there).
CHECKPOINT_OPTIMIZER_BYTES = {
    Optimizer.adamw: 8.0,
    Optimizer.adamw_8bit: 2.0,
    Optimizer.paged_adamw_8bit: 2.0,
    Optimizer.sgd: 4.0,
    Optimizer.adafactor: 0.5,
}


class Overheads(BaseModel):
    """Fixed and spot-related time costs around the training loop; each is shown to the user as an assumption.

    No provider publishes a per-hour preemption rate: AWS's Spot Instance Advisor gives only monthly interruption
    bands (<5% to 20% for GPU instance types, higher for H100-class), so 0.05 per hour (one per 20 GPU-hours) is
    a deliberately pessimistic default; pass --preemption-rate from your own run history (`tunecost report`)."""

    model_config = ConfigDict(frozen=True)

    provisioning_hours: float = Field(0.1, ge=0, description="VM request to SSH-ready, incl. image boot")
    setup_hours: float = Field(0.1, ge=0, description="pip install of the job's pinned requirements (torch etc.)")
    download_gb_per_s: float = Field(0.1, gt=0, description="model download from the hub, decimal GB/s")
    checkpoint_gb_per_s: float = Field(0.2, gt=0, description="checkpoint write to the bucket mount's cache")
    preemption_rate_per_hour: float = Field(0.05, ge=0, description="expected spot preemptions per hour")
    checkpoint_interval_hours: float = Field(0.5, gt=0, description="time between checkpoints")

    def assumptions(self) -> list[str]:
        return [
            f"provisioning {self.provisioning_hours * 60:.0f} min and setup (pip install) "
            f"{self.setup_hours * 60:.0f} min per start, billed",
            f"model download at {self.download_gb_per_s:g} GB/s (bf16 weights from the hub) per start",
            f"checkpoint every {self.checkpoint_interval_hours * 60:.0f} min (--checkpoint-minutes), written at "
            f"{self.checkpoint_gb_per_s:g} GB/s; size = trainable params x (4 B weights + optimizer state)",
            f"spot: {self.preemption_rate_per_hour:g} preemptions per hour (--preemption-rate); each loses half a "
            "checkpoint interval plus a restart (provisioning + setup + download); on-demand is never preempted",
            "several nodes: FSDP traffic crosses the instance's network (pricing_data/interconnect.csv); a "
            "preemption of any node stops all",
        ]


class Quote(BaseModel):
    """One offer priced for this fine-tune. Money in USD, time in hours, memory in GiB."""

    provider: str
    region: str
    zone: str = ""
    instance_type: str
    gpu: str
    gpu_count: GpuCount = Field(description="GPUs per node (per instance)")
    spot: bool
    price_per_hour: Usd = Field(description="all nodes together (instance price x num_nodes)")
    hours: NonNegative
    cost: Usd
    peak_gib_per_gpu: NonNegative
    peak_band_gib: tuple[float, float] = Field((0.0, 0.0), description="where published runs like it measured "
                                               "(planner/bands.py); the fit is judged by its upper edge")
    gpu_memory_gib: NonNegative
    as_of: str
    source: str
    pareto: bool = False
    parallelism: str
    num_nodes: GpuCount = 1
    tokens_per_sec: NonNegative = Field(description="total across GPUs")
    hours_breakdown: dict[str, float]
    interconnect: str = Field("", description="GPU-to-GPU link (and network across nodes) the hours assume")
    interconnect_assumed: bool = Field(False, description="the interconnect is assumed, not the provider's statement")
    communication_hours: float = Field(0.0, description="all GPU-to-GPU traffic time; the part not overlapped "
                                       "with compute is hours_breakdown['communication']")
    corrections: dict[str, float] = Field(default_factory=dict, description="learned factors applied to 'hours' "
                                          "and 'memory' (tunecost calibrate --apply); empty when none")
    launchable: bool = Field(True, description="the pinned SkyPilot can launch it (pricing_data/providers.csv); "
                             "others are priced for comparison, never chosen nor fallen back to")
    not_launchable_why: str = Field("", description="why SkyPilot cannot launch it; '' when it can")
    speed_assumed: str = Field("", description="why the GPU's peak TFLOPS is assumed (no sourced figure in "
                               "pricing_data/gpus.csv); '' when sourced")


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
    """Size of one resumable checkpoint: trainable weights (fp32 adapters; bf16 for full) + optimizer state."""
    weight_bytes = 2.0 if spec.method is Method.full else 4.0
    return trainable_params * (weight_bytes + CHECKPOINT_OPTIMIZER_BYTES[spec.optimizer]) / GB


def hours_breakdown(*, train_tokens: int, tokens_per_sec: float, model_gb: float, checkpoint_size_gb: float,
                    spot: bool, overheads: Overheads, nodes: int = 1,
                    time_shares: Optional[dict[str, float]] = None) -> dict[str, float]:
    """Billed hours by cause. The training loop splits by the speed model's time shares (compute, per-step
    overhead, exposed communication). Spot re-work is first order: preemptions = rate x nodes x (hours without
    re-work)."""
    o = overheads
    train = train_tokens / tokens_per_sec / 3600
    shares = time_shares or {"compute": 1.0}
    download = model_gb / o.download_gb_per_s / 3600
    writes = math.floor(train / o.checkpoint_interval_hours)
    checkpoints = writes * checkpoint_size_gb / o.checkpoint_gb_per_s / 3600
    parts = {
        "compute": train * shares.get("compute", 0.0),
        "step_overhead": train * shares.get("step_overhead", 0.0),
        "communication": train * shares.get("communication", 0.0),
        "provisioning": o.provisioning_hours,
        "setup": o.setup_hours,
        "model_download": download,
        "checkpoints": checkpoints,
        "spot_rework": 0.0,
    }
    if spot:
        restart = o.provisioning_hours + o.setup_hours + download
        preemptions = o.preemption_rate_per_hour * nodes * sum(parts.values())
        lost = min(o.checkpoint_interval_hours, train) / 2  # work since the last checkpoint, on average
        parts["spot_rework"] = preemptions * (lost + restart)
    return parts
