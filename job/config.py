"""Can the job load this model, and would LoRA on these targets adapt anything in it? Torch-free checks.

WHY apart from the config (job/job_config.py): they look at files on this machine (a model folder, its
safetensors headers, the smollm2 package), so the launcher asks them before it records a run and the job before
it loads; the config itself is checked by its pydantic model alone.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional, Union

from . import contract
from .smollm2 import HUB_ID as SMOLLM2_HUB_ID, package_problem

BUILT_IN_MODELS = ("tiny", "smollm2")
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
# What from_pretrained needs besides config.json, checked up front so a half-copied folder is one clear line.
FOLDER_NEEDS = {
    "weights (*.safetensors or pytorch_model*.bin)": ("*.safetensors", "pytorch_model*.bin"),
    "tokenizer (tokenizer.json, tokenizer.model or vocab.json)": ("tokenizer.json", "tokenizer.model", "vocab.json"),
}


def base_model_id(name: str) -> Optional[str]:
    """The hub id of the model `name` trains (what an adapter names as its base, so it loads anywhere by that
    name): smollm2's, or `name` itself when it is one; None for the tiny model and local folders."""
    if name == "smollm2":
        return SMOLLM2_HUB_ID
    return name if HUB_ID.fullmatch(name) and not Path(name).exists() else None


def model_folder_problem(name: str) -> Optional[str]:
    """Why the job cannot load `name` (None when it can): a built-in (smollm2 with its package), a complete local
    HF folder, or a hub id (org/name, downloaded by from_pretrained on the VM, with HF_TOKEN for gated models).
    Torch-free, so the local launcher checks it before it records a run."""
    if name == "smollm2":
        return package_problem()
    folder = Path(name)
    if name in BUILT_IN_MODELS or (HUB_ID.fullmatch(name) and not folder.exists()):
        return None
    if not (folder / "config.json").is_file():
        return (f"model {name} is neither a local HF folder with config.json nor a hub id (org/name); "
                "use tiny, smollm2, such a folder or a hub id")
    missing = [what for what, patterns in FOLDER_NEEDS.items() if not any(any(folder.glob(p)) for p in patterns)]
    if missing:
        return (f"model folder {name} has no {' and no '.join(missing)}; save the model and its tokenizer there "
                "with save_pretrained (or pass tiny / smollm2)")
    return None


def _weight_modules(folder: Path) -> set[str]:
    """Every dotted name part of the tensors in a folder's safetensors files (each file's JSON header, read
    without torch); empty when the folder has none (pytorch_model.bin needs torch to list)."""
    parts: set[str] = set()
    for file in folder.glob("*.safetensors"):
        with file.open("rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            if not 0 < size <= 100_000_000:
                continue
            try:
                header = json.loads(fh.read(size))
            except ValueError:
                continue
        for name in header if isinstance(header, dict) else ():
            parts.update(name.split("."))
    return parts


def targets_problem(targets: Union[str, list[str]], model: str) -> Optional[str]:
    """Why LoRA on `targets` would adapt no module of a local model folder (None when one matches, or when only
    loading the model could tell: a hub id, weights in .bin files). Torch-free: the launcher asks before it records
    a run, with the same contract.module_names the job gives PEFT."""
    config = Path(model) / "config.json"
    if not config.is_file():
        return None
    text = ",".join(targets) if isinstance(targets, list) else targets
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
        names = contract.module_names(contract.parse_targets(text), model_type)
    except (ValueError, AttributeError, OSError):
        return None  # an unreadable config or unknown words: the model and config checks name those
    modules = _weight_modules(Path(model))
    if names and (not modules or any(n in modules for n in names)):
        return None
    missing = f"no module named {', '.join(names)}" if names else "no module of these kinds"
    return (f"--targets {text}: {model} ({model_type}) has {missing}, so LoRA would adapt nothing; target "
            "modules this model has (the job knows Llama-style, Phi-3 and Falcon names)")
