"""How often a run is interrupted, per provider and instance class: spot preemptions, and on-demand failures.

Rates come from pricing_data/preemption.csv (measured spot traces and published figures, each with a low,
expected and high value and its source; ../shared/preemption/README.md), from the recoveries of your own finished
runs (`tunecost calibrate --apply`), or from --preemption-rate. A spot rate is per instance: a run over N nodes
stops when any of them is preempted, so its rate is N times one node's (co-interruptions in one zone make that
an upper value). An on-demand failure rate is per GPU (a run stops when any GPU fails).
"""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

from tunecost.planner.corrections import Corrections
from tunecost.planner.market.providers import provider_of


class Rate(BaseModel):
    """Interruptions per hour of the whole run (all nodes), with a range and where it comes from."""

    model_config = ConfigDict(frozen=True)

    low: float
    expected: float
    high: float
    source: str
    label: str = Field("", description="the source in a few words, for the default output")

    def scaled(self, factor: float, why: str) -> "Rate":
        return Rate(low=self.low * factor, expected=self.expected * factor, high=self.high * factor,
                    source=f"{self.source}; {why}" if why else self.source,
                    label=f"{self.label}; {why}" if why else self.label)


def _row(provider: str, market: str, gpus: int) -> dict[str, str]:
    """The provider's own row (else `*`) for this market and the largest class the instance reaches."""
    return provider_of(provider).preemption_row(market, gpus)


def instance_class(gpus_per_node: int) -> int:
    """The class a spot instance's rate is read for: 8 for 8 GPUs and more, else 1 (the traces hold these two)."""
    return 8 if gpus_per_node >= 8 else 1


def run_rate(provider: str, gpus_per_node: int, nodes: int, spot: bool, *, override: Optional[float] = None,
             learned: Optional[Corrections] = None) -> Rate:
    """Interruptions per hour of a run on `nodes` instances of `gpus_per_node` GPUs (see the module docstring)."""
    if not spot:
        gpus = gpus_per_node * nodes
        return _rate(_row(provider, "on-demand", 1)).scaled(gpus, f"x{gpus} GPUs" if gpus > 1 else "")
    if override is not None:
        base = Rate(low=override, expected=override, high=override, source="--preemption-rate",
                    label="--preemption-rate")
    else:
        base = _learned(provider, gpus_per_node, learned) or _table(provider, gpus_per_node)
    return base.scaled(nodes, f"x{nodes} nodes (any preemption stops all)" if nodes > 1 else "")


def _rate(row: dict[str, str]) -> Rate:
    return Rate(low=float(row["low"]), expected=float(row["expected"]), high=float(row["high"]),
                source=row["source"], label=row["label"])


def _table(provider: str, gpus_per_node: int) -> Rate:
    return _rate(_row(provider, "spot", gpus_per_node))


def _learned(provider: str, gpus_per_node: int, learned: Optional[Corrections]) -> Optional[Rate]:
    """The rate your own runs measured on this provider and class; the table's range kept around it."""
    cls = instance_class(gpus_per_node)
    found = next((r for r in (learned.preemption if learned else []) if r.provider == provider
                  and r.min_gpus == cls), None)
    if found is None:
        return None
    table = _table(provider, gpus_per_node)
    return Rate(low=min(table.low, found.rate), expected=found.rate, high=max(table.high, found.rate),
                source=f"learned: {found.recoveries} recoveries in {found.node_hours:.1f} instance-hours over "
                       f"{found.runs} run(s) ({', '.join(found.run_ids)}; tunecost calibrate --apply); low and high "
                       f"widened to the table's ({table.source})",
                label=f"learned from {found.runs} of your runs")
