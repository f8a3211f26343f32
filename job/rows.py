"""Dataset rows: read a JSONL file line by line and check each row's shape (torch-free, no tokenizer).

WHY one torch-free module: the job parses its rows with it (data.py), the launcher runs the same checks on the
same file before it records a run, and the planner counts a dataset's tokens through it, so a bad row is one line
and exit 2 on the user's machine (in `plan --dataset` and `launch` alike), not a failed run on a VM. Formats (one
per row, detected by keys): {"text"}, {"prompt","completion"}, {"messages":[{"role","content"}...]} ending with
the assistant, Alpaca {"instruction","input"?,"output"}.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, TypeVar

from .contract import alpaca_prompt
from .errors import JobError

FORMATS = "text | prompt+completion | messages | instruction+output"
T = TypeVar("T")


class RowError(ValueError):
    """A row that cannot be trained on; `line` is its 1-based line number in the file."""

    def __init__(self, line: int, reason: str):
        super().__init__(reason)
        self.line, self.reason = line, reason


def _encodable(value: str, key: str) -> str:
    """JSON may escape half of a surrogate pair ("\\ud800"), which is no character: the tokenizer cannot encode it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"key '{key}' holds {value[err.start]!r} at character {err.start + 1}, half of a UTF-16 "
                         "surrogate pair, not a character") from None
    return value


def text_field(row: dict, key: str, allow_empty: bool = False) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        got = "missing" if value is None else f"a {type(value).__name__} ({json.dumps(value)[:40]})"
        raise ValueError(f"key '{key}' must be a string, got {got}")
    if not value.strip() and not allow_empty:
        raise ValueError(f"key '{key}' is empty")
    return _encodable(value, key)


def check_messages(messages: Any) -> list[dict[str, str]]:
    ok = isinstance(messages, list) and messages and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in messages)
    if not ok:
        raise ValueError("'messages' must be a non-empty list of {\"role\", \"content\"} objects")
    for m in messages:
        _encodable(m["role"], "role"), _encodable(m["content"], "content")
    if messages[-1]["role"] != "assistant":
        raise ValueError(f"the last message has role '{messages[-1]['role']}'; it must be 'assistant' (it is what "
                         "the model learns)")
    return messages


def row_format(row: Any) -> str:
    """The row's format name, after checking its fields; ValueError with a short reason if it has none."""
    if not isinstance(row, dict):
        raise ValueError(f"row is a JSON {type(row).__name__}, not an object")
    if "messages" in row:
        check_messages(row["messages"])
        return "messages"
    if "prompt" in row and "completion" in row:
        text_field(row, "prompt", allow_empty=True), text_field(row, "completion")
        return "prompt+completion"
    if "instruction" in row and "output" in row:
        text_field(row, "instruction"), text_field(row, "output")
        if "input" in row:
            text_field(row, "input", allow_empty=True)
        return "instruction+output"
    if "text" in row:
        text_field(row, "text")
        return "text"
    keys = ", ".join(sorted(map(str, row))) or "none"
    raise ValueError(f"row has none of the keys {FORMATS} (its keys: {keys})")


def row_texts(row: Any) -> tuple[str, list[str]]:
    """(format, the texts the job trains on) of one row, after row_format's checks: prompt and completion (Alpaca:
    the job's prompt template around instruction and input), the text alone, or each message's content (the job
    renders those with the model's chat template). The job builds its examples from these and the planner counts
    their tokens."""
    fmt = row_format(row)
    if fmt == "messages":
        return fmt, [m["content"] for m in row["messages"]]
    if fmt == "prompt+completion":
        return fmt, [row["prompt"], row["completion"]]
    if fmt == "instruction+output":
        return fmt, [alpaca_prompt(row["instruction"], row.get("input") or ""), row["output"]]
    return fmt, [row["text"]]


def read_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) per non-blank line; RowError for bytes that are not UTF-8 or not JSON."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                yield lineno, RowError(lineno, f"not UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1}); "
                                               "save the file as UTF-8")
                continue
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as err:
                yield lineno, RowError(lineno, f"not valid JSON ({err.msg} at column {err.colno})")
            except RecursionError:  # e.g. 100,000 '[': deeper than Python's stack
                yield lineno, RowError(lineno, "not valid JSON (nested too deeply); one row is one flat object")


def bad_row(path: Path, err: RowError) -> JobError:
    return JobError(f"{path}:{err.line}: {err.reason}; fix or delete that row")


def iter_rows(path: Path, parse: Callable[[Any], T], skip_bad_rows: bool,
              skipped: Optional[list[int]] = None) -> Iterator[T]:
    """parse(row) of each usable row of a JSONL file, streamed. A bad row (not JSON, or `parse` raises ValueError)
    is JobError at its file:line, unless skip_bad_rows puts its line number in `skipped`; no usable row at all is
    JobError after the last line. The job's read (data.read_examples), the launcher's check (check_dataset) and
    the planner's token count (planner/model/dataset_size.py) all go through here, so they refuse the same files."""
    usable = 0
    for lineno, row in read_rows(path):
        try:
            if isinstance(row, RowError):
                raise row
            parsed = parse(row)
        except ValueError as exc:
            if not skip_bad_rows:
                raise bad_row(path, exc if isinstance(exc, RowError) else RowError(lineno, str(exc))) from None
            if skipped is not None:
                skipped.append(lineno)
            continue
        usable += 1
        yield parsed
    if not usable:
        raise JobError(f"{path}: no usable rows; each line needs one of the formats {FORMATS}")


def parse_rows(path: Path, parse: Callable[[Any], T], skip_bad_rows: bool) -> tuple[list[T], int]:
    """(parse(row) of each usable row, bad row count) of a JSONL file (iter_rows, read whole)."""
    skipped: list[int] = []
    parsed = list(iter_rows(path, parse, skip_bad_rows, skipped))
    return parsed, len(skipped)


def eval_rows(rows: int, eval_fraction: float) -> int:
    """Rows held out for eval (at least one when asked for); JobError when no row would be left to train on."""
    if eval_fraction <= 0:
        return 0
    held = max(1, int(round(rows * eval_fraction)))
    if held >= rows:
        raise JobError(f"eval_fraction {eval_fraction:g} holds out {held} of {rows} row(s), leaving none to train "
                       "on; add rows or lower the eval fraction")
    return held


def check_dataset(path: Path, skip_bad_rows: bool = False, eval_fraction: float = 0.0) -> tuple[int, int]:
    """(usable rows, bad rows) of a JSONL file; JobError at the first bad line unless skip_bad_rows, or when
    `eval_fraction` would leave nothing to train on."""
    formats, bad = parse_rows(path, row_format, skip_bad_rows)
    try:
        eval_rows(len(formats), eval_fraction)
    except JobError as err:
        raise JobError(f"{path}: {err}") from None
    return len(formats), bad
