"""The shared, torch-free row checks: every malformed row is named by file:line and what is wrong."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tunecost.job.errors import JobError
from tunecost.job.rows import check_dataset

from .conftest import write_jsonl

GOOD = {"prompt": "Convert 5 km", "completion": "5000 m"}


@pytest.mark.parametrize("bad, reason", [
    ({"prompt": "p", "completion": 5000}, "key 'completion' must be a string, got a int (5000)"),
    ({"text": ""}, "key 'text' is empty"),
    ({"messages": [{"role": "assistant", "content": "hi"}, {"role": "user", "content": "bye"}]},
     "the last message has role 'user'; it must be 'assistant'"),
    ([1, 2], "row is a JSON list, not an object"),
    ({"title": "x"}, "row has none of the keys"),
    ({"text": "a\ud800b"}, "key 'text' holds '\\ud800' at character 2, half of a UTF-16 surrogate pair"),
    ({"messages": [{"role": "user", "content": "\udc00"}, {"role": "assistant", "content": "ok"}]},
     "key 'content' holds '\\udc00'"),
])
def test_first_bad_line_is_named_with_what_is_wrong(tmp_path, bad, reason):
    path = write_jsonl(tmp_path / "d.jsonl", [GOOD, GOOD, bad, bad])
    with pytest.raises(JobError) as err:
        check_dataset(path)
    assert str(err.value).startswith(f"{path}:3: {reason}")
    assert check_dataset(path, skip_bad_rows=True) == (2, 2)


def test_bytes_that_are_not_utf8_are_a_bad_row_not_a_crash(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(JobError) as err:
        check_dataset(path)
    assert str(err.value).startswith(f"{path}:2: not UTF-8 (byte 0xe9 at column 14)")


def test_the_row_checks_import_no_torch():
    code = "import sys; import tunecost.job.rows; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_a_line_nested_past_the_stack_is_a_bad_row(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "ok"}\n' + "[" * 100_000 + "\n")
    with pytest.raises(JobError, match=r"d.jsonl:2: not valid JSON \(nested too deeply\)"):
        check_dataset(path)


@pytest.mark.parametrize("rows, fraction, held", [(10, 0.1, 1), (10, 0.0, 0), (3, 0.1, 1), (2, 0.5, 1)])
def test_eval_rows_holds_out_at_least_one_and_leaves_one_to_train(rows, fraction, held):
    from tunecost.job.rows import eval_rows

    assert eval_rows(rows, fraction) == held


def test_an_eval_split_that_leaves_nothing_to_train_on_is_refused(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [GOOD])
    with pytest.raises(JobError, match=r"d.jsonl: eval_fraction 0.5 holds out 1 of 1 row\(s\), leaving none"):
        check_dataset(path, eval_fraction=0.5)
