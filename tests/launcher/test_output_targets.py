"""`--out` / `--save` onto something that is not a plain file: a symlink keeps being a link (its target gets the
text, replaced whole), and a FIFO or device (/dev/stdout) is written into, never renamed over: as root, a rename
over /dev/stdout would replace the device node with a file. Real CLI, in-process (CliRunner)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunecost.launcher.cli import app
from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.launcher.ledger.store import Ledger, now


@pytest.fixture(autouse=True)
def home(home: Path) -> Path:
    """The root conftest's isolated home, with one finished run to report on."""
    ledger = Ledger(home)
    ledger.create(RunRecord(id="tc-1", status="running", backend="local", created_at=now(), tag="t"))
    ledger.set_status("tc-1", "succeeded", actual_hours=0.5)
    return home


def _report(out: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--format", "md", "--out", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)


def test_out_onto_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path):
    target = tmp_path / "reports" / "2026-12.md"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "latest.md"
    link.symlink_to(target)
    _report(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("# Fine-tuning compute expenses")
    assert not list(tmp_path.glob(".latest.md.*")) and not list(target.parent.glob(".*.tmp"))


def test_out_onto_a_link_into_a_missing_folder_is_one_line(tmp_path):
    link = tmp_path / "latest.md"
    link.symlink_to(tmp_path / "gone" / "r.md")
    result = CliRunner().invoke(app, ["report", "--format", "md", "--out", str(link)])
    assert result.exit_code == 2 and "does not exist" in result.stderr, result.output
    assert link.is_symlink() and not (tmp_path / "gone").exists()


def test_out_onto_a_fifo_writes_into_it_and_leaves_the_fifo(tmp_path):
    """A FIFO stands for /dev/stdout and other nodes: written into, never renamed over."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    _report(fifo)
    reader.join(timeout=30)
    assert got and got[0].decode().startswith("# Fine-tuning compute expenses")
    assert fifo.is_fifo()


def test_plan_save_through_a_symlink_keeps_the_link(tmp_path):
    target = tmp_path / "plans" / "p.json"
    target.parent.mkdir()
    link = tmp_path / "plan.json"
    link.symlink_to(target)
    result = CliRunner().invoke(app, ["plan", "--params", "1B", "--tokens", "1000000", "--save", str(link)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert link.is_symlink() and target.read_text().startswith("{")
