"""Plan from the user's own training config: axolotl YAML, torchtune recipe config, litgpt fine-tune YAML, or HF
TrainingArguments / TRL SFTConfig (with PEFT LoraConfig and BitsAndBytesConfig fields) saved as JSON or YAML.

Each stack has its own small reader (planner/configs/<stack>.py) that maps every field moving memory or speed to
a TrainSpec field, and names in `warnings` every field that would move memory but that the planner does not model,
so nothing is ignored silently. Flags given beside --config override what the file says (launcher side).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import yaml

from tunecost.planner.configs import axolotl, hf, litgpt, torchtune
from tunecost.planner.configs.fields import ConfigRead
from tunecost.planner.errors import UserError

READERS: dict[str, Callable[[dict[str, Any], ConfigRead], None]] = {
    "axolotl": axolotl.read, "torchtune": torchtune.read, "litgpt": litgpt.read, "hf": hf.read}


def load(path: Path) -> dict[str, Any]:
    """The file as a mapping (JSON or YAML); one UserError when it is neither."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"--config: cannot read {path}: {exc.strerror or exc}; give the path of a training config")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"--config: {path} is not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'} "
                        f"({str(exc).splitlines()[0]}); fix the file") from None
    if not isinstance(data, dict):
        raise UserError(f"--config: {path} holds no mapping of settings; give an axolotl, torchtune, litgpt or HF "
                        "TrainingArguments / SFTConfig file")
    return data


def detect(data: dict[str, Any]) -> str:
    """Which stack wrote this config, from the keys only that stack uses."""
    model = data.get("model")
    if isinstance(model, dict) and "_component_" in model:
        return "torchtune"
    if "base_model" in data or "adapter" in data or "micro_batch_size" in data:
        return "axolotl"
    if "checkpoint_dir" in data or ("train" in data and isinstance(data["train"], dict)) or "lora_r" in data \
            and "quantize" in data:
        return "litgpt"
    if any(k in data for k in ("per_device_train_batch_size", "model_name_or_path", "output_dir",
                               "gradient_accumulation_steps", "max_seq_length", "max_length")):
        return "hf"
    raise UserError("--config: not a config tunecost can read (no axolotl base_model, torchtune model._component_, "
                    "litgpt checkpoint_dir/train or HF per_device_train_batch_size key); give one of those")


def read_config(path: Path) -> ConfigRead:
    """Read a training config of any of the four stacks."""
    data = load(path)
    stack = detect(data)
    out = ConfigRead(path=str(path), stack=stack)
    READERS[stack](data, out)
    out.notes.insert(0, f"config: {path.name} read as {stack} ({', '.join(sorted(out.fields))})")
    return out
