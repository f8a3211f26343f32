"""How many tokens one epoch of the user's dataset holds: by the model's tokenizer when it is on this machine,
else by a stated characters-per-token rule.

`tunecost plan` must start in under a second and never load transformers. With the model's `tokenizer.json` on
disk (planner/model/tokenizer_count.py) the text fields the job reads are tokenized as the job tokenizes them (prompt
and completion apart, one EOS). Otherwise, or with `--chars-per-token` given, a JSONL file is counted by the rule
(about 4 characters per token for English with Llama/Mistral/Qwen-style BPE vocabularies) over the same fields,
plus a stated number of template tokens per example (BOS/EOS, chat role headers). The rows are read and checked
by the job's own parser (job/rows.py), so a file the job would refuse is refused here, with the same file:line.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

from tunecost.job.contract import ALPACA_INPUT_BLOCK, ALPACA_TEMPLATE
from tunecost.job.errors import JobError
from tunecost.job.rows import iter_rows, row_texts
from tunecost.planner.errors import UserError
from tunecost.planner.spec import DatasetSize
from tunecost.planner.model.tokenizer_count import JOB_EOS_TOKENS, TokenCounter, token_counter

CHARS_PER_TOKEN = 4.0  # English prose with a 32k-150k BPE vocabulary; code and other languages use more tokens
EXAMPLE_OVERHEAD_TOKENS = 2  # BOS + EOS around every example
MESSAGE_OVERHEAD_TOKENS = 4  # chat template role header + end-of-turn marker per message (Llama 3 / ChatML)
ALPACA_TEMPLATE_CHARS = len(ALPACA_TEMPLATE.format(instruction="", input_block=""))  # the job's own headers
ALPACA_INPUT_CHARS = len(ALPACA_INPUT_BLOCK.format(input=""))  # and its input block, when the row has an input

MAX_TOKENS = 10**13  # 10 trillion tokens per epoch: more than the largest pre-training runs, so surely a typo


def _row_parts(row: Any) -> tuple[list[str], int, int]:
    """(texts the job tokenizes, template tokens under the characters rule, the same with a tokenizer) of one row,
    after the job's own checks of it (job/rows.py: a ValueError names what is wrong)."""
    fmt, texts = row_texts(row)
    if fmt == "messages":
        headers = MESSAGE_OVERHEAD_TOKENS * len(texts)
        return texts, EXAMPLE_OVERHEAD_TOKENS + headers, headers
    return texts, EXAMPLE_OVERHEAD_TOKENS, JOB_EOS_TOKENS


BATCH = 2048  # rows tokenized together (the tokenizer encodes a batch in parallel)


def count_jsonl(path: Path | str, *, chars_per_token: Optional[float] = None, seq_len: Optional[int] = None,
                model: Optional[str] = None) -> DatasetSize:
    """Tokens per epoch of a JSONL file. With `seq_len` (no packing), each example is cut at seq_len tokens.
    `chars_per_token` None: the model's tokenizer when it is on this machine, else CHARS_PER_TOKEN."""
    path = Path(path)
    if chars_per_token is not None and not 0 < chars_per_token < math.inf:  # NaN too
        raise UserError(f"--chars-per-token must be a positive number (got {chars_per_token})")
    if not path.is_file():
        raise UserError(f"dataset file not found: {path} (give a JSONL file, or --tokens N)")
    counter = token_counter(model) if chars_per_token is None else None
    rule = chars_per_token or CHARS_PER_TOKEN
    per_example: list[int] = []
    batch: list[tuple[list[str], int]] = []
    try:  # the job's own reader and row checks: `plan --dataset` refuses exactly the files `launch` refuses
        for parts, rule_overhead, tokenizer_overhead in iter_rows(path, _row_parts, skip_bad_rows=False):
            if counter is None:
                per_example.append(round(sum(map(len, parts)) / rule) + rule_overhead)
                continue
            batch.append((parts, tokenizer_overhead))
            if len(batch) >= BATCH:
                per_example += _tokenized(counter, batch)
                batch = []
    except JobError as err:
        raise UserError(f"--dataset {err}") from None
    if counter is not None:
        per_example += _tokenized(counter, batch)
    tokens = sum(min(n, seq_len) if seq_len else n for n in per_example)
    cut = f", each cut at {seq_len} tokens (no packing)" if seq_len else ""
    how = (f"with the model's tokenizer ({counter.path}) + the job's EOS" if counter is not None
           else f"at {rule:g} chars/token + template tokens")
    return DatasetSize(tokens_per_epoch=max(tokens, 1), examples=len(per_example),
                       source=f"counted {path.name}: {len(per_example)} examples {how}{cut}")


def _tokenized(counter: TokenCounter, batch: list[tuple[list[str], int]]) -> list[int]:
    """Tokens per example of a batch: its parts tokenized apart (as job/data.py does), plus its template tokens."""
    counts = iter(counter.count([part for parts, _ in batch for part in parts]))
    return [sum(next(counts) for _ in parts) + overhead for parts, overhead in batch]


def dataset_size(*, dataset: Optional[Path] = None, tokens: Optional[int] = None, examples: Optional[int] = None,
                 avg_tokens: Optional[int] = None, chars_per_token: Optional[float] = None,
                 seq_len: Optional[int] = None, model: Optional[str] = None) -> Optional[DatasetSize]:
    """One DatasetSize from whichever of --dataset / --tokens / --examples x --avg-tokens was given (None if none)."""
    given = [name for name, value in (("--dataset", dataset), ("--tokens", tokens)) if value is not None]
    if examples is not None or avg_tokens is not None:
        given.append("--examples/--avg-tokens")
    if len(given) > 1:
        raise UserError(f"give one dataset size, not {' and '.join(given)}")
    if dataset is not None:
        return count_jsonl(dataset, chars_per_token=chars_per_token, seq_len=seq_len, model=model)
    if tokens is not None:
        if tokens <= 0:
            raise UserError(f"--tokens must be a positive number of training tokens per epoch (got {tokens})")
        if tokens > MAX_TOKENS:
            raise UserError(f"--tokens {tokens:.3g} is more than {MAX_TOKENS:.0e} tokens per epoch, beyond any "
                            "fine-tuning set (and than most pre-training); check the number")
        return DatasetSize(tokens_per_epoch=tokens, source=f"given: {tokens:,} tokens per epoch")
    if examples is not None or avg_tokens is not None:
        if examples is None or avg_tokens is None:
            raise UserError("--examples and --avg-tokens go together (e.g. --examples 50000 --avg-tokens 350)")
        if examples <= 0 or avg_tokens <= 0:
            raise UserError(f"--examples and --avg-tokens must be positive (got {examples} and {avg_tokens})")
        per_example = min(avg_tokens, seq_len) if seq_len else avg_tokens
        if examples * per_example > MAX_TOKENS:
            raise UserError(f"--examples x --avg-tokens is {examples * per_example:.3g} tokens, more than "
                            f"{MAX_TOKENS:.0e} per epoch, beyond any fine-tuning set; check the numbers")
        return DatasetSize(tokens_per_epoch=examples * per_example, examples=examples,
                           source=f"given: {examples:,} examples x {per_example:,} tokens")
    return None
