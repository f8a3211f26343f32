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
