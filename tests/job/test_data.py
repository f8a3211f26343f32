"""The four row formats, the completion-only loss mask, packing, the eval split, and bad rows (file:line)."""

from __future__ import annotations

import pytest

from tunecost.job.errors import JobError
from tunecost.job.data import IGNORE, Collator, load_data, parse_row, tokenize
from tunecost.job.tiny import build_tokenizer

from .conftest import write_jsonl


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def labeled_text(tok, item) -> str:
    return tok.decode([t for t, l in zip(item["input_ids"], item["labels"]) if l != IGNORE])


@pytest.mark.parametrize("row, learned", [
    ({"text": "5 km = 5000 m"}, "5 km = 5000 m</s>"),
    ({"prompt": "Convert 5 km to meters.", "completion": "5 km = 5000 m"}, "5 km = 5000 m</s>"),
    ({"instruction": "Convert to meters", "input": "5 km", "output": "5000 m"}, "5000 m</s>"),
    ({"messages": [{"role": "user", "content": "Convert 5 km"}, {"role": "assistant", "content": "5000 m"}]},
     "5000 m</s>"),
])
def test_loss_only_on_the_completion(tok, row, learned):
    item = tokenize(parse_row(row, tok), tok, seq_len=128)
    assert labeled_text(tok, item) == learned
    assert len(item["input_ids"]) == len(item["labels"])
    if "text" not in row:  # the prompt is present in the inputs but masked out of the loss
        assert item["labels"][0] == IGNORE and tok.decode(item["input_ids"]).startswith(
            "<|user|>" if "messages" in row else row.get("prompt", "### Instruction")[:10])


def test_messages_use_the_chat_template(tok):
    ex = parse_row({"messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"},
                                 {"role": "assistant", "content": "yo"}]}, tok)
    assert ex.prompt == "<|system|>Be terse.</s><|user|>hi</s><|assistant|>" and ex.completion == "yo</s>"


def test_bad_row_stops_with_file_and_line(tmp_path, tok):
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "ok"}, "", {"prompt": "p"}, "{not json"])
    with pytest.raises(JobError, match=r"d.jsonl:3: row has none of the keys"):
        load_data(str(data), tok, 64, False, 0.0, None, False, 0)


def test_invalid_json_row_names_line(tmp_path, tok):
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "ok"}, "{not json"])
    with pytest.raises(JobError, match=r"d.jsonl:2: not valid JSON"):
        load_data(str(data), tok, 64, False, 0.0, None, False, 0)


def test_skip_bad_rows_counts_them(tmp_path, tok):
    rows = [{"text": "a b c"}, {"prompt": "p"}, "{oops", {"messages": [{"role": "user", "content": "x"}]},
            {"text": ""}, {"prompt": "q", "completion": "r"}]
    loaded = load_data(str(write_jsonl(tmp_path / "d.jsonl", rows)), tok, 64, False, 0.0, None, True, 0)
    assert (loaded.bad_rows, loaded.rows, len(loaded.train)) == (4, 2, 2)


def test_packing_makes_full_blocks_and_keeps_masks(tok):
    loaded = load_data("demo", tok, 32, True, 0.0, None, False, 0)
    assert all(len(b["input_ids"]) == 32 for b in loaded.train)
    labels = [l for b in loaded.train for l in b["labels"]]
    assert IGNORE in labels and any(l != IGNORE for l in labels)


def test_eval_split_is_seeded_and_disjoint(tok):
    a = load_data("demo", tok, 64, False, 0.1, None, False, 5)
    b = load_data("demo", tok, 64, False, 0.1, None, False, 5)
    assert len(a.eval) == 32 and len(a.train) == 288 and a.eval == b.eval
    train_ids = {tuple(t["input_ids"]) for t in a.train}
    assert not any(tuple(e["input_ids"]) in train_ids for e in a.eval) or len(train_ids) < len(a.train)


def test_collator_pads_without_loss_or_attention(tok):
    batch = Collator(tok.pad_token_id)([{"input_ids": [5, 6, 7], "labels": [IGNORE, 6, 7]},
                                        {"input_ids": [8], "labels": [8]}])
    assert batch["input_ids"].shape == (2, 3)
    assert batch["labels"][1].tolist() == [8, IGNORE, IGNORE] and batch["attention_mask"][1].tolist() == [1, 0, 0]


@pytest.mark.parametrize("raw, reason", [
    (b'{"text": "caf\xe9"}\n', "not UTF-8 (byte 0xe9 at column 14)"),
    (b'{"prompt": "p", "completion": 12}\n', "key 'completion' must be a string"),
    (b'{"text": "  "}\n', "key 'text' is empty"),
])
def test_the_job_names_the_bad_line_of_its_dataset(tok, tmp_path, raw, reason):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"text": "fine"}\n' + raw)
    with pytest.raises(JobError) as err:
        load_data(str(path), tok, 64, False, 0.0, None, False, 0)
    assert str(err.value).startswith(f"{path}:2: {reason}")
