"""HF TrainingArguments / TRL SFTConfig saved as JSON or YAML (TrainingArguments.to_json_string(), `trl sft
--config`, alignment-handbook recipes), with TRL ModelConfig fields (model_name_or_path, torch_dtype, load_in_4bit,
use_peft, lora_*) and PEFT LoraConfig / BitsAndBytesConfig fields, flat or nested under peft_config / lora_config /
quantization_config (transformers 5.17 training_args.py, trl 1.x sft_config.py and model_config.py, peft 0.21).

Mapped: the model, method (use_peft / LoraConfig, load_in_4bit / load_in_8bit), r / lora_r, lora_alpha,
target_modules, max_length / max_seq_length, packing, per_device_train_batch_size, gradient_accumulation_steps,
num_train_epochs, gradient_checkpointing, optim, bf16 / fp16 with the load dtype, attn_implementation,
use_liger_kernel, fsdp / fsdp_config, deepspeed.
"""

from __future__ import annotations

from typing import Any

from tunecost.planner.configs.fields import (ConfigRead, defaults, model, number, optimizer, sharding, targets,
                                          warn_if, whole)
from tunecost.planner.spec import LossKernel, Parallelism

UNMODELLED = {
    "torch_compile": "torch.compile changes activation memory",
    "modules_to_save": "fully trained embeddings / lm_head next to the adapters",
    "use_dora": "DoRA keeps a magnitude vector and a weight-norm per adapted matrix",
    "activation_offloading": "activations offloaded to CPU",
}


def read(data: dict[str, Any], out: ConfigRead) -> None:
    f = out.fields
    peft = {**_nested(data, "lora_config", "peft_config"), **{k: v for k, v in data.items() if k.startswith("lora_")}}
    bnb = {**_nested(data, "quantization_config", "bnb_config"), **data}
    model(data.get("model_name_or_path") or data.get("model") or data.get("model_id"), out, "model_name_or_path")
    adapters = bool(data.get("use_peft") or _nested(data, "lora_config", "peft_config") or "r" in data
                     or "lora_r" in data)
    if bnb.get("load_in_4bit"):
        f["method"] = "qlora"
        if str(bnb.get("bnb_4bit_quant_type", "nf4")) != "nf4":
            out.warnings.append(f"bnb_4bit_quant_type: {bnb['bnb_4bit_quant_type']} priced as nf4")
        if bnb.get("bnb_4bit_use_double_quant") is False:
            out.notes.append("bnb_4bit_use_double_quant: false priced with double-quant constants (0.03 B/param "
                             "under the run's fp32 absmax)")
    elif adapters:
        f["method"] = "lora"
        if bnb.get("load_in_8bit"):
            out.warnings.append("load_in_8bit: an 8-bit (LLM.int8) base is not modelled; priced as LoRA on a 16-bit "
                                "base")
    else:
        f["method"] = "full"
    rank = peft.get("r") or peft.get("lora_r") or data.get("r")
    if rank:
        f["rank"] = whole(rank, "r")
    if peft.get("lora_alpha") is not None:
        f["alpha"] = whole(peft["lora_alpha"], "lora_alpha")
    found = targets(peft.get("target_modules") or peft.get("lora_target_modules"))
    if found:
        f["targets"] = found
    seq = data.get("max_length") or data.get("max_seq_length")
    if seq:
        f["seq_len"] = whole(seq, "max_length")
    if "packing" in data:
        f["packing"] = bool(data["packing"])
    for key, field in (("per_device_train_batch_size", "micro_batch"), ("gradient_accumulation_steps", "grad_accum")):
        if data.get(key) is not None:
            f[field] = whole(data[key], key)
    if data.get("num_train_epochs") is not None:
        f["epochs"] = number(data["num_train_epochs"], "num_train_epochs")
    if "gradient_checkpointing" in data:
        f["gradient_checkpointing"] = bool(data["gradient_checkpointing"])
    optimizer(data.get("optim"), out, "optim")
    _precision(data, out)
    f["loss_kernel"] = (LossKernel.liger if data.get("use_liger_kernel") else LossKernel.torch).value
    if str(data.get("attn_implementation") or "").lower() == "eager":
        out.warnings.append("attn_implementation: eager attention keeps [heads x seq x seq] scores; not modelled")
    fsdp = data.get("fsdp")
    if fsdp and fsdp not in ("", []):
        data = {**data, "fsdp_config": {**(data.get("fsdp_config") or {}),
                                        "offload_params": "offload" in str(fsdp)}}
    sharding({"fsdp": fsdp, "fsdp_config": data.get("fsdp_config") if fsdp else None,
               "deepspeed": data.get("deepspeed")}, out)
    if out.parallelism is Parallelism.fsdp and f.get("method") == "qlora":
        out.notes.append("QLoRA under FSDP: HF + PEFT with bnb_4bit_quant_storage (the hf-fsdp-qlora preset)")
    warn_if({**data, **peft}, out, UNMODELLED)
    adapter_defaults = {"rank": 8, "targets": "q,v"} if f["method"] != "full" else {}  # LoraConfig / PEFT's Llama map
    defaults(out, {"optimizer": "adamw", "gradient_checkpointing": False, "packing": False, "micro_batch": 8,
                   "grad_accum": 1, "seq_len": 1024, "epochs": 3.0, "precision": "fp32", **adapter_defaults},
             "TrainingArguments / SFTConfig / LoraConfig")


def _nested(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    for key in keys:
        if isinstance(data.get(key), dict):
            return data[key]
    return {}


def _precision(data: dict[str, Any], out: ConfigRead) -> None:
    """bf16=True on a model loaded in bf16 trains pure bf16; loaded in fp32 it is mixed precision (fp32 master)."""
    kwargs = data.get("model_init_kwargs") if isinstance(data.get("model_init_kwargs"), dict) else {}
    dtype = str(data.get("torch_dtype") or data.get("dtype") or kwargs.get("torch_dtype") or kwargs.get("dtype")
                or "").lower()
    if data.get("bf16"):
        if dtype in ("float32", "torch.float32", "fp32"):
            out.fields["precision"] = "bf16-mixed"
        else:
            out.fields["precision"] = "bf16"
            if not dtype:
                out.notes.append("bf16: true and no load dtype in the file: assumed loaded in bf16 (TRL's dtype "
                                 "'auto'), so pure bf16; give --precision bf16-mixed for an fp32 load")
    elif data.get("fp16"):
        out.fields["precision"] = "fp16"
    elif "bf16" in data or "fp16" in data:
        out.fields["precision"] = "fp32"
