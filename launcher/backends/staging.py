"""A new run's files, made so that a refused launch takes every one of them back.

A launch writes before it records: the run folder (job config, staged workdir, alive.json), the `runs/` and home
folders when this is the home's first run, and the CPU probe's cache (cpu_probe.json) when the local estimate
measures this machine. If the launch is then refused (the ledger is read-only, the disk fills, no cloud
credentials, Ctrl-C) `discard` removes exactly what this launch made, so the home is as it was: nothing half
written, and nothing another process made is touched (a folder is only removed when empty).
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterator

from tunecost.launcher.backends.cpu_probe import PROBE_FILE


def new_paths(folder: Path) -> list[Path]:
    """What a launch into `folder` (<home>/runs/<id>) may create besides the folder itself and is not there yet,
    in the order it would be made."""
    home = folder.parent.parent
    return [p for p in (home, folder.parent, home / PROBE_FILE) if not p.exists()]


def discard(folder: Path, made: list[Path]) -> None:
    """Remove the run folder, then what the launch made (new_paths' list), newest first."""
    shutil.rmtree(folder, ignore_errors=True)
    for path in reversed(made):
        with suppress(OSError):
            path.rmdir() if path.is_dir() else path.unlink()


@contextmanager
def staging(folder: Path) -> Iterator[list[Path]]:
    """Discard what this launch made if the block raises (anything, Ctrl-C included); yields new_paths' list."""
    made = new_paths(folder)
    try:
        yield made
    except BaseException:
        discard(folder, made)
        raise
