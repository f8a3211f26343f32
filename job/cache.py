"""Where the job keeps the models it builds once (the tiny Llama, SmolLM2 converted from GGUF): one root for all.

$TUNECOST_CACHE, else ~/.cache/tunecost. Torch-free, so the launcher can look into the cache without torch.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("TUNECOST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "tunecost"))
