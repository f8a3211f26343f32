"""The quote for a run of the job on this machine (`launch --local`): one process's peak GiB, and its hours from
the CPU speed model (model/cpu_speed.py) on this machine's probe. The launcher measures the probe and records the
quote; it estimates nothing itself.

WHY not the plan's cloud quote: that is per GPU of the topology the plan chose (an FSDP shard, or with a factor
learned on that GPU) and in hours on that GPU; a local run is one process of the model the job trains (its own
tiny or smollm2, or --model) on this CPU.

Steps are counted as the job will run them: the training examples of the plan's dataset (less the held-out eval
share), micro batch x accumulation per optimizer step, for the plan's epochs, capped by --max-steps.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Optional

from pydantic import ValidationError

from tunecost.job.config import base_model_id
from tunecost.job.contract import TINY_CONFIG
from tunecost.job.errors import JobError
from tunecost.job.rows import eval_rows
from tunecost.planner.errors import UserError
from tunecost.planner.model.cpu_speed import CpuProbe, LocalQuote, local_run_hours
from tunecost.planner.model.memory import estimate_memory
from tunecost.planner.model.shapes import ModelShape, resolve_shape, shape_from_config
from tunecost.planner.plan import Plan
from tunecost.planner.spec import TrainSpec

TINY_SOURCE = "job/contract.py TINY_CONFIG (the job's tiny Llama)"
Probe = Callable[[], Optional[CpuProbe]]  # measures this machine (it takes seconds: called only when needed)


def job_model_id(model: str) -> str:
    """The name the planner knows the job's model by: a built-in's hub id (smollm2), else the name as given."""
    return base_model_id(model) or model


def job_model_shape(plan: Plan, spec: TrainSpec, model: str) -> ModelShape:
    """The shape of the model a run trains: the job's tiny Llama from the contract, the plan's own shape when the
    run trains the planned model, any other by its name."""
    if model == "tiny":
        return shape_from_config(TINY_CONFIG, TINY_SOURCE)
    return plan.model_shape() if spec.model == plan.spec.model else resolve_shape(spec)


def held_out(spec: TrainSpec, eval_fraction: Optional[float]) -> int:
    """Examples the job holds out for eval, by the job's own rule (job/rows.py eval_rows); all of them where the
    job would refuse a split that leaves none to train on."""
    examples = spec.dataset.examples
    if not (eval_fraction and examples):
        return 0
    try:
        return eval_rows(examples, eval_fraction)
    except JobError:
        return examples


def optimizer_steps(spec: TrainSpec, eval_fraction: Optional[float], max_steps: Optional[int]) -> Optional[int]:
    """Steps the job will take, or None when the plan's dataset has no example count."""
    examples = spec.dataset.examples
    if not examples:
        return None
    per_epoch = math.ceil((examples - held_out(spec, eval_fraction)) / spec.micro_batch) / spec.grad_accum
    steps = math.ceil(math.ceil(per_epoch) * spec.epochs)
    return min(steps, max_steps) if max_steps else steps


def _model_source(model: str) -> str:
    """The built-in SmolLM2 is converted from GGUF on its first run only, then loads as a plain folder."""
    if model == "smollm2":
        from tunecost.job.smollm2 import cache_dir

        return "folder" if (cache_dir() / "config.json").is_file() else "gguf"
    return "folder"


def quote_local(plan: Plan, probe: Probe, *, model: Optional[str] = None, max_steps: Optional[int] = None,
                eval_fraction: Optional[float] = None) -> Optional[LocalQuote]:
    """The quote for one run of `plan` here; `model` replaces the planned one. None when the plan names no model
    and none is given (the launcher says so)."""
    trained = model or plan.spec.model
    if not trained:
        return None
    try:
        spec = plan.spec.with_model(job_model_id(trained))  # the job's built-ins by their hub id (smollm2)
        shape = job_model_shape(plan, spec, trained)  # the plan's own, unless the job trains another
    except (UserError, ValidationError):
        return LocalQuote(model=trained)
    steps = optimizer_steps(spec, eval_fraction, max_steps)
    measured = probe() if steps else None
    hours = None if measured is None else local_run_hours(
        spec, shape, measured, optimizer_steps=steps, eval_examples=held_out(spec, eval_fraction),
        model_source=_model_source(trained))
    return LocalQuote(model=trained, peak_gib=round(estimate_memory(spec, shape).peak_gib, 3), estimate=hours,
                      probe=measured if hours else None)


def plan_local(plan: Plan, probe: Probe, *, model: Optional[str] = None, max_steps: Optional[int] = None,
               eval_fraction: Optional[float] = None) -> Plan:
    """The plan with its quote for this machine, and each sweep point's; the probe is taken at most once."""
    once = functools.cache(probe)
    run = dict(model=model, max_steps=max_steps, eval_fraction=eval_fraction)
    if plan.sweep is None:
        return plan.model_copy(update={"local": quote_local(plan, once, **run)})
    points = [p.model_copy(update={"local": quote_local(plan.point(p), once, **run)}) for p in plan.sweep.points]
    return plan.model_copy(update={"local": points[0].local,
                                   "sweep": plan.sweep.model_copy(update={"points": points})})
