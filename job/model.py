"""Base model + tokenizer, and the method on top: qlora (NF4 + double quant + LoRA), lora, full, prompt-tuning.

Precision "auto" means bf16 where the GPU supports it, fp16 on GPUs without bf16, fp32 on CPU (bitsandbytes 4-bit
runs there with fp32 compute). `tiny` and `smollm2` resolve to local folders; a hub id downloads on the VM.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from .config import JobConfig, JobError, model_folder_problem
from .smollm2 import smollm2_folder

ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]


def cache_root() -> Path:
    return Path(os.environ.get("TUNECOST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "tunecost"))


def tiny_folder() -> str:
    """Build the tiny Llama once per cache (deterministic, atomic rename) so adapters can point at a real path."""
    target = cache_root() / "tiny-llama-v1"
    if (target / "config.json").is_file():
        return str(target)
    from .tiny import build_tiny

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tiny-", dir=target.parent)
    build_tiny(tmp)
    try:
        os.rename(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)


def model_folder(name: str) -> str:
    if name == "tiny":
        return tiny_folder()
    if name == "smollm2":
        return smollm2_folder()
    problem = model_folder_problem(name)
    if problem:
        raise JobError(problem)
    return name


def compute_dtype(precision: str) -> torch.dtype:
    """'auto': bf16 where the GPU has it, fp16 mixed precision on older GPUs (V100, T4: the planner prices their
    fp16 tensor cores), fp32 on CPU."""
    cuda = torch.cuda.is_available()
    if precision == "auto":
        if not cuda:
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]


def _loading(what: str, folder: str, load):
    """Run a from_pretrained call; a missing, gated or offline model is one line naming it, not a traceback."""
    try:
        return load()
    except (OSError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise JobError(f"cannot load the {what} of {folder}: {reason} (a hub id needs network access and, for a "
                       "gated model, HF_TOKEN)") from err


def load_tokenizer(folder: str):
    tokenizer = _loading("tokenizer", folder, lambda: AutoTokenizer.from_pretrained(folder))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _device_map() -> Optional[object]:
    if torch.cuda.is_available():
        return {"": int(os.environ.get("LOCAL_RANK", "0"))}
    return "cpu"


def load_base(folder: str, cfg: JobConfig):
    """The frozen (or, for full, trainable) base model for cfg.method."""
    dtype = compute_dtype(cfg.precision)
    if cfg.method == "qlora":
        from transformers import BitsAndBytesConfig

        fsdp = cfg.fsdp()  # FSDP shards float tensors only: 4-bit weights stored in the compute dtype
        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                   bnb_4bit_compute_dtype=dtype,
                                   bnb_4bit_quant_storage=dtype if fsdp else torch.uint8)
        return _loading("weights", folder, lambda: AutoModelForCausalLM.from_pretrained(
            folder, quantization_config=quant, dtype=dtype, device_map=None if fsdp else _device_map()))
    # full: fp32 master weights, the Trainer's autocast gives bf16/fp16 compute
    return _loading("weights", folder, lambda: AutoModelForCausalLM.from_pretrained(
        folder, dtype=torch.float32 if cfg.method == "full" else dtype))


def target_modules(spec):
    if spec == "attention":
        return ATTENTION
    return spec  # "all-linear" (PEFT resolves it) or an explicit list


def apply_method(model, cfg: JobConfig):
    """Wrap the base for the method; returns the model the Trainer trains."""
    if cfg.method == "full":
        return model
    from peft import LoraConfig, PromptTuningConfig, get_peft_model, prepare_model_for_kbit_training

    if cfg.method == "qlora" and not cfg.fsdp():  # its fp32 casts would mix dtypes inside an FSDP shard unit
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=bool(cfg.gradient_checkpointing),
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.method == "prompt-tuning":
        peft_config = PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=cfg.virtual_tokens)
    else:
        peft_config = LoraConfig(task_type="CAUSAL_LM", r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                                 target_modules=target_modules(cfg.target_modules))
    try:
        return get_peft_model(model, peft_config)
    except ValueError as exc:  # e.g. target modules not found in this model
        raise JobError(f"cannot apply {cfg.method} to this model: {exc}") from None


def count_params(model) -> tuple[int, int]:
    """(trainable, total) parameter counts; 4-bit packed weights count as stored elements x 2."""
    trainable = total = 0
    for p in model.parameters():
        n = p.numel() * (2 if p.dtype == torch.uint8 else 1)
        total += n
        trainable += n if p.requires_grad else 0
    return trainable, total


def merge_adapter(folder: str, adapter_dir: Path, out_dir: Path, dtype: torch.dtype) -> None:
    """Merge into an unquantized copy of the base (merging into NF4 weights would round the result)."""
    from peft import PeftModel

    base = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(out_dir)


def generate_sample(model, tokenizer, prompt: str, max_new_tokens: int = 24) -> str:
    """Greedy completion of one held-out prompt: the before/after pair shows what training changed."""
    was_training = model.training
    model.eval()
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(model.device)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    model.train(was_training)
    return tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()
