"""What a config reader produces (ConfigRead) and the mappings the four readers share (planner/configs)."""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

from pydantic import BaseModel, Field

from tunecost.planner.errors import UserError
from tunecost.planner.spec import Framework, Parallelism


class ConfigRead(BaseModel):
    """What one config file says, as TrainSpec fields, plus what the estimate cannot use from it."""

    path: str
    stack: str                                      # axolotl | torchtune | litgpt | hf
    fields: dict[str, Any] = Field(default_factory=dict)   # TrainSpec field name -> value
    gpu_count: Optional[int] = None
    parallelism: Optional[Parallelism] = None
    notes: list[str] = Field(default_factory=list)     # how fields were read (assumption lines)
    warnings: list[str] = Field(default_factory=list)  # fields that move memory or speed and are not modelled
    # TrainSpec fields the file leaves open, each with why that matters: a warning unless a flag settles it
    unset: dict[str, str] = Field(default_factory=dict)

    def warnings_besides(self, flagged: Callable[[str], bool]) -> list[str]:
        """What the estimate cannot use from the file, less the open fields a typed flag settles."""
        return [*self.warnings, *(why for field, why in self.unset.items() if not flagged(field))]

    def framework(self) -> Framework:
        """The preset of this stack (HF + FSDP QLoRA is HF's FSDP preset)."""
        if self.stack == "hf" and self.parallelism is Parallelism.fsdp and self.fields.get("method") == "qlora":
            return Framework.hf_fsdp_qlora
        return Framework(self.stack)


# ---- helpers the readers share

def number(value: Any, key: str) -> float:
    """A positive number from the file, or one UserError naming the key."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UserError(f"--config: {key} must be a number, got {value!r}; fix the file")
    try:
        out = float(value)
    except ValueError:
        raise UserError(f"--config: {key} must be a number, got {value!r}; fix the file") from None
    if not math.isfinite(out) or out <= 0:
        raise UserError(f"--config: {key} must be a finite number above 0, got {value!r}; fix the file")
    return out


def whole(value: Any, key: str) -> int:
    """A positive whole number from the file, or one UserError naming the key."""
    out = number(value, key)
    if out != int(out):
        raise UserError(f"--config: {key} must be a whole number, got {value!r}; fix the file")
    return int(out)


OPTIMIZERS = {  # optimizer names of HF TrainingArguments / axolotl / torch classes -> ours
    "adamw_torch": "adamw", "adamw_torch_fused": "adamw", "adamw_hf": "adamw", "adamw": "adamw",
    "adamw_apex_fused": "adamw", "torch.optim.adamw": "adamw", "adam": "adamw", "paged_adamw_32bit": "adamw",
    "adamw_bnb_8bit": "adamw-8bit", "adamw_8bit": "adamw-8bit", "bnb.optim.adamw8bit": "adamw-8bit",
    "adamw8bit": "adamw-8bit", "paged_adamw_8bit": "paged-adamw-8bit", "bitsandbytes.optim.pagedadamw8bit":
    "paged-adamw-8bit", "bitsandbytes.optim.adamw8bit": "adamw-8bit", "sgd": "sgd", "torch.optim.sgd": "sgd",
    "adafactor": "adafactor", "torchao.optim.adamw8bit": "adamw-8bit",
}


def optimizer(name: Any, out: ConfigRead, key: str) -> None:
    """Map an optimizer name; an unknown one is priced as AdamW and said so."""
    if name in (None, ""):
        return
    text = str(name).lower()
    mapped = OPTIMIZERS.get(text) or OPTIMIZERS.get(text.rsplit(".", 1)[-1] if "." in text else text)
    if mapped is None:
        out.warnings.append(f"{key}: {name} is not modelled; priced as AdamW (2 fp32 states per trainable param)")
        mapped = "adamw"
    if text.startswith("paged_adamw_32bit"):
        out.notes.append(f"{key}: {name} priced as AdamW on the GPU (paged states leave only under pressure)")
    out.fields["optimizer"] = mapped


def targets(modules: Any) -> Optional[str]:
    """A target_modules value (list, 'all-linear', comma string) -> the planner's target string."""
    if modules in (None, "", []):
        return None
    if isinstance(modules, str):
        return "all-linear" if modules.replace("_", "-") == "all-linear" else modules
    return ",".join(str(m).rsplit(".", 1)[-1] for m in modules)


def catalog_model(name: Any) -> Optional[str]:
    """A model id as the catalog knows it: the id itself, a mirror's name (NousResearch/Llama-2-7b-hf), or a
    local checkpoint folder named after the model (/tmp/Meta-Llama-3.1-8B-Instruct/); None when unknown."""
    from tunecost.planner.model.shapes import find_in_catalog

    found = find_in_catalog(str(name)) if name else None
    return found.name if found else None


def model(name: Any, out: ConfigRead, key: str) -> None:
    """Set the model: a catalog id when the name maps to one, else the name as given (a local config.json path
    resolves later; an unknown id is refused later with the catalog's suggestions)."""
    if not name:
        return
    found = catalog_model(name)
    if found and found != name:
        out.notes.append(f"{key}: {name} priced with the catalog shape of {found}")
    out.fields["model"] = found or str(name)


def defaults(out: ConfigRead, values: dict[str, Any], where: str) -> None:
    """Fields the file leaves out take the stack's own default (not tunecost's), each said once."""
    unset = {k: v for k, v in values.items() if k not in out.fields}
    if unset:
        out.fields.update(unset)
        out.notes.append(f"not in the file, {where}'s defaults: " + ", ".join(f"{k} {v}" for k, v in unset.items()))


def warn_if(data: dict[str, Any], out: ConfigRead, keys: dict[str, str]) -> None:
    """A warning for each key set to a value that moves memory or speed but is not modelled."""
    for key, why in keys.items():
        value = data.get(key)
        if value not in (None, False, "", [], {}, 0):
            out.warnings.append(f"{key}: {value!r} is not modelled ({why}); the estimate ignores it")


def sharding(data: dict[str, Any], out: ConfigRead) -> None:
    """FSDP / DeepSpeed settings (axolotl and HF TrainingArguments spell them alike)."""
    fsdp_config = data.get("fsdp_config") or {}
    if data.get("fsdp") or fsdp_config:
        out.parallelism = Parallelism.fsdp
        out.notes.append("fsdp: the GPU count is not in the file (the launcher's); `estimate` takes --gpus N, "
                         "`plan` searches counts")
        offload = fsdp_config.get("fsdp_offload_params") or fsdp_config.get("offload_params")
        if offload:
            out.warnings.append("fsdp_config.fsdp_offload_params: parameters offloaded to CPU are not modelled; "
                                "priced as sharded on the GPUs (an upper bound)")
    deepspeed = str(data.get("deepspeed") or "")
    if deepspeed:
        if "zero3" in deepspeed:
            out.parallelism = Parallelism.fsdp
            out.notes.append(f"deepspeed: {deepspeed} (ZeRO-3) priced as FSDP full sharding")
        else:
            out.parallelism = Parallelism.ddp
            out.warnings.append(f"deepspeed: {deepspeed}: ZeRO-1/2 sharding of states and gradients is not modelled; "
                                "priced as DDP (an upper bound)")
        if "offload" in deepspeed:
            out.warnings.append(f"deepspeed: {deepspeed}: CPU offload is not modelled")
