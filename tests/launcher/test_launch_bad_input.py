"""Bad input to `tunecost launch` is refused before anything is recorded: one line, exit 2, no ledger row and no
run folder. The dataset is checked with the job's own row parser; a hub model is looked up before a local run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tunecost.launcher.ledger.store import Ledger
from tunecost.planner.plan import PLAN_SCHEMA

from .conftest import SINGLE

TUNECOST = [sys.executable, "-c", "from tunecost.launcher.cli import main; main()"]
GOOD = json.dumps({"prompt": "Convert 5 km", "completion": "5000 m"}).encode()


def _launch(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(TUNECOST + ["launch", *args], env={**os.environ, "TUNECOST_HOME": str(home), **env},
                          capture_output=True, text=True, timeout=120)


def _nothing_recorded(home: Path) -> None:
    assert Ledger(home).list() == [] and not (home / "runs").exists()


@pytest.mark.parametrize("local", [True, False], ids=["local", "cloud"])
@pytest.mark.parametrize("row, reason", [
    (b'{"prompt": "Convert 5 km", "completion": 5000}', "key 'completion' must be a string, got a int (5000)"),
    (b'{"text": ""}', "key 'text' is empty"),
    (b'{"messages": [{"role": "user", "content": "hi"}]}', "the last message has role 'user'; it must be 'assistant'"),
    (b'{"text": "caf\xe9"}', "not UTF-8 (byte 0xe9 at column 14)"),
])
def test_a_bad_row_is_one_line_with_its_line_number_and_nothing_is_recorded(tmp_path, write_plan, local, row, reason):
    dataset = tmp_path / "train.jsonl"
    dataset.write_bytes(b"\n".join([GOOD, GOOD, row, GOOD]) + b"\n")
    home = tmp_path / "home"
    result = _launch([*(["--local", "--model", "tiny"] if local else []), str(write_plan(SINGLE)),
                      "--dataset", str(dataset)], home)
    assert result.returncode == 2, result.stdout[-1000:] + result.stderr[-1000:]
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: --dataset {dataset}:3: {reason}"), line
    assert "Cost summary" not in result.stdout
    _nothing_recorded(home)


def test_a_hub_model_that_cannot_be_fetched_is_refused_before_a_local_run_exists(tmp_path, write_plan):
    """HF_HUB_OFFLINE=1 and not in the local cache: the job could only fail after its retries; say so now."""
    home = tmp_path / "home"
    result = _launch(["--local", str(write_plan(SINGLE)), "--model", "someorg/not-a-model", "--dataset", "demo"],
                     home, HF_HUB_OFFLINE="1")
    assert result.returncode == 2, result.stderr[-2000:]
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: --model someorg/not-a-model: not in the local Hugging Face cache"), line
    _nothing_recorded(home)


def _old_plan() -> str:
    """A plan.json as tunecost wrote it before plans carried a schema version."""
    return json.dumps(json.loads(SINGLE.model_dump_json(exclude={"schema_version", "sweep"})))


@pytest.mark.parametrize("text, says", [
    (_old_plan(), f"a plan without a schema version, from an older tunecost (this one reads {PLAN_SCHEMA})"),
    (SINGLE.model_copy(update={"schema_version": 2, "fallbacks": []}).model_dump_json(exclude={"fallbacks"}),
     "a plan of schema 2, from an older tunecost"),  # it carries no fallback order: planned again, not guessed
    (SINGLE.model_copy(update={"schema_version": 99}).model_dump_json(), "a plan of schema 99, from a newer"),
    ('{"model": "gpt2", "epochs": 3}', "not a tunecost plan (spec: Field required)"),
    ('[1, 2]', "not a tunecost plan (the file: Input should be an object"),
    ('{"spec": {"model": "x"}, "chosen": {"gpu": "A100"}}', "not a tunecost plan (chosen.offer: Field required)"),
    ("model: gpt2\n", "not valid JSON"),
], ids=["older", "schema-2", "newer", "foreign", "list", "half", "yaml"])
def test_a_plan_file_of_another_version_or_tool_is_one_line(tmp_path, text, says):
    path = tmp_path / "plan.json"
    path.write_text(text)
    home = tmp_path / "home"
    result = _launch([str(path), "--dataset", "demo", "--local"], home)
    assert result.returncode == 2, result.stderr[-2000:]
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {path}: {says}") and line.endswith(f"--save {path}`"), line
    _nothing_recorded(home)
