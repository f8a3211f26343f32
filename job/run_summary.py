"""RunSummary: run_summary.json, the job's one account of what it did and cost, as a typed contract.

WHY here and torch-free: the job writes it (job/train.py) and the launcher reads it back (the log line, the run
folder, the ledger); both import this module, so it imports only the standard library and pydantic (pinned in
job/requirements.txt, so it is on the VM too). Field names are the JSON keys the job has always written: old
summaries load, every field has a default (an old or partial file may lack it), and unknown keys are ignored.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .atomic import atomic_write
from .job_config import JobConfig

SUMMARY_NAME = "run_summary.json"
SUMMARY_PREFIX = "TUNECOST_SUMMARY "  # the one-line form, last on the job's stdout


class StopReason(str, Enum):
    """Why the job stopped. Values are the strings in run_summary.json."""

    COMPLETED = "completed"  # every epoch trained
    MAX_STEPS = "max_steps"  # reached max_steps
    SIGTERM = "sigterm"  # SIGTERM / SIGINT: checkpointed and exited (spot preemption, Ctrl-C)
    BUDGET = "budget"  # the budget guard: cost reached budget_usd, checkpointed and stopped
    ERROR = "error"  # training raised; `error` says what

    def __str__(self) -> str:  # f-strings and notes show the value, on every Python version
        return self.value


class RunSummary(BaseModel):
    """What one job session did and cost. Seconds, GiB, USD; totals count earlier sessions of a resumed run."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=(), ser_json_inf_nan="constants")

    run_id: Optional[str] = None
    method: Optional[str] = None
    model: Optional[str] = None
    resumed_from: list[int] = []  # the step each resume started from
    bad_rows: Optional[int] = None
    rows: Optional[int] = None
    trainable_params: Optional[int] = None
    total_params: Optional[int] = None
    sample: Optional[dict[str, str]] = None  # prompt, base (and tuned) generations
    steps: Optional[int] = None
    epochs: Optional[float] = None
    train_tokens: Optional[int] = None
    tokens_per_sec: Optional[float] = None
    peak_memory_gib: Optional[float] = None
    peak_memory_source: Optional[str] = None
    train_seconds: Optional[float] = None
    total_seconds: Optional[float] = None
    session_seconds: Optional[float] = None
    startup_seconds: Optional[float] = None
    step_seconds: Optional[float] = None
    checkpoint_save_seconds: Optional[float] = None
    final_loss: Optional[float] = None
    eval_loss: Optional[float] = None  # on the held-out examples after training
    eval_loss_before: Optional[float] = None  # the same, before the first step (a resume keeps the first run's)
    loss_curve: list[tuple[int, float]] = []  # [step, loss]
    stop_reason: Optional[StopReason] = None
    device: Optional[str] = None
    world_size: Optional[int] = None
    price_per_hour: Optional[float] = None
    budget_usd: Optional[float] = None
    cost_usd: Optional[float] = None
    adapter_dir: Optional[str] = None
    model_dir: Optional[str] = None
    merged_dir: Optional[str] = None
    error: Optional[str] = None
    # The job config it ran with (resolved: alpha and learning rate filled in). A config an older job wrote that
    # JobConfig no longer reads stays the dict it was, so a ledger record never loses it; readers use `ran`.
    config: Optional[Union[JobConfig, dict[str, Any]]] = Field(default=None, union_mode="left_to_right")

    @property
    def ran(self) -> Optional[JobConfig]:
        """The JobConfig this run trained with; None when unknown (no config, or an older job's)."""
        return self.config if isinstance(self.config, JobConfig) else None


def write_summary(output_dir: Path, summary: RunSummary) -> None:
    """Write atomically (temp + rename) and print the one-line form last on stdout for the launcher.

    The model's JSON data goes through json.dumps, as before the model: the same text as ever (ASCII escapes,
    Python's float spelling, NaN for a diverged loss), and the file and the line are the same JSON exactly."""
    data = summary.model_dump(mode="json")
    path = output_dir / SUMMARY_NAME
    atomic_write(path, json.dumps(data, indent=1))
    print(SUMMARY_PREFIX + json.dumps(data, separators=(",", ":")), flush=True)


def read_summary(path: Path) -> Optional[RunSummary]:
    """The summary in `path`; None when there is none or it is not one (unreadable, not JSON, wrong types)."""
    try:
        return RunSummary.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None
