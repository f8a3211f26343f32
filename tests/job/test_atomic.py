"""job/atomic.py: the one atomic writer (the job's summary and checkpoint markers, the launcher's files)."""

import pytest

from tunecost.job.atomic import atomic_write


def test_replaces_the_whole_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "run_summary.json"
    target.write_text("old")
    atomic_write(target, "new\r\nline", durable=True)
    assert target.read_bytes() == b"new\r\nline"  # newlines as given (CSV rows keep theirs)
    assert [p.name for p in tmp_path.iterdir()] == ["run_summary.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temp_file(tmp_path):
    target = tmp_path / "plan.json"
    target.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        atomic_write(target, "half \udcff")  # a lone surrogate cannot be encoded: fails mid-write
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_a_missing_folder_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "nope" / "x.json", "{}")


def test_the_file_gets_the_mode_open_would_give_it(tmp_path):
    """Not mkstemp's 0600: a report or a summary is as readable as any file the user's umask allows."""
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic_write(tmp_path / "atomic.txt", "x")
    assert (tmp_path / "atomic.txt").stat().st_mode == plain.stat().st_mode
