"""The adapter's model card (README.md): what it was trained from, how, on what, and how far the loss fell.

WHY: PEFT's `save_pretrained` writes a card whose metadata names the base model by the path it was loaded from
(a cache folder here) under a template of empty sections. The job writes a short card instead, in the same
form (YAML metadata a hub reads: base_model, library_name, tags, pipeline_tag; then text), from the run summary,
so the folder says what it holds wherever it is copied. Torch-free: it reads the RunSummary only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from .atomic import atomic_write
from .run_summary import RunSummary

CARD_NAME = "README.md"


def _loss(value: Optional[float]) -> str:
    return f"{value:.4f}" if value is not None else "n/a"


def card_text(summary: RunSummary, base_model: str) -> str:
    """The card for the adapter `summary` describes; `base_model` is its hub id where it has one, else the path."""
    cfg = summary.ran
    method = summary.method or (cfg.method.value if cfg else "?")
    targets = cfg.target_modules if cfg else "?"
    targets = ", ".join(targets) if isinstance(targets, list) else targets
    lora = method in ("lora", "qlora")
    meta = {"base_model": base_model, "library_name": "peft", "pipeline_tag": "text-generation",
            "tags": ["tunecost", method] + (["lora"] if lora else [])}
    front = "\n".join(f"{key}: {json.dumps(value)}" for key, value in meta.items())
    dataset = Path(cfg.dataset).name if cfg else "?"
    lines = [
        f"---\n{front}\n---\n",
        f"# {method} adapter for {base_model}\n",
        f"- base model: `{base_model}`",
        f"- method: {method}" + (" (4-bit NF4 base with double quantization, bitsandbytes)" if method == "qlora" else ""),
    ]
    if lora:
        rank = cfg.rank if cfg else "?"
        alpha = f", alpha {cfg.alpha:g}" if cfg and cfg.alpha is not None else ""
        lines.append(f"- rank {rank}{alpha}, targets {targets}")
    lines += [
        f"- data: {dataset}, {summary.rows if summary.rows is not None else '?'} rows "
        f"(seq {cfg.seq_len if cfg else '?'}, learning rate {cfg.learning_rate if cfg else '?'})",
        f"- steps: {summary.steps} ({summary.epochs} epochs, {summary.train_tokens or 0:,} tokens)",
        f"- loss: final training {_loss(summary.final_loss)}; eval {_loss(summary.eval_loss_before)} before, "
        f"{_loss(summary.eval_loss)} after",
        "",
        "Load it with PEFT: `PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), this_folder)`.",
        f"Trained by the tunecost job (run {summary.run_id}); the whole account is its run_summary.json.",
        "",
    ]
    return "\n".join(lines)


def write_card(folder: Path, summary: RunSummary, base_model: str) -> None:
    atomic_write(folder / CARD_NAME, card_text(summary, base_model))
