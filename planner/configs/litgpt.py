"""A litgpt fine-tune YAML (`litgpt finetune_lora|finetune_full --config`, Lightning-AI/litgpt @2685705
config_hub/finetune/*; litgpt/finetune/lora.py setup() arguments, litgpt/args.py TrainArgs).

Mapped: checkpoint_dir (the model), precision (bf16-true / bf16-mixed / 32-true), quantize (bnb.nf4[-dq]), devices,
lora_r, lora_alpha, lora_query/key/value/projection/mlp/head, train.micro_batch_size, train.global_batch_size
(-> accumulation), train.max_seq_length, train.epochs, optimizer.class_path. litgpt's loss is its chunked
cross-entropy (the litgpt preset); no activation checkpointing on one device (finetune/lora.py).
"""

from __future__ import annotations

from typing import Any

from tunecost.planner.configs.fields import ConfigRead, model, number, optimizer, whole
from tunecost.planner.spec import Parallelism

PRECISIONS = {"bf16-true": "bf16", "bf16-mixed": "bf16-mixed", "32-true": "fp32", "16-true": "fp16",
              "16-mixed": "fp16", "transformer-engine": "bf16"}
LORA_FLAGS = {"lora_query": "q", "lora_key": "k", "lora_value": "v", "lora_projection": "o",
              "lora_mlp": "gate,up,down", "lora_head": "lm_head"}


def read(data: dict[str, Any], out: ConfigRead) -> None:
    f = out.fields
    model(data.get("checkpoint_dir"), out, "checkpoint_dir")
    lora = any(k.startswith("lora_") for k in data)
    quantize = str(data.get("quantize") or "")
    f["method"] = ("qlora" if quantize.startswith("bnb.nf4") or quantize.startswith("bnb.fp4") else "lora") \
        if lora else "full"
    if quantize.startswith("bnb.int8"):
        out.warnings.append(f"quantize: {quantize}: an 8-bit (LLM.int8) base is not modelled; priced as LoRA on a "
                            "16-bit base (an upper bound on the weights)")
    elif quantize and not quantize.startswith("bnb.nf4"):
        out.warnings.append(f"quantize: {quantize} is not modelled; priced as bnb.nf4")
    if quantize == "bnb.nf4-dq":
        out.notes.append("quantize: bnb.nf4-dq priced as bnb.nf4 (fp32 absmax: 0.03 B/param more than double quant)")
    precision = str(data.get("precision") or "bf16-mixed")  # litgpt's default: get_default_supported_precision
    if precision not in PRECISIONS:
        out.warnings.append(f"precision: {precision} is not modelled; priced as bf16-true")
    f["precision"] = PRECISIONS.get(precision, "bf16")
    if "precision" not in data:
        out.notes.append("precision: not set; litgpt's default on a bf16 GPU is bf16-mixed (fp32 weights)")
    if lora:
        if data.get("lora_r") is not None:
            f["rank"] = whole(data["lora_r"], "lora_r")
        if data.get("lora_alpha") is not None:
            f["alpha"] = whole(data["lora_alpha"], "lora_alpha")
        chosen = [kinds for key, kinds in LORA_FLAGS.items() if data.get(key)]
        if chosen:
            f["targets"] = ",".join(chosen)
    train = data.get("train") or {}
    devices = _devices(data.get("devices"), out) * whole(data.get("num_nodes") or 1, "num_nodes")
    if train.get("micro_batch_size") is not None:
        f["micro_batch"] = whole(train["micro_batch_size"], "train.micro_batch_size")
    if train.get("global_batch_size"):
        per_step = f.get("micro_batch", 1) * devices
        f["grad_accum"] = max(1, whole(train["global_batch_size"], "train.global_batch_size") // per_step)
    if train.get("max_seq_length") is not None:
        f["seq_len"] = whole(train["max_seq_length"], "train.max_seq_length")
    else:
        out.unset["seq_len"] = ("train.max_seq_length: not set; litgpt pads each batch to its longest sample, which "
                                "the estimate cannot know: give --seq-len")
    if train.get("epochs") is not None:
        f["epochs"] = number(train["epochs"], "train.epochs")
    f["packing"] = False  # litgpt pads to the longest sample in the batch
    f["gradient_checkpointing"] = False
    opt = data.get("optimizer")
    optimizer(opt.get("class_path") if isinstance(opt, dict) else opt, out, "optimizer")
    if devices > 1:
        out.gpu_count, out.parallelism = devices, Parallelism.fsdp
        if quantize:
            out.warnings.append("devices > 1 with quantize: litgpt refuses quantization on several GPUs")


def _devices(value: Any, out: ConfigRead) -> int:
    if isinstance(value, int) and value > 0:
        return value
    if value not in (None, 1, "1"):
        out.warnings.append(f"devices: {value!r} (all visible GPUs) cannot be counted from the file; priced as 1")
    return 1
