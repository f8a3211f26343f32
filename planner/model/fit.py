"""Does the job fit on N GPUs of M GiB, with which parallelism, and if not, what change would make it fit?

Memory per GPU depends on the spec, the GPU count and the parallelism, never on the GPU model, so each
(spec, count, parallelism) is estimated once and compared against every GPU size.
"""

from __future__ import annotations

from typing import Callable, Optional

from tunecost.planner.model import bands
from tunecost.planner.model.knobs import MAX_KNOBS, cheapest_fit
from tunecost.planner.model.memory import MemoryEstimate, estimate_memory
from tunecost.planner.model.shapes import ModelShape
from tunecost.planner.spec import Parallelism, Precision, TrainSpec

HINT_GPU_COUNTS = (2, 4, 8, 16, 32, 64)
LEARNED_COMPONENT = "learned_correction"  # peak GiB added (or taken off) by a factor from tunecost calibrate
MULTI_NODE_MIN_GPUS = 8  # scale out only full 8-GPU nodes, as multi-node training is done in practice


class Fitter:
    """Chooses the parallelism per GPU count and explains misfits. `headroom` is the usable share of VRAM."""

    def __init__(self, spec: TrainSpec, shape: ModelShape, headroom: float, max_gpus: int,
                 memory_factor: float = 1.0) -> None:
        self.spec, self.shape, self.headroom, self.max_gpus = spec, shape, headroom, max_gpus
        self.memory_factor = memory_factor  # learned from finished runs on one GPU type (tunecost calibrate)
        self._memory: dict[tuple[TrainSpec, int, Parallelism], MemoryEstimate] = {}

    def scaled(self, memory_factor: float) -> "Fitter":
        """The same fitter judging fits by peak x memory_factor; shares the memory estimates already made."""
        if memory_factor == self.memory_factor:
            return self
        other = Fitter(self.spec, self.shape, self.headroom, self.max_gpus, memory_factor)
        other._memory = self._memory
        return other

    def peak(self, memory: MemoryEstimate) -> float:
        """Expected peak GiB per GPU: the model's estimate times the learned factor."""
        return memory.peak_gib * self.memory_factor

    def upper(self, memory: MemoryEstimate) -> float:
        """The band's upper edge times the learned factor: what the fit is judged by (planner/model/bands.py)."""
        return max(memory.band_gib[1], memory.peak_gib) * self.memory_factor

    def band_text(self, memory: MemoryEstimate) -> str:
        """'8.1 GiB (7.6-9.0)': the expected peak and where runs like it measured."""
        low, high = (x * self.memory_factor for x in memory.band_gib)
        return f"{self.peak(memory):.1f} GiB ({low:.1f}-{high:.1f})"

    def tight(self, memory: MemoryEstimate, gpu_memory_gib: float) -> bool:
        """Fits at the expected peak, not at the band's upper edge."""
        usable = self.headroom * gpu_memory_gib
        return self.peak(memory) <= usable < self.upper(memory)

    def over_share(self, memory: MemoryEstimate, gpu_memory_gib: float) -> float:
        """Share of the published runs behind the band that, scaled to this estimate, would exceed usable memory."""
        return bands.band(self.peak(memory), self.spec.framework.value,
                          self.spec.method.value).share_over(self.peak(memory), self.headroom * gpu_memory_gib)

    def corrected(self, memory: MemoryEstimate) -> MemoryEstimate:
        """The estimate as shown: peak x factor, the difference a 'learned_correction' component (so the
        components still add up to the peak); unchanged when no factor was learned."""
        if self.memory_factor == 1.0:
            return memory
        extra = self.peak(memory) - memory.peak_gib
        return memory.model_copy(update={
            "peak_gib": round(self.peak(memory), 3),
            "band_gib": tuple(round(x * self.memory_factor, 2) for x in memory.band_gib),
            "components_gib": {**memory.components_gib, LEARNED_COMPONENT: round(extra, 6)}})

    def memory(self, gpu_count: int, parallelism: Parallelism, spec: Optional[TrainSpec] = None) -> MemoryEstimate:
        spec = spec or self.spec
        key = (spec, gpu_count, parallelism)
        if key not in self._memory:
            self._memory[key] = estimate_memory(spec, self.shape, gpu_count=gpu_count, parallelism=parallelism)
        return self._memory[key]

    def fits(self, memory: MemoryEstimate, gpu_memory_gib: float) -> bool:
        return self.upper(memory) <= self.headroom * gpu_memory_gib

    def best(self, gpu_count: int, gpu_memory_gib: float,
             spec: Optional[TrainSpec] = None) -> tuple[Parallelism, MemoryEstimate, bool]:
        """single for 1 GPU; for more, DDP when the replicated model fits (less traffic), else FSDP."""
        if gpu_count == 1:
            memory = self.memory(1, Parallelism.single, spec)
            return Parallelism.single, memory, self.fits(memory, gpu_memory_gib)
        ddp = self.memory(gpu_count, Parallelism.ddp, spec)
        if self.fits(ddp, gpu_memory_gib):
            return Parallelism.ddp, ddp, True
        fsdp = self.memory(gpu_count, Parallelism.fsdp, spec)
        return Parallelism.fsdp, fsdp, self.fits(fsdp, gpu_memory_gib)

    def topology(self, gpu_count: int, gpu_memory_gib: float) -> tuple[int, Parallelism, MemoryEstimate, bool]:
        """(nodes, parallelism, memory, fits) for an instance of gpu_count GPUs: the fewest nodes that hold the
        job (see topologies), else one node and why it does not fit."""
        found = self.topologies(gpu_count, gpu_memory_gib)
        if found:
            return (*found[0], True)
        parallelism, memory, _ = self.best(gpu_count, gpu_memory_gib)
        return 1, parallelism, memory, False

    def topologies(self, gpu_count: int, gpu_memory_gib: float) -> list[tuple[int, Parallelism, MemoryEstimate]]:
        """Every node count worth pricing for an instance of gpu_count GPUs, within max_gpus in all: the fewest
        that hold the job, then twice, four times ... as many (faster, at a similar cost). Several nodes only for
        instances of 8+ GPUs, as multi-node training is done in practice; each node count picks DDP or FSDP."""
        most = self.max_gpus // gpu_count if gpu_count >= MULTI_NODE_MIN_GPUS else 1
        found: list[tuple[int, Parallelism, MemoryEstimate]] = []
        nodes = 1
        while nodes <= max(most, 1):
            parallelism, memory, fits = self.best(gpu_count * nodes, gpu_memory_gib)
            if fits:
                found.append((nodes, parallelism, memory))
            nodes = nodes * 2 if found else nodes + 1
        return found

    def hint(self, gpu_count: int, gpu_memory_gib: float, gpu: str = "this GPU",
             runs: Callable[[Precision], bool] = lambda _: True) -> str:
        """The cheapest change of the spec that fits here (planner/model/knobs.py), and the fewest GPUs of this type
        that hold the job unchanged with FSDP; each tried for real against the memory model. A precision the GPU
        cannot run (GpuSpec.runs) is no way out."""
        found = []
        change = cheapest_fit(self.spec, lambda s: runs(s.precision) and self.best(gpu_count, gpu_memory_gib, s)[2])
        if change is not None:
            found.append(f"fits on {gpu_count}x {gpu} with {change[0]}")
        for count in HINT_GPU_COUNTS:
            if count > gpu_count and self.fits(self.memory(count, Parallelism.fsdp), gpu_memory_gib):
                more = f"on {count}x {gpu} with FSDP"
                found.append(more if count <= self.max_gpus else f"{more} (--max-nodes {-(-count // 8)})")
                break
        if found:
            return found[0] + "".join(f"; or {f.removeprefix('fits ')}" for f in found[1:])
        return (f"nothing tried fits on {gpu} (up to {MAX_KNOBS} of: 8-bit optimizer, fused loss kernel, smaller "
                "micro batch, pure bf16, gradient checkpointing, QLoRA, another framework, a shorter --seq-len; up to "
                f"{HINT_GPU_COUNTS[-1]} GPUs with FSDP): use a GPU with more memory or a smaller model")

    def reason(self, gpu: str, gpu_count: int, gpu_memory_gib: float, memory: MemoryEstimate,
               parallelism: Parallelism) -> str:
        topology = "" if gpu_count == 1 else f" with {parallelism.value.upper()} over {gpu_count} GPUs"
        learned = "" if self.memory_factor == 1.0 else f" (x{self.memory_factor:.3f} learned from finished runs)"
        if self.tight(memory, gpu_memory_gib):
            share = self.over_share(memory, gpu_memory_gib)
            return (f"tight: needs {self.band_text(memory)} per GPU{topology}{learned}; {gpu} has "
                    f"{gpu_memory_gib:.1f} GiB ({self.headroom:.0%} usable): fits at the expected peak, not at the "
                    f"band's upper edge; {share:.0%} of the published runs like it went over")
        return (f"needs {self.band_text(memory)} per GPU{topology}{learned}; {gpu} has {gpu_memory_gib:.1f} GiB "
                f"({self.headroom:.0%} usable)")
