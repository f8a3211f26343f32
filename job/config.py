"""JobConfig: one JSON file (what `tunecost launch` writes) plus flags of the same name that override it.

Every key is optional except model, dataset and output_dir. Unknown keys are an error, so a misspelled key in a
launched config fails in one line instead of silently training with a default. Defaults are the
contract's (job/contract.py, which the planner reads too); the learning rate and alpha are filled in per method
by `resolve()`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from . import contract
from .contract import DEFAULT_LR, DEFAULTS, METHODS, OPTIMIZERS, PARALLELISMS
from .errors import JobError
from .numbers import MAX_STEPS, Fraction, LoraAlpha, NonNegative, Positive, Usd, bounded_int, check, loads
from .smollm2 import HUB_ID as SMOLLM2_HUB_ID, package_problem

PRECISIONS = contract.PRECISIONS + ("auto",)  # auto: bf16-mixed where the GPU has bf16, fp16 on older GPUs, fp32 on CPU


def world_size() -> int:
    """Processes in this run: torchrun sets WORLD_SIZE; a plain `python -m` run is one."""
    return int(os.environ.get("WORLD_SIZE", "1"))


BUILT_IN_MODELS = ("tiny", "smollm2")
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
# What from_pretrained needs besides config.json, checked up front so a half-copied folder is one clear line.
FOLDER_NEEDS = {
    "weights (*.safetensors or pytorch_model*.bin)": ("*.safetensors", "pytorch_model*.bin"),
    "tokenizer (tokenizer.json, tokenizer.model or vocab.json)": ("tokenizer.json", "tokenizer.model", "vocab.json"),
}


def base_model_id(name: str) -> Optional[str]:
    """The hub id of the model `name` trains (what an adapter names as its base, so it loads anywhere by that
    name): smollm2's, or `name` itself when it is one; None for the tiny model and local folders."""
    if name == "smollm2":
        return SMOLLM2_HUB_ID
    return name if HUB_ID.fullmatch(name) and not Path(name).exists() else None


def model_folder_problem(name: str) -> Optional[str]:
    """Why the job cannot load `name` (None when it can): a built-in (smollm2 with its package), a complete local
    HF folder, or a hub id (org/name, downloaded by from_pretrained on the VM, with HF_TOKEN for gated models).
    Torch-free, so the local launcher checks it before it records a run."""
    if name == "smollm2":
        return package_problem()
    folder = Path(name)
    if name in BUILT_IN_MODELS or (HUB_ID.fullmatch(name) and not folder.exists()):
        return None
    if not (folder / "config.json").is_file():
        return (f"model {name} is neither a local HF folder with config.json nor a hub id (org/name); "
                "use tiny, smollm2, such a folder or a hub id")
    missing = [what for what, patterns in FOLDER_NEEDS.items() if not any(any(folder.glob(p)) for p in patterns)]
    if missing:
        return (f"model folder {name} has no {' and no '.join(missing)}; save the model and its tokenizer there "
                "with save_pretrained (or pass tiny / smollm2)")
    return None


