"""The tiny Llama + tokenizer, built on the spot with no hub: tests and smoke runs need a real model in ~0.2 s.

Deterministic: the tokenizer is trained on a fixed corpus (the shipped demo data) and the weights come from a
fixed seed, so every process (a resume, every DDP rank) builds the very same model without sharing files.
"""

from __future__ import annotations

import json
from importlib import resources

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from .contract import TINY_CONFIG

SPECIALS = ["<pad>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _corpus() -> list[str]:
    text = resources.files(__package__).joinpath("demo_data.jsonl").read_text()
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [" ".join(str(v) for v in row.values()) for row in rows] + ["The quick brown fox jumps over the lazy dog."]


def build_tokenizer(vocab_size: int = TINY_CONFIG["vocab_size"]) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on the demo corpus; any byte string still tokenizes."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                   additional_special_tokens=SPECIALS[3:])
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> LlamaForCausalLM:
    """LlamaConfig from the contract's TINY_CONFIG (hidden 64, intermediate 128, 2 layers) with seeded weights."""
    shape = {k: v for k, v in TINY_CONFIG.items() if k != "model_type"}
    config = LlamaConfig(**{**shape, "vocab_size": len(tokenizer)}, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    fork = torch.random.fork_rng()
    with fork:
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model


def build_tiny(folder: str) -> str:
    """Save the tiny model + tokenizer to `folder` (loads offline like any HF folder); returns the folder."""
    tokenizer = build_tokenizer()
    build_model(tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
