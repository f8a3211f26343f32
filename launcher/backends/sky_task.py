"""The SkyPilot task for a plan: a dict built from the plan's top offers and launch options, dumped as YAML.

WHY a dict and yaml.dump, not a text template: file names, tags and paths are user text, and only a YAML
emitter quotes `: `, `#` and quotes correctly (a dataset named `my: data #1.jsonl` pasted into a template mounted
`/data/my` silently). The YAML is still what the user inspects (`launch --dry-run`) and may run with
`sky jobs launch`, so a comment header says what was planned and why each offer is in the fallback order, and
the scripts stay `|` blocks. SkyPilot itself validates it (sky_client.validate_task -> sky.Task.from_yaml_config)
before anything is launched.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import shutil
from importlib.resources import files
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml
from pydantic import BaseModel, Field

from tunecost.launcher.backends.job_config import write_job_config
from tunecost.launcher.ledger.run_folder import CONFIG_NAME
from tunecost.planner.errors import UserError
from tunecost.planner.fallbacks import FALLBACKS_KEPT, Fallback
from tunecost.planner.plan import Plan
from tunecost.planner.market.offer import Offer
from tunecost.planner.market.providers import provider_of
from tunecost.job.job_config import JobConfig
from tunecost.planner.quote import Quote
from tunecost.planner.spec import TrainSpec

# Secrets the job may need on the VM; only their names go into the YAML, values come from the environment.
SECRET_NAMES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "WANDB_API_KEY")
CHECKPOINT_MOUNT = "/checkpoints"
DATA_MOUNT = "/data"
DATASET_ON_VM = f"{DATA_MOUNT}/train.jsonl"


class TaskOptions(BaseModel):
    """Everything the task needs besides the plan."""

    run_id: str
    bucket: str
    dataset_local: str = Field(description="absolute path of the training file on this machine")
    workdir: str = Field(description="staged folder holding job/ and the job config")
    top_k: int = Field(default=3, ge=1, le=FALLBACKS_KEPT, description="offers in the fallback order")
    max_restarts_on_errors: int = Field(default=3, ge=0)
    secrets: list[str] = Field(default_factory=list, description="names only")
    tag: str = Field(default="", description="the run's --tag, passed to the job as TUNECOST_TAG")


def secret_names(env: Mapping[str, str] = os.environ) -> list[str]:
    """The known secrets set in this environment (names only), to be forwarded at launch."""
    return [name for name in SECRET_NAMES if env.get(name)]


def default_bucket() -> str:
    """A stable per-user bucket name (bucket names are global, so a bare 'tunecost' would collide)."""
    digest = hashlib.sha256(getpass.getuser().encode()).hexdigest()[:8]
    return f"tunecost-checkpoints-{digest}"


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def check_bucket_name(name: str) -> None:
    """A name both S3 and GCS accept (the fallback order may land on either): 3-63 characters of lower-case
    letters, digits, hyphens and dots, starting and ending with a letter or digit; no '..', no IP address, no
    'xn--' / 'sthree-' / 'goog' prefix, no '-s3alias' / '--ol-s3' suffix, no 'google' (S3: docs.aws.amazon.com/
    AmazonS3/latest/userguide/bucketnamingrules.html; GCS: cloud.google.com/storage/docs/buckets#naming)."""
    problem = (
        "must be 3-63 characters of lower-case letters, digits, hyphens and dots, starting and ending with a letter "
        "or digit" if not _BUCKET.match(name) else
        "must not contain '..'" if ".." in name else
        "must not look like an IP address" if _IP.match(name) else
        "must not start with xn--, sthree- or goog" if name.startswith(("xn--", "sthree-", "goog")) else
        "must not end with -s3alias or --ol-s3" if name.endswith(("-s3alias", "--ol-s3")) else
        "must not contain 'google'" if "google" in name else "")
    if problem:
        raise UserError(f"--bucket {name!r}: a bucket name {problem} (the S3 and GCS naming rules); pick another, "
                        f"e.g. {default_bucket()}")


def remote_dataset_path() -> str:
    """One fixed path on the VM whatever the local file is called: SkyPilot 0.14.1 pastes mount destinations
    unquoted into shell commands on the VM (backend_utils.make_safe_symlink_command), so a file named
    `x$(id).jsonl` would run `id` there."""
    return DATASET_ON_VM


def remote_output_dir(run_id: str) -> str:
    return f"{CHECKPOINT_MOUNT}/{run_id}"


def _where(offer: Offer) -> str:
    """'gcp/us-central1/us-central1-a': SkyPilot's infra (the provider's SkyPilot cloud), the parts the offer
    names."""
    cloud = provider_of(offer.provider).sky_cloud or offer.provider
    return "/".join(p for p in (cloud, offer.region, offer.zone) if p)


def _size(path: str) -> int:
    return os.path.getsize(path) if os.path.isfile(path) else 0


def _spec_line(spec: TrainSpec) -> str:
    model = spec.model or f"{spec.params_b}B params"
    return (f"{spec.method.value} of {model}, rank {spec.rank}, seq {spec.seq_len}, "
            f"micro-batch {spec.micro_batch} x accum {spec.grad_accum}, {spec.epochs} epoch(s)")


def _chosen_line(quote: Quote) -> str:
    return (f"{quote.offer.describe()}, {quote.parallelism}, ${quote.offer.total_per_hour:.4f}/h, "
            f"{quote.hours:.2f} h, ${quote.cost:.2f}")


RUN_SCRIPT = f"""\
set -euo pipefail
NODES="${{SKYPILOT_NUM_NODES:-1}}"
GPUS="${{SKYPILOT_NUM_GPUS_PER_NODE:-1}}"
if [ "$((NODES * GPUS))" -gt 1 ]; then
  MASTER_ADDR="$(echo "$SKYPILOT_NODE_IPS" | head -n1)"
  torchrun --nnodes="$NODES" --node_rank="${{SKYPILOT_NODE_RANK:-0}}" --nproc_per_node="$GPUS" \\
    --master_addr="$MASTER_ADDR" --master_port=29500 \\
    -m job.train --config {CONFIG_NAME}
else
  python -m job.train --config {CONFIG_NAME}
fi
"""
SETUP_SCRIPT = "python -m pip install --quiet -r job/requirements.txt\n"


class _TaskDumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings (the scripts) as `|` blocks, as a person would."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_TaskDumper.add_representer(str, _str)


def _offer_entry(quote: Quote) -> dict[str, Any]:
    """One `ordered` entry. The instance type pins the GPUs, except on hosts the GPUs are attached to (GCP n1:
    the provider table's `attach_accelerators_on`)."""
    offer = quote.offer
    entry: dict[str, Any] = {"infra": _where(offer), "instance_type": offer.instance_type}
    attach = provider_of(offer.provider).attach_accelerators_on
    if attach and offer.instance_type.startswith(attach):
        entry["accelerators"] = {offer.gpu: offer.gpu_count}
    entry["use_spot"] = offer.spot
    return entry


def build_task(plan: Plan, opts: TaskOptions, offers: list[Quote]) -> dict[str, Any]:
    """The task as SkyPilot's YAML schema has it, keys in reading order; `offers` in the fallback order."""
    spec = plan.spec
    task: dict[str, Any] = {"name": opts.run_id}
    num_nodes = offers[0].offer.nodes
    if num_nodes > 1:
        task["num_nodes"] = num_nodes
    task["resources"] = {
        "disk_size": plan.disk_gb(_size(opts.dataset_local)),
        "job_recovery": {"strategy": "EAGER_NEXT_REGION", "max_restarts_on_errors": opts.max_restarts_on_errors},
        "ordered": [_offer_entry(o) for o in offers],
    }
    task["workdir"] = opts.workdir
    task["file_mounts"] = {
        CHECKPOINT_MOUNT: {"name": opts.bucket, "mode": "MOUNT_CACHED"},
        remote_dataset_path(): opts.dataset_local,
    }
    if opts.secrets:
        task["secrets"] = {name: None for name in opts.secrets}
    task["envs"] = {"TUNECOST_RUN_ID": opts.run_id, **({"TUNECOST_TAG": opts.tag} if opts.tag else {})}
    task["setup"] = SETUP_SCRIPT
    task["run"] = RUN_SCRIPT
    return task


def _one_line(text: str) -> str:
    """User text (a model name, a reason) inside a comment: a newline would end the comment and start YAML."""
    return " ".join(str(text).splitlines())


def _header(plan: Plan, opts: TaskOptions, order: list[Fallback], guard_price: float) -> str:
    """What the plan chose and why each offer is in the order, as comments above the task."""
    per_node = " per node" if order[0].quote.offer.nodes > 1 else ""
    lines = [
        f"tunecost run {opts.run_id}: {_spec_line(plan.spec)}",
        f"Planned: {_chosen_line(order[0].quote)}",
        f"Prices as of {plan.prices_as_of or 'unknown'}. Run it yourself with: sky jobs launch THIS_FILE"
        + "".join(f" --secret {s}" for s in opts.secrets),
        "",
        "resources.ordered is tried in this order (cheapest first); a capacity failure falls over to the next offer:",
        *(f"{f.quote.offer.gpu} x{f.quote.offer.gpu_count}{per_node}, {f.quote.offer.market} "
          f"${f.quote.offer.total_per_hour:.4f}/h, estimated {f.quote.hours:.2f} h = ${f.quote.cost:.2f}"
          + (f": {f.reason}" if f.reason else "") for f in order),
        "",
        "job_recovery: a preempted or failed VM restarts in the next region; the job resumes from its newest",
        "complete checkpoint. Checkpoints survive preemption in the bucket mounted at /checkpoints (MOUNT_CACHED",
        "writes locally and uploads in the background).",
    ]
    if opts.secrets:
        lines.append("secrets: values come from your environment at launch; they are never written into this file.")
    lines += [f"The job's budget guard prices the run at the dearest offer above (${guard_price:.4f}/h), so it",
              "never overspends whichever offer SkyPilot lands on."]
    return "".join(f"# {_one_line(line)}\n" if line else "#\n" for line in lines) + "\n"


def render_task_yaml(plan: Plan, opts: TaskOptions, guard_price: Optional[float] = None) -> str:
    """The task YAML text for this plan; secrets appear by name only. `guard_price`: the $/h the job's budget
    guard uses (default: the dearest offer in the fallback order)."""
    order = plan.fallback_order(opts.top_k)
    if guard_price is None:
        guard_price = max(f.quote.offer.total_per_hour for f in order)
    task = build_task(plan, opts, [f.quote for f in order])
    # One top-level key per dump, joined by blank lines: a valid mapping, and sections a reader can tell apart.
    body = "\n".join(yaml.dump({key: value}, Dumper=_TaskDumper, sort_keys=False, allow_unicode=True,
                               default_flow_style=False, width=120) for key, value in task.items())
    return _header(plan, opts, order, guard_price) + body


def stage_workdir(workdir: Path, job_config: JobConfig) -> Path:
    """Copy the job package and its config into the folder SkyPilot syncs to the VM (run as `-m job.train`)."""
    source = Path(str(files("tunecost.job")))
    target = workdir / "job"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "tests"))
    write_job_config(job_config, workdir / CONFIG_NAME)
    return workdir
