"""JobConfig: every setting the bundled job takes, as one typed contract (torch-free: pydantic and the contract).

WHY one pydantic model: the launcher builds it from a plan (launcher/backends/job_config.py) and writes it as the
run's JSON; the job reads that file with flags of the same names over it (`python -m tunecost.job.train --config
FILE --max-steps 20`: the flags are generated from the fields below), and run_summary.json records the config it
ran. A key and its type are defined here once, its range too (a setting the plan shares, such as rank or
seq_len, takes its type from job/numbers.py, as TrainSpec does); an unknown key or a bad value is one line
(`config key 'rank' is 'four': ...`). Defaults are the contract's (job/contract.py, which the planner reads
too); the learning rate and alpha are filled in per method by `resolve()`.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import contract
from .contract import DEFAULT_LR, DEFAULTS, Method, Optimizer, Parallelism, Precision
from .errors import JobError
from .numbers import (MAX_EPOCHS, MAX_STEPS, Fraction, GradAccum, LoraAlpha, MicroBatch, NonNegative, Positive,
                      Rank, SeqLen, Usd, VirtualTokens, loads)

Count = Annotated[int, Field(gt=0)]
# auto: bf16-mixed where the GPU has bf16, fp16 mixed precision on older GPUs, fp32 on CPU (job/model.py)
JobPrecision = Literal[("auto", *(p.value for p in Precision))]  # type: ignore[valid-type]


def world_size() -> int:
    """Processes in this run: torchrun sets WORLD_SIZE; a plain `python -m` run is one."""
    return int(os.environ.get("WORLD_SIZE", "1"))


class JobConfig(BaseModel):
    """What the job trains, how, and where it writes. Names are the JSON keys and, with dashes, the flags."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(min_length=1, description="tiny, smollm2, a local HF folder or a hub id (org/name)")
    dataset: str = Field(min_length=1, description="JSONL file to train on, or demo")
    output_dir: str = Field(min_length=1, description="checkpoints, adapter and run_summary.json go here")
    method: Method = DEFAULTS.method
    rank: Rank = DEFAULTS.rank
    alpha: Optional[LoraAlpha] = Field(default=None, description="LoRA alpha; default alpha_per_rank x rank")
    dropout: Fraction = DEFAULTS.dropout
    target_modules: Union[str, list[str]] = Field(default=DEFAULTS.targets, description="LoRA targets: all-linear, "
                                                  "attention, mlp or names like q,v (contract.TARGET_ALIASES)")
    virtual_tokens: VirtualTokens = DEFAULTS.virtual_tokens
    learning_rate: Optional[NonNegative] = Field(default=None, description="default per method (contract)")
    lr_scheduler: str = "cosine"
    warmup_ratio: Fraction = 0.03
    epochs: Annotated[float, AllowInfNan(False), Field(ge=0, le=MAX_EPOCHS)] = DEFAULTS.epochs
    max_steps: int = Field(default=-1, le=MAX_STEPS, description="> 0 overrides epochs")
    micro_batch: MicroBatch = DEFAULTS.micro_batch
    grad_accum: GradAccum = DEFAULTS.grad_accum
    seq_len: SeqLen = DEFAULTS.seq_len
    gradient_checkpointing: bool = DEFAULTS.gradient_checkpointing
    optimizer: Optimizer = DEFAULTS.optimizer
    precision: JobPrecision = Field(default="auto", description="auto: the best mixed precision of the device")
    parallelism: Parallelism = Field(default=Parallelism.ddp, description="with several processes: ddp (a full "
                                     "copy per GPU) or fsdp (sharded); one process: neither")
    packing: bool = DEFAULTS.packing
    eval_fraction: Annotated[float, AllowInfNan(False), Field(ge=0, lt=1)] = 0.0
    eval_file: Optional[str] = None
    skip_bad_rows: bool = False
    save_steps: int = Field(default=50, ge=0, le=MAX_STEPS, description="0: save every save_minutes only (the planned "
                            "interval), no step-based or final checkpoint")
    save_minutes: Positive = 30.0
    keep_checkpoints: Count = 2
    price_per_hour: Optional[Usd] = None
    budget_usd: Optional[Usd] = None
    report_to: str = "none"
    merge: bool = False
    seed: int = 42
    run_id: Optional[str] = None
    logging_steps: Count = Field(default=10, description="at most max_steps; the last step is logged too")

    @field_validator("target_modules")
    @classmethod
    def _known_targets(cls, value: Union[str, list[str]]) -> Union[str, list[str]]:
        contract.parse_targets(",".join(value) if isinstance(value, list) else value)  # ValueError names the word
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "JobConfig":
        if self.max_steps <= 0 and self.epochs <= 0:
            raise ValueError("neither max_steps nor epochs is positive; set one of them")
        if self.budget_usd is not None and not self.price_per_hour:
            raise ValueError("budget_usd is set but price_per_hour is not; set price_per_hour so the job can track "
                             "spend")
        return self

    @classmethod
    def checked(cls, values: dict[str, Any], where: str = "") -> "JobConfig":
        """The config of these keys; JobError with one line when one is bad (`where`: the file unknown keys came
        from; flags cannot bring one)."""
        try:
            return cls.model_validate(values)
        except ValidationError as err:
            raise JobError(one_line(err, where)) from None

    def resolve(self, cuda: bool) -> "JobConfig":
        """Fill method-dependent defaults; returns a new config."""
        changes: dict[str, Any] = {}
        if self.alpha is None:
            changes["alpha"] = DEFAULTS.alpha_per_rank * self.rank
        if self.learning_rate is None:
            changes["learning_rate"] = DEFAULT_LR[self.method]
        if self.max_steps > 0:
            changes["logging_steps"] = min(self.logging_steps, self.max_steps)  # a 3-step run still logs a loss
        if self.parallelism is Parallelism.fsdp and not cuda:
            changes["parallelism"] = Parallelism.ddp  # accelerate shards on GPUs only; CPU processes hold a copy
        return self.model_copy(update=changes)

    def fsdp(self) -> bool:
        """Shard with FSDP: asked for (and kept by resolve: GPUs only), and more than one process (torchrun sets
        WORLD_SIZE). One process needs no sharding, so a plan's FSDP config also runs on a one-GPU fallback."""
        return self.parallelism is Parallelism.fsdp and world_size() > 1

    def to_json(self) -> str:
        """The file the launcher writes and the job reads back (every key, sorted)."""
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


