"""Base model + tokenizer, and the method on top: qlora (NF4 + double quant + LoRA), lora, full, prompt-tuning.

Every dtype comes from the job contract (contract.storage): the base in the compute dtype (4-bit linears for
QLoRA, nothing upcast to fp32), trainable parameters in fp32 under mixed precision or in bf16 under pure bf16.
Precision "auto" is bf16-mixed where the GPU has bf16, fp16 on GPUs without it, fp32 on CPU (bitsandbytes
4-bit runs there with fp32 compute). `tiny` and `smollm2` resolve to local folders; a hub id downloads on the VM.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from . import contract
from .cache import cache_root
from .config import model_folder_problem
from .job_config import JobConfig
from .errors import JobError
from .smollm2 import smollm2_folder

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32, "uint8": torch.uint8}


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


def resolve_precision(precision: str) -> str:
    """'auto': bf16-mixed where the GPU has bf16, fp16 mixed precision on older GPUs (V100, T4: the planner
    prices their fp16 tensor cores), fp32 on CPU."""
    if precision != "auto":
        return precision
    if not torch.cuda.is_available():
        return "fp32"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "fp16"


def job_storage(cfg: JobConfig) -> contract.Storage:
    """The contract's dtypes for this run."""
    return contract.storage(cfg.method, resolve_precision(cfg.precision), "fsdp" if cfg.fsdp() else "single")


def compute_dtype(precision: str) -> torch.dtype:
    return DTYPES[contract.compute_of(resolve_precision(precision))]


def _loading(what: str, folder: str, load):
    """Run a from_pretrained call; a missing, gated or offline model is one line naming it, not a traceback."""
    try:
        return load()
    except (OSError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise JobError(f"cannot load the {what} of {folder}: {reason} (a hub id needs network access and, for a "
                       "gated model, HF_TOKEN)") from err


def tokenizer_cleanup_ignored(tokenizer) -> bool:
    """Whether the tokenizer asks for a decode cleanup that transformers skips for its BPE model."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    forced = getattr(tokenizer, "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output", False)
    return bool(getattr(tokenizer, "clean_up_tokenization_spaces", False)) and not forced \
        and type(getattr(backend, "model", None)).__name__ == "BPE"


def load_tokenizer(folder: str):
    tokenizer = _loading("tokenizer", folder, lambda: AutoTokenizer.from_pretrained(folder))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer_cleanup_ignored(tokenizer):
        # transformers 5 ignores this cleanup for BPE tokenizers (SmolLM2's config asks for it) and warns on every
        # decode; turning it off changes no output, and the adapter's tokenizer is saved as it runs
        tokenizer.clean_up_tokenization_spaces = False
    return tokenizer


def _device_map() -> Optional[object]:
    if torch.cuda.is_available():
        return {"": int(os.environ.get("LOCAL_RANK", "0"))}
    return "cpu"


def load_base(folder: str, cfg: JobConfig):
    """The frozen (or, for full, trainable) base model, in the contract's dtypes."""
    st = job_storage(cfg)
    if cfg.method == "qlora":
        from transformers import BitsAndBytesConfig

        fsdp = cfg.fsdp()  # FSDP shards float tensors only: 4-bit weights stored in the compute dtype
        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                   bnb_4bit_use_double_quant=st.double_quant, bnb_4bit_compute_dtype=DTYPES[st.compute],
                                   bnb_4bit_quant_storage=DTYPES[st.quant_storage])
        return keep_4bit_trainable(_loading("weights", folder, lambda: AutoModelForCausalLM.from_pretrained(
            folder, quantization_config=quant, dtype=DTYPES[st.rest], device_map=None if fsdp else _device_map())))
    return _loading("weights", folder, lambda: AutoModelForCausalLM.from_pretrained(folder, dtype=DTYPES[st.base]))


def keep_4bit_trainable(model):
    """On a CPU with AVX512-BF16, bitsandbytes repacks a 4-bit weight for its inference kernel the first time the
    layer runs in eval mode (the job's before-training sample, an eval) and keeps it repacked; that kernel has no
    backward, so every later training step gets wrong gradients through the frozen layers (bitsandbytes 0.50
    warns "gemv_4bit: an autograd kernel was not registered"; the demo's loss rose 3.6 -> 6.7). Never repack."""
    import bitsandbytes as bnb

    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False
    return model


def target_modules(spec, model_type: Optional[str]) -> list[str]:
    """The contract's target words (a string or a list of them) -> this model family's module names."""
    text = ",".join(spec) if isinstance(spec, list) else spec
    return contract.module_names(contract.parse_targets(text), model_type)


def apply_method(model, cfg: JobConfig):
    """Wrap the base for the method; returns the model the Trainer trains (which turns checkpointing on).

    No prepare_model_for_kbit_training: its fp32 upcast of embeddings, norms and lm_head costs 4 B per
    parameter (3.9 GiB on Llama-3.1-8B) and makes the whole residual stream fp32. Trainable parameters are cast
    to the contract's dtype here, so the optimizer states follow them."""
    if cfg.method == "full":
        return model
    from peft import LoraConfig, PromptTuningConfig, get_peft_model

    st = job_storage(cfg)
    if cfg.method == "prompt-tuning":
        peft_config = PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=cfg.virtual_tokens)
    else:
        names = target_modules(cfg.target_modules, getattr(model.config, "model_type", None))
        peft_config = LoraConfig(task_type="CAUSAL_LM", r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                                 target_modules=names)
    try:
        peft_model = get_peft_model(model, peft_config, autocast_adapter_dtype=False)
    except ValueError as exc:  # e.g. target modules not found in this model
        raise JobError(f"cannot apply {cfg.method} to this model: {exc}") from None
    for p in peft_model.parameters():
        if p.requires_grad:
            p.data = p.data.to(DTYPES[st.trainable])
    return peft_model


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
