"""The job's config for a plan: the plan's training spec as the job's own typed JobConfig (job/job_config.py).

WHY a separate step: the job (job/train.py) is standalone and knows nothing of plans; this is the one place
where plan fields become job keys, so `launch` (sky) and `launch --local` train exactly the same thing. The
result is the job's own model, checked by the job's own rules, so a plan the job would refuse is one line here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

from tunecost.job.atomic import atomic_write
from tunecost.job.config import targets_problem
from tunecost.job.contract import OPTIMIZERS, Method, Parallelism
from tunecost.job.errors import JobError
from tunecost.job.job_config import JobConfig
from tunecost.planner.errors import UserError
from tunecost.planner.plan import Plan
from tunecost.planner.quote import Quote

# TrainSpec field -> job config key, where the names differ.
_RENAMED = {"targets": "target_modules"}
# TrainSpec fields the job takes as they are.
_SAME = ("method", "rank", "alpha", "virtual_tokens", "seq_len", "micro_batch", "grad_accum",
         "gradient_checkpointing", "optimizer", "precision", "epochs", "packing")
# Job keys a user may override at launch (--max-steps, --save-steps, ...).
OVERRIDABLE = ("max_steps", "save_steps", "save_minutes", "learning_rate", "eval_fraction", "seed",
               "logging_steps", "merge", "report_to", "keep_checkpoints")


def _targets(value: Any) -> Any:
    """'q_proj,v_proj' -> ['q_proj', 'v_proj']; the job also accepts 'all-linear' / 'attention' as they are."""
    if isinstance(value, str) and "," in value:
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def planned_minutes(offers: Sequence[Quote]) -> Optional[float]:
    """The checkpoint interval the plan chose (planner/model/checkpointing.py), in minutes: the shortest among the
    offers the run may land on, since one config serves them all. None when no offer has one (a plan saved
    before intervals were planned, or --preemption-rate 0): the job keeps its own save defaults then."""
    hours = [o.checkpoint_interval_hours for o in offers if o.checkpoint_interval_hours]
    return round(min(hours) * 60, 3) if hours else None


def build_job_config(plan: Plan, *, run_id: str, dataset: str, output_dir: str,
                     price_per_hour: float, budget_usd: Optional[float] = None, model: Optional[str] = None,
                     local: bool = False, overrides: Optional[dict[str, Any]] = None,
                     offers: Sequence[Quote] = ()) -> JobConfig:
    """Job config for this plan. `local` drops GPU-only choices the plan made for its cloud GPU. `offers`: the
    ones the run may land on; one config serves them all, so it shards (FSDP) when any of them was planned
    sharded: a DDP copy per GPU would not fit there (the job runs one-GPU offers unsharded either way), and
    saves at the interval planned for them (save_minutes, save_steps 0) rather than every N steps. A local run
    keeps the job's own save defaults: the plan's interval was chosen for a cloud offer's interruptions."""
    spec = plan.spec.model_dump(mode="json")
    values: dict[str, Any] = {key: spec[key] for key in _SAME if spec.get(key) is not None}
    for field, key in _RENAMED.items():
        if spec.get(field) is not None:
            values[key] = _targets(spec[field])
    values["model"] = model or spec.get("model")
    if not values["model"]:
        raise UserError("the plan names no model (it was planned from --params); pass --model ID "
                        "(a Hugging Face id, a local model folder, 'smollm2' or 'tiny')")
    if values.get("precision") == "bf16-mixed" or local:
        # bf16-mixed -> "auto": bf16 mixed precision where the GPU has bf16, else what the job can run (a
        # fallback offer, a V100: fp16 mixed; this machine: fp32). Pure bf16 is passed as asked. Locally, a
        # CUDA-only optimizer (paged 8-bit AdamW) gives way to the job's own default too.
        values["precision"] = "auto"
    if local and OPTIMIZERS[plan.spec.optimizer].cuda_only:
        values.pop("optimizer")
    if offers:
        sharded = any(o.parallelism == Parallelism.fsdp.value for o in offers)
        values["parallelism"] = Parallelism.fsdp if sharded else Parallelism.ddp
        minutes = planned_minutes(offers)
        if minutes is not None:
            values.update(save_steps=0, save_minutes=minutes)
    values.update(dataset=dataset, output_dir=output_dir, run_id=run_id, price_per_hour=float(price_per_hour))
    if budget_usd is not None:
        values["budget_usd"] = float(budget_usd)
    for key, value in (overrides or {}).items():
        if key not in OVERRIDABLE:
            raise ValueError(f"job key {key!r} is not overridable at launch")
        if value is not None:
            values[key] = value
    return check_with_the_job(values)


def check_with_the_job(values: dict[str, Any]) -> JobConfig:
    """The job's own checks of its config (each key's range, every number finite, LoRA targets a local model
    folder has), before anything is recorded: bad input is one line here, not a failed run on a VM."""
    try:
        job = JobConfig.checked(values)
    except JobError as err:
        raise UserError(f"the job would refuse its config: {err}") from None
    problem = targets_problem(job.target_modules, job.model) if job.method in (Method.lora, Method.qlora) else None
    if problem:
        raise UserError(problem)
    return job


def write_job_config(config: JobConfig, path: Path) -> Path:
    """Write atomically (temp file + rename), so a crash never leaves a half-written config behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, config.to_json())
    return path
