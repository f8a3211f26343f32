"""Offer: one thing for sale, as a quote, a run record and a bill name it: where, which GPUs, how many nodes,
spot or on demand, at what price and as of when.

WHY a model of its own: a quote prices an offer, a run record says which offer ran, and the bill charges it; each
used to copy the same ten fields and spell them out in text its own way. Now they hold an Offer, compare offers
by `key`, and name one with `describe()`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, computed_field

from tunecost.job.numbers import GpuCount, NonNegative, Usd
from tunecost.planner.market.providers import provider_of


class Offer(BaseModel):
    """An instance type at a provider (optionally pinned to a region and zone), times `nodes`, spot or on demand.
    Money in USD per hour, memory in GiB."""

    model_config = ConfigDict(frozen=True)

    provider: str
    region: str = ""
    zone: str = ""
    instance_type: str = ""
    gpu: str = Field("", description="'' for a run on this machine's CPU")
    gpu_count: GpuCount = Field(1, description="GPUs per node (per instance)")
    gpu_memory_gib: NonNegative = Field(0.0, description="usable memory of one GPU (0: not known)")
    nodes: GpuCount = 1
    spot: bool = False
    price_per_hour: Usd = Field(0.0, description="one instance, as the provider lists it")
    as_of: str = Field("", description="date of the price; '' for an undated snapshot")
    source: str = Field("", description="where the price comes from")

    @computed_field(description="all nodes together: price_per_hour x nodes")  # type: ignore[prop-decorator]
    @property
    def total_per_hour(self) -> float:
        return self.price_per_hour * self.nodes

    @property
    def market(self) -> str:
        return "spot" if self.spot else "on-demand"

    @property
    def gpus(self) -> int:
        """GPUs over all nodes."""
        return self.gpu_count * self.nodes

    @property
    def key(self) -> str:
        """Stable identity: the same instance in the same place, market and node count is the same offer,
        whatever it costs today."""
        return "/".join((self.provider, self.region, self.zone, self.instance_type, self.market, f"x{self.nodes}"))

    @property
    def hardware(self) -> str:
        """'A100-80GB x8 x2 nodes', or 'this machine' where no GPU is named."""
        if not self.gpu:
            return self.instance_type or "this machine"
        return f"{self.gpu} x{self.gpu_count}" + (f" x{self.nodes} nodes" if self.nodes > 1 else "")

    def describe(self) -> str:
        """How every output names an offer: 'RunPod 1x_RTXA5000_SECURE (RTXA5000 x1, spot, CA, CA-MTL-1)'."""
        where = ", ".join(p for p in (self.market, self.region, self.zone) if p)
        name = provider_of(self.provider).display_name
        return f"{name} {self.instance_type} ({self.hardware}, {where})".replace("  ", " ")
