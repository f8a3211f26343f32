"""The SkyPilot task for a plan: templates/sky_task.yaml.j2 filled from the plan's top offers and launch options.

WHY a template: the YAML is what the user inspects (`launch --dry-run`) and may run with `sky jobs launch`, so
it must read like a hand-written task, comments included. It is validated by SkyPilot itself
(sky_client.validate_task -> sky.Task.from_yaml_config) before anything is launched.
"""

from __future__ import annotations

import getpass
import hashlib
import math
import os
import shutil
from importlib.resources import files
from pathlib import Path
from typing import Any, Mapping, Optional

import jinja2
from pydantic import BaseModel, Field

from tunecost.launcher.backends.job_config import CONFIG_NAME, write_job_config
from tunecost.planner.errors import UserError
from tunecost.planner.plan import Plan
from tunecost.planner.spec import Method, TrainSpec

# Secrets the job may need on the VM; only their names go into the YAML, values come from the environment.
SECRET_NAMES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "WANDB_API_KEY")
CHECKPOINT_MOUNT = "/checkpoints"
DATA_MOUNT = "/data"


class TaskOptions(BaseModel):
    """Everything the task needs besides the plan."""

    run_id: str
    bucket: str
    dataset_local: str = Field(description="absolute path of the training file on this machine")
    workdir: str = Field(description="staged folder holding job/ and the job config")
    top_k: int = Field(default=3, ge=1, le=20, description="offers in the fallback order")
    max_restarts_on_errors: int = Field(default=3, ge=0)
    secrets: list[str] = Field(default_factory=list, description="names only")


def secret_names(env: Mapping[str, str] = os.environ) -> list[str]:
    """The known secrets set in this environment (names only), to be forwarded at launch."""
    return [name for name in SECRET_NAMES if env.get(name)]


def default_bucket() -> str:
    """A stable per-user bucket name (bucket names are global, so a bare 'tunecost' would collide)."""
    digest = hashlib.sha256(getpass.getuser().encode()).hexdigest()[:8]
    return f"tunecost-checkpoints-{digest}"


def remote_dataset_path(dataset_local: str) -> str:
    return f"{DATA_MOUNT}/{Path(dataset_local).name}"


def remote_output_dir(run_id: str) -> str:
    return f"{CHECKPOINT_MOUNT}/{run_id}"


def candidate_offers(plan: Plan, top_k: int) -> list[dict[str, Any]]:
    """The fallback order (launcher/backends/fallbacks.py), each offer with its `reason` for the YAML comment."""
    from tunecost.launcher.backends.fallbacks import fallback_order

    return [{**f.offer.model_dump(mode="json"), "reason": f.reason} for f in fallback_order(plan, top_k)]


def _resources(quote: Mapping[str, Any]) -> dict[str, Any]:
    """One `ordered` entry. The instance type pins the GPUs, except GCP n1 hosts where GPUs are attached."""
    infra = "/".join(str(p) for p in (quote["provider"], quote.get("region"), quote.get("zone")) if p)
    accelerators = None
    if quote["provider"] == "gcp" and str(quote["instance_type"]).startswith("n1-"):
        accelerators = {quote["gpu"]: int(quote["gpu_count"])}
    return {**quote, "infra": infra, "accelerators": accelerators}


def disk_size_gb(spec: TrainSpec) -> int:
    """OS image + pip (~50 GB), bf16 weights twice (hub cache + merge), checkpoints cached by MOUNT_CACHED
    (two kept; full fine-tunes save ~16 B/param of weights and optimizer state, adapters are small)."""
    params_b = spec.params_b or 8.0
    checkpoints = 2 * 16 * params_b if spec.method is Method.full else 2.0
    return int(math.ceil((50 + 2 * 2 * params_b + checkpoints) / 10) * 10)


def _spec_line(spec: TrainSpec) -> str:
    model = spec.model or f"{spec.params_b}B params"
    return (f"{spec.method.value} of {model}, rank {spec.rank}, seq {spec.seq_len}, "
            f"micro-batch {spec.micro_batch} x accum {spec.grad_accum}, {spec.epochs} epoch(s)")


def _chosen_line(quote: Mapping[str, Any]) -> str:
    where = "/".join(p for p in (quote.get("provider"), quote.get("region"), quote.get("zone")) if p)
    nodes = int(quote.get("num_nodes") or 1)
    return (f"{quote['gpu']} x{quote['gpu_count']}{f' x {nodes} nodes' if nodes > 1 else ''} "
            f"({quote.get('parallelism', 'single')}) on {where} {quote['instance_type']}, "
            f"{'spot' if quote.get('spot') else 'on-demand'} ${quote['price_per_hour']:.4f}/h, "
            f"{quote['hours']:.2f} h, ${quote['cost']:.2f}")


def render_task_yaml(plan: Plan, opts: TaskOptions, guard_price: Optional[float] = None) -> str:
    """The task YAML text for this plan; secrets appear by name only. `guard_price`: the $/h the job's budget
    guard uses (default: the dearest offer in the fallback order)."""
    spec = plan.spec
    offers = [_resources(q) for q in candidate_offers(plan, opts.top_k)]
    if guard_price is None:
        guard_price = max(float(o["price_per_hour"]) for o in offers)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, autoescape=False)
    template = env.from_string(files("tunecost.templates").joinpath("sky_task.yaml.j2").read_text("utf-8"))
    return template.render(
        run_id=opts.run_id, name=opts.run_id, spec_line=_spec_line(spec), chosen_line=_chosen_line(offers[0]),
        prices_as_of=plan.prices_as_of or "unknown", num_nodes=int(offers[0].get("num_nodes") or 1),
        disk_size=disk_size_gb(spec), max_restarts_on_errors=opts.max_restarts_on_errors, offers=offers,
        workdir=opts.workdir, bucket=opts.bucket, dataset_remote=remote_dataset_path(opts.dataset_local),
        dataset_local=opts.dataset_local, secrets=opts.secrets, config_name=CONFIG_NAME, guard_price=guard_price,
    )


def stage_workdir(workdir: Path, job_config: dict[str, Any]) -> Path:
    """Copy the job package and its config into the folder SkyPilot syncs to the VM (run as `-m job.train`)."""
    source = Path(str(files("tunecost.job")))
    target = workdir / "job"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "tests"))
    write_job_config(job_config, workdir / CONFIG_NAME)
    return workdir
