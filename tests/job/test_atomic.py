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


WRITER = """import os, sys, time
from tunecost.job import atomic
os.replace = lambda *a: time.sleep(600)  # the boundary: the writer stops between its temp file and the rename
atomic.atomic_write(atomic.Path(sys.argv[1]), "x" * 1_000_000)
"""


def _writer_stuck_before_rename(target):
    """A real process that has written its whole temp file for `target` and not renamed it yet."""
    import subprocess
    import sys
    import time

    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)])
    deadline = time.monotonic() + 60
    while not list(target.parent.glob(f".{target.name}.{writer.pid}.*.tmp")):
        assert time.monotonic() < deadline and writer.poll() is None
        time.sleep(0.05)
    time.sleep(0.2)
    return writer


def test_a_writer_sigkilled_before_its_rename_leaves_a_temp_file_that_the_next_write_sweeps(tmp_path):
    target, other = tmp_path / "report.csv", tmp_path / "plan.json"
    killed, killed_other = _writer_stuck_before_rename(target), _writer_stuck_before_rename(other)
    live = _writer_stuck_before_rename(target)
    try:
        for proc in (killed, killed_other):
            proc.kill()
            proc.wait()
        atomic_write(target, "new")
        left = sorted(p.name for p in tmp_path.iterdir())
        assert target.read_text() == "new"
        assert not any(f".{killed.pid}." in name for name in left if name.startswith(".report.csv."))
        assert any(name.startswith(f".report.csv.{live.pid}.") for name in left)  # a live writer's: kept
        assert any(name.startswith(f".plan.json.{killed_other.pid}.") for name in left)  # another target's
        atomic_write(other, "{}")
        assert not any(name.startswith(".plan.json.") for name in (p.name for p in tmp_path.iterdir()))
    finally:
        live.kill()
        live.wait()
