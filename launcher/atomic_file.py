"""Write a user's output file (a plan, a report) whole or not at all, and say in one line why it cannot be."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tunecost.planner.errors import UserError


def check_target(path: Path, option: str) -> Path:
    """Refuse a target that is a folder or lies in no folder, before anything is written (so a command with
    several outputs leaves none half done); returns the expanded path."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder; give a file name such as {path / 'out.json'}")
    if not path.parent.is_dir():
        what = "is not a folder" if path.parent.exists() else "does not exist"
        raise UserError(f"{option} {path}: {path.parent} {what}; create the folder or pick another path")
    return path


def write_atomic(path: Path, text: str, option: str) -> None:
    """Temp file in the same folder, then rename: a reader never sees half a file. `option` names the flag
    (--save, --out) in the error line."""
    path = check_target(path, option)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise UserError(f"{option} {path}: cannot write in {path.parent} ({err.strerror}); pick a writable "
                        "folder") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"{option} {path}: cannot write ({err.strerror}); pick a writable folder") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
