"""Training data: JSONL rows in four formats -> token ids with labels, loss only on the completion where one exists.

Formats (one per row, detected by keys): {"text"}, {"prompt","completion"}, {"messages":[{"role","content"}...]}
(rendered with the tokenizer's chat template; loss on the last assistant turn), Alpaca
{"instruction","input"?,"output"}. A malformed row stops the job with file:line, or with skip_bad_rows it is
skipped and counted (the count lands in the run summary as bad_rows).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Optional

import torch

from .errors import JobError
from .rows import eval_rows, parse_rows, row_texts

IGNORE = -100


@dataclass
class Example:
    prompt: str  # no loss on these tokens
    completion: str  # loss on these


@dataclass
class Loaded:
    train: list[dict[str, list[int]]]
    eval: list[dict[str, list[int]]]
    bad_rows: int
    rows: int
    eval_prompts: list[str]  # raw held-out prompts, for the before/after sample


def dataset_path(name: str) -> Path:
    """`demo` names the shipped demo_data.jsonl; anything else is a path (relative to the working directory)."""
    if name == "demo":
        return Path(str(resources.files(__package__).joinpath("demo_data.jsonl")))
    path = Path(name)
    if not path.is_file():
        raise JobError(f"dataset {name} not found; pass a JSONL file (or 'demo' for the shipped demo data)")
    return path


def parse_row(row: Any, tokenizer) -> Example:
    """One JSON value -> Example; raises ValueError with a short reason (the checks are rows.row_format's)."""
    fmt, texts = row_texts(row)
    if fmt == "messages":
        return _from_messages(row["messages"], tokenizer)
    return Example("", texts[0]) if fmt == "text" else Example(texts[0], texts[1])


def _from_messages(messages: list[dict[str, str]], tokenizer) -> Example:
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    if not full.startswith(prompt):  # template renders the history differently: learn the whole conversation
        return Example("", full)
    return Example(prompt, full[len(prompt):])


def read_examples(path: Path, tokenizer, skip_bad_rows: bool) -> tuple[list[Example], int]:
    """Read a JSONL file; returns (examples, bad row count)."""
    return parse_rows(path, lambda row: parse_row(row, tokenizer), skip_bad_rows)


def tokenize(example: Example, tokenizer, seq_len: int) -> dict[str, list[int]]:
    """Prompt and completion are tokenized apart so the label mask falls exactly on the boundary."""
    prompt_ids = tokenizer(example.prompt, add_special_tokens=False).input_ids if example.prompt else []
    completion_ids = tokenizer(example.completion, add_special_tokens=False).input_ids
    # chat templates already end the turn with eos; add it only where it is missing
    if tokenizer.eos_token_id is not None and completion_ids[-1:] != [tokenizer.eos_token_id]:
        completion_ids = completion_ids + [tokenizer.eos_token_id]
    ids = (prompt_ids + completion_ids)[:seq_len]
    labels = ([IGNORE] * len(prompt_ids) + completion_ids)[:seq_len]
    return {"input_ids": ids, "labels": labels}


def pack(items: list[dict[str, list[int]]], seq_len: int) -> list[dict[str, list[int]]]:
    """Concatenate examples and cut into full seq_len blocks (the masks travel with the tokens)."""
    ids = [t for it in items for t in it["input_ids"]]
    labels = [t for it in items for t in it["labels"]]
    blocks = [{"input_ids": ids[i:i + seq_len], "labels": labels[i:i + seq_len]}
              for i in range(0, len(ids) - seq_len + 1, seq_len)]
    return blocks or [{"input_ids": ids, "labels": labels}]


def load_data(dataset: str, tokenizer, seq_len: int, packing: bool, eval_fraction: float,
              eval_file: Optional[str], skip_bad_rows: bool, seed: int) -> Loaded:
    """Read, split (seeded), tokenize and optionally pack; eval is never packed across the split."""
    examples, bad = read_examples(dataset_path(dataset), tokenizer, skip_bad_rows)
    rows = len(examples)
    eval_examples: list[Example] = []
    if eval_file:
        eval_examples, eval_bad = read_examples(dataset_path(eval_file), tokenizer, skip_bad_rows)
        bad += eval_bad
    elif eval_fraction > 0:
        order = list(range(len(examples)))
        random.Random(seed).shuffle(order)
        n_eval = eval_rows(len(examples), eval_fraction)
        held = set(order[:n_eval])
        eval_examples = [e for i, e in enumerate(examples) if i in held]
        examples = [e for i, e in enumerate(examples) if i not in held]
    train = [tokenize(e, tokenizer, seq_len) for e in examples]
    evals = [tokenize(e, tokenizer, seq_len) for e in eval_examples]
    train = [t for t in train if any(l != IGNORE for l in t["labels"])]
    if not train:
        raise JobError(f"{dataset}: every example lost its completion to truncation; raise seq_len (now {seq_len})")
    if packing:
        train = pack(train, seq_len)
    return Loaded(train=train, eval=evals, bad_rows=bad, rows=rows,
                  eval_prompts=[e.prompt for e in eval_examples if e.prompt])


class Collator:
    """Right-pads a batch; pads get attention 0 and label -100 so they cost no loss and count as no tokens."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[i, :n] = torch.tensor(b["input_ids"])
            labels[i, :n] = torch.tensor(b["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}
