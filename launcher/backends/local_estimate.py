"""The hours estimate `launch --local` records: the planner's CPU speed model on this machine's probe.

Steps are counted as the job will run them: the training examples of the plan's dataset (less the held-out eval
share), micro batch x accumulation per optimizer step, for the plan's epochs, capped by --max-steps.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

from pydantic import ValidationError

from tunecost.planner.model.cpu_speed import LocalEstimate, local_run_hours
from tunecost.planner.errors import UserError
from tunecost.planner.plan import Plan
from tunecost.job.config import base_model_id
from tunecost.job.contract import TINY_CONFIG
from tunecost.job.job_config import JobConfig
from tunecost.planner.model.shapes import ModelShape, resolve_shape, shape_from_config
from tunecost.planner.spec import TrainSpec

TINY_SOURCE = "job/contract.py TINY_CONFIG (the job's tiny Llama)"


def job_model_id(model: str) -> str:
    """The name the planner knows the job's model by: a built-in's hub id (smollm2), else the name as given."""
    return base_model_id(model) or model


def job_model_shape(plan: Plan, spec: TrainSpec, model: str) -> ModelShape:
    """The shape of the model a run trains: the job's tiny Llama from the contract, the plan's own shape when the
    run trains the planned model, any other by its name."""
    if model == "tiny":
        return shape_from_config(TINY_CONFIG, TINY_SOURCE)
    return plan.model_shape() if spec.model == plan.spec.model else resolve_shape(spec)


def held_out(spec: TrainSpec, config: JobConfig) -> int:
    """Examples the job holds out for eval (as job/data.py splits them)."""
    fraction = config.eval_fraction
    return max(1, round((spec.dataset.examples or 0) * fraction)) if fraction and spec.dataset.examples else 0


def optimizer_steps(spec: TrainSpec, config: JobConfig) -> Optional[int]:
    """Steps the job will take, or None when the plan's dataset has no example count."""
    examples = spec.dataset.examples
    if not examples:
        return None
    held = held_out(spec, config)
    per_epoch = math.ceil((examples - held) / spec.micro_batch) / spec.grad_accum
    steps = math.ceil(math.ceil(per_epoch) * spec.epochs)
    return min(steps, config.max_steps) if config.max_steps > 0 else steps


def _model_source(model: str) -> str:
    """The built-in SmolLM2 is converted from GGUF on its first run only, then loads as a plain folder."""
    if model == "smollm2":
        from tunecost.job.smollm2 import cache_dir

        return "folder" if (cache_dir() / "config.json").is_file() else "gguf"
    return "folder"


def estimate_local(plan: Plan, config: JobConfig, home: Path) -> Optional[LocalEstimate]:
    """None when the model has no known shape, the dataset no example count, or probing fails."""
    from tunecost.launcher.backends.cpu_probe import cpu_probe

    ran = {key: getattr(config, key) for key in ("micro_batch", "grad_accum", "seq_len", "epochs")}
    # what the job was told to run, over the plan's spec
    try:
        spec = plan.spec.with_model(job_model_id(config.model), **ran)
        shape = job_model_shape(plan, spec, config.model)
    except (UserError, ValidationError):
        return None
    steps = optimizer_steps(spec, config)
    probe = cpu_probe(home) if steps else None
    if probe is None or steps is None:
        return None
    return local_run_hours(spec, shape, probe, optimizer_steps=steps, eval_examples=held_out(spec, config),
                           model_source=_model_source(config.model))
