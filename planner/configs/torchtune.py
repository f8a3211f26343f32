"""A torchtune recipe config (pytorch/torchtune @bd2a0fc, recipes/configs/**; the keys the recipes
lora_finetune_*.py / full_finetune_*.py read).

Mapped: model._component_ (method from its qlora_ / lora_ prefix, model from checkpointer.checkpoint_dir or the
builder name), lora_rank, lora_alpha, lora_attn_modules, apply_lora_to_mlp, apply_lora_to_output,
tokenizer.max_seq_len, dataset.packed, batch_size, gradient_accumulation_steps, epochs, optimizer._component_,
loss._component_ (chunked losses), enable_activation_checkpointing, dtype.
"""

from __future__ import annotations

import re
from typing import Any

from tunecost.planner.configs.fields import (ConfigRead, catalog_model, defaults, model, number, optimizer,
                                          warn_if, whole)
from tunecost.planner.spec import LossKernel

UNMODELLED = {
    "enable_activation_offloading": "activations offloaded to CPU",
    "compile": "torch.compile changes activation memory",
    "optimizer_in_bwd": "the optimizer step fused into backward (no full set of gradients alive)",
    "fsdp_cpu_offload": "parameters and optimizer states offloaded to CPU",
}
DTYPES = {"bf16": "bf16", "fp32": "fp32", "fp16": "fp16"}
ATTN = {"q_proj": "q", "k_proj": "k", "v_proj": "v", "output_proj": "o"}
BUILDER = re.compile(r"(?:q?lora_)?(llama3_[123]|llama3|llama2|mistral|qwen2_5|qwen3|gemma2|phi3|phi4)_([\d_.]+[bm])")
FAMILY_IDS = {"llama3_1": "Llama-3.1-{}", "llama3_2": "Llama-3.2-{}", "llama3_3": "Llama-3.3-{}-Instruct",
              "llama3": "Meta-Llama-3-{}", "llama2": "Llama-2-{}-hf", "mistral": "Mistral-7B-v0.1",
              "qwen2_5": "Qwen2.5-{}", "qwen3": "Qwen3-{}", "gemma2": "gemma-2-{}", "phi3": "Phi-3-mini-4k-instruct",
              "phi4": "phi-4"}


def read(data: dict[str, Any], out: ConfigRead) -> None:
    f = out.fields
    spec = data.get("model") or {}
    component = str(spec.get("_component_", ""))
    builder = component.rsplit(".", 1)[-1]
    f["method"] = "qlora" if builder.startswith("qlora_") else "lora" if builder.startswith("lora_") else "full"
    checkpoint_dir = (data.get("checkpointer") or {}).get("checkpoint_dir")
    model(catalog_model(checkpoint_dir) or _from_builder(builder) or checkpoint_dir or builder, out,
          "checkpointer.checkpoint_dir" if catalog_model(checkpoint_dir) else "model._component_")
    if spec.get("lora_rank") is not None:
        f["rank"] = whole(spec["lora_rank"], "model.lora_rank")
    if spec.get("lora_alpha") is not None:
        f["alpha"] = whole(spec["lora_alpha"], "model.lora_alpha")
    kinds = [ATTN.get(m, m) for m in spec.get("lora_attn_modules") or []]
    kinds += ["gate", "up", "down"] if spec.get("apply_lora_to_mlp") else []
    kinds += ["lm_head"] if spec.get("apply_lora_to_output") else []
    if kinds and f["method"] != "full":
        f["targets"] = ",".join(kinds)
    seq = (data.get("tokenizer") or {}).get("max_seq_len")
    if seq:
        f["seq_len"] = whole(seq, "tokenizer.max_seq_len")
    else:
        out.unset["seq_len"] = ("tokenizer.max_seq_len: null (no truncation): each batch is as long as its longest "
                                "sample, which the estimate cannot know; give --seq-len")
    dataset = data.get("dataset") or {}
    f["packing"] = bool(dataset.get("packed")) if isinstance(dataset, dict) else False
    for key, field in (("batch_size", "micro_batch"), ("gradient_accumulation_steps", "grad_accum")):
        if data.get(key) is not None:
            f[field] = whole(data[key], key)
    if data.get("epochs") is not None:
        f["epochs"] = number(data["epochs"], "epochs")
    optimizer((data.get("optimizer") or {}).get("_component_"), out, "optimizer._component_")
    loss = str((data.get("loss") or {}).get("_component_", ""))
    chunked = "Chunked" in loss or "LinearCrossEntropy" in loss
    f["loss_kernel"] = (LossKernel.chunked if chunked else LossKernel.torch).value
    if chunked:
        out.notes.append(f"loss: {loss.rsplit('.', 1)[-1]} priced as a chunked lm_head + cross-entropy")
    if "enable_activation_checkpointing" in data:
        f["gradient_checkpointing"] = bool(data["enable_activation_checkpointing"])
    dtype = str(data.get("dtype") or "bf16")
    f["precision"] = DTYPES.get(dtype, "bf16")
    warn_if(data, out, UNMODELLED)
    defaults(out, {"grad_accum": 1, "gradient_checkpointing": False}, "torchtune's recipe")


def _from_builder(builder: str) -> str | None:
    """'qlora_llama3_1_8b' -> 'meta-llama/Llama-3.1-8B' (through the catalog), None when not recognised."""
    match = BUILDER.search(builder)
    if not match:
        return None
    family, size = match.groups()
    return catalog_model(FAMILY_IDS[family].format(size.replace("_", ".").upper()))
