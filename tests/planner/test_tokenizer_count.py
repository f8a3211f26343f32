"""`plan --dataset` counts with the model's own tokenizer when its tokenizer.json is on this machine (a model
folder, the job's cache, the hub cache), exactly as the job tokenizes; otherwise by the stated characters rule."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest

from tunecost.planner.model.dataset_size import CHARS_PER_TOKEN, count_jsonl
from tunecost.planner.model.tokenizer_count import find_tokenizer

DEMO = Path(str(files("tunecost.job").joinpath("demo_data.jsonl")))


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    """The job's tiny byte-level BPE tokenizer, saved as a model folder would hold it."""
    from tunecost.job.tiny import build_tokenizer

    folder = tmp_path_factory.mktemp("tiny-model")
    build_tokenizer().save_pretrained(str(folder))
    return folder


def _job_tokens(folder: Path, path: Path, seq_len: int) -> int:
    """What the job itself trains on, per epoch: its own row parser and tokenizer (job/data.py)."""
    from transformers import AutoTokenizer

    from tunecost.job.data import parse_row, tokenize

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sum(len(tokenize(parse_row(row, tokenizer), tokenizer, seq_len)["input_ids"]) for row in rows)


@pytest.mark.parametrize("seq_len", [64, 16])
def test_tokenizer_count_is_the_jobs_own_token_count(tiny_folder, seq_len):
    size = count_jsonl(DEMO, seq_len=seq_len, model=str(tiny_folder))
    assert size.tokens_per_epoch == _job_tokens(tiny_folder, DEMO, seq_len)
    assert "with the model's tokenizer" in size.source and str(tiny_folder) in size.source


def test_alpaca_rows_count_the_jobs_template(tiny_folder, tmp_path):
    rows = [{"instruction": "Convert 3 km to m.", "input": "", "output": "3000 m"},
            {"instruction": "Convert", "input": "4 kg to g", "output": "4000 g"}]
    path = tmp_path / "alpaca.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert count_jsonl(path, seq_len=512, model=str(tiny_folder)).tokens_per_epoch == \
        _job_tokens(tiny_folder, path, 512)


def test_hub_cache_snapshot_is_found_without_huggingface_hub(tiny_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    repo = tmp_path / "models--org--some-model"
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "tokenizer.json").write_bytes((tiny_folder / "tokenizer.json").read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    assert find_tokenizer("org/some-model") == repo / "snapshots" / "abc123" / "tokenizer.json"
    assert find_tokenizer("org/other-model") is None


def test_without_a_tokenizer_or_with_chars_per_token_the_rule_counts(tiny_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    unknown = count_jsonl(DEMO, model="org/not-here")
    assert f"at {CHARS_PER_TOKEN:g} chars/token" in unknown.source
    given = count_jsonl(DEMO, model=str(tiny_folder), chars_per_token=4)
    assert given.tokens_per_epoch == unknown.tokens_per_epoch and "chars/token" in given.source


def test_counting_with_a_tokenizer_loads_neither_transformers_nor_torch(tiny_folder):
    code = ("import sys; from tunecost.planner.model.dataset_size import count_jsonl; "
            f"s = count_jsonl({str(DEMO)!r}, model={str(tiny_folder)!r}); assert 'tokenizer' in s.source; "
            "print(sorted(m for m in ('transformers', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
