"""`plan --dataset` and `launch` accept and refuse the same files, with the same line.

Both read the file through the job's own row parser (job/rows.py): the planner to count its tokens, the launcher
to check it before anything is recorded. Before they shared it, `plan --dataset` priced a chat whose last turn
was the user's, and `launch` then refused that file at line 1. The cloud launch runs as a dry run (nothing is
recorded, no cloud is reached); `launch --local` checks the dataset through the same function before it records.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tunecost.launcher.cli import app

from .conftest import SINGLE


def _rows(*rows: object) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)


CHAT = {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}
GOOD = {
    "text": _rows({"text": "hello there"}, {"text": "general kenobi"}),
    "prompt-completion": _rows({"prompt": "Convert 5 km", "completion": "5000 m"}),
    "alpaca-with-empty-input": _rows({"instruction": "Add", "input": "", "output": "4"}),
    "chat": _rows(CHAT, CHAT),
    "blank-lines-between": b"\n" + _rows({"text": "a"}) + b"   \n" + _rows({"text": "b"}),
}
BAD = {  # file -> the line the job names
    "chat-ending-with-the-user": (_rows(CHAT, {"messages": [{"role": "user", "content": "hi"}]}),
                                  ":2: the last message"),
    "empty": (b"", ": no usable rows"),
    "only-blank-lines": (b"\n  \n", ": no usable rows"),
    "bad-json-line": (_rows({"text": "ok"}) + b'{"text": "unterminated\n', ":2: not valid JSON"),
    "row-with-no-text": (_rows({"question": "q", "answer": "a"}), ":1: row has none of the keys"),
    "empty-text": (_rows({"text": " "}), ":1: key 'text' is empty"),
    "completion-a-number": (_rows({"prompt": "p", "completion": 5}), ":1: key 'completion' must be a string"),
    "prompt-null": (_rows({"prompt": None, "completion": "c"}), ":1: key 'prompt' must be a string"),
    "alpaca-input-a-number": (_rows({"instruction": "a", "input": 5, "output": "b"}), ":1: key 'input' must be"),
    "content-not-a-string": (_rows({"messages": [{"role": "assistant", "content": ["x"]}]}), ":1: 'messages' must"),
    "a-json-list": (_rows([{"text": "a"}]), ":1: row is a JSON list"),
    "not-utf8": (b'{"text": "caf\xe9"}\n', ":1: not UTF-8"),
}


def _plan(path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["plan", "--model", "HuggingFaceTB/SmolLM2-135M", "--dataset", str(path)])
    return result.exit_code, result.stderr


def _launch(plan_file, path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["launch", str(plan_file), "--dataset", str(path), "--dry-run"])
    return result.exit_code, result.stderr


@pytest.mark.parametrize("name", sorted(GOOD))
def test_a_file_plan_prices_launch_accepts(tmp_path, write_plan, name):
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(GOOD[name])
    assert _plan(path)[0] == 0
    code, err = _launch(write_plan(SINGLE), path)
    assert code == 0, err


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_file_launch_refuses_plan_refuses_with_the_same_line(tmp_path, write_plan, name):
    content, where = BAD[name]
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(content)
    planned, launched = _plan(path), _launch(write_plan(SINGLE), path)
    assert planned[0] == launched[0] == 2, (planned, launched)
    [plan_line], [launch_line] = planned[1].strip().splitlines(), launched[1].strip().splitlines()
    assert plan_line == launch_line, (plan_line, launch_line)
    assert plan_line.startswith(f"error: --dataset {path}{where}"), plan_line
