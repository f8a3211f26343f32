"""An axolotl YAML config (axolotl-ai-cloud/axolotl @067b021, src/axolotl/utils/schemas/config.py field names).

Mapped: base_model, adapter (+ load_in_4bit / load_in_8bit), lora_r, lora_alpha, lora_target_linear /
lora_target_modules, sequence_len, sample_packing, micro_batch_size, gradient_accumulation_steps, num_epochs,
gradient_checkpointing, optimizer, bf16 / fp16, the attention kernel, the loss kernels (CutCrossEntropyPlugin,
LigerPlugin with liger_fused_linear_cross_entropy), fsdp / deepspeed.
"""

from __future__ import annotations

from typing import Any

from tunecost.planner.configs.fields import (ConfigRead, defaults, model, number, optimizer, sharding, targets,
                                          warn_if, whole)
from tunecost.planner.spec import LossKernel

UNMODELLED = {
    "lora_modules_to_save": "fully trained embeddings / lm_head next to the adapters",
    "peft_use_dora": "DoRA keeps a magnitude vector and a weight-norm per adapted matrix",
    "relora": "ReLoRA restarts", "lisa_n_layers": "LISA layer-wise full training",
    "activation_offloading": "activations offloaded to CPU",
    "torch_compile": "torch.compile changes activation memory",
    "unsloth_lora_mlp": "Unsloth kernels", "unsloth_lora_qkv": "Unsloth kernels", "unsloth_lora_o": "Unsloth kernels",
    "lora_mlp_kernel": "axolotl's LoRA kernels", "lora_qkv_kernel": "axolotl's LoRA kernels",
    "lora_o_kernel": "axolotl's LoRA kernels", "sequence_parallel_degree": "context parallelism",
    "tensor_parallel_size": "tensor parallelism", "eval_batch_size": "evaluation batches",
}


def read(data: dict[str, Any], out: ConfigRead) -> None:
    model(data.get("base_model"), out, "base_model")
    _method(data, out)
    f = out.fields
    if data.get("lora_r") is not None:
        f["rank"] = whole(data["lora_r"], "lora_r")
    if data.get("lora_alpha") is not None:
        f["alpha"] = whole(data["lora_alpha"], "lora_alpha")
    if data.get("lora_target_linear"):
        f["targets"] = "all-linear"
    elif targets(data.get("lora_target_modules")):
        f["targets"] = targets(data["lora_target_modules"])
    for key, field in (("sequence_len", "seq_len"), ("micro_batch_size", "micro_batch"),
                       ("gradient_accumulation_steps", "grad_accum")):
        if data.get(key) is not None:
            f[field] = whole(data[key], key)
    if data.get("num_epochs") is not None:
        f["epochs"] = number(data["num_epochs"], "num_epochs")
    if "sample_packing" in data:
        f["packing"] = bool(data["sample_packing"])
    checkpointing = data.get("gradient_checkpointing")
    if checkpointing is not None:
        f["gradient_checkpointing"] = bool(checkpointing)
        if isinstance(checkpointing, str) and "offload" in checkpointing:
            out.warnings.append(f"gradient_checkpointing: {checkpointing!r}: the checkpoints' CPU offload is not "
                                "modelled; priced as on the GPU")
    optimizer(data.get("optimizer"), out, "optimizer")
    _precision(data, out)
    _kernels(data, out)
    sharding(data, out)
    warn_if(data, out, UNMODELLED)
    defaults(out, {"optimizer": "adamw", "gradient_checkpointing": False, "packing": False, "micro_batch": 1,
                   "grad_accum": 1, "seq_len": 512, "precision": "fp32"}, "axolotl")


def _method(data: dict[str, Any], out: ConfigRead) -> None:
    adapter = str(data.get("adapter") or "").lower()
    if not adapter:
        out.fields["method"] = "full"
    elif adapter == "qlora" or (adapter == "lora" and data.get("load_in_4bit")):
        out.fields["method"] = "qlora"
    elif adapter == "lora":
        out.fields["method"] = "lora"
        if data.get("load_in_8bit"):
            out.warnings.append("load_in_8bit: an 8-bit (LLM.int8) base is not modelled; priced as LoRA on a 16-bit "
                                "base (more memory for the weights than the run uses)")
    else:
        out.warnings.append(f"adapter: {adapter!r} is not modelled; priced as LoRA")
        out.fields["method"] = "lora"


def _precision(data: dict[str, Any], out: ConfigRead) -> None:
    """axolotl loads the model in the training dtype, so bf16 trains pure bf16 (no fp32 master copy)."""
    if data.get("bf16") in (True, "auto", "true"):
        out.fields["precision"] = "bf16"
    elif data.get("fp16"):
        out.fields["precision"] = "fp16"
    elif data.get("bf16") is False and data.get("fp16") is False:
        out.fields["precision"] = "fp32"


def _kernels(data: dict[str, Any], out: ConfigRead) -> None:
    plugins = " ".join(str(p) for p in data.get("plugins") or [])
    if "CutCrossEntropyPlugin" in plugins or data.get("cut_cross_entropy"):
        out.fields["loss_kernel"] = LossKernel.cce.value
    elif "LigerPlugin" in plugins and data.get("liger_fused_linear_cross_entropy"):
        out.fields["loss_kernel"] = LossKernel.liger.value
    else:
        out.fields["loss_kernel"] = LossKernel.torch.value
    attn = str(data.get("attn_implementation") or "").lower()
    if attn == "eager" or data.get("eager_attention"):
        out.warnings.append("attn_implementation: eager attention keeps [heads x seq x seq] scores; not modelled "
                            "(priced as flash/SDPA)")