def field_type(name: str) -> Any:
    """The type (with its range) of one key, for checking a value that has no config yet (a sweep point's)."""
    field = JobConfig.model_fields[name]
    return Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation


def one_line(err: ValidationError, where: str = "") -> str:
    """The first problem pydantic found, as the job's one-line error: which key, what it holds, what to do."""
    extra = sorted(str(e["loc"][0]) for e in err.errors() if e["type"] == "extra_forbidden")
    if extra:
        return (f"{where}: " if where else "") + (f"unknown config key(s) {', '.join(extra)}; known keys: "
                                                  f"{', '.join(JobConfig.model_fields)}")
    first = err.errors()[0]
    msg = first["msg"].removeprefix("Value error, ")
    if not first["loc"]:
        return msg
    key = str(first["loc"][0])
    if first["type"] == "missing":
        return f"config key '{key}' is missing; set it in the config JSON or pass --{key.replace('_', '-')}"
    return f"config key '{key}' is {first['input']!r}: {msg[:1].lower()}{msg[1:]}"


def build_parser() -> argparse.ArgumentParser:
    """--config FILE plus one flag per JobConfig field (--max-steps ...); JobConfig parses and checks the text."""
    parser = argparse.ArgumentParser(prog="python -m tunecost.job.train",
                                     description="Fine-tune a causal LM (qlora | lora | full | prompt-tuning).")
    parser.add_argument("--config", help="JSON config file; flags override its keys")
    for name, field in JobConfig.model_fields.items():
        default = getattr(field.default, "value", field.default)
        shown = "" if field.is_required() or default is None else f" [default: {default}]"
        parser.add_argument("--" + name.replace("_", "-"), dest=name, default=argparse.SUPPRESS,
                            metavar=name.upper(), help=(field.description or "") + shown)
    return parser


def load_config(argv: Optional[list[str]] = None) -> JobConfig:
    """Read --config JSON (if any), then apply flags over it, and check the whole."""
    args = vars(build_parser().parse_args(argv))
    path = args.pop("config", None)
    values = _read_json(Path(path)) if path else {}
    return JobConfig.checked({**values, **args}, str(path or ""))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = loads(path.read_text())
    except FileNotFoundError:
        raise JobError(f"config file {path} not found; pass an existing JSON file to --config") from None
    except json.JSONDecodeError as exc:
        raise JobError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:  # NaN / Infinity, or nested past the stack
        raise JobError(f"{path}: not valid JSON ({exc if isinstance(exc, ValueError) else 'nested too deeply'})") \
            from None
    if not isinstance(data, dict):
        raise JobError(f"{path}: expected a JSON object of config keys")
    return data