def _weight_modules(folder: Path) -> set[str]:
    """Every dotted name part of the tensors in a folder's safetensors files (each file's JSON header, read
    without torch); empty when the folder has none (pytorch_model.bin needs torch to list)."""
    parts: set[str] = set()
    for file in folder.glob("*.safetensors"):
        with file.open("rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            if not 0 < size <= 100_000_000:
                continue
            try:
                header = json.loads(fh.read(size))
            except ValueError:
                continue
        for name in header if isinstance(header, dict) else ():
            parts.update(name.split("."))
    return parts


def targets_problem(targets: Union[str, list[str]], model: str) -> Optional[str]:
    """Why LoRA on `targets` would adapt no module of a local model folder (None when one matches, or when only
    loading the model could tell: a hub id, weights in .bin files). Torch-free: the launcher asks before it records
    a run, with the same contract.module_names the job gives PEFT."""
    config = Path(model) / "config.json"
    if not config.is_file():
        return None
    text = ",".join(targets) if isinstance(targets, list) else targets
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
        names = contract.module_names(contract.parse_targets(text), model_type)
    except (ValueError, AttributeError, OSError):
        return None  # an unreadable config or unknown words: the model and config checks name those
    modules = _weight_modules(Path(model))
    if names and (not modules or any(n in modules for n in names)):
        return None
    missing = f"no module named {', '.join(names)}" if names else "no module of these kinds"
    return (f"--targets {text}: {model} ({model_type}) has {missing}, so LoRA would adapt nothing; target "
            "modules this model has (the job knows Llama-style, Phi-3 and Falcon names)")


@dataclass
class JobConfig:
    model: str = ""
    dataset: str = ""
    output_dir: str = ""
    method: str = DEFAULTS.method
    rank: int = DEFAULTS.rank
    alpha: Optional[float] = None  # default alpha_per_rank x rank
    dropout: float = DEFAULTS.dropout
    target_modules: Union[str, list[str]] = DEFAULTS.targets  # words of contract.TARGET_ALIASES
    virtual_tokens: int = DEFAULTS.virtual_tokens
    learning_rate: Optional[float] = None  # default per method (DEFAULT_LR)
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    epochs: float = DEFAULTS.epochs
    max_steps: int = -1  # > 0 overrides epochs
    micro_batch: int = DEFAULTS.micro_batch
    grad_accum: int = DEFAULTS.grad_accum
    seq_len: int = DEFAULTS.seq_len
    gradient_checkpointing: bool = DEFAULTS.gradient_checkpointing
    optimizer: str = DEFAULTS.optimizer
    precision: str = "auto"  # the best mixed precision of the device (see PRECISIONS)
    parallelism: str = "ddp"  # with several processes: ddp (a full copy per GPU) or fsdp (sharded); 1 process: neither
    packing: bool = DEFAULTS.packing
    eval_fraction: float = 0.0
    eval_file: Optional[str] = None
    skip_bad_rows: bool = False
    save_steps: int = 50  # 0: save every save_minutes only (the planned interval), no step-based or final checkpoint
    save_minutes: float = 30.0
    keep_checkpoints: int = 2
    price_per_hour: Optional[float] = None
    budget_usd: Optional[float] = None
    report_to: str = "none"
    merge: bool = False
    seed: int = 42
    run_id: Optional[str] = None
    logging_steps: int = 10  # at most max_steps; the step a run ends on is logged too (final_loss)

    def resolve(self, cuda: bool) -> "JobConfig":
        """Fill method-dependent defaults and check ranges; returns a new config."""
        c = dataclasses.replace(self)
        _check(c)
        if c.alpha is None:
            c.alpha = DEFAULTS.alpha_per_rank * c.rank
        if c.learning_rate is None:
            c.learning_rate = DEFAULT_LR[c.method]
        if c.max_steps > 0:
            c.logging_steps = min(c.logging_steps, c.max_steps)  # a 3-step run still logs a loss
        if c.parallelism == "fsdp" and not cuda:
            c.parallelism = "ddp"  # accelerate shards on GPUs only; CPU processes each hold a full copy
        return c

    def fsdp(self) -> bool:
        """Shard with FSDP: asked for (and kept by resolve: GPUs only), and more than one process (torchrun sets
        WORLD_SIZE). One process needs no sharding, so a plan's FSDP config also runs on a one-GPU fallback."""
        return self.parallelism == "fsdp" and world_size() > 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# The number keys' ranges (tunecost.job.numbers, the types the CLI and the planner check with): no NaN or infinity
# reaches the trainer, the budget guard or the run summary, and no step count beyond any run (max_steps <= 0 and
# save_steps 0 have their own meaning, see above).
NUMBERS = {"alpha": LoraAlpha, "dropout": Fraction, "learning_rate": NonNegative, "warmup_ratio": Fraction,
           "epochs": NonNegative, "eval_fraction": Fraction, "save_minutes": Positive, "price_per_hour": Usd,
           "budget_usd": Usd, "max_steps": bounded_int(le=MAX_STEPS), "save_steps": bounded_int(le=MAX_STEPS)}


def _check(c: JobConfig) -> None:
    for key in ("model", "dataset", "output_dir"):
        if not getattr(c, key):
            flag = "--" + key.replace("_", "-")
            raise JobError(f"config key '{key}' is missing; set it in the config JSON or pass {flag}")
    choices = {"method": METHODS, "optimizer": OPTIMIZERS, "precision": PRECISIONS,
               "parallelism": PARALLELISMS}
    for key, allowed in choices.items():
        if getattr(c, key) not in allowed:
            shown = " | ".join(a for a in allowed if a)
            raise JobError(f"config key '{key}' is {getattr(c, key)!r}; use one of {shown}")
    for key, kind in NUMBERS.items():
        value = getattr(c, key)
        if value is not None and not isinstance(value, bool):
            try:
                check(value, kind)
            except ValueError as err:
                raise JobError(f"config key '{key}' is {value!r}: {str(err).lower()}") from None
    positive = ("rank", "virtual_tokens", "micro_batch", "grad_accum", "seq_len", "keep_checkpoints",
                "logging_steps")
    for key in positive:
        if getattr(c, key) <= 0:
            raise JobError(f"config key '{key}' is {getattr(c, key)}; it must be a positive integer")
    if c.save_steps < 0:
        raise JobError(f"config key 'save_steps' is {c.save_steps}; use a positive integer, or 0 to save every "
                       "save_minutes only")
    if not 0.0 <= c.eval_fraction < 1.0:
        raise JobError(f"config key 'eval_fraction' is {c.eval_fraction}; use a fraction in [0, 1)")
    if c.max_steps <= 0 and c.epochs <= 0:
        raise JobError("neither max_steps nor epochs is positive; set one of them")
    try:
        contract.parse_targets(",".join(c.target_modules) if isinstance(c.target_modules, list) else c.target_modules)
    except ValueError as exc:
        raise JobError(f"config key 'target_modules': {exc}") from None
    if c.budget_usd is not None and not c.price_per_hour:
        raise JobError("budget_usd is set but price_per_hour is not; set price_per_hour so the job can track spend")


FIELDS = {f.name: f for f in dataclasses.fields(JobConfig)}


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _parse_modules(text: str) -> Union[str, list[str]]:
    return text  # the words of contract.TARGET_ALIASES, comma separated; the model folder maps them to modules


_FLAG_TYPES = {"rank": int, "virtual_tokens": int, "max_steps": int, "micro_batch": int, "grad_accum": int,
               "seq_len": int, "save_steps": int, "keep_checkpoints": int, "seed": int, "logging_steps": int,
               "alpha": float, "dropout": float, "learning_rate": float, "warmup_ratio": float, "epochs": float,
               "eval_fraction": float, "save_minutes": float, "price_per_hour": float, "budget_usd": float,
               "gradient_checkpointing": _parse_bool, "packing": _parse_bool, "skip_bad_rows": _parse_bool,
               "merge": _parse_bool, "target_modules": _parse_modules}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tunecost.job.train",
                                     description="Fine-tune a causal LM (qlora | lora | full | prompt-tuning).")
    parser.add_argument("--config", help="JSON config file; flags override its keys")
    for name in FIELDS:
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=_FLAG_TYPES.get(name, str),
                            default=argparse.SUPPRESS, metavar=name.upper())
    return parser


def _coerce(key: str, value: Any, where: str) -> Any:
    """Accept ints for floats, reject obviously wrong JSON types with a one-line message."""
    expected = _FLAG_TYPES.get(key, str)
    if value is None:
        return None
    if expected is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if expected is _parse_bool and isinstance(value, bool):
        return value
    if expected is _parse_modules and (isinstance(value, str) or
                                       (isinstance(value, list) and all(isinstance(v, str) for v in value))):
        return value
    if expected is str and isinstance(value, str):
        return value
    raise JobError(f"{where}: key '{key}' has value {value!r} of the wrong type")


def load_config(argv: Optional[list[str]] = None) -> JobConfig:
    """Read --config JSON (if any), then apply flags over it."""
    args = vars(build_parser().parse_args(argv))
    values: dict[str, Any] = {}
    path = args.pop("config", None)
    if path:
        values.update(_read_json(Path(path)))
    values.update(args)
    return JobConfig(**values)


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
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise JobError(f"{path}: unknown config key(s) {', '.join(unknown)}; known keys: {', '.join(FIELDS)}")
    return {k: _coerce(k, v, str(path)) for k, v in data.items()}
