"""Crash-safe checkpoints on top of HF Trainer's `checkpoint-<step>` folders.

HF Trainer does not write checkpoints atomically (trainer_state.json comes last, and resuming from a half-written
folder raises), and on a spot VM the folder sits on a bucket mount whose uploads die with the VM. So a checkpoint
counts only once a `COMPLETE` marker is written after everything else (and after every DDP rank wrote its RNG
state). On start the job resumes from the newest complete one and deletes partial ones; rotation keeps the last K
complete ones and runs only after the newer one is complete, so a complete checkpoint always exists.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any, Optional

from .atomic import atomic_write

MARKER = "COMPLETE"
STATE = "tunecost_state.json"  # run_id, resumes, cumulative seconds: what HF's trainer_state does not carry
_NAME = re.compile(r"^checkpoint-(\d+)$")


def all_checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    """(step, folder) for every checkpoint-<step> folder, oldest first."""
    if not output_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in output_dir.iterdir() if p.is_dir() and (m := _NAME.match(p.name))]
    return sorted(found)


def is_complete(folder: Path) -> bool:
    return (folder / MARKER).is_file() and (folder / "trainer_state.json").is_file()


def newest_complete(output_dir: Path) -> Optional[Path]:
    complete = [p for _, p in all_checkpoints(output_dir) if is_complete(p)]
    return complete[-1] if complete else None


def remove_partial(output_dir: Path) -> list[str]:
    """Delete checkpoint folders without a marker (a crash mid-save); returns their names."""
    removed = []
    for _, folder in all_checkpoints(output_dir):
        if not is_complete(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def mark_complete(folder: Path, state: dict[str, Any]) -> None:
    """Write our run state, then the marker: the marker is the commit point."""
    atomic_write(folder / STATE, json.dumps(state, indent=1), durable=True)
    atomic_write(folder / MARKER, "ok\n", durable=True)


def read_state(folder: Path) -> dict[str, Any]:
    path = folder / STATE
    return json.loads(path.read_text()) if path.is_file() else {}


def rotate(output_dir: Path, keep: int) -> list[str]:
    """Keep the newest `keep` complete checkpoints; older complete ones go, newest first never."""
    complete = [p for _, p in all_checkpoints(output_dir) if is_complete(p)]
    doomed = complete[:-keep] if keep > 0 else []
    for folder in doomed:
        (folder / MARKER).unlink(missing_ok=True)  # un-commit first: a crash mid-delete leaves a partial, not junk
        shutil.rmtree(folder, ignore_errors=True)
    return [p.name for p in doomed]
