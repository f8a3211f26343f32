"""Does the job fit on N GPUs of M GiB, with which parallelism, and if not, what change would make it fit?

Memory per GPU depends on the spec, the GPU count and the parallelism, never on the GPU model, so each
(spec, count, parallelism) is estimated once and compared against every GPU size.
"""

from __future__ import annotations

from typing import Optional

from tunecost.planner.memory import MemoryEstimate, estimate_memory
from tunecost.planner.shapes import ModelShape
from tunecost.planner.spec import Method, Parallelism, TrainSpec

HINT_GPU_COUNTS = (2, 4, 8, 16)
MULTI_NODE_MIN_GPUS = 8  # scale out only full 8-GPU nodes, as multi-node training is done in practice


class Fitter:
    """Chooses the parallelism per GPU count and explains misfits. `headroom` is the usable share of VRAM."""

    def __init__(self, spec: TrainSpec, shape: ModelShape, headroom: float, max_gpus: int) -> None:
        self.spec, self.shape, self.headroom, self.max_gpus = spec, shape, headroom, max_gpus
        self._memory: dict[tuple[TrainSpec, int, Parallelism], MemoryEstimate] = {}

    def memory(self, gpu_count: int, parallelism: Parallelism, spec: Optional[TrainSpec] = None) -> MemoryEstimate:
        spec = spec or self.spec
        key = (spec, gpu_count, parallelism)
        if key not in self._memory:
            self._memory[key] = estimate_memory(spec, self.shape, gpu_count=gpu_count, parallelism=parallelism)
        return self._memory[key]

    def fits(self, memory: MemoryEstimate, gpu_memory_gib: float) -> bool:
        return memory.peak_gib <= self.headroom * gpu_memory_gib

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
        """(nodes, parallelism, memory, fits) for an instance of gpu_count GPUs: one instance when it holds the
        job; else, for instances of 8+ GPUs, the fewest of them that hold the job with FSDP within max_gpus."""
        parallelism, memory, fits = self.best(gpu_count, gpu_memory_gib)
        nodes = 2
        while not fits and gpu_count >= MULTI_NODE_MIN_GPUS and gpu_count * nodes <= self.max_gpus:
            sharded = self.memory(gpu_count * nodes, Parallelism.fsdp)
            if self.fits(sharded, gpu_memory_gib):
                return nodes, Parallelism.fsdp, sharded, True
            nodes += 1
        return 1, parallelism, memory, fits

    def hint(self, gpu_count: int, gpu_memory_gib: float) -> str:
        """The changes that would make it fit on this GPU, each tried for real against the memory model."""
        spec = self.spec
        tries: list[tuple[str, TrainSpec]] = []
        if spec.method in (Method.full, Method.lora):
            tries.append(("--method qlora", spec.model_copy(update={"method": Method.qlora})))
        if not spec.gradient_checkpointing:
            tries.append(("--gradient-checkpointing", spec.model_copy(update={"gradient_checkpointing": True})))
        if spec.micro_batch > 1:
            accum = spec.grad_accum * spec.micro_batch
            tries.append((f"--batch 1 --grad-accum {accum}",
                          spec.model_copy(update={"micro_batch": 1, "grad_accum": accum})))
        found = [flag for flag, changed in tries if self.best(gpu_count, gpu_memory_gib, changed)[2]]
        for count in HINT_GPU_COUNTS:
            if count > gpu_count and self.fits(self.memory(count, Parallelism.fsdp), gpu_memory_gib):
                more = f"{count} GPUs with FSDP"
                found.append(more if count <= self.max_gpus else f"{more} (--max-gpus {count})")
                break
        if found:
            return "fits with " + " or ".join(found)
        return ("nothing tried fits (QLoRA, gradient checkpointing, batch 1, up to 16 GPUs with FSDP): "
                "use a GPU with more memory, a smaller model or a shorter --seq-len")

    def reason(self, gpu: str, gpu_count: int, gpu_memory_gib: float, memory: MemoryEstimate,
               parallelism: Parallelism) -> str:
        topology = "" if gpu_count == 1 else f" with {parallelism.value.upper()} over {gpu_count} GPUs"
        return (f"needs {memory.peak_gib:.1f} GiB per GPU{topology}; {gpu} has {gpu_memory_gib:.1f} GiB "
                f"({self.headroom:.0%} usable)")
