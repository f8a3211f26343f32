"""How the GPUs of an offer talk to each other: the GPU-to-GPU link and, across nodes, the network.

Rows of pricing_data/interconnect.csv, each with its source (pricing_data/SOURCES.md). The most specific row
wins: instance type (exact, or a glob on its name such as '*sxm*'), then provider + GPU, then the GPU alone
(SXM-only parts from their datasheet; names that cover PCIe cards too get PCIe), then the conservative default
(PCIe Gen4 x16 without peer-to-peer). Only rows whose basis is the provider's own
statement count as sourced; every other answer is said to be assumed in the plan.
"""

from __future__ import annotations

from fnmatch import fnmatch
from functools import lru_cache
from typing import Optional

from pydantic import BaseModel, ConfigDict

from tunecost.planner.market.csv_file import shipped_rows

# Collective bus bandwidth reached / nominal one-way link bandwidth (stated assumptions, not fitted):
# NVLink/NVSwitch: NCCL all-reduce reaches ~230-240 GB/s busbw on 300 GB/s A100 links; PCIe with P2P: NCCL's
# topology models a Gen4 x16 link at 24 of 32 GB/s (github.com/NVIDIA/nccl-tests/issues/307, 'PCI[24.0]');
# PCIe without P2P: data is staged through host memory (two PCIe crossings, CPU memory bandwidth), so half that.
LINK_EFFICIENCY = {"nvlink": 0.78, "pcie_p2p": 0.75, "pcie_host": 0.375}
NETWORK_EFFICIENCY = 0.8          # NCCL over EFA / InfiniBand / RoCE: busbw / line rate
DEFAULT_NETWORK_GBPS = 25.0       # multi-node offers whose network nobody stated: plain cloud Ethernet (assumed)
SOURCED = "provider"


class Interconnect(BaseModel):
    """One offer's links. Bandwidths: link in GB/s one way per GPU (nominal), network in Gbit/s per node."""

    model_config = ConfigDict(frozen=True)

    gpu_link: str
    link_gb_s: float
    p2p: bool
    network: str = ""
    network_gbps: Optional[float] = None
    basis: str = "default"   # provider | datasheet | assumed | default
    source: str = ""

    @property
    def sourced(self) -> bool:
        return self.basis == SOURCED

    @property
    def kind(self) -> str:
        if "nvlink" in self.gpu_link.lower() or "nvswitch" in self.gpu_link.lower():
            return "nvlink"
        return "pcie_p2p" if self.p2p else "pcie_host"

    def bus_gb_s(self, nodes: int = 1) -> float:
        """Bandwidth a ring collective reaches per GPU; across nodes the slower of the link and the network."""
        intra = self.link_gb_s * LINK_EFFICIENCY[self.kind]
        if nodes <= 1:
            return intra
        return min(intra, (self.network_gbps or DEFAULT_NETWORK_GBPS) / 8 * NETWORK_EFFICIENCY)

    def describe(self, nodes: int = 1) -> str:
        p2p = "" if self.kind == "nvlink" else (" with P2P" if self.p2p else " without P2P")
        text = f"{self.gpu_link}{p2p} ({self.link_gb_s:g} GB/s one way)"
        if nodes > 1:
            net = (f"{self.network or 'network'} {self.network_gbps:g} Gbit/s" if self.network_gbps
                   else f"network not stated: {DEFAULT_NETWORK_GBPS:g} Gbit/s Ethernet assumed")
            text += f", {nodes} nodes over {net}"
        return text + ("" if self.sourced else f" [{self.basis}: assumed, not the provider's statement]")


def _float(text: str) -> Optional[float]:
    return float(text) if text.strip() else None


def _model(row: dict[str, str]) -> Interconnect:
    return Interconnect(gpu_link=row["gpu_link"], link_gb_s=float(row["link_gb_s"]),
                        p2p=row["p2p"].strip().lower() == "yes", network=row["network"],
                        network_gbps=_float(row["network_gbps"]), basis=row["basis"], source=row["source"])


@lru_cache(maxsize=512)
def lookup(provider: str, instance_type: str, gpu: str) -> Interconnect:
    """The most specific row for this offer (see the module docstring); never fails. An instance_type may be a
    glob ('*sxm*': the instance name says what the provider's page would)."""
    def score(row: dict[str, str]) -> Optional[int]:
        if row["provider"] and row["provider"] != provider:
            return None
        if row["instance_type"] and not fnmatch(instance_type.lower(), row["instance_type"].lower()):
            return None
        if row["gpu"] and row["gpu"] != gpu:
            return None
        return 4 * bool(row["instance_type"]) + 2 * bool(row["provider"]) + bool(row["gpu"])
    scored = [(s, i, r) for i, r in enumerate(shipped_rows("interconnect.csv")) if (s := score(r)) is not None]
    return _model(max(scored, key=lambda t: (t[0], -t[1]))[2])


def default_for(gpu: str) -> Interconnect:
    """What a GPU gets where nothing is known about the offer (calibration rows, `tunecost estimate`)."""
    return lookup("", "", gpu)
