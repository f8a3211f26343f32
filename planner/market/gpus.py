"""GPU specs (memory, dense tensor TFLOPS, bandwidth) from the shipped table, each row with its source.

The speed model divides FLOPs by these peaks; the optimizer compares VRAM against `memory_gib`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional

from pydantic import BaseModel, ConfigDict

from tunecost.planner.errors import UserError
from tunecost.planner.market.csv_file import shipped_rows
from tunecost.planner.spec import Precision


class GpuSpec(BaseModel):
    """One GPU model. TFLOPS are dense tensor-core peaks; None where no source gave a figure."""

    model_config = ConfigDict(frozen=True)

    name: str
    vendor: str = "NVIDIA"
    memory_gib: float
    bandwidth_tb_s: Optional[float] = None
    bf16_tflops: Optional[float] = None
    fp16_tflops: Optional[float] = None
    fp32_tflops: Optional[float] = None
    supports_bf16: bool = True
    architecture: str = ""
    source: str = ""
    notes: str = ""

    def runs(self, precision: Precision) -> bool:
        """Pure bf16 runs every matmul in bf16 with no autocast to fall back on, so a GPU without bf16 units (V100,
        T4) would emulate it, far slower than the fp16 speed priced for bf16-mixed there (which the job runs as
        fp16 mixed precision on it); every other precision runs."""
        return self.supports_bf16 or precision is not Precision.bf16

    def peak_tflops(self, precision: Precision) -> Optional[float]:
        """Dense peak for the compute precision; bf16 falls back to fp16 on GPUs without bf16 (V100, T4)."""
        precision = precision.compute
        if precision is Precision.fp32:
            return self.fp32_tflops
        if precision is Precision.bf16 and self.supports_bf16 and self.bf16_tflops:
            return self.bf16_tflops
        return self.fp16_tflops or self.bf16_tflops


def _num(text: str) -> Optional[float]:
    return float(text) if text.strip() else None


@lru_cache(maxsize=1)
def load_gpus() -> dict[str, GpuSpec]:
    """All shipped GPU specs by normalized name (as in offers: 'A100-80GB', 'H100', 'RTX4090', ...)."""
    specs = {}
    for row in shipped_rows("gpus.csv"):
        specs[row["gpu"]] = GpuSpec(
            name=row["gpu"],
            vendor=row["vendor"],
            memory_gib=float(row["memory_gib"]),
            bandwidth_tb_s=_num(row["memory_bandwidth_tb_s"]),
            bf16_tflops=_num(row["bf16_dense_tflops"]),
            fp16_tflops=_num(row["fp16_dense_tflops"]),
            fp32_tflops=_num(row["fp32_tflops"]),
            supports_bf16=row["supports_bf16"].strip().lower() == "yes",
            architecture=row["architecture"],
            source=row["source_url"],
            notes=row["notes"],
        )
    return specs


def get_gpu(name: str) -> GpuSpec:
    """Look a GPU up case-insensitively; unknown names get a UserError listing close matches."""
    gpus = load_gpus()
    by_lower = {k.lower().replace("-", "").replace(" ", ""): v for k, v in gpus.items()}
    key = name.lower().replace("-", "").replace(" ", "")
    if key in by_lower:
        return by_lower[key]
    import difflib

    close = difflib.get_close_matches(name, list(gpus), n=3, cutoff=0.4)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(gpus))}"
    raise UserError(f"unknown GPU '{name}'{hint}")
