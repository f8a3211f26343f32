"""Token counts from the model's own tokenizer, when its `tokenizer.json` is already on this machine.

WHY: the characters-per-token rule is off by a third on short, number-heavy rows (the demo's data: 4 characters
per token counted 8,124 tokens where the job trained 11,110). A tokenizer file on disk gives the job's own count.
Where to look: a local model folder, the job's cache of the models it builds (SmolLM2), the Hugging Face hub
cache. Nothing is downloaded, and transformers is never imported (`tunecost plan` must start fast): the
`tokenizers` package (the job's dependency; absent from a planning-only install) is imported only once a file is
found. Without either, the caller falls back to the stated characters-per-token rule.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional

TOKENIZER_FILE = "tokenizer.json"
# What job/data.py `tokenize` adds to an example's own tokens: one EOS after the completion, no BOS.
JOB_EOS_TOKENS = 1


def _hub_cache() -> Path:
    """The hub cache as huggingface_hub resolves it (HF_HUB_CACHE, else HF_HOME/hub), without importing it."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def _hub_snapshot(model: str) -> Optional[Path]:
    """The snapshot folder of `org/name` in the hub cache: the one refs/main names, else the newest."""
    repo = _hub_cache() / ("models--" + model.replace("/", "--"))
    ref = repo / "refs" / "main"
    if ref.is_file():
        folder = repo / "snapshots" / ref.read_text().strip()
        if (folder / TOKENIZER_FILE).is_file():
            return folder
    found = sorted(repo.glob(f"snapshots/*/{TOKENIZER_FILE}"), key=lambda p: p.stat().st_mtime)
    return found[-1].parent if found else None


def _job_cache(model: str) -> Optional[Path]:
    """The job's own converted copy of a built-in model (job/smollm2.py), named by its hub id."""
    from tunecost.job.smollm2 import HUB_ID, cache_dir

    return cache_dir() if model.lower() == HUB_ID.lower() else None


def find_tokenizer(model: Optional[str]) -> Optional[Path]:
    """The model's tokenizer.json on this machine, or None."""
    if not model:
        return None
    path = Path(model).expanduser()
    if path.exists():
        candidates: Iterable[Optional[Path]] = [path if path.is_dir() else path.parent]
    elif "/" in model:
        candidates = (_job_cache(model), _hub_snapshot(model))
    else:
        return None
    for folder in candidates:
        if folder is not None and (folder / TOKENIZER_FILE).is_file():
            return folder / TOKENIZER_FILE
    return None


class TokenCounter:
    """Counts the tokens of text parts with one tokenizer file (parts are tokenized apart, as the job does)."""

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer

        self.path = path
        self._tokenizer = Tokenizer.from_file(str(path))

    def count(self, parts: list[str]) -> list[int]:
        """Tokens of each part, no special tokens added."""
        encoded = self._tokenizer.encode_batch(parts, add_special_tokens=False) if parts else []
        return [len(e.ids) for e in encoded]


def token_counter(model: Optional[str]) -> Optional[TokenCounter]:
    """A counter for the model's tokenizer when its file is here and `tokenizers` is installed, else None."""
    path = find_tokenizer(model)
    if path is None:
        return None
    try:
        return TokenCounter(path)
    except ImportError:  # a planning-only install (pip install -e .) has no tokenizers package
        return None
    except Exception:  # a file tokenizers cannot read: the characters rule still gives a count
        return None
