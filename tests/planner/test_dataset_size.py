"""Counting a JSONL dataset: every format the job reads, the stated chars-per-token rule, bad lines by file:line."""

import json

import pytest

from tunecost.planner.model.dataset_size import (
    ALPACA_INPUT_CHARS,
    ALPACA_TEMPLATE_CHARS,
    EXAMPLE_OVERHEAD_TOKENS,
    MESSAGE_OVERHEAD_TOKENS,
    count_jsonl,
    dataset_size,
)
from tunecost.planner.errors import UserError


def write_jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_text_rows_count_chars_over_four_plus_bos_eos(tmp_path):
    f = write_jsonl(tmp_path / "t.jsonl", [{"text": "a" * 400}, {"text": "b" * 40}])
    size = count_jsonl(f)
    assert size.examples == 2
    assert size.tokens_per_epoch == 100 + 10 + 2 * EXAMPLE_OVERHEAD_TOKENS
    assert "4 chars/token" in size.source


def test_each_format_counts_its_text_fields(tmp_path):
    rows = [
        {"prompt": "p" * 80, "completion": "c" * 120},
        {"messages": [{"role": "user", "content": "u" * 40}, {"role": "assistant", "content": "a" * 80}]},
        {"instruction": "i" * 20, "input": "", "output": "o" * 20},
        {"instruction": "i" * 20, "input": "n" * 40, "output": "o" * 20},
    ]
    size = count_jsonl(write_jsonl(tmp_path / "mixed.jsonl", rows))
    expected = (50 + EXAMPLE_OVERHEAD_TOKENS) \
        + (30 + EXAMPLE_OVERHEAD_TOKENS + 2 * MESSAGE_OVERHEAD_TOKENS) \
        + (round((40 + ALPACA_TEMPLATE_CHARS) / 4) + EXAMPLE_OVERHEAD_TOKENS) \
        + (round((80 + ALPACA_TEMPLATE_CHARS + ALPACA_INPUT_CHARS) / 4) + EXAMPLE_OVERHEAD_TOKENS)
    assert size.tokens_per_epoch == expected
    assert size.examples == 4


def test_chars_per_token_is_a_stated_choice(tmp_path):
    f = write_jsonl(tmp_path / "t.jsonl", [{"text": "x" * 300}])
    assert count_jsonl(f, chars_per_token=3).tokens_per_epoch == 100 + EXAMPLE_OVERHEAD_TOKENS


def test_without_packing_long_examples_are_cut_at_seq_len(tmp_path):
    f = write_jsonl(tmp_path / "t.jsonl", [{"text": "x" * 4000}, {"text": "y" * 40}])
    assert count_jsonl(f, seq_len=256).tokens_per_epoch == 256 + 10 + EXAMPLE_OVERHEAD_TOKENS


def test_blank_lines_are_ignored(tmp_path):
    f = write_jsonl(tmp_path / "t.jsonl", [{"text": "abcd"}, "", "   ", {"text": "abcd"}])
    assert count_jsonl(f).examples == 2


def test_bad_json_names_file_and_line(tmp_path):
    f = write_jsonl(tmp_path / "bad.jsonl", [{"text": "ok"}, {"text": "ok"}, '{"text": "unterminated'])
    with pytest.raises(UserError, match=r"bad\.jsonl:3: not valid JSON") as info:
        count_jsonl(f)
    assert "\n" not in str(info.value)


def test_row_without_text_fields_names_line_and_formats(tmp_path):
    f = write_jsonl(tmp_path / "keys.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(UserError, match=r"keys\.jsonl:1: row has none of the keys .* \(its keys: answer, question\)"):
        count_jsonl(f)


def test_missing_and_empty_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        count_jsonl(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(UserError, match="empty.jsonl: no usable rows"):
        count_jsonl(tmp_path / "empty.jsonl")


def test_given_sizes_and_their_conflicts():
    assert dataset_size(tokens=5_000_000).tokens_per_epoch == 5_000_000
    size = dataset_size(examples=1000, avg_tokens=300)
    assert (size.tokens_per_epoch, size.examples) == (300_000, 1000)
    assert dataset_size() is None
    with pytest.raises(UserError, match="positive"):
        dataset_size(tokens=-5)
    with pytest.raises(UserError, match="go together"):
        dataset_size(examples=10)
    with pytest.raises(UserError, match="not --tokens and --examples"):
        dataset_size(tokens=10, examples=10, avg_tokens=3)
