"""estimate(): memory, speed and hours of the fine-tune on one stated GPU topology, priced nowhere.

`tunecost estimate` answers "will it fit on my 2 x RTX 4090 box, and how long will it take?" with the same
models and the same hour terms the optimizer uses for a quote, so the two commands never disagree. Without a GPU
it answers the question that needs none: peak memory per GPU, by component.
"""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel

from tunecost.planner.candidates import pure_bf16_refusal
from tunecost.planner.corrections import Corrections
from tunecost.planner.errors import UserError
from tunecost.planner.model.fit import Fitter
from tunecost.planner.market.gpus import get_gpu
from tunecost.planner.optimizer import Pricer
from tunecost.planner.quote import Overheads
from tunecost.planner.model.shapes import resolve_shape
from tunecost.planner.model.memory import MemoryEstimate
from tunecost.planner.model.speed import SpeedEstimate, estimate_speed
from tunecost.planner.spec import Parallelism, TrainSpec


class Estimate(BaseModel):
    """The estimate for one topology. Memory in GiB per GPU, speed in tokens/s, time in hours."""

    model: str
    framework: str = "tunecost"
    gpu: Optional[str] = None          # None: memory only (speed, time and fit need a GPU)
    gpu_count: int
    parallelism: str
    gpu_memory_gib: Optional[float] = None
    fits: Optional[bool] = None        # judged by the memory band's upper edge
    tight: bool = False                # fits at the expected peak only (fit_reason gives the odds)
    fit_reason: str = ""
    hint: str = ""
    memory: MemoryEstimate
    speed: Optional[SpeedEstimate] = None
    tokens_per_sec: Optional[float] = None
    train_tokens: int
    hours: Optional[float] = None
    hours_breakdown: dict[str, float] = {}
    assumptions: list[str]
    warnings: list[str] = []


def memory_only(spec: TrainSpec, *, gpu_count: int = 1, parallelism: Optional[Parallelism] = None) -> Estimate:
    """Peak memory per GPU without a GPU named: several GPUs shard with FSDP unless --parallelism says ddp (the
    choice the optimizer makes by GPU size cannot be made without one)."""
    parallelism = parallelism or (Parallelism.fsdp if gpu_count > 1 else Parallelism.single)
    shape = resolve_shape(spec)
    memory = Fitter(spec, shape, 1.0, max_gpus=gpu_count).memory(gpu_count, parallelism)
    notes = [f"model shape: {shape.source}", *memory.assumptions]
    if gpu_count > 1:
        notes.append(f"no --gpu: {parallelism.value.upper()} over {gpu_count} GPUs (give --gpu to let the fit choose, "
                     "or --parallelism)")
    return Estimate(model=shape.name, framework=spec.framework.value, gpu_count=gpu_count,
                    parallelism=parallelism.value, memory=memory,
                    train_tokens=spec.train_tokens, assumptions=list(dict.fromkeys(notes)))


def estimate(spec: TrainSpec, gpu_name: Optional[str], *, gpu_count: int = 1, parallelism: Optional[Parallelism] = None,
             headroom: float = 0.9, overheads: Optional[Overheads] = None,
             corrections: Optional[Corrections] = None) -> Estimate:
    """Parallelism None chooses as the optimizer does (single; DDP when the replica fits, else FSDP).
    Learned `corrections` for this GPU and method scale peak memory (and so the fit) and hours, as in a plan."""
    if gpu_count < 1:
        raise UserError(f"--gpus must be at least 1 (got {gpu_count})")
    if parallelism is Parallelism.single and gpu_count > 1:
        raise UserError(f"--parallelism single needs --gpus 1 (got {gpu_count}); use ddp or fsdp")
    if parallelism not in (None, Parallelism.single) and gpu_count == 1:
        parallelism = Parallelism.single  # DDP/FSDP over one GPU is a single GPU
    if gpu_name is None:
        return memory_only(spec, gpu_count=gpu_count, parallelism=parallelism)
    overheads = overheads or Overheads()
    gpu = get_gpu(gpu_name)
    if not gpu.runs(spec.precision):
        raise UserError(pure_bf16_refusal([gpu.name]))
    shape = resolve_shape(spec)
    pricer = Pricer(spec, shape, Fitter(spec, shape, headroom, max_gpus=max(gpu_count, 8)), overheads, corrections)
    fitter = pricer.fitter_for(gpu.name)  # peak memory times the factor learned for this GPU and method
    if parallelism is None:
        parallelism, memory, fits = fitter.best(gpu_count, gpu.memory_gib)
    else:
        memory = fitter.memory(gpu_count, parallelism)
        fits = fitter.fits(memory, gpu.memory_gib)
    speed = estimate_speed(spec, shape, gpu, gpu_count=gpu_count, parallelism=parallelism)
    tokens_per_sec = speed.tokens_per_sec_per_gpu * gpu_count  # speed's per-GPU figure includes DDP/FSDP scaling
    risk = pricer.risk("", gpu_count, 1, False, memory)  # on demand on no provider in particular
    hours, parts, _, _ = pricer.billed_hours(gpu.name, speed, tokens_per_sec, risk)
    assumptions = list(dict.fromkeys(line for line in [
        f"model shape: {shape.source}", f"dataset: {spec.dataset.source}",
        *memory.assumptions, *speed.assumptions, *overheads.assumptions(), *pricer.notes] if line))
    return Estimate(
        model=shape.name, framework=spec.framework.value, gpu=gpu.name, gpu_count=gpu_count, parallelism=parallelism.value,
        gpu_memory_gib=gpu.memory_gib, fits=fits, tight=fitter.tight(memory, gpu.memory_gib),
        fit_reason="" if fits else fitter.reason(gpu.name, gpu_count, gpu.memory_gib, memory, parallelism),
        hint="" if fits else fitter.hint(gpu_count, gpu.memory_gib, gpu.name, runs=gpu.runs),
        memory=fitter.corrected(memory), speed=speed, tokens_per_sec=tokens_per_sec,
        train_tokens=spec.train_tokens, hours=hours,
        hours_breakdown={k: round(v, 6) for k, v in parts.items()}, assumptions=assumptions)
